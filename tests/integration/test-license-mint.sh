#!/usr/bin/env bash
# Mint mode with short tokens: aicd mints 20 s JWTs from the license's
# api_key (HTTP Basic) and, with a 5 s margin, replaces each one in place
# 15 s into its life. Across two refreshes during 38 s of continuous audio the
# Clean Mic never stops enhancing: no gap in the output, no second processor,
# no second of disallowed audio, no EnhancementStopped; CredentialExpiring
# comes before each refresh.
# Usage: test-license-mint.sh AICD AICCTL
set -eu
. "$(dirname "$0")/test-dbus-common.sh"
. "$(dirname "$0")/../backend/backend.sh"
command -v sox >/dev/null || it_skip "sox is not installed"

dt_setup --mic fake_mic
bk_init
bk_start
bk_ctl '{"token_ttl": 20}'
key=$(bk_license user_m)
make_test_wav "$PW_ENV_DIR/in.wav" 38 || it_fail "sox could not make the test signal"
lic_config mint "key_file = $key" "token_url = $BK_URL/v1/sdk/tokens"
monitor_start
aicd_start

wait_state enhancing || it_fail "mint mode does not enhance"
assert_eq "$(prop CredentialKind)" jwt "CredentialKind in mint mode"
exp0=$(prop CredentialExpiresAt)
assert_num "$exp0" '>' "$(date +%s)" "CredentialExpiresAt"
assert_num "$exp0" '<=' "$(($(date +%s) + 20))" "CredentialExpiresAt of a 20 s token"
assert_eq "$(bk_stat ok.tokens)" 1 "tokens minted at start"

record_pair_start fake_mic aicd_clean_mic "$PW_ENV_DIR/pair.wav" || it_fail "probe did not link"
probe=$REC_PID
play_into_mic "$PW_ENV_DIR/in.wav" fake_mic || it_fail "could not feed the fake mic"
signals_mark
play_wait "$PLAY_PID" 60 || it_fail "the player did not finish"
record_stop "$probe" || it_fail "probe did not stop"

assert_num "$(bk_stat ok.tokens)" '>=' 3 "tokens minted (one at start, two refreshes)"
assert_num "$(metric token.refreshes)" '>=' 3 "token.refreshes"
assert_eq "$(metric token.refresh_failures)" 0 "token.refresh_failures"
assert_num "$(prop CredentialExpiresAt)" '>' "$exp0" "CredentialExpiresAt after refreshes"
assert_eq "$(prop State)" enhancing "State after the refreshes"
assert_num "$(metric usage.disallowed)" '==' 0 "usage.disallowed"
assert_num "$(metric audio.processed)" '>=' 35 "seconds enhanced"

# Never stopped: no EnhancementStopped, State never left enhancing.
assert_eq "$(signals_named EnhancementStopped)" "" "EnhancementStopped during refreshes"
states=$(signals_since | "$IT_PYTHON" -c '
import json, sys
for line in sys.stdin:
    r = json.loads(line)
    if "State" in r.get("changed", {}):
        print(r["changed"]["State"])' | sort -u | tr '\n' ' ')
assert_eq "$states" "" "State changes while the tokens were refreshed"
n=$(signals_named CredentialExpiring | wc -l)
assert_num "$n" '>=' 2 "CredentialExpiring signals"

# In place: one processor for the first token, every later one swapped into it.
assert_eq "$(grep -c 'Credential set (jwt)' "$PW_ENV_DIR/log/aicd.log")" 1 "processors created for tokens"
assert_num "$(grep -c 'Token replaced in place' "$PW_ENV_DIR/log/aicd.log")" '>=' 2 "tokens swapped in place"

# No gap: wherever the mic carried the signal, so did the Clean Mic (20 ms
# windows); and it was enhanced all along, not passed through (the bypass
# path gives the input back bit for bit).
d=$(audio_py delay "$PW_ENV_DIR/pair.wav:0" "$PW_ENV_DIR/pair.wav:1" --max-delay 0.1) ||
    it_fail "the Clean Mic does not carry the mic's signal"
"$IT_PYTHON" - "$PW_ENV_DIR/pair.wav" "$d" <<'EOF' || it_fail "the Clean Mic has a gap or was not enhanced"
import sys
import numpy as np, soundfile as sf
x, rate = sf.read(sys.argv[1], dtype="float64", always_2d=True)
d = int(round(float(sys.argv[2])))
mic, out = x[:, 0], x[:, 1]
active = np.flatnonzero(np.abs(mic) > 0)
a, b = active[0], active[-1]
win = rate // 50
# A gap: a window of the Clean Mic that is digital silence while the mic, a
# delay earlier, carried signal all through it. (The loaded test machine
# drops the feeder's own samples now and then; those gaps are in the mic
# too and pass through as they are.)
gaps, total = [], 0
for s in range(a + d, b - win, win):
    m, o = mic[s - d: s - d + win], out[s: s + win]
    if np.count_nonzero(m) < win:
        continue
    total += 1
    if not np.any(o):
        gaps.append((s - a) / rate)
print("%d windows with signal, %d silent on the Clean Mic" % (total, len(gaps)), file=sys.stderr)
assert not gaps, "gaps at %s s" % gaps[:20]
assert total * win / rate > 25, "only %.1f s of signal recorded" % (total * win / rate)
same = [(s - a) / rate for s in range(a + d, b - win, win)
        if np.count_nonzero(mic[s - d: s - d + win]) == win and np.array_equal(out[s: s + win], mic[s - d: s - d + win])]
print("windows passed through unprocessed: %d of %d" % (len(same), total), file=sys.stderr)
assert not same, "passed through unprocessed at %s s" % same[:20]
EOF

assert_eq "$(bk_stat violations)" "[]" "what the backend saw"
assert_alive
aicd_stop
assert_no_secrets "logs and signals" "$PW_ENV_DIR/log/aicd.log" "$PW_ENV_DIR/signals.jsonl"
it_log "PASS"
