#!/bin/sh
# Sets aicd up on a fresh Debian 12 machine and runs the main job on the
# bundled model: installs the packages, builds, and runs the Clean Mic demo
# (scripts/demo.sh) in a private headless PipeWire graph.
set -eu
cd "$(dirname "$0")/.."

./scripts/bootstrap.sh
cmake -S . -B build -DCMAKE_BUILD_TYPE=Release
cmake --build build -j"$(nproc)"
exec bash scripts/demo.sh build/daemon/aicd build/dbus/aicctl
