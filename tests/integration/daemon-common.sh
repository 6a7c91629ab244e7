# shellcheck shell=bash
# Shared by the test-daemon-*.sh integration tests (sourced): the real aicd
# on the private graph and session bus of lib.sh, and the model to run.
#
# Usage in a test: test-daemon-X.sh AICD AICCTL

. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

it_take_binaries "$@"
DM_ROOT=$(cd "$IT_LIB_DIR/../.." && pwd)
# $AICD_TEST_MODEL, else the shipped model when there is one (quality tests
# need a real model), else the tiny test model.
if [ -n "${AICD_TEST_MODEL:-}" ]; then
    DM_MODEL=$AICD_TEST_MODEL
    [ -r "$DM_MODEL" ] || { echo "AICD_TEST_MODEL: cannot read $DM_MODEL" >&2; exit 2; }
else
    DM_MODEL=$DM_ROOT/engine/models/$(cat "$DM_ROOT/engine/models/DEFAULT").aicm
    [ -r "$DM_MODEL" ] || DM_MODEL=$DM_ROOT/tests/data/tiny.aicm
fi
DM_RATE=48000
AICD_PID=

_dm_has_name() { busctl --user status org.aicd.Aicd1 >/dev/null 2>&1; }

# dm_prop NAME: a property's value without type or quotes.
dm_prop() {
    busctl --user get-property org.aicd.Aicd1 /org/aicd/Aicd1 org.aicd.Aicd1 "$1" |
        sed -e 's/^[a-z]* //' -e 's/^"\(.*\)"$/\1/'
}

# dm_set NAME TYPE VALUE
dm_set() {
    busctl --user set-property org.aicd.Aicd1 /org/aicd/Aicd1 org.aicd.Aicd1 "$1" "$2" "$3"
}

# dm_metric KEY: one GetMetrics value.
dm_metric() {
    busctl --user --json=short call org.aicd.Aicd1 /org/aicd/Aicd1 org.aicd.Aicd1 GetMetrics |
        "$IT_PYTHON" -c 'import json,sys; print(json.load(sys.stdin)["data"][0][sys.argv[1]]["data"])' "$1"
}

# dm_start [CONFIG LINES...]: writes the config (the model plus the lines)
# and starts aicd; waits for its bus name and its Clean Mic.
dm_start() {
    {
        printf '[engine]\nmodel = %s\n' "$DM_MODEL"
        [ $# -eq 0 ] || printf '%s\n' "$@"
    } >"$PW_ENV_DIR/aicd.conf"
    AICD_LOG_LEVEL=7 it_spawn aicd "$AICD" --config "$PW_ENV_DIR/aicd.conf"
    AICD_PID=$SPAWN_PID
    wait_until "$IT_TIMEOUT" "aicd to own org.aicd.Aicd1" _dm_has_name || it_fail "aicd did not come up on the bus"
    wait_node aicd_clean_mic || it_fail "aicd's Clean Mic did not appear"
}

_dm_state_is() { [ "$(dm_prop State)" = "$1" ]; }

# dm_wait_state STATE [TIMEOUT]
dm_wait_state() {
    wait_until "${2:-$IT_TIMEOUT}" "State '$1' (now '$(dm_prop State 2>/dev/null)')" _dm_state_is "$1"
}

# dm_latency_samples: LatencyUsec in samples at 48 kHz.
dm_latency_samples() {
    local us
    us=$(dm_prop LatencyUsec)
    echo $(((us * DM_RATE + 500000) / 1000000))
}

# dm_rss_kb PID / dm_fds PID
dm_rss_kb() { awk '/^VmRSS:/ { print $2 }' "/proc/$1/status"; }
dm_fds() { find "/proc/$1/fd" -mindepth 1 -maxdepth 1 | wc -l; }

# dm_sample NOISY CLEAN [SNR]: noisy speech and its clean reference.
dm_sample() {
    "$IT_PYTHON" "$DM_ROOT/scripts/make-sample.py" "$1" "$2" --snr "${3:-5}"
}
