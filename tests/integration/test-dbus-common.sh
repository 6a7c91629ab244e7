# shellcheck shell=bash
# Shared by the test-dbus*.sh integration tests (sourced, not a test itself):
# starting the real aicd on the private session bus of lib.sh, reading and
# writing its properties with busctl, checking error names with dbus-send,
# a small Gio client for what the command line cannot carry (1 MiB
# arguments, secrets read from files, signals), and test credentials.
#
# Usage in a test: test-dbus-X.sh AICD AICCTL (or $AICD and $AICCTL set).

. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

it_take_binaries "$@"
DT_ROOT=$(cd "$IT_LIB_DIR/../.." && pwd)
DT_MODEL=$DT_ROOT/tests/data/tiny.aicm
DT_XML=$DT_ROOT/dbus/org.aicd.Aicd1.xml
[ -r "$DT_MODEL" ] || { echo "no test model at $DT_MODEL" >&2; exit 1; }
[ -x "$IT_PYTHON" ] || it_skip "$IT_PYTHON is missing"
"$IT_PYTHON" -c 'import gi, cryptography, json; gi.require_version("Gio", "2.0")' 2>/dev/null ||
    it_skip "$IT_PYTHON lacks gi (Gio) or cryptography"
for _dt_tool in busctl dbus-send; do
    command -v "$_dt_tool" >/dev/null || it_skip "$_dt_tool is not installed"
done

DT_NAME=org.aicd.Aicd1
DT_PATH=/org/aicd/Aicd1
DT_IFACE=org.aicd.Aicd1
AICD_PID=

# ---------------------------------------------------------------- the daemon

# aicd_config [LINES...]: writes $PW_ENV_DIR/aicd.conf: the tiny test model
# plus any extra lines (each a line of the INI file).
aicd_config() {
    {
        printf '[engine]\nmodel = %s\n' "$DT_MODEL"
        [ $# -eq 0 ] || printf '%s\n' "$@"
    } >"$PW_ENV_DIR/aicd.conf"
}

_dt_has_name() { busctl --user status "$DT_NAME" >/dev/null 2>&1; }
_dt_state_is() { [ "$(prop State)" = "$1" ]; }

# aicd_start: runs aicd (debug logging, all of it kept in log/aicd.log for
# the secret checks) and waits for its bus name and its Clean Mic node.
aicd_start() {
    [ -f "$PW_ENV_DIR/aicd.conf" ] || aicd_config
    AICD_LOG_LEVEL=7 it_spawn aicd "$AICD" --config "$PW_ENV_DIR/aicd.conf"
    AICD_PID=$SPAWN_PID
    _it_until "$IT_TIMEOUT" "aicd to own $DT_NAME" _dt_has_name || it_fail "aicd did not come up on the bus"
    wait_node aicd_clean_mic || it_fail "aicd's Clean Mic did not appear"
}

# aicd_stop: SIGTERM, and expects a clean exit.
aicd_stop() {
    local rc=0
    kill -TERM "$AICD_PID" 2>/dev/null || it_fail "aicd is not running"
    wait_pid "$AICD_PID" 5 || rc=$?
    assert_eq "$rc" 0 "aicd's exit status after SIGTERM"
    _it_until 5 "$DT_NAME to be released" eval '! _dt_has_name' || it_fail "the bus name stayed"
    AICD_PID=
}

# wait_state STATE [TIMEOUT]
wait_state() {
    _it_until "${2:-$IT_TIMEOUT}" "State '$1' (now '$(prop State 2>/dev/null)')" _dt_state_is "$1"
}

# ---------------------------------------------------------------- busctl and dbus-send

# prop NAME: prints a property's value as busctl shows it, without the type
# and, for strings, without the quotes.
prop() {
    local out
    out=$(busctl --user get-property "$DT_NAME" "$DT_PATH" "$DT_IFACE" "$1") || return 1
    out=${out#* }
    case $out in \"*\") out=${out#\"} out=${out%\"} ;; esac
    printf '%s\n' "$out"
}

# prop_type NAME: the D-Bus type busctl reports for the property.
prop_type() {
    local out
    out=$(busctl --user get-property "$DT_NAME" "$DT_PATH" "$DT_IFACE" "$1") || return 1
    printf '%s\n' "${out%% *}"
}

# set_prop NAME TYPE VALUE: busctl set-property; fails the test on error.
set_prop() {
    busctl --user set-property "$DT_NAME" "$DT_PATH" "$DT_IFACE" "$1" "$2" "$3" ||
        it_fail "busctl set-property $1 $2 '$3' failed"
}

# metric NAME: one value from GetMetrics, read with busctl (and awk: cheap
# enough to call while audio runs).
metric() {
    busctl --user call "$DT_NAME" "$DT_PATH" "$DT_IFACE" GetMetrics |
        awk -v key="\"$1\"" '{ for (i = 3; i < NF; i++) if ($i == key) { print $(i + 2); found = 1 } }
            END { exit !found }'
}

# expect_error NAME WHAT dbus-send-ARGS...: calls with dbus-send, which
# prints the error's name (busctl prints only its message), and checks the
# call failed with exactly that error name.
expect_error() {
    local want=$1 what=$2 out
    shift 2
    if out=$(dbus-send --session --print-reply --reply-timeout=5000 --dest="$DT_NAME" "$DT_PATH" "$@" 2>&1); then
        it_fail "$what: succeeded, expected $want"
    fi
    case $out in
    "Error $want:"* | "Error $want") ;;
    *) it_fail "$what: expected error $want, got: $out" ;;
    esac
}

# expect_set_error NAME WHAT PROPERTY VARIANT: Properties.Set that must fail.
expect_set_error() {
    expect_error "$1" "$2" org.freedesktop.DBus.Properties.Set "string:$DT_IFACE" "string:$3" "$4"
}

# ---------------------------------------------------------------- Gio client

# gio ARGS...: the Gio client below (another D-Bus implementation than
# sd-bus, busctl and libdbus). Prints what it says on stdout.
gio() { "$IT_PYTHON" "$PW_ENV_DIR/gio-client.py" "$@"; }

_dt_write_gio_client() {
    cat >"$PW_ENV_DIR/gio-client.py" <<'EOF'
# A D-Bus client on GLib's Gio for the tests. Arguments that are secrets or
# too long for a command line come from files or are generated here.
#   call METHOD [--file F | --bytes N | --string S]  -> "OK <reply>" | "ERR <name>"
#   set PROPERTY TYPE [--file F | --bytes N | --value V]
#   getall                                           -> JSON of every property
#   monitor OUT                                      -> JSON lines, one per signal
import json, sys
import gi
gi.require_version("Gio", "2.0")
from gi.repository import Gio, GLib

NAME, PATH, IFACE = "org.aicd.Aicd1", "/org/aicd/Aicd1", "org.aicd.Aicd1"
bus = Gio.bus_get_sync(Gio.BusType.SESSION, None)

def arg_value(args):
    if not args:
        return None
    if args[0] == "--file":
        with open(args[1]) as f:
            return f.read().strip()
    if args[0] == "--bytes":
        return "A" * int(args[1])
    if args[0] in ("--string", "--value"):
        return args[1]
    sys.exit("gio-client: bad arguments")

def call(iface, method, params, flags=Gio.DBusCallFlags.NO_AUTO_START):
    try:
        r = bus.call_sync(NAME, PATH, iface, method, params, None, flags, 10000, None)
        return "OK " + (r.print_(True) if r is not None else "()")
    except GLib.Error as e:
        return "ERR " + (Gio.DBusError.get_remote_error(e) or e.message)

def unpack(v):
    return v.unpack() if isinstance(v, GLib.Variant) else v

cmd = sys.argv[1]
if cmd == "call":
    v = arg_value(sys.argv[3:])
    params = GLib.Variant("(s)", (v,)) if v is not None else None
    print(call(IFACE, sys.argv[2], params))
elif cmd == "set":
    prop, typ = sys.argv[2], sys.argv[3]
    raw = arg_value(sys.argv[4:])
    val = {"s": str, "d": float, "u": int, "t": int}.get(typ, lambda x: x in ("true", "1"))(raw)
    print(call("org.freedesktop.DBus.Properties", "Set",
               GLib.Variant("(ssv)", (IFACE, prop, GLib.Variant(typ, val)))))
elif cmd == "getall":
    r = bus.call_sync(NAME, PATH, "org.freedesktop.DBus.Properties", "GetAll",
                      GLib.Variant("(s)", (IFACE,)), None, Gio.DBusCallFlags.NO_AUTO_START, 10000, None)
    print(json.dumps(r.unpack()[0], sort_keys=True))
elif cmd == "monitor":
    out = open(sys.argv[2], "a", buffering=1)
    def on_signal(conn, sender, path, iface, member, params):
        rec = {"member": member, "interface": iface}
        if member == "PropertiesChanged":
            changed, invalidated = params.unpack()[1], params.unpack()[2]
            rec["changed"] = changed
            rec["invalidated"] = invalidated
        else:
            rec["args"] = list(params.unpack())
        out.write(json.dumps(rec, sort_keys=True) + "\n")
    bus.signal_subscribe(NAME, None, None, PATH, None, Gio.DBusSignalFlags.NONE, on_signal)
    out.write(json.dumps({"member": "_ready"}) + "\n")
    GLib.MainLoop().run()
else:
    sys.exit("gio-client: unknown command " + cmd)
EOF
}

# monitor_start: records every signal of aicd as JSON lines in
# $PW_ENV_DIR/signals.jsonl (Gio client in the background).
monitor_start() {
    : >"$PW_ENV_DIR/signals.jsonl"
    it_spawn monitor "$IT_PYTHON" "$PW_ENV_DIR/gio-client.py" monitor "$PW_ENV_DIR/signals.jsonl"
    _it_until "$IT_TIMEOUT" "the signal monitor" grep -q _ready "$PW_ENV_DIR/signals.jsonl" ||
        it_fail "the signal monitor did not start"
}

# signals_mark: remembers how many signals were seen; signals_since prints
# the ones after the mark.
signals_mark() { DT_MARK=$(wc -l <"$PW_ENV_DIR/signals.jsonl"); }
signals_since() { tail -n +"$((DT_MARK + 1))" "$PW_ENV_DIR/signals.jsonl"; }

# ---------------------------------------------------------------- credentials

# make_credentials DIR TAG [NAME SECONDS]: writes test credentials (mode
# 600) into DIR, each name a kind: license (valid, no expiry), license-exp
# (valid, expires in an hour), license-expired, license-v3 (version 3),
# license-badsig (not base64url), jwt, jwt2 (later exp), jwt-expired,
# jwt-none (alg none); exp.json with their expiry times; and secrets.txt:
# every secret string and the parts of it that must never show up anywhere.
# TAG makes them unique. With NAME SECONDS, only adds a JWT NAME that
# expires SECONDS from now.
make_credentials() {
    [ -d "$1" ] || mkdir -m 700 "$1"
    "$IT_PYTHON" - "$@" <<'EOF'
import base64, json, os, sys, time
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

d, tag = sys.argv[1], sys.argv[2]
only = sys.argv[3:5]
key = Ed25519PrivateKey.generate()
now = int(time.time())
b64u = lambda b: base64.urlsafe_b64encode(b).rstrip(b"=").decode()
secrets = []

def write(name, text):
    path = os.path.join(d, name)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    os.write(fd, (text + "\n").encode())
    os.close(fd)

def license(name, version="2", exp=None, sig=None):
    api_key = "ak_%s_%s_%s" % (tag, name.replace("-", ""), os.urandom(12).hex())
    claims = {"user": "user_test", "version": version, "api_key": api_key}
    if exp is not None:
        claims["exp"] = exp
    payload = base64.b64encode(json.dumps(claims).encode()).decode()
    signature = sig if sig is not None else b64u(key.sign(payload.encode()))
    write(name, payload + "." + signature)
    secrets.extend([payload + "." + signature, payload, signature, api_key])

def jwt(name, exp, alg="EdDSA"):
    header = b64u(json.dumps({"alg": alg, "typ": "JWT"}).encode())
    claims = b64u(json.dumps({"sub": "user_test", "jti": "%s-%s" % (tag, os.urandom(8).hex()),
                              "iat": now, "exp": exp}).encode())
    signing = header + "." + claims
    signature = b64u(key.sign(signing.encode()))
    write(name, signing + "." + signature)
    secrets.extend([signing + "." + signature, claims, signature])

def save_secrets():
    fd = os.open(os.path.join(d, "secrets.txt"), os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
    os.write(fd, ("\n".join(secrets) + "\n").encode())
    os.close(fd)

exp_path = os.path.join(d, "exp.json")
if only:
    jwt(only[0], now + int(only[1]))
    exps = json.load(open(exp_path))
    exps[only[0]] = now + int(only[1])
    json.dump(exps, open(exp_path, "w"))
    save_secrets()
    sys.exit(0)

license("license")
license("license-exp", exp=now + 3600)
license("license-expired", exp=now - 3600)
license("license-v3", version="3")
license("license-badsig", sig="!!not-base64url!!" * 5)
jwt("jwt", now + 3600)
jwt("jwt2", now + 7200)
jwt("jwt-expired", now - 60)
jwt("jwt-none", now + 3600, alg="none")
with open(exp_path, "w") as f:
    json.dump({"license-exp": now + 3600, "jwt": now + 3600, "jwt2": now + 7200}, f)
save_secrets()
EOF
}

# cred_exp NAME: the exp written into a credential by make_credentials.
cred_exp() {
    "$IT_PYTHON" -c 'import json, sys; print(json.load(open(sys.argv[1]))[sys.argv[2]])' "$DT_CREDS/exp.json" "$1"
}

# assert_no_secrets WHAT FILE...: none of the strings in $DT_CREDS/secrets.txt
# appears in the files.
assert_no_secrets() {
    local what=$1 hit
    shift
    [ $# -gt 0 ] || it_fail "$what: nothing to search"
    hit=$(grep -F -l -f "$DT_CREDS/secrets.txt" "$@" </dev/null 2>/dev/null || true)
    [ -z "$hit" ] || it_fail "$what: a secret appears in: $hit"
}

# dt_setup [pw_env_start ARGS...]: the graph, the Gio client, credentials in
# $DT_CREDS.
dt_setup() {
    pw_env_start "$@"
    _dt_write_gio_client
    DT_CREDS=$PW_ENV_DIR/creds
    make_credentials "$DT_CREDS" "t$$" || it_fail "could not make test credentials"
}
