# shellcheck shell=bash
# Shared by the test-license*.sh integration tests (sourced after
# tests/integration/test-dbus-common.sh): the HTTPS test backend of
# server.py in the test's scratch folder, its control endpoint and counters,
# and aicd configurations that use it.

BK_SERVER=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)/server.py
BK_DIR=
BK_PORT=
BK_PID=
export BK_URL=

# bk_init: the test CA, server certificate and issuer key in $BK_DIR; picks
# a free port for the backend (it need not run yet).
bk_init() {
    BK_DIR=$PW_ENV_DIR/backend
    "$IT_PYTHON" "$BK_SERVER" init "$BK_DIR" || it_fail "could not initialise the test backend"
    BK_PORT=$("$IT_PYTHON" -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
    BK_URL=https://127.0.0.1:$BK_PORT
}

_bk_answers() { "$IT_PYTHON" "$BK_SERVER" ctl "$BK_DIR" "$BK_PORT" stats >/dev/null 2>&1; }

# bk_start: runs the backend on $BK_PORT; waits until it answers over TLS.
bk_start() {
    it_spawn backend "$IT_PYTHON" "$BK_SERVER" serve "$BK_DIR" --port "$BK_PORT"
    BK_PID=$SPAWN_PID
    _it_until "$IT_TIMEOUT" "the test backend on port $BK_PORT" _bk_answers || it_fail "the test backend did not start"
}

# bk_stop: stops the backend (a dead server: connections are refused).
bk_stop() {
    [ -n "$BK_PID" ] || return 0
    it_stop "$BK_PID"
    BK_PID=
}

# bk_ctl JSON: a control command (see tests/backend/README.md).
bk_ctl() {
    "$IT_PYTHON" "$BK_SERVER" ctl "$BK_DIR" "$BK_PORT" "$1" >/dev/null || it_fail "backend control '$1' failed"
}

# bk_fail ENDPOINT MODE [COUNT]: the next COUNT (default: all) requests to
# ENDPOINT (tokens, org, authorize, usage, metrics, all) fail like MODE.
bk_fail() {
    bk_ctl "{\"fail\": {\"endpoint\": \"$1\", \"mode\": \"$2\", \"count\": ${3:--1}}}"
}

# bk_stat PATH: one counter, e.g. ok.tokens, failed.authorize, counts.usage,
# usage_sums.seconds_disallowed, or a Python expression on the stats `s`.
bk_stat() {
    "$IT_PYTHON" "$BK_SERVER" ctl "$BK_DIR" "$BK_PORT" stats | "$IT_PYTHON" -c '
import json, sys
s = json.load(sys.stdin)
expr = sys.argv[1]
if all(part.isidentifier() for part in expr.split(".")):
    v = s
    for part in expr.split("."):
        v = v[part]
else:
    v = eval(expr, {"s": s})
print(json.dumps(v) if isinstance(v, (dict, list)) else v)' "$1"
}

_bk_stat_ge() { [ "$(bk_stat "$1")" -ge "$2" ] 2>/dev/null; }

# bk_wait_stat PATH MIN [TIMEOUT]: waits until the counter reaches MIN.
bk_wait_stat() {
    _it_until "${3:-$IT_TIMEOUT}" "backend counter $1 >= $2 (now $(bk_stat "$1" 2>/dev/null))" _bk_stat_ge "$1" "$2"
}

# bk_license USER: writes a license key file (mode 600), adds the key and its
# api_key to the secrets that must never leak (bk_secrets), prints its path.
bk_license() {
    local f=$PW_ENV_DIR/license-$1.key
    (umask 077 && "$IT_PYTHON" "$BK_SERVER" license "$BK_DIR" "$1" >"$f") || it_fail "could not issue a license"
    bk_secrets "$1"
    printf '%s\n' "$f"
}

# bk_jwt USER [ARGS...]: prints a JWT (a test secret) signed by the issuer.
bk_jwt() { "$IT_PYTHON" "$BK_SERVER" jwt "$BK_DIR" "$@"; }

# bk_secrets USER...: adds the users' license keys and api_keys to the strings
# that must never appear in a log, a property or a signal.
bk_secrets() {
    local u
    for u in "$@"; do
        cat "$PW_ENV_DIR/license-$u.key"
        "$IT_PYTHON" "$BK_SERVER" api-key "$BK_DIR" "$u"
    done >>"$DT_CREDS/secrets.txt"
}

# lic_config MODE [LINES...]: aicd.conf with the test model, the backend's CA
# and small intervals, plus LINES.
lic_config() {
    local mode=$1
    shift
    aicd_config "[license]" "mode = $mode" "ca_file = $BK_DIR/ca.pem" \
        "issuer_public_key = $BK_DIR/issuer.pem" "refresh_margin_s = 5" "usage_interval_s = 2" "$@"
}

# metric_ge NAME MIN: GetMetrics' NAME is at least MIN.
_metric_ge() { awk -v a="$(metric "$1")" -v b="$2" 'BEGIN { exit !(a >= b) }'; }
wait_metric() {
    _it_until "${3:-$IT_TIMEOUT}" "metric $1 >= $2 (now $(metric "$1" 2>/dev/null))" _metric_ge "$1" "$2"
}

# signals_named NAME: the signals named NAME recorded by monitor_start so far.
signals_named() { grep -F "\"member\": \"$1\"" "$PW_ENV_DIR/signals.jsonl" || true; }

# wait_signal NAME ARG [TIMEOUT]: waits for the signal NAME with the string
# argument ARG (State is computed when read; the signal follows within a
# main-loop iteration).
_signal_seen() { signals_named "$1" | grep -q -F "[\"$2\"]"; }
wait_signal() {
    _it_until "${3:-5}" "signal $1(\"$2\")" _signal_seen "$1" "$2"
}

# assert_alive: aicd is still running.
assert_alive() { _it_alive "$AICD_PID" || it_fail "aicd died (see log/aicd.log)"; }

# bypass_exact TAG: records the fake mic and the Clean Mic in one graph
# cycle while the test signal plays and checks the Clean Mic carries the
# input, unprocessed, delayed by exactly the engine's delay (LatencyUsec).
# Bit for bit; but on a loaded machine the graph itself now and then drops
# a cycle or runs one of another size (xruns), and the blocks around that
# cannot match, so then up to 10 % of the 256-sample blocks may differ (the
# rest must match at exactly that delay).
bypass_exact() {
    local tag=$1 lat d
    record_pair_start fake_mic aicd_clean_mic "$PW_ENV_DIR/pair-$tag.wav" || it_fail "[$tag] probe did not link"
    local probe=$REC_PID
    play_into_mic "$PW_ENV_DIR/in.wav" fake_mic || it_fail "[$tag] could not feed the fake mic"
    play_wait || it_fail "[$tag] the player did not finish"
    record_stop "$probe" || it_fail "[$tag] probe did not stop"
    lat=$(prop LatencyUsec)
    d=$(audio_py delay "$PW_ENV_DIR/pair-$tag.wav:0" "$PW_ENV_DIR/pair-$tag.wav:1" --max-delay 0.1) ||
        it_fail "[$tag] the Clean Mic does not carry the mic's signal"
    d=$(printf '%.0f' "$d")
    # LatencyUsec is the engine's delay in whole microseconds.
    assert_num "$(awk -v d="$d" -v l="$lat" 'BEGIN { x = d - l * 48000 / 1e6; print (x < 0 ? -x : x) }')" '<' 1.01 \
        "[$tag] delay $d samples against LatencyUsec $lat"
    audio_py exact "$PW_ENV_DIR/pair-$tag.wav:0" "$PW_ENV_DIR/pair-$tag.wav:1" "$d" --min-frac 0.8 2>/dev/null && {
        it_log "[$tag] bypassed audio is the input delayed by exactly $d samples, bit for bit"
        return 0
    }
    "$IT_PYTHON" - "$PW_ENV_DIR/pair-$tag.wav" "$d" <<'EOF' ||
import sys
import numpy as np, soundfile as sf
x, _ = sf.read(sys.argv[1], dtype="float32", always_2d=True)
d, blk = int(sys.argv[2]), 256
mic, out = x[:, 0], x[:, 1]
nz = np.flatnonzero(out)
lo, hi = nz[0] + blk, nz[-1] - blk
total = same = 0
for s in range(lo, hi - blk, blk):
    if np.count_nonzero(mic[s - d: s - d + blk]) < blk:
        continue
    total += 1
    same += np.array_equal(out[s: s + blk].view(np.uint32), mic[s - d: s - d + blk].view(np.uint32))
print("exact: %d of %d blocks bit for bit" % (same, total), file=sys.stderr)
assert total > 300 and same >= 0.9 * total
EOF
        it_fail "[$tag] the Clean Mic is not the input delayed by $d samples, bit for bit"
    it_log "[$tag] bypassed audio is the input delayed by exactly $d samples, bit for bit but around graph xruns"
}
