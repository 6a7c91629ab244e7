#!/bin/bash
# PipeWire, WirePlumber and pipewire-pulse killed (SIGKILL, as a crash) and
# restarted, three times: aicd stays up, the Clean Mic is back under the same
# name within 1 s of PipeWire being back, and audio flows through it again.
set -u
. "$(dirname "${BASH_SOURCE[0]}")/daemon-common.sh"

pw_env_start --mic fake_mic
dm_start
D=$PW_ENV_DIR
make_test_wav "$D/tone.wav" 1

flows() {
    local out=$1 delay
    record_start aicd_clean_mic "$out" || return 1
    play_into_mic "$D/tone.wav" fake_mic
    play_wait
    sleep 0.3
    record_stop
    delay=$(audio_py delay "$D/tone.wav" "$out" --min-corr 0.5) || return 1
    it_log "audio flows (recording delay $delay samples)"
}

flows "$D/before.wav" || it_fail "no audio through the Clean Mic before the restarts"
for i in 1 2 3; do
    pw_restart || it_fail "PipeWire did not come back (round $i)"
    t0=$(date +%s%N)
    wait_node aicd_clean_mic 1 || it_fail "the Clean Mic was not back within 1 s of PipeWire (round $i)"
    t1=$(date +%s%N)
    it_log "round $i: Clean Mic back $(((t1 - t0) / 1000000)) ms after the graph"
    is_running "$AICD_PID" || it_fail "aicd died during PipeWire restart $i"
    dm_wait_state enhancing || it_fail "aicd did not return to enhancing (round $i)"
    wait_link fake_mic aicd_capture || it_fail "aicd's capture was not linked to the mic again (round $i)"
    flows "$D/after-$i.wav" || it_fail "no audio through the Clean Mic after restart $i"
done
assert_eq "$(node_prop aicd_clean_mic node.description)" "Clean Mic (aicd)" "the Clean Mic's description"
exit 0
