#!/usr/bin/env bash
# The backend decides: a license key authorized for 6 s at a time (renewed
# half-way). Revoking the key makes aicd `disallowed` at the next renewal:
# EnhancementStopped("disallowed"), the input passes through bit for bit with
# the delay kept, usage.disallowed and license.authorization_failures grow;
# lifting the revocation brings enhancement back by itself. A dead backend is
# ridden out until valid_until, then `disallowed`, and enhancing again once
# it answers. Usage reports failing for longer than the grace period (8 s
# here through AICD_TEST_USAGE_GRACE_S, a test-only override of 300 s) also
# stop enhancement, until a report goes through.
# Usage: test-license-revoked.sh AICD AICCTL
set -eu
. "$(dirname "$0")/test-dbus-common.sh"
. "$(dirname "$0")/../backend/backend.sh"
command -v sox >/dev/null || it_skip "sox is not installed"

dt_setup --mic fake_mic
bk_init
bk_start
bk_ctl '{"auth_ttl": 6}'
key=$(bk_license user_r)
make_test_wav "$PW_ENV_DIR/in.wav" 3 || it_fail "sox could not make the test signal"
lic_config license "key_file = $key" "backend_url = $BK_URL"
monitor_start
AICD_TEST_USAGE_GRACE_S=8 aicd_start
wait_state enhancing || it_fail "an authorized license does not enhance"
record_start aicd_clean_mic "$PW_ENV_DIR/rec.wav" || it_fail "recorder did not link"
rec=$REC_PID

# Revoked.
f0=$(metric license.authorization_failures)
bk_ctl '{"revoke": "user_r"}'
wait_state disallowed 10 || it_fail "a revoked key still enhances"
wait_signal EnhancementStopped disallowed || it_fail "no EnhancementStopped(\"disallowed\")"
assert_num "$(metric license.authorization_failures)" '>' "$f0" "license.authorization_failures"
grep -q "refused this credential" "$PW_ENV_DIR/log/aicd.log" || it_fail "no clear log line for the revocation"
bypass_exact revoked
assert_num "$(metric usage.disallowed)" '>=' 2 "usage.disallowed while revoked"
assert_eq "$(prop CredentialKind)" license "CredentialKind while revoked (the key stays)"

bk_ctl '{"unrevoke": "user_r"}'
wait_state enhancing 12 || it_fail "enhancement did not come back after the revocation was lifted"

# The backend dies: the last authorization holds until valid_until.
a0=$(metric license.authorizations)
bk_stop
sleep 1
assert_eq "$(prop State)" enhancing "State 1 s into an outage"
wait_state disallowed 10 || it_fail "still enhancing long after valid_until without the backend"
bk_start
wait_state enhancing 12 || it_fail "enhancement did not come back with the backend"
assert_num "$(metric license.authorizations)" '>' "$a0" "license.authorizations after the outage"

# Usage reports fail for longer than the grace period.
bk_fail usage 500
wait_state disallowed 20 || it_fail "usage reports failing beyond the grace period did not stop enhancement"
grep -q "Usage reports have failed for more than 8 s" "$PW_ENV_DIR/log/aicd.log" || it_fail "no clear log line for the usage rule"
bk_ctl '{"clear": true}'
wait_state enhancing 12 || it_fail "enhancement did not come back once usage reports went through"
before=$(metric audio.processed)
play_into_mic "$PW_ENV_DIR/in.wav" fake_mic || it_fail "could not feed the fake mic"
play_wait || it_fail "the player did not finish"
wait_metric audio.processed "$(awk -v b="$before" 'BEGIN { print b + 2 }')" || it_fail "not enhancing at the end"
record_stop "$rec" || it_fail "recorder did not stop"

assert_eq "$(bk_stat violations)" "[]" "what the backend saw"
assert_alive
aicd_stop
assert_no_secrets "logs and signals" "$PW_ENV_DIR/log/aicd.log" "$PW_ENV_DIR/signals.jsonl"
it_log "PASS"
