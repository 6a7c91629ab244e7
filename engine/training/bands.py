"""Band layouts: ERB-spaced triangle centres as FFT bin indices.

The format's bands are triangles whose peaks sit on `band_edges`, so the edges are band
centres: the first is bin 0 (DC) and the last the Nyquist bin, equally spaced on the ERB-rate
scale (Glasberg & Moore 1990) but never closer than `min_width` bins.
"""

import numpy as np


def erb_rate(f):
    return 21.4 * np.log10(1.0 + 0.00437 * f)


def erb_rate_inv(e):
    return (10.0 ** (e / 21.4) - 1.0) / 0.00437


def erb_band_edges(nb, sample_rate, window, min_width=1):
    K = window // 2 + 1
    bin_hz = sample_rate / window
    top = K - 1
    if (nb - 1) * min_width > top:
        raise ValueError("too many bands for this window")
    target = erb_rate_inv(np.linspace(0.0, erb_rate(sample_rate / 2), nb)) / bin_hz
    edges = []
    for i, t in enumerate(target):
        e = int(round(t))
        if edges:
            e = max(e, edges[-1] + min_width)
        # leave room for the bands still to come
        e = min(e, top - (nb - 1 - i) * min_width)
        edges.append(e)
    edges[-1] = top
    return edges


def band_matrix(edges, K):
    """M[K, NB]: E = P @ M are the triangular band energies; g = G @ M.T the per-bin gains."""
    NB = len(edges)
    M = np.zeros((K, NB))
    M[:edges[0], 0] = 1.0
    for b in range(NB - 1):
        lo, hi = edges[b], edges[b + 1]
        f = (np.arange(lo, hi) - lo) / (hi - lo)
        M[lo:hi, b] = 1.0 - f
        M[lo:hi, b + 1] = f
    M[edges[-1]:, NB - 1] = 1.0
    return M
