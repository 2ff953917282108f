#!/usr/bin/env bash
# test_batch.sh - one worker process serving several jobs at once
# (JEN1_BATCH): the songs of a batch are the songs made alone (their codes,
# byte for byte, on the real engine and the tiny model), one decoder pass
# serves them all, every job in hand sits in the process's in-flight list and
# comes back after kill -9, a cancel leaves its batch-mates alone, SIGTERM
# drains the whole batch, and /metrics and the heartbeat show the batch.
set -u
. tests/cli/lib.sh
. tests/lib/redis.sh
. tests/cli/pool.sh

tmp=$JEN1_TEST_TMP/batch
rm -rf "$tmp"
mkdir -p "$tmp"

cleanup() { pool_stop KILL; redis_stop; }
trap cleanup EXIT
if ! redis_start; then
    t_fail "redis-server starts" "see above"
    t_summary test_batch
fi
P="{$POOL_PREFIX}"

metric() { curl -s "http://$POOL_HTTP/metrics" | awk -v m="$1" '$1 == m { print $2 }'; }
# within SECONDS CMD...: CMD succeeds within SECONDS (the heartbeat and the
# step rate are refreshed periodically).
within() {
    local seconds=$1 i
    shift
    for i in $(seq 1 $((seconds * 10))); do "$@" && return 0; sleep 0.1; done
    "$@"
}
heartbeat_names_four() {
    jq -e '(.jobs | sort) == ["kill-0","kill-1","kill-2","kill-3"] and .job != ""' <<<"$(rcli GET "$P:worker:bk-0")"
}
steps_per_second() { awk -v v="$(metric jen1_decode_steps_per_second)" 'BEGIN { exit !(v > 0) }'; }

# Six songs of different lengths, each with its own seed; the same requests
# run once through a worker that decodes one job at a time, once through one
# that decodes four together (two of them joining later, as slots free).
durations=(1 2.5 1.5 4 2 3)
enqueue_songs() {
    local tag=$1 i
    for i in "${!durations[@]}"; do
        rcli LPUSH "$P:queue" "{\"id\":\"$tag-$i\",\"narrative\":\"A fox crosses a frozen river at dawn, song $i.\",\"duration\":${durations[$i]},\"seed\":$((100 + i))}" >/dev/null
    done
}
# The songs wait in the queue before the pool starts, so that the batch
# fills at once rather than as fast as they are pushed.
run_songs() {
    local tag=$1 batch=$2 i
    enqueue_songs "$tag"
    if ! pool_start "batch-$tag" USE_TORCH=1 JEN1_BATCH="$batch" JEN1_BLOB_URL="file://$(pwd)/$tmp/$tag"; then
        t_fail "$tag: pool starts" "see the log above"
        return 1
    fi
    for i in "${!durations[@]}"; do
        t_check "$tag: song $i succeeds" ctl wait "$tag-$i" --timeout 120
    done
    t_check "$tag: /metrics: jen1_batch_slots $batch" test "$(metric jen1_batch_slots)" = "$batch"
    steps[$batch]=$(metric jen1_decode_steps_total)
    pool_stop TERM
}
declare -A steps
run_songs alone 1
run_songs batched 4
for i in "${!durations[@]}"; do
    t_check "song $i: the same codes decoded alone and in a batch of 4" \
        cmp "$tmp/alone/alone-$i.codes.npy" "$tmp/batched/batched-$i.codes.npy"
    t_check "song $i: the same audio" cmp "$tmp/alone/alone-$i.wav" "$tmp/batched/batched-$i.wav"
done
echo "    decoder passes: ${steps[1]} alone, ${steps[4]} in batches of 4"
t_check "one decoder pass serves the whole batch (${steps[4]} passes in batches, ${steps[1]} alone)" \
    test "${steps[4]:-0}" -gt 0 -a "$((${steps[4]:-0} * 10))" -lt "$((${steps[1]:-0} * 6))"

# ---- A batch in the queue's eyes (the silent engine, paced) ------------------
# four_running TAG: enqueues four 4-second songs and waits until all run.
four_running() {
    local tag=$1 i
    for i in 0 1 2 3; do
        rcli LPUSH "$P:queue" "{\"id\":\"$tag-$i\",\"narrative\":\"Rain on a tin roof, take $i.\",\"duration\":4}" >/dev/null
    done
    for i in 0 1 2 3; do wait_status "$tag-$i" running 20 || return 1; done
}
inflight() { rcli --scan --pattern "$P:inflight:*" | xargs -r -n1 redis-cli -p "$REDIS_PORT" LLEN | awk '{ n += $1 } END { print n + 0 }'; }

pool_start batch-kill JEN1_ENGINE=none JEN1_NONE_PACE=1 JEN1_BATCH=4 JEN1_WORKER_ID=bk
t_check "kill: four jobs run at once in one worker" four_running kill
t_check "kill: all four in the worker's in-flight list" test "$(rcli LLEN "$P:inflight:bk-0")" = 4
t_check "kill: the heartbeat names all four" within 3 heartbeat_names_four
t_check "kill: /metrics: the batch is full" test "$(metric jen1_batch_occupancy)" = 4
t_check "kill: /metrics: steps per second" within 3 steps_per_second
kill -9 "$(pool_workers | head -n 1)"
for i in 0 1 2 3; do
    t_check "kill -9 of a worker holding four jobs: job $i still succeeds" wait_status "kill-$i" succeeded 40
    t_check "kill -9: job $i has one result" test "$(rcli LLEN "$P:done:kill-$i")" = 1
done

t_check "cancel: four jobs run at once" four_running cancel
ctl cancel cancel-2 >/dev/null
t_check "cancel: the cancelled job ends cancelled" wait_status cancel-2 cancelled 20
for i in 0 1 3; do t_check "cancel: its batch-mate $i still succeeds" wait_status "cancel-$i" succeeded 40; done
pool_stop TERM

pool_start batch-drain JEN1_ENGINE=none JEN1_NONE_PACE=1 JEN1_BATCH=4 JEN1_GRACE_SECONDS=30
t_check "drain: four jobs run at once" four_running drain
pool_stop TERM
t_check "SIGTERM with a full batch: exit 0" test "$POOL_STATUS" = 0
for i in 0 1 2 3; do t_check "SIGTERM: job $i finished within the grace period" test "$(job_field "drain-$i" status)" = succeeded; done
t_check "SIGTERM: nothing left in flight" test "$(inflight)" = 0

pool_start batch-short JEN1_ENGINE=none JEN1_NONE_PACE=1 JEN1_BATCH=4 JEN1_GRACE_SECONDS=1
t_check "short grace: four jobs run at once" four_running short
pool_stop TERM
t_check "SIGTERM, short grace: exit 0" test "$POOL_STATUS" = 0
for i in 0 1 2 3; do t_check "SIGTERM, short grace: job $i is queued again" test "$(job_field "short-$i" status)" = queued; done
t_check "SIGTERM, short grace: nothing left in flight" test "$(inflight)" = 0

t_summary test_batch
