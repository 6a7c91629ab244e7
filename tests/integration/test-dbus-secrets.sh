#!/usr/bin/env bash
# Secrets stay secret: license keys and tokens reach aicd only through a
# private key file, aicctl's stdin or --file, and D-Bus calls made from
# files, never through an argv. While all of that happens, the command line
# of every process on the machine is sampled; afterwards the samples, every
# log, every reply (properties, metrics, introspection, aicctl's output and
# errors), every signal and every file the daemon wrote are searched for
# each key, token, api_key and their parts, and none may turn up.
# Usage: test-dbus-secrets.sh AICD AICCTL. Exit 0 pass, 1 fail, 77 skip.
set -eu
. "$(dirname "$0")/test-dbus-common.sh"

dt_setup --mic fake_mic
W=$PW_ENV_DIR
C=$DT_CREDS
A=$AICCTL
mkdir -p "$W/out"

# Every process's command line, sampled every 5 ms until the end; each
# distinct one is written once.
cat >"$W/sampler.py" <<'EOF'
import os, sys, time
seen, out = set(), open(sys.argv[1], "w", buffering=1)
while True:
    for pid in os.listdir("/proc"):
        if pid.isdigit():
            try:
                with open(f"/proc/{pid}/cmdline", "rb") as f:
                    line = f.read().replace(b"\0", b" ").decode(errors="replace").rstrip()
            except OSError:
                continue
            if line not in seen:
                seen.add(line)
                out.write(line + "\n")
    time.sleep(0.005)
EOF
"$IT_PYTHON" "$W/sampler.py" "$W/cmdlines.txt" 2>/dev/null &
SAMPLER=$!
it_cleanup "kill $SAMPLER 2>/dev/null"

# The daemon reads its license key from a private key file (mode license).
aicd_config '[license]' 'mode = license' "key_file = $C/license"
aicd_start
monitor_start
wait_state enhancing || it_fail "the configured license key was not taken"
assert_eq "$(prop CredentialKind)" license "CredentialKind from key_file"

# A key file that group or others can read is refused, and says so.
cp "$C/license-exp" "$W/open-key"
chmod 644 "$W/open-key"
aicd_config '[license]' 'mode = license' "key_file = $W/open-key"
assert_ok "Reload" busctl --user call "$DT_NAME" "$DT_PATH" "$DT_IFACE" Reload
grep -q "$W/open-key.*readable by group or others" "$W/log/aicd.log" ||
    it_fail "no log line refusing the group-readable key file"
aicd_config '[license]' 'mode = license' "key_file = $C/license"
assert_ok "Reload" busctl --user call "$DT_NAME" "$DT_PATH" "$DT_IFACE" Reload

# Through aicctl: stdin, --file, a terminal-less pipe held open for a while
# (so the sampler sees aicctl waiting with the key on its way), bad keys.
"$A" license set <"$C/license-exp" >"$W/out/a1" 2>&1 || it_fail "aicctl license set from stdin: $(cat "$W/out/a1")"
"$A" license set --file "$C/license" >"$W/out/a2" 2>&1 || it_fail "aicctl license set --file: $(cat "$W/out/a2")"
mkfifo "$W/fifo"
"$A" license set <"$W/fifo" >"$W/out/a3" 2>&1 &
held=$!
exec 9>"$W/fifo"
sleep 0.3
cat "$C/license-exp" >&9
exec 9>&-
wait "$held" || it_fail "aicctl license set from a pipe: $(cat "$W/out/a3")"
for bad in license-badsig license-expired license-v3 jwt-none jwt-expired; do
    ! "$A" license set <"$C/$bad" >"$W/out/bad-$bad" 2>&1 || it_fail "aicctl license set took $bad"
done
! "$A" license set "$(printf 'x%.0s' $(seq 40)).not-a-real-key" >"$W/out/argv" 2>&1 ||
    it_fail "aicctl license set took a key from argv"
assert_ok "ClearCredential" busctl --user call "$DT_NAME" "$DT_PATH" "$DT_IFACE" ClearCredential
"$A" token set <"$C/jwt" >"$W/out/t1" 2>&1 || it_fail "aicctl token set from stdin: $(cat "$W/out/t1")"
"$A" token set --file "$C/jwt2" >"$W/out/t2" 2>&1 || it_fail "aicctl token set --file: $(cat "$W/out/t2")"
! "$A" token set <"$C/jwt-expired" >"$W/out/t3" 2>&1 || it_fail "aicctl token set took an expired token"
! "$A" token set <"$C/license" >"$W/out/t4" 2>&1 || it_fail "aicctl token set took a license key"
assert_eq "$(prop CredentialKind)" jwt "CredentialKind after aicctl token set"

# Through a D-Bus client reading its arguments from files.
gio call UpdateBearerToken --file "$C/jwt" >"$W/out/g1"
gio call UpdateBearerToken --file "$C/license" >"$W/out/g2"
gio call SetLicense --file "$C/license-v3" >"$W/out/g3"
gio call SetLicense --file "$C/license-exp" >"$W/out/g4"
assert_eq "$(cat "$W/out/g4")" "OK ()" "SetLicense from a file through Gio"

# Everything the daemon answers.
busctl --user introspect "$DT_NAME" "$DT_PATH" >"$W/out/introspect" 2>&1
busctl --user --json=short call "$DT_NAME" "$DT_PATH" org.freedesktop.DBus.Properties GetAll s "$DT_IFACE" \
    >"$W/out/getall" 2>&1
busctl --user --json=short call "$DT_NAME" "$DT_PATH" "$DT_IFACE" GetMetrics >"$W/out/metrics" 2>&1
gio getall >"$W/out/getall-gio"
"$A" status >"$W/out/status" 2>&1
"$A" status --json >"$W/out/status-json" 2>&1
"$A" metrics --json >"$W/out/metrics-json" 2>&1
"$A" input >"$W/out/input" 2>&1
aicd_stop
sleep 0.1
kill "$SAMPLER" 2>/dev/null || true
wait "$SAMPLER" 2>/dev/null || true

# The sampler must have seen at least the command held open on the pipe (the
# others may finish between two samples); otherwise it proves nothing.
for seen in "$A license set\$"; do
    grep -q "$seen" "$W/cmdlines.txt" || it_fail "the command-line sampler never saw '$seen' running"
done
assert_no_secrets "a process's command line" "$W/cmdlines.txt"
assert_no_secrets "a log" "$W"/log/*.log
assert_no_secrets "a reply or aicctl's output" "$W"/out/*
assert_no_secrets "a D-Bus signal" "$W/signals.jsonl"
mapfile -t written < <(find "$XDG_STATE_HOME" "$XDG_DATA_HOME" "$XDG_CACHE_HOME" "$XDG_RUNTIME_DIR" -type f 2>/dev/null)
assert_no_secrets "a file aicd wrote" "${written[@]}"
it_log "PASS"
