#!/usr/bin/env bash
# Licensing with a plain license key against the real HTTPS test backend:
# the key from key_file enhances once the backend authorizes it, usage is
# reported, metrics go out over OTLP with only the api_key's SHA-256;
# UpdateBearerToken on a license is refused (TokenUpdateUnsupported) and the
# license keeps working; Reload keeps it without a gap; a key file others
# can read is refused; the key may come from $AIC_SDK_LICENSE; DO_NOT_TRACK
# turns the export off. No secret shows up in a log, property or signal.
# Usage: test-license-key.sh AICD AICCTL
set -eu
. "$(dirname "$0")/test-dbus-common.sh"
. "$(dirname "$0")/../backend/backend.sh"
command -v sox >/dev/null || it_skip "sox is not installed"

dt_setup --mic fake_mic
bk_init
bk_start
key=$(bk_license user_a)
make_test_wav "$PW_ENV_DIR/in.wav" 3 || it_fail "sox could not make the test signal"
lic_config license "key_file = $key" "backend_url = $BK_URL/" "" "[telemetry]" "otlp_endpoint = $BK_URL"
monitor_start
aicd_start

wait_state enhancing || it_fail "a valid, authorized license key does not enhance"
assert_eq "$(prop CredentialKind)" license "CredentialKind"
assert_eq "$(prop CredentialExpiresAt)" 0 "CredentialExpiresAt of a key without exp"
assert_num "$(metric license.authorizations)" '>=' 1 "license.authorizations"
assert_num "$(bk_stat ok.authorize)" '>=' 1 "authorizations the backend granted"

record_start aicd_clean_mic "$PW_ENV_DIR/rec.wav" || it_fail "recorder did not link"
play_into_mic "$PW_ENV_DIR/in.wav" fake_mic || it_fail "could not feed the fake mic"
play_wait || it_fail "the player did not finish"
wait_metric audio.processed 2 || it_fail "audio was not enhanced"
assert_eq "$(prop State)" enhancing "State while recording"
assert_num "$(metric usage.disallowed)" '==' 0 "usage.disallowed"

# Usage reports: the contract's fields only, the seconds add up.
bk_wait_stat ok.usage 2 || it_fail "no usage reports"
_usage_covers() {
    awk -v a="$(bk_stat usage_sums.seconds_processed)" 'BEGIN { exit !(a >= 2) }'
}
_it_until 10 "usage reports to cover the enhanced audio" _usage_covers || it_fail "usage reports miss enhanced seconds"

# OTLP: service aicd, api.key is the SHA-256 of the api_key, every metric.
bk_wait_stat ok.metrics 1 || it_fail "no OTLP export"
api_key=$("$IT_PYTHON" "$BK_SERVER" api-key "$BK_DIR" user_a)
want=$(printf '%s' "$api_key" | sha256sum | cut -d' ' -f1)
otlp=$(bk_stat metrics_last)
"$IT_PYTHON" - "$otlp" "$want" <<'EOF' || it_fail "the OTLP export is not as specified"
import json, sys
body, want = json.loads(sys.argv[1]), sys.argv[2]
rm = body["resourceMetrics"][0]
attrs = {a["key"]: a["value"]["stringValue"] for a in rm["resource"]["attributes"]}
assert attrs["service.name"] == "aicd", attrs
assert attrs["api.key"] == want, "api.key is not the SHA-256 of the api_key"
names = {m["name"] for m in rm["scopeMetrics"][0]["metrics"]}
need = {"audio.processed", "processor.bypass", "usage.disallowed", "processor.frames", "processor.xruns",
        "processor.rtf", "processor.process_time_max_us", "token.refreshes", "token.refresh_failures",
        "license.authorizations", "license.authorization_failures"}
assert need <= names, need - names
EOF

# (5) A token cannot replace a license key: refused, and nothing changes.
jwt=$(bk_jwt user_a --ttl 600)
echo "$jwt" >>"$DT_CREDS/secrets.txt"
expect_error org.aicd.Error.TokenUpdateUnsupported "UpdateBearerToken on a license" \
    "$DT_IFACE.UpdateBearerToken" "string:$jwt"
assert_eq "$(prop CredentialKind)" license "CredentialKind after a refused token"
before=$(metric audio.processed)
play_into_mic "$PW_ENV_DIR/in.wav" fake_mic || it_fail "could not feed the fake mic"
play_wait || it_fail "the player did not finish"
wait_metric audio.processed "$(awk -v b="$before" 'BEGIN { print b + 2 }')" ||
    it_fail "the license stopped working after a refused token"
assert_eq "$(prop State)" enhancing "State after a refused token"
record_stop "$REC_PID" || it_fail "recorder did not stop"

# Reload with the same settings keeps the key, its processor and its
# authorization: no gap.
out=$(gio call Reload)
assert_eq "$out" "OK ()" "Reload"
assert_eq "$(prop State)" enhancing "State right after Reload"
assert_eq "$(grep -c 'Credential set (license)' "$PW_ENV_DIR/log/aicd.log")" 1 "processors created for the key"

assert_eq "$(signals_named EnhancementStopped)" "" "EnhancementStopped while licensed"
assert_eq "$(bk_stat violations)" "[]" "what the backend saw"
assert_alive
aicd_stop

# A key file others can read is refused: unlicensed, and the log says why.
chmod 644 "$key"
aicd_start
wait_state unlicensed || it_fail "a world-readable key file was accepted"
grep -q "readable by group or others" "$PW_ENV_DIR/log/aicd.log" || it_fail "no clear error for the key file's mode"
aicd_stop
chmod 600 "$key"

# The key from $AIC_SDK_LICENSE instead of a file; DO_NOT_TRACK=1: no
# export at all.
lic_config license "backend_url = $BK_URL" "" "[telemetry]" "otlp_endpoint = $BK_URL"
n=$(bk_stat ok.metrics)
AIC_SDK_LICENSE=$(cat "$key") DO_NOT_TRACK=1 aicd_start
wait_state enhancing || it_fail "no enhancing with the key from \$AIC_SDK_LICENSE"
assert_eq "$(prop CredentialKind)" license "CredentialKind with the key from \$AIC_SDK_LICENSE"
bk_wait_stat counts.usage "$(($(bk_stat counts.usage) + 2))" || it_fail "usage reports stopped"
assert_eq "$(bk_stat ok.metrics)" "$n" "OTLP exports with DO_NOT_TRACK=1"
aicd_stop

assert_no_secrets "logs and signals" "$PW_ENV_DIR/log/aicd.log" "$PW_ENV_DIR/signals.jsonl"
it_log "PASS"
