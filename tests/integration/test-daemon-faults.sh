#!/bin/bash
# Fault injection: aicd killed with SIGKILL while an app records (restarted by
# hand, as systemd's Restart=on-failure would; the app's stream recovers or
# fails cleanly, and a new recording works); 10 PipeWire restarts in 30 s;
# a corrupt config and a corrupt model (warnings, defaults, still running);
# a full disk when saving state; 1,000 D-Bus calls while audio runs.
set -u
. "$(dirname "${BASH_SOURCE[0]}")/daemon-common.sh"

pw_env_start --mic fake_mic
D=$PW_ENV_DIR
# Speech well above its noise: what comes out of the Clean Mic still
# correlates clearly with it (a steady tone would be suppressed as noise).
"$IT_PYTHON" "$DM_ROOT/scripts/make-sample.py" "$D/tone.wav" "$D/tone-clean.wav" --snr 15

flows() {
    local out=$D/flow-$RANDOM.wav
    record_start aicd_clean_mic "$out" || return 1
    play_into_mic "$D/tone.wav" fake_mic
    play_wait
    sleep 0.3
    record_stop
    audio_py delay "$D/tone.wav" "$out" --min-corr 0.3 >/dev/null
}

# --- a corrupt config and a corrupt model -----------------------------------
printf 'garbage model\n' >"$D/broken.aicm"
dm_start "[audio]" "rate = banana" "channels = 99" "[engine]" "level = 7" "bypass = maybe" "model = $D/broken.aicm" \
    "[nonsense" "key without section" "[license]" "mode = sometimes"
grep -q "invalid value for 'rate'" "$D/log/aicd.log" || it_fail "no warning for a bad rate"
grep -q "Failed to load model $D/broken.aicm" "$D/log/aicd.log" || it_fail "no error for the corrupt model"
assert_eq "$(dm_prop SampleRate)" 48000 "SampleRate after a bad value"
assert_eq "$(dm_prop EnhancementLevel)" 1 "EnhancementLevel after a bad value"
dm_wait_state enhancing || it_fail "aicd is not enhancing with the default model"
flows || it_fail "no audio with a corrupt config"
it_log "corrupt config and model: warnings, defaults, audio flows"

# --- SIGKILL while an app records --------------------------------------------
record_start aicd_clean_mic "$D/killed.wav" || it_fail "cannot record"
app=$REC_PID
kill -KILL "$AICD_PID"
wait_node_gone aicd_clean_mic 5 || it_fail "the Clean Mic did not go away with aicd"
sleep 0.5
if is_running "$app"; then
    it_log "the recording app survived aicd's death (its stream was moved); stopping it"
    record_stop "$app"
else
    wait_pid "$app" 1 >/dev/null
    it_log "the recording app ended cleanly"
fi
dm_start
flows || it_fail "no audio after aicd was killed and restarted"
it_log "SIGKILL while recording: recovered"

# --- 10 PipeWire restarts in 30 s --------------------------------------------
t0=$SECONDS
for i in $(seq 10); do
    pw_restart >/dev/null || it_fail "PipeWire did not come back (restart $i)"
    wait_node aicd_clean_mic 2 || it_fail "no Clean Mic after restart $i"
done
assert_num "$((SECONDS - t0))" "<=" 30 "seconds for 10 PipeWire restarts"
is_running "$AICD_PID" || it_fail "aicd died during the restarts"
dm_wait_state enhancing || it_fail "aicd is not enhancing after 10 restarts"
flows || it_fail "no audio after 10 PipeWire restarts"
it_log "10 PipeWire restarts in $((SECONDS - t0)) s: recovered"

# --- a full disk when saving state --------------------------------------------
full=$D/full
mkdir -p "$full"
if mount -t tmpfs -o size=16k tmpfs "$full" 2>/dev/null; then
    it_cleanup "umount '$full'"
    dd if=/dev/zero of="$full/fill" bs=4k count=64 2>/dev/null || true
    aicd_stop_kill() { kill -TERM "$AICD_PID"; wait_pid "$AICD_PID" 5 >/dev/null; }
    aicd_stop_kill
    XDG_STATE_HOME=$full dm_start
    dm_set Bypass b true
    grep -q "Failed to save state" "$D/log/aicd.log" || it_fail "no warning when the state could not be saved"
    is_running "$AICD_PID" || it_fail "aicd died on a full disk"
    assert_eq "$(dm_prop Bypass)" true "Bypass on a full disk"
    dm_set Bypass b false
    it_log "full disk: warning, setting still applied, still running"
else
    it_log "cannot mount a tmpfs here; full-disk case not run"
fi

# --- 1,000 D-Bus calls while audio runs ----------------------------------------
xruns_watch || it_skip "cannot watch xruns"
record_start aicd_clean_mic "$D/calls.wav" || it_fail "cannot record"
play_into_mic "$D/tone.wav" fake_mic
x0=$(dm_metric processor.xruns)
for i in $(seq 1000); do
    case $((i % 4)) in
    0) busctl --user get-property org.aicd.Aicd1 /org/aicd/Aicd1 org.aicd.Aicd1 State ;;
    1) busctl --user call org.aicd.Aicd1 /org/aicd/Aicd1 org.aicd.Aicd1 GetMetrics ;;
    2) dm_set EnhancementLevel d 0.$((i % 10)) ;;
    3) busctl --user get-property org.aicd.Aicd1 /org/aicd/Aicd1 org.aicd.Aicd1 LatencyUsec ;;
    esac >/dev/null || it_fail "D-Bus call $i failed"
done
x1=$(dm_metric processor.xruns)
record_stop
assert_num "$x1" "==" "$x0" "aicd's xrun count over 1,000 D-Bus calls"
is_running "$AICD_PID" || it_fail "aicd died during the D-Bus calls"
it_log "1,000 D-Bus calls while recording: answered, no xrun"
exit 0
