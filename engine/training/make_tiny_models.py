#!/usr/bin/python3
"""Generate the engine's tiny test models, tests/data/tiny.aicm and tests/data/tiny-fine.aicm.

Random but deterministic (fixed seed) weights in the real format at 48 kHz, hop 480, sized
so that band gains spread over most of 0..1 on ordinary input. `tiny` is the plain layout
(dense tanh -> gru -> dense sigmoid with a skip, VAD); `tiny-fine` exercises everything else
the format has: fine bins and fine gains, relu and linear activations, the feature vector
(-1) fed to a later layer, and a two-input concatenation in another order.

    make_tiny_models.py [OUTDIR]   (default: tests/data of this repository)
"""

import os
import sys

import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
import aicmodel  # noqa: E402
import aicd_ref  # noqa: E402
import bands  # noqa: E402

SR, HOP, WIN = 48000, 480, 960
NB = 16


def probe_signal(seconds=2.0, seed=1):
    """Deterministic speech-like probe: a gliding harmonic tone, bursts, and coloured noise."""
    rng = np.random.default_rng(seed)
    n = int(SR * seconds) // HOP * HOP
    t = np.arange(n) / SR
    f0 = 140 + 60 * np.sin(2 * np.pi * 0.7 * t)
    ph = 2 * np.pi * np.cumsum(f0) / SR
    voiced = sum(np.sin(k * ph) / k for k in range(1, 25))
    env = (0.5 + 0.5 * np.sin(2 * np.pi * 3 * t)) ** 2
    noise = np.convolve(rng.standard_normal(n), np.ones(4) / 4, mode="same")
    noise_env = 0.02 + 0.2 * (np.sin(2 * np.pi * 0.5 * t) > 0.3)
    return (0.1 * env * voiced + noise_env * noise).astype(np.float64)


def feature_stats(edges, F, x):
    K = WIN // 2 + 1
    win = np.sin(np.pi * (np.arange(WIN) + 0.5) / WIN)
    xp = np.concatenate([np.zeros(HOP), x])
    feats = []
    for t in range(len(x) // HOP):
        X = np.fft.rfft(win * xp[t * HOP:t * HOP + WIN])
        P = np.abs(X) ** 2
        E = aicd_ref.band_energies(P, edges)
        feats.append(np.concatenate([np.log10(E + 1e-9), np.log10(P[:F] + 1e-9)]))
    f = np.array(feats)
    assert f.shape[1] == NB + F and K > edges[-1]
    return f.mean(axis=0), f.std(axis=0) + 0.1


def dense(rng, name, i, o, scale=1.0):
    w = rng.standard_normal((o, i)) * scale / np.sqrt(i)
    b = rng.standard_normal(o) * 0.1 * scale
    return {f"{name}.weight": w, f"{name}.bias": b}


def gru(rng, name, i, h):
    return {
        f"{name}.weight_ih": rng.standard_normal((3 * h, i)) * 1.2 / np.sqrt(i),
        f"{name}.weight_hh": rng.standard_normal((3 * h, h)) * 0.9 / np.sqrt(h),
        f"{name}.bias_ih": rng.standard_normal(3 * h) * 0.1,
        f"{name}.bias_hh": rng.standard_normal(3 * h) * 0.1,
    }


def gru_layer(name, i, h, inputs):
    return {"type": "gru", "inputs": inputs, "in": i, "hidden": h,
            "weight_ih": f"{name}.weight_ih", "weight_hh": f"{name}.weight_hh",
            "bias_ih": f"{name}.bias_ih", "bias_hh": f"{name}.bias_hh"}


def dense_layer(name, i, o, act, inputs):
    return {"type": "dense", "inputs": inputs, "in": i, "out": o, "activation": act,
            "weight": f"{name}.weight", "bias": f"{name}.bias"}


def base_meta(model_id, desc, edges, F):
    return {
        "id": model_id,
        "description": desc,
        "architecture": "band-gru",
        "sample_rate": SR,
        "hop": HOP,
        "window": WIN,
        "band_edges": edges,
        "fine_bins": F,
        "feature_eps": 1e-9,
        "input_norm": {"mean": "in.mean", "std": "in.std"},
    }


def make_tiny(probe):
    rng = np.random.default_rng(20260101)
    edges = bands.erb_band_edges(NB, SR, WIN)
    mean, std = feature_stats(edges, 0, probe)
    t = {"in.mean": mean, "in.std": std}
    t.update(dense(rng, "l0", NB, 24))
    t.update(gru(rng, "l1", 24, 24))
    t.update(dense(rng, "l2", 48, NB + 1, scale=2.5))
    meta = base_meta("tiny", "test model: random weights, 16 bands, no fine bins", edges, 0)
    meta["layers"] = [
        dense_layer("l0", NB, 24, "tanh", [-1]),
        gru_layer("l1", 24, 24, [0]),
        dense_layer("l2", 48, NB + 1, "sigmoid", [1, 0]),
    ]
    meta["outputs"] = {"gains": 0, "vad": NB, "fine_gains": -1}
    return meta, t


def make_tiny_fine(probe):
    rng = np.random.default_rng(20260102)
    F = 8
    edges = bands.erb_band_edges(NB, SR, WIN)
    mean, std = feature_stats(edges, F, probe)
    t = {"in.mean": mean, "in.std": std}
    t.update(dense(rng, "l0", NB + F, 20, scale=1.5))
    t.update(gru(rng, "l1", 20, 16))
    t.update(dense(rng, "l2", 16 + NB + F, 12))
    t.update(dense(rng, "l3", 12 + 16, F + 1 + NB, scale=2.5))
    meta = base_meta("tiny-fine", "test model: random weights, 16 bands, 8 fine bins", edges, F)
    meta["layers"] = [
        dense_layer("l0", NB + F, 20, "relu", [-1]),
        gru_layer("l1", 20, 16, [0]),
        dense_layer("l2", 16 + NB + F, 12, "linear", [1, -1]),
        dense_layer("l3", 12 + 16, F + 1 + NB, "sigmoid", [2, 1]),
    ]
    # outputs in a different order than tiny: fine gains first, then VAD, then band gains
    meta["outputs"] = {"gains": F + 1, "vad": F, "fine_gains": 0}
    return meta, t


def main():
    out = sys.argv[1] if len(sys.argv) > 1 else os.path.join(HERE, "..", "..", "tests", "data")
    os.makedirs(out, exist_ok=True)
    probe = probe_signal()
    for name, make in (("tiny", make_tiny), ("tiny-fine", make_tiny_fine)):
        meta, tensors = make(probe)
        path = os.path.join(out, f"{name}.aicm")
        data = aicmodel.write(path, meta, tensors)
        model = aicmodel.read(path)
        _, vad, g = aicd_ref.process(model, probe[None, :], return_gains=True)
        print(f"{os.path.normpath(path)}: {len(data)} bytes, per-bin gain "
              f"min {g.min():.3f} p10 {np.percentile(g, 10):.3f} median {np.median(g):.3f} "
              f"p90 {np.percentile(g, 90):.3f} max {g.max():.3f}, "
              f"vad {np.nanmin(vad):.2f}..{np.nanmax(vad):.2f}")


if __name__ == "__main__":
    main()
