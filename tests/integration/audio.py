#!/usr/bin/python3
# Signal checks for the integration tests: delay between two recordings, a
# sample-exact comparison, a dropout finder, SI-SDR and the level of a
# silent recording.
# Run with Debian's /usr/bin/python3 (numpy, soundfile; scipy is left out
# because importing it costs half a second per call).
"""usage:
  audio.py delay IN.wav OUT.wav [--max-delay S] [--min-corr C]
      prints the delay of OUT behind IN in samples (fractional); exit 1 when
      no peak reaches --min-corr (normalised correlation, default 0)
  audio.py exact IN.wav OUT.wav DELAY [--min-frac F]
      exit 0 iff OUT[n] == IN[n - DELAY] bit for bit wherever OUT is inside its
      active region (first to last non-zero sample), and that region covers at
      least F (default 0.5) of IN
  audio.py glitches IN.wav OUT.wav [--min-coverage C]
      splits OUT into stretches that are bit-exact copies of IN (at any
      delay) and lists the discontinuities between them (input skipped or
      repeated, zeros inserted); prints their number. Exit 0 iff the exact
      stretches cover at least C (default 0.9) of OUT's active region, i.e.
      OUT is the input apart from dropouts
  audio.py sisdr CLEAN.wav EST.wav [--max-delay S]
      SI-SDR of EST against CLEAN in dB, after aligning EST to CLEAN
  audio.py silence OUT.wav [--skip S]
      RMS level of OUT in dBFS (-inf for digital silence); --skip ignores the
      first S seconds

A file argument may name a channel as FILE:N (0-based); otherwise the first
channel is used. Diagnostics go to stderr; stdout holds only the one number.
"""

import argparse
import os
import sys

import numpy as np
import soundfile as sf


def load(path):
    """Channel 0 of path, or channel N of "path:N" (for a two-channel
    recording of the input and the output made in one graph cycle)."""
    ch = 0
    head, sep, tail = path.rpartition(":")
    if sep and tail.isdigit() and not os.path.exists(path):
        path, ch = head, int(tail)
    try:
        x, rate = sf.read(path, dtype="float32", always_2d=True)
    except Exception as e:  # soundfile raises several unrelated types
        sys.exit(f"audio.py: cannot read {path}: {e}")
    if ch >= x.shape[1]:
        sys.exit(f"audio.py: {path} has no channel {ch}")
    return np.ascontiguousarray(x[:, ch]), rate


def load_pair(a, b):
    x, ra = load(a)
    y, rb = load(b)
    if ra != rb:
        sys.exit(f"audio.py: sample rates differ: {a} {ra} Hz, {b} {rb} Hz")
    if x.size == 0 or y.size == 0:
        sys.exit("audio.py: empty file")
    return x, y, ra


def find_delay(x, y, rate, max_delay_s=None):
    """Delay of y behind x: (fractional lag, integer lag, normalised corr).

    Full cross-correlation via FFT; the peak of |r|, so a polarity flip or
    any gain still finds the lag. The integer peak is refined by
    interpolating the band-limited correlation between its neighbours,
    which, unlike a parabola through three points, stays unbiased for
    broadband signals (about 0.01 sample on noise). The correlation is
    normalised by the energies of x and of the part of y it overlaps, so
    1.0 means y holds a scaled copy of x.
    """
    x64 = x.astype(np.float64)
    y64 = y.astype(np.float64)
    r, lags = xcorr(y64, x64)
    if max_delay_s is not None:
        keep = np.abs(lags) <= int(max_delay_s * rate)
        r, lags = r[keep], lags[keep]
    k = int(np.argmax(np.abs(r)))
    lag = int(lags[k])
    frac = refine(r, k) - k
    xs, ys = overlap(x64, y64, lag)
    nx, ny = np.sqrt(np.dot(xs, xs)), np.sqrt(np.dot(ys, ys))
    corr = float(np.dot(xs, ys) / (nx * ny)) if nx > 0 and ny > 0 else 0.0
    return lag + frac, lag, corr


def xcorr(y, x):
    """r[k] = sum_n y[n + k] x[n] for every lag k with any overlap, and
    the lags."""
    n = y.size + x.size - 1
    nfft = 1 << (n - 1).bit_length()
    r = np.fft.irfft(np.fft.rfft(y, nfft) * np.conj(np.fft.rfft(x, nfft)), nfft)
    r = np.concatenate((r[nfft - (x.size - 1):], r[:y.size]))
    return r, np.arange(-(x.size - 1), y.size)


def refine(r, k, half=32):
    """The fractional lag in (k - 1, k + 1) where |r| peaks, r being the
    correlation at integer lags and k the index of its integer peak. r is
    band-limited, so between its samples it is a windowed-sinc interpolation
    of them; a golden-section search finds the maximum of that."""
    m = np.arange(max(k - half, 0), min(k + half + 1, r.size))
    rm = r[m]

    def mag(t):
        d = t - m
        return abs(np.dot(rm, np.sinc(d) * (0.5 + 0.5 * np.cos(np.pi * d / (half + 1)))))

    g = (np.sqrt(5) - 1) / 2
    a, b = k - 1.0, k + 1.0
    c, d = b - g * (b - a), a + g * (b - a)
    fc, fd = mag(c), mag(d)
    for _ in range(40):
        if fc > fd:
            b, d, fd = d, c, fc
            c = b - g * (b - a)
            fc = mag(c)
        else:
            a, c, fc = c, d, fd
            d = a + g * (b - a)
            fd = mag(d)
    t = (a + b) / 2
    return t if mag(t) >= mag(k) else float(k)


def overlap(x, y, lag):
    """x[n] and y[n + lag] over the n where both exist."""
    start = max(0, -lag)
    end = min(x.size, y.size - lag)
    if end <= start:
        return x[:0], y[:0]
    return x[start:end], y[start + lag:end + lag]


def cmd_delay(a):
    x, y, rate = load_pair(a.input, a.output)
    d, lag, corr = find_delay(x, y, rate, a.max_delay)
    d = round(d, 3) + 0.0  # no "-0.000"
    print(f"delay {d:.3f} samples ({d / rate * 1e3:.3f} ms), "
          f"integer {lag}, correlation {corr:.4f}", file=sys.stderr)
    print(f"{d:.3f}")
    if abs(corr) < a.min_corr:
        print(f"audio.py: correlation {corr:.4f} is below {a.min_corr}",
              file=sys.stderr)
        return 1
    return 0


def cmd_exact(a):
    """Rule: the recording may start before the input arrives and stop after
    it ended (or the player may drop its last partial quantum), so only the
    active region of OUT, from its first to its last non-zero sample, is
    compared. Inside it every sample must equal IN delayed by DELAY, bit for
    bit; a gap (dropout, xrun) inside the region is a zero where IN is not
    and fails. Samples of the region that map outside IN must be zero."""
    x, y, _ = load_pair(a.input, a.output)
    d = int(round(a.delay))
    nz = np.flatnonzero(y)
    if nz.size == 0:
        print("exact: OUT is all zeros", file=sys.stderr)
        return 1
    lo, hi = int(nz[0]), int(nz[-1]) + 1
    n = np.arange(lo, hi)
    src = n - d
    inside = (src >= 0) & (src < x.size)
    want = np.zeros(hi - lo, dtype=np.float32)
    want[inside] = x[src[inside]]
    got = y[lo:hi]
    bad = np.flatnonzero(got.view(np.uint32) != want.view(np.uint32))
    covered = int(np.count_nonzero(inside))
    frac = covered / x.size
    print(f"exact: active region {lo}..{hi} of OUT, maps to IN "
          f"{max(lo - d, 0)}..{min(hi - d, x.size)}, covers {frac:.3f} of IN, "
          f"{bad.size} mismatching samples", file=sys.stderr)
    if bad.size:
        i = int(bad[0])
        print(f"exact: first mismatch at OUT[{lo + i}] = {got[i]!r}, "
              f"expected {want[i]!r}", file=sys.stderr)
        return 1
    if frac < a.min_frac:
        print(f"exact: only {frac:.3f} of IN was compared "
              f"(need {a.min_frac})", file=sys.stderr)
        return 1
    return 0


def exact_stretches(x, y, lo, hi, min_len=64):
    """[(out_start, in_start, length)] of y[lo:hi] that equal x bit for bit.

    Every position of y is looked up by the bit patterns of its first two
    samples in a sorted index of x; a hit is extended sample by sample and
    kept when it runs at least min_len samples. Positions inside a kept
    stretch are not looked up again, so an exact copy costs one pass."""
    xu = x.view(np.uint32).astype(np.uint64)
    yu = y.view(np.uint32).astype(np.uint64)
    if xu.size < 2 or hi - lo < 2:
        return []
    kx = (xu[:-1] << np.uint64(32)) | xu[1:]
    order = np.argsort(kx, kind="stable")
    ks = kx[order]
    ky = (yu[lo:hi - 1] << np.uint64(32)) | yu[lo + 1:hi]
    first = np.searchsorted(ks, ky)
    hit = (first < ks.size) & (ks[np.minimum(first, ks.size - 1)] == ky)
    hit &= ky != 0  # digital silence matches anything silent
    out = []
    p = lo
    for i in np.flatnonzero(hit):
        q = lo + int(i)
        if q < p:
            continue
        best_len, best_c = 0, -1
        j = int(first[i])
        while j < ks.size and ks[j] == ky[i] and j < first[i] + 8:
            c = int(order[j])
            n = run_length(xu, c, yu, q, hi)
            if n > best_len:
                best_len, best_c = n, c
            j += 1
        if best_len >= min_len:
            out.append((q, best_c, best_len))
            p = q + best_len
    return out


def run_length(xu, c, yu, q, hi):
    """How many samples y[q:] and x[c:] agree for, stopping at hi."""
    n, step = 0, 4096
    limit = min(hi - q, xu.size - c)
    while n < limit:
        m = min(step, limit - n)
        ne = np.flatnonzero(xu[c + n:c + n + m] != yu[q + n:q + n + m])
        if ne.size:
            return n + int(ne[0])
        n += m
    return n


def cmd_glitches(a):
    x, y, rate = load_pair(a.input, a.output)
    nz = np.flatnonzero(y)
    if nz.size == 0:
        print("glitches: OUT is all zeros", file=sys.stderr)
        print(0)
        return 1
    lo, hi = int(nz[0]), int(nz[-1]) + 1
    st = exact_stretches(x, y, lo, hi)
    covered = sum(n for _, _, n in st)
    events = []
    for (o1, i1, n1), (o2, i2, _) in zip(st, st[1:]):
        between = y[o1 + n1:o2]
        jump = i2 - (i1 + n1)
        what = []
        if between.size:
            z = int(np.count_nonzero(between == 0))
            what.append(f"{between.size} samples not from IN ({z} zeros)")
        if jump > 0:
            what.append(f"{jump} input samples skipped")
        elif jump < 0:
            what.append(f"{-jump} input samples repeated")
        events.append(f"at OUT[{o1 + n1}] ({(o1 + n1) / rate:.3f} s): " + ", ".join(what))
    frac = covered / (hi - lo)
    print(f"glitches: {len(st)} exact stretches cover {frac:.4f} of OUT's active "
          f"region {lo}..{hi}; {len(events)} discontinuities", file=sys.stderr)
    if st:
        print(f"glitches: first stretch starts at OUT[{st[0][0]}] = IN[{st[0][1]}] "
              f"(delay {st[0][0] - st[0][1]})", file=sys.stderr)
    for e in events[:20]:
        print(f"  {e}", file=sys.stderr)
    if len(events) > 20:
        print(f"  ... {len(events) - 20} more", file=sys.stderr)
    print(len(events))
    return 0 if frac >= a.min_coverage else 1


def fractional_shift(x, frac):
    """x advanced by frac samples (|frac| < 1), band-limited, via the FFT."""
    n = 1 << (x.size + 64).bit_length()
    f = np.fft.rfftfreq(n)
    return np.fft.irfft(np.fft.rfft(x, n) * np.exp(2j * np.pi * f * frac), n)[:x.size]


def cmd_sisdr(a):
    """EST is aligned to CLEAN by the measured delay: the integer part by
    slicing, a fractional part over 0.01 sample by a band-limited shift.
    Means are removed, as in the usual definition."""
    s, e, rate = load_pair(a.clean, a.estimate)
    d, lag, _ = find_delay(s, e, rate, a.max_delay)
    e = e.astype(np.float64)
    if abs(d - lag) > 0.01:
        e = fractional_shift(e, d - lag)
    s, e = overlap(s.astype(np.float64), e, lag)
    if s.size == 0:
        sys.exit("audio.py: no overlap after alignment")
    s = s - s.mean()
    e = e - e.mean()
    ss = np.dot(s, s)
    if ss == 0:
        sys.exit("audio.py: the clean signal is silent")
    t = (np.dot(e, s) / ss) * s
    noise = np.dot(e - t, e - t)
    val = np.inf if noise == 0 else 10 * np.log10(np.dot(t, t) / noise)
    print(f"sisdr {val:.2f} dB after aligning by {d:.3f} samples over "
          f"{s.size} samples", file=sys.stderr)
    print(f"{val:.2f}")
    return 0


def cmd_silence(a):
    y, rate = load(a.output)
    y = y[int(a.skip * rate):].astype(np.float64)
    if y.size == 0:
        sys.exit("audio.py: nothing left after --skip")
    rms = np.sqrt(np.mean(y * y))
    val = -np.inf if rms == 0 else 20 * np.log10(rms)
    print(f"{val:.2f}")
    return 0


def main():
    p = argparse.ArgumentParser(prog="audio.py", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = p.add_subparsers(dest="cmd", required=True)
    q = sub.add_parser("delay")
    q.add_argument("input")
    q.add_argument("output")
    q.add_argument("--max-delay", type=float, default=None)
    q.add_argument("--min-corr", type=float, default=0.0)
    q = sub.add_parser("exact")
    q.add_argument("input")
    q.add_argument("output")
    q.add_argument("delay", type=float,
                   help="samples; a fractional value is rounded")
    q.add_argument("--min-frac", type=float, default=0.5)
    q = sub.add_parser("glitches")
    q.add_argument("input")
    q.add_argument("output")
    q.add_argument("--min-coverage", type=float, default=0.9)
    q = sub.add_parser("sisdr")
    q.add_argument("clean")
    q.add_argument("estimate")
    q.add_argument("--max-delay", type=float, default=None)
    q = sub.add_parser("silence")
    q.add_argument("output")
    q.add_argument("--skip", type=float, default=0.0)
    a = p.parse_args()
    return {"delay": cmd_delay, "exact": cmd_exact, "glitches": cmd_glitches,
            "sisdr": cmd_sisdr, "silence": cmd_silence}[a.cmd](a)


if __name__ == "__main__":
    sys.exit(main())
