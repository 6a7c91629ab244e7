#!/usr/bin/python3
"""Checks metrics.py against known properties and published reference points:
SI-SDR of constructed mixtures, delay recovery, STOI/ESTOI of identical input (1.0) and of
speech in speech-shaped noise (STOI near .86/.74/.61/.49 at 5/0/-5/-10 dB SNR).

Speech: held-out real recordings from the prepared data (${AICD_DATA_DIR:-~/.cache/aicd/data})
when present, else espeak-ng (its STOI runs a few hundredths higher, hence a wider tolerance),
else the STOI reference points are skipped (exit 77 if nothing else could run). Exit 1 on any
failure.
"""

import os
import shutil
import subprocess
import sys
import tempfile

# one BLAS thread: the scorer runs its own worker processes (and shares the machine)
os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")
os.environ.setdefault("OMP_NUM_THREADS", "1")

import numpy as np  # noqa: E402

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.abspath(os.path.join(HERE, "..", "..", ".."))
sys.path.insert(0, HERE)
import metrics  # noqa: E402
import testset  # noqa: E402

SR = 48000
# STOI of speech in speech-shaped noise (SNR over the whole signal, natural pauses included)
SSN_SNRS = (5, 0, -5, -10)
SSN_STOI = (0.86, 0.74, 0.61, 0.49)

failures = []


def check(name, ok, detail):
    print(f"{'ok  ' if ok else 'FAIL'} {name}: {detail}")
    if not ok:
        failures.append(name)


def real_speech(seconds=20.0):
    """Per held-out speaker, utterances 0.5 s apart at equal level; None without data."""
    dd = os.environ.get("AICD_DATA_DIR", os.path.expanduser("~/.cache/aicd/data"))
    split = os.path.join(ROOT, "engine", "training", "splits", "test.txt")
    if not os.path.exists(split):
        return None
    by_unit = {}
    with open(split) as f:
        for line in f:
            kind, source, unit, path = line.rstrip("\n").split("\t")
            # sentence-like material (prompts, acted lines); single words and syllables
            # give lower STOI at equal SNR
            if kind == "speech" and source in ("asterisk", "hedgewars", "0ad-voice") and \
                    not testset.NOT_SPEECH.search(path):
                by_unit.setdefault(f"{source}/{unit}", []).append(os.path.join(dd, path))
    out = {}
    gap = np.zeros(SR // 2)
    for unit, files in sorted(by_unit.items()):
        parts, total = [], 0
        for path in files:
            if not os.path.exists(path):
                return None
            a = np.load(path).astype(np.float64) / 32768.0
            parts += [a / (np.sqrt(np.mean(a ** 2)) + 1e-12), gap]
            total += len(a) + len(gap)
            if total >= seconds * SR:
                out[unit] = np.concatenate(parts)[:int(seconds * SR)] * 0.05
                break
    return out or None


def espeak_speech():
    if not shutil.which("espeak-ng"):
        return None
    text = ("The weather tomorrow will be cloudy with a chance of rain. "
            "Please hold the line while I transfer your call. "
            "Seven hundred and forty two people attended the concert. "
            "Could you repeat the last number, the connection is terrible.")
    from scipy.signal import resample_poly
    import soundfile as sf
    out = {}
    with tempfile.TemporaryDirectory() as d:
        for voice in ("en-us+m3", "en+f2", "en-gb-scotland+m1"):
            wav = os.path.join(d, "v.wav")
            subprocess.run(["espeak-ng", "-v", voice, "-s", "150", "-g", "8", "-w", wav, text], check=True)
            a, sr = sf.read(wav, dtype="float64")
            out[voice] = resample_poly(a, SR // 1000, sr // 1000) * 0.5
    return out


def speech_shaped_noise(x, rng):
    """Random-phase noise with the long-term spectrum of x (smoothed over ~10 Hz)."""
    mag2 = np.abs(np.fft.rfft(x)) ** 2
    k = max(1, int(10 * len(x) / SR))
    mag = np.sqrt(np.convolve(mag2, np.ones(k) / k, mode="same"))
    n = np.fft.irfft(mag * np.exp(2j * np.pi * rng.random(len(mag))), len(x))
    return n / np.sqrt(np.mean(n ** 2))


def main():
    rng = np.random.default_rng(20240601)

    # SI-SDR
    s = rng.standard_normal(SR) * np.hanning(SR)
    check("si_sdr identical", metrics.si_sdr(s, s) > 100, f"{metrics.si_sdr(s, s):.1f} dB")
    check("si_sdr scale-invariant", metrics.si_sdr(s, -0.3 * s) > 100, f"{metrics.si_sdr(s, -0.3 * s):.1f} dB")
    for snr in (-5.0, 0.0, 10.0, 25.0):
        n = rng.standard_normal(SR)
        n -= np.dot(n, s - s.mean()) / np.dot(s - s.mean(), s - s.mean()) * (s - s.mean())
        n -= n.mean()
        n *= np.linalg.norm(s - s.mean()) / np.linalg.norm(n) * 10 ** (-snr / 20)
        v = metrics.si_sdr(s, 2.0 * (s + n))
        check(f"si_sdr at {snr:+.0f} dB", abs(v - snr) < 0.01, f"{v:.3f} dB")

    # delay alignment
    for lag in (0, 37, -12, 480):
        est = metrics.shift(s, -lag) + 0.3 * rng.standard_normal(SR)  # est late by lag
        got = metrics.estimate_lag(s, est, 960)
        check(f"estimate_lag {lag:+d}", got == lag, f"found {got:+d}")

    speakers, tol, origin = real_speech(), 0.04, "held-out recordings"
    if speakers is None:
        speakers, tol, origin = espeak_speech(), 0.08, "espeak-ng (no prepared data)"
    if speakers is None:
        print("skip STOI/ESTOI reference points: no prepared data and no espeak-ng")
        return 1 if failures else 77
    print(f"speech: {origin}: {', '.join(speakers)}")

    speech = next(iter(speakers.values()))
    v1, v2 = metrics.stoi(speech, speech, SR), metrics.estoi(speech, speech, SR)
    check("stoi identical", abs(v1 - 1) < 1e-6, f"{v1:.6f}")
    check("estoi identical", abs(v2 - 1) < 1e-6, f"{v2:.6f}")
    v = metrics.stoi(speech, 0.01 * speech, SR)
    check("stoi scale-invariant", abs(v - 1) < 1e-6, f"{v:.6f}")
    v = metrics.estoi(speech, 0.01 * speech, SR)
    check("estoi scale-invariant", abs(v - 1) < 1e-6, f"{v:.6f}")
    # ESTOI has no clipping step, so noise alone scores about 0 (STOI's clipping lets the
    # clean envelope leak into the processed one: it bottoms out near 0.3 instead)
    unrelated = speech_shaped_noise(speech, rng) * 0.05
    v = metrics.estoi(speech, unrelated, SR)
    check("estoi of unrelated noise near 0", abs(v) < 0.05, f"{v:.3f}")
    v = metrics.stoi(speech, unrelated, SR)
    check("stoi of unrelated noise below -10 dB SNR's", v < SSN_STOI[-1], f"{v:.3f}")

    # each speaker in noise shaped like that speaker's long-term spectrum; scores averaged
    scores = np.zeros((len(speakers), len(SSN_SNRS), 2))
    for i, x in enumerate(speakers.values()):
        ssn = speech_shaped_noise(x, rng) * np.sqrt(np.mean(x ** 2))
        for j, snr in enumerate(SSN_SNRS):
            y = x + ssn * 10 ** (-snr / 20)
            scores[i, j] = metrics.stoi(x, y, SR), metrics.estoi(x, y, SR)
    mean = scores.mean(axis=0)
    prev_s, prev_e = 1.0, 1.0
    for j, (snr, want) in enumerate(zip(SSN_SNRS, SSN_STOI)):
        vs, ve = mean[j]
        per = " ".join(f"{v:.3f}" for v in scores[:, j, 0])
        check(f"stoi speech-shaped noise {snr:+d} dB", abs(vs - want) < tol,
              f"{vs:.3f} (expected {want:.2f} +- {tol:.2f}; per speaker {per})")
        check(f"estoi speech-shaped noise {snr:+d} dB", 0.0 < ve < vs and ve < prev_e,
              f"{ve:.3f} (below STOI, falling with SNR)")
        check(f"stoi falls with SNR {snr:+d} dB", vs < prev_s, f"{vs:.3f} < {prev_s:.3f}")
        prev_s, prev_e = vs, ve

    print("all metric checks passed" if not failures else f"{len(failures)} metric check(s) failed")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
