#!/bin/bash
# The Clean Mic follows the default microphone and its changes; InputTarget
# pins a device; when the microphone disappears the Clean Mic stays, gives
# silence (State no-input) and recovers by itself when a microphone returns.
set -u
. "$(dirname "${BASH_SOURCE[0]}")/daemon-common.sh"

pw_env_start --mic mic_a --mic mic_b
dm_start
D=$PW_ENV_DIR
make_test_wav "$D/tone.wav" 1

_input_is() { [ "$(dm_prop InputNode)" = "$1" ]; }
wait_input() {
    wait_until "$IT_TIMEOUT" "InputNode '$1' (now '$(dm_prop InputNode)')" _input_is "$1" ||
        it_fail "aicd's input did not become '$1'"
}

# flows MIC: a tone played into MIC comes out of the Clean Mic.
flows() {
    local out=$D/rec-$1-$RANDOM.wav
    record_start aicd_clean_mic "$out" || it_fail "cannot record the Clean Mic"
    play_into_mic "$D/tone.wav" "$1"
    play_wait
    sleep 0.3
    record_stop
    audio_py delay "$D/tone.wav" "$out" --min-corr 0.5 >/dev/null || it_fail "audio played into $1 did not reach the Clean Mic"
}

wait_input mic_a
flows mic_a

it_log "default source changed to mic_b"
set_default_source mic_b
wait_input mic_b
flows mic_b

it_log "InputTarget pins mic_a while the default stays mic_b"
dm_set InputTarget s mic_a
wait_input mic_a
flows mic_a
assert_eq "$(dm_prop InputTarget)" mic_a "InputTarget"
dm_set InputTarget s ""
wait_input mic_b

it_log "microphones unplugged while recording: the Clean Mic stays and gives silence"
record_start aicd_clean_mic "$D/silence.wav" || it_fail "cannot record the Clean Mic"
fake_mic_remove mic_b
wait_input mic_a
fake_mic_remove mic_a
wait_input ""
dm_wait_state no-input || it_fail "State did not become no-input"
assert_node aicd_clean_mic
sleep 1
record_stop
level=$(audio_py silence "$D/silence.wav" --skip 1.0)
it_log "Clean Mic level with no microphone: $level dBFS"
assert_num "$level" "<" -90 "Clean Mic level with no microphone (dBFS)"

it_log "the microphones are plugged in again: the configured one (mic_b) is followed"
fake_mic_add mic_a
fake_mic_add mic_b
wait_input mic_b
flows mic_b
dm_wait_state enhancing
exit 0
