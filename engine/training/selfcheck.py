#!/usr/bin/python3
"""Cross-check the training model, the exported file and the numpy reference.

1. A BandGRU (random weights, or a checkpoint) is exported with aicmodel and read back.
2. The same noisy input goes through BandGRU.forward (torch) and aicd_ref.process (numpy,
   streaming hop by hop). Output and VAD must agree to 1e-5 relative error.
3. With unit gains the reference is the input delayed by exactly one hop.

    selfcheck.py [--checkpoint CKPT] [--seconds S]
"""

import argparse
import os
import sys

import numpy as np
import torch

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
import aicd_ref  # noqa: E402
import aicmodel  # noqa: E402
from model import DEFAULT_CONFIG, BandGRU  # noqa: E402


def rel_err(a, b):
    return float(np.linalg.norm(a - b) / max(np.linalg.norm(b), 1e-30))


def check(net, seconds=2.0, seed=0, verbose=True):
    net = net.eval()
    rng = np.random.default_rng(seed)
    sr, hop = net.cfg["sample_rate"], net.hop
    n = int(seconds * sr) // hop * hop
    t = np.arange(n) / sr
    x = 0.1 * np.sin(2 * np.pi * 220 * t) * (np.sin(2 * np.pi * 2 * t) > 0) \
        + 0.03 * rng.standard_normal(n)
    x = x.astype(np.float32)
    meta, tensors = net.to_aicm("selfcheck", "self-check")
    model = aicmodel.parse(aicmodel.pack(meta, tensors))
    with torch.no_grad():
        y_t, vad_t, _, _ = net(torch.from_numpy(x)[None])
    y_t, vad_t = y_t[0].numpy().astype(np.float64), vad_t[0].numpy().astype(np.float64)
    y_r, vad_r = aicd_ref.process(model, x[None].astype(np.float64))
    e_y, e_v = rel_err(y_t, y_r[0]), rel_err(vad_t, vad_r)
    # stereo: the engine averages power over channels and applies one gain to both
    y_s, _ = aicd_ref.process(model, np.stack([x, 0.5 * x]).astype(np.float64))
    e_s = rel_err(y_s[1], 0.5 * aicd_ref.process(model, (x * np.sqrt(0.625))[None])[0][0]
                  / np.sqrt(0.625))
    if verbose:
        print(f"torch vs reference: output rel err {e_y:.2e}, vad rel err {e_v:.2e}, "
              f"stereo consistency {e_s:.2e}, gain range of output "
              f"{np.linalg.norm(y_r) / np.linalg.norm(x):.3f}")
    return max(e_y, e_v, e_s)


def identity_check(net):
    """Gains forced to 1: the output must be the input delayed by one hop."""
    meta, tensors = net.to_aicm("identity", "")
    tensors["out.weight"] = np.zeros_like(tensors["out.weight"])
    tensors["out.bias"] = np.full_like(tensors["out.bias"], 50.0)
    model = aicmodel.parse(aicmodel.pack(meta, tensors))
    hop = net.hop
    x = np.random.default_rng(1).standard_normal((1, 20 * hop)) * 0.1
    y, _ = aicd_ref.process(model, x)
    e = float(np.abs(y[0, hop:] - x[0, :-hop]).max() + np.abs(y[0, :hop]).max())
    print(f"identity: max |y[n] - x[n - hop]| = {e:.2e}")
    return e


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--checkpoint")
    ap.add_argument("--seconds", type=float, default=2.0)
    a = ap.parse_args()
    torch.manual_seed(0)
    if a.checkpoint:
        ck = torch.load(a.checkpoint, map_location="cpu")
        net = BandGRU(ck["config"])
        net.load_state_dict(ck["model"])
    else:
        net = BandGRU(DEFAULT_CONFIG)
        with torch.no_grad():  # make the random model do something visible
            net.out.weight.mul_(8.0)
            net.in_mean.fill_(0.0)
            net.in_std.fill_(2.0)
    err = check(net, a.seconds)
    ide = identity_check(net)
    ok = err < 1e-5 and ide < 1e-6
    print("selfcheck:", "ok" if ok else "FAILED")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
