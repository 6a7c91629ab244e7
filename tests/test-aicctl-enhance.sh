#!/bin/sh
# End-to-end test of `aicctl enhance IN.wav OUT.wav`: sample formats, channel
# counts and rates in and out, exact bypass, and how it fails (exit 1 with one
# line on stderr, exit 2 on bad usage; OUT never created or touched on failure).
# Usage: test-aicctl-enhance.sh AICCTL DATA_DIR
set -eu

aicctl=$1
data=$2
model=$data/tiny.aicm
py=/usr/bin/python3

if ! [ -x "$py" ] || ! "$py" -c 'import numpy, soundfile' 2>/dev/null; then
    echo "skipped: needs $py with numpy and soundfile"
    exit 77
fi

tmp=$(mktemp -d "${TMPDIR:-/tmp}/aicctl-enhance.XXXXXX")
trap 'rm -rf "$tmp"' EXIT
failures=0

fail() {
    echo "FAIL: $*" >&2
    failures=$((failures + 1))
}

# Inputs: every subtype x channel count x rate, an odd number of frames each.
"$py" - "$tmp" <<'EOF'
import sys
import numpy as np
import soundfile as sf

tmp = sys.argv[1]
rng = np.random.default_rng(1)
for subtype in ("PCM_16", "PCM_24", "PCM_32", "FLOAT"):
    for ch in (1, 2, 6):
        for rate in (16000, 44100, 48000):
            n = int(rate * 0.37) + 13
            t = np.arange(n) / rate
            x = 0.3 * np.sin(2 * np.pi * 440 * t)[:, None] + 0.2 * rng.standard_normal((n, ch))
            x = np.clip(x, -0.99, 0.99).astype(np.float32)
            sf.write(f"{tmp}/in-{subtype}-{ch}-{rate}.wav", x, rate, subtype=subtype, format="WAV")
sf.write(f"{tmp}/rate-7000.wav", np.zeros((700, 1), np.float32), 7000, subtype="FLOAT")
sf.write(f"{tmp}/ch-17.wav", np.zeros((480, 17), np.float32), 48000, subtype="FLOAT")
EOF

# Runs aicctl with stderr captured in $tmp/err; sets $rc.
run() {
    set +e
    "$aicctl" "$@" 2>"$tmp/err" >"$tmp/stdout"
    rc=$?
    set -e
}

# Good runs: enhanced with the tiny model, and bypassed.
for in in "$tmp"/in-*.wav; do
    name=$(basename "$in" .wav)
    run enhance "$in" "$tmp/enh-${name#in-}.wav" --model "$model"
    [ "$rc" -eq 0 ] || fail "enhance $name: exit $rc: $(cat "$tmp/err")"
    run enhance "$in" "$tmp/byp-${name#in-}.wav" --model "$model" --bypass
    [ "$rc" -eq 0 ] || fail "enhance --bypass $name: exit $rc: $(cat "$tmp/err")"
done

"$py" - "$tmp" <<'EOF' || fail "outputs do not match their inputs (see above)"
import glob
import os
import sys
import numpy as np
import soundfile as sf

tmp = sys.argv[1]
bad = 0
checked = 0


def complain(msg):
    global bad
    print(f"  {msg}", file=sys.stderr)
    bad += 1


for path in sorted(glob.glob(f"{tmp}/in-*.wav")):
    key = os.path.basename(path)[3:]
    subtype = key.split("-")[0]
    info = sf.info(path)
    x = sf.read(path, dtype="float64", always_2d=True)[0]
    for kind in ("enh", "byp"):
        out = f"{tmp}/{kind}-{key}"
        if not os.path.exists(out):
            complain(f"{kind}-{key}: missing")
            continue
        o = sf.info(out)
        if (o.samplerate, o.channels, o.frames, o.subtype, o.format) != (
            info.samplerate, info.channels, info.frames, info.subtype, info.format):
            complain(f"{kind}-{key}: {o.samplerate} Hz, {o.channels} ch, {o.frames} frames, {o.format}/{o.subtype};"
                     f" want {info.samplerate}, {info.channels}, {info.frames}, {info.format}/{info.subtype}")
            continue
        y = sf.read(out, dtype="float64", always_2d=True)[0]
        if not np.all(np.isfinite(y)):
            complain(f"{kind}-{key}: non-finite samples")
        if kind == "byp":
            if subtype == "PCM_32":
                # Through float32: 24 significant bits of 32.
                if np.max(np.abs(y - x)) > 2.0 ** -23:
                    complain(f"{key}: bypass differs by {np.max(np.abs(y - x))}")
            else:
                a = sf.read(path, dtype="int32" if subtype != "FLOAT" else "float32")[0]
                b = sf.read(out, dtype="int32" if subtype != "FLOAT" else "float32")[0]
                if not np.array_equal(a, b):
                    complain(f"{key}: bypass is not bit-exact (max diff {np.max(np.abs(y - x))})")
        else:
            if np.array_equal(x, y):
                complain(f"{key}: enhanced output equals the input")
            elif not (np.sqrt(np.mean(y ** 2)) > 0.05 * np.sqrt(np.mean(x ** 2))):
                complain(f"{key}: enhanced output is (nearly) silent")
        checked += 1

if checked != 72:
    complain(f"checked {checked} outputs, want 72")
sys.exit(1 if bad else 0)
EOF

# IN and OUT the same file: still exact under bypass.
cp "$tmp/in-FLOAT-2-44100.wav" "$tmp/same.wav"
run enhance "$tmp/same.wav" "$tmp/same.wav" --model "$model" --bypass
[ "$rc" -eq 0 ] || fail "enhance IN IN: exit $rc"
"$py" - "$tmp/same.wav" "$tmp/in-FLOAT-2-44100.wav" <<'EOF' || fail "enhance IN IN --bypass changed the audio"
import sys
import numpy as np
import soundfile as sf

a, ra = sf.read(sys.argv[1], dtype="float32")
b, rb = sf.read(sys.argv[2], dtype="float32")
sys.exit(0 if ra == rb and a.shape == b.shape and np.array_equal(a, b) else 1)
EOF

# Failures: exit 1, one line on stderr, OUT neither created nor changed, no
# temporary file left beside it.
printf 'this is not a sound file\n' >"$tmp/text.wav"
: >"$tmp/empty.wav"
head -c 30 "$tmp/in-PCM_16-1-16000.wav" >"$tmp/truncated.wav"
head -c 4096 /dev/urandom >"$tmp/garbage.aicm"
head -c 100 "$model" >"$tmp/truncated.aicm"
mkdir "$tmp/adir"
good=$tmp/in-FLOAT-1-48000.wav

expect_failure() {
    what=$1
    shift
    for existing in no yes; do
        rm -f "$tmp/out.wav"
        if [ "$existing" = yes ]; then
            printf 'previous contents\n' >"$tmp/out.wav"
        fi
        run enhance "$@" "$tmp/out.wav"
        if [ "$rc" -ne 1 ]; then
            fail "$what: exit $rc, want 1"
        fi
        lines=$(wc -l <"$tmp/err")
        if [ "$lines" -ne 1 ] || ! grep -q '^aicctl: ' "$tmp/err"; then
            fail "$what: want one 'aicctl: ...' line on stderr, got: $(cat "$tmp/err")"
        fi
        if [ "$existing" = yes ]; then
            [ "$(cat "$tmp/out.wav")" = "previous contents" ] || fail "$what: OUT was changed"
        elif [ -e "$tmp/out.wav" ]; then
            fail "$what: OUT was created"
        fi
        if ls "$tmp"/out.wav.* >/dev/null 2>&1; then
            fail "$what: left $(ls "$tmp"/out.wav.*) behind"
            rm -f "$tmp"/out.wav.*
        fi
    done
}

# expect_failure passes OUT last, after any options: getopt permutes.
expect_failure "missing input" "$tmp/nonexistent.wav" --model "$model"
expect_failure "text file" "$tmp/text.wav" --model "$model"
expect_failure "empty file" "$tmp/empty.wav" --model "$model"
expect_failure "truncated header" "$tmp/truncated.wav" --model "$model"
expect_failure "directory as input" "$tmp/adir" --model "$model"
expect_failure "unsupported rate" "$tmp/rate-7000.wav" --model "$model"
expect_failure "17 channels" "$tmp/ch-17.wav" --model "$model"
expect_failure "garbage model" "$good" --model "$tmp/garbage.aicm"
expect_failure "truncated model" "$good" --model "$tmp/truncated.aicm"
expect_failure "missing model" "$good" --model "$tmp/nonexistent.aicm"

# Bad usage: exit 2, OUT untouched.
expect_usage() {
    what=$1
    shift
    printf 'previous contents\n' >"$tmp/out.wav"
    run enhance "$@"
    [ "$rc" -eq 2 ] || fail "$what: exit $rc, want 2"
    [ -s "$tmp/err" ] || fail "$what: nothing on stderr"
    [ "$(cat "$tmp/out.wav")" = "previous contents" ] || fail "$what: OUT was changed"
}

expect_usage "no arguments"
expect_usage "no OUT" "$good"
expect_usage "three files" "$good" "$tmp/out.wav" "$tmp/third.wav" --model "$model"
expect_usage "level 2" "$good" "$tmp/out.wav" --model "$model" --level 2
expect_usage "level -0.1" "$good" "$tmp/out.wav" --model "$model" --level -0.1
expect_usage "level nan" "$good" "$tmp/out.wav" --model "$model" --level nan
expect_usage "level not a number" "$good" "$tmp/out.wav" --model "$model" --level loud
expect_usage "unknown option" "$good" "$tmp/out.wav" --model "$model" --frobnicate
expect_usage "--model without a value" "$good" "$tmp/out.wav" --model
[ ! -e "$tmp/third.wav" ] || fail "three files: created the third"

if [ "$failures" -ne 0 ]; then
    echo "$failures check(s) failed" >&2
    exit 1
fi
echo "all aicctl enhance checks passed"
