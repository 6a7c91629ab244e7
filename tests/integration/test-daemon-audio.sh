#!/bin/bash
# The Clean Mic as a call app hears it: noisy speech played into a fake mic
# and recorded from aicd_clean_mic with parecord (a PulseAudio client).
# - The SI-SDR improvement is within 1 dB of `aicctl enhance` on the same file.
# - aicd's measured delay (input and output recorded in the same graph cycle)
#   equals LatencyUsec within one quantum.
# - With Bypass on, the recording is the input delayed, sample-exact, and the
#   delay is exactly LatencyUsec.
set -u
. "$(dirname "${BASH_SOURCE[0]}")/daemon-common.sh"

QUANTUM=${AICD_TEST_QUANTUM:-256}
PW_ENV_QUANTUM=$QUANTUM
pw_env_start --mic fake_mic
dm_start
D=$PW_ENV_DIR

dm_sample "$D/noisy.wav" "$D/clean.wav" 5

# A round whose input itself lost samples on the way into the fake mic (the
# player is an ordinary process on a loaded machine), or whose PulseAudio
# recorder lost samples on the way out of the graph (what the Clean Mic gave
# is recorded in the same graph cycle too, and the two must agree), says
# nothing about aicd: such a round is repeated, at most three times.
input_clean() {
    local n
    n=$(audio_py glitches "$1" "$2" 2>/dev/null) || return 1
    [ "$n" = 0 ]
}

# --- enhancing -------------------------------------------------------------
for attempt in 1 2 3; do
    record_start aicd_clean_mic "$D/rec.wav"
    REC=$REC_PID
    record_pair_start fake_mic aicd_clean_mic "$D/pair.wav" || it_fail "no probe"
    PAIR=$REC_PID
    play_into_mic "$D/noisy.wav" fake_mic
    play_wait
    sleep 0.5
    record_stop "$PAIR"
    record_stop "$REC"
    "$IT_PYTHON" -c 'import soundfile as sf, sys
x, r = sf.read(sys.argv[1])
sf.write(sys.argv[2], x[:, 0], r, subtype="FLOAT"); sf.write(sys.argv[3], x[:, 1], r, subtype="FLOAT")' \
        "$D/pair.wav" "$D/heard.wav" "$D/given.wav"
    if ! input_clean "$D/noisy.wav" "$D/heard.wav"; then
        [ "$attempt" -lt 3 ] || it_fail "the fake mic's input had dropouts in three rounds; the machine is too busy"
        it_log "the input itself had dropouts (round $attempt); repeating"
    elif ! input_clean "$D/given.wav" "$D/rec.wav"; then
        [ "$attempt" -lt 3 ] || it_fail "the PulseAudio recording lost samples the Clean Mic gave, in three rounds"
        it_log "the recorder lost samples the Clean Mic gave (round $attempt); repeating"
    else
        break
    fi
done
dm_wait_state enhancing

lat=$(dm_latency_samples)
delay=$(audio_py delay "$D/pair.wav:0" "$D/pair.wav:1" --min-corr 0.3) || it_fail "no delay found between input and Clean Mic"
it_log "LatencyUsec = $lat samples, measured delay = $delay samples, quantum $QUANTUM"
assert_num "$(awk -v a="$delay" -v b="$lat" 'BEGIN { d = a - b; print (d < 0 ? -d : d) }')" "<=" "$QUANTUM" \
    "|measured delay - LatencyUsec| in samples"

# The offline reference enhances the file exactly as the microphone
# delivered it (channel 0 of the probe: the same leading silence and the
# same samples), so both paths start from the same audio.
"$AICCTL" enhance "$D/heard.wav" "$D/offline.wav" --model "$DM_MODEL" || it_fail "aicctl enhance failed"
noisy=$(audio_py sisdr "$D/clean.wav" "$D/heard.wav")
live=$(audio_py sisdr "$D/clean.wav" "$D/rec.wav")
offline=$(audio_py sisdr "$D/clean.wav" "$D/offline.wav")
it_log "SI-SDR noisy $noisy dB, Clean Mic $live dB, aicctl enhance $offline dB (model $(basename "$DM_MODEL"))"
diff=$(awk -v a="$live" -v b="$offline" 'BEGIN { d = a - b; print (d < 0 ? -d : d) }')
assert_num "$diff" "<=" 1.0 "SI-SDR of the Clean Mic within 1 dB of aicctl enhance (differs by $diff dB)"

# --- bypass: sample-exact ---------------------------------------------------
dm_set Bypass b true
dm_wait_state bypassed
make_test_wav "$D/tone.wav" 2
for attempt in 1 2 3; do
    record_start aicd_clean_mic "$D/rec-bypass.wav"
    REC=$REC_PID
    record_pair_start fake_mic aicd_clean_mic "$D/pair-bypass.wav" || it_fail "no probe"
    PAIR=$REC_PID
    play_into_mic "$D/tone.wav" fake_mic
    play_wait
    sleep 0.5
    record_stop "$PAIR"
    record_stop "$REC"
    input_clean "$D/tone.wav" "$D/pair-bypass.wav:0" && break
    [ "$attempt" -lt 3 ] || it_fail "the fake mic's input had dropouts in three rounds; the machine is too busy"
    it_log "the input itself had dropouts (bypass round $attempt); repeating"
done

lat=$(dm_latency_samples)
audio_py exact "$D/pair-bypass.wav:0" "$D/pair-bypass.wav:1" "$lat" ||
    it_fail "bypassed Clean Mic is not the input delayed by exactly LatencyUsec ($lat samples)"
off=$(audio_py delay "$D/tone.wav" "$D/rec-bypass.wav" --min-corr 0.5) || it_fail "recording does not contain the input"
off=$(printf '%.0f' "$off")
audio_py exact "$D/tone.wav" "$D/rec-bypass.wav" "$off" ||
    it_fail "parecord's recording of the bypassed Clean Mic is not a sample-exact copy of the input"
it_log "bypass: sample-exact, delay $lat samples"
exit 0
