#!/bin/sh
# Sets aicd up on a fresh Debian 12 machine and runs the main job on the
# bundled model: installs the packages, builds, and runs the Clean Mic demo
# (scripts/demo.sh) in a private headless PipeWire graph.
set -eu
cd "$(dirname "$0")/.."

./scripts/bootstrap.sh
cmake -S . -B build -DCMAKE_BUILD_TYPE=Release -DBUILD_TESTING=OFF
cmake --build build -j"$(nproc)"
# On a desktop with PipeWire and a systemd user session: install aicd and
# start it for this user. Anywhere else (or with AICD_DEMO=1): the headless
# demo in a private graph.
runtime=${XDG_RUNTIME_DIR:-/run/user/$(id -u)}
if [ -z "${AICD_DEMO:-}" ] && [ -S "$runtime/pipewire-0" ] && systemctl --user show-environment >/dev/null 2>&1; then
        sudo=""
        [ "$(id -u)" -eq 0 ] || sudo="sudo"
        $sudo cmake --install build
        systemctl --user daemon-reload
        systemctl --user enable --now aicd.service
        sleep 1
        aicctl status || true
        echo
        echo "aicd is running. In Zoom, Discord or your browser, choose \"Clean Mic (aicd)\" as the microphone."
        echo "aicctl monitor shows it working; aicctl bypass toggle compares with and without."
        exit 0
fi
exec bash scripts/demo.sh build/daemon/aicd build/dbus/aicctl
