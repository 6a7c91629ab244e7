#!/usr/bin/python3
"""Makes a noisy speech sample for the demo: espeak-ng speech (48 kHz) mixed
with generated fan noise, mains hum and keyboard-like clicks at a given SNR.
Writes NOISY.wav and CLEAN.wav (the reference, same length).

    make-sample.py NOISY.wav CLEAN.wav [--snr DB] [--seed N]
"""
import argparse
import subprocess
import sys
import tempfile

import numpy as np
import soundfile as sf
from scipy.signal import lfilter, resample_poly

TEXT = ("Hello, this is a short test of the clean microphone. "
        "The fan and the keyboard should fade away, and my voice should stay clear.")


def speech(rate):
    with tempfile.NamedTemporaryFile(suffix=".wav") as f:
        subprocess.run(["espeak-ng", "-v", "en-us", "-s", "150", "-w", f.name, TEXT], check=True)
        x, r = sf.read(f.name, dtype="float64")
    g = np.gcd(rate, r)
    return resample_poly(x, rate // g, r // g)


def noise(n, rate, rng):
    # Fan: brown-ish noise with a slow spectral drift, plus mains hum with harmonics.
    w = rng.standard_normal(n)
    fan = lfilter([1.0], [1.0, -0.97], w)
    fan /= np.std(fan) + 1e-12
    t = np.arange(n) / rate
    hum = sum(0.3 / k * np.sin(2 * np.pi * 50 * k * t + rng.uniform(0, 6.28)) for k in range(1, 6))
    clicks = np.zeros(n)
    for pos in rng.integers(0, n - 400, size=max(1, n // (rate // 6))):
        clicks[pos:pos + 400] += rng.standard_normal(400) * np.exp(-np.arange(400) / 60.0) * 3
    return fan + hum + clicks


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("noisy")
    ap.add_argument("clean")
    ap.add_argument("--snr", type=float, default=5.0)
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--rate", type=int, default=48000)
    a = ap.parse_args()
    rng = np.random.default_rng(a.seed)
    s = speech(a.rate)
    s = np.concatenate([np.zeros(a.rate // 2), s, np.zeros(a.rate // 2)])
    s *= 0.25 / (np.max(np.abs(s)) + 1e-12)
    v = noise(len(s), a.rate, rng)
    ps, pv = np.mean(s ** 2), np.mean(v ** 2)
    v *= np.sqrt(ps / (pv * 10 ** (a.snr / 10)))
    y = s + v
    peak = np.max(np.abs(y))
    if peak > 0.99:
        y, s = y * 0.99 / peak, s * 0.99 / peak
    sf.write(a.noisy, y.astype(np.float32), a.rate, subtype="FLOAT")
    sf.write(a.clean, s.astype(np.float32), a.rate, subtype="FLOAT")
    return 0


if __name__ == "__main__":
    sys.exit(main())
