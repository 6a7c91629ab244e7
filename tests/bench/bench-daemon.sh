#!/bin/bash
# Daemon benchmark on a private headless PipeWire graph: aicd's CPU use while
# the Clean Mic is recorded (quantum 256, 512 and 1024; $AICD_BENCH_QUANTA
# overrides), while idle, its RSS, and the added latency (reported and
# measured). Prints a Markdown table.
#   bench-daemon.sh AICD AICCTL [SECONDS]     (model: $AICD_TEST_MODEL or the shipped one)
set -u
. "$(dirname "${BASH_SOURCE[0]}")/../integration/daemon-common.sh"
SECS=${3:-20}
TICK=$(getconf CLK_TCK)

cpu_ticks() { awk '{ print $14 + $15 }' "/proc/$1/stat"; }

# measure SECONDS: percent of one core aicd used over that time.
measure() {
    local t0 t1 w0 w1
    t0=$(cpu_ticks "$AICD_PID"); w0=$(date +%s%N)
    sleep "$1"
    t1=$(cpu_ticks "$AICD_PID"); w1=$(date +%s%N)
    awk -v t="$((t1 - t0))" -v hz="$TICK" -v w="$((w1 - w0))" 'BEGIN { printf "%.2f", 100 * (t / hz) / (w / 1e9) }'
}

echo "| quantum | state | aicd CPU (% of one core) | RSS (MB) | LatencyUsec (ms) | measured delay (ms) |"
echo "| ---: | --- | ---: | ---: | ---: | ---: |"
for q in ${AICD_BENCH_QUANTA:-256 512 1024}; do
    (
        PW_ENV_QUANTUM=$q
        pw_env_start --mic fake_mic >/dev/null 2>&1
        dm_start >/dev/null 2>&1
        D=$PW_ENV_DIR
        "$IT_PYTHON" "$DM_ROOT/scripts/make-sample.py" "$D/one.wav" "$D/clean.wav" --snr 5
        sox "$D/one.wav" "$D/one.wav" "$D/one.wav" "$D/one.wav" "$D/noisy.wav"
        sleep 2
        idle=$(measure 5)
        rss=$(dm_rss_kb "$AICD_PID")
        echo "| $q | idle (nothing records) | $idle | $(awk -v k="$rss" 'BEGIN { printf "%.1f", k / 1024 }') | - | - |"
        record_pair_start fake_mic aicd_clean_mic "$D/pair.wav" >/dev/null 2>&1
        play_into_mic "$D/noisy.wav" fake_mic >/dev/null 2>&1
        sleep 2
        busy=$(measure "$SECS")
        rss=$(dm_rss_kb "$AICD_PID")
        record_stop >/dev/null 2>&1
        lat=$(dm_prop LatencyUsec)
        delay=$(audio_py delay "$D/pair.wav:0" "$D/pair.wav:1" 2>/dev/null)
        echo "| $q | recording | $busy | $(awk -v k="$rss" 'BEGIN { printf "%.1f", k / 1024 }') | $(awk -v u="$lat" 'BEGIN { printf "%.2f", u / 1000 }') | $(awk -v d="$delay" 'BEGIN { printf "%.2f", d / 48 }') |"
    )
done
