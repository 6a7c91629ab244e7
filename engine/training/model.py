"""The trainable model: the engine's signal path in PyTorch, plus conversion to `.aicm`.

Everything here has an exact counterpart in MODEL-FORMAT.md: the same window, framing,
triangular bands, log features, layer graph and gains, so `to_aicm()` is a plain copy of the
weights and aicd_ref.py reproduces the forward pass to float rounding.
"""

import numpy as np
import torch
import torch.nn as nn

import bands

DEFAULT_CONFIG = dict(
    sample_rate=48000, hop=480, bands=32, min_band_width=2, fine_bins=64,
    dense=128, gru=[160, 160], feature_eps=1e-9,
)


class BandGRU(nn.Module):
    """dense(tanh) -> GRU x n -> dense(sigmoid) over [last GRU, first dense].

    Output vector: NB band gains, 1 VAD, F fine gains.
    """

    def __init__(self, cfg):
        super().__init__()
        self.cfg = dict(cfg)
        sr, hop = cfg["sample_rate"], cfg["hop"]
        self.hop, self.N = hop, 2 * hop
        self.K = self.N // 2 + 1
        self.edges = bands.erb_band_edges(cfg["bands"], sr, self.N, cfg.get("min_band_width", 1))
        self.NB, self.F = len(self.edges), cfg["fine_bins"]
        self.eps = cfg["feature_eps"]
        nf = self.NB + self.F
        self.register_buffer("window", torch.sin(torch.pi * (torch.arange(self.N) + 0.5) / self.N))
        self.register_buffer("bandm", torch.tensor(bands.band_matrix(self.edges, self.K),
                                                   dtype=torch.float32))
        self.register_buffer("in_mean", torch.zeros(nf))
        self.register_buffer("in_std", torch.ones(nf))
        self.dense0 = nn.Linear(nf, cfg["dense"])
        self.grus = nn.ModuleList()
        width = cfg["dense"]
        for h in cfg["gru"]:
            self.grus.append(nn.GRU(width, h, batch_first=True))
            width = h
        self.nout = self.NB + 1 + self.F
        self.out = nn.Linear(width + cfg["dense"], self.nout)
        with torch.no_grad():
            # start near "pass everything": band gains ~0.7, fine gains ~0.98
            self.out.bias[:self.NB] = 1.0
            self.out.bias[self.NB] = 0.0
            self.out.bias[self.NB + 1:] = 4.0

    # -- signal path ---------------------------------------------------------------
    def stft(self, x):
        """x[B, n] (n multiple of hop) -> X[B, T, K], streaming frames from zero history."""
        xp = torch.nn.functional.pad(x, (self.hop, 0))
        frames = xp.unfold(-1, self.N, self.hop)  # [B, T, N], frame t ends at input t*hop+hop
        return torch.fft.rfft(frames * self.window, dim=-1)

    def features(self, X):
        P = X.real ** 2 + X.imag ** 2
        E = P @ self.bandm
        f = torch.log10(E + self.eps)
        if self.F:
            f = torch.cat([f, torch.log10(P[..., :self.F] + self.eps)], dim=-1)
        return f, P

    def network(self, feat, state=None):
        x0 = (feat - self.in_mean) / self.in_std
        d0 = torch.tanh(self.dense0(x0))
        h = d0
        new_state = []
        for i, g in enumerate(self.grus):
            h, s = g(h, None if state is None else state[i])
            new_state.append(s)
        out = torch.sigmoid(self.out(torch.cat([h, d0], dim=-1)))
        return out, new_state

    def gains(self, out, level=1.0):
        G = out[..., :self.NB]
        g = G @ self.bandm.T
        if self.F:
            fine = out[..., self.NB + 1:]
            g = torch.cat([g[..., :self.F] * fine, g[..., self.F:]], dim=-1)
        floor = self.cfg.get("gain_floor", 0.0)
        if floor > 0:
            g = floor + (1 - floor) * g
        g = torch.clamp(g, min=1e-5)
        if level != 1.0:
            g = g ** level
        return g

    def synth(self, Y, n):
        """Y[B, T, K] -> y[B, n]: the engine's streaming output (input delayed by hop)."""
        y = torch.fft.irfft(Y, n=self.N, dim=-1) * self.window  # [B, T, N]
        B, T, N = y.shape
        ola = torch.nn.functional.fold(y.transpose(1, 2), output_size=(1, (T + 1) * self.hop),
                                       kernel_size=(1, N), stride=(1, self.hop))
        return ola.reshape(B, -1)[:, :n]

    def forward(self, x, level=1.0):
        """x[B, n] -> (y[B, n] delayed by hop, vad[B, T], gains[B, T, K], X)."""
        X = self.stft(x)
        feat, _ = self.features(X)
        # As in the engine (MODEL-FORMAT.md step 1): the first frame holds
        # sound only in its newest hop, so it passes with unit gains and the
        # network starts, from zero state, on the second frame.
        out, _ = self.network(feat[:, 1:])
        g = self.gains(out, level)
        g = torch.cat([torch.ones_like(g[:, :1]), g], dim=1)
        vad = torch.cat([torch.zeros_like(out[:, :1, self.NB]), out[..., self.NB]], dim=1)
        y = self.synth(X * g, x.shape[-1])
        return y, vad, g, X

    # -- export --------------------------------------------------------------------
    def to_aicm(self, model_id, description=""):
        """(meta, tensors) for aicmodel.write()."""
        c = self.cfg
        t = {}

        def put(name, v):
            t[name] = v.detach().cpu().numpy().astype(np.float32)
            return name

        nf = self.NB + self.F
        layers = [{"type": "dense", "inputs": [-1], "in": nf, "out": c["dense"], "activation": "tanh",
                   "weight": put("dense0.weight", self.dense0.weight),
                   "bias": put("dense0.bias", self.dense0.bias)}]
        width = c["dense"]
        for i, g in enumerate(self.grus):
            layers.append({"type": "gru", "inputs": [len(layers) - 1], "in": width,
                           "hidden": g.hidden_size,
                           "weight_ih": put(f"gru{i}.weight_ih", g.weight_ih_l0),
                           "weight_hh": put(f"gru{i}.weight_hh", g.weight_hh_l0),
                           "bias_ih": put(f"gru{i}.bias_ih", g.bias_ih_l0),
                           "bias_hh": put(f"gru{i}.bias_hh", g.bias_hh_l0)})
            width = g.hidden_size
        layers.append({"type": "dense", "inputs": [len(layers) - 1, 0], "in": width + c["dense"],
                       "out": self.nout, "activation": "sigmoid",
                       "weight": put("out.weight", self.out.weight),
                       "bias": put("out.bias", self.out.bias)})
        tensors = {"in.mean": self.in_mean.cpu().numpy(), "in.std": self.in_std.cpu().numpy()}
        tensors.update(t)
        meta = {
            "id": model_id,
            "description": description,
            "architecture": "band-gru",
            "sample_rate": c["sample_rate"],
            "hop": self.hop,
            "window": self.N,
            "band_edges": list(self.edges),
            "fine_bins": self.F,
            "feature_eps": self.eps,
            **({"gain_floor": float(c["gain_floor"])} if c.get("gain_floor", 0.0) > 0 else {}),
            "input_norm": {"mean": "in.mean", "std": "in.std"},
            "layers": layers,
            "outputs": {"gains": 0, "vad": self.NB, "fine_gains": self.NB + 1 if self.F else -1},
        }
        return meta, tensors


def count_params(m):
    return sum(p.numel() for n, p in m.named_parameters())


def macs_per_frame(m):
    c = m.cfg
    nf = m.NB + m.F
    macs = nf * c["dense"]
    width = c["dense"]
    for h in c["gru"]:
        macs += 3 * h * (width + h)
        width = h
    macs += (width + c["dense"]) * m.nout
    return macs
