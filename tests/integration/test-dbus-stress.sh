#!/usr/bin/env bash
# Many clients at once while audio runs: rounds of 50 concurrent aicctl
# calls (and busctl beside them) against the real aicd while the Clean Mic
# is recorded. Every call is answered correctly, the audio thread never
# misses a block (processor.xruns unchanged, processor.frames keeps pace
# with the clock), GetMetrics stays exact while it all runs (enhanced +
# bypassed seconds = processor.frames / rate in every snapshot, frames only
# growing), and the daemon does not grow: its RSS stays within a
# small margin, its open file descriptors stay the same, and it exits
# cleanly (under AddressSanitizer, without a leak report).
# Usage: test-dbus-stress.sh AICD AICCTL. Exit 0 pass, 1 fail, 77 skip.
set -eu
. "$(dirname "$0")/test-dbus-common.sh"

command -v sox >/dev/null || it_skip "sox is not installed"
dt_setup --mic fake_mic
W=$PW_ENV_DIR
A=$AICCTL
CALLS=50
ROUNDS=4

make_test_wav "$W/in.wav" 40 || it_fail "sox could not make the test signal"
aicd_config
aicd_start
play_into_mic "$W/in.wav" fake_mic || it_fail "could not feed the fake mic"
record_start aicd_clean_mic "$W/rec.wav" || it_fail "the recorder did not link to the Clean Mic"
wait_state enhancing || it_fail "not enhancing while recorded"

rss_kb() { awk '/^VmRSS:/ { print $2 }' "/proc/$AICD_PID/status"; }
fds() { find "/proc/$AICD_PID/fd" -mindepth 1 -maxdepth 1 | wc -l; }

# One storm: CALLS aicctl processes started at once, a mix of every command
# that talks to the daemon, each with its own output files; then checks
# every answer.
storm() {
    local tag=$1 i pids=() others=() args rc bad=0
    mkdir -p "$W/storm-$tag"
    for ((i = 0; i < CALLS; i++)); do
        case $((i % 10)) in
        0) args=(status --json) ;;
        1) args=(metrics --json) ;;
        2) args=(status) ;;
        3) args=(metrics) ;;
        4) args=(bypass toggle) ;;
        5) args=(level 0.5) ;;
        6) args=(level 1) ;;
        7) args=(input) ;;
        8) args=(bypass off) ;;
        9) args=(status --json) ;;
        esac
        echo "${args[*]}" >"$W/storm-$tag/$i.args"
        "$A" "${args[@]}" >"$W/storm-$tag/$i.out" 2>"$W/storm-$tag/$i.err" &
        pids+=($!)
        # A foreign client in the same storm.
        if [ $((i % 10)) = 0 ]; then
            busctl --user call "$DT_NAME" "$DT_PATH" "$DT_IFACE" GetMetrics >"$W/storm-$tag/busctl-$i.out" 2>&1 &
            others+=($!)
        fi
    done
    for i in "${!pids[@]}"; do
        rc=0
        wait "${pids[i]}" || rc=$?
        if [ "$rc" != 0 ]; then
            it_log "aicctl $(cat "$W/storm-$tag/$i.args") exited $rc: $(cat "$W/storm-$tag/$i.err")"
            bad=$((bad + 1))
        fi
    done
    for i in "${others[@]}"; do
        wait "$i" || true
    done
    [ "$bad" = 0 ] || it_fail "storm $tag: $bad of $CALLS aicctl calls failed"
    "$IT_PYTHON" - "$W/storm-$tag" "$CALLS" <<'EOF' || it_fail "storm $tag: wrong answers"
import json, os, sys
d, calls = sys.argv[1], int(sys.argv[2])
bad = 0
for i in range(calls):
    args = open(f"{d}/{i}.args").read().split()
    out = open(f"{d}/{i}.out").read()
    if "--json" in args:
        o = json.loads(out)
        ok = ("state" in o) if args[0] == "status" else ("processor.frames" in o)
    elif args[0] == "status":
        ok = "State:" in out
    elif args[0] == "metrics":
        ok = out.startswith("audio.processed")
    elif args[0] == "input":
        ok = "Input target:" in out
    else:
        ok = True
    if not ok:
        print(f"call {i} ({' '.join(args)}): {out!r}", file=sys.stderr)
        bad += 1
for f in os.listdir(d):
    if f.startswith("busctl-") and not (open(f"{d}/{f}").read().startswith("a{sv} ") and '"audio.processed" d' in open(f"{d}/{f}").read()):
        print(f"{f}: {open(f'{d}/{f}').read()!r}", file=sys.stderr)
        bad += 1
sys.exit(bad != 0)
EOF
}

# GetMetrics snapshots, taken as fast as they come during the storms.
cat >"$W/snapshots.py" <<'EOF'
import sys, time
import gi
gi.require_version("Gio", "2.0")
from gi.repository import Gio
bus = Gio.bus_get_sync(Gio.BusType.SESSION, None)
n = bad = 0
last = -1
end = time.monotonic() + float(sys.argv[1])
while time.monotonic() < end:
    m = bus.call_sync("org.aicd.Aicd1", "/org/aicd/Aicd1", "org.aicd.Aicd1", "GetMetrics", None, None,
                      Gio.DBusCallFlags.NO_AUTO_START, 10000, None).unpack()[0]
    frames = m["processor.frames"]
    parts = round(m["audio.processed"] * 48000) + round(m["processor.bypass"] * 48000)
    if parts != frames or frames < last or m["usage.disallowed"] > m["processor.bypass"]:
        print(f"snapshot {n}: frames {frames} (before {last}), enhanced + bypassed {parts}", file=sys.stderr)
        bad += 1
    last = frames
    n += 1
print(f"{n} GetMetrics snapshots, {bad} inconsistent", file=sys.stderr)
sys.exit(bad != 0 or n < 100)
EOF

storm warmup
sleep 0.5
"$IT_PYTHON" "$W/snapshots.py" 6 &
SNAPSHOTS=$!
xruns0=$(metric processor.xruns)
frames0=$(metric processor.frames)
t0=${EPOCHREALTIME/./}
rss0=$(rss_kb)
fds0=$(fds)
it_log "before: RSS $rss0 kB, $fds0 fds, $xruns0 xruns"
for r in $(seq "$ROUNDS"); do
    storm "$r"
done
wait "$SNAPSHOTS" || it_fail "GetMetrics did not add up while audio ran"
sleep 0.5
xruns1=$(metric processor.xruns)
frames1=$(metric processor.frames)
t1=${EPOCHREALTIME/./}
rss1=$(rss_kb)
fds1=$(fds)
it_log "after $((ROUNDS * CALLS)) calls: RSS $rss1 kB, $fds1 fds, $xruns1 xruns"

assert_eq "$xruns1" "$xruns0" "processor.xruns across the storms"
# The audio thread kept pace: frames processed against the clock.
assert_num "$(((frames1 - frames0) * 1000000 / (t1 - t0)))" '>' 45000 "frames processed per second during the storms"
if grep -qa __asan_init "$AICD"; then
    # AddressSanitizer keeps freed memory in quarantine: RSS says nothing
    # there, and LeakSanitizer judges at exit instead.
    it_log "sanitizer build: RSS not judged"
else
    assert_num "$((rss1 - rss0))" '<' 512 "growth of aicd's RSS in kB over $((ROUNDS * CALLS)) calls"
fi
assert_eq "$fds1" "$fds0" "aicd's open file descriptors"
kill -0 "$AICD_PID" || it_fail "aicd died"
"$A" bypass off || it_fail "aicctl bypass off after the storms"
assert_eq "$(prop State)" enhancing "State after the storms"
record_stop || it_fail "the recorder did not stop"
# A clean exit; in a sanitizer build this is also where LeakSanitizer speaks.
aicd_stop
! grep -q '^<[0-3]>' "$W/log/aicd.log" || it_fail "aicd logged errors: $(grep '^<[0-3]>' "$W/log/aicd.log")"
it_log "PASS"
