#!/usr/bin/python3
"""Data recipe: fetch Debian packages, decode to 48 kHz mono, build speaker-disjoint splits.

Everything lands in the data directory (${AICD_DATA_DIR:-~/.cache/aicd/data}), never in the
repository:
    debs/   the fetched .deb files         pkg/   their unpacked trees
    audio/  decoded clips, int16 .npy at 48 kHz, one per source file
    licences/<package>.copyright           manifest.json   every clip with its split
A copy of the manifest without audio goes to engine/training/splits/ so the test set is
reproducible.

Splits: speech by speaker or voice pack (a unit is never split across sets), noise by
recording. Units are ordered by SHA-1 of their name within each source and the first ones
go to test, then validation, so the assignment is stable and independent of file order.

    prepare_data.py            full recipe (about 1.9 GB of packages)
    prepare_data.py --smoke    espeak-ng speech only, a few seconds, no downloads
"""

import argparse
import hashlib
import json
import os
import re
import subprocess
import sys
import zipfile
from concurrent.futures import ProcessPoolExecutor, ThreadPoolExecutor
from fractions import Fraction

import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))
SR = 48000


# Files in the speech packages that are not speech: the Asterisk sets carry
# silence files and a few sound effects (tt-monkeys is a minute of screeching
# monkeys), the Hedgewars voice packs coughs, moans, laughs and grunts, and a
# laugh elsewhere. Kept out of every split (the quality benchmark's test set
# applies the same rule).
NOT_SPEECH = re.compile(r"/silence/|/(beep|beeperr|confbridge-join|confbridge-leave|tt-monkeys)"
                        r"\.(g722|wav|gsm|ulaw)$"
                        r"|/voices/[^/]+/(Laugh|Ooff\d|Ow\d|Ouch|Jump\d|Firepunch\d|Hmm|PoisonCough|PoisonMoan)"
                        r"|/tux-laugh\.")


def data_dir():
    return os.environ.get("AICD_DATA_DIR", os.path.expanduser("~/.cache/aicd/data"))


# Speech sources: package, licence, a glob-like regex over paths inside the package, how to
# name the speaker unit from a path, and how many units go to test and validation.
SPEECH = [
    dict(name="asterisk", packages=["asterisk-core-sounds-en-g722", "asterisk-core-sounds-es-g722",
                                     "asterisk-core-sounds-fr-g722", "asterisk-core-sounds-it-g722",
                                     "asterisk-core-sounds-ru-g722", "asterisk-prompt-it-menardi-wav"],
         licence="CC-BY-SA-3.0", match=r"/sounds/[^/]+/.*\.(g722|wav)$",
         # en_US_f_Allison and es_MX_f_Allison are one speaker
         unit=lambda p: re.search(r"/sounds/[a-z]{2}_[A-Z]{2}_[mf]_([^/]+)/", p).group(1),
         fixed={"June": "test"}),
    dict(name="klettres", packages=["klettres-data"], licence="GPL-2+",
         match=r"/klettres/.*\.ogg$",
         unit=lambda p: re.search(r"/klettres/([^/]+)/", p).group(1), test=3, val=2),
    dict(name="ktuberling", packages=["ktuberling-data"], licence="GPL-2+",
         match=r"/ktuberling/sounds/[^/]+/[^/]+\.(ogg|wav|opus)$",
         unit=lambda p: re.search(r"/sounds/([^/@]+)", p).group(1), test=3, val=3),
    dict(name="gcin", packages=["gcin-voice"], licence="GPL-3 or LGPL-3 (3.ogg), CC-BY-3.0 (5.ogg)",
         match=r"/gcin-voice/ogg/.*\.ogg$",
         unit=lambda p: os.path.basename(p)[:-4], fixed={"5": "test"}),
    dict(name="hedgewars", packages=["hedgewars-data"], licence="GFDL-1.3",
         match=r"/Sounds/voices/[^/]+/.*\.ogg$",
         # Russian and Russian_pl may share an actor: keep packs with one base name together
         unit=lambda p: re.search(r"/voices/([^/_]+)", p).group(1)
         if "/voices/Default" not in p else re.search(r"/voices/([^/]+)", p).group(1),
         test=2, val=2),
    dict(name="0ad-voice", packages=["0ad-data"], licence="CC-BY-SA-3.0",
         match=r"^audio/voice/[^/]+/civ/.*\.ogg$",
         unit=lambda p: re.search(r"audio/voice/([^/]+)/", p).group(1), fixed={"greek": "test"}),
]

# Noise sources: category (sampling group in the mixer), package, licence, path regex.
NOISE = [
    dict(name="keyboard", category="keyboard", packages=["bucklespring-data"], licence="GPL-2+",
         match=r"\.wav$"),
    dict(name="moh", category="music", packages=["asterisk-moh-opsound-g722"], licence="CC-BY-SA-3.0",
         match=r"\.g722$"),
    dict(name="wesnoth-music", category="music", packages=["wesnoth-1.16-music"], licence="GPL-2+",
         match=r"\.ogg$"),
    dict(name="colobot-music", category="music", packages=["colobot-common-sounds"], licence="GPL-3+",
         match=r"/music/.*\.ogg$"),
    dict(name="colobot-sfx", category="sfx", packages=["colobot-common-sounds"], licence="GPL-3+",
         match=r"/sounds/.*\.wav$"),
    dict(name="0ad-ambient", category="ambient", packages=["0ad-data"], licence="CC-BY-SA-3.0",
         match=r"^audio/ambient/.*\.ogg$"),
    dict(name="0ad-foley", category="sfx", packages=["0ad-data"], licence="CC-BY-SA-3.0",
         match=r"^audio/(resource|actor/fauna/animal|actor/singlesteps|actor/human/movement"
               r"|actor/ship|attack/impact)/.*\.ogg$"),
    dict(name="0ad-music", category="music", packages=["0ad-data"], licence="CC-BY-SA-3.0",
         match=r"^audio/music/.*\.ogg$"),
]

# Synthetic speech: espeak-ng voices (a voice+variant is a speaker unit).
ESPEAK_VOICES = ["en", "en-us", "en-gb-scotland", "en-029", "de", "fr", "es", "it", "pt", "nl",
                 "pl", "ru", "sv", "cs", "fi", "hu", "tr", "el", "da", "nb"]
ESPEAK_VARIANTS = ["m1", "m3", "f1", "f2", "f4", "m7", "klatt", "f5", "m2", "croak"]
SENTENCES = [
    "The quick brown fox jumps over the lazy dog.",
    "Please hold the line while I transfer your call.",
    "We will meet at half past nine in the small conference room.",
    "Could you repeat the last number, the connection is terrible.",
    "The weather tomorrow will be cloudy with a chance of rain.",
    "She sells sea shells by the sea shore.",
    "I think the build is broken again, can you take a look?",
    "Turn left at the second traffic light and keep going.",
    "My microphone was muted the whole time, sorry about that.",
    "Seven hundred and forty two people attended the concert.",
    "The results of the experiment were better than expected.",
    "Let me share my screen so everybody can follow along.",
    "How much does a ticket to the city centre cost?",
    "Thank you for calling, your feedback is important to us.",
    "Open the window, it is getting rather warm in here.",
    "A journey of a thousand miles begins with a single step.",
    "The train to Amsterdam departs from platform four.",
    "Do you have any questions before we move to the next item?",
    "Fresh bread and coffee are served every morning at eight.",
    "Every frame of audio must be processed within ten milliseconds.",
]


def run(cmd, **kw):
    return subprocess.run(cmd, check=True, **kw)


def fetch(packages, dd):
    debs = os.path.join(dd, "debs")
    os.makedirs(debs, exist_ok=True)
    for p in packages:
        have = [f for f in os.listdir(debs) if f.startswith(p + "_") and f.endswith(".deb")]
        if not have:
            print(f"fetch {p}", flush=True)
            run(["apt-get", "download", "-q", p], cwd=debs, stderr=subprocess.DEVNULL)
            have = [f for f in os.listdir(debs) if f.startswith(p + "_") and f.endswith(".deb")]
        root = os.path.join(dd, "pkg", p)
        if not os.path.isdir(root):
            os.makedirs(root + ".tmp", exist_ok=True)
            run(["dpkg", "-x", os.path.join(debs, sorted(have)[-1]), root + ".tmp"])
            os.rename(root + ".tmp", root)
        lic = os.path.join(dd, "licences", p + ".copyright")
        if not os.path.exists(lic):
            os.makedirs(os.path.dirname(lic), exist_ok=True)
            src = os.path.join(root, "usr/share/doc", p, "copyright")
            with open(src, "rb") as f, open(lic, "wb") as g:
                g.write(f.read())


def list_files(pkg, dd, regex):
    """Paths (relative to the package root, or inside 0ad's public.zip) that match regex."""
    rx = re.compile(regex)
    root = os.path.join(dd, "pkg", pkg)
    if pkg == "0ad-data":
        z = os.path.join(dd, "pkg", pkg, "usr/share/games/0ad/mods/public/public.zip")
        out = os.path.join(dd, "pkg", "0ad-audio")
        names = [n for n in zipfile.ZipFile(z).namelist() if rx.search(n)]
        missing = [n for n in names if not os.path.exists(os.path.join(out, n))]
        if missing:
            zipfile.ZipFile(z).extractall(out, missing)
        return [("0ad-audio/" + n) for n in sorted(names)]
    res = []
    for d, _, files in os.walk(root):
        for f in files:
            rel = os.path.relpath(os.path.join(d, f), os.path.join(dd, "pkg"))
            if rx.search(rel):
                res.append(rel)
    return sorted(res)


def decode(path):
    """Any input file -> (float64 mono at 48 kHz, original sample rate)."""
    import soundfile as sf
    from scipy.signal import resample_poly
    x, sr = None, None
    if not path.endswith((".g722", ".opus")):
        try:
            x, sr = sf.read(path, dtype="float64", always_2d=True)
            x = x.mean(axis=1)
        except Exception:
            x = None
    if x is None:
        args = ["ffmpeg", "-v", "error", "-nostdin"]
        if path.endswith(".g722"):
            args += ["-f", "g722"]
        args += ["-i", path, "-ac", "1", "-ar", str(SR), "-f", "f32le", "-"]
        raw = subprocess.run(args, check=True, stdout=subprocess.PIPE).stdout
        x = np.frombuffer(raw, dtype="<f4").astype(np.float64)
        sr = 16000 if path.endswith(".g722") else None
        if sr is None:
            probe = subprocess.run(["ffprobe", "-v", "error", "-select_streams", "a:0", "-show_entries",
                                    "stream=sample_rate", "-of", "csv=p=0", path],
                                   stdout=subprocess.PIPE, text=True).stdout.strip()
            sr = int(probe) if probe.isdigit() else SR
        return x, sr
    if sr != SR:
        fr = Fraction(SR, sr).limit_denominator(1000)
        x = resample_poly(x, fr.numerator, fr.denominator)
    return x, sr


def bandwidth(x):
    """Frequency (Hz) below which 99.9 % of the clip's energy lies."""
    if len(x) < 2048:
        return SR / 2
    from scipy.signal import welch
    f, p = welch(x, SR, nperseg=2048)
    c = np.cumsum(p) / max(p.sum(), 1e-20)
    return float(f[min(np.searchsorted(c, 0.999), len(f) - 1)])


def trim(x, floor_db=-50.0, margin=0.05):
    """Drop leading/trailing stretches more than floor_db below the clip's loudest 10 ms."""
    hop = SR // 100
    n = len(x) // hop
    if n < 3:
        return x
    e = (x[:n * hop].reshape(n, hop) ** 2).mean(axis=1)
    act = np.nonzero(e > e.max() * 10 ** (floor_db / 10))[0]
    m = int(margin * SR)
    return x[max(act[0] * hop - m, 0):min((act[-1] + 1) * hop + m, len(x))]


def store(dd, rel, x):
    out = os.path.join(dd, "audio", rel + ".npy")
    os.makedirs(os.path.dirname(out), exist_ok=True)
    peak = np.abs(x).max() if len(x) else 0.0
    if peak > 1.0:
        x = x / peak
    np.save(out, np.round(x * 32767).astype(np.int16))
    return os.path.relpath(out, dd)


def hsort(names, salt):
    return sorted(names, key=lambda u: hashlib.sha1(f"{salt}:{u}".encode()).hexdigest())


def assign_units(src, units):
    split = {}
    fixed = src.get("fixed", {})
    for u in units:
        if u in fixed:
            split[u] = fixed[u]
    rest = [u for u in hsort(units, src["name"]) if u not in split]
    nt, nv = src.get("test", 0), src.get("val", 0)
    for i, u in enumerate(rest):
        split[u] = "test" if i < nt else "val" if i < nt + nv else "train"
    return split


def noise_split(rel):
    h = int(hashlib.sha1(rel.encode()).hexdigest()[:8], 16) % 100
    return "test" if h < 12 else "val" if h < 22 else "train"


def process_one(job):
    kind, dd, rel, meta, known = job
    out = os.path.join(dd, "audio", rel + ".npy")
    if known and os.path.exists(out):  # decoded by an earlier run: keep its measurements
        return dict(meta, path=known["path"], seconds=known["seconds"], orig_rate=known["orig_rate"],
                    bandwidth=known["bandwidth"])
    x, sr = decode(os.path.join(dd, "pkg", rel))
    if kind == "speech":
        x = trim(x)
        if len(x) < 0.25 * SR:
            return None
    elif len(x) < 0.1 * SR or np.abs(x).max() < 1e-4:
        return None
    if not os.path.exists(out):
        store(dd, rel, x)
    return dict(meta, path=os.path.relpath(out, dd), seconds=round(len(x) / SR, 3),
                orig_rate=sr, bandwidth=round(bandwidth(x)))


def espeak_clips(dd, voices, variants, sentences, per_voice, seed=0):
    """Synthetic speech with espeak-ng; one unit per voice+variant."""
    rng = np.random.default_rng(seed)
    jobs = []
    for v in voices:
        for var in variants:
            unit = f"{v}+{var}"
            for k in range(per_voice):
                s = sentences[rng.integers(len(sentences))]
                speed, pitch = int(rng.integers(130, 200)), int(rng.integers(20, 80))
                rel = f"espeak/{unit}/{k:03d}.wav"
                jobs.append((unit, rel, s, speed, pitch))
    out = []

    def one(j):
        unit, rel, s, speed, pitch = j
        wav = os.path.join(dd, "pkg", rel)
        if not os.path.exists(wav):
            os.makedirs(os.path.dirname(wav), exist_ok=True)
            run(["espeak-ng", "-v", unit, "-s", str(speed), "-p", str(pitch), "-w", wav, s],
                stderr=subprocess.DEVNULL)
        return unit, rel

    with ThreadPoolExecutor(2) as ex:
        for unit, rel in ex.map(one, jobs):
            out.append((unit, rel))
    return out


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--smoke", action="store_true", help="espeak-ng speech only, no downloads")
    ap.add_argument("--no-0ad", action="store_true", help="skip the 1.4 GB 0ad-data package")
    ap.add_argument("--jobs", type=int, default=2)
    a = ap.parse_args()
    dd = data_dir()
    if a.smoke:
        dd = os.path.join(dd, "smoke")
    os.makedirs(dd, exist_ok=True)

    entries = []
    jobs = []
    if not a.smoke:
        speech = [s for s in SPEECH if not (a.no_0ad and "0ad-data" in s["packages"])]
        noise = [s for s in NOISE if not (a.no_0ad and "0ad-data" in s["packages"])]
        fetch(sorted({p for s in speech + noise for p in s["packages"]}), dd)
        for src in speech:
            listed = [r for p in src["packages"] for r in list_files(p, dd, src["match"])]
            # Units are assigned from every listed file, before the non-speech filter, so
            # the filter never moves a speaker from one split to another.
            split = assign_units(src, sorted({src["unit"](r) for r in listed}))
            files = [r for r in listed if not NOT_SPEECH.search(r)]
            for r in files:
                u = src["unit"](r)
                jobs.append(("speech", dd, r, dict(kind="speech", source=src["name"], unit=u,
                                                   split=split[u], licence=src["licence"])))
        for src in noise:
            for p in src["packages"]:
                for r in list_files(p, dd, src["match"]):
                    jobs.append(("noise", dd, r, dict(kind="noise", source=src["name"],
                                                      category=src["category"], unit=r,
                                                      split=noise_split(r), licence=src["licence"])))
    # synthetic speech: a minority, split by voice
    voices, variants, per = (ESPEAK_VOICES, ESPEAK_VARIANTS, 12) if not a.smoke else \
        (["en", "de", "fr", "es"], ["m1", "f2", "m3"], 4)
    clips = espeak_clips(dd, voices, variants, SENTENCES, per)
    units = sorted({u for u, _ in clips})
    src = dict(name="espeak", test=max(1, len(units) // 10), val=max(1, len(units) // 10))
    split = assign_units(src, units)
    for u, r in clips:
        jobs.append(("speech", dd, r, dict(kind="speech", source="espeak-ng", unit=u, split=split[u],
                                           licence="synthetic (espeak-ng, GPL-3+ program output)")))

    # An earlier manifest's measurements are reused for files already decoded, so rerunning
    # the recipe (new filters, new splits) takes seconds instead of decoding everything again.
    known = {}
    try:
        with open(os.path.join(dd, "manifest.json")) as f:
            for e in json.load(f)["clips"]:
                known[e["path"]] = e
    except (OSError, ValueError, KeyError, TypeError):
        known = {}
    jobs = [(k, d, r, m, known.get(os.path.join("audio", r + ".npy"))) for k, d, r, m in jobs]
    print(f"decoding {sum(1 for j in jobs if not j[4])} of {len(jobs)} files", flush=True)
    done = 0
    with ProcessPoolExecutor(a.jobs) as ex:
        for e in ex.map(process_one, jobs, chunksize=16):
            done += 1
            if e:
                entries.append(e)
            if done % 1000 == 0:
                print(f"  {done}/{len(jobs)}", flush=True)

    manifest = dict(sample_rate=SR, clips=entries)
    with open(os.path.join(dd, "manifest.json"), "w") as f:
        json.dump(manifest, f, indent=0)
    summary = {}
    for e in entries:
        k = (e["kind"], e.get("category", e["source"]), e["split"])
        n, s = summary.get(k, (0, 0.0))
        summary[k] = (n + 1, s + e["seconds"])
    for k in sorted(summary):
        print(f"{k[0]:7s} {k[1]:16s} {k[2]:6s} {summary[k][0]:6d} clips {summary[k][1] / 60:8.1f} min")
    if not a.smoke:
        sd = os.path.join(HERE, "splits")
        os.makedirs(sd, exist_ok=True)
        for split in ("train", "val", "test"):
            with open(os.path.join(sd, f"{split}.txt"), "w") as f:
                for e in sorted(entries, key=lambda e: e["path"]):
                    if e["split"] == split:
                        f.write(f"{e['kind']}\t{e['source']}\t{e['unit']}\t{e['path']}\n")
        units = {}
        for e in entries:
            units.setdefault((e["kind"], e["source"], e["split"]), set()).add(e["unit"])
        with open(os.path.join(sd, "units.txt"), "w") as f:
            for (kind, source, split), us in sorted(units.items()):
                if kind == "speech":
                    f.write(f"{source}\t{split}\t{' '.join(sorted(us))}\n")
    print(f"manifest: {os.path.join(dd, 'manifest.json')}")


if __name__ == "__main__":
    sys.exit(main())
