#!/bin/sh
# Runs the cmocka unit tests of BUILD_DIR under valgrind memcheck: any memory
# error or any definite or indirect leak fails the run. test-framing and
# test-context-threads (threads spinning on the contexts, which valgrind
# serialises) take many minutes under valgrind and only run with
# AICD_VALGRIND_SLOW=1; both run under ASan+UBSan in every CI run.
# Usage: tests/valgrind.sh BUILD_DIR
set -u

if [ $# -ne 1 ]; then
        echo "Usage: $0 BUILD_DIR" >&2
        exit 2
fi
build=$1
here=$(cd "$(dirname "$0")" && pwd)
command -v valgrind >/dev/null || { echo "valgrind not found, skipping"; exit 77; }

tests="test-errors test-model test-credential test-license"
if [ "${AICD_VALGRIND_SLOW:-0}" = 1 ]; then
        tests="$tests test-context-threads test-framing"
fi

status=0
for t in $tests; do
        bin="$build/tests/$t"
        if [ ! -x "$bin" ]; then
                echo "$t: not built in $build" >&2
                status=1
                continue
        fi
        log=$(mktemp)
        valgrind --quiet --error-exitcode=99 --leak-check=full --show-leak-kinds=definite,indirect \
                --errors-for-leak-kinds=definite,indirect --track-origins=yes \
                --suppressions="$here/valgrind.supp" "$bin" >"$log" 2>&1
        rc=$?
        if [ "$rc" -eq 0 ]; then
                echo "$t: ok"
        else
                echo "$t: FAILED (exit $rc; 99: valgrind errors or leaks)" >&2
                cat "$log" >&2
                status=1
        fi
        rm -f "$log"
done
exit $status
