# shellcheck shell=bash
# Integration-test harness: a private, headless PipeWire graph (session bus,
# pipewire, wireplumber, pipewire-pulse) in a scratch folder, with fake
# microphones, players, recorders, graph waits and assertions.
# Source it from a bash script; see README.md in this folder.

IT_LIB_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
IT_PYTHON=${IT_PYTHON:-/usr/bin/python3}
IT_TIMEOUT=${IT_TIMEOUT:-10}

PW_ENV_DIR=
_it_t0=${EPOCHREALTIME/./}
_it_daemons=()     # "name:pid" in start order
_it_spawned=()     # "name:pid" of test processes, stopped before the graph
_it_cleanups=()    # commands run first at teardown
_it_mic_dropins=() # fake mics that live in pipewire.conf.d
declare -A _it_mic_module=()
_it_nplay=0
_it_nrec=0
# pw-play and pw-record do their file I/O in their main thread, which the
# graph waits for every cycle: run them SCHED_FIFO where allowed, or a busy
# machine starves them and the graph plays and records dropouts.
# IT_RT_OK=1 when this user may do that (root, CAP_SYS_NICE or RLIMIT_RTPRIO).
# shellcheck disable=SC2034 # IT_RT_OK is read by test scripts
{
    _it_rt=()
    IT_RT_OK=0
    if chrt -f 10 true 2>/dev/null; then _it_rt=(chrt -f 10) IT_RT_OK=1; fi
}
_it_stopping=

# it_take_binaries [AICD AICCTL]: sets AICD and AICCTL to the absolute paths
# of the built binaries (arguments, or the variables already set); exits 2
# with a usage line when either is missing.
it_take_binaries() {
    AICD=${1:-${AICD:-}}
    AICCTL=${2:-${AICCTL:-}}
    [ -n "$AICD" ] && [ -x "$AICD" ] && [ -n "$AICCTL" ] && [ -x "$AICCTL" ] || {
        echo "usage: $0 AICD AICCTL (paths of the built binaries)" >&2
        exit 2
    }
    AICD=$(cd "$(dirname "$AICD")" && pwd)/$(basename "$AICD")
    AICCTL=$(cd "$(dirname "$AICCTL")" && pwd)/$(basename "$AICCTL")
}

# ---------------------------------------------------------------- messages

it_log() {
    local now=${EPOCHREALTIME/./}
    printf '[%6.2fs] %s\n' "$(((now - _it_t0) / 10000))e-2" "$*" >&2
}

# Prints the graph and the daemons' logs; called on failure.
it_dump() {
    [ -n "$PW_ENV_DIR" ] && [ -d "$PW_ENV_DIR" ] || return 0
    {
        echo "---- graph (pw-link -l)"
        timeout 3 pw-link -l 2>&1
        echo "---- sources (pactl list sources short)"
        timeout 3 pactl list sources short 2>&1
        echo "---- metadata default"
        timeout 3 pw-metadata 0 2>&1 | grep -v '^Found'
        local f
        for f in "$PW_ENV_DIR"/log/*.log; do
            [ -s "$f" ] || continue
            echo "---- tail of ${f##*/}"
            tail -n 15 "$f"
        done
        echo "----"
    } >&2
}

it_fail() {
    printf 'FAIL: %s\n' "$*" >&2
    [ -n "$_it_stopping" ] || it_dump
    exit 1
}

it_skip() {
    printf 'SKIP: %s\n' "$*" >&2
    exit 77
}

# ---------------------------------------------------------------- waiting

# _it_until TIMEOUT DESCRIPTION CMD...: polls CMD until it succeeds; on
# timeout prints "timed out after Ns waiting for DESCRIPTION" and returns 1.
_it_until() {
    local timeout=$1 what=$2 sec frac
    shift 2
    sec=${timeout%%.*} frac=${timeout#"$sec"}
    frac=${frac#.}000000
    local end=$((${EPOCHREALTIME/./} + ${sec:-0} * 1000000 + 10#${frac:0:6}))
    while :; do
        "$@" >/dev/null 2>&1 && return 0
        if [ "${EPOCHREALTIME/./}" -ge "$end" ]; then
            printf 'timed out after %ss waiting for %s\n' "$timeout" "$what" >&2
            return 1
        fi
        sleep 0.05
    done
}

# wait_until TIMEOUT DESCRIPTION CMD...: the same, for tests' own conditions.
wait_until() { _it_until "$@"; }

_it_alive() { kill -0 "$1" 2>/dev/null; }
_it_dead() { ! kill -0 "$1" 2>/dev/null; }

# is_running PID
is_running() { _it_alive "$1"; }

# rt_threads PID: prints how many of the process's threads run SCHED_FIFO
# or SCHED_RR (a PipeWire client gets one when it loads module-rt, e.g.
# through client-rt.conf).
rt_threads() {
    ps -L -o cls= -p "$1" 2>/dev/null | grep -cE 'FF|RR'
}

# wait_pid PID [TIMEOUT]: waits until PID exits; prints nothing. Returns
# the process's exit status when it is a child of this shell, 0 when not,
# 124 on timeout.
wait_pid() {
    local pid=$1 timeout=${2:-$IT_TIMEOUT} rc=0
    _it_until "$timeout" "process $pid to exit" _it_dead "$pid" || return 124
    wait "$pid" 2>/dev/null || rc=$?
    [ "$rc" -eq 127 ] && rc=0 # not our child: already reaped elsewhere
    return "$rc"
}

# _it_kill PID NAME: SIGTERM, then SIGKILL after 3 s; reaps it.
_it_kill() {
    local pid=$1 name=$2
    _it_alive "$pid" || { wait "$pid" 2>/dev/null || true; return 0; }
    kill -TERM "$pid" 2>/dev/null || true
    if ! _it_until 3 "$name ($pid) to stop" _it_dead "$pid" 2>/dev/null; then
        it_log "$name ($pid) ignored SIGTERM, killing it"
        { kill -KILL "$pid" && wait "$pid"; } 2>/dev/null || true
    fi
    wait "$pid" 2>/dev/null || true
}

# ---------------------------------------------------------------- graph queries

# node_id NAME: prints the global id of the node with that node.name.
node_id() {
    pw-cli ls Node 2>/dev/null | awk -v want="node.name = \"$1\"" '
        /^[[:space:]]*id [0-9]+,/ { sub(",", "", $2); id = $2 }
        { line = $0; sub(/^[[:space:]]+/, "", line) }
        line == want { print id; found = 1; exit }
        END { exit !found }'
}

# node_prop NAME KEY: prints one property of the node (from pw-cli info).
node_prop() {
    local id
    id=$(node_id "$1") || return 1
    pw-cli info "$id" 2>/dev/null | awk -v key="$2" '
        { line = $0; sub(/^[[:space:]]*\*?[[:space:]]*/, "", line) }
        index(line, key " = ") == 1 {
            v = substr(line, length(key) + 4); gsub(/^"|"$/, "", v)
            print v; found = 1; exit
        }
        END { exit !found }'
}

has_node() { node_id "$1" >/dev/null; }
_it_no_node() { ! node_id "$1" >/dev/null; }

# wait_node NAME [TIMEOUT]: waits until a node with that node.name exists.
wait_node() {
    _it_until "${2:-$IT_TIMEOUT}" "node '$1' to appear" has_node "$1"
}

# wait_node_gone NAME [TIMEOUT]
wait_node_gone() {
    _it_until "${2:-$IT_TIMEOUT}" "node '$1' to go away" _it_no_node "$1"
}

# links: prints every link as "OUTPORT INPORT", one per line.
links() {
    pw-link -l 2>/dev/null | awk '
        /^[^[:space:]]/ { port = $0; next }
        /^[[:space:]]+\|->[[:space:]]/ { sub(/^[[:space:]]+\|->[[:space:]]+/, ""); print port, $0 }'
}

# has_link A B: A is an output "node:port" or just "node" (any of its
# ports), B likewise an input.
has_link() {
    links | awk -v a="$1" -v b="$2" '
        ($1 == a || index($1, a ":") == 1) && ($2 == b || index($2, b ":") == 1) { f = 1 }
        END { exit !f }'
}
_it_no_link() { ! has_link "$1" "$2"; }

# wait_link A B [TIMEOUT]
wait_link() {
    _it_until "${3:-$IT_TIMEOUT}" "a link $1 -> $2" has_link "$1" "$2"
}

# wait_unlinked A B [TIMEOUT]
wait_unlinked() {
    _it_until "${3:-$IT_TIMEOUT}" "no link $1 -> $2" _it_no_link "$1" "$2"
}

# _it_ports NODE DIR: prints the node's ports (DIR -o outputs, -i inputs).
_it_ports() {
    pw-link "$2" 2>/dev/null | awk -v p="$1:" 'index($0, p) == 1'
}

# default_source / default_sink: prints the node.name WirePlumber chose
# (default.audio.source / .sink in the "default" metadata).
_it_default() {
    pw-metadata 0 "$1" 2>/dev/null |
        sed -n "s/.*key:'$1' value:'{\"name\":\"\\([^\"]*\\)\"}'.*/\\1/p" | head -n 1
}
default_source() { _it_default default.audio.source; }
default_sink() { _it_default default.audio.sink; }
_it_default_is() { [ "$(_it_default "$1")" = "$2" ]; }
_it_default_set() { [ -n "$(_it_default "$1")" ]; }

# wait_default_source NAME [TIMEOUT]
wait_default_source() {
    _it_until "${2:-$IT_TIMEOUT}" "default source '$1'" \
        _it_default_is default.audio.source "$1" && return 0
    echo "the default source is '$(default_source)'" >&2
    return 1
}

# set_default_source NAME [--saved]: the user's choice
# (default.configured.audio.source, what pavucontrol and `pactl
# set-default-source` write), then waits until WirePlumber has made it the
# default. WirePlumber writes the choice to its state file a second later;
# only from then on does it survive pw_restart: --saved waits for that too.
set_default_source() {
    pw-metadata 0 default.configured.audio.source "{ \"name\": \"$1\" }" \
        Spa:String:JSON >/dev/null || return 1
    wait_default_source "$1" || return 1
    [ "${2:-}" = --saved ] || return 0
    _it_until "$IT_TIMEOUT" "WirePlumber to save the default source" \
        grep -qx "default.configured.audio.source=$1" "$XDG_STATE_HOME/wireplumber/default-nodes"
}

# ---------------------------------------------------------------- environment

# pw_env_start [--mic NAME]...: starts the private graph. Each --mic puts a
# fake microphone in pipewire.conf.d before PipeWire starts, so it comes
# back after pw_restart; the first one is made the default source.
pw_env_start() {
    local mics=() a
    while [ $# -gt 0 ]; do
        case $1 in
        --mic) mics+=("$2"); shift 2 ;;
        *) printf 'pw_env_start: unknown option %s\n' "$1" >&2; return 2 ;;
        esac
    done
    [ -z "$PW_ENV_DIR" ] || { echo "pw_env_start: already started" >&2; return 1; }

    for a in pipewire wireplumber pipewire-pulse pactl pw-cli pw-link pw-metadata \
        pw-play pw-record parecord dbus-daemon; do
        command -v "$a" >/dev/null || it_skip "$a is not installed"
    done

    PW_ENV_DIR=$(mktemp -d "${TMPDIR:-/tmp}/aicd-it.XXXXXX") || it_fail "mktemp failed"
    mkdir -p "$PW_ENV_DIR"/{config,state,data,cache,home,log,tmp}
    mkdir -m 700 "$PW_ENV_DIR/run"
    _it_t0=${EPOCHREALTIME/./}
    _it_stopping=
    trap pw_env_stop EXIT
    trap 'exit 130' INT
    trap 'exit 143' TERM

    # Never reach a real session: every path and address is private.
    export XDG_RUNTIME_DIR=$PW_ENV_DIR/run
    export XDG_CONFIG_HOME=$PW_ENV_DIR/config
    export XDG_STATE_HOME=$PW_ENV_DIR/state
    export XDG_DATA_HOME=$PW_ENV_DIR/data
    export XDG_CACHE_HOME=$PW_ENV_DIR/cache
    export HOME=$PW_ENV_DIR/home
    export TMUX_TMPDIR=$PW_ENV_DIR/tmp
    export PIPEWIRE_RUNTIME_DIR=$XDG_RUNTIME_DIR
    export PULSE_SERVER=unix:$XDG_RUNTIME_DIR/pulse/native
    export PULSE_RUNTIME_PATH=$XDG_RUNTIME_DIR/pulse
    unset PIPEWIRE_REMOTE PULSE_COOKIE PULSE_SINK PULSE_SOURCE DISPLAY WAYLAND_DISPLAY \
        DBUS_SESSION_BUS_ADDRESS

    # No hardware: the test graph holds only what the test puts in it, and a
    # developer's sound cards or Bluetooth headset are left alone.
    mkdir -p "$XDG_CONFIG_HOME/wireplumber/main.lua.d" \
        "$XDG_CONFIG_HOME/wireplumber/bluetooth.lua.d" \
        "$XDG_CONFIG_HOME/pipewire/pipewire.conf.d"
    printf '%s\n' 'alsa_monitor.enabled = false' 'v4l2_monitor.enabled = false' \
        'libcamera_monitor.enabled = false' \
        >"$XDG_CONFIG_HOME/wireplumber/main.lua.d/51-no-hardware.lua"
    echo 'bluez_monitor.enabled = false' \
        >"$XDG_CONFIG_HOME/wireplumber/bluetooth.lua.d/51-no-hardware.lua"

    if [ -n "${PW_ENV_QUANTUM:-}" ]; then
        # A fixed graph quantum: no re-negotiation (and its glitch) when
        # streams with other latencies join.
        printf 'context.properties = {\n    default.clock.quantum = %s\n    default.clock.min-quantum = %s\n    default.clock.max-quantum = %s\n}\n' \
            "$PW_ENV_QUANTUM" "$PW_ENV_QUANTUM" "$PW_ENV_QUANTUM" \
            >"$XDG_CONFIG_HOME/pipewire/pipewire.conf.d/50-quantum.conf"
    fi
    for a in "${mics[@]}"; do
        fake_mic_dropin "$a"
    done
    if [ ${#mics[@]} -gt 0 ]; then
        # The first mic is the user's chosen default from the start, as if
        # saved in an earlier session, so it also holds across pw_restart.
        mkdir -p "$XDG_STATE_HOME/wireplumber"
        printf '[default-nodes]\ndefault.configured.audio.source=%s\n' "${mics[0]}" \
            >"$XDG_STATE_HOME/wireplumber/default-nodes"
    fi

    dbus-daemon --session --nofork --nopidfile --address="unix:path=$XDG_RUNTIME_DIR/bus" \
        --print-address=1 >"$PW_ENV_DIR/bus-address" 2>"$PW_ENV_DIR/log/dbus.log" &
    _it_daemons+=("dbus-daemon:$!")
    _it_until "$IT_TIMEOUT" "the session bus to listen" test -s "$PW_ENV_DIR/bus-address" ||
        it_fail "dbus-daemon did not start (see log/dbus.log)"
    DBUS_SESSION_BUS_ADDRESS=$(head -n 1 "$PW_ENV_DIR/bus-address")
    export DBUS_SESSION_BUS_ADDRESS

    _it_start_graph || it_fail "the PipeWire graph did not come up"
    if [ ${#mics[@]} -gt 0 ]; then
        wait_default_source "${mics[0]}" ||
            it_fail "fake mic ${mics[0]} did not become the default source"
    fi
    it_log "graph up in $PW_ENV_DIR"
}

_it_pw_answers() { [ -S "$XDG_RUNTIME_DIR/pipewire-0" ] && pw-cli info 0; }
_it_pactl_answers() { pactl info; }

# Starts pipewire, wireplumber and pipewire-pulse and waits until they
# answer and WirePlumber has set the default sink (pipewire-pulse's
# auto_null when there is no other): from then on linking works.
_it_start_graph() {
    local n d
    rm -f "$XDG_RUNTIME_DIR/pipewire-0" "$XDG_RUNTIME_DIR/pulse/native"

    pipewire >>"$PW_ENV_DIR/log/pipewire.log" 2>&1 &
    _it_daemons+=("pipewire:$!")
    _it_until "$IT_TIMEOUT" "pipewire to answer on $XDG_RUNTIME_DIR/pipewire-0" _it_pw_answers ||
        return 1

    wireplumber >>"$PW_ENV_DIR/log/wireplumber.log" 2>&1 &
    _it_daemons+=("wireplumber:$!")
    pipewire-pulse >>"$PW_ENV_DIR/log/pipewire-pulse.log" 2>&1 &
    _it_daemons+=("pipewire-pulse:$!")

    _it_until "$IT_TIMEOUT" "pactl info to answer" _it_pactl_answers || return 1
    if ! _it_until "$IT_TIMEOUT" "WirePlumber to set default.audio.sink" \
        _it_default_set default.audio.sink; then
        _it_daemon_pid wireplumber >/dev/null ||
            echo "wireplumber is not running: does it have a session bus?" >&2
        return 1
    fi
    for n in "${_it_mic_dropins[@]}"; do
        wait_node "$n" || return 1
    done
    for d in "${_it_daemons[@]}"; do
        _it_alive "${d#*:}" || { echo "${d%%:*} exited during start-up" >&2; return 1; }
    done
}

# _it_daemon_pid NAME: prints the pid of a running harness daemon.
_it_daemon_pid() {
    local d
    for d in "${_it_daemons[@]}"; do
        if [ "${d%%:*}" = "$1" ] && _it_alive "${d#*:}"; then
            echo "${d#*:}"
            return 0
        fi
    done
    return 1
}

# pw_restart: kills pipewire, wireplumber and pipewire-pulse with SIGKILL,
# as a crash would, starts them again and waits until the graph is healthy
# (fake mics from pipewire.conf.d back, default source set again).
pw_restart() {
    local keep=() d name pid
    for d in "${_it_daemons[@]}"; do
        name=${d%%:*} pid=${d#*:}
        case $name in
        pipewire | wireplumber | pipewire-pulse)
            # Reaping at once keeps bash from printing "Killed" later.
            { kill -KILL "$pid" && wait "$pid"; } 2>/dev/null || true
            ;;
        *) keep+=("$d") ;;
        esac
    done
    _it_daemons=("${keep[@]}")
    for name in "${!_it_mic_module[@]}"; do
        unset "_it_mic_module[$name]" # pactl-module mics die with pipewire-pulse
    done
    it_log "pipewire, wireplumber, pipewire-pulse killed; restarting"
    _it_start_graph || { echo "pw_restart: the graph did not come back" >&2; return 1; }
    local cfg
    cfg=$(_it_configured_source)
    if [ -n "$cfg" ] && has_node "$cfg"; then
        wait_default_source "$cfg" || return 1
    elif [ ${#_it_mic_dropins[@]} -gt 0 ]; then
        _it_until "$IT_TIMEOUT" "a default source" _it_default_set default.audio.source ||
            return 1
    fi
    it_log "graph healthy again"
}

_it_configured_source() {
    pw-metadata 0 default.configured.audio.source 2>/dev/null |
        sed -n "s/.*value:'{ *\"name\": *\"\\([^\"]*\\)\" *}'.*/\\1/p" | head -n 1
}

# pw_env_stop: teardown, also run by the EXIT trap pw_env_start installs.
# Runs the cleanup commands, stops spawned processes and then the daemons,
# by PID, in reverse order; removes the scratch folder unless KEEP=1.
pw_env_stop() {
    local rc=$? i d errexit=
    [ -n "$PW_ENV_DIR" ] && [ -z "$_it_stopping" ] || return "$rc"
    _it_stopping=1
    # Teardown must run to the end whatever fails on the way.
    case $- in *e*) errexit=1 ;; esac
    set +e
    for ((i = ${#_it_cleanups[@]} - 1; i >= 0; i--)); do
        eval "${_it_cleanups[i]}" || true
    done
    tmux -L pwtop kill-server 2>/dev/null
    for ((i = ${#_it_spawned[@]} - 1; i >= 0; i--)); do
        d=${_it_spawned[i]}
        _it_kill "${d#*:}" "${d%%:*}"
    done
    for ((i = ${#_it_daemons[@]} - 1; i >= 0; i--)); do
        d=${_it_daemons[i]}
        _it_kill "${d#*:}" "${d%%:*}"
    done
    if [ "${KEEP:-0}" = 1 ]; then
        echo "kept $PW_ENV_DIR" >&2
    else
        rm -rf "$PW_ENV_DIR"
    fi
    PW_ENV_DIR=
    _it_daemons=() _it_spawned=() _it_cleanups=() _it_mic_dropins=()
    _it_mic_module=()
    trap - EXIT INT TERM
    [ -z "$errexit" ] || set -e
    return "$rc"
}

# it_cleanup CMD: runs CMD (eval) at teardown, before anything is stopped.
it_cleanup() { _it_cleanups+=("$*"); }

# it_spawn NAME CMD...: starts CMD in the background with its output in
# $PW_ENV_DIR/log/NAME.log; sets SPAWN_PID; stopped (TERM, then KILL) at
# teardown before the graph.
it_spawn() {
    local name=$1
    shift
    "$@" >>"$PW_ENV_DIR/log/$name.log" 2>&1 &
    SPAWN_PID=$!
    _it_spawned+=("$name:$SPAWN_PID")
}

# it_stop PID: stops a spawned process now (TERM, then KILL; reaped).
it_stop() {
    local d
    for d in "${_it_spawned[@]}"; do
        [ "${d#*:}" = "$1" ] && { _it_kill "$1" "${d%%:*}"; return 0; }
    done
    _it_kill "$1" "process $1"
}

# ---------------------------------------------------------------- fake mics

# fake_mic_dropin NAME: writes the pipewire.conf.d drop-in for a fake mic
# (mono, 48 kHz, Audio/Source/Virtual). It exists from PipeWire's next
# start on and survives restarts; pw_env_start --mic calls this.
fake_mic_dropin() {
    cat >"$XDG_CONFIG_HOME/pipewire/pipewire.conf.d/60-fake-mic-$1.conf" <<EOF
# Fake microphone for the integration tests: a null sink whose monitor is a
# virtual source; a player linked to its input is what it "hears".
context.objects = [
    { factory = adapter
        args = {
            factory.name     = support.null-audio-sink
            node.name        = "$1"
            node.description = "Fake mic $1"
            media.class      = Audio/Source/Virtual
            audio.rate       = 48000
            audio.channels   = 1
            audio.position   = [ MONO ]
        }
    }
]
EOF
    _it_mic_dropins+=("$1")
}

# fake_mic_add NAME [ARGS...]: a fake mic created now through pipewire-pulse
# (module-null-sink; ARGS are extra module arguments). Gone after pw_restart.
fake_mic_add() {
    local name=$1 idx
    shift
    idx=$(pactl load-module module-null-sink media.class=Audio/Source/Virtual \
        sink_name="$name" channel_map=mono rate=48000 "$@") ||
        { echo "fake_mic_add: pactl load-module failed" >&2; return 1; }
    _it_mic_module[$name]=$idx
    wait_node "$name"
}

# fake_mic_remove NAME: removes a fake mic of either kind now; a drop-in
# one is also deleted from pipewire.conf.d.
fake_mic_remove() {
    local name=$1 id i
    if [ -n "${_it_mic_module[$name]:-}" ]; then
        pactl unload-module "${_it_mic_module[$name]}" || return 1
        unset "_it_mic_module[$name]"
    else
        rm -f "$XDG_CONFIG_HOME/pipewire/pipewire.conf.d/60-fake-mic-$name.conf"
        for i in "${!_it_mic_dropins[@]}"; do
            [ "${_it_mic_dropins[i]}" = "$name" ] && unset "_it_mic_dropins[i]"
        done
        _it_mic_dropins=("${_it_mic_dropins[@]}")
        id=$(node_id "$name") || { echo "fake_mic_remove: no node $name" >&2; return 1; }
        pw-cli destroy "$id" >/dev/null || return 1
    fi
    wait_node_gone "$name"
}

# ---------------------------------------------------------------- audio in and out

# make_test_wav OUT [SECONDS]: 48 kHz mono float WAV, a 440 Hz tone plus
# white noise (the noise makes the cross-correlation peak unambiguous).
make_test_wav() {
    local out=$1 len=${2:-2} f=(-r 48000 -c 1 -e floating-point -b 32) tmp
    tmp=$(mktemp -d) || return 1
    sox -n "${f[@]}" "$tmp/t.wav" synth "$len" sine 440 &&
        sox -n "${f[@]}" "$tmp/n.wav" synth "$len" whitenoise &&
        sox -m -v 0.4 "$tmp/t.wav" -v 0.1 "$tmp/n.wav" "${f[@]}" "$out"
    local rc=$?
    rm -rf "$tmp"
    return $rc
}

# play_into_mic FILE MIC: plays FILE into the fake mic MIC. The player
# starts unlinked (WirePlumber will not route a stream into a virtual
# source) and waits; its outputs are then linked to MIC's inputs, so
# nothing is lost. Sets PLAY_PID and PLAY_NODE (node name). Call it
# directly, not in $(...): the player must stay a child of this shell.
play_into_mic() {
    local file=$1 mic=$2 outs ins i
    _it_nplay=$((_it_nplay + 1))
    PLAY_NODE=feeder
    [ "$_it_nplay" -gt 1 ] && PLAY_NODE=feeder-$_it_nplay
    [ -r "$file" ] || { echo "play_into_mic: cannot read $file" >&2; return 1; }
    "${_it_rt[@]}" pw-play --target 0 -P "{ node.name = $PLAY_NODE }" "$file" \
        >>"$PW_ENV_DIR/log/$PLAY_NODE.log" 2>&1 &
    PLAY_PID=$!
    _it_spawned+=("$PLAY_NODE:$PLAY_PID")
    _it_until "$IT_TIMEOUT" "ports of $PLAY_NODE" _it_has_ports "$PLAY_NODE" -o || return 1
    mapfile -t outs < <(_it_ports "$PLAY_NODE" -o)
    mapfile -t ins < <(_it_ports "$mic" -i)
    [ ${#ins[@]} -gt 0 ] || { echo "play_into_mic: $mic has no input ports" >&2; return 1; }
    for i in "${!outs[@]}"; do
        pw-link "${outs[i]}" "${ins[i % ${#ins[@]}]}" ||
            { echo "play_into_mic: pw-link ${outs[i]} failed" >&2; return 1; }
    done
}
_it_has_ports() { [ -n "$(_it_ports "$1" "$2")" ]; }

# play_wait [PID] [TIMEOUT]: waits for the player to finish (default:
# the last one started, 30 s).
play_wait() {
    wait_pid "${1:-$PLAY_PID}" "${2:-30}"
}

# record_start SOURCE OUT.wav: records SOURCE the way a call app does
# (pulse client, 20 ms latency, float32 mono 48 kHz); returns once the
# recorder is linked to SOURCE. Sets REC_PID and REC_NODE.
record_start() {
    local src=$1 out=$2
    _it_nrec=$((_it_nrec + 1))
    REC_NODE=recorder-$_it_nrec
    parecord -d "$src" --latency-msec=20 --format=float32le --rate=48000 --channels=1 \
        --file-format=wav --property=node.name="$REC_NODE" "$out" \
        >>"$PW_ENV_DIR/log/$REC_NODE.log" 2>&1 &
    REC_PID=$!
    _it_spawned+=("$REC_NODE:$REC_PID")
    wait_link "$src" "$REC_NODE"
}

# record_stop [PID]: stops a recorder with SIGINT (it finalises the file)
# and waits for it; default: the last one started.
record_stop() {
    local pid=${1:-$REC_PID} rc=0
    kill -INT "$pid" 2>/dev/null || { echo "record_stop: recorder $pid is not running" >&2; return 1; }
    wait_pid "$pid" 5 || rc=$?
    case $rc in
    0 | 1) return 0 ;; # pw-record exits 1 after SIGINT
    124) echo "record_stop: recorder $pid did not stop" >&2; return 1 ;;
    *) echo "record_stop: recorder $pid exited with $rc" >&2; return 1 ;;
    esac
}

# record_source SOURCE OUT.wav SECONDS: records SECONDS (counted from when
# the recorder is linked) and stops.
record_source() {
    record_start "$1" "$2" || return 1
    sleep "$3"
    record_stop "$REC_PID"
}

# record_pair_start A B OUT.wav: one two-channel recorder linked to the
# sources (or any nodes with output ports) A (channel 0) and B (channel 1):
# both land in the same graph cycle, so `audio.py delay OUT.wav:0 OUT.wav:1`
# is the exact delay of B behind A. Sets REC_PID and REC_NODE; stop with
# record_stop.
record_pair_start() {
    local a=$1 b=$2 out=$3 pa pb
    _it_nrec=$((_it_nrec + 1))
    REC_NODE=probe-$_it_nrec
    "${_it_rt[@]}" pw-record --target 0 -P "{ node.name = $REC_NODE }" --rate 48000 --channels 2 \
        --format f32 "$out" >>"$PW_ENV_DIR/log/$REC_NODE.log" 2>&1 &
    REC_PID=$!
    _it_spawned+=("$REC_NODE:$REC_PID")
    _it_until "$IT_TIMEOUT" "ports of $REC_NODE" _it_has_ports "$REC_NODE" -i || return 1
    pa=$(_it_ports "$a" -o | grep -v ':monitor_' | head -n 1)
    pb=$(_it_ports "$b" -o | grep -v ':monitor_' | head -n 1)
    if [ -z "$pa" ] || [ -z "$pb" ]; then
        echo "record_pair_start: no output port on $a or $b" >&2
        return 1
    fi
    pw-link "$pa" "$REC_NODE:input_FL" && pw-link "$pb" "$REC_NODE:input_FR"
}

# audio_py ARGS...: runs audio.py with the Python that has numpy.
audio_py() { "$IT_PYTHON" "$IT_LIB_DIR/audio.py" "$@"; }

# ---------------------------------------------------------------- xruns

# PipeWire 0.3.65 reports graph cycles only through its profiler, whose one
# ready reader is pw-top; pw-top has no batch mode there and needs a
# terminal, so it runs in a private, detached tmux. Its ERR column counts,
# per node, the cycles in which the node had not finished when the next
# one began, and only those pw-top itself saw: a pw-top started after an
# xrun shows 0. So start watching before the audio you want to judge.
# A stalled node makes the nodes after it in the same graph (its recorder,
# for one) count the same xruns: compare with them to find the culprit. A
# cycle the whole graph lost (the driver, or the machine, late) counts for
# every follower alike, also for one that does not wait on the node you
# judge (a player feeding the same driver): a node's own lateness is its
# count beyond such a sibling's.

# xruns_watch: starts the pw-top watcher unless it runs. pw-top quits when
# PipeWire goes away: after pw_restart, call it again (xruns_of does).
xruns_watch() {
    command -v tmux >/dev/null || { echo "xruns_watch: tmux is not installed" >&2; return 1; }
    tmux -L pwtop has-session 2>/dev/null && return 0
    tmux -L pwtop -f /dev/null new-session -d -x 250 -y 100 pw-top || return 1
    _it_until 5 "pw-top to draw" _it_top_drawn || return 1
}
_it_top_drawn() { tmux -L pwtop capture-pane -p -t 0 | grep -q '^S *ID *QUANT'; }

# xruns_of NODE...: prints each node's xrun count (pw-top's ERR) since the
# watcher started, space-separated, all from one screen; waits 1.1 s first
# for pw-top's next refresh. The nodes must be running or idle: a suspended
# one shows no count.
xruns_of() {
    local screen node line counts=()
    if ! tmux -L pwtop has-session 2>/dev/null; then
        echo "xruns_of: no watcher was running; counting from now on" >&2
        xruns_watch || return 1
    fi
    sleep 1.1
    screen=$(tmux -L pwtop capture-pane -p -t 0)
    for node in "$@"; do
        # Columns: S ID QUANT RATE WAIT BUSY W/Q B/Q ERR FORMAT... [+] NAME
        line=$(printf '%s\n' "$screen" | awk -v n="$node" '$NF == n && ($1 == "R" || $1 == "I")')
        if [ -z "$line" ]; then
            echo "xruns_of: pw-top shows no running node '$node'" >&2
            return 1
        fi
        counts+=("$(printf '%s\n' "$line" | awk '{ print $9 }')")
    done
    echo "${counts[*]}"
}

# xruns_screen: prints pw-top's current screen (every node's counts).
xruns_screen() {
    tmux -L pwtop capture-pane -p -t 0 | sed '/^ *$/d'
}

# ---------------------------------------------------------------- assertions

# assert_eq ACTUAL EXPECTED WHAT
assert_eq() {
    [ "$1" = "$2" ] || it_fail "$3: got '$1', expected '$2'"
}

# assert_num A OP B WHAT: numeric (float) comparison, OP one of < <= > >= == !=
assert_num() {
    awk -v a="$1" -v b="$3" -v op="$2" 'BEGIN {
        num = "^[-+]?(([0-9]+[.]?[0-9]*|[.][0-9]+)([eE][-+]?[0-9]+)?|inf)$"
        if (a !~ num || b !~ num) exit 1
        a += 0; b += 0; r = -1
        if (op == "<") r = a < b; else if (op == "<=") r = a <= b
        else if (op == ">") r = a > b; else if (op == ">=") r = a >= b
        else if (op == "==") r = a == b; else if (op == "!=") r = a != b
        exit r != 1 }' || it_fail "$4: $1 is not $2 $3"
}

# assert_ok WHAT CMD...: runs CMD; fails the test with WHAT if it fails.
assert_ok() {
    local what=$1
    shift
    "$@" || it_fail "$what"
}

assert_node() { has_node "$1" || it_fail "no node '$1'"; }
assert_no_node() { ! has_node "$1" || it_fail "node '$1' exists but should not"; }
assert_link() { has_link "$1" "$2" || it_fail "no link $1 -> $2"; }
assert_no_link() { ! has_link "$1" "$2" || it_fail "link $1 -> $2 exists but should not"; }
assert_default_source() {
    local d
    d=$(default_source)
    [ "$d" = "$1" ] || it_fail "default source is '$d', expected '$1'"
}
