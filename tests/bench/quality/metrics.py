"""Objective speech-quality metrics for the side-by-side evaluation: SI-SDR, STOI, ESTOI
and delay alignment. Written from the papers, numpy/scipy only:
  SI-SDR: Le Roux, Wisdom, Erdogan, Hershey, "SDR - half-baked or well done?", ICASSP 2019.
  STOI:   Taal, Hendriks, Heusdens, Jensen, IEEE TASLP 19(7), 2011.
  ESTOI:  Jensen, Taal, IEEE/ACM TASLP 24(11), 2016.
"""

from math import gcd

import numpy as np
from scipy.signal import resample_poly

# STOI / ESTOI constants, as the papers define them
FS = 10000          # internal sample rate
FRAME = 256         # 25.6 ms Hann-windowed frames, 50 % overlap
NFFT = 512          # frames zero-padded to 512 points
BANDS = 15          # one-third octave bands, the first centred on 150 Hz
MIN_FREQ = 150.0
SEGMENT = 30        # frames per short-time segment (384 ms)
BETA_DB = -15.0     # STOI's clipping: lower signal-to-distortion bound
DYN_RANGE_DB = 40.0  # frames more than 40 dB below the loudest clean frame are dropped
EPS = 1e-12


def si_sdr(ref, est):
    """Scale-invariant SDR in dB of est against ref (both 1-D, same length); mean removed."""
    ref = np.asarray(ref, dtype=np.float64) - np.mean(ref)
    est = np.asarray(est, dtype=np.float64) - np.mean(est)
    alpha = np.dot(est, ref) / max(np.dot(ref, ref), EPS)
    target = alpha * ref
    err = est - target
    return 10.0 * np.log10(max(np.dot(target, target), EPS) / max(np.dot(err, err), EPS))


def estimate_lag(ref, est, max_lag):
    """Integer lag L (|L| <= max_lag) that maximises the cross-correlation, so that est[n + L]
    lines up with ref[n]: a positive L means est is late."""
    n = len(ref) + len(est)
    size = 1 << int(np.ceil(np.log2(n)))
    c = np.fft.irfft(np.fft.rfft(est, size) * np.conj(np.fft.rfft(ref, size)), size)
    lags = np.concatenate([np.arange(0, max_lag + 1), np.arange(-max_lag, 0)])
    vals = np.concatenate([c[:max_lag + 1], c[size - max_lag:]])
    return int(lags[np.argmax(vals)])


def shift(x, lag):
    """x advanced by lag samples (delayed when lag < 0), zero-filled, same length."""
    y = np.zeros_like(x)
    if lag >= 0:
        y[:len(x) - lag] = x[lag:]
    else:
        y[-lag:] = x[:len(x) + lag]
    return y


def _resample(x, fs):
    if fs == FS:
        return np.asarray(x, dtype=np.float64)
    g = gcd(int(fs), FS)
    return resample_poly(np.asarray(x, dtype=np.float64), FS // g, int(fs) // g)


def _window():
    # MATLAB's hanning(256): a Hann window without its zero end points
    return np.hanning(FRAME + 2)[1:-1]


def _frames(x):
    hop = FRAME // 2
    n = (len(x) - FRAME) // hop + 1
    if n <= 0:
        return np.zeros((0, FRAME))
    idx = np.arange(FRAME)[None, :] + hop * np.arange(n)[:, None]
    return x[idx] * _window()[None, :]


def _drop_silent(x, y):
    """Drops frames where the clean signal is more than DYN_RANGE_DB below its loudest frame, in
    both signals, and rebuilds them by overlap-add (as the reference STOI does)."""
    fx, fy = _frames(x), _frames(y)
    energy = 20 * np.log10(np.linalg.norm(fx, axis=1) + EPS)
    keep = energy > energy.max() - DYN_RANGE_DB
    fx, fy = fx[keep], fy[keep]
    hop = FRAME // 2
    n = len(fx)
    xs = np.zeros((n - 1) * hop + FRAME) if n else np.zeros(0)
    ys = np.zeros_like(xs)
    for i in range(n):
        xs[i * hop:i * hop + FRAME] += fx[i]
        ys[i * hop:i * hop + FRAME] += fy[i]
    return xs, ys


def _third_octave_matrix():
    f = np.linspace(0, FS, NFFT + 1)[:NFFT // 2 + 1]
    k = np.arange(BANDS)
    lo = MIN_FREQ * 2.0 ** ((2 * k - 1) / 6)
    hi = MIN_FREQ * 2.0 ** ((2 * k + 1) / 6)
    m = np.zeros((BANDS, len(f)))
    for i in range(BANDS):
        a = int(np.argmin(np.abs(f - lo[i])))
        b = int(np.argmin(np.abs(f - hi[i])))
        m[i, a:b] = 1.0
    return m


_OBM = _third_octave_matrix()


def _envelopes(x):
    """One-third octave band magnitudes, shape (BANDS, frames)."""
    spec = np.fft.rfft(_frames(x), NFFT, axis=1)
    return np.sqrt(_OBM @ (np.abs(spec) ** 2).T)


def _segments(env):
    """(segments, BANDS, SEGMENT) sliding windows of SEGMENT frames, hop one frame."""
    n = env.shape[1] - SEGMENT + 1
    if n <= 0:
        return np.zeros((0, BANDS, SEGMENT))
    idx = np.arange(SEGMENT)[None, :] + np.arange(n)[:, None]
    return np.transpose(env[:, idx], (1, 0, 2))


def _prepare(clean, processed, fs):
    clean, processed = np.asarray(clean, dtype=np.float64), np.asarray(processed, dtype=np.float64)
    if clean.shape != processed.shape:
        raise ValueError("clean and processed must have the same length")
    x, y = _drop_silent(_resample(clean, fs), _resample(processed, fs))
    xs, ys = _segments(_envelopes(x)), _segments(_envelopes(y))
    if len(xs) == 0:
        raise ValueError("signal too short for STOI: need at least 384 ms of active speech")
    return xs, ys


def stoi(clean, processed, fs):
    """Short-time objective intelligibility (0..1) of processed against clean."""
    xs, ys = _prepare(clean, processed, fs)
    # scale each band of y to the energy of x, then clip at BETA_DB signal-to-distortion
    scale = np.linalg.norm(xs, axis=2, keepdims=True) / (np.linalg.norm(ys, axis=2, keepdims=True) + EPS)
    yp = np.minimum(ys * scale, xs * (1 + 10 ** (-BETA_DB / 20)))
    xc = xs - xs.mean(axis=2, keepdims=True)
    yc = yp - yp.mean(axis=2, keepdims=True)
    corr = np.sum(xc * yc, axis=2) / (np.linalg.norm(xc, axis=2) * np.linalg.norm(yc, axis=2) + EPS)
    return float(np.mean(corr))


def _row_col_normalise(s):
    s = s - s.mean(axis=2, keepdims=True)
    s = s / (np.linalg.norm(s, axis=2, keepdims=True) + EPS)
    s = s - s.mean(axis=1, keepdims=True)
    return s / (np.linalg.norm(s, axis=1, keepdims=True) + EPS)


def estoi(clean, processed, fs):
    """Extended STOI (0..1): spectral correlation of mean- and variance-normalised segments."""
    xs, ys = _prepare(clean, processed, fs)
    xn, yn = _row_col_normalise(xs), _row_col_normalise(ys)
    return float(np.mean(np.sum(xn * yn, axis=1)))
