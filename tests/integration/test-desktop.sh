#!/bin/bash
# The desktop path of the README's run command, end to end, in a real
# systemd user session: a scratch user's own `systemd --user`, with
# PipeWire, WirePlumber and pipewire-pulse started from Debian's user units
# (no sound card: a fake mic drop-in stands in for the laptop's). As that
# user, scripts/run.sh takes its desktop branch: builds, installs (sudo),
# enables and starts aicd.service. Then:
#   - the unit is active and enabled (Type=notify: READY=1 came), the hardened
#     unit starts under a user manager at all;
#   - "Clean Mic (aicd)" is a PulseAudio source, records the voice played
#     into the mic, and aicctl reaches the daemon on the session bus;
#   - it is back by itself after `systemctl --user restart pipewire`, after
#     PipeWire crashes (SIGKILL), after aicd itself crashes, and after the
#     user logs out and in again (the whole user manager restarted).
# Needs root (scratch user, sudoers entry, cgroup delegation, make install
# into /usr/local, all undone at the end); skips otherwise.
#   test-desktop.sh [SOURCE_DIR]
set -u
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

SRC=$(cd "${1:-$IT_LIB_DIR/../..}" && pwd)
git -C "$SRC" rev-parse --git-dir >/dev/null 2>&1 || it_skip "$SRC is not a git checkout (the test copies its files)"
[ "$(id -u)" -eq 0 ] || it_skip "needs root (a scratch user and make install)"
SYSTEMD=/lib/systemd/systemd
for c in "$SYSTEMD" systemctl setpriv sudo useradd git; do
    command -v "$c" >/dev/null || it_skip "$c is not installed"
done

USR=aicd-desk
T=$(mktemp -d /tmp/aicd-desk.XXXXXX)
chmod 755 "$T"
RUN=$T/run
HOM=$T/home
MARKER=
CGROUPS=()
MGR_PID=
INSTALLED=

cleanup() {
    set +e
    if [ -n "$MGR_PID" ] && kill -0 "$MGR_PID" 2>/dev/null; then
        as_user systemctl --user disable --now aicd.service >/dev/null 2>&1
        as_user systemctl --user exit >/dev/null 2>&1
        wait_pid "$MGR_PID" 10 || kill -9 "$MGR_PID"
    fi
    pkill -9 -u "$USR" 2>/dev/null
    sleep 0.2
    if [ -n "$INSTALLED" ] && [ -f "$INSTALLED" ]; then
        xargs -r -d '\n' rm -f <"$INSTALLED"
        ldconfig
    fi
    rm -f /etc/sudoers.d/aicd-desk-test
    local cg
    for cg in "${CGROUPS[@]}"; do
        find "$cg" -depth -type d -exec rmdir {} + 2>/dev/null
    done
    [ -n "$MARKER" ] && rmdir /run/systemd/system 2>/dev/null
    userdel "$USR" 2>/dev/null
    if [ -n "${KEEP:-}" ]; then echo "kept $T" >&2; else rm -rf "$T"; fi
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

# as_user CMD...: CMD as the scratch user, in its session's environment.
as_user() {
    setpriv --reuid="$USR" --regid="$USR" --init-groups -- env -i PATH=/usr/local/bin:/usr/bin:/bin HOME="$HOM" USER="$USR" \
        LANG=C.UTF-8 XDG_RUNTIME_DIR="$RUN" DBUS_SESSION_BUS_ADDRESS="unix:path=$RUN/bus" "$@"
}
# as_user_bg LOG CMD...: the same in the background, SCHED_FIFO where root
# may (pw-play and parecord do file I/O in the thread the graph waits on);
# BG_PID is CMD's own PID.
as_user_bg() {
    local log=$1
    shift
    "${_it_rt[@]}" setpriv --reuid="$USR" --regid="$USR" --init-groups -- env -i PATH=/usr/local/bin:/usr/bin:/bin HOME="$HOM" \
        USER="$USR" LANG=C.UTF-8 XDG_RUNTIME_DIR="$RUN" DBUS_SESSION_BUS_ADDRESS="unix:path=$RUN/bus" \
        "$@" >>"$log" 2>&1 &
    BG_PID=$!
}
dump() {
    echo "---- systemctl --user status" >&2
    as_user systemctl --user --no-pager status aicd.service pipewire.service wireplumber.service 2>&1 | tail -n 40 >&2
    echo "---- user manager log" >&2
    tail -n 30 "$T/manager.log" >&2
}
fail() { dump; it_fail "$@"; }

# -- a user and their login session -----------------------------------------------
id "$USR" >/dev/null 2>&1 && userdel "$USR" 2>/dev/null
useradd -M -d "$HOM" -s /bin/bash "$USR" || it_fail "useradd"
mkdir -p "$HOM/.config/pipewire/pipewire.conf.d" "$RUN"
echo "$USR ALL=(root) NOPASSWD: ALL" >/etc/sudoers.d/aicd-desk-test
chmod 0440 /etc/sudoers.d/aicd-desk-test
# The laptop's microphone: a null source that survives PipeWire restarts
# (the harness's drop-in, in the user's own PipeWire configuration).
XDG_CONFIG_HOME=$HOM/.config fake_mic_dropin fake_mic
# Their aicd configuration (the unit shows the daemon only its own folders).
mkdir -p "$HOM/.config/aicd"
printf '[engine]\nlevel = 0.7\n' >"$HOM/.config/aicd/aicd.conf"
# The source tree as the user has it: a checkout of their own.
mkdir "$HOM/aicd"
git -C "$SRC" ls-files -co --exclude-standard -z |
    tar -C "$SRC" --null -T - -cf - | tar -C "$HOM/aicd" -xf - || it_fail "copying the source tree"
chown -R "$USR:" "$HOM" "$RUN"
chmod 700 "$RUN"

# A user manager needs what logind and user@.service give it on a booted
# system: the "booted with systemd" marker and a delegated cgroup.
if [ ! -d /run/systemd/system ]; then
    mkdir -p /run/systemd/system && MARKER=1
fi
if [ "$(stat -fc %T /sys/fs/cgroup)" = cgroup2fs ]; then
    CGROUPS=("/sys/fs/cgroup/aicd-desk-$$")
else
    for h in unified systemd; do
        [ -d "/sys/fs/cgroup/$h" ] && CGROUPS+=("/sys/fs/cgroup/$h/aicd-desk-$$")
    done
fi
for cg in "${CGROUPS[@]}"; do
    mkdir -p "$cg" && chown -R "$USR" "$cg" || it_skip "cannot delegate a cgroup ($cg)"
done

# login: start the user manager (default.target pulls in PipeWire, as Debian
# enables its units for every user)
login() {
    # shellcheck disable=SC2016
    setsid sh -c 'for cg; do echo $$ >"$cg/cgroup.procs" || exit 1; done
        exec setpriv --reuid="$U" --regid="$U" --init-groups -- env -i PATH=/usr/local/bin:/usr/bin:/bin HOME="$H" USER="$U" \
            LANG=C.UTF-8 XDG_RUNTIME_DIR="$R" DBUS_SESSION_BUS_ADDRESS="unix:path=$R/bus" \
            "$S" --user --log-target=console' sh "${CGROUPS[@]}" \
        >>"$T/manager.log" 2>&1 </dev/null &
    MGR_PID=$!
    _it_until 15 "the user manager" manager_up || fail "systemd --user did not start"
}
manager_up() {
    case $(as_user systemctl --user is-system-running 2>/dev/null) in
    running | degraded) return 0 ;;
    esac
    return 1
}
export U=$USR H=$HOM R=$RUN S=$SYSTEMD # for login's sh -c
logout() {
    as_user systemctl --user exit >/dev/null 2>&1
    wait_pid "$MGR_PID" 15 || fail "the user manager did not exit"
    MGR_PID=
}

clean_mic_listed() { as_user pactl list sources short 2>/dev/null | grep -q $'\taicd_clean_mic\t'; }
aicd_active() { [ "$(as_user systemctl --user is-active aicd.service)" = active ]; }
aicd_pid() { as_user systemctl --user show -p MainPID --value aicd.service; }
pid_changed() {
    local p
    p=$(aicd_pid)
    [ -n "$p" ] && [ "$p" != 0 ] && [ "$p" != "$1" ]
}
pipewire_active() { [ "$(as_user systemctl --user is-active pipewire.service)" = active ]; }
recorder_linked() { as_user pw-link -l | grep -A3 '^aicd_clean_mic:' | grep -q '|->'; }
feeder_up() { as_user pw-link -o | grep -q '^feeder:'; }
# give_rt: what RealtimeKit does on a desktop (a login here has neither it
# nor PAM's rtprio limit): SCHED_FIFO for the data-loop threads (all but the
# main thread) of PipeWire, pipewire-pulse and aicd, so a busy machine does
# not starve the graph.
give_rt() {
    [ "$IT_RT_OK" = 1 ] || return 0
    local unit pid t
    for unit in pipewire.service pipewire-pulse.service aicd.service; do
        pid=$(as_user systemctl --user show -p MainPID --value "$unit")
        [ -n "$pid" ] && [ "$pid" != 0 ] || continue
        for t in /proc/"$pid"/task/*; do
            [ "${t##*/}" = "$pid" ] || chrt -f -p 20 "${t##*/}" >/dev/null 2>&1
        done
    done
}
# back_within SECONDS WHAT: aicd active, answering on the bus, and its
# Clean Mic a source again
back_within() {
    _it_until "$1" "aicd active ($2)" aicd_active || fail "aicd.service not active again ($2)"
    _it_until "$1" "the Clean Mic ($2)" clean_mic_listed || fail "no Clean Mic ($2)"
    as_user aicctl status >/dev/null || fail "aicctl status ($2)"
    give_rt
}

login
_it_until 15 "PipeWire at login" pipewire_active ||
    fail "PipeWire was not started at login"
# The fake mic is a virtual source, which WirePlumber never picks as the
# default by itself; the user picks it, once, as one picks a headset.
as_user pactl set-default-source fake_mic || fail "pactl set-default-source"
it_log "user session up: $(as_user systemctl --user is-active pipewire.service wireplumber.service pipewire-pulse.service | paste -sd' ')"

# -- the README's run command, as the user ----------------------------------------
out=$(cd "$HOM/aicd" && as_user env AICD_SKIP_APT_UPDATE=1 sh scripts/run.sh 2>&1) ||
    { printf '%s\n' "$out" | tail -n 30 >&2; fail "scripts/run.sh failed on the desktop"; }
INSTALLED=$HOM/aicd/build/install_manifest.txt
printf '%s\n' "$out" | grep -q 'choose "Clean Mic (aicd)"' ||
    { printf '%s\n' "$out" | tail -n 20 >&2; fail "run.sh did not take its desktop branch"; }
[ -x /usr/local/bin/aicd ] || fail "aicd was not installed"
[ "$(as_user systemctl --user is-enabled aicd.service)" = enabled ] || fail "aicd.service not enabled"
back_within 10 "after run.sh"
it_log "run.sh: installed, aicd.service $(as_user systemctl --user is-active aicd.service), Clean Mic listed"
as_user pactl list sources | grep -q 'Description: Clean Mic (aicd)' || fail "no source described \"Clean Mic (aicd)\""
status_key() { as_user aicctl status --json | /usr/bin/python3 -c 'import json, sys; print(json.load(sys.stdin)[sys.argv[1]])' "$1"; }
# The sandbox lets it read its configuration and keep its state.
assert_num "$(status_key enhancement_level)" "==" 0.7 "level from ~/.config/aicd/aicd.conf"
as_user aicctl bypass on >/dev/null || fail "aicctl bypass on"
as_user systemctl --user restart aicd.service || fail "restart aicd"
back_within 10 "systemctl --user restart aicd"
[ "$(status_key bypass)" = True ] || fail "bypass did not persist across a restart (state in ~/.local/state/aicd)"
as_user aicctl bypass off >/dev/null || fail "aicctl bypass off"
it_log "config read and state kept under the unit's sandbox"

# -- voice through it, recorded as a call app does --------------------------------
/usr/bin/python3 "$SRC/scripts/make-sample.py" "$T/noisy.wav" "$T/clean.wav" --snr 5 || it_fail "sample"
chmod 644 "$T/noisy.wav"
rec_and_play() {
    as_user_bg "$T/rec.log" parecord -d aicd_clean_mic --latency-msec=20 --format=float32le --rate=48000 \
        --channels=1 --file-format=wav "$RUN/rec.wav"
    local rec=$BG_PID
    _it_until 10 "the recorder's link" recorder_linked || fail "the recorder was not linked to the Clean Mic"
    as_user_bg "$T/play.log" pw-play --target 0 -P '{ node.name = feeder }' "$T/noisy.wav"
    local play=$BG_PID
    as_user aicctl status >>"$T/status.log" 2>&1
    _it_until 10 "the player's port" feeder_up ||
        fail "player not in the graph"
    as_user pw-link feeder:output_MONO fake_mic:input_MONO || fail "pw-link feeder -> fake_mic"
    wait_pid "$play" 60
    [ $? -ne 124 ] || fail "the player did not finish"
    sleep 0.5
    kill -INT "$rec"
    wait_pid "$rec" 10
    [ $? -ne 124 ] || fail "the recorder did not stop"
}
rec_and_play
sdr_in=$(/usr/bin/python3 "$IT_LIB_DIR/audio.py" sisdr "$T/clean.wav" "$T/noisy.wav")
sdr_out=$(/usr/bin/python3 "$IT_LIB_DIR/audio.py" sisdr "$T/clean.wav" "$RUN/rec.wav") ||
    fail "cannot score the recording"
it_log "recorded from the Clean Mic: SI-SDR $sdr_in dB in, $sdr_out dB out"
assert_num "$(awk -v a="$sdr_in" -v b="$sdr_out" 'BEGIN { print b - a }')" ">=" 3 \
    "SI-SDR improvement of the Clean Mic in a desktop session (dB)"

# -- it comes back by itself ------------------------------------------------------
p0=$(aicd_pid)
as_user systemctl --user restart pipewire.service || fail "restart pipewire"
_it_until 10 "a new aicd" pid_changed "$p0" ||
    fail "aicd was not restarted with PipeWire"
back_within 10 "systemctl --user restart pipewire"
it_log "systemctl --user restart pipewire: back"

p0=$(aicd_pid)
as_user systemctl --user kill -s SIGKILL pipewire.service || fail "kill pipewire"
_it_until 15 "a new aicd" pid_changed "$p0" ||
    fail "aicd did not come back after PipeWire crashed"
back_within 15 "PipeWire killed"
it_log "PipeWire killed: back"

p0=$(aicd_pid)
kill -9 "$p0"
_it_until 10 "a new aicd" pid_changed "$p0" ||
    fail "aicd was not restarted after it crashed"
back_within 10 "aicd killed"
it_log "aicd killed: back"

logout
login
back_within 20 "log out and in again"
it_log "log out, log in: aicd started with the session"
rec_and_play
sdr_out=$(/usr/bin/python3 "$IT_LIB_DIR/audio.py" sisdr "$T/clean.wav" "$RUN/rec.wav") ||
    fail "cannot score the recording after logging in again"
assert_num "$(awk -v a="$sdr_in" -v b="$sdr_out" 'BEGIN { print b - a }')" ">=" 3 \
    "SI-SDR improvement after logging in again (dB)"
it_log "desktop session: all checks passed"
exit 0
