#!/usr/bin/python3
"""Side-by-side quality evaluation: builds the held-out test set (testset.py), runs this
project's engine and the baselines on the same files, aligns delays, scores SI-SDR and
ESTOI (metrics.py) and writes Markdown tables to stdout and to RESULTS.md.

Normally started by run.sh, which also installs the npm baselines.
"""

import argparse
import datetime
import hashlib
import os
import re
import shutil
import subprocess
import sys
import time
from concurrent.futures import ProcessPoolExecutor, ThreadPoolExecutor

# one BLAS thread: the scorer runs its own worker processes (and shares the machine)
os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")
os.environ.setdefault("OMP_NUM_THREADS", "1")

import numpy as np  # noqa: E402
import soundfile as sf

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.abspath(os.path.join(HERE, "..", "..", ".."))
sys.path.insert(0, HERE)
import metrics  # noqa: E402
import testset  # noqa: E402

SR = testset.SR
LEAD = int(testset.LEAD * SR)
with open(os.path.join(ROOT, "engine", "models", "DEFAULT")) as _f:
    DEFAULT_MODEL = os.path.join(ROOT, "engine", "models", _f.readline().strip() + ".aicm")
SPLIT = os.path.join(ROOT, "engine", "training", "splits", "test.txt")
# (key, name in tables, latency in samples at 48 kHz that the driver trims). The latencies
# were measured with estimate_lag on speech; the scorer re-estimates any residual lag.
SYSTEMS = [
    ("aicd", "aicd", 0),          # aicctl enhance compensates its own delay
    ("rnnoise", "RNNoise", 960),  # 480-sample frames, 20 ms
    ("gtcrn", "GTCRN", 1530),     # 768-sample worklet frames + the model's 16 kHz STFT
    ("speex", "speexdsp", 480),   # one 480-sample frame
    ("webrtc", "WebRTC NS", 335),  # 10 ms frames through a three-band filter bank
]
NAMES = {k: n for k, n, _ in SYSTEMS}
MAX_LAG = SR // 20  # residual lag searched within +-50 ms


def fail(msg):
    print(f"quality: {msg}", file=sys.stderr)
    sys.exit(2)


# -- running the systems ---------------------------------------------------------------------

def run_timed(cmd, **kw):
    """Runs cmd; returns (CPU seconds of the process and its children, wall seconds)."""
    t0 = time.monotonic()
    p = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, **kw)
    err = p.stderr.read()
    _, status, ru = os.wait4(p.pid, 0)
    p.returncode = os.waitstatus_to_exitcode(status)
    wall = time.monotonic() - t0
    if p.returncode != 0:
        raise RuntimeError(f"{' '.join(cmd)} failed ({p.returncode}): {err.decode(errors='replace')[-2000:]}")
    return ru.ru_utime + ru.ru_stime, wall


def build_drivers(bin_dir):
    """Compiles the C/C++ drivers (skipped when up to date)."""
    os.makedirs(bin_dir, exist_ok=True)
    builds = [
        ("speex-ns", "speex-ns.c", ["gcc", "-O2", "-Wall", "-Wextra"], "speexdsp", ["-lm"]),
        ("webrtc-ns", "webrtc-ns.cc", ["g++", "-O2", "-Wall", "-Wextra", "-std=c++17"], "webrtc-audio-processing", []),
    ]
    for out, src, cc, pkg, extra in builds:
        src = os.path.join(HERE, "drivers", src)
        out = os.path.join(bin_dir, out)
        if os.path.exists(out) and os.path.getmtime(out) >= os.path.getmtime(src):
            continue
        try:
            flags = subprocess.run(["pkg-config", "--cflags", "--libs", pkg], check=True, text=True,
                                   stdout=subprocess.PIPE, stderr=subprocess.PIPE).stdout.split()
        except (OSError, subprocess.CalledProcessError):
            deb = {"speexdsp": "libspeexdsp-dev", "webrtc-audio-processing": "libwebrtc-audio-processing-dev"}[pkg]
            fail(f"pkg-config cannot find {pkg}: install it with `apt-get install {deb}`")
        # third-party headers are not ours to keep warning-free
        flags = [("-isystem" + f[2:]) if f.startswith("-I") else f for f in flags]
        subprocess.run(cc + ["-o", out, src] + flags + extra, check=True)


def run_system(key, delay, ids, work, args):
    """Processes every noisy clip with one system; returns (cpu s, wall s)."""
    out_dir = os.path.join(work, "out", key)
    os.makedirs(out_dir, exist_ok=True)
    noisy = os.path.join(work, "testset", "noisy")
    if key == "aicd":
        cpu = wall = 0.0
        for cid in ids:
            wav = os.path.join(out_dir, cid + ".wav")
            c, w = run_timed([args.aicctl, "enhance", os.path.join(noisy, cid + ".wav"), wav,
                              "--model", args.model_copy, "--level", str(args.level)])
            cpu, wall = cpu + c, wall + w
            y, sr = sf.read(wav, dtype="float32")
            if sr != SR or y.ndim != 1:
                raise RuntimeError(f"aicctl wrote {wav} as {sr} Hz, shape {y.shape}")
            y.tofile(os.path.join(out_dir, cid + ".f32"))
            os.unlink(wav)
        return cpu, wall
    lst = os.path.join(work, "out", key + ".list")
    with open(lst, "w") as f:
        for cid in ids:
            f.write(f"{os.path.join(noisy, cid + '.f32')} {os.path.join(out_dir, cid + '.f32')}\n")
    if key in ("rnnoise", "gtcrn"):
        cmd = ["node", os.path.join(HERE, "drivers", "wasm-ns.mjs"), key, lst, str(delay)]
    else:
        cmd = [os.path.join(work, "bin", key + "-ns"), lst, str(delay)]
    return run_timed(cmd)


# -- scoring ---------------------------------------------------------------------------------

def load(work, kind, cid):
    return np.fromfile(os.path.join(work, kind, cid + ".f32"), dtype="<f4").astype(np.float64)


def clip_lags(job):
    work, cid, keys = job
    clean = load(work, "testset/clean", cid)
    return {k: metrics.estimate_lag(clean, load(work, f"out/{k}", cid), MAX_LAG) for k in keys}


def score_clip(job):
    """{'input'|key: (SI-SDR, ESTOI)} over the scored part of one clip."""
    work, cid, lags = job
    clean = load(work, "testset/clean", cid)
    ref = clean[LEAD:]
    res = {}
    sigs = [("input", load(work, "testset/noisy", cid))]
    sigs += [(k, metrics.shift(load(work, f"out/{k}", cid), lag)) for k, lag in lags.items()]
    for k, y in sigs:
        if len(y) != len(clean):
            raise RuntimeError(f"{k} output of {cid} has {len(y)} samples, expected {len(clean)}")
        est = y[LEAD:]
        res[k] = (metrics.si_sdr(ref, est), metrics.estoi(ref, est, SR))
    return cid, res


# -- report ----------------------------------------------------------------------------------

def fmt(v, digits=1, sign=False):
    if v is None or not np.isfinite(v):
        return "—"
    return f"{v:+.{digits}f}" if sign else f"{v:.{digits}f}"


def table(header, rows):
    out = ["| " + " | ".join(header) + " |", "|" + "|".join(["---"] + ["---:"] * (len(header) - 1)) + "|"]
    out += ["| " + " | ".join(r) + " |" for r in rows]
    return out


def model_info(path, snapshot):
    """The model as run: its path, the snapshot's hash, and the card's line if it describes it."""
    h = hashlib.sha256(open(snapshot, "rb").read()).hexdigest()
    line = f"`{os.path.relpath(path, ROOT) if path.startswith(ROOT) else path}` (SHA-256 {h[:16]}…)"
    card = os.path.join(os.path.dirname(path), f"MODEL_CARD-{os.path.basename(path)[:-5]}.md")
    if os.path.exists(card):
        text = open(card).read()
        m = re.search(r"exported (.*)", text)
        if h in text and m:
            line += f", {m.group(1).strip()}"
    return line


def report(args, index, fingerprint, scores, lags, timing, keys):
    names = [NAMES[k] for k in keys]
    ours = "aicd" if "aicd" in keys else None
    by = {}  # (category, snr) -> [res]
    for cid, info in index:
        by.setdefault((info["category"], info["snr"]), []).append(scores[cid])

    def mean(cells, k, m):
        v = [r[k][m] - (r["input"][m] if m == 0 and k != "input" else 0.0) for r in cells] if cells else []
        return float(np.mean(v)) if v else float("nan")

    def imp(cells, k):   # SI-SDR improvement
        return mean(cells, k, 0)

    lines = ["# Speech-enhancement quality: aicd and baselines, side by side", ""]
    if ours:
        lines.append(f"- model: {model_info(args.model, args.model_copy)}")
    lines += [f"- test set: {len(index)} clips ({args.clips} per category and SNR, and {args.clips} clean), "
              f"{testset.LEAD + testset.SCORED:.0f} s each at 48 kHz, the first {testset.LEAD:.0f} s unscored "
              f"(settling); fingerprint `{fingerprint}`",
              f"- run: {datetime.datetime.now(datetime.timezone.utc).strftime('%Y-%m-%d %H:%M UTC')}, "
              f"`tests/bench/quality/run.sh`"
              + (f" `--level {args.level}`" if args.level != 1.0 else ""),
              "- residual delay after each driver's own compensation (samples, median over the 20 dB and clean "
              "clips): " + ", ".join(f"{NAMES[k]} {lags[k]:+d}" for k in keys), ""]

    noisy_cells = [scores[cid] for cid, info in index if info["category"] != "clean"]
    lines += ["## Summary: mean SI-SDR improvement (dB) per category, all SNRs", ""]
    rows = []
    for cat in testset.CATEGORIES:
        cells = [c for snr in testset.SNRS for c in by[(cat, snr)]]
        rows.append([cat] + [fmt(imp(cells, k), sign=True) for k in keys])
    rows.append(["**all noisy**"] + [f"**{fmt(imp(noisy_cells, k), sign=True)}**" for k in keys])
    lines += table(["category"] + names, rows) + [""]

    lines += ["## Per category and SNR", "",
              "ΔSI-SDR: SI-SDR improvement over the noisy input (dB). ESTOI: 0..1. "
              "Mean over the clips of each row.", ""]
    for cat in testset.CATEGORIES:
        lines += [f"### {cat}: {testset.DESCRIPTION[cat]}", ""]
        header = ["SNR", "input SI-SDR"] + [f"ΔSI-SDR {n}" for n in names] + ["ESTOI input"] + \
                 [f"ESTOI {n}" for n in names]
        rows = []
        for snr in list(testset.SNRS) + [None]:
            cells = by[(cat, snr)] if snr is not None else [c for s in testset.SNRS for c in by[(cat, s)]]
            label = f"{snr:+d} dB" if snr is not None else "mean"
            rows.append([label, fmt(mean(cells, "input", 0))] + [fmt(imp(cells, k), sign=True) for k in keys] +
                        [fmt(mean(cells, "input", 1), 3)] + [fmt(mean(cells, k, 1), 3) for k in keys])
        lines += table(header, rows) + [""]

    lines += ["### by target speech source (all noisy clips)", "",
              "Mean ΔSI-SDR (dB). The Hedgewars voices are acted cartoon voices, high-pitched "
              "(median F0 about 300-350 Hz); espeak-ng is synthetic.", ""]
    rows = []
    for source in sorted({info["speech"].split("/")[0] for _, info in index}):
        cells = [scores[cid] for cid, info in index
                 if info["category"] != "clean" and info["speech"].startswith(source + "/")]
        if cells:
            rows.append([source, str(len(cells))] + [fmt(imp(cells, k), sign=True) for k in keys])
    lines += table(["source", "clips"] + names, rows) + [""]

    clean = by[("clean", None)]
    lines += ["### clean speech (no noise added)", ""]
    rows = [["output SI-SDR, mean (dB)"] + [fmt(np.mean([c[k][0] for c in clean])) for k in keys],
            ["output SI-SDR, worst clip (dB)"] + [fmt(np.min([c[k][0] for c in clean])) for k in keys],
            ["ESTOI, mean"] + [fmt(np.mean([c[k][1] for c in clean]), 3) for k in keys]]
    lines += table(["", *names], rows) + [""]

    audio_s = len(index) * (testset.LEAD + testset.SCORED)
    lines += ["## Real-time factor (this run)", "",
              f"CPU time (user + system, whole processes) and wall time over {audio_s:.0f} s of audio, "
              f"{args.jobs} systems at a time on a shared machine. aicd: one `aicctl enhance` process per clip "
              "(model load included); RNNoise and GTCRN: one node process (WebAssembly compile included); "
              "speexdsp and WebRTC: one native process.", ""]
    rows = [[NAMES[k], fmt(timing[k][0], 1), fmt(timing[k][1], 1), fmt(timing[k][0] / audio_s, 4)] for k in keys]
    lines += table(["system", "CPU s", "wall s", "CPU RTF"], rows) + [""]

    if ours:
        lines += ["## Targets", ""]
        checks = []
        if "rnnoise" in keys:
            worse = [cat for cat in testset.CATEGORIES
                     if not imp([c for s in testset.SNRS for c in by[(cat, s)]], ours) >
                     imp([c for s in testset.SNRS for c in by[(cat, s)]], "rnnoise")]
            checks.append((not worse, "SI-SDR improvement above RNNoise's in every category",
                           "holds" if not worse else "not in: " + ", ".join(worse)))
        if "gtcrn" in keys:
            a, g = imp(noisy_cells, ours), imp(noisy_cells, "gtcrn")
            checks.append((a >= g, "average SI-SDR improvement at least GTCRN's", f"{a:+.2f} vs {g:+.2f} dB"))
        v = float(np.mean([c[ours][0] for c in clean]))
        checks.append((v >= 25.0, "clean speech comes out at SI-SDR >= 25 dB (mean)",
                       f"{v:.1f} dB (worst clip {np.min([c[ours][0] for c in clean]):.1f} dB)"))
        below = []
        for cat in testset.CATEGORIES:
            cells = by[(cat, 20)]
            if mean(cells, ours, 1) < mean(cells, "input", 1):
                below.append(f"{cat} ({mean(cells, ours, 1):.3f} < {mean(cells, 'input', 1):.3f})")
        checks.append((not below, "at 20 dB SNR, ESTOI never below the noisy input's (per category mean)",
                       "holds" if not below else "below in: " + ", ".join(below)))
        for ok, what, detail in checks:
            lines.append(f"- {'PASS' if ok else 'FAIL'}: {what}: {detail}")
        lines.append("")

    lines += ["## Method", "",
              "Held-out speakers and noise recordings only (the TEST split of `engine/training/splits/test.txt`); "
              "fan, hum, click and traffic noise are generated with seeds training never uses. SNR is the speech "
              "active level over the noise RMS. Every system gets the same 48 kHz float files and starts from a "
              "fresh state per clip; each driver removes its system's known latency and the scorer then "
              "searches a residual lag of up to 50 ms by cross-correlation with the clean speech. SI-SDR "
              "(Le Roux et al. 2019) and ESTOI (Jensen & Taal 2016, at 10 kHz) are our own implementations, "
              "checked by `validate_metrics.py`. Baselines: RNNoise (`@shiguredo/rnnoise-wasm`), GTCRN "
              "(`@sapphi-red/web-noise-suppressor`, 128-sample render quanta at 48 kHz), speexdsp's preprocess "
              "denoiser (defaults: -15 dB), WebRTC noise suppression (webrtc-audio-processing 0.3, level high).",
              ""]
    return "\n".join(lines)


# -- main ------------------------------------------------------------------------------------

def find_aicctl():
    env = os.environ.get("AICCTL")
    if env:
        return env
    for d in ("build-q", "build"):
        p = os.path.join(ROOT, d, "dbus", "aicctl")
        if os.access(p, os.X_OK):
            return p
    return None


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--model", default=DEFAULT_MODEL, help="engine model (.aicm) for aicd")
    ap.add_argument("--level", type=float, default=1.0, help="aicd enhancement level 0..1")
    ap.add_argument("--clips", type=int, default=8, help="clips per category and SNR")
    ap.add_argument("--jobs", type=int, default=2, choices=(1, 2), help="systems run at a time")
    ap.add_argument("--systems", default=",".join(k for k, _, _ in SYSTEMS),
                    help="comma-separated subset of " + ",".join(k for k, _, _ in SYSTEMS))
    ap.add_argument("--work", default=os.environ.get("AICD_QUALITY_DIR",
                                                     os.path.expanduser("~/.cache/aicd/quality")))
    ap.add_argument("--results", default=os.path.join(HERE, "RESULTS.md"), help="where to write the tables")
    ap.add_argument("--no-benchmarks", action="store_true",
                    help="do not copy the summary into BENCHMARKS.md (done when --results is the default)")
    args = ap.parse_args()
    keys = [k for k, _, _ in SYSTEMS if k in args.systems.split(",")]
    unknown = set(args.systems.split(",")) - set(NAMES)
    if unknown or not keys:
        fail(f"unknown system(s): {', '.join(sorted(unknown)) or '(none given)'}")

    data_dir = os.environ.get("AICD_DATA_DIR", os.path.expanduser("~/.cache/aicd/data"))
    try:
        src = testset.Sources(data_dir, SPLIT)
    except (FileNotFoundError, OSError) as e:
        fail(f"the prepared speech and noise data is missing ({e}).\n"
             "Prepare it once (Debian packages, about 1.9 GB to fetch) with:\n"
             "    /usr/bin/python3 engine/training/prepare_data.py\n"
             "or point AICD_DATA_DIR at an existing copy.")

    if "aicd" in keys:
        args.model = os.path.abspath(args.model)
        if not os.path.exists(args.model):
            fail(f"no model at {args.model} (pass --model PATH, e.g. tests/data/tiny.aicm to try the pipeline)")
        args.aicctl = find_aicctl()
        if not args.aicctl:
            fail("aicctl not found: build it with `cmake -S . -B build-q && cmake --build build-q --target aicctl` "
                 "or set AICCTL")
    if {"rnnoise", "gtcrn"} & set(keys) and not shutil.which("node"):
        fail("node not found (the RNNoise and GTCRN baselines run under node 20)")

    work = os.path.abspath(args.work)
    shutil.rmtree(os.path.join(work, "out"), ignore_errors=True)
    os.makedirs(os.path.join(work, "out"))
    if "aicd" in keys:
        # a snapshot, so a model re-exported during the run does not mix into it
        args.model_copy = os.path.join(work, "out", "model.aicm")
        shutil.copyfile(args.model, args.model_copy)
    if {"speex", "webrtc"} & set(keys):
        build_drivers(os.path.join(work, "bin"))

    t0 = time.monotonic()
    print(f"building the test set in {work}/testset ...", flush=True)
    shutil.rmtree(os.path.join(work, "testset"), ignore_errors=True)
    index, fingerprint = testset.build(src, os.path.join(work, "testset"), args.clips,
                                       lambda p, x: sf.write(p, x, SR, subtype="FLOAT"))
    ids = [cid for cid, _ in index]
    print(f"  {len(index)} clips, fingerprint {fingerprint} ({time.monotonic() - t0:.0f} s)", flush=True)

    timing = {}
    delays = {k: d for k, _, d in SYSTEMS}
    order = sorted(keys, key=lambda k: ["gtcrn", "rnnoise", "aicd", "webrtc", "speex"].index(k))
    with ThreadPoolExecutor(args.jobs) as ex:
        futs = {k: ex.submit(run_system, k, delays[k], ids, work, args) for k in order}
        for k in order:
            timing[k] = futs[k].result()
            print(f"  {NAMES[k]}: CPU {timing[k][0]:.1f} s, wall {timing[k][1]:.1f} s", flush=True)

    t1 = time.monotonic()
    probe = [cid for cid, info in index if info["snr"] in (20, None)]
    with ProcessPoolExecutor(args.jobs) as ex:
        per_clip = list(ex.map(clip_lags, [(work, cid, keys) for cid in probe]))
        lags = {k: int(np.median([p[k] for p in per_clip])) for k in keys}
        scores = dict(ex.map(score_clip, [(work, cid, lags) for cid in ids], chunksize=8))
    print(f"  scored in {time.monotonic() - t1:.0f} s; total {time.monotonic() - t0:.0f} s", flush=True)

    text = report(args, index, fingerprint, scores, lags, timing, keys)
    print()
    print(text)
    with open(args.results, "w") as f:
        f.write(text)
    print(f"written to {args.results}")
    if os.path.abspath(args.results) == os.path.join(HERE, "RESULTS.md") and not args.no_benchmarks:
        import update_benchmarks
        update_benchmarks.main_with(args.results)
    return 0


if __name__ == "__main__":
    sys.exit(main())
