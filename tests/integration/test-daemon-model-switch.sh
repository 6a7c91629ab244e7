#!/bin/bash
# Switching the model at run time (Reload with another [engine] model) while
# an app records: the stream never stops and there is no gap. In bypass, the
# recording stays a sample-exact copy of the input across the switch (both
# engines agree exactly, so the handover must be seamless); while enhancing,
# the output never drops out.
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

dm_set Bypass b false
for attempt in 1 2 3; do
    round "enh-$attempt"
    input_clean "$D/pair-enh-$attempt.wav:0" && break
    [ "$attempt" -lt 3 ] || it_fail "the fake mic's input had dropouts in three rounds; the machine is too busy"
done
# The tone + noise never stops, so neither may the output: no 5 ms stretch of
# (near) silence between the first and the last loud output sample.
"$IT_PYTHON" - "$D/pair-enh-$attempt.wav" <<'PY' || it_fail "the enhanced output dropped out during a model switch"
import sys
import numpy as np
import soundfile as sf
x, r = sf.read(sys.argv[1])
y = x[:, 1]
on = np.nonzero(np.abs(y) > 1e-3)[0]
y = y[on[0]:on[-1]]
w = int(0.005 * r)
rms = np.sqrt(np.convolve(y ** 2, np.ones(w) / w, mode="valid"))
print(f"quietest 5 ms of the enhanced output: {20 * np.log10(rms.min() + 1e-12):.1f} dBFS", file=sys.stderr)
sys.exit(int(rms.min() < 1e-3))
PY
it_log "enhancing: no dropout across two model switches"
exit 0
