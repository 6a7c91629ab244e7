#!/bin/bash
# Switching the model at run time (Reload with another [engine] model) while
# an app records: the stream never stops and there is no gap. In bypass, the
# recording stays a sample-exact copy of the input across the switch (both
# engines agree exactly, so the handover must be seamless); through the
# engines at level 0 it stays the delayed input to float precision.
set -u
. "$(dirname "${BASH_SOURCE[0]}")/daemon-common.sh"

pw_env_start --mic fake_mic
D=$PW_ENV_DIR
A_MODEL=$DM_ROOT/tests/data/tiny.aicm
B_MODEL=$DM_ROOT/tests/data/tiny-fine.aicm
DM_MODEL=$A_MODEL
dm_start
make_test_wav "$D/tone.wav" 4

switch_to() {
    sed -i "s|^model = .*|model = $1|" "$D/aicd.conf"
    busctl --user call org.aicd.Aicd1 /org/aicd/Aicd1 org.aicd.Aicd1 Reload || it_fail "Reload failed"
}

round() { # NAME: records the pair while switching models twice mid-playback
    local out=$D/pair-$1.wav
    record_pair_start fake_mic aicd_clean_mic "$out" || it_fail "no probe"
    local pair=$REC_PID
    play_into_mic "$D/tone.wav" fake_mic
    sleep 1.2
    switch_to "$B_MODEL"
    assert_eq "$(dm_prop Model)" tiny-fine "Model after the first switch"
    sleep 1.2
    switch_to "$A_MODEL"
    assert_eq "$(dm_prop Model)" tiny "Model after the second switch"
    play_wait
    sleep 0.3
    record_stop "$pair"
}

input_clean() { [ "$(audio_py glitches "$D/tone.wav" "$1" 2>/dev/null)" = 0 ]; }

dm_set Bypass b true
for attempt in 1 2 3; do
    round "bypass-$attempt"
    input_clean "$D/pair-bypass-$attempt.wav:0" && break
    [ "$attempt" -lt 3 ] || it_fail "the fake mic's input had dropouts in three rounds; the machine is too busy"
    it_log "the input itself had dropouts; repeating"
done
lat=$(dm_latency_samples)
audio_py exact "$D/pair-bypass-$attempt.wav:0" "$D/pair-bypass-$attempt.wav:1" "$lat" --min-frac 0.75 ||
    it_fail "in bypass, the Clean Mic was not a sample-exact copy of the input across two model switches"
it_log "bypass: sample-exact across two model switches"

# Through the engines (not bypassed) at level 0: the output is the input
# delayed, to float precision, whichever engine runs; across the switches it
# must stay so (no gap, no click).
dm_set Bypass b false
dm_set EnhancementLevel d 0
for attempt in 1 2 3; do
    round "enh-$attempt"
    input_clean "$D/pair-enh-$attempt.wav:0" && break
    [ "$attempt" -lt 3 ] || it_fail "the fake mic's input had dropouts in three rounds; the machine is too busy"
done
lat=$(dm_latency_samples)
"$IT_PYTHON" - "$D/pair-enh-$attempt.wav" "$lat" <<'PY' || it_fail "the processed output was not continuous across the model switches"
import sys
import numpy as np
import soundfile as sf
x, r = sf.read(sys.argv[1], dtype="float64")
d = int(sys.argv[2])
inp, out = x[:, 0], x[:, 1]
on = np.nonzero(np.abs(out) > 0)[0]
a, b = on[0] + r // 10, on[-1] - r // 10
err = np.abs(out[a:b] - inp[a - d:b - d])
print(f"largest deviation from the delayed input over {(b - a) / r:.2f} s: {err.max():.2e}", file=sys.stderr)
sys.exit(int(err.max() > 1e-3 or (b - a) < 2 * r))
PY
it_log "through the engines: continuous across two model switches"
exit 0
