#!/usr/bin/env bash
# org.aicd.Aicd1 and aicctl against the real aicd on a private session bus
# and a headless PipeWire graph: the interface matches its XML, every
# property and method answers through busctl, dbus-send, Gio and aicctl,
# every error has its CONTRACT.md name (wrong types, out-of-range values,
# empty and 1 MiB strings, bad credentials), PropertiesChanged carries what
# changed, and aicctl keeps its exit codes and messages, with or without a
# daemon. Usage: test-dbus.sh AICD AICCTL. Exit 0 pass, 1 fail, 77 skip.
set -eu
. "$(dirname "$0")/test-dbus-common.sh"

dt_setup --mic fake_mic
W=$PW_ENV_DIR
C=$DT_CREDS
aicd_config '[license]' 'refresh_margin_s = 2'
aicd_start
monitor_start

# ---- the interface: introspection is what the XML documents
busctl --user introspect --xml-interface "$DT_NAME" "$DT_PATH" >"$W/introspect.xml" ||
    it_fail "Introspect failed"
"$IT_PYTHON" - "$DT_XML" "$W/introspect.xml" <<'EOF' || it_fail "the live interface differs from org.aicd.Aicd1.xml"
import sys, xml.etree.ElementTree as ET
def members(path):
    iface = [i for i in ET.parse(path).getroot().iter("interface") if i.get("name") == "org.aicd.Aicd1"][0]
    out = set()
    for e in iface:
        if e.tag == "property":
            out.add(("property", e.get("name"), e.get("type"), e.get("access")))
        elif e.tag in ("method", "signal"):
            args = tuple((a.get("name"), a.get("type"), a.get("direction", "out" if e.tag == "signal" else "in"))
                         for a in e.iter("arg"))
            out.add((e.tag, e.get("name"), args))
    return out
want, got = members(sys.argv[1]), members(sys.argv[2])
for m in sorted(want ^ got, key=str):
    print(("missing: " if m in want else "extra: ") + str(m), file=sys.stderr)
sys.exit(want != got)
EOF
for i in org.freedesktop.DBus.Properties org.freedesktop.DBus.Introspectable org.freedesktop.DBus.Peer; do
    grep -q "interface name=\"$i\"" "$W/introspect.xml" || it_fail "$i is not offered"
done

# ---- read-only properties: types and values
for p in State:s Model:s SampleRate:u LatencyUsec:t CredentialKind:s CredentialExpiresAt:t InputNode:s \
    SourceNode:s Bypass:b EnhancementLevel:d InputTarget:s; do
    assert_eq "$(prop_type "${p%%:*}")" "${p#*:}" "type of ${p%%:*}"
done
assert_eq "$(prop SourceNode)" aicd_clean_mic SourceNode
assert_eq "$(prop SampleRate)" 48000 SampleRate
assert_eq "$(prop Model)" tiny Model
assert_eq "$(prop CredentialKind)" none CredentialKind
assert_eq "$(prop CredentialExpiresAt)" 0 CredentialExpiresAt
assert_eq "$(prop Bypass)" false Bypass
assert_eq "$(prop EnhancementLevel)" 1 EnhancementLevel
assert_eq "$(prop InputTarget)" "" InputTarget
wait_state enhancing || it_fail "aicd did not reach State enhancing"
gio getall >"$W/getall.json" || it_fail "GetAll through Gio failed"
"$IT_PYTHON" -c 'import json, sys; d = json.load(open(sys.argv[1])); sys.exit(len(d) != 11)' "$W/getall.json" ||
    it_fail "GetAll does not hold exactly the 11 properties: $(cat "$W/getall.json")"
assert_ok "Peer.Ping" busctl --user call "$DT_NAME" "$DT_PATH" org.freedesktop.DBus.Peer Ping

# ---- writable properties through busctl, with PropertiesChanged
signals_mark
set_prop Bypass b true
assert_eq "$(prop Bypass)" true "Bypass after set"
set_prop EnhancementLevel d 0.25
assert_eq "$(prop EnhancementLevel)" 0.25 "EnhancementLevel after set"
set_prop InputTarget s fake_mic
assert_eq "$(prop InputTarget)" fake_mic "InputTarget after set"
set_prop InputTarget s ""
assert_eq "$(prop InputTarget)" "" "InputTarget follows the default again"
set_prop Bypass b false
set_prop EnhancementLevel d 1
sleep 0.3
signals_since >"$W/sig-settings.jsonl"
"$IT_PYTHON" - "$W/sig-settings.jsonl" <<'EOF' || it_fail "PropertiesChanged did not announce the settings"
import json, sys
seen = [json.loads(l) for l in open(sys.argv[1])]
pc = [s for s in seen if s["member"] == "PropertiesChanged"]
values = {}
for s in pc:
    for k, v in s["changed"].items():
        values.setdefault(k, []).append(v)
ok = (values.get("Bypass") == [True, False] and values.get("EnhancementLevel") == [0.25, 1.0]
      and values.get("InputTarget") == ["fake_mic", ""])
# Only what changed: no signal re-announces an unchanged credential.
ok = ok and "CredentialKind" not in values and "Model" not in values
if not ok:
    print("signals:", *seen, sep="\n", file=sys.stderr)
sys.exit(not ok)
EOF

# Setting the value it already has changes nothing and announces nothing.
signals_mark
set_prop Bypass b false
sleep 0.3
! signals_since | grep -q PropertiesChanged || it_fail "an unchanged Bypass was announced"

# ---- errors: wrong types (sd-bus refuses them before our code runs)
expect_set_error org.freedesktop.DBus.Error.InvalidArgs "EnhancementLevel as a string" EnhancementLevel variant:string:0.5
expect_set_error org.freedesktop.DBus.Error.InvalidArgs "Bypass as int32" Bypass variant:int32:1
expect_set_error org.freedesktop.DBus.Error.InvalidArgs "InputTarget as uint32" InputTarget variant:uint32:1
expect_error org.freedesktop.DBus.Error.InvalidArgs "SetLicense(int32)" "$DT_IFACE.SetLicense" int32:1
expect_error org.freedesktop.DBus.Error.InvalidArgs "SetLicense(s, s)" "$DT_IFACE.SetLicense" string:a string:b
expect_error org.freedesktop.DBus.Error.InvalidArgs "SetLicense()" "$DT_IFACE.SetLicense"
expect_error org.freedesktop.DBus.Error.InvalidArgs "UpdateBearerToken(uint64)" "$DT_IFACE.UpdateBearerToken" uint64:7
expect_error org.freedesktop.DBus.Error.InvalidArgs "ClearCredential(s)" "$DT_IFACE.ClearCredential" string:x
expect_error org.freedesktop.DBus.Error.InvalidArgs "GetMetrics(b)" "$DT_IFACE.GetMetrics" boolean:true
expect_error org.freedesktop.DBus.Error.InvalidArgs "Reload(s)" "$DT_IFACE.Reload" string:x
expect_error org.freedesktop.DBus.Error.UnknownMethod "an unknown method" "$DT_IFACE.Frobnicate"
expect_error org.freedesktop.DBus.Error.UnknownProperty "an unknown property" \
    org.freedesktop.DBus.Properties.Get "string:$DT_IFACE" string:Volume
for p in State:string:x Model:string:x SampleRate:uint32:8000 LatencyUsec:uint64:1 CredentialKind:string:jwt \
    CredentialExpiresAt:uint64:1 InputNode:string:x SourceNode:string:x; do
    expect_set_error org.freedesktop.DBus.Error.PropertyReadOnly "setting ${p%%:*}" "${p%%:*}" "variant:${p#*:}"
done

# ---- errors: values out of range
for v in 1.5 -0.1 1.0000001 nan inf -inf; do
    expect_set_error org.freedesktop.DBus.Error.InvalidArgs "EnhancementLevel $v" EnhancementLevel "variant:double:$v"
done
assert_eq "$(prop EnhancementLevel)" 1 "EnhancementLevel after refused values"
set_prop EnhancementLevel d 0
set_prop EnhancementLevel d 1
expect_set_error org.freedesktop.DBus.Error.InvalidArgs "InputTarget with a newline" InputTarget \
    "variant:string:$(printf 'a\nb')"
expect_set_error org.freedesktop.DBus.Error.InvalidArgs "InputTarget with a quote" InputTarget 'variant:string:a"b'
expect_set_error org.freedesktop.DBus.Error.InvalidArgs "InputTarget of 256 characters" InputTarget \
    "variant:string:$(printf 'n%.0s' $(seq 256))"
set_prop InputTarget s "$(printf 'n%.0s' $(seq 255))"
set_prop InputTarget s ""

# ---- errors: empty and 1 MiB strings (Gio: 1 MiB does not fit in an argv)
MIB=$((1024 * 1024))
assert_eq "$(gio call SetLicense --string '')" "ERR org.freedesktop.DBus.Error.InvalidArgs" "SetLicense('')"
assert_eq "$(gio call UpdateBearerToken --string '')" "ERR org.freedesktop.DBus.Error.InvalidArgs" \
    "UpdateBearerToken('')"
assert_eq "$(gio call SetLicense --bytes $MIB)" "ERR org.freedesktop.DBus.Error.InvalidArgs" "SetLicense(1 MiB)"
assert_eq "$(gio call UpdateBearerToken --bytes $MIB)" "ERR org.freedesktop.DBus.Error.InvalidArgs" \
    "UpdateBearerToken(1 MiB)"
assert_eq "$(gio set InputTarget s --bytes $MIB)" "ERR org.freedesktop.DBus.Error.InvalidArgs" "InputTarget = 1 MiB"
assert_eq "$(gio call SetLicense --bytes 16384)" "ERR org.aicd.Error.LicenseFormatInvalid" "SetLicense(16 KiB)"
assert_eq "$(gio call SetLicense --bytes 16385)" "ERR org.freedesktop.DBus.Error.InvalidArgs" "SetLicense(16 KiB + 1)"
assert_eq "$(prop InputTarget)" "" "InputTarget after refused values"
assert_eq "$(prop CredentialKind)" none "CredentialKind after refused credentials"

# ---- credentials: every error name, then valid ones
expect_error org.aicd.Error.LicenseFormatInvalid "a malformed license" "$DT_IFACE.SetLicense" string:not-a-key
expect_error org.aicd.Error.LicenseFormatInvalid "a license with a broken signature" "$DT_IFACE.SetLicense" \
    "string:$(cat "$C/license-badsig")"
expect_error org.aicd.Error.LicenseFormatInvalid "a JWT with alg none" "$DT_IFACE.SetLicense" \
    "string:$(cat "$C/jwt-none")"
expect_error org.aicd.Error.LicenseVersionUnsupported "a version 3 license" "$DT_IFACE.SetLicense" \
    "string:$(cat "$C/license-v3")"
expect_error org.aicd.Error.LicenseExpired "an expired license" "$DT_IFACE.SetLicense" \
    "string:$(cat "$C/license-expired")"
expect_error org.aicd.Error.LicenseExpired "an expired JWT" "$DT_IFACE.SetLicense" "string:$(cat "$C/jwt-expired")"
expect_error org.aicd.Error.TokenUpdateUnsupported "a token update without a JWT" "$DT_IFACE.UpdateBearerToken" \
    "string:$(cat "$C/jwt")"
assert_eq "$(prop CredentialKind)" none "CredentialKind after refused credentials"

signals_mark
assert_ok "SetLicense(license)" busctl --user call "$DT_NAME" "$DT_PATH" "$DT_IFACE" SetLicense s "$(cat "$C/license")"
assert_eq "$(prop CredentialKind)" license "CredentialKind with a license"
assert_eq "$(prop CredentialExpiresAt)" 0 "CredentialExpiresAt of a license without exp"
expect_error org.aicd.Error.TokenUpdateUnsupported "a token replacing a license" "$DT_IFACE.UpdateBearerToken" \
    "string:$(cat "$C/jwt")"
assert_ok "SetLicense(license with exp)" busctl --user call "$DT_NAME" "$DT_PATH" "$DT_IFACE" SetLicense s \
    "$(cat "$C/license-exp")"
assert_eq "$(prop CredentialExpiresAt)" "$(cred_exp license-exp)" "CredentialExpiresAt of a license with exp"
assert_ok "SetLicense(JWT)" busctl --user call "$DT_NAME" "$DT_PATH" "$DT_IFACE" SetLicense s "$(cat "$C/jwt")"
assert_eq "$(prop CredentialKind)" jwt "CredentialKind with a JWT"
assert_eq "$(prop CredentialExpiresAt)" "$(cred_exp jwt)" "CredentialExpiresAt of a JWT"
expect_error org.aicd.Error.TokenUpdateUnsupported "a license replacing a JWT by UpdateBearerToken" \
    "$DT_IFACE.UpdateBearerToken" "string:$(cat "$C/license")"
expect_error org.aicd.Error.LicenseFormatInvalid "a malformed token update" "$DT_IFACE.UpdateBearerToken" \
    string:a.b.c
expect_error org.aicd.Error.LicenseExpired "an expired token update" "$DT_IFACE.UpdateBearerToken" \
    "string:$(cat "$C/jwt-expired")"
assert_eq "$(prop CredentialExpiresAt)" "$(cred_exp jwt)" "CredentialExpiresAt after refused updates"
assert_eq "$(gio call UpdateBearerToken --file "$C/jwt2")" "OK ()" "UpdateBearerToken(jwt2) through Gio"
assert_eq "$(prop CredentialExpiresAt)" "$(cred_exp jwt2)" "CredentialExpiresAt after a token update"
assert_eq "$(prop State)" enhancing "State with a valid JWT"
assert_ok "ClearCredential" busctl --user call "$DT_NAME" "$DT_PATH" "$DT_IFACE" ClearCredential
assert_eq "$(prop CredentialKind)" none "CredentialKind after ClearCredential"
assert_eq "$(prop CredentialExpiresAt)" 0 "CredentialExpiresAt after ClearCredential"
sleep 0.3
signals_since >"$W/sig-cred.jsonl"
"$IT_PYTHON" - "$W/sig-cred.jsonl" "$(cred_exp jwt)" "$(cred_exp jwt2)" <<'EOF' ||
import json, sys
seen = [json.loads(l) for l in open(sys.argv[1])]
kinds, exps = [], []
for s in seen:
    if s["member"] == "PropertiesChanged":
        if "CredentialKind" in s["changed"]:
            kinds.append(s["changed"]["CredentialKind"])
        if "CredentialExpiresAt" in s["changed"]:
            exps.append(s["changed"]["CredentialExpiresAt"])
ok = kinds == ["license", "jwt", "none"] and exps[-3:] == [int(sys.argv[2]), int(sys.argv[3]), 0]
if not ok:
    print("kinds", kinds, "exps", exps, "signals:", *seen, sep="\n", file=sys.stderr)
sys.exit(not ok)
EOF
    it_fail "PropertiesChanged did not follow the credential"

# ---- GetMetrics: every CONTRACT.md metric with its type
busctl --user --json=short call "$DT_NAME" "$DT_PATH" "$DT_IFACE" GetMetrics >"$W/metrics.json" ||
    it_fail "GetMetrics failed"
"$IT_PYTHON" - "$W/metrics.json" <<'EOF' || it_fail "GetMetrics does not match CONTRACT.md"
import json, sys
d = json.load(open(sys.argv[1]))["data"][0]
want = {"audio.processed": "d", "processor.bypass": "d", "usage.disallowed": "d", "processor.frames": "t",
        "processor.xruns": "t", "processor.rtf": "d", "processor.process_time_max_us": "t",
        "token.refreshes": "t", "token.refresh_failures": "t", "license.authorizations": "t",
        "license.authorization_failures": "t"}
got = {k: v["type"] for k, v in d.items()}
# Every CONTRACT.md metric with its type; extra, documented keys may follow.
bad = {k: got.get(k) for k in want if got.get(k) != want[k]}
if bad:
    print("got", got, file=sys.stderr)
sys.exit(bool(bad))
EOF

# ---- Reload: a configured model that cannot be loaded is ModelInvalid
cp "$W/aicd.conf" "$W/aicd.conf.good"
printf 'not a model\n' >"$W/broken.aicm"
aicd_config '[license]' 'refresh_margin_s = 2'
sed -i "s|^model = .*|model = $W/broken.aicm|" "$W/aicd.conf"
expect_error org.aicd.Error.ModelInvalid "Reload with a broken model" "$DT_IFACE.Reload"
assert_eq "$(prop Model)" tiny "Model after a failed reload"
cp "$W/aicd.conf.good" "$W/aicd.conf"
assert_ok "Reload" busctl --user call "$DT_NAME" "$DT_PATH" "$DT_IFACE" Reload
assert_eq "$(prop Model)" tiny "Model after reload"

# ---- aicctl against the running daemon
A=$AICCTL
# run_aicctl EXPECTED_RC ARGS...: runs aicctl (stdin from $STDIN or
# /dev/null), output in $W/out and $W/err.
run_aicctl() {
    local want=$1 rc=0
    shift
    "$A" "$@" <"${STDIN:-/dev/null}" >"$W/out" 2>"$W/err" || rc=$?
    [ "$rc" = "$want" ] || it_fail "aicctl $*: exit $rc, expected $want; stderr: $(cat "$W/err")"
    if [ "$want" != 0 ]; then
        [ "$(wc -l <"$W/err")" = 1 ] || it_fail "aicctl $*: expected one line on stderr, got: $(cat "$W/err")"
        [ ! -s "$W/out" ] || it_fail "aicctl $*: failed but wrote to stdout: $(cat "$W/out")"
    fi
}
json_one_object() {
    [ "$(wc -l <"$W/out")" = 1 ] || it_fail "$1: --json printed more than one line"
    "$IT_PYTHON" -c 'import json, sys; d = json.load(open(sys.argv[1])); sys.exit(not isinstance(d, dict))' "$W/out" ||
        it_fail "$1: --json did not print one JSON object: $(cat "$W/out")"
}

run_aicctl 0 status
grep -q '^ *State: enhancing$' "$W/out" || it_fail "aicctl status: no State line: $(cat "$W/out")"
grep -q '^ *Clean Mic: aicd_clean_mic$' "$W/out" || it_fail "aicctl status: no Clean Mic line"
run_aicctl 0 status --json
json_one_object "aicctl status --json"
"$IT_PYTHON" - "$W/out" "$W/getall.json" <<'EOF' || it_fail "aicctl status --json disagrees with GetAll"
import json, sys
s = json.load(open(sys.argv[1]))
keys = {"state": "State", "model": "Model", "sample_rate": "SampleRate", "latency_usec": "LatencyUsec",
        "credential_kind": "CredentialKind", "credential_expires_at": "CredentialExpiresAt",
        "input_node": "InputNode", "source_node": "SourceNode", "bypass": "Bypass",
        "enhancement_level": "EnhancementLevel", "input_target": "InputTarget"}
g = json.load(open(sys.argv[2]))
bad = set(s) != set(keys) or any(s[k] != g[p] for k, p in keys.items() if p not in ("LatencyUsec", "InputNode", "State"))
if bad:
    print(s, g, sep="\n", file=sys.stderr)
sys.exit(bad)
EOF
run_aicctl 0 metrics
grep -q '^audio.processed ' "$W/out" || it_fail "aicctl metrics: no audio.processed line"
[ "$(wc -l <"$W/out")" = 14 ] || it_fail "aicctl metrics: expected 14 lines: $(cat "$W/out")"
run_aicctl 0 metrics --json
json_one_object "aicctl metrics --json"
"$IT_PYTHON" -c '
import json, sys
d = json.load(open(sys.argv[1]))
want = {"audio.processed", "processor.bypass", "usage.disallowed", "processor.frames", "processor.xruns",
        "processor.rtf", "processor.process_time_max_us", "token.refreshes", "token.refresh_failures",
        "license.authorizations", "license.authorization_failures",
        "processor.input_level_db", "processor.output_level_db", "processor.vad"}
sys.exit(set(d) != want or not all(isinstance(v, (int, float)) for v in d.values()))' "$W/out" ||
    it_fail "aicctl metrics --json: wrong keys: $(cat "$W/out")"

run_aicctl 0 bypass on
assert_eq "$(prop Bypass)" true "Bypass after aicctl bypass on"
run_aicctl 0 bypass toggle
assert_eq "$(prop Bypass)" false "Bypass after aicctl bypass toggle"
grep -q off "$W/out" || it_fail "aicctl bypass toggle did not say the new state"
run_aicctl 0 bypass toggle
assert_eq "$(prop Bypass)" true "Bypass after a second toggle"
run_aicctl 0 bypass off
assert_eq "$(prop Bypass)" false "Bypass after aicctl bypass off"
run_aicctl 0 level 0.3
assert_eq "$(prop EnhancementLevel)" 0.3 "EnhancementLevel after aicctl level 0.3"
run_aicctl 0 level 1
run_aicctl 0 input fake_mic
assert_eq "$(prop InputTarget)" fake_mic "InputTarget after aicctl input"
run_aicctl 0 input
grep -q 'fake_mic' "$W/out" || it_fail "aicctl input does not show the target"
run_aicctl 0 input --default
assert_eq "$(prop InputTarget)" "" "InputTarget after aicctl input --default"
run_aicctl 1 input "$(printf 'n%.0s' $(seq 300))"
grep -q 'InputTarget must be' "$W/err" || it_fail "aicctl input: the daemon's refusal is not shown"

# Bad usage: exit 2, one line, nothing changed.
run_aicctl 2
run_aicctl 2 frobnicate
run_aicctl 2 status --bogus
run_aicctl 2 status extra
run_aicctl 2 metrics --bogus
run_aicctl 2 bypass
run_aicctl 2 bypass maybe
run_aicctl 2 level
run_aicctl 2 level 1.5
run_aicctl 2 level -0.1
run_aicctl 2 level abc
run_aicctl 2 level nan
run_aicctl 2 input a b
run_aicctl 2 input ""
run_aicctl 2 license
run_aicctl 2 license show
run_aicctl 2 token
run_aicctl 2 license set --bogus
assert_eq "$(prop EnhancementLevel)" 1 "EnhancementLevel after refused aicctl calls"
run_aicctl 0 --help
run_aicctl 0 status --help

# Secrets: never on the command line; files only when private.
run_aicctl 2 license set "$(cat "$C/license")"
grep -q 'command line' "$W/err" || it_fail "aicctl license set KEY: the refusal does not say why"
assert_no_secrets "aicctl license set KEY's message" "$W/err"
run_aicctl 2 token set "$(cat "$C/jwt")"
assert_no_secrets "aicctl token set TOKEN's message" "$W/err"
run_aicctl 2 "$(cat "$C/license")"
assert_no_secrets "aicctl KEY's message" "$W/err"
assert_eq "$(prop CredentialKind)" none "CredentialKind after refused command lines"

cp "$C/license" "$W/key-open"
chmod 644 "$W/key-open"
run_aicctl 1 license set --file "$W/key-open"
grep -q 'chmod 600' "$W/err" || it_fail "a group-readable key file: the refusal does not say what to do"
chmod 640 "$W/key-open"
run_aicctl 1 license set --file "$W/key-open"
chmod 600 "$W/key-open"
run_aicctl 0 license set --file "$W/key-open"
assert_eq "$(prop CredentialKind)" license "CredentialKind after aicctl license set --file"
run_aicctl 1 license set --file "$W/does-not-exist"
run_aicctl 1 license set --file "$W"
STDIN=$C/license-exp run_aicctl 0 license set
assert_eq "$(prop CredentialExpiresAt)" "$(cred_exp license-exp)" "aicctl license set from stdin"
STDIN=$C/license-expired run_aicctl 1 license set
grep -q 'expired' "$W/err" || it_fail "an expired key: the message does not say so: $(cat "$W/err")"
assert_no_secrets "aicctl's message for an expired key" "$W/err"
STDIN=$C/license-v3 run_aicctl 1 license set
STDIN=/dev/null run_aicctl 1 license set
printf 'abc def\n' >"$W/two-words"
STDIN=$W/two-words run_aicctl 1 license set
assert_eq "$(prop CredentialExpiresAt)" "$(cred_exp license-exp)" "the credential after refused aicctl calls"
# A token replaces a license only through license set; token set says why.
STDIN=$C/jwt run_aicctl 1 token set
grep -q 'token' "$W/err" || it_fail "token set over a license: unclear message"
STDIN=$C/license run_aicctl 1 token set
grep -q 'not a token' "$W/err" || it_fail "token set with a license key: unclear message"
assert_ok "ClearCredential" busctl --user call "$DT_NAME" "$DT_PATH" "$DT_IFACE" ClearCredential
STDIN=$C/jwt run_aicctl 0 token set
assert_eq "$(prop CredentialKind)" jwt "token set without a credential installs the JWT"
run_aicctl 0 token set --file "$C/jwt2"
assert_eq "$(prop CredentialExpiresAt)" "$(cred_exp jwt2)" "token set --file updates the token"
STDIN=$C/jwt-expired run_aicctl 1 token set
assert_eq "$(prop CredentialExpiresAt)" "$(cred_exp jwt2)" "an expired token changes nothing"

# ---- CredentialExpiring: a JWT that lives 4 s, refresh margin 2 s
make_credentials "$C" "t$$" jwt-short 4 || it_fail "could not make a short-lived JWT"
signals_mark
assert_eq "$(gio call SetLicense --file "$C/jwt-short")" "OK ()" "SetLicense(short-lived JWT)"
_it_until 6 "CredentialExpiring" eval 'signals_since | grep -q CredentialExpiring' ||
    it_fail "no CredentialExpiring for a credential about to expire"
signals_since | grep CredentialExpiring | grep -q "$(cred_exp jwt-short)" ||
    it_fail "CredentialExpiring does not carry the expiry: $(signals_since | grep CredentialExpiring)"
assert_ok "ClearCredential" busctl --user call "$DT_NAME" "$DT_PATH" "$DT_IFACE" ClearCredential

# ---- a second aicd must not run beside the first
rc=0
AICD_LOG_LEVEL=7 timeout 10 "$AICD" --config "$W/aicd.conf" >>"$W/log/aicd-second.log" 2>&1 || rc=$?
assert_eq "$rc" 1 "exit status of a second aicd"
assert_eq "$(prop State)" enhancing "the first aicd after a second one tried"

# ---- aicctl without a daemon: one line, fast, no D-Bus activation
mkdir -p "$XDG_DATA_HOME/dbus-1/services"
printf '[D-BUS Service]\nName=%s\nExec=/bin/sleep 60\n' "$DT_NAME" >"$XDG_DATA_HOME/dbus-1/services/$DT_NAME.service"
dbus-send --session --type=method_call --dest=org.freedesktop.DBus /org/freedesktop/DBus \
    org.freedesktop.DBus.ReloadConfig || it_fail "the bus did not reload its configuration"
aicd_stop
t0=${EPOCHREALTIME/./}
for args in status "status --json" metrics "metrics --json" "bypass on" "bypass toggle" "level 0.5" input \
    "input --default"; do
    # shellcheck disable=SC2086
    run_aicctl 1 $args
    assert_eq "$(cat "$W/err")" "aicctl: aicd is not running (start it with: systemctl --user start aicd)" \
        "aicctl $args without aicd"
done
STDIN=$C/license run_aicctl 1 license set
grep -q 'not running' "$W/err" || it_fail "license set without aicd: $(cat "$W/err")"
elapsed=$(((${EPOCHREALTIME/./} - t0) / 1000))
assert_num "$elapsed" '<' 5000 "milliseconds for 10 aicctl calls without a daemon"
DBUS_SESSION_BUS_ADDRESS=unix:path=$W/no-such-bus run_aicctl 1 status
grep -q 'cannot reach the session bus' "$W/err" || it_fail "an unreachable bus: $(cat "$W/err")"
(unset DBUS_SESSION_BUS_ADDRESS XDG_RUNTIME_DIR && run_aicctl 1 metrics --json)
grep -q 'cannot reach the session bus' "$W/err" || it_fail "no bus at all: $(cat "$W/err")"

assert_no_secrets "the daemon's log" "$W"/log/aicd*.log
it_log "PASS"
