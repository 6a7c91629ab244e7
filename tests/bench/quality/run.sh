#!/bin/bash
# Side-by-side quality evaluation: aicd against RNNoise, GTCRN, speexdsp and WebRTC noise
# suppression on the held-out test set; prints Markdown tables and writes RESULTS.md.
#
#   tests/bench/quality/run.sh [--model PATH] [--level L] [--clips N] [--systems a,b] [--jobs 1|2]
#
# Needs: the prepared data (engine/training/prepare_data.py), cmake (aicctl is built, or brought
# up to date, in build-q/; $AICCTL overrides), node 20 + npm, gcc/g++, libspeexdsp-dev,
# libwebrtc-audio-processing-dev, and /usr/bin/python3 with numpy, scipy and soundfile.
# Audio and outputs go to ${AICD_QUALITY_DIR:-~/.cache/aicd/quality}.
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
root=$(cd "$here/../../.." && pwd)

if [ ! -x /usr/bin/python3 ] || ! /usr/bin/python3 -c 'import numpy, scipy, soundfile' 2>/dev/null; then
    echo "quality: needs /usr/bin/python3 with numpy, scipy and soundfile" \
        "(apt-get install python3-numpy python3-scipy python3-soundfile)" >&2
    exit 2
fi
for tool in node npm gcc g++ pkg-config; do
    if ! command -v "$tool" >/dev/null; then
        echo "quality: $tool not found" >&2
        exit 2
    fi
done

if [ ! -d "$here/node_modules/@shiguredo/rnnoise-wasm" ] ||
    [ ! -d "$here/node_modules/@sapphi-red/web-noise-suppressor" ]; then
    echo "installing the npm baselines (npm ci) ..."
    (cd "$here" && npm ci --no-audit --no-fund --loglevel=error)
fi

# Always from this tree: a stale aicctl would score an older engine (an engine
# without a model feature the file uses would quietly skip it).
if [ -z "${AICCTL:-}" ]; then
    echo "building aicctl in build-q ..."
    cmake -S "$root" -B "$root/build-q" -DCMAKE_BUILD_TYPE=Release >/dev/null
    cmake --build "$root/build-q" -j2 --target aicctl >/dev/null
    export AICCTL=$root/build-q/dbus/aicctl
fi

cd "$root"
exec /usr/bin/python3 "$here/evaluate.py" "$@"
