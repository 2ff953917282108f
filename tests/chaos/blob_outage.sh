# shellcheck shell=bash
# Scenario 3: the blob store fails (its path stops being a directory).
# blob-outage: it comes back after a while; the jobs retry with backoff and
# all succeed. blob-lost: it never comes back; the jobs still waiting end
# failed with blob_unavailable after their attempts and are dead-listed,
# with no object or temporary written for them.

chaos_count_in_log() { cat "$JEN1_TEST_TMP"/*.log | grep -c "$1"; }

scenario_blob_outage() {
    chaos_begin blob-outage || return
    chaos_pool outage JEN1_MAX_ATTEMPTS=12 JEN1_RETRY_BASE_MS=100 || return
    chaos_enqueue outage "$CHAOS_JOBS" || return
    local n=$CHAOS_JOBS before
    chaos_wait_ended $((n / 3)) "$CHAOS_WAIT"
    before=$(chaos_ended)
    chaos_store_down
    sleep "$CHAOS_OUTAGE"
    chaos_store_up
    chaos_lift
    t_check "blob-outage: the outage began with jobs left ($before of $n ended)" test "$before" -lt "$n"
    local failures
    failures=$(chaos_count_in_log '"error":"blob_unavailable"')
    t_check "blob-outage: uploads failed during the outage ($failures) and were retried" test "$failures" -gt 0
    chaos_note "store down ${CHAOS_OUTAGE}s"
    chaos_note "failed uploads $failures"
    t_check "blob-outage: every job ended within ${CHAOS_WAIT}s" chaos_wait_ended "$n" "$CHAOS_WAIT"
    chaos_finish
}

scenario_blob_lost() {
    chaos_begin blob-lost || return
    chaos_pool lost JEN1_MAX_ATTEMPTS=3 JEN1_RETRY_BASE_MS=100 || return
    local n=$CHAOS_LOST_JOBS before started
    chaos_enqueue lost "$n" || return
    chaos_wait_ended $((n / 4)) "$CHAOS_WAIT"
    before=$(chaos_ended)
    chaos_store_down
    started=$(chaos_now_ms)
    t_check "blob-lost: the store went away with jobs left ($before of $n ended)" test "$before" -lt "$n"
    t_check "blob-lost: every job ended within ${CHAOS_WAIT}s" chaos_wait_ended "$n" "$CHAOS_WAIT"
    chaos_note "gave up $(chaos_seconds $(($(chaos_now_ms) - started)))s after the store went away"
    chaos_finish blob_unavailable 3
}
