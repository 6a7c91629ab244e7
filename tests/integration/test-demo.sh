#!/bin/bash
# The README's run command without a desktop session (scripts/demo.sh, what
# scripts/run.sh runs there): it must leave the before/after WAVs, the
# spectrogram PNG, and print an improvement that is really there.
#   test-demo.sh AICD AICCTL
set -u
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
ROOT=$(cd "$IT_LIB_DIR/../.." && pwd)
out=$(mktemp -d)
trap 'rm -rf "$out"' EXIT
log=$(AICD_DEMO_OUT=$out bash "$ROOT/scripts/demo.sh" "$1" "$2" 2>&1) ||
    { printf '%s\n' "$log" >&2; it_fail "demo.sh failed"; }
printf '%s\n' "$log" | tail -n 8 >&2
for f in noisy.wav clean-reference.wav clean-mic.wav heard.wav spectrogram.png; do
    [ -s "$out/$f" ] || it_fail "demo.sh did not write $f"
done
file "$out/spectrogram.png" | grep -q 'PNG image data' || it_fail "spectrogram.png is not a PNG"
printed=$(printf '%s\n' "$log" | sed -n 's/^Improvement: \([-+0-9.]*\) dB$/\1/p')
[ -n "$printed" ] || it_fail "demo.sh printed no improvement"
# The printed figure is the one the files give.
measured=$(awk -v a="$("$IT_PYTHON" "$IT_LIB_DIR/audio.py" sisdr "$out/clean-reference.wav" "$out/heard.wav")" \
    -v b="$("$IT_PYTHON" "$IT_LIB_DIR/audio.py" sisdr "$out/clean-reference.wav" "$out/clean-mic.wav")" \
    'BEGIN { printf "%.1f", b - a }')
assert_num "$(awk -v a="$printed" -v b="$measured" 'BEGIN { d = a - b; print d < 0 ? -d : d }')" "<=" 0.15 \
    "printed improvement ($printed) vs the files' ($measured)"
assert_num "$printed" ">=" 3 "demo improvement (dB)"
exit 0
