#!/usr/bin/env bash
# Settings over D-Bus while audio runs, and the metrics that count it: with
# a tone playing into a fake mic and the Clean Mic recorded the way a call
# app does, Bypass, EnhancementLevel and InputTarget are changed through
# busctl and aicctl. Bypass takes effect within one block (processor.bypass
# counts exactly the frames between the calls); no change clicks (bounded
# second difference) or leaves a gap (no xrun, no dropout, the recording as
# long as the time it ran); bypass is the input delayed, bit for bit, and
# level 0 the dry input; GetMetrics adds up exactly (enhanced + bypassed
# seconds = processor.frames / rate); the settings survive a restart.
#
# A loaded machine drops buffers now and then in the player, the probe or
# any node, whoever is at fault. So each change is judged in a window
# around it, and a change whose window failed is tried again in another
# round (three at most): a defect of the daemon shows up every time, a
# scheduling hiccup does not.
# Usage: test-dbus-audio.sh AICD AICCTL. Exit 0 pass, 1 fail, 77 skip.
set -eu
. "$(dirname "$0")/test-dbus-common.sh"

"$IT_PYTHON" -c 'import numpy, soundfile' 2>/dev/null || it_skip "$IT_PYTHON lacks numpy or soundfile"

dt_setup --mic mic_a --mic mic_b
W=$PW_ENV_DIR
RATE=48000
ROUNDS=3

# Tones: 440 Hz into mic_a, 660 Hz into mic_b, long enough for every round.
"$IT_PYTHON" - "$W" <<'EOF' || it_fail "could not write the test tones"
import sys
import numpy as np, soundfile as sf
t = np.arange(48000 * 50) / 48000
for name, f in (("tone-a", 440.0), ("tone-b", 660.0)):
    sf.write(f"{sys.argv[1]}/{name}.wav", (0.3 * np.sin(2 * np.pi * f * t)).astype(np.float32), 48000,
             subtype="FLOAT")
EOF

# The judge of one round: judge.py PAIR.wav REC.wav D WALL_MS, where PAIR.wav
# holds the mic (channel 0) and the Clean Mic (channel 1) recorded in the
# same graph cycles, REC.wav the call app's recording, D the delay in
# samples and WALL_MS how long the recording ran. Prints "PASS NAME" or
# "FAIL NAME: why" per change and for the recording's length.
cat >"$W/judge.py" <<'EOF'
import sys
import numpy as np, soundfile as sf
pair, rate = sf.read(sys.argv[1], dtype="float32", always_2d=True)
rec, _ = sf.read(sys.argv[2], dtype="float32")
D, wall_ms = int(sys.argv[3]), int(sys.argv[4])
x32, y32 = pair[:, 0], pair[:, 1]
x, y = x32.astype(np.float64), y32.astype(np.float64)
n, ms, B, XF = len(y), rate // 1000, 256, 10 * rate // 1000

def result(name, ok, why):
    print(f"PASS {name}" if ok else f"FAIL {name}: {why}")
    print(f"{name}: {why}", file=sys.stderr)

# The probe may itself drop a buffer on a loaded machine, so its samples do
# not map to the daemon's frame counts reliably; each change is found in
# the audio instead, in the order they were made, block by block (B
# samples): whether the Clean Mic is the delayed mic bit for bit (bypass),
# how far it is from the delayed mic (SNR: dry beyond 60 dB, enhanced far
# below), and which tone it carries.
xd = np.zeros(n)
xd[D:] = x[:n - D]
nb = n // B
exact = np.zeros(n, bool)
exact[D:] = (y32[D:].view(np.uint32) == x32[:n - D].view(np.uint32)) & (y32[D:] != 0)
blk = lambda v: v[:nb * B].reshape(nb, B)
ref, err = blk(xd), blk(y - xd)
snr = 10 * np.log10(np.maximum((ref * ref).sum(1), 1e-30) / np.maximum((err * err).sum(1), 1e-30))
exact_blk = blk(exact).all(1)
tone = np.full(nb, 0.0)
W = 8 * B  # ~43 ms for the tone estimate
for k in range(0, nb - 8):
    seg = y[k * B:k * B + W]
    if np.any(seg):
        tone[k] = np.argmax(np.abs(np.fft.rfft(seg * np.hanning(W)))) * rate / W
d2 = np.zeros(n)
d2[1:-1] = np.abs(np.diff(y, 2))

def first(cond, start, hold):
    """First block from start where cond holds, and then for all but a few
    of the next hold blocks (a hiccup elsewhere in the graph spans a few
    blocks and must not move the change)."""
    for k in range(start, nb - hold):
        if cond[k] and cond[k:k + hold].sum() >= hold - 6:
            return k
    return None

def clean(lo, hi, check_dropout=True):
    """No step beyond the steady signal on either side (99th percentile of
    the second difference, 200 ms each side), no dropout."""
    lo, hi = max(lo, D + 200 * ms), min(hi, n - 200 * ms)
    steady = max(np.percentile(d2[lo - 200 * ms:lo], 99), np.percentile(d2[hi:hi + 200 * ms], 99))
    limit = 3 * steady + 1e-3
    peak = d2[lo:hi].max()
    z = np.concatenate([[0], ((y[lo:hi] == 0) & (np.abs(xd[lo:hi]) > 0.01 if check_dropout else True)).astype(int), [0]])
    e = np.flatnonzero(np.diff(z))
    zr = int(max(e[1::2] - e[::2], default=0))
    return peak <= limit and zr < 16, f"largest second difference {peak:.5f} (limit {limit:.5f}), longest dropout {zr}"

H = 40  # blocks (~210 ms): a state the test held, not a hiccup
k_on = first(exact_blk, 0, H)
if k_on is None:
    for name in ("bypass-on", "bypass-off", "level-0", "level-1", "input-b", "input-default"):
        result(name, False, "no bypassed stretch found: the output never became the delayed input bit for bit")
    sys.exit(0)
# Bypass on: the first bit-exact sample ends a 10 ms crossfade.
p = k_on * B - 1
while p > 0 and exact[p]:
    p -= 1
ok, why = clean(p - XF - 20 * ms, p + 20 * ms)
result("bypass-on", ok, f"bit for bit from sample {p + 1}; {why}")

# Bypass off: enhanced again (far from dry); the bypass ends at the last
# exact sample before that, then a 10 ms crossfade.
k_enh = first(snr < 30, k_on + H, H)
if k_enh is None:
    result("bypass-off", False, "the output never left bypass")
    sys.exit(0)
p = k_enh * B
while p > k_on * B and not exact[p]:
    p -= 1
ok, why = clean(p - 20 * ms, p + XF + 20 * ms)
result("bypass-off", ok, f"bit for bit until sample {p}; {why}")

# Level 0: dry (the delayed input through the filterbank, beyond 60 dB);
# level 1: enhanced again.
k0 = first(snr > 60, k_enh + H, H)
if k0 is None:
    result("level-0", False, "the output never became the dry input")
    sys.exit(0)
ok, why = clean(k0 * B - 30 * ms, k0 * B + 30 * ms)
med = float(np.median(snr[k0:k0 + H]))
result("level-0", ok and med > 60, f"dry from sample {k0 * B}, median SNR {med:.1f} dB; {why}")
k1 = first(snr < 30, k0 + H, H)
if k1 is None:
    result("level-1", False, "the output stayed dry")
    sys.exit(0)
ok, why = clean(k1 * B - 30 * ms, k1 * B + 30 * ms)
result("level-1", ok, f"enhanced again from sample {k1 * B}; {why}")

# Input switches: another microphone is another signal, so a step between
# the two is the signal itself; only a dropout would be the daemon's (the
# probe records mic_a only, so silence is judged without it).
kb = first(np.abs(tone - 660) < 30, k1 + H, H)
ka = first(np.abs(tone - 440) < 30, kb + H, H) if kb is not None else None
for name, k in (("input-b", kb), ("input-default", ka)):
    if k is None:
        result(name, False, "the tone of the new input never came")
        continue
    lo, hi = k * B - 150 * ms, k * B + 100 * ms
    z = np.concatenate([[0], (y[lo:hi] == 0).astype(int), [0]])
    e = np.flatnonzero(np.diff(z))
    zr = int(max(e[1::2] - e[::2], default=0))
    result(name, zr < 16, f"{'660' if name == 'input-b' else '440'} Hz from sample {k * B}, longest silence {zr}")

length_ms = len(rec) / rate * 1e3
result("recording", abs(length_ms - wall_ms) < 250, f"{length_ms:.0f} ms recorded in {wall_ms} ms")
EOF

aicd_config
aicd_start
play_into_mic "$W/tone-a.wav" mic_a || it_fail "could not feed mic_a"
play_into_mic "$W/tone-b.wav" mic_b || it_fail "could not feed mic_b"

# frames: processor.frames now; every snapshot also goes to $W/frames, from
# which the block size is inferred (every count is a multiple of it).
frames() {
    local f
    f=$(metric processor.frames) || it_fail "GetMetrics failed"
    echo "$f" >>"$W/frames"
    echo "$f"
}

# event NAME CMD...: runs CMD between two frame snapshots; logs
# "NAME BEFORE AFTER" to $EVENTS.
event() {
    local name=$1 before after
    shift
    before=$(frames)
    "$@" >/dev/null || it_fail "$name: $* failed"
    after=$(frames)
    echo "$name $before $after" >>"$EVENTS"
}

input_is() { [ "$(prop InputNode)" = "$1" ]; }

declare -A passed=()
for round in $(seq "$ROUNDS"); do
    EVENTS=$W/events-$round
    record_start aicd_clean_mic "$W/rec-$round.wav" || it_fail "the recorder did not link to the Clean Mic"
    rec=$REC_PID
    record_pair_start mic_a aicd_clean_mic "$W/pair-$round.wav" || it_fail "the probe did not link"
    probe=$REC_PID
    echo "start $(frames) 0" >"$EVENTS"
    t_rec=${EPOCHREALTIME/./}
    wait_state enhancing || it_fail "not enhancing while recorded"
    xruns0=$(metric processor.xruns)
    sleep 0.8
    bypass0=$(metric processor.bypass)
    event bypass-on set_prop Bypass b true
    sleep 0.8
    event bypass-off "$AICCTL" bypass off
    bypass1=$(metric processor.bypass)
    sleep 0.8
    event level-0 set_prop EnhancementLevel d 0
    sleep 0.8
    event level-1 "$AICCTL" level 1
    sleep 0.8
    event input-b "$AICCTL" input mic_b
    _it_until 2 "InputNode mic_b" input_is mic_b || it_fail "InputNode did not follow InputTarget"
    sleep 1
    event input-default "$AICCTL" input --default
    _it_until 2 "InputNode mic_a" input_is mic_a || it_fail "InputNode did not go back to mic_a"
    sleep 0.8
    echo "end $(frames) 0" >>"$EVENTS"
    xruns1=$(metric processor.xruns)
    D=$("$IT_PYTHON" -c 'import sys; print(round(int(sys.argv[1]) * 48000 / 1e6))' "$(prop LatencyUsec)")
    record_stop "$probe" || it_fail "the probe did not stop"
    record_stop "$rec" || it_fail "the recorder did not stop"
    t_end=${EPOCHREALTIME/./}

    # Bypass within one block, counted exactly: the frames processed with
    # Bypass set lie between what ran strictly between the two calls and
    # what ran from the start of the first to the end of the second, give or
    # take one block. Not a matter of timing luck: judged every round.
    "$IT_PYTHON" - "$W/frames" "$EVENTS" "$bypass0" "$bypass1" "$RATE" <<'EOF' ||
import math, sys
from functools import reduce
block = reduce(math.gcd, [int(l) for l in open(sys.argv[1]) if int(l) > 0])
ev = {l.split()[0]: (int(l.split()[1]), int(l.split()[2])) for l in open(sys.argv[2])}
bypassed = round((float(sys.argv[4]) - float(sys.argv[3])) * int(sys.argv[5]))
lo = ev["bypass-off"][0] - ev["bypass-on"][1] - block
hi = ev["bypass-off"][1] - ev["bypass-on"][0] + block
print(f"block {block} frames; {bypassed} frames bypassed, {lo}..{hi} allowed", file=sys.stderr)
sys.exit(not (block <= 2048 and lo <= bypassed <= hi))
EOF
        it_fail "Bypass did not take effect within one block"

    "$IT_PYTHON" "$W/judge.py" "$W/pair-$round.wav" "$W/rec-$round.wav" "$D" "$(((t_end - t_rec) / 1000))" \
        >"$W/verdict-$round" || it_fail "the judge failed"
    if [ "$xruns1" = "$xruns0" ]; then
        echo "PASS xruns" >>"$W/verdict-$round"
    else
        echo "FAIL xruns: processor.xruns went from $xruns0 to $xruns1" >>"$W/verdict-$round"
    fi
    while read -r verdict name; do
        [ "$verdict" = PASS ] && passed[$name]=1
    done <"$W/verdict-$round"
    failed=$(grep -c '^FAIL' "$W/verdict-$round" || true)
    it_log "round $round: $failed check(s) failed$( [ "$failed" = 0 ] || printf ': %s' "$(grep '^FAIL' "$W/verdict-$round" | tr '\n' ';')")"
    missing=
    for name in bypass-on bypass-off level-0 level-1 input-b input-default recording xruns; do
        [ -n "${passed[$name]:-}" ] || missing="$missing $name"
    done
    [ -n "$missing" ] || break
done
[ -z "$missing" ] || it_fail "failed in each of $ROUNDS rounds:$missing (see the FAIL lines above)"

# ---- metrics: exact once the audio has stopped
sleep 0.3
busctl --user --json=short call "$DT_NAME" "$DT_PATH" "$DT_IFACE" GetMetrics >"$W/metrics.json"
"$IT_PYTHON" - "$W/metrics.json" "$RATE" <<'EOF' || it_fail "GetMetrics does not add up"
import json, sys
m = {k: v["data"] for k, v in json.load(open(sys.argv[1]))["data"][0].items()}
rate = int(sys.argv[2])
enhanced, bypassed, disallowed = (round(m[k] * rate) for k in ("audio.processed", "processor.bypass", "usage.disallowed"))
print(f"processor.frames {m['processor.frames']} = enhanced {enhanced} + bypassed {bypassed} "
      f"(of which disallowed {disallowed})", file=sys.stderr)
sys.exit(not (enhanced + bypassed == m["processor.frames"] and disallowed == 0 and enhanced > 3 * rate))
EOF

# ---- persistence: the settings come back after a restart, and act
set_prop Bypass b true
"$AICCTL" level 0.4 || it_fail "aicctl level 0.4"
"$AICCTL" input mic_b || it_fail "aicctl input mic_b"
aicd_stop
grep -qx 'bypass=1' "$XDG_STATE_HOME/aicd/state" ||
    it_fail "the state file lacks bypass=1: $(cat "$XDG_STATE_HOME/aicd/state")"
aicd_start
assert_eq "$(prop Bypass)" true "Bypass after a restart"
assert_eq "$(prop EnhancementLevel)" 0.4 "EnhancementLevel after a restart"
assert_eq "$(prop InputTarget)" mic_b "InputTarget after a restart"
record_start aicd_clean_mic "$W/rec-restart.wav" || it_fail "the recorder did not link after the restart"
_it_until 3 "InputNode mic_b" input_is mic_b || it_fail "the restarted aicd does not listen to mic_b"
assert_eq "$(prop State)" bypassed "State after a restart with Bypass set"
sleep 1
record_stop "$REC_PID" || it_fail "the recorder did not stop"
assert_num "$(metric audio.processed)" '==' 0 "seconds enhanced while bypassed after a restart"
assert_num "$(metric processor.bypass)" '>' 0.5 "seconds bypassed after a restart"
for args in "bypass off" "level 1" "input --default"; do
    # shellcheck disable=SC2086
    "$AICCTL" $args || it_fail "aicctl $args"
done
aicd_stop
for line in bypass=0 level=1 input=; do
    grep -qx "$line" "$XDG_STATE_HOME/aicd/state" ||
        it_fail "the state file lacks $line after restoring: $(cat "$XDG_STATE_HOME/aicd/state")"
done
it_log "PASS"
