#!/usr/bin/env bash
# Everything that can go wrong on the wire or over D-Bus, while aicd
# enhances with a minted token: the token endpoint and the authorization
# answer with errors, 429, nothing, slow or endless bodies, huge, malformed or
# mistyped JSON, the wrong content type, tokens that are forged or expired;
# D-Bus callers hand in garbage, forged, expired and unsupported credentials.
# Each time: one clear log line or D-Bus error, no crash, D-Bus keeps
# answering, the current credential survives and enhancement never stops.
# Usage: test-license-malformed.sh AICD AICCTL
set -eu
. "$(dirname "$0")/test-dbus-common.sh"
. "$(dirname "$0")/../backend/backend.sh"

dt_setup --mic fake_mic
bk_init
bk_start
bk_ctl '{"token_ttl": 120, "auth_ttl": 6}'
key=$(bk_license user_w)
lic_config mint "key_file = $key" "token_url = $BK_URL/v1/sdk/tokens" "backend_url = $BK_URL"
monitor_start
aicd_start
wait_state enhancing || it_fail "mint mode does not enhance"
record_start aicd_clean_mic "$PW_ENV_DIR/rec.wav" || it_fail "recorder did not link"
rec=$REC_PID

log_has() { grep -c -F -- "$1" "$PW_ENV_DIR/log/aicd.log" || true; }

# still_fine WHAT: enhancing with a token, alive, and D-Bus answers at once.
still_fine() {
    local t0=${EPOCHREALTIME/./} t1
    assert_eq "$(prop State)" enhancing "State after $1"
    t1=${EPOCHREALTIME/./}
    assert_num "$(((t1 - t0) / 1000))" '<' 1000 "ms for a property read after $1"
    assert_eq "$(prop CredentialKind)" jwt "CredentialKind after $1"
    assert_alive
}

# The token endpoint fails once in each way; SetLicense with the same key
# makes aicd mint at once; it retries and gets a good token.
for spec in "500|HTTP status 500" "503|HTTP status 503" "429|HTTP status 429" "404|HTTP status 404" \
    "401|The token service refused" "timeout|the request timed out" "slow|the request timed out" \
    "endless|larger than 64 KiB" "huge|larger than 64 KiB" "malformed|not a JSON object" \
    "empty|not a JSON object" "content-type|not application/json" \
    "wrong-types|lacks a field or has one of the wrong type" "reset|the connection broke" \
    "bad-token|not valid (LICENSE_FORMAT_INVALID)" "expired-token|not valid (LICENSE_EXPIRED)"; do
    mode=${spec%%|*} msg=${spec#*|}
    seen=$(log_has "$msg") ok=$(bk_stat ok.tokens) failed=$(bk_stat failed.tokens)
    bk_fail tokens "$mode" 1
    out=$(gio call SetLicense --file "$key")
    assert_eq "$out" "OK ()" "SetLicense (same key) in mint mode"
    bk_wait_stat failed.tokens $((failed + 1)) 5 || it_fail "[$mode] the token endpoint was not asked"
    if [ "$mode" = timeout ] || [ "$mode" = slow ]; then
        sleep 1
        still_fine "a hanging token endpoint ($mode)"
    fi
    bk_wait_stat ok.tokens $((ok + 1)) 20 || it_fail "[$mode] no good token after the failure"
    assert_num "$(log_has "$msg")" '>' "$seen" "[$mode] log lines saying '$msg'"
    still_fine "token endpoint failure '$mode'"
    it_log "[tokens/$mode] '$msg', recovered"
done
assert_num "$(metric token.refresh_failures)" '>=' 16 "token.refresh_failures"

# The authorization fails once in each way at a renewal; the last yes holds.
for spec in "500|HTTP status 500" "429|HTTP status 429" "malformed|not a JSON object" \
    "content-type|not application/json" "wrong-types|lacks a field or has one of the wrong type" \
    "huge|larger than 64 KiB" "endless|larger than 64 KiB" "empty|not a JSON object" \
    "reset|the connection broke" "past|valid_until lies in the past"; do
    mode=${spec%%|*} msg=${spec#*|}
    seen=$(log_has "$msg") ok=$(bk_stat ok.authorize) failed=$(bk_stat failed.authorize)
    bk_fail authorize "$mode" 1
    bk_wait_stat failed.authorize $((failed + 1)) 10 || it_fail "[$mode] no authorization renewal"
    bk_wait_stat ok.authorize $((ok + 1)) 10 || it_fail "[$mode] no authorization after the failure"
    assert_num "$(log_has "$msg")" '>' "$seen" "[$mode] log lines saying '$msg'"
    still_fine "authorization failure '$mode'"
    it_log "[authorize/$mode] '$msg', recovered"
done
assert_num "$(metric license.authorization_failures)" '>=' 10 "license.authorization_failures"

# Usage reports that fail briefly change nothing.
bk_fail usage content-type 2
bk_wait_stat failed.usage 2 10 || it_fail "no usage reports"
bk_wait_stat ok.usage "$(($(bk_stat ok.usage) + 1))" 10 || it_fail "usage reports did not resume"
still_fine "failed usage reports"

# D-Bus: malformed, forged, expired and unsupported credentials are refused
# with their error and change nothing.
printf 'not a license key\n' >"$PW_ENV_DIR/garbage"
(umask 077 && "$IT_PYTHON" "$BK_SERVER" license "$BK_DIR" user_w --version 3 >"$PW_ENV_DIR/v3.key")
(umask 077 && "$IT_PYTHON" "$BK_SERVER" license "$BK_DIR" user_w --unsigned >"$PW_ENV_DIR/forged.key")
bk_jwt user_w --other-key >"$PW_ENV_DIR/forged.jwt"
bk_jwt user_w --exp $(($(date +%s) - 10)) --iat $(($(date +%s) - 70)) >"$PW_ENV_DIR/expired.jwt"
bk_jwt user_w --ttl 300 >"$PW_ENV_DIR/good.jwt"
cat "$PW_ENV_DIR"/v3.key "$PW_ENV_DIR"/forged.key "$PW_ENV_DIR"/*.jwt >>"$DT_CREDS/secrets.txt"
for spec in "SetLicense|garbage|LicenseFormatInvalid" "SetLicense|v3.key|LicenseVersionUnsupported" \
    "SetLicense|forged.key|LicenseFormatInvalid" "UpdateBearerToken|forged.jwt|LicenseFormatInvalid" \
    "UpdateBearerToken|expired.jwt|LicenseExpired" "UpdateBearerToken|license-user_w.key|TokenUpdateUnsupported" \
    "UpdateBearerToken|garbage|LicenseFormatInvalid"; do
    IFS='|' read -r method file err <<<"$spec"
    exp=$(prop CredentialExpiresAt)
    out=$(gio call "$method" --file "$PW_ENV_DIR/$file")
    assert_eq "$out" "ERR org.aicd.Error.$err" "$method($file)"
    assert_eq "$(prop CredentialExpiresAt)" "$exp" "CredentialExpiresAt after $method($file)"
    still_fine "$method($file)"
done
# A good token pushed over D-Bus replaces the minted one in place.
out=$(gio call UpdateBearerToken --file "$PW_ENV_DIR/good.jwt")
assert_eq "$out" "OK ()" "UpdateBearerToken(a valid JWT)"
still_fine "UpdateBearerToken(a valid JWT)"
assert_eq "$(grep -c 'Credential set (jwt)' "$PW_ENV_DIR/log/aicd.log")" 1 "processors created for tokens"

record_stop "$rec" || it_fail "recorder did not stop"
assert_eq "$(signals_named EnhancementStopped)" "" "EnhancementStopped"
assert_eq "$(bk_stat violations)" "[]" "what the backend saw"
aicd_stop
assert_no_secrets "logs and signals" "$PW_ENV_DIR/log/aicd.log" "$PW_ENV_DIR/signals.jsonl"
it_log "PASS"
