# shellcheck shell=bash
# Scenario 2: Redis stopped in the middle of a run - once by SHUTDOWN, once
# by kill -9 - and started again on the same port after a pause. With
# appendfsync always nothing it acknowledged is lost, and the pool
# reconnects by itself.

# How Redis goes away: shutdown (SHUTDOWN, it writes its data first) or
# kill (kill -9, no warning). Waits until the process is gone.
chaos_redis_down() {
    local pid=$REDIS_PID
    # (stderr: not bash's "Killed" notice for its background job)
    {
        case $1 in
        shutdown) rcli SHUTDOWN >/dev/null ;;
        kill) kill -9 "$pid" ;;
        esac
        for _ in $(seq 1 100); do
            chaos_alive "$pid" || break
            sleep 0.05
        done
        chaos_alive "$pid" && return 1
        redis_kill # reaps it
    } 2>/dev/null
}

chaos_redis_outage() {
    local how=$1 before after
    before=$(chaos_ended)
    t_check "redis-restart: $how with jobs left ($before of $CHAOS_JOBS ended)" test "$before" -lt "$CHAOS_JOBS"
    if chaos_redis_down "$how"; then t_ok "redis-restart: $how stops redis-server"
    else t_fail "redis-restart: $how stops redis-server" "it still runs 5 s later"; fi
    sleep "$CHAOS_REDIS_PAUSE"
    if ! redis_restart; then
        t_fail "redis-restart: redis-server starts again after $how" "see above"
        return 1
    fi
    chaos_lift
    after=$(chaos_ended)
    t_check "redis-restart: after $how, every ended job is still there ($after >= $before)" test "$after" -ge "$before"
    t_check "redis-restart: after $how, the pool gets ready again" pool_wait_ready
}

scenario_redis_restart() {
    chaos_begin redis-restart || return
    chaos_pool redis || return
    chaos_enqueue redis "$CHAOS_JOBS" || return
    local n=$CHAOS_JOBS
    chaos_wait_ended $((n / 4)) "$CHAOS_WAIT"
    chaos_redis_outage shutdown || return
    chaos_wait_ended $((n * 3 / 5)) "$CHAOS_WAIT"
    chaos_redis_outage kill || return
    chaos_note "Redis down ${CHAOS_REDIS_PAUSE}s twice"
    t_check "redis-restart: every job ended within ${CHAOS_WAIT}s" chaos_wait_ended "$n" "$CHAOS_WAIT"
    chaos_finish
}
