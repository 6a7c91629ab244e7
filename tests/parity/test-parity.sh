#!/bin/sh
# Parity: the C engine and the training framework's reference give the same
# output on the same input (relative error <= 1e-4), for each model given, at
# full and half level, mono and stereo.
#   test-parity.sh PARITY_RUN MODEL...
set -eu
run=$1
shift
py=/usr/bin/python3
here=$(dirname "$0")
[ -x "$py" ] && "$py" -c 'import numpy, soundfile' 2>/dev/null || { echo "numpy/soundfile missing"; exit 77; }
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
for model in "$@"; do
        [ -r "$model" ] || continue
        for ch in 1 2; do
                "$py" "$here/parity.py" --model "$model" --make-input "$tmp/in.wav" --channels "$ch"
                for level in 1.0 0.5; do
                        "$run" "$model" "$tmp/in.wav" "$tmp/out.wav" "$level"
                        echo "$(basename "$model") channels=$ch level=$level:"
                        "$py" "$here/parity.py" --model "$model" --input "$tmp/in.wav" --c-output "$tmp/out.wav" --level "$level"
                done
        done
done
