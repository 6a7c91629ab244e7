#!/bin/sh
# Runs every libFuzzer target of BUILD_DIR (configured with -DAICD_FUZZ=ON)
# for SECONDS each, one after another, on a scratch copy of its committed
# corpus. Exits 1 when any target crashes, leaks, times out or runs out of
# memory; the reproducers are kept in BUILD_DIR/fuzz-artifacts/.
# Usage: tests/fuzz/run.sh BUILD_DIR SECONDS
set -u

if [ $# -ne 2 ]; then
        echo "Usage: $0 BUILD_DIR SECONDS" >&2
        exit 2
fi
build=$1
seconds=$2
here=$(cd "$(dirname "$0")" && pwd)
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT INT TERM
artifacts="$build/fuzz-artifacts"
mkdir -p "$artifacts"
status=0

for corpus in "$here"/corpus/*/; do
        target=$(basename "$corpus")
        bin="$build/tests/fuzz/fuzz-$target"
        if [ ! -x "$bin" ]; then
                echo "fuzz-$target: not built in $build" >&2
                status=1
                continue
        fi
        cp -R "$corpus" "$work/$target"
        mkdir -p "$work/out-$target"
        "$bin" -max_total_time="$seconds" -timeout=30 -rss_limit_mb=2048 \
                -print_final_stats=1 -artifact_prefix="$work/out-$target/" "$work/$target" >"$work/$target.log" 2>&1
        rc=$?
        execs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$work/$target.log" | tail -n 1)
        if [ "$rc" -eq 0 ]; then
                echo "fuzz-$target: ok, ${execs:-?} runs in ${seconds} s"
        else
                echo "fuzz-$target: FAILED (exit $rc) after ${execs:-?} runs" >&2
                grep -E '^(==[0-9]+==ERROR|SUMMARY|.*runtime error|.*Test unit written)' "$work/$target.log" | head -n 20 >&2
                cp "$work/$target.log" "$artifacts/fuzz-$target.log"
                cp "$work/out-$target/"* "$artifacts/" 2>/dev/null
                status=1
        fi
done
exit $status
