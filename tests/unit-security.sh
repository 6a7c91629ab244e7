#!/bin/sh
# Checks the installed systemd user unit: `systemd-analyze verify` must be
# silent, and `systemd-analyze security` must rate it OK or better (overall
# exposure at most 4.9). BUILD_DIR is installed into a scratch root first,
# so verify finds the binaries where the unit says they are.
# Usage: tests/unit-security.sh BUILD_DIR
set -eu

if [ $# -ne 1 ]; then
        echo "Usage: $0 BUILD_DIR" >&2
        exit 2
fi
build=$1
command -v systemd-analyze >/dev/null || { echo "systemd-analyze not found, skipping"; exit 77; }
root=$(mktemp -d)
trap 'rm -rf "$root"' EXIT INT TERM
export XDG_RUNTIME_DIR="$root/run"
mkdir -m 0700 "$XDG_RUNTIME_DIR"

DESTDIR="$root" cmake --install "$build" >"$root/install.log" 2>&1 || { cat "$root/install.log" >&2; exit 1; }
unit=$(find "$root" -path '*/systemd/user/aicd.service' | head -n 1)
[ -n "$unit" ] || { echo "aicd.service was not installed" >&2; exit 1; }

# verify has no --root for user units: check a copy whose executables point
# into the scratch root. Man pages are looked up by man(1) on the host, where
# a scratch install cannot be seen, so that one check is left out.
mkdir "$root/verify"
prefix=$(sed -n 's/^CMAKE_INSTALL_PREFIX:[A-Z]*=//p' "$build/CMakeCache.txt")
sed -E "s#^(Exec[A-Za-z]*=[-@:+!]*)$prefix/#\1$root$prefix/#" "$unit" >"$root/verify/aicd.service"
out=$(systemd-analyze --user verify --man=no "$root/verify/aicd.service" 2>&1) || status=$?
if [ -n "$out" ] || [ "${status:-0}" -ne 0 ]; then
        printf 'systemd-analyze verify:\n%s\n' "$out" >&2
        exit 1
fi
echo "verify: clean"

systemd-analyze --user security --offline=true --threshold=49 "$unit" >"$root/security.log" 2>&1 || {
        cat "$root/security.log" >&2
        exit 1
}
tail -n 1 "$root/security.log"
