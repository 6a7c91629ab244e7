#!/bin/bash
# The main job, end to end, on the bundled model: a private headless PipeWire
# graph, aicd running in it, a noisy speech sample played into a fake
# microphone, the Clean Mic recorded through the PulseAudio API (as a call app
# does), and the before/after WAVs, their spectrograms (out/spectrogram.png)
# and the measured improvement written to out/.
#   demo.sh AICD AICCTL
set -u
ROOT=$(cd "$(dirname "$0")/.." && pwd)
. "$ROOT/tests/integration/daemon-common.sh"
OUT=${AICD_DEMO_OUT:-$ROOT/out}
mkdir -p "$OUT"

echo "Starting a private PipeWire graph with a fake microphone..."
pw_env_start --mic fake_mic >/dev/null
dm_start
echo "aicd is running: $(dm_prop State), model $(dm_prop Model), latency $(($(dm_prop LatencyUsec) / 1000)) ms"

"$IT_PYTHON" "$ROOT/scripts/make-sample.py" "$OUT/noisy.wav" "$OUT/clean-reference.wav" --snr 5
echo "Playing $OUT/noisy.wav into the fake microphone and recording \"Clean Mic (aicd)\"..."
# The microphone's own signal is recorded too (in the same graph cycle), so
# "before" is exactly what aicd heard. A take whose input lost samples on its
# way into the fake microphone (a busy machine) is played again.
for take in 1 2 3; do
    record_start aicd_clean_mic "$OUT/clean-mic.wav" >/dev/null || it_fail "cannot record the Clean Mic"
    rec=$REC_PID
    record_pair_start fake_mic aicd_clean_mic "$PW_ENV_DIR/pair.wav" >/dev/null 2>&1 || it_fail "cannot record the microphone"
    pair=$REC_PID
    play_into_mic "$OUT/noisy.wav" fake_mic
    play_wait
    sleep 0.5
    record_stop "$pair"
    record_stop "$rec"
    "$IT_PYTHON" -c 'import soundfile as sf, sys
x, r = sf.read(sys.argv[1]); sf.write(sys.argv[2], x[:, 0], r, subtype="FLOAT")' "$PW_ENV_DIR/pair.wav" "$OUT/heard.wav"
    [ "$(audio_py glitches "$OUT/noisy.wav" "$OUT/heard.wav" 2>/dev/null)" = 0 ] && break
    echo "The machine was too busy and the fake microphone dropped samples; playing it again..."
done

noisy=$(audio_py sisdr "$OUT/clean-reference.wav" "$OUT/heard.wav" 2>/dev/null)
clean=$(audio_py sisdr "$OUT/clean-reference.wav" "$OUT/clean-mic.wav" 2>/dev/null)
echo
echo "Before: $OUT/noisy.wav        SI-SDR $noisy dB"
echo "After:  $OUT/clean-mic.wav    SI-SDR $clean dB"
awk -v a="$noisy" -v b="$clean" 'BEGIN { printf "Improvement: %+.1f dB\n", b - a }'

# The recording starts before the sample and carries aicd's delay: line it
# up with the input so both panels share one time axis.
offset=$(audio_py delay "$OUT/noisy.wav" "$OUT/clean-mic.wav" --min-corr 0.1 2>/dev/null) || offset=0
"$IT_PYTHON" - "$OUT/noisy.wav" "$OUT/clean-mic.wav" "$offset" "${noisy:-nan}" "${clean:-nan}" "$OUT/spectrogram.png" <<'EOF' &&
import sys
import numpy as np
import soundfile as sf
from scipy.signal import spectrogram
try:
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
except ImportError:
    sys.exit("python3-matplotlib is not installed (scripts/bootstrap.sh installs it)")

before_path, after_path, offset, sdr_before, sdr_after, out = sys.argv[1:]
before, rate = sf.read(before_path, dtype="float64")
after, _ = sf.read(after_path, dtype="float64")
if before.ndim > 1:
    before = before[:, 0]
if after.ndim > 1:
    after = after[:, 0]
start = max(0, int(round(float(offset))))
after = after[start:start + len(before)]
after = np.pad(after, (0, len(before) - len(after)))

fig, axes = plt.subplots(2, 1, figsize=(10, 6.5), sharex=True, constrained_layout=True)
ref = None
for ax, x, title in ((axes[0], before, f"Before: noisy microphone (SI-SDR {float(sdr_before):.1f} dB)"),
                     (axes[1], after, f"After: Clean Mic (aicd) (SI-SDR {float(sdr_after):.1f} dB)")):
    f, t, p = spectrogram(x, rate, window="hann", nperseg=1024, noverlap=768, mode="psd")
    db = 10 * np.log10(p + 1e-12)
    if ref is None:
        ref = db.max()  # one colour scale for both panels
    mesh = ax.pcolormesh(t, f / 1000, db, vmin=ref - 80, vmax=ref, cmap="magma", shading="auto")
    ax.set_ylim(0, 12)
    ax.set_ylabel("kHz")
    ax.set_title(title, loc="left")
axes[1].set_xlabel("seconds")
fig.colorbar(mesh, ax=axes, label="dB", shrink=0.8)
fig.savefig(out, dpi=100)
EOF
    echo "Spectrograms: $OUT/spectrogram.png"
echo "Metrics: $(busctl --user call org.aicd.Aicd1 /org/aicd/Aicd1 org.aicd.Aicd1 GetMetrics | cut -c1-160)..."
