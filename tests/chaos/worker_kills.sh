# shellcheck shell=bash
# Scenario 1: kill -9 of a random worker process every CHAOS_KILL_MS (give
# or take 30 %) while the jobs run, and once kill -9 of the supervisor, after
# which the pool is started again as systemd would (RestartSec). Every job
# must still succeed, once.

# kill -9 of the supervisor; its workers must follow it (PR_SET_PDEATHSIG).
chaos_kill_supervisor() {
    local workers pid start survivors
    workers=$(pool_workers)
    start=$(chaos_now_ms)
    chaos_pool_stop KILL
    for _ in $(seq 1 100); do
        survivors=
        for pid in $workers; do chaos_alive "$pid" && survivors+=" $pid"; done
        [ -z "$survivors" ] && break
        sleep 0.05
    done
    chaos_note "workers gone $(chaos_seconds $(($(chaos_now_ms) - start)))s after kill -9 of the supervisor"
    [ -z "$survivors" ]
}

# How many jobs the worker process PID holds (its in-flight list), found by
# the pid in its heartbeat.
chaos_held_by() {
    local key
    for key in $(rcli --scan --pattern "{$POOL_PREFIX}:worker:*"); do
        if rcli GET "$key" | grep -q "\"pid\":$1,"; then
            rcli LLEN "{$POOL_PREFIX}:inflight:${key##*:worker:}"
            return
        fi
    done
    echo 0
}

scenario_worker_kills() {
    chaos_begin worker-kills || return
    chaos_pool kills || return
    chaos_enqueue kill "$CHAOS_JOBS" || return
    local n=$CHAOS_JOBS kills=0 supervisor_killed=0 tick=0 ended pids victim held most_held=0 start=$SECONDS
    while ((SECONDS - start < CHAOS_WAIT)); do
        chaos_sleep_about "$CHAOS_KILL_MS"
        ended=$(chaos_ended)
        [ "$ended" -ge "$n" ] && break
        tick=$((tick + 1))
        # The supervisor goes after two worker kills at the earliest: a fast
        # machine may otherwise finish every job before a second kill lands.
        if [ "$supervisor_killed" = 0 ] && [ "$kills" -ge 2 ] && { [ "$ended" -ge $((n / 2)) ] || [ "$tick" -ge 10 ]; }; then
            supervisor_killed=1
            t_check "worker-kills: the supervisor is killed with jobs left ($ended of $n ended)" test "$ended" -lt "$n"
            if chaos_kill_supervisor; then t_ok "worker-kills: kill -9 of the supervisor takes its workers with it"
            else t_fail "worker-kills: kill -9 of the supervisor takes its workers with it" "some outlived it"; fi
            sleep "$CHAOS_RESTART_SEC"
            chaos_lift
            chaos_pool kills || return
            continue
        fi
        mapfile -t pids < <(pool_workers)
        [ "${#pids[@]}" -gt 0 ] || continue # all in their restart backoff
        victim=${pids[RANDOM % ${#pids[@]}]}
        held=$(chaos_held_by "$victim")
        if kill -9 "$victim" 2>/dev/null; then
            kills=$((kills + 1))
            [ "${held:-0}" -gt "$most_held" ] && most_held=$held
            chaos_lift
        fi
    done
    chaos_note "worker kills $kills"
    chaos_note "most jobs held by a killed worker $most_held"
    if [ "$CHAOS_BATCH" -gt 1 ]; then
        t_check "worker-kills: a killed worker held several jobs ($most_held)" test "$most_held" -ge 2
    fi
    chaos_note "supervisor kills $supervisor_killed"
    t_check "worker-kills: every job ended within ${CHAOS_WAIT}s" chaos_wait_ended "$n" 1
    t_check "worker-kills: workers were killed ($kills) and the supervisor once" test "$kills" -ge 2 -a "$supervisor_killed" = 1
    chaos_finish
}
