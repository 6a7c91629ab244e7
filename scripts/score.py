#!/usr/bin/python3
"""Prints SI-SDR of NOISY and ENHANCED against CLEAN, and the improvement.

    score.py CLEAN.wav NOISY.wav ENHANCED.wav
"""
import sys

import numpy as np
import soundfile as sf


def si_sdr(ref, est):
    ref = ref - np.mean(ref)
    est = est - np.mean(est)
    a = np.dot(est, ref) / (np.dot(ref, ref) + 1e-12)
    t = a * ref
    return 10 * np.log10(np.sum(t ** 2) / (np.sum((est - t) ** 2) + 1e-12) + 1e-12)


def load(p):
    x, r = sf.read(p, dtype="float64", always_2d=True)
    return x.mean(axis=1), r


def main():
    if len(sys.argv) != 4:
        print(__doc__.strip(), file=sys.stderr)
        return 2
    c, _ = load(sys.argv[1])
    n, _ = load(sys.argv[2])
    e, _ = load(sys.argv[3])
    m = min(len(c), len(n), len(e))
    a, b = si_sdr(c[:m], n[:m]), si_sdr(c[:m], e[:m])
    print(f"SI-SDR noisy {a:6.2f} dB, enhanced {b:6.2f} dB, improvement {b - a:+.2f} dB")
    return 0


if __name__ == "__main__":
    sys.exit(main())
