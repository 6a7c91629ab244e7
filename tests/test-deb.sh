#!/bin/sh
# Builds the Debian package, installs it, smoke-tests the installed files
# (both binaries, the bundled model found without configuration, the model
# manifest, the man pages, the user unit and D-Bus files), and removes it again. Needs root.
set -eu
cd "$(dirname "$0")/.."
out=$(mktemp -d)
trap 'dpkg -r aicd >/dev/null 2>&1 || true; rm -rf "$out"' EXIT

deb=$(scripts/build-deb.sh "$out")
apt-get install -y -qq --no-install-recommends "$deb" >/dev/null
fail() { echo "FAIL: $*" >&2; exit 1; }

/usr/bin/aicd --version | grep -q '^aicd ' || fail "aicd --version"
/usr/bin/aicctl --version | grep -q '^aicctl ' || fail "aicctl --version"
for id in $(cd engine/models && ls -- *.aicm | sed 's/[.]aicm$//'); do
        /usr/bin/aicctl models list | grep -q "^$id .* yes " || fail "bundled model $id not listed as installed"
done
sox -n -r 44100 -c 2 -b 16 "$out/in.wav" synth 2 pinknoise gain -20
( cd / && env -i PATH=/usr/bin:/bin HOME="$out" /usr/bin/aicctl enhance "$out/in.wav" "$out/out.wav" ) ||
        fail "installed aicctl enhance with the bundled model"
[ "$(soxi -s "$out/out.wav")" = "$(soxi -s "$out/in.wav")" ] || fail "output length differs"
man -w aicd >/dev/null && man -w aicctl >/dev/null && man -w 5 aicd.conf >/dev/null || fail "man pages"
test -f /usr/lib/systemd/user/aicd.service || fail "user unit (verified by tests/unit-security.sh)"
grep -q '^ExecStart=/usr/bin/aicd$' /usr/lib/systemd/user/aicd.service || fail "unit's ExecStart"
test -f /usr/share/dbus-1/services/org.aicd.Aicd1.service || fail "D-Bus activation file"
test -f /usr/share/bash-completion/completions/aicctl || fail "bash completion"
echo "deb: $(basename "$deb") installed and smoke-tested"
