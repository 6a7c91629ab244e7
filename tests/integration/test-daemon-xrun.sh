#!/bin/bash
# 60 s of recording at quantum 256 with no xrun, in aicd's own counter and
# in PipeWire's (pw-top's ERR column for the Clean Mic), and aicd's memory
# and file descriptors flat over the run.
#
# aicd's own counter (a buffer it could not get or fill) must stay 0 over the
# whole run, and aicd's slowest block must take less than half the period.
# PipeWire's ERR also counts cycles the whole graph lost (its driver, or the
# machine, late), for every node alike: the player feeding the fake mic,
# which does not wait on aicd, counts those too, so aicd's share is its count
# beyond the player's. That share is not zero even on a quiet machine (a
# 30-minute run here: 62 such cycles of 337,000, aicd's counter 0),
# because a thread woken late by the scheduler looks the same as a
# slow one; it is logged with every node's counts, and judged only with
# AICD_XRUN_STRICT=1 (then up to AICD_XRUN_WINDOWS windows, default 3, the
# first with none passing).
#
# The same test is the daemon soak: AICD_XRUN_SECONDS=3600 runs an hour and
# prints a line every AICD_SOAK_EVERY seconds (default 300) with the time,
# frames, xruns, RSS and file descriptors (BENCHMARKS.md has such a run).
set -u
. "$(dirname "${BASH_SOURCE[0]}")/daemon-common.sh"

SECONDS_TO_RUN=${AICD_XRUN_SECONDS:-60}
PW_ENV_QUANTUM=256
pw_env_start --mic fake_mic
dm_start
D=$PW_ENV_DIR
"$IT_PYTHON" "$DM_ROOT/scripts/make-sample.py" "$D/one.wav" "$D/clean.wav" --snr 5
# One long file, so the player is linked once: linking a new stream can
# itself cost the graph a cycle, which is not what this test is about.
one_s=$(soxi -V1 -D "$D/one.wav")
EVERY=${AICD_SOAK_EVERY:-300}
WINDOWS=${AICD_XRUN_WINDOWS:-3}
[ "$SECONDS_TO_RUN" -le "$EVERY" ] || WINDOWS=1
reps=$(awk -v t="$((SECONDS_TO_RUN * WINDOWS))" -v o="$one_s" 'BEGIN { print int((t + 10) / o) + 1 }')
sox -V1 "$D/one.wav" "$D/noisy.wav" repeat $((reps - 1))

xruns_watch || it_skip "cannot watch xruns (tmux/pw-top)"
record_start aicd_clean_mic "$D/rec.wav" || it_fail "cannot record the Clean Mic"
play_into_mic "$D/noisy.wav" fake_mic
sleep 2
rss0=$(dm_rss_kb "$AICD_PID")
fds0=$(dm_fds "$AICD_PID")
x0=$(dm_metric processor.xruns)
# own_late: cycles in which PipeWire found the Clean Mic late and the
# player on time, since the counts in a0/f0 (sets a1, f1, OWN).
own_late() {
    local c
    c=$(xruns_of aicd_clean_mic "$PLAY_NODE") || it_fail "no xrun counts from pw-top"
    read -r a1 f1 <<<"$c"
    OWN=$(((a1 - a0) - (f1 - f0)))
}
c=$(xruns_of aicd_clean_mic "$PLAY_NODE") || it_fail "no xrun counts from pw-top"
read -r a0 f0 <<<"$c"
a_start=$a0 f_start=$f0
if [ "$SECONDS_TO_RUN" -gt "$EVERY" ]; then
    it_log "soak: seconds frames xruns rss_kb fds"
    t=0
    while [ "$t" -lt "$SECONDS_TO_RUN" ]; do
        step=$((SECONDS_TO_RUN - t < EVERY ? SECONDS_TO_RUN - t : EVERY))
        sleep "$step"
        t=$((t + step))
        kill -0 "$AICD_PID" 2>/dev/null || it_fail "aicd exited during the soak"
        it_log "soak: $t $(dm_metric processor.frames) $(dm_metric processor.xruns) $(dm_rss_kb "$AICD_PID") $(dm_fds "$AICD_PID")"
    done
    own_late
else
    w=1
    while :; do
        sleep "$SECONDS_TO_RUN"
        own_late
        if [ "$a1" != "$a0" ]; then
            it_log "window $w of $WINDOWS: ERR of aicd_clean_mic $a0 -> $a1, of the player $f0 -> $f1 ($OWN late cycles of aicd's own); pw-top:"
            xruns_screen >&2
        fi
        [ "${AICD_XRUN_STRICT:-0}" = 1 ] && [ "$OWN" -gt 0 ] && [ "$w" -lt "$WINDOWS" ] || break
        w=$((w + 1))
        a0=$a1 f0=$f1
    done
fi
x1=$(dm_metric processor.xruns)
kill -0 "$PLAY_PID" 2>/dev/null || it_fail "the player ended before the last window did"
it_stop "$PLAY_PID"
rss1=$(dm_rss_kb "$AICD_PID")
fds1=$(dm_fds "$AICD_PID")
record_stop
frames=$(dm_metric processor.frames)
it_log "frames $frames, aicd xruns $x0 -> $x1, pw-top ERR of aicd_clean_mic $a_start -> $a1 and of the player $f_start -> $f1, RSS $rss0 -> $rss1 kB, fds $fds0 -> $fds1"
assert_num "$frames" ">=" $((SECONDS_TO_RUN * 48000 * 9 / 10)) "frames processed in ${SECONDS_TO_RUN}s"
assert_num "$x1" "==" "$x0" "aicd's xrun count over the whole run at quantum 256"
# aicd's own share of the period: its slowest block (processing and any
# preemption in it) must leave most of the 5.33 ms cycle to the rest of the
# graph (all of it in a sanitized build, which is several times slower).
period_us=$((256 * 1000000 / 48000))
limit_us=$((period_us / 2))
[ -z "${AICD_SANITIZED:-}" ] || limit_us=$period_us
pmax=$(dm_metric processor.process_time_max_us)
it_log "slowest block in aicd: $pmax us of a $period_us us period"
assert_num "$pmax" "<" "$limit_us" "aicd's slowest block at quantum 256 (us)"
if [ "${AICD_XRUN_STRICT:-0}" = 1 ]; then
    assert_num "$OWN" "<=" 0 "cycles PipeWire found the Clean Mic late and the player on time (last window)"
elif [ "$OWN" -gt 0 ]; then
    it_log "NOTE: $OWN cycles in which PipeWire found the Clean Mic late and the player on time (AICD_XRUN_STRICT=1 fails on them)"
fi
assert_num "$((rss1 - rss0))" "<=" 2048 "RSS growth in kB"
assert_num "$fds1" "==" "$fds0" "open file descriptors"
exit 0
