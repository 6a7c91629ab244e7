#!/bin/sh
# Runs every test on a fresh Debian 12 machine: installs the packages, builds
# with warnings as errors, runs the CTest suite, then the same suite again
# under AddressSanitizer + UndefinedBehaviorSanitizer, then the fuzzers,
# valgrind and the unit checks.
set -eu
cd "$(dirname "$0")/.."

./scripts/bootstrap.sh

jobs="$(nproc)"
cmake -S . -B build -DAICD_WERROR=ON
cmake --build build -j"$jobs"
ctest --test-dir build --output-on-failure -j"$jobs" -LE loadsensitive

if [ -z "${AICD_SKIP_SANITIZE:-}" ]; then
        CC=clang cmake -S . -B build-asan -DAICD_WERROR=ON -DAICD_SANITIZE=ON
        cmake --build build-asan -j"$jobs"
        ctest --test-dir build-asan --output-on-failure -j"$jobs" -LE 'nosan|loadsensitive'
fi

# Every parser of outside input under libFuzzer for a bounded time, the unit
# tests under valgrind memcheck, and the user unit's verification and
# security rating.
if [ -z "${AICD_SKIP_FUZZ:-}" ]; then
        CC=clang cmake -S . -B build-fuzz -DAICD_WERROR=ON -DAICD_FUZZ=ON -DBUILD_TESTING=OFF
        cmake --build build-fuzz -j"$jobs" --target fuzz
        tests/fuzz/run.sh build-fuzz 20
fi
tests/valgrind.sh build
tests/unit-security.sh build
# The Debian package: built, installed, smoke-tested, removed (needs root).
if [ "$(id -u)" = 0 ]; then
        tests/test-deb.sh
fi
