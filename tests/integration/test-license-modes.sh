#!/usr/bin/env bash
# The untrusted-desktop modes. token-url: aicd gets its tokens from the
# organisation's token service with the bearer from token_auth_file (no
# license on the desktop) and refreshes them before they expire. push: tokens
# arrive over D-Bus only; the first one starts enhancement, CredentialExpiring
# comes refresh_margin_s before expiry, an unrefreshed token expires
# (`expired`, EnhancementStopped), and a pushed one restores enhancement in
# place. `aicctl token mint`, the backend-side helper, mints what gets
# pushed. A license key set over D-Bus cannot then be replaced by a token.
# Usage: test-license-modes.sh AICD AICCTL
set -eu
. "$(dirname "$0")/test-dbus-common.sh"
. "$(dirname "$0")/../backend/backend.sh"

dt_setup --mic fake_mic
bk_init
bk_start
cat "$BK_DIR/org-token" >>"$DT_CREDS/secrets.txt"

# token-url, 12 s tokens: refreshed 7 s into their life.
bk_ctl '{"token_ttl": 12}'
lic_config token-url "token_url = $BK_URL/org/token" "token_auth_file = $BK_DIR/org-token"
monitor_start
aicd_start
wait_state enhancing || it_fail "token-url mode does not enhance"
assert_eq "$(prop CredentialKind)" jwt "CredentialKind in token-url mode"
assert_eq "$(bk_stat ok.tokens)" 0 "license-based mints in token-url mode"
bk_wait_stat ok.org 3 20 || it_fail "token-url tokens were not refreshed"
assert_eq "$(prop State)" enhancing "State across token-url refreshes"
assert_eq "$(grep -c 'Credential set (jwt)' "$PW_ENV_DIR/log/aicd.log")" 1 "processors created for tokens"
assert_eq "$(signals_named EnhancementStopped)" "" "EnhancementStopped in token-url mode"
aicd_stop

# push.
lic_config push
aicd_start
wait_state unlicensed || it_fail "push mode enhances without a token"
grep -q "Waiting for a token over D-Bus" "$PW_ENV_DIR/log/aicd.log" || it_fail "no log line about waiting for a token"
bk_jwt user_p --ttl 8 >"$PW_ENV_DIR/short.jwt"
bk_jwt user_p --ttl 600 >"$PW_ENV_DIR/long.jwt"
cat "$PW_ENV_DIR"/*.jwt >>"$DT_CREDS/secrets.txt"
signals_mark
out=$(gio call UpdateBearerToken --file "$PW_ENV_DIR/short.jwt")
assert_eq "$out" "OK ()" "the first pushed token"
wait_state enhancing || it_fail "a pushed token does not enhance"
exp=$(prop CredentialExpiresAt)
_expiring_seen() { signals_since | grep -F '"member": "CredentialExpiring"' | grep -q -F "[$exp]"; }
_it_until 8 "CredentialExpiring($exp)" _expiring_seen || it_fail "no CredentialExpiring before the token expired"
assert_num "$(date +%s)" '<' "$exp" "time of CredentialExpiring"
wait_state expired 10 || it_fail "the pushed token expired but State did not say so"
wait_signal EnhancementStopped expired || it_fail "no EnhancementStopped(\"expired\")"
out=$(gio call UpdateBearerToken --file "$PW_ENV_DIR/long.jwt")
assert_eq "$out" "OK ()" "a fresh pushed token"
wait_state enhancing || it_fail "a fresh pushed token does not restore enhancement"
assert_eq "$(grep -c 'Credential set (jwt)' "$PW_ENV_DIR/log/aicd.log")" 2 "processors created for pushed tokens (one per daemon)"

# aicctl token mint: the organisation's backend mints from the license
# (never on the desktop) and pushes the result.
lic=$(bk_license user_q)
minted=$(AIC_SDK_LICENSE=$(cat "$lic") "$AICCTL" token mint --endpoint "$BK_URL/v1/sdk/tokens" \
    --ca-file "$BK_DIR/ca.pem") || it_fail "aicctl token mint failed"
printf '%s\n' "$minted" >>"$DT_CREDS/secrets.txt"
"$IT_PYTHON" -c 'import json, sys; o = json.loads(sys.argv[1]); assert set(o) == {"token", "expires_at"}
assert isinstance(o["expires_at"], int); open(sys.argv[2], "w").write(o["token"])' "$minted" "$PW_ENV_DIR/minted.jwt" ||
    it_fail "aicctl token mint printed something else than {token, expires_at}"
chmod 600 "$PW_ENV_DIR/minted.jwt"
out=$(gio call UpdateBearerToken --file "$PW_ENV_DIR/minted.jwt")
assert_eq "$out" "OK ()" "pushing a token from aicctl token mint"
assert_eq "$(prop State)" enhancing "State with the minted token"
rc=0
err=$("$AICCTL" token mint --endpoint "$BK_URL/v1/sdk/tokens" --ca-file "$BK_DIR/ca.pem" 2>&1 >/dev/null) || rc=$?
assert_eq "$rc" 1 "aicctl token mint without \$AIC_SDK_LICENSE"
case $err in *AIC_SDK_LICENSE*) ;; *) it_fail "unclear error without \$AIC_SDK_LICENSE: $err" ;; esac
rc=0
AIC_SDK_LICENSE=$(cat "$lic") "$AICCTL" token mint --endpoint "$BK_URL/v1/sdk/tokens" >/dev/null 2>&1 || rc=$?
assert_eq "$rc" 1 "aicctl token mint against an untrusted certificate"
rc=0
AIC_SDK_LICENSE=$(cat "$lic") "$AICCTL" token mint --endpoint "http://127.0.0.1:$BK_PORT/v1/sdk/tokens" \
    >/dev/null 2>&1 || rc=$?
assert_eq "$rc" 2 "aicctl token mint with a plain http:// endpoint"
bk_ctl '{"revoke": "user_q"}'
rc=0
err=$(AIC_SDK_LICENSE=$(cat "$lic") "$AICCTL" token mint --endpoint "$BK_URL/v1/sdk/tokens" \
    --ca-file "$BK_DIR/ca.pem" 2>&1 >/dev/null) || rc=$?
assert_eq "$rc" 1 "aicctl token mint with a revoked key"
case $err in *"refused"*) ;; *) it_fail "unclear error for a revoked key: $err" ;; esac

# A license set over D-Bus is not replaced by a token.
out=$(gio call SetLicense --file "$(bk_license user_p)")
assert_eq "$out" "OK ()" "SetLicense in push mode"
wait_state enhancing || it_fail "a license set over D-Bus does not enhance"
assert_eq "$(prop CredentialKind)" license "CredentialKind after SetLicense"
out=$(gio call UpdateBearerToken --file "$PW_ENV_DIR/long.jwt")
assert_eq "$out" "ERR org.aicd.Error.TokenUpdateUnsupported" "UpdateBearerToken on a license"
assert_eq "$(prop CredentialKind)" license "CredentialKind after a refused token"

assert_alive
aicd_stop
assert_no_secrets "logs and signals" "$PW_ENV_DIR/log/aicd.log" "$PW_ENV_DIR/signals.jsonl"
it_log "PASS"
