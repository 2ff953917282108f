# shellcheck shell=bash
# Scenario 4: SIGTERM to the supervisor during a full queue. On the tiny
# model the running jobs finish within the grace period; on the paced
# silent engine (jobs longer than the grace period) they are returned to
# the queue. Either way the pool exits 0 within the grace period and a
# restarted pool completes the rest.

# SIGTERM and the time until the supervisor exits; sets CHAOS_DRAIN_S.
chaos_drain() {
    local start
    start=$(chaos_now_ms)
    chaos_pool_stop TERM
    CHAOS_DRAIN_S=$(chaos_seconds $(($(chaos_now_ms) - start)))
}

# How many of the scenario's jobs have status $1.
chaos_count_status() {
    rcli EVAL "local n = 0 for i = 3, #ARGV do
        if redis.call('HGET', ARGV[1] .. ':job:' .. ARGV[i], 'status') == ARGV[2] then n = n + 1 end end
        return n" 0 "$P" "$1" "${CHAOS_IDS[@]}"
}

scenario_drain() {
    chaos_begin drain || return
    local n=$CHAOS_JOBS grace=10 ended running
    chaos_pool drain JEN1_GRACE_SECONDS=$grace || return
    chaos_enqueue drain "$n" || return
    chaos_wait_ended $((n / 4)) "$CHAOS_WAIT"
    chaos_drain
    ended=$(chaos_ended)
    t_check "drain: SIGTERM on a busy pool: exit 0" test "$POOL_STATUS" = 0
    t_check "drain: ... within the grace period ($CHAOS_DRAIN_S s < $grace s)" test "${CHAOS_DRAIN_S%.*}" -lt "$grace"
    t_check "drain: ... with jobs still queued ($ended of $n ended)" test "$ended" -lt "$n"
    t_check "drain: ... the running jobs finished (none left running)" test "$(chaos_count_status running)" = 0
    t_check "drain: ... none interrupted" test "$(cat "$JEN1_TEST_TMP"/*.log | grep -c 'interrupted by shutdown')" = 0
    t_check "drain: ... nothing left in flight" test -z "$(rcli --scan --pattern "$P:inflight:*")"
    chaos_note "drained in ${CHAOS_DRAIN_S}s"
    chaos_lift
    chaos_pool drain-again JEN1_GRACE_SECONDS=$grace || return
    t_check "drain: a restarted pool completes the rest" chaos_wait_ended "$n" "$CHAOS_WAIT"
    chaos_pool_stop TERM

    # Jobs longer than the grace period: the paced silent engine (1 wall
    # second per second of audio), 4 s jobs, 2 s of grace.
    local slow=$((CHAOS_WORKERS * 2)) short_grace=2 i
    chaos_pool drain-slow JEN1_ENGINE=none JEN1_NONE_PACE=1 JEN1_GRACE_SECONDS=$short_grace || return
    for ((i = 1; i <= slow; i++)); do
        rcli LPUSH "$P:queue" "{\"id\":\"slow-$i\",\"narrative\":\"A long slow drone.\",\"duration\":4}" >/dev/null
        CHAOS_IDS+=("slow-$i")
        printf '{"id":"slow-%d","narrative":"A long slow drone.","duration":4}\n' "$i" >>"$JEN1_TEST_TMP/jobs.jsonl"
    done
    # Each worker holds up to CHAOS_BATCH of them at once.
    local expect=$((CHAOS_WORKERS * CHAOS_BATCH < slow ? CHAOS_WORKERS * CHAOS_BATCH : slow))
    for _ in $(seq 1 100); do
        [ "$(chaos_count_status running)" -ge "$expect" ] && break
        sleep 0.05
    done
    running=$(chaos_count_status running)
    chaos_drain
    t_check "drain: SIGTERM with $running jobs longer than the grace: exit 0" test "$POOL_STATUS" = 0
    t_check "drain: ... within the grace period and a second ($CHAOS_DRAIN_S s)" test "${CHAOS_DRAIN_S%.*}" -le "$short_grace"
    t_check "drain: ... the $running running jobs were returned to the queue" \
        test "$running" = "$expect" -a "$(chaos_count_status running)" = 0 -a \
        "$(chaos_count_status queued)" = "$running" -a \
        "$(grep -c 'interrupted by shutdown' "$JEN1_TEST_TMP/drain-slow.log")" = "$running"
    t_check "drain: ... nothing left in flight" test -z "$(rcli --scan --pattern "$P:inflight:*")"
    chaos_note "long jobs returned in ${CHAOS_DRAIN_S}s"
    chaos_lift
    chaos_pool drain-slow-again JEN1_ENGINE=none JEN1_NONE_PACE=0.1 || return
    t_check "drain: a restarted pool completes the returned jobs" chaos_wait_ended $((n + slow)) "$CHAOS_WAIT"
    chaos_finish
}
