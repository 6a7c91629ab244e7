#!/usr/bin/env bash
# The backend is down when aicd starts. In mint mode there is no token yet,
# in license mode no authorization: State is `unlicensed`, the Clean Mic is
# there and passes the input through bit for bit with the delay kept, the
# daemon keeps retrying (with backoff, D-Bus answering all along), and
# enhances by itself once the backend is up.
# Usage: test-license-startup.sh AICD AICCTL
set -eu
. "$(dirname "$0")/test-dbus-common.sh"
. "$(dirname "$0")/../backend/backend.sh"
command -v sox >/dev/null || it_skip "sox is not installed"

dt_setup --mic fake_mic
bk_init
key=$(bk_license user_s)
make_test_wav "$PW_ENV_DIR/in.wav" 3 || it_fail "sox could not make the test signal"

# Mint mode, nobody listening on the token endpoint's port.
lic_config mint "key_file = $key" "token_url = $BK_URL/v1/sdk/tokens" "backend_url = $BK_URL"
monitor_start
aicd_start
wait_state unlicensed || it_fail "no State unlicensed without a token"
wait_metric token.refresh_failures 2 || it_fail "no retries while the backend is down"
grep -q "Failed to obtain a token from $BK_URL/v1/sdk/tokens: the connection was refused" \
    "$PW_ENV_DIR/log/aicd.log" || it_fail "no clear log line for the dead token endpoint"
assert_eq "$(prop CredentialKind)" none "CredentialKind before the first token"
record_start aicd_clean_mic "$PW_ENV_DIR/rec.wav" || it_fail "recorder did not link"
rec=$REC_PID
bypass_exact no-token
assert_eq "$(prop State)" unlicensed "State while the backend is down"

bk_start
wait_state enhancing 15 || it_fail "no enhancement once the backend is up"
assert_eq "$(prop CredentialKind)" jwt "CredentialKind after the first token"
assert_num "$(metric license.authorizations)" '>=' 1 "license.authorizations"
before=$(metric audio.processed)
play_into_mic "$PW_ENV_DIR/in.wav" fake_mic || it_fail "could not feed the fake mic"
play_wait || it_fail "the player did not finish"
wait_metric audio.processed "$(awk -v b="$before" 'BEGIN { print b + 2 }')" || it_fail "not enhancing"
record_stop "$rec" || it_fail "recorder did not stop"
assert_eq "$(signals_named EnhancementStopped)" "" "EnhancementStopped"
aicd_stop

# License mode: the key is fine, the authorization is missing.
bk_stop
lic_config license "key_file = $key" "backend_url = $BK_URL"
aicd_start
wait_state unlicensed || it_fail "enhancing before the backend authorized the key"
assert_eq "$(prop CredentialKind)" license "CredentialKind"
wait_metric license.authorization_failures 2 || it_fail "no authorization retries while the backend is down"
bk_start
wait_state enhancing 15 || it_fail "no enhancement once the backend authorized the key"

assert_alive
aicd_stop
assert_no_secrets "logs and signals" "$PW_ENV_DIR/log/aicd.log" "$PW_ENV_DIR/signals.jsonl"
it_log "PASS"
