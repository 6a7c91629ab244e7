#!/usr/bin/python3
"""Parity of the C engine with the numpy reference (engine/training/aicd_ref.py).

The C side runs the model at its native rate with blocks of one hop, from fresh state,
at the given level, without delay compensation, and writes its raw output: same length,
channels and rate as the input (a float32 WAV is best). This script computes the reference
output of the same input and fails when ||y_c - y_ref|| / ||y_ref|| exceeds the tolerance.

    parity.py --model M.aicm --input IN.wav --c-output OUT_C.wav [--level L] [--tol 1e-4]
    parity.py --model M.aicm --make-input IN.wav [--seconds S] [--channels C]
"""

import argparse
import os
import sys

import numpy as np
import soundfile as sf

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
sys.path.insert(0, os.path.join(ROOT, "engine", "training"))
import aicd_ref  # noqa: E402
import aicmodel  # noqa: E402


def make_input(path, sr, seconds, channels, seed=7):
    """A deterministic test signal: harmonic tone bursts, chirp and coloured noise."""
    rng = np.random.default_rng(seed)
    n = int(seconds * sr)
    t = np.arange(n) / sr
    f0 = 120 + 80 * np.sin(2 * np.pi * 0.3 * t)
    ph = 2 * np.pi * np.cumsum(f0) / sr
    tone = sum(np.sin(k * ph) / k for k in range(1, 30)) * (np.sin(2 * np.pi * 1.5 * t) > -0.2)
    chirp = np.sin(2 * np.pi * (50 * t + 0.5 * (sr / 2 - 100) / seconds * t ** 2))
    x = np.empty((n, channels))
    for c in range(channels):
        noise = np.convolve(rng.standard_normal(n), [1, 0.7, 0.3], mode="same")
        x[:, c] = 0.08 * tone * (1 - 0.3 * c) + 0.01 * chirp + 0.02 * noise
    sf.write(path, x.astype(np.float32), sr, subtype="FLOAT")


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--model", required=True)
    ap.add_argument("--input")
    ap.add_argument("--c-output")
    ap.add_argument("--level", type=float, default=1.0)
    ap.add_argument("--tol", type=float, default=1e-4)
    ap.add_argument("--ref-output", help="also write the reference output here")
    ap.add_argument("--make-input", metavar="WAV", help="write a test input and exit")
    ap.add_argument("--seconds", type=float, default=3.0)
    ap.add_argument("--channels", type=int, default=1)
    a = ap.parse_args()

    model = aicmodel.read(a.model)
    sr, hop = model.meta["sample_rate"], model.meta["hop"]
    if a.make_input:
        make_input(a.make_input, sr, a.seconds, a.channels)
        return 0
    if not (a.input and a.c_output):
        ap.error("--input and --c-output are required")

    x, xsr = sf.read(a.input, dtype="float64", always_2d=True)
    yc, ysr = sf.read(a.c_output, dtype="float64", always_2d=True)
    if xsr != sr or ysr != sr:
        print(f"FAIL: rates input {xsr}, C output {ysr}, model {sr}")
        return 1
    if yc.shape != x.shape:
        print(f"FAIL: C output has shape {yc.shape} (frames, channels), input {x.shape}")
        return 1
    n = x.shape[0]
    pad = (-n) % hop
    xx = np.concatenate([x.T, np.zeros((x.shape[1], pad))], axis=1)
    yr, _ = aicd_ref.process(model, xx, a.level)
    yr = yr[:, :n]
    if a.ref_output:
        sf.write(a.ref_output, yr.T.astype(np.float32), sr, subtype="FLOAT")
    err = np.linalg.norm(yc.T - yr) / max(np.linalg.norm(yr), 1e-30)
    per_ch = [np.linalg.norm(yc[:, c] - yr[c]) / max(np.linalg.norm(yr[c]), 1e-30)
              for c in range(x.shape[1])]
    # a misalignment shows as a large error: say so rather than leave it to guesswork
    hint = ""
    if err > a.tol:
        best = min(range(-2 * hop, 2 * hop + 1),
                   key=lambda d: np.linalg.norm(np.roll(yc.T, -d, axis=1)[:, 2 * hop:-2 * hop]
                                                - yr[:, 2 * hop:-2 * hop]))
        if best:
            hint = f" (C output looks shifted by {best} samples against the reference)"
    print(f"parity: relative error {err:.3e} (per channel "
          f"{', '.join(f'{e:.3e}' for e in per_ch)}), tolerance {a.tol:g}: "
          f"{'ok' if err <= a.tol else 'FAIL'}{hint}")
    return 0 if err <= a.tol else 1


if __name__ == "__main__":
    sys.exit(main())
