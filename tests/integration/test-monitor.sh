#!/bin/bash
# `aicctl monitor` against the real aicd while audio plays:
# - idle (nobody records): levels read as silence (-120 dBFS), speech 0;
# - on noise: the input level is the file's level, the output is quieter
#   (by at least 6 dB with the shipped model);
# - speech probability stays within 0..1, and exceeds 0.5 during noisy
#   speech with the shipped model;
# - with Bypass on: output level = input level;
# - --once, --json and a non-terminal stdout print one snapshot and exit 0;
# - the live view on a real terminal (tmux) draws, quits on q and on Ctrl-C,
#   ends with status 1 when aicd goes away, and leaves the terminal as it was.
set -u
. "$(dirname "${BASH_SOURCE[0]}")/daemon-common.sh"

pw_env_start --mic fake_mic
dm_start
D=$PW_ENV_DIR
REAL_MODEL=0
[ "$(basename "$DM_MODEL")" = "$(cat "$DM_ROOT/engine/models/DEFAULT").aicm" ] && REAL_MODEL=1

# sample N FILE: N snapshots 0.2 s apart, one JSON object per line.
sample() {
    local i
    : >"$2"
    for ((i = 0; i < $1; i++)); do
        "$AICCTL" monitor --json >>"$2" || it_fail "aicctl monitor --json failed while audio plays"
        sleep 0.2
    done
}

# stat FILE KEY FUNC: min, max or mean of KEY over the samples in FILE.
stat() {
    "$IT_PYTHON" -c '
import json, statistics, sys
v = [json.loads(l)[sys.argv[2]] for l in open(sys.argv[1])]
f = {"min": min, "max": max, "mean": statistics.mean}[sys.argv[3]]
print(f"{f(v):.3f}")' "$1" "$2" "$3"
}

# ---- one snapshot, idle ----------------------------------------------------
"$AICCTL" monitor --once >"$D/once.txt" || it_fail "aicctl monitor --once failed"
for label in State Input "Input level" "Output level" Attenuation Speech Bypass Credential; do
    grep -q "^ *$label: " "$D/once.txt" || it_fail "aicctl monitor --once lacks '$label': $(cat "$D/once.txt")"
done
"$AICCTL" monitor >"$D/pipe.txt" || it_fail "aicctl monitor into a pipe failed"
grep -q '^ *Input level: ' "$D/pipe.txt" || it_fail "aicctl monitor into a pipe did not print a snapshot"
"$AICCTL" monitor --json >"$D/idle.json" || it_fail "aicctl monitor --json failed"
"$IT_PYTHON" - "$D/idle.json" <<'EOF' || it_fail "aicctl monitor --json (idle): $(cat "$D/idle.json")"
import json, sys
lines = open(sys.argv[1]).read().splitlines()
d = json.loads(lines[0])
want = {"state", "input_node", "input_level_db", "output_level_db", "attenuation_db", "vad", "bypass",
        "enhancement_level", "latency_usec", "xruns", "credential_kind", "credential_expires_at"}
sys.exit(not (len(lines) == 1 and want <= set(d) and d["input_level_db"] == -120 and d["output_level_db"] == -120
              and d["vad"] == 0 and d["credential_kind"] == "none"))
EOF
for k in processor.input_level_db processor.output_level_db processor.vad; do
    dm_metric "$k" >/dev/null || it_fail "GetMetrics lacks $k"
done
"$AICCTL" monitor --bogus 2>/dev/null
assert_eq "$?" 2 "exit status of aicctl monitor with an unknown option"

# ---- noise: input level as played, output quieter, speech unlikely --------
# The demo's noise alone (fan, hum, keyboard clicks: noisy minus clean),
# at -26 dBFS RMS.
dm_sample "$D/noisy.wav" "$D/clean.wav" 5
"$IT_PYTHON" - "$D/noisy.wav" "$D/clean.wav" "$D/noise.wav" <<'EOF'
import sys
import numpy as np, soundfile as sf
noisy, rate = sf.read(sys.argv[1])
clean, _ = sf.read(sys.argv[2])
x = noisy - clean
x *= 10 ** (-26 / 20) / np.sqrt(np.mean(x ** 2))
sf.write(sys.argv[3], x.astype(np.float32), rate, subtype="FLOAT")
EOF

record_start aicd_clean_mic "$D/rec.wav" || it_fail "cannot record the Clean Mic"
REC=$REC_PID
play_into_mic "$D/noise.wav" fake_mic
sleep 1.5
sample 15 "$D/noise.jsonl"
play_wait
in_mean=$(stat "$D/noise.jsonl" input_level_db mean)
out_mean=$(stat "$D/noise.jsonl" output_level_db mean)
vad_noise=$(stat "$D/noise.jsonl" vad mean)
it_log "noise at -26 dBFS: input $in_mean dBFS, output $out_mean dBFS, speech $vad_noise (model $(basename "$DM_MODEL"))"
assert_num "$in_mean" ">=" -29 "input level on -26 dBFS noise"
assert_num "$in_mean" "<=" -23 "input level on -26 dBFS noise"
assert_num "$(stat "$D/noise.jsonl" vad min)" ">=" 0 "speech probability"
assert_num "$(stat "$D/noise.jsonl" vad max)" "<=" 1 "speech probability"
assert_eq "$(tail -n 1 "$D/noise.jsonl" | "$IT_PYTHON" -c 'import json,sys; print(json.load(sys.stdin)["state"])')" \
    enhancing "State while enhancing noise"
if [ "$REAL_MODEL" = 1 ]; then
    att=$(stat "$D/noise.jsonl" attenuation_db mean)
    assert_num "$att" ">=" 6 "attenuation of pure noise with the shipped model (dB)"
else
    assert_num "$out_mean" "<=" "$(awk -v a="$in_mean" 'BEGIN { print a + 1 }')" "output level on noise"
fi

# ---- noisy speech: speech probability rises --------------------------------
play_into_mic "$D/noisy.wav" fake_mic
sleep 0.5
sample 20 "$D/speech.jsonl"
play_wait
vad_speech=$(stat "$D/speech.jsonl" vad max)
it_log "noisy speech: speech probability up to $vad_speech (mean on noise $vad_noise)"
if [ "$REAL_MODEL" = 1 ]; then
    assert_num "$vad_speech" ">" 0.5 "highest speech probability during speech"
fi

# ---- bypass: output level = input level -------------------------------------
dm_set Bypass b true
dm_wait_state bypassed
play_into_mic "$D/noise.wav" fake_mic
sleep 1.5
sample 5 "$D/bypass.jsonl"
play_wait
att=$(stat "$D/bypass.jsonl" attenuation_db mean)
it_log "bypass: attenuation $att dB"
assert_num "$att" ">=" -1 "attenuation with Bypass on (dB)"
assert_num "$att" "<=" 1 "attenuation with Bypass on (dB)"
dm_set Bypass b false
record_stop "$REC"

# ---- the live view on a terminal --------------------------------------------
# Each run in a session of its own on one tmux server (a server killed and
# started again at once races with its own exit): the terminal settings
# before and after, and the exit status.
TM=(tmux -L aicmon)
it_cleanup "${TM[*]} kill-server 2>/dev/null"
RUN=0
live_start() {
    RUN=$((RUN + 1))
    rm -f "$D/live.rc" "$D/stty.before" "$D/stty.after" "$D/live.err"
    "${TM[@]}" new-session -d -s "run$RUN" -x 100 -y 30 \
        "stty -g >'$D/stty.before'; '$AICCTL' monitor 2>'$D/live.err'; echo \$? >'$D/live.rc'; \
         stty -g >'$D/stty.after'; sleep 60" || it_fail "cannot start tmux"
    wait_until 5 "the live view" _live_drawn || it_fail "aicctl monitor drew no view: $(_pane)"
}
_pane() { "${TM[@]}" capture-pane -p -t "run$RUN" 2>/dev/null; }
_live_drawn() { _pane | grep -q '^Output level '; }
_live_done() { [ -s "$D/live.rc" ] && [ -s "$D/stty.after" ]; }
live_end() { # WHAT EXPECTED-STATUS
    wait_until 5 "aicctl monitor to exit ($1)" _live_done || it_fail "aicctl monitor did not exit on $1"
    assert_eq "$(cat "$D/live.rc")" "$2" "exit status of aicctl monitor after $1"
    assert_eq "$(cat "$D/stty.after")" "$(cat "$D/stty.before")" "terminal settings after aicctl monitor ($1)"
    ! _pane | grep -q '^Output level ' || it_fail "the view is still on the screen after $1"
}

live_start
_pane >"$D/view.txt"
_pane | grep -q '^State  *enhancing' || it_fail "the live view shows no State: $(_pane)"
_pane | grep -q '^Credential  *none' || it_fail "the live view shows no credential: $(_pane)"
"${TM[@]}" send-keys -t "run$RUN" q
live_end q 0

live_start
"${TM[@]}" send-keys -t "run$RUN" C-c
live_end Ctrl-C 0

live_start
it_stop "$AICD_PID"
live_end "aicd stopping" 1
grep -q 'aicd went away' "$D/live.err" || it_fail "no reason given when aicd went away: $(cat "$D/live.err")"
exit 0
