"""The held-out test set of the quality evaluation: noisy/clean pairs at 48 kHz built only
from the TEST split of engine/training/splits/test.txt (speakers and noise recordings never
used in training or validation) and from noise generators of our own, seeded apart from
training's. Every clip is a pure function of (category, SNR, index): every run scores the
same audio, and the fingerprint printed with the results proves it.

Each clip is LEAD + SCORED seconds; the first LEAD seconds let every system settle (noise
estimators adapt, recurrent state warms up) and are not scored. SNR is speech active level
(10 ms frames within 35 dB of the loudest) over noise RMS across the clip.

Every noisy clip, clean ones included, carries the microphone's own noise floor: white noise
65 dB below the speech level. A real microphone never delivers digital zeros; without the
floor, the pauses between words and the gaps between clicks would be exact zeros, which a
denoiser sees only from a muted or just-opened device (aicd's engine treats them so: it
resets and passes the first frame of sound as it is), not from a microphone in a room.
"""

import hashlib
import os
import re

import numpy as np
from scipy.signal import sosfilt

SR = 48000
LEAD = 1.0
SCORED = 4.0
CLIP = int((LEAD + SCORED) * SR)
SNRS = (-5, 0, 5, 10, 20)
CATEGORIES = ("stationary", "nonstationary", "babble", "music", "outdoor")
DESCRIPTION = {
    "stationary": "generated fan / HVAC noise with slow spectral drift and blade tones, or mains hum and buzz",
    "nonstationary": "typing on a mechanical keyboard (held-out key recordings), or clicks: generated "
                     "mouse clicks and short held-out impact recordings",
    "babble": "3 to 6 held-out talkers other than the target",
    "music": "held-out music recordings (0 A.D., Colobot, Wesnoth, Asterisk music on hold)",
    "outdoor": "held-out outdoor recordings (rain, waves, waterfall, harbour, market, farm, birds), "
               "or generated road traffic (rumble and passing vehicles)",
}
# Entropy words that training never uses: training seeds its generators with [seed, i].
SEED = 0x71E57
VERSION = 1
# How often each held-out speech source provides the target talker: real recordings the
# large majority, synthetic speech a minority (as in training).
# Files among the held-out "speech" that are not speech: the Asterisk sets carry silence
# files and a few sound effects (tt-monkeys: screeching monkeys), the Hedgewars voice packs
# coughs, moans, laughs and grunts (which a suppressor may rightly remove).
NOT_SPEECH = re.compile(r"/silence/|/(beep|beeperr|confbridge-join|confbridge-leave|tt-monkeys)\.g722\.npy$"
                        r"|/tux-laugh\.[a-z0-9]+\.npy$"
                        r"|/voices/[^/]+/(Laugh|Ooff\d|Ow\d|Ouch|Jump\d|Firepunch\d|Hmm|PoisonCough|PoisonMoan)"
                        r"\.ogg\.npy$")
SPEECH_WEIGHTS = {"asterisk": 0.30, "hedgewars": 0.18, "klettres": 0.12, "ktuberling": 0.12,
                  "0ad-voice": 0.08, "gcin": 0.08, "espeak-ng": 0.12}


def pcm(a):
    return np.asarray(a, dtype=np.float64) / 32768.0


def db(x):
    return 10.0 ** (x / 20.0)


def rms(x):
    return float(np.sqrt(np.mean(np.square(x)) + 1e-20))


def active_level(x):
    hop = SR // 100
    n = len(x) // hop
    e = np.mean(np.square(x[:n * hop].reshape(n, hop)), axis=1)
    act = e > max(e.max() * db(-35.0) ** 2, 1e-12)
    return float(np.sqrt(np.mean(e[act]))) if act.any() else rms(x)


class Sources:
    """Held-out speech units and noise recordings, read from the prepared data."""

    def __init__(self, data_dir, split_file):
        self.dd = data_dir
        self.units = {}   # source -> unit -> [path]
        self.noise = {}   # noise source -> [path]
        with open(split_file) as f:
            for line in f:
                kind, source, unit, path = line.rstrip("\n").split("\t")
                if kind == "speech" and not NOT_SPEECH.search(path):
                    self.units.setdefault(source, {}).setdefault(unit, []).append(path)
                else:
                    self.noise.setdefault(source, []).append(path)
        self._cache = {}
        missing = [p for us in self.units.values() for ps in us.values() for p in ps[:1]
                   if not os.path.exists(os.path.join(data_dir, p))]
        missing += [ps[0] for ps in self.noise.values() if not os.path.exists(os.path.join(data_dir, ps[0]))]
        if missing:
            raise FileNotFoundError(os.path.join(data_dir, missing[0]))

    def raw(self, path):
        """The int16 recording, memory-mapped (music files run to minutes)."""
        a = self._cache.get(path)
        if a is None:
            a = np.load(os.path.join(self.dd, path), mmap_mode="r")
            self._cache[path] = a
        return a

    def audio(self, path):
        return pcm(self.raw(path))

    def all_units(self):
        return [(s, u) for s in sorted(self.units) for u in sorted(self.units[s])]


# -- speech ----------------------------------------------------------------------------------

def talker(rng, src, source, unit, n, pause=(0.1, 0.6), start=(0.0, 0.4)):
    """n samples of one talker: utterances of the unit with pauses, each at its own level."""
    paths = src.units[source][unit]
    x = np.zeros(n)
    pos = int(rng.uniform(*start) * SR)
    while pos < n - SR // 10:
        a = src.audio(paths[rng.integers(len(paths))])
        room = n - pos
        if len(a) > room:
            off = rng.integers(0, len(a) - room + 1) if len(a) > n else 0
            a = a[off:off + room]
        x[pos:pos + len(a)] = a * db(rng.uniform(-3, 3)) / max(active_level(a), 1e-6)
        pos += len(a) + int(rng.uniform(*pause) * SR)
    return x


def pick_target(rng, src):
    keys = [k for k in SPEECH_WEIGHTS if k in src.units]
    p = np.array([SPEECH_WEIGHTS[k] for k in keys])
    source = keys[rng.choice(len(keys), p=p / p.sum())]
    units = sorted(src.units[source])
    return source, units[rng.integers(len(units))]


# -- generated noise -------------------------------------------------------------------------

def fan(rng, n):
    """Fan / HVAC noise: a smooth random spectrum drifting slowly between two shapes, with
    blade-pass tones and, for some fans, a duct low-pass."""
    nfft, hop = 4096, 2048
    f = np.fft.rfftfreq(nfft, 1 / SR)
    lf = np.log2(np.maximum(f, 20.0) / 1000.0)

    def shape():
        e = rng.uniform(-8, -1) * lf
        for _ in range(rng.integers(1, 4)):
            e += rng.uniform(-8, 10) * np.exp(-0.5 * ((lf - rng.uniform(-3.5, 3)) / rng.uniform(0.4, 1.4)) ** 2)
        if rng.random() < 0.4:
            e -= 36 * np.clip((f - rng.uniform(2500, 12000)) / 5000, 0, 1)
        return db(e)

    a, b = shape(), shape()
    period, phase = rng.uniform(3, 10), rng.uniform(0, 2 * np.pi)
    win = np.sin(np.pi * (np.arange(nfft) + 0.5) / nfft)
    frames = n // hop + 2
    out = np.zeros((frames + 1) * hop)
    for k in range(frames):
        w = 0.5 + 0.5 * np.sin(2 * np.pi * k * hop / SR / period + phase)
        spec = (rng.standard_normal(len(f)) + 1j * rng.standard_normal(len(f))) * (w * a + (1 - w) * b)
        out[k * hop:k * hop + nfft] += np.fft.irfft(spec, nfft) * win
    x = out[hop:hop + n]
    x /= rms(x)
    if rng.random() < 0.6:
        t = np.arange(n) / SR
        f0 = rng.uniform(40, 250)
        wobble = 1 + 0.005 * np.sin(2 * np.pi * rng.uniform(0.1, 0.4) * t)
        ph = 2 * np.pi * np.cumsum(f0 * wobble) / SR
        for h in range(1, rng.integers(2, 6)):
            x += db(rng.uniform(-24, -10) - 4 * h) * np.sqrt(2) * np.sin(h * ph + rng.uniform(0, 2 * np.pi))
    return x


def hum(rng, n):
    """Mains hum (a few low harmonics) or buzz (many, as from a ground loop or a dimmer)."""
    f0 = rng.choice([50.0, 60.0]) * (1 + rng.uniform(-0.003, 0.003))
    t = np.arange(n) / SR
    x = np.zeros(n)
    buzz = rng.random() < 0.5
    top = int(min(7000 if buzz else 600, 20000) // f0)
    slope = rng.uniform(1, 3) if buzz else rng.uniform(4, 10)
    for k in range(1, top + 1):
        if not buzz and k > 2 and k % 2 == 0 and rng.random() < 0.7:
            continue
        x += db(-slope * (k - 1) + rng.uniform(-5, 2)) * np.sin(2 * np.pi * k * f0 * t + rng.uniform(0, 2 * np.pi))
    x /= rms(x)
    return x + db(-35) * rng.standard_normal(n)


def mouse_click(rng):
    """One click: two short resonant bursts (press, release) 40-120 ms apart."""
    out = np.zeros(int(0.2 * SR))
    at = 0
    for _ in range(2):
        m = int(rng.uniform(0.002, 0.008) * SR)
        burst = rng.standard_normal(m) * np.exp(-np.arange(m) / (m / 4))
        fc = rng.uniform(1500, 7000)
        w = 2 * np.pi * fc / SR
        r = 0.97
        sos = np.array([[1, 0, -1, 1, -2 * r * np.cos(w), r * r]])
        burst = sosfilt(sos, burst)
        out[at:at + m] += burst / (np.abs(burst).max() + 1e-9) * db(rng.uniform(-6, 0))
        at += int(rng.uniform(0.04, 0.12) * SR)
    return out


def scatter(rng, n, events, rate):
    """Events (callables returning audio) at random times, `rate` per second on average."""
    x = np.zeros(n)
    t = int(rng.uniform(0, 0.3) * SR)
    while t < n:
        e = events(rng)[:n - t]
        x[t:t + len(e)] += e * db(rng.uniform(-6, 0))
        t += int(rng.exponential(1 / rate) * SR) + len(e) // 4
    return x


def traffic(rng, n):
    """Road traffic: a low rumble plus vehicles passing at random times (engine harmonics and
    tyre noise, louder and brighter as they come close)."""
    t = np.arange(n) / SR
    rumble = np.cumsum(rng.standard_normal(n))  # brown noise, drift removed below
    rumble = sosfilt(np.array([[1, -1, 0, 1, -0.999, 0]]), rumble)
    rumble /= rms(rumble)
    x = rumble * db(rng.uniform(-8, 0))
    for _ in range(rng.integers(1, 4)):
        t0 = rng.uniform(-1.0, n / SR + 1.0)
        v = rng.uniform(8, 25)       # m/s
        d0 = rng.uniform(3, 20)      # m from the road
        d = np.sqrt(d0 ** 2 + (v * (t - t0)) ** 2)
        env = d0 / d
        white = rng.standard_normal(n)
        lp = np.array([[1, 0, 0, 1, -0.93, 0], [1, 0, 0, 1, -0.93, 0]])  # ~500 Hz, 12 dB/octave
        tyre = sosfilt(lp, white)
        hiss = sosfilt(np.array([[1, 0, 0, 1, -0.6, 0]]), white)       # closer: brighter
        tyre = tyre / rms(tyre) + env * db(-12) * hiss / rms(hiss)
        f0 = rng.uniform(25, 70) * (1 + 0.04 * np.tanh(-(t - t0) * v / 20))  # a Doppler-like glide
        ph = 2 * np.pi * np.cumsum(f0) / SR
        engine = sum(db(-3 * h) * np.sin(h * ph + rng.uniform(0, 6.3)) for h in range(1, 9))
        x += env ** 1.5 * (tyre + db(rng.uniform(-12, 0)) * engine / rms(engine)) * db(rng.uniform(0, 12))
    return x


# -- recorded noise --------------------------------------------------------------------------

def segment(rng, a, n):
    """A random n-sample stretch of an int16 recording with some energy (not a near-silent
    stretch); loops recordings that are too short."""
    if len(a) < n:
        a = np.tile(np.asarray(a), int(np.ceil(n / len(a))) + 1)
    overall = rms(pcm(a[::97]))
    best = None
    for _ in range(8):
        s = rng.integers(0, len(a) - n + 1)
        seg = pcm(a[s:s + n])
        if rms(seg) > 0.1 * overall:
            return seg
        best = seg if best is None or rms(seg) > rms(best) else best
    return best


def noise_for(rng, src, category, n, target_unit):
    """(noise, short description)."""
    if category == "stationary":
        if rng.random() < 0.5:
            return fan(rng, n), "fan"
        return hum(rng, n), "hum"
    if category == "nonstationary":
        if rng.random() < 0.5:
            keys = src.noise["keyboard"]
            rate = rng.uniform(3, 9)
            return scatter(rng, n, lambda r: src.audio(keys[r.integers(len(keys))]), rate), "keyboard"
        impacts = [p for s in ("0ad-foley", "colobot-sfx") for p in src.noise.get(s, [])
                   if len(src.raw(p)) < 0.8 * SR]
        rate = rng.uniform(0.7, 3)

        def click(r):
            return mouse_click(r) if r.random() < 0.6 else src.audio(impacts[r.integers(len(impacts))])
        return scatter(rng, n, click, rate), "clicks"
    if category == "babble":
        others = [(s, u) for s, u in src.all_units() if (s, u) != target_unit]
        k = rng.integers(3, 7)
        chosen = rng.choice(len(others), size=k, replace=False)
        x = sum(talker(rng, src, *others[i], n, pause=(0.05, 0.3), start=(0.0, 0.2)) for i in chosen)
        return x, f"babble x{k}"
    if category == "music":
        files = [p for s in sorted(src.noise) if s in ("0ad-music", "colobot-music", "wesnoth-music", "moh")
                 for p in src.noise[s]]
        p = files[rng.integers(len(files))]
        return segment(rng, src.raw(p), n), os.path.basename(p).rsplit(".", 2)[0]
    if category == "outdoor":
        if rng.random() < 0.5:
            files = src.noise["0ad-ambient"]
            p = files[rng.integers(len(files))]
            return segment(rng, src.raw(p), n), os.path.basename(p).rsplit(".", 2)[0]
        return traffic(rng, n), "traffic"
    raise ValueError(category)


# -- the set ---------------------------------------------------------------------------------

def clip(src, category, snr, k):
    """(noisy, clean, info) for clip k of a category at an SNR (category "clean": snr None)."""
    ci = (CATEGORIES + ("clean",)).index(category)
    si = SNRS.index(snr) if snr is not None else len(SNRS)
    rng = np.random.default_rng([SEED, VERSION, ci, si, k])
    source, unit = pick_target(rng, src)
    s = talker(rng, src, source, unit, CLIP)
    level = db(rng.uniform(-32, -20))          # speech active level, dBFS
    s *= level / active_level(s)
    info = dict(category=category, snr=snr, speech=f"{source}/{unit}")
    if snr is None:
        x = s.copy()
        info["noise"] = "none"
    else:
        noise, info["noise"] = noise_for(rng, src, category, CLIP, (source, unit))
        x = s + noise * level / (db(snr) * rms(noise))
    # The microphone's self-noise, from a generator of its own: every other draw, and so every
    # clip's speech and noise, stays what it was without it.
    x = x + np.random.default_rng([SEED, VERSION, ci, si, k, 1]).standard_normal(CLIP) * level * db(-65)
    peak = np.abs(x).max()
    if peak > 0.98:
        x, s = x * 0.98 / peak, s * 0.98 / peak
    return x.astype(np.float32), s.astype(np.float32), info


def clip_ids(clips):
    for category in CATEGORIES:
        for snr in SNRS:
            for k in range(clips):
                yield f"{category}_{snr:+03d}dB_{k:02d}", category, snr, k
    for k in range(clips):
        yield f"clean_{k:02d}", "clean", None, k


def build(src, out_dir, clips, write_wav):
    """Writes noisy/ID.f32, clean/ID.f32 (raw float32) and, if asked, noisy/ID.wav; returns
    ([(id, info)], fingerprint)."""
    os.makedirs(os.path.join(out_dir, "noisy"), exist_ok=True)
    os.makedirs(os.path.join(out_dir, "clean"), exist_ok=True)
    h = hashlib.sha256()
    index = []
    for cid, category, snr, k in clip_ids(clips):
        x, s, info = clip(src, category, snr, k)
        h.update(x.tobytes())
        h.update(s.tobytes())
        x.tofile(os.path.join(out_dir, "noisy", cid + ".f32"))
        s.tofile(os.path.join(out_dir, "clean", cid + ".f32"))
        if write_wav:
            write_wav(os.path.join(out_dir, "noisy", cid + ".wav"), x)
        index.append((cid, info))
    return index, h.hexdigest()[:16]
