#!/usr/bin/env bash
# Self-test of the integration harness, without aicd: a pw-loopback stands
# in for the daemon (capture from the default mic, an Audio/Source named
# aicd_clean_mic), audio goes through it end to end, PipeWire is killed and
# restarted, and the graph must work again. Exit 0 on success, 77 when a
# needed tool is missing, 1 with a FAIL line otherwise.
set -eu
. "$(dirname "$0")/lib.sh"

[ -x "$IT_PYTHON" ] || it_skip "$IT_PYTHON is missing"
"$IT_PYTHON" -c 'import numpy, soundfile' 2>/dev/null ||
    it_skip "$IT_PYTHON lacks numpy or soundfile"
command -v sox >/dev/null || it_skip "sox is not installed"
command -v tmux >/dev/null || it_skip "tmux is not installed (xruns_of needs it)"

# The fake mic is a pipewire.conf.d drop-in so that it survives pw_restart.
pw_env_start --mic fake_mic
W=$PW_ENV_DIR
make_test_wav "$W/in.wav" 2 || it_fail "sox could not make the test signal"

# start_standin: like aicd, it names no input: WirePlumber links its
# capture stream to the default source. client-rt.conf gives its data
# thread real-time priority, as pw-play and pw-record have by default; a
# stand-in (or daemon) without it is late under load and makes the whole
# graph skip cycles, which shows up as dropouts in every recording.
start_standin() {
    it_spawn standin env PIPEWIRE_CONFIG_NAME=client-rt.conf pw-loopback -n aicd_standin \
        -c 1 -m '[ MONO ]' \
        --playback-props='media.class=Audio/Source node.name=aicd_clean_mic node.description="Clean Mic (aicd)"'
    STANDIN_PID=$SPAWN_PID
    wait_node aicd_clean_mic || it_fail "the stand-in's source did not appear"
    wait_link fake_mic input.aicd_standin ||
        it_fail "the stand-in was not linked to the default mic"
    xruns_watch || it_fail "cannot watch xruns"
}

# attempt TAG: plays the test signal into the fake mic while recording
# aicd_clean_mic like a call app and, in one two-channel probe, the mic and
# aicd_clean_mic side by side; checks what came out. Returns 0 when all is
# exact, 2 when a recording has dropouts (a loaded machine: the checks
# are then meaningless and the caller retries); fails on anything else.
attempt() {
    local tag=$1 d xr n rec probe
    record_start aicd_clean_mic "$W/rec-$tag.wav" || it_fail "recorder did not link"
    rec=$REC_PID
    record_pair_start fake_mic aicd_clean_mic "$W/pair-$tag.wav" || it_fail "probe did not link"
    probe=$REC_PID
    play_into_mic "$W/in.wav" fake_mic || it_fail "could not feed the fake mic"
    assert_link "$PLAY_NODE" fake_mic
    xr=$(xruns_of aicd_clean_mic) || it_fail "no xrun count for aicd_clean_mic"
    play_wait "$PLAY_PID" || it_fail "the player did not finish"
    sleep 0.1 # the last quantum through the graph and the recorder's buffer
    record_stop "$rec" || it_fail "recorder did not stop"
    record_stop "$probe" || it_fail "probe did not stop"
    it_log "[$tag] aicd_clean_mic xruns so far: $xr"

    # Dropouts first: they are the one failure a loaded machine excuses.
    n=$(audio_py glitches "$W/in.wav" "$W/rec-$tag.wav") ||
        it_fail "[$tag] the recording is not the input, even allowing for dropouts"
    [ "$n" -eq 0 ] || { it_log "[$tag] $n dropouts in the recording"; return 2; }
    n=$(audio_py glitches "$W/pair-$tag.wav:0" "$W/pair-$tag.wav:1") ||
        it_fail "[$tag] aicd_clean_mic does not carry the mic's signal"
    [ "$n" -eq 0 ] || { it_log "[$tag] $n dropouts in the stand-in"; return 2; }

    d=$(audio_py delay "$W/in.wav" "$W/rec-$tag.wav" --min-corr 0.95) ||
        it_fail "[$tag] the recording does not contain the input"
    it_log "[$tag] input found in the recording at $d samples"
    audio_py exact "$W/in.wav" "$W/rec-$tag.wav" "$d" --min-frac 0.95 ||
        it_fail "[$tag] the recording is not the input, sample for sample"
    d=$(audio_py delay "$W/pair-$tag.wav:0" "$W/pair-$tag.wav:1" --min-corr 0.99) ||
        it_fail "[$tag] aicd_clean_mic does not carry the mic's signal"
    assert_num "$d" '==' 0 "[$tag] stand-in delay in samples"
}

# one_round TAG: up to three attempts; only dropouts earn another.
one_round() {
    local k rc
    for k in 1 2 3; do
        rc=0
        attempt "$1-$k" || rc=$?
        [ "$rc" -eq 0 ] && return 0
    done
    it_fail "[$1] dropouts in all three attempts: the machine is too loaded to judge"
}

# Exercise the pulse-module fake mic: it must appear, not take over the
# user's chosen default, and go away again.
fake_mic_add spare_mic || it_fail "fake_mic_add failed"
assert_eq "$(node_prop spare_mic media.class)" Audio/Source/Virtual "spare_mic media.class"
assert_default_source fake_mic
fake_mic_remove spare_mic || it_fail "fake_mic_remove failed"

start_standin
[ "$IT_RT_OK" = 0 ] || assert_num "$(rt_threads "$STANDIN_PID")" '>' 0 "real-time threads of the stand-in"
assert_eq "$(node_prop aicd_clean_mic media.class)" Audio/Source "aicd_clean_mic media.class"
assert_eq "$(node_prop aicd_clean_mic node.description)" "Clean Mic (aicd)" "description"
assert_default_source fake_mic # the configured default holds against a new Audio/Source

record_source aicd_clean_mic "$W/quiet.wav" 0.3 || it_fail "record_source failed"
lvl=$(audio_py silence "$W/quiet.wav")
assert_num "$lvl" '<' -90 "level of aicd_clean_mic with nothing playing (dBFS)"

one_round first

pw_restart || it_fail "the graph did not come back after a restart"
assert_node fake_mic
assert_default_source fake_mic
wait_pid "$STANDIN_PID" 1 >/dev/null || true
if is_running "$STANDIN_PID"; then
    it_log "pw-loopback survived the restart; replacing it"
    it_stop "$STANDIN_PID"
fi
start_standin
one_round restarted

# xruns_of must see an xrun: stall the stand-in for 0.2 s (ten graph
# cycles or more) while a recorder keeps it running.
record_start aicd_clean_mic "$W/stall.wav" || it_fail "recorder did not link"
before=$(xruns_of aicd_clean_mic) || it_fail "no xrun count for aicd_clean_mic"
kill -STOP "$STANDIN_PID"
sleep 0.2
kill -CONT "$STANDIN_PID"
after=$(xruns_of aicd_clean_mic) || it_fail "no xrun count for aicd_clean_mic"
record_stop || it_fail "recorder did not stop"
it_log "aicd_clean_mic xruns: $before before the stall, $after after"
assert_num "$after" '>' "$before" "xrun count after stalling the stand-in"

it_log "PASS"
