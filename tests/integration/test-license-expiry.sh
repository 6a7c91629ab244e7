#!/usr/bin/env bash
# A token that cannot be refreshed runs out: mint mode with 12 s tokens, and
# from the first refresh on the token endpoint answers 500. aicd retries with
# backoff until the token expires; then State is `expired`, EnhancementStopped
# says so, the Clean Mic passes the input through bit for bit with the delay
# kept, and usage.disallowed grows. Once the endpoint works again a fresh
# token restores enhancement by itself.
# Usage: test-license-expiry.sh AICD AICCTL
set -eu
. "$(dirname "$0")/test-dbus-common.sh"
. "$(dirname "$0")/../backend/backend.sh"
command -v sox >/dev/null || it_skip "sox is not installed"

dt_setup --mic fake_mic
bk_init
bk_start
bk_ctl '{"token_ttl": 12}'
key=$(bk_license user_e)
make_test_wav "$PW_ENV_DIR/in.wav" 3 || it_fail "sox could not make the test signal"
lic_config mint "key_file = $key" "token_url = $BK_URL/v1/sdk/tokens"
monitor_start
aicd_start
wait_state enhancing || it_fail "mint mode does not enhance"
exp=$(prop CredentialExpiresAt)

# Recorded all along, so blocks flow and the gate is exercised.
record_start aicd_clean_mic "$PW_ENV_DIR/rec.wav" || it_fail "recorder did not link"
rec=$REC_PID
bk_fail tokens 500
wait_state expired 20 || it_fail "the token ran out but State did not say so"
assert_num "$(date +%s)" '>=' "$exp" "time of expiry"
assert_num "$(metric token.refresh_failures)" '>=' 2 "token.refresh_failures (retries before expiry)"
assert_num "$(bk_stat failed.tokens)" '>=' 2 "refresh attempts the backend saw"
wait_signal EnhancementStopped expired || it_fail "no EnhancementStopped(\"expired\")"

bypass_exact expired
d0=$(metric usage.disallowed)
assert_num "$d0" '>=' 2 "usage.disallowed while expired"
assert_eq "$(prop State)" expired "State while the endpoint still fails"

# The backend recovers: a fresh token within the retry cap, enhancing again.
bk_ctl '{"clear": true}'
wait_state enhancing 15 || it_fail "enhancement did not come back with the backend"
assert_num "$(prop CredentialExpiresAt)" '>' "$(date +%s)" "CredentialExpiresAt after recovery"
assert_eq "$(grep -c 'Credential set (jwt)' "$PW_ENV_DIR/log/aicd.log")" 1 "processors created for tokens"
d1=$(metric usage.disallowed)
before=$(metric audio.processed)
play_into_mic "$PW_ENV_DIR/in.wav" fake_mic || it_fail "could not feed the fake mic"
play_wait || it_fail "the player did not finish"
wait_metric audio.processed "$(awk -v b="$before" 'BEGIN { print b + 2 }')" || it_fail "not enhancing after recovery"
assert_num "$(metric usage.disallowed)" '<' "$(awk -v b="$d1" 'BEGIN { print b + 0.5 }')" "usage.disallowed after recovery"
record_stop "$rec" || it_fail "recorder did not stop"

assert_alive
aicd_stop
assert_no_secrets "logs and signals" "$PW_ENV_DIR/log/aicd.log" "$PW_ENV_DIR/signals.jsonl"
it_log "PASS"
