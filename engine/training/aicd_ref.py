#!/usr/bin/python3
"""Reference implementation of the engine's streaming signal path (MODEL-FORMAT.md).

Written straight from the text of the format, independently of the training model, so the
two check each other, and the C engine is checked against this (tests/parity/parity.py).
Arithmetic is float64; the engine's float32 result must agree to a relative error of 1e-4.

    aicd_ref.py MODEL IN.wav OUT.wav [--level L] [--vad VAD.txt]
"""

import argparse
import os
import sys

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import aicmodel  # noqa: E402


def sigmoid(x):
    return 1.0 / (1.0 + np.exp(-x))


ACT = {
    "linear": lambda x: x,
    "relu": lambda x: np.maximum(x, 0.0),
    "tanh": np.tanh,
    "sigmoid": sigmoid,
}


class Network:
    """The layer graph of a model, run one frame at a time from zero GRU state."""

    def __init__(self, model):
        self.meta = model.meta
        self.layers = []
        for i, L in enumerate(model.layers):
            inputs = aicmodel.layer_inputs(i, L)
            w = {k: model.t(L[k]).astype(np.float64) for k in
                 ("weight", "bias", "weight_ih", "weight_hh", "bias_ih", "bias_hh") if k in L}
            self.layers.append((L, inputs, w))
        norm = self.meta["input_norm"]
        self.mean = model.t(norm["mean"]).astype(np.float64)
        self.std = model.t(norm["std"]).astype(np.float64)
        self.reset()

    def reset(self):
        self.state = {i: np.zeros(L["hidden"]) for i, (L, _, _) in enumerate(self.layers)
                      if L["type"] == "gru"}

    def step(self, features):
        x0 = (features - self.mean) / self.std
        outs = []
        for i, (L, inputs, w) in enumerate(self.layers):
            x = np.concatenate([x0 if j == -1 else outs[j] for j in inputs])
            if L["type"] == "dense":
                y = ACT[L["activation"]](w["weight"] @ x + w["bias"])
            else:
                H = L["hidden"]
                h = self.state[i]
                gi = w["weight_ih"] @ x + w["bias_ih"]
                gh = w["weight_hh"] @ h + w["bias_hh"]
                r = sigmoid(gi[:H] + gh[:H])
                z = sigmoid(gi[H:2 * H] + gh[H:2 * H])
                n = np.tanh(gi[2 * H:] + r * gh[2 * H:])
                y = (1.0 - z) * n + z * h
                self.state[i] = y
            outs.append(y)
        return outs[-1]


def triangles(edges, K):
    """For every bin j: the two bands it feeds and its weights (step 3 of the signal path).

    Bins below e_0 go fully to band 0, bins from e_{NB-1} on fully to band NB-1; bins in
    [e_b, e_{b+1}) split (1 - f, f) between bands b and b+1, f = (j - e_b) / (e_{b+1} - e_b).
    """
    NB = len(edges)
    lo = np.zeros(K, dtype=np.int64)
    hi = np.zeros(K, dtype=np.int64)
    wlo = np.ones(K)
    whi = np.zeros(K)
    for b in range(NB - 1):
        a, c = edges[b], edges[b + 1]
        j = np.arange(a, c)
        f = (j - a) / (c - a)
        lo[j], hi[j], wlo[j], whi[j] = b, b + 1, 1.0 - f, f
    lo[edges[-1]:] = NB - 1
    hi[edges[-1]:] = NB - 1
    return lo, hi, wlo, whi


def band_energies(P, edges, tri=None):
    """Triangular band energies of one power spectrum P[K]."""
    lo, hi, wlo, whi = tri or triangles(edges, len(P))
    NB = len(edges)
    return np.bincount(lo, wlo * P, NB) + np.bincount(hi, whi * P, NB)


def interp_gains(G, edges, K, tri=None):
    """Per-bin gains from band gains with the same triangles (step 6)."""
    lo, hi, wlo, whi = tri or triangles(edges, K)
    return wlo * G[lo] + whi * G[hi]


class Stream:
    """Streaming state of one engine instance: input history, overlap, network state."""

    def __init__(self, model, channels):
        m = model.meta
        self.hop, self.N = m["hop"], m["window"]
        self.K = self.N // 2 + 1
        self.edges = list(m["band_edges"])
        self.F = m["fine_bins"]
        self.eps = float(m["feature_eps"])
        self.floor = float(m.get("gain_floor", 0.0))
        self.outs = m["outputs"]
        self.win = np.sin(np.pi * (np.arange(self.N) + 0.5) / self.N)
        self.tri = triangles(self.edges, self.K)
        self.net = Network(model)
        self.hist = np.zeros((channels, self.N))
        self.ola = np.zeros((channels, self.hop))

    def process_hop(self, x, level=1.0):
        """x[ch, hop] in, y[ch, hop] out; returns (y, vad or None, gains per bin)."""
        hop, N, NB, F = self.hop, self.N, len(self.edges), self.F
        self.hist = np.concatenate([self.hist[:, hop:], x], axis=1)
        if not self.hist.any():
            # Digital silence in the whole window: the network starts afresh
            # when sound begins; the output is the previous frame's tail.
            self.net.reset()
            res = self.ola.copy()
            self.ola[:] = 0.0
            vad = 0.0 if self.outs.get("vad", -1) >= 0 else None
            return res, vad, np.ones(self.K)
        X = np.fft.rfft(self.win * self.hist, axis=1)
        if not self.hist[:, :N - hop].any():
            # Sound begins in the newest hop only: passed with unit gains; the
            # network first sees the next frame, from a fresh state.
            self.net.reset()
            g = np.ones(self.K)
            y = np.fft.irfft(g * X, n=N, axis=1) * self.win
            res = y[:, :hop] + self.ola
            self.ola = y[:, hop:].copy()
            vad = 0.0 if self.outs.get("vad", -1) >= 0 else None
            return res, vad, g
        P = (X.real ** 2 + X.imag ** 2).mean(axis=0)
        E = band_energies(P, self.edges, self.tri)
        feat = np.concatenate([np.log10(E + self.eps), np.log10(P[:F] + self.eps)])
        out = self.net.step(feat)
        G = out[self.outs["gains"]:self.outs["gains"] + NB]
        vad = out[self.outs["vad"]] if self.outs.get("vad", -1) >= 0 else None
        g = interp_gains(G, self.edges, self.K, self.tri)
        fg = self.outs.get("fine_gains", -1)
        if fg >= 0 and F > 0:
            g[:F] *= out[fg:fg + F]
        if self.floor > 0:
            g = self.floor + (1 - self.floor) * g
        g = np.maximum(g, 1e-5) ** level
        # irfft in the format is unnormalised and divided by N; numpy's irfft already is 1/N.
        y = np.fft.irfft(g * X, n=N, axis=1) * self.win
        res = y[:, :hop] + self.ola
        self.ola = y[:, hop:].copy()
        return res, vad, g


def process(model, x, level=1.0, return_gains=False):
    """Run a whole signal x[ch, n] (n a multiple of hop) from zero state.

    Returns (y[ch, n], vad[frames]); y is x delayed by `hop` samples when all gains are 1.
    vad is NaN for every frame when the model has no VAD output.
    """
    if isinstance(model, (str, os.PathLike)):
        model = aicmodel.read(model)
    x = np.asarray(x, dtype=np.float64)
    if x.ndim == 1:
        x = x[None, :]
    hop = model.meta["hop"]
    if x.shape[1] % hop:
        raise ValueError(f"length {x.shape[1]} is not a multiple of hop {hop}")
    st = Stream(model, x.shape[0])
    T = x.shape[1] // hop
    y = np.zeros_like(x)
    vad = np.full(T, np.nan)
    gains = []
    for t in range(T):
        y[:, t * hop:(t + 1) * hop], v, g = st.process_hop(x[:, t * hop:(t + 1) * hop], level)
        if v is not None:
            vad[t] = v
        if return_gains:
            gains.append(g)
    if return_gains:
        return y, vad, np.array(gains)
    return y, vad


def main(argv=None):
    import soundfile as sf
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("model")
    ap.add_argument("input")
    ap.add_argument("output")
    ap.add_argument("--level", type=float, default=1.0)
    ap.add_argument("--vad", help="write one VAD value per hop to this text file")
    a = ap.parse_args(argv)
    model = aicmodel.read(a.model)
    x, sr = sf.read(a.input, dtype="float64", always_2d=True)
    if sr != model.meta["sample_rate"]:
        sys.exit(f"input is {sr} Hz, the model runs at {model.meta['sample_rate']} Hz")
    hop = model.meta["hop"]
    n = x.shape[0]
    pad = (-n) % hop
    xx = np.concatenate([x.T, np.zeros((x.shape[1], pad))], axis=1)
    y, vad = process(model, xx, a.level)
    sf.write(a.output, y[:, :n].T.astype(np.float32), sr, subtype="FLOAT")
    if a.vad:
        np.savetxt(a.vad, vad, fmt="%.6f")


if __name__ == "__main__":
    main()
