"""Deterministic on-the-fly mixing of training examples.

Example `i` of a split is a pure function of (seed, i): a few utterances of one speaker with
pauses, optionally reverberated (target: direct path + 50 ms), EQ'd, plus noise from one of:
generated fan/HVAC noise with slow spectral drift, mains hum, real recordings (ambient,
keyboard, foley, music) or babble of other speakers; SNR -5..25 dB, some clean-only examples,
random level, occasional clipping and band limits. Returns noisy input, clean target and a
per-sample voice-activity mask.
"""

import json
import os

import numpy as np
from scipy.signal import fftconvolve, sosfilt

SR = 48000

# How often each speech source is drawn (renormalised over the sources a split has):
# band-limited telephone prompts and full-band recordings about equally, synthetic a minority.
SPEECH_WEIGHTS = {"asterisk": 0.30, "klettres": 0.14, "ktuberling": 0.14, "gcin": 0.08,
                  "hedgewars": 0.14, "0ad-voice": 0.06, "espeak-ng": 0.14}
NOISE_WEIGHTS = {"generated": 0.30, "ambient": 0.16, "keyboard": 0.10, "sfx": 0.12,
                 "music": 0.14, "babble": 0.18}


def data_dir():
    return os.environ.get("AICD_DATA_DIR", os.path.expanduser("~/.cache/aicd/data"))


def db(x):
    return 10 ** (x / 20)


def rms(x):
    return float(np.sqrt(np.mean(x ** 2) + 1e-20))


class Corpus:
    """Clips of one split, memory-mapped."""

    def __init__(self, root, split):
        with open(os.path.join(root, "manifest.json")) as f:
            clips = [c for c in json.load(f)["clips"] if c["split"] == split]
        self.root = root
        self.units = {}  # source -> unit -> [clip]
        self.noise = {}  # category -> [clip]
        for c in clips:
            if c["kind"] == "speech":
                self.units.setdefault(c["source"], {}).setdefault(c["unit"], []).append(c)
            else:
                self.noise.setdefault(c["category"], []).append(c)
        for s in self.units:
            self.units[s] = {u: v for u, v in sorted(self.units[s].items())}
        self._cache = {}
        if not self.units:
            raise RuntimeError(f"no speech in split {split} of {root}")

    def audio(self, clip):
        a = self._cache.get(clip["path"])
        if a is None:
            a = np.load(os.path.join(self.root, clip["path"]), mmap_mode="r")
            self._cache[clip["path"]] = a
        return a

    def describe(self):
        lines = []
        for s, us in self.units.items():
            n = sum(len(v) for v in us.values())
            sec = sum(c["seconds"] for v in us.values() for c in v)
            lines.append(f"speech {s}: {len(us)} units, {n} clips, {sec / 60:.1f} min")
        for cat, cs in self.noise.items():
            lines.append(f"noise {cat}: {len(cs)} files, {sum(c['seconds'] for c in cs) / 60:.1f} min")
        return lines


def pick(rng, weights):
    keys = list(weights)
    p = np.array([weights[k] for k in keys], dtype=float)
    return keys[rng.choice(len(keys), p=p / p.sum())]


def vad_mask(x, floor_db=-35.0):
    """Sample mask: 10 ms frames within floor_db of the utterance's loudest frame."""
    hop = SR // 100
    n = len(x) // hop
    m = np.zeros(len(x), dtype=np.float32)
    if n == 0:
        return m
    e = (x[:n * hop].reshape(n, hop) ** 2).mean(axis=1)
    act = e > max(e.max() * db(floor_db) ** 2, 1e-10)
    m[:n * hop] = np.repeat(act, hop)
    return m


def random_eq(rng, max_db=6.0):
    """A few random biquads (shelves and peaks) as second-order sections."""
    sos = []
    for _ in range(rng.integers(1, 4)):
        kind = rng.choice(["low", "high", "peak"])
        g = rng.uniform(-max_db, max_db)
        A = 10 ** (g / 40)
        f0 = {"low": rng.uniform(80, 400), "high": rng.uniform(2000, 10000),
              "peak": np.exp(rng.uniform(np.log(150), np.log(8000)))}[kind]
        w0 = 2 * np.pi * f0 / SR
        q = rng.uniform(0.5, 2.0) if kind == "peak" else 0.707
        al = np.sin(w0) / (2 * q)
        c = np.cos(w0)
        if kind == "peak":
            b = [1 + al * A, -2 * c, 1 - al * A]
            a = [1 + al / A, -2 * c, 1 - al / A]
        elif kind == "low":
            sa = 2 * np.sqrt(A) * al
            b = [A * ((A + 1) - (A - 1) * c + sa), 2 * A * ((A - 1) - (A + 1) * c),
                 A * ((A + 1) - (A - 1) * c - sa)]
            a = [(A + 1) + (A - 1) * c + sa, -2 * ((A - 1) + (A + 1) * c), (A + 1) + (A - 1) * c - sa]
        else:
            sa = 2 * np.sqrt(A) * al
            b = [A * ((A + 1) + (A - 1) * c + sa), -2 * A * ((A - 1) + (A + 1) * c),
                 A * ((A + 1) + (A - 1) * c - sa)]
            a = [(A + 1) - (A - 1) * c + sa, 2 * ((A - 1) - (A + 1) * c), (A + 1) - (A - 1) * c - sa]
        sos.append(np.concatenate([np.array(b) / a[0], np.array(a) / a[0]]))
    return np.array(sos)


def random_rir(rng):
    """Synthetic room impulse response; returns (full, early) where early keeps 50 ms."""
    rt60 = rng.uniform(0.15, 0.9)
    n = int(min(rt60 * 1.1, 1.0) * SR)
    t = np.arange(n) / SR
    tail = rng.standard_normal(n) * np.exp(-6.9 * t / rt60)
    # high frequencies die faster: blend in a low-passed copy as time goes on
    lp = sosfilt(np.array([[0.2, 0.2, 0, 1, -0.6, 0]]), tail)
    mix = np.clip(t / rt60, 0, 1)
    tail = (1 - mix) * tail + mix * lp * 1.5
    pre = int(rng.uniform(0.001, 0.005) * SR)  # direct path to first reflections
    tail[:pre] = 0.0
    drr = db(rng.uniform(-3, 12))
    tail *= 1.0 / (drr * np.sqrt(np.sum(tail ** 2) + 1e-12))
    h = tail
    h[0] = 1.0
    early = h.copy()
    early[int(0.05 * SR):] = 0.0
    return h, early


def band_limit(rng, x_list, cutoff):
    """Brick-wall low-pass with a 10 % transition, applied identically to each signal."""
    n = len(x_list[0])
    f = np.fft.rfftfreq(n, 1 / SR)
    m = np.clip((cutoff * 1.1 - f) / (cutoff * 0.1), 0, 1)
    return [np.fft.irfft(np.fft.rfft(x) * m, n=n) for x in x_list]


def coloured_noise(rng, n):
    """Fan / HVAC-like noise: smooth random spectrum drifting slowly, plus blade tones."""
    nfft = 4096
    hop = nfft // 2
    frames = n // hop + 2
    f = np.fft.rfftfreq(nfft, 1 / SR)
    lf = np.log2(np.maximum(f, 20) / 1000)

    def envelope():
        slope = rng.uniform(-9, 1)  # dB per octave around 1 kHz
        e = slope * lf
        for _ in range(rng.integers(1, 4)):
            c, w, g = rng.uniform(-4, 3.5), rng.uniform(0.3, 1.5), rng.uniform(-10, 12)
            e += g * np.exp(-0.5 * ((lf - c) / w) ** 2)
        if rng.random() < 0.5:  # band-limited fans / ducts
            e -= 40 * np.clip((f - rng.uniform(3000, 16000)) / 4000, 0, 1)
        return db(e)

    A, B = envelope(), envelope()
    period = rng.uniform(2, 12)
    phase = rng.uniform(0, 2 * np.pi)
    win = np.sin(np.pi * (np.arange(nfft) + 0.5) / nfft)
    out = np.zeros((frames + 1) * hop)
    for k in range(frames):
        a = 0.5 + 0.5 * np.sin(2 * np.pi * k * hop / SR / period + phase)
        spec = (rng.standard_normal(len(f)) + 1j * rng.standard_normal(len(f))) * (a * A + (1 - a) * B)
        out[k * hop:k * hop + nfft] += np.fft.irfft(spec, n=nfft) * win
    x = out[hop:hop + n]
    x /= rms(x)
    if rng.random() < 0.5:
        t = np.arange(n) / SR
        for _ in range(rng.integers(1, 4)):
            f0 = rng.uniform(60, 600)
            wob = 1 + 0.01 * np.sin(2 * np.pi * rng.uniform(0.05, 0.5) * t)
            x += db(rng.uniform(-25, -8)) * np.sqrt(2) * np.sin(2 * np.pi * np.cumsum(f0 * wob) / SR)
    return x


def hum(rng, n):
    """Mains hum / buzz: 50 or 60 Hz with harmonics, slightly drifting."""
    f0 = rng.choice([50.0, 60.0]) + rng.uniform(-0.2, 0.2)
    t = np.arange(n) / SR
    x = np.zeros(n)
    decay = rng.uniform(0.5, 6)  # dB per harmonic
    odd = rng.random() < 0.5
    for k in range(1, int(min(40, 8000 // f0))):
        if odd and k % 2 == 0:
            continue
        x += db(-decay * (k - 1) + rng.uniform(-6, 3)) * np.sin(2 * np.pi * k * f0 * t + rng.uniform(0, 6.3))
    x /= rms(x)
    x += 0.03 * rng.standard_normal(n)
    return x


class Mixer:
    def __init__(self, corpus, seconds=4.0, seed=0, clean_prob=0.08, snr=(-5.0, 25.0), onsets=0.0):
        self.c = corpus
        self.onsets = onsets
        self.n = int(seconds * SR) // 480 * 480
        self.seed = seed
        self.clean_prob = clean_prob
        self.snr = snr
        self.sw = {k: v for k, v in SPEECH_WEIGHTS.items() if k in corpus.units}
        for k in corpus.units:
            self.sw.setdefault(k, 0.1)
        avail = set(corpus.noise) | {"generated", "babble"}
        self.nw = {k: v for k, v in NOISE_WEIGHTS.items() if k in avail}

    # -- speech ---------------------------------------------------------------------
    def utterances(self, rng, n, source=None):
        """n samples of one speaker: utterances with pauses; returns (speech, vad mask)."""
        source = source or pick(rng, self.sw)
        units = self.c.units[source]
        names = list(units)
        clips = units[names[rng.integers(len(names))]]
        x = np.zeros(n)
        m = np.zeros(n, dtype=np.float32)
        pos = int(rng.uniform(0, 0.4) * SR)
        while pos < n - SR // 10:
            clip = clips[rng.integers(len(clips))]
            a = np.asarray(self.c.audio(clip), dtype=np.float64) / 32768.0
            if len(a) > n - pos:
                if len(a) > n and rng.random() < 0.5:  # a long clip: take its middle too
                    s = rng.integers(0, len(a) - (n - pos))
                    a = a[s:]
                a = a[:n - pos]
            a = a * db(rng.uniform(-4, 4)) / max(rms(a), 1e-6)
            x[pos:pos + len(a)] = a
            m[pos:pos + len(a)] = vad_mask(a)
            pos += len(a) + int(rng.uniform(0.05, 0.7) * SR)
        return x, m

    # -- noise ----------------------------------------------------------------------
    def real_noise(self, rng, cat, n):
        clips = self.c.noise[cat]
        clip = clips[rng.integers(len(clips))]
        a = self.c.audio(clip)
        if cat in ("keyboard", "sfx") and len(a) < n // 2:
            # short events: scatter them (typing: many clicks; foley: a few events)
            x = np.zeros(n)
            rate = rng.uniform(3, 9) if cat == "keyboard" else rng.uniform(0.3, 2)
            t = int(rng.uniform(0, 0.5) * SR)
            while t < n:
                c = clips[rng.integers(len(clips))] if rng.random() < 0.5 else clip
                e = np.asarray(self.c.audio(c), dtype=np.float64)[:n - t] / 32768.0
                x[t:t + len(e)] += e * db(rng.uniform(-6, 0))
                t += int(rng.exponential(1 / rate) * SR) + len(e) // 4
            return x
        a = np.asarray(a, dtype=np.float64) / 32768.0
        if len(a) >= n:
            s = rng.integers(0, len(a) - n + 1)
            return a[s:s + n].copy()
        reps = int(np.ceil(n / len(a)))
        return np.tile(a, reps)[:n]

    def noise(self, rng, n):
        cat = pick(rng, self.nw)
        if cat == "generated":
            x = coloured_noise(rng, n) if rng.random() < 0.75 else hum(rng, n)
        elif cat == "babble":
            x = sum(self.utterances(rng, n)[0] for _ in range(rng.integers(3, 7)))
        else:
            x = self.real_noise(rng, cat, n)
        if rng.random() < 0.5:
            x = sosfilt(random_eq(rng), x)
        x = x / max(rms(x), 1e-8)
        if cat != "generated" and rng.random() < 0.3:  # a steady floor under real noise
            x += db(rng.uniform(-20, -5)) * coloured_noise(rng, n)
        return x, cat

    # -- example --------------------------------------------------------------------
    def example(self, i, snr=None, clean=None):
        """(noisy, clean target, vad mask, info) for example i; all float32, length self.n."""
        rng = np.random.default_rng([self.seed, i])
        n = self.n
        s, m = self.utterances(rng, n)
        info = {}
        if rng.random() < 0.5:
            sos = random_eq(rng, 5.0)
            s = sosfilt(sos, s)
        if rng.random() < 0.4:
            h, early = random_rir(rng)
            target = fftconvolve(s, early)[:n]
            s = fftconvolve(s, h)[:n]
        else:
            target = s
        active = m > 0
        s_level = rms(s[active]) if active.any() else rms(s)
        clean = (rng.random() < self.clean_prob) if clean is None else clean
        if clean:
            noise = np.zeros(n)
            info["noise"] = "none"
        else:
            noise, info["noise"] = self.noise(rng, n)
            snr = rng.uniform(*self.snr) if snr is None else snr
            info["snr"] = snr
            noise *= s_level / db(snr)
        # microphone self-noise floor, far below speech
        floor = rng.standard_normal(n) * s_level * db(rng.uniform(-75, -50))
        if self.onsets > 0:
            # Starts and changes a live microphone has: digital silence before the stream
            # starts (a muted or just-opened device), and noise that begins mid-clip (a fan
            # switched on, music started). A separate generator keeps every other draw, and so
            # the validation set, the same as without these.
            r2 = np.random.default_rng([self.seed, i, 7])
            if r2.random() < self.onsets:
                k = int(r2.uniform(0.05, 0.6) * SR)
                noise[:k], floor[:k], s[:k], target[:k], m[:k] = 0, 0, 0, 0, 0
            elif r2.random() < self.onsets and info["noise"] != "none":
                k = int(r2.uniform(0.3, 0.7) * n)
                ramp = np.clip((np.arange(n) - k) / (0.02 * SR), 0, 1)
                noise = noise * ramp
        x = s + noise + floor
        # overall level
        g = db(rng.uniform(-42, -15)) / max(s_level, 1e-8)
        x, target = x * g, target * g
        if rng.random() < 0.25:
            cutoff = rng.choice([3800.0, 7000.0, 8000.0, 11000.0, 16000.0, 20000.0])
            x, target = band_limit(rng, [x, target], cutoff)
        peak = np.abs(x).max()
        if rng.random() < 0.05:
            k = db(rng.uniform(1, 8)) / max(peak, 1e-8)  # drive into clipping
            x, target = np.clip(x * k, -1, 1), target * k
        elif peak > 0.99:
            x, target = x * 0.99 / peak, target * 0.99 / peak
        return x.astype(np.float32), target.astype(np.float32), m, info


def frame_vad(mask, hop=480):
    """Per-hop VAD target from the sample mask: a hop counts as speech when half is active."""
    T = len(mask) // hop
    return (mask[:T * hop].reshape(T, hop).mean(axis=1) > 0.5).astype(np.float32)
