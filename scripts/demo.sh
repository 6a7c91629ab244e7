#!/bin/bash
# The main job, end to end, on the bundled model: a private headless PipeWire
# graph, aicd running in it, a noisy speech sample played into a fake
# microphone, the Clean Mic recorded through the PulseAudio API (as a call app
# does), and the before/after WAVs and measured improvement written to out/.
#   demo.sh AICD AICCTL
set -u
ROOT=$(cd "$(dirname "$0")/.." && pwd)
. "$ROOT/tests/integration/daemon-common.sh"
OUT=$ROOT/out
mkdir -p "$OUT"

echo "Starting a private PipeWire graph with a fake microphone..."
pw_env_start --mic fake_mic >/dev/null
dm_start
echo "aicd is running: $(dm_prop State), model $(dm_prop Model), latency $(($(dm_prop LatencyUsec) / 1000)) ms"

"$IT_PYTHON" "$ROOT/scripts/make-sample.py" "$OUT/noisy.wav" "$OUT/clean-reference.wav" --snr 5
echo "Playing $OUT/noisy.wav into the fake microphone and recording \"Clean Mic (aicd)\"..."
record_start aicd_clean_mic "$OUT/clean-mic.wav" >/dev/null || it_fail "cannot record the Clean Mic"
play_into_mic "$OUT/noisy.wav" fake_mic
play_wait
sleep 0.5
record_stop

noisy=$(audio_py sisdr "$OUT/clean-reference.wav" "$OUT/noisy.wav" 2>/dev/null)
clean=$(audio_py sisdr "$OUT/clean-reference.wav" "$OUT/clean-mic.wav" 2>/dev/null)
echo
echo "Before: $OUT/noisy.wav        SI-SDR $noisy dB"
echo "After:  $OUT/clean-mic.wav    SI-SDR $clean dB"
awk -v a="$noisy" -v b="$clean" 'BEGIN { printf "Improvement: %+.1f dB\n", b - a }'
echo "Metrics: $(busctl --user call org.aicd.Aicd1 /org/aicd/Aicd1 org.aicd.Aicd1 GetMetrics | cut -c1-160)..."
