#!/bin/sh
# aicctl models list|download against a local HTTP server: a good model is
# downloaded, verified and installed atomically; a wrong checksum, a wrong
# size, a file that is not a model and a missing file are refused, with
# nothing installed.
#   test-models.sh AICCTL TINY_MODEL
set -eu
aicctl=$1
tiny=$2
py=/usr/bin/python3
tmp=$(mktemp -d)
trap 'kill $server 2>/dev/null; rm -rf "$tmp"' EXIT
mkdir -p "$tmp/www" "$tmp/data"
cp "$tiny" "$tmp/www/tiny.aicm"
printf 'not a model at all, but 40 bytes long..' >"$tmp/www/junk.aicm"
port=$($py -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
(cd "$tmp/www" && exec $py -m http.server "$port" --bind 127.0.0.1) >"$tmp/server.log" 2>&1 &
server=$!
for i in $(seq 50); do $py -c "import urllib.request; urllib.request.urlopen('http://127.0.0.1:$port/')" 2>/dev/null && break; sleep 0.1; done

sha=$(sha256sum "$tiny" | cut -d' ' -f1)
size=$(stat -c %s "$tiny")
junk_sha=$(sha256sum "$tmp/www/junk.aicm" | cut -d' ' -f1)
junk_size=$(stat -c %s "$tmp/www/junk.aicm")
base=http://127.0.0.1:$port
cat >"$tmp/www/manifest.json" <<JSON
{"models": [
 {"id": "tiny-ok", "url": "$base/tiny.aicm", "sha256": "$sha", "size": $size, "sample_rate": 48000, "description": "good"},
 {"id": "tiny-badsum", "url": "$base/tiny.aicm", "sha256": "$(printf '0%.0s' $(seq 64))", "size": $size, "sample_rate": 48000},
 {"id": "tiny-badsize", "url": "$base/tiny.aicm", "sha256": "$sha", "size": 100, "sample_rate": 48000},
 {"id": "junk", "url": "$base/junk.aicm", "sha256": "$junk_sha", "size": $junk_size, "sample_rate": 48000},
 {"id": "gone", "url": "$base/gone.aicm", "sha256": "$sha", "size": $size, "sample_rate": 48000},
 {"id": "../evil", "url": "$base/tiny.aicm", "sha256": "$sha", "size": $size, "sample_rate": 48000}
]}
JSON
export XDG_DATA_HOME=$tmp/data AICD_MODEL_MANIFEST=$base/manifest.json
dir=$tmp/data/aicd/models

fail() { echo "FAIL: $*" >&2; exit 1; }

"$aicctl" models list >"$tmp/list" || fail "models list"
grep -q '^tiny-ok .* no ' "$tmp/list" || fail "tiny-ok not listed as not installed: $(cat "$tmp/list")"
grep -q evil "$tmp/list" && fail "an id with a path in it was listed"

"$aicctl" models download tiny-ok >"$tmp/out" || fail "download tiny-ok: $(cat "$tmp/out")"
cmp -s "$tiny" "$dir/tiny-ok.aicm" || fail "installed model differs from the served one"
"$aicctl" models list | grep -q '^tiny-ok .* yes ' || fail "tiny-ok not listed as installed"

for bad in tiny-badsum tiny-badsize junk gone ../evil no-such-model; do
        rc=0
        "$aicctl" models download "$bad" >"$tmp/out" 2>"$tmp/err" || rc=$?
        [ "$rc" = 1 ] || fail "download $bad: exit $rc, expected 1"
        [ "$(wc -l <"$tmp/err")" -ge 1 ] || fail "download $bad: no message"
        name=$(basename "$bad")
        [ ! -e "$dir/$name.aicm" ] || fail "download $bad: something was installed"
        echo "refused $bad: $(head -n 1 "$tmp/err")"
done
[ -z "$(ls -A "$dir" | grep -v '^tiny-ok.aicm$')" ] || fail "leftover files: $(ls -A "$dir")"

rc=0; "$aicctl" models >/dev/null 2>&1 || rc=$?
[ "$rc" = 2 ] || fail "aicctl models without a verb: exit $rc, expected 2"

# The installed model is found by id.
sox -n -r 48000 -c 1 -b 16 "$tmp/in.wav" synth 1 pinknoise gain -20 2>/dev/null ||
        $py -c "import numpy as np, soundfile as sf; sf.write('$tmp/in.wav', np.random.default_rng(0).standard_normal(48000) * 0.05, 48000)"
"$aicctl" enhance "$tmp/in.wav" "$tmp/out.wav" --model tiny-ok || fail "enhance with the downloaded model by id"
echo "models: all checks passed"
