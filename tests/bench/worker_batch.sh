#!/usr/bin/env bash
# tests/bench/worker_batch.sh MODEL_DIR WEIGHTS BATCH [JOBS [SECONDS [LABEL]]] - jobs
# through one real worker process, end to end: a private redis-server, a
# one-worker pool (2 threads) with JEN1_BATCH=BATCH and JEN1_WEIGHTS=WEIGHTS
# on MODEL_DIR, JOBS (default 8) songs of SECONDS (default 10) pushed at once;
# timed from the push to the last job's end (planning, decoding, EnCodec,
# encoding and upload all included; the model's load not). Prints one JSON
# line: audio seconds per wall second, the decoder passes, and the worker's
# resident memory (peak over the run, and its private part) sampled every
# second. Used by scripts/bench's "batch" section. JEN1_BENCH_TEXT_MODEL_DIR
# (optional) has a text model write the words instead of the rules;
# JEN1_BENCH_WORDS_ONLY=1 makes the jobs words only ("audio": false), which
# times the writer alone; JEN1_BENCH_LOG_LEVEL=info keeps the worker's info
# lines in its log (the writer's time split is logged when it stops).
set -euo pipefail
cd "$(dirname "$0")/../.."
model=$1 weights=$2 batch=$3 jobs=${4:-8} seconds=${5:-10} label=${6:-$(basename "$1")}
export JEN1_BUILD=${JEN1_BUILD:-build}
export JEN1_TEST_TMP=${JEN1_TEST_TMP:-$JEN1_BUILD/tmp}/bench-batch
rm -rf "$JEN1_TEST_TMP" && mkdir -p "$JEN1_TEST_TMP/blobs"
. tests/lib/redis.sh
. tests/cli/pool.sh
trap 'status=$?; set +e; pool_stop KILL; redis_stop; exit $status' EXIT # pool_stop's status is not ours
redis_start >&2
P="{$POOL_PREFIX}"
pool_start "bench-$weights-$batch" USE_TORCH=1 JEN1_MODEL_DIR="$model" JEN1_WEIGHTS="$weights" \
    JEN1_BATCH="$batch" JEN1_THREADS=2 JEN1_JOB_TIMEOUT=3600 JEN1_LOG_LEVEL="${JEN1_BENCH_LOG_LEVEL:-warn}" \
    ${JEN1_BENCH_TEXT_MODEL_DIR:+JEN1_TEXT_MODEL_DIR="$JEN1_BENCH_TEXT_MODEL_DIR"} >&2
pool_wait_ready || { echo "worker_batch: the pool never got ready" >&2; exit 1; }
worker=$(pool_workers | head -n 1)
metric() { curl -s "http://$POOL_HTTP/metrics" | awk -v m="$1" '$1 == m { print $2 }'; }
steps0=$(metric jen1_decode_steps_total)

t0=$(date +%s.%N)
for i in $(seq 1 "$jobs"); do
    rcli LPUSH "$P:queue" "{\"id\":\"bench-$i\",\"narrative\":\"A lighthouse keeper finds a message in a bottle, take $i.\",\"duration\":$seconds,\"seed\":$i${JEN1_BENCH_WORDS_ONLY:+,\"audio\":false}}" >/dev/null
done
# Watching costs the 2 cores little: one redis-cli and one awk a second.
peak_kib=0 anon_kib=0
done_keys=()
for i in $(seq 1 "$jobs"); do done_keys+=("$P:done:bench-$i"); done
while [ "$(rcli EXISTS "${done_keys[@]}")" -lt "$jobs" ]; do
    read -r rss anon < <(awk '/^VmRSS:/ { r = $2 } /^RssAnon:/ { a = $2 } END { print r + 0, a + 0 }' "/proc/$worker/status" 2>/dev/null)
    [ "${rss:-0}" -gt "$peak_kib" ] && peak_kib=$rss
    [ "${anon:-0}" -gt "$anon_kib" ] && anon_kib=$anon
    kill -0 "$worker" 2>/dev/null || { echo "worker_batch: the worker died; see $POOL_LOG" >&2; exit 1; }
    sleep 1
done
t1=$(date +%s.%N)
failed=0
for i in $(seq 1 "$jobs"); do
    [ "$(job_field "bench-$i" status)" = succeeded ] || failed=$((failed + 1))
    job_field "bench-$i" result >>"$JEN1_TEST_TMP/results.jsonl" # each song's timings, for a closer look
done
steps=$(($(metric jen1_decode_steps_total) - steps0))
pool_stop TERM # the writer logs its time split as it stops
jq -nc --arg weights "$weights" --argjson batch "$batch" --argjson jobs "$jobs" --argjson seconds "$seconds" \
    --argjson t0 "$t0" --argjson t1 "$t1" --argjson steps "$steps" --argjson failed "$failed" \
    --argjson peak "$peak_kib" --argjson anon "$anon_kib" --arg model "$label" \
    --arg load "$(cut -d' ' -f1-3 /proc/loadavg)" '
    ($t1 - $t0) as $wall |
    {model: $model, weights: $weights, batch: $batch, jobs: $jobs, seconds_per_job: $seconds, failed: $failed,
     wall_s: ($wall * 100 | round / 100), audio_s_per_wall_s: ($jobs * $seconds / $wall * 1000 | round / 1000),
     decode_steps: $steps, ms_per_step_wall: (if $steps > 0 then $wall * 1000 / $steps * 10 | round / 10 else null end),
     peak_rss_mib: ($peak / 1024 | round), peak_private_rss_mib: ($anon / 1024 | round), load: $load}'
