# shellcheck shell=bash
# tests/chaos/lib.sh - what the chaos scenarios share. Sourced by
# tests/chaos/run after tests/cli/lib.sh, tests/lib/redis.sh and
# tests/cli/pool.sh.
#
#   chaos_begin NAME            a fresh directory, key prefix and redis-server
#                               (append-only, fsync always) for one scenario
#   chaos_pool NAME [VAR=v...]  a CHAOS_WORKERS-worker pool on the tiny model,
#                               ready to take jobs
#   chaos_pool_stop SIGNAL [S]  pool_stop, bounded
#   chaos_enqueue TAG N         N jobs, LPUSHed as any producer would
#   chaos_ended                 how many of the scenario's jobs have ended
#   chaos_wait_ended N SECONDS  until N have ended (1 on timeout)
#   chaos_lift                  notes that a fault was just lifted (recovery
#                               is measured from these moments)
#   chaos_store_down/_up        the blob store's path stops/starts being a
#                               directory
#   chaos_finish [CODE [ATTEMPTS]]  checks the end state and prints the
#                               scenario's summary line; CODE: the failure
#                               the scenario allows (jobs failed with it after
#                               ATTEMPTS attempts and dead-listed once)
#
# The blob store of a scenario is $dir/blobs, a symlink to $dir/blobs.real:
# an outage points it at a regular file, in one rename, so that no worker
# ever sees the path missing (the store would create a fresh directory).

CHAOS_WORKERS=${CHAOS_WORKERS:-3}
CHAOS_BATCH=${CHAOS_BATCH:-4} # JEN1_BATCH: jobs each worker decodes together
# The language model writing the words (empty: the rules): with it every job
# is planned by a planner thread, its calls in the worker's text session.
CHAOS_TEXT_MODEL=${CHAOS_TEXT_MODEL-tests/fixtures/qwen2-tiny/model}
CHAOS_WAIT=${CHAOS_WAIT:-240} # the most any wait may take, in seconds
CHAOS_SUMMARIES=()

chaos_now_ms() { date +%s%3N; }

# Seconds as "S.mmm" from milliseconds.
chaos_seconds() { printf '%d.%03d' $(($1 / 1000)) $(($1 % 1000)); }

# Sleeps MS milliseconds, give or take 30 %.
chaos_sleep_about() {
    local ms=$(($1 * 7 / 10 + RANDOM % ($1 * 6 / 10 + 1)))
    sleep "$(chaos_seconds "$ms")"
}

# Whether process $1 runs (a zombie waiting to be reaped does not).
chaos_alive() {
    local state
    state=$(cut -d' ' -f3 "/proc/$1/stat" 2>/dev/null) || return 1
    [ -n "$state" ] && [ "$state" != Z ]
}

# pool_stop with a bound: SIGNAL, then up to SECONDS (default 60) for the
# supervisor to exit, then kill -9. Sets POOL_STATUS.
chaos_pool_stop() {
    local pid=${POOL_PID:-} limit=${2:-60} i forced=
    POOL_STATUS=
    [ -n "$pid" ] || return 0
    # (stderr: not bash's "Killed" notice, printed where it reaps the job)
    {
        kill -"$1" "$pid"
        for ((i = 0; i < limit * 50; i++)); do
            chaos_alive "$pid" || break
            sleep 0.02
        done
        if chaos_alive "$pid"; then
            forced=1
            kill -9 "$pid"
        fi
        wait "$pid"
    } 2>/dev/null
    POOL_STATUS=$?
    [ -z "$forced" ] || echo "the pool (pid $pid) did not stop within ${limit}s of SIG$1: killed it" >&2
    POOL_PID=
}

chaos_begin() {
    CHAOS_NAME=$1
    JEN1_TEST_TMP=$CHAOS_TMP/$1
    rm -rf "$JEN1_TEST_TMP"
    mkdir -p "$JEN1_TEST_TMP/blobs.real" "$JEN1_TEST_TMP/results"
    ln -s blobs.real "$JEN1_TEST_TMP/blobs"
    : >"$JEN1_TEST_TMP/outage"
    : >"$JEN1_TEST_TMP/jobs.jsonl"
    POOL_PREFIX=chaos-$1-$$
    P="{$POOL_PREFIX}"
    CHAOS_IDS=()
    CHAOS_LIFTS=()
    CHAOS_NOTES=()
    CHAOS_STARTED=$(chaos_now_ms)
    echo "-- $1"
    if ! redis_start --appendonly yes --appendfsync always; then
        t_fail "$1: redis-server starts" "see above"
        return 1
    fi
}

chaos_pool() {
    local name=$1
    shift
    # Killing a worker every second may hit one job several times: allow it
    # more than the default 3 starts before too_many_attempts (docs/protocol.md).
    if ! pool_start "$name" JEN1_WORKERS="$CHAOS_WORKERS" JEN1_BATCH="$CHAOS_BATCH" JEN1_THREADS=1 \
        JEN1_MAX_ATTEMPTS=20 ${CHAOS_TEXT_MODEL:+JEN1_TEXT_MODEL_DIR="$CHAOS_TEXT_MODEL"} "$@"; then
        t_fail "$CHAOS_NAME: pool $name starts" "see its log above"
        return 1
    fi
    if ! pool_wait_ready; then
        t_fail "$CHAOS_NAME: pool $name gets ready" "GET /ready never said 200"
        return 1
    fi
}

# A narrative, duration (1 to 4 s), format and id per job; most are WAV.
chaos_enqueue() {
    local tag=$1 n=$2 i id duration format payload
    local narratives=("A lighthouse keeper finds a message in a bottle."
        "Rain on a tin roof while the kettle sings."
        "Two old friends dance at a wedding."
        "A fox crosses a frozen river at dawn."
        "Neon lights and a late train home."
        "Harbour bells at noon and gulls overhead.")
    local commands=$JEN1_TEST_TMP/enqueue.$tag.txt
    : >"$commands"
    for ((i = 1; i <= n; i++)); do
        printf -v id '%s-%03d' "$tag" "$i"
        duration=$((2 + RANDOM % 7))
        case $((RANDOM % 10)) in
        0) format=flac ;;
        1) format=ogg ;;
        *) format=wav ;;
        esac
        payload=$(printf '{"id":"%s","narrative":"%s","duration":%d.%d,"format":"%s"}' "$id" \
            "${narratives[RANDOM % ${#narratives[@]}]}" $((duration / 2)) $((duration % 2 * 5)) "$format")
        printf '%s\n' "$payload" >>"$JEN1_TEST_TMP/jobs.jsonl"
        printf "LPUSH %s '%s'\n" "$P:queue" "$payload" >>"$commands"
        CHAOS_IDS+=("$id")
    done
    if rcli <"$commands" | grep -q ERR; then
        t_fail "$CHAOS_NAME: enqueue $n jobs" "redis-cli refused an LPUSH"
        return 1
    fi
}

chaos_ended() {
    local n
    n=$(rcli EVAL "return #redis.call('KEYS', ARGV[1])" 0 "$P:done:*" 2>/dev/null)
    [[ $n =~ ^[0-9]+$ ]] || n=0
    echo "$n"
}

chaos_wait_ended() {
    local want=$1 limit=$2 start=$SECONDS
    while ((SECONDS - start < limit)); do
        [ "$(chaos_ended)" -ge "$want" ] && return 0
        sleep 0.1
    done
    return 1
}

chaos_lift() { CHAOS_LIFTS+=("$(chaos_now_ms)"); }

# A figure for the summary line's parenthesis, e.g. chaos_note "worker kills 12".
chaos_note() { CHAOS_NOTES+=("$1"); }

chaos_join() {
    local out=$1
    shift
    for part in "$@"; do out+=", $part"; done
    echo "$out"
}

# Repoints $dir/blobs in one rename(2).
chaos_point_store() {
    ln -s "$1" "$JEN1_TEST_TMP/blobs.next" && mv -T "$JEN1_TEST_TMP/blobs.next" "$JEN1_TEST_TMP/blobs"
}
chaos_store_down() { chaos_point_store outage; }
chaos_store_up() { chaos_point_store blobs.real; }

# Until the queues hold nothing and no worker holds anything: payloads of
# jobs that ended elsewhere are dropped when taken, due retries come back.
chaos_settle() {
    local start=$SECONDS left
    while ((SECONDS - start < 30)); do
        left=$(rcli EVAL "local n = redis.call('LLEN', KEYS[1]) + redis.call('LLEN', KEYS[2]) + redis.call('ZCARD', KEYS[3])
            for _, k in ipairs(redis.call('KEYS', ARGV[1])) do n = n + redis.call('LLEN', k) end
            return n" 3 "$P:queue" "$P:queue:high" "$P:scheduled" "$P:inflight:*" 2>/dev/null)
        [ "$left" = 0 ] && return 0
        sleep 0.2
    done
    return 1
}

# Every check of the end state, then the summary line.
chaos_finish() {
    local allowed=${1:-} allowed_attempts=${2:-0} state=$JEN1_TEST_TMP/state.json
    t_check "$CHAOS_NAME: queues and in-flight lists drain" chaos_settle
    rcli --eval tests/chaos/collect.lua , "$P" "${CHAOS_IDS[@]}" >"$state"
    if ! jq -e .jobs "$state" >/dev/null 2>&1; then
        t_fail "$CHAOS_NAME: the end state can be read" "$(head -c 300 "$state")"
        return 1
    fi
    chaos_pool_stop TERM
    t_check "$CHAOS_NAME: the pool stops cleanly (exit 0)" test "$POOL_STATUS" = 0
    chaos_store_up # after an outage that never ended: to look at what was written
    chaos_check_jobs "$state" "$allowed" "$allowed_attempts"
    chaos_check_results "$state"
    chaos_check_temporaries
    chaos_summary "$state"
    redis_stop
}

# Each job's end, the done and dead lists, the queues. Sets CHAOS_JOBS_SEEN,
# CHAOS_SUCCEEDED, CHAOS_FAILED, CHAOS_LOST, CHAOS_DUPLICATES, CHAOS_RERUNS
# and CHAOS_SECOND_FINISHES.
chaos_check_jobs() {
    local state=$1 allowed=$2 allowed_attempts=$3 name=$CHAOS_NAME
    CHAOS_JOBS_SEEN=0 CHAOS_SUCCEEDED=0 CHAOS_FAILED=0 CHAOS_LOST=0 CHAOS_DUPLICATES=0 CHAOS_RERUNS=0
    local bad_dead=0 lost_ids=() id status ndone announced dead error attempts
    while IFS=$'\t' read -r id status ndone announced dead error attempts; do
        CHAOS_JOBS_SEEN=$((CHAOS_JOBS_SEEN + 1))
        ((ndone > 1)) && CHAOS_DUPLICATES=$((CHAOS_DUPLICATES + 1))
        ((dead > 1)) && CHAOS_DUPLICATES=$((CHAOS_DUPLICATES + 1))
        ((attempts > 1)) && CHAOS_RERUNS=$((CHAOS_RERUNS + 1))
        if [ "$status" = succeeded ] && [ "$announced" = succeeded ]; then
            CHAOS_SUCCEEDED=$((CHAOS_SUCCEEDED + 1))
            ((dead == 0)) || bad_dead=$((bad_dead + 1))
        elif [ "$status" = failed ] && [ -n "$allowed" ] && [ "$error" = "$allowed" ] &&
            { [ "$attempts" = "$allowed_attempts" ] ||
              # An attempt that wrote a checkpoint before failing made progress and
              # does not count towards too_many_attempts (docs/protocol.md, "Long songs: checkpoints and resume").
              { ((attempts > allowed_attempts)) && [ -e "$JEN1_TEST_TMP/blobs.real/$id.checkpoint.npy" ]; }; } &&
            [ "$dead" = 1 ] && [ "$announced" = failed ]; then
            CHAOS_FAILED=$((CHAOS_FAILED + 1))
        else
            CHAOS_LOST=$((CHAOS_LOST + 1))
            lost_ids+=("$id: status $status, error $error, attempts $attempts, done $ndone ($announced), dead $dead")
        fi
    done < <(jq -r '(.dead | if type == "array" then map(fromjson? // {}) else [] end) as $dead
        | .jobs[] | . as $j
        | [$j.id, ($j.status // "none"),
           ($j.done | if type == "array" then length else 0 end),
           ($j.done | if type == "array" and length > 0 then .[-1] | fromjson? | .status // "-" else "-" end),
           ([$dead[] | select(.id == $j.id)] | length),
           ($j.error // "-"), ($j.attempts // 0)] | @tsv' "$state")
    t_check "$name: all $CHAOS_JOBS_SEEN jobs ended as expected (none lost)" \
        test "$CHAOS_LOST" = 0 -a "$CHAOS_JOBS_SEEN" = "${#CHAOS_IDS[@]}"
    [ "$CHAOS_LOST" = 0 ] || t_show_output "$(printf '%s\n' "${lost_ids[@]}")"

    # A result stored twice would show as two "first_result":true for one job.
    local twice
    twice=$(cat "$JEN1_TEST_TMP"/*.log |
        jq -Rr 'fromjson? | select(.msg == "job succeeded" and .first_result == true) | .job' | sort | uniq -d | wc -l)
    CHAOS_SECOND_FINISHES=$(cat "$JEN1_TEST_TMP"/*.log | grep '"job succeeded"' | grep -c '"first_result":false')
    CHAOS_DUPLICATES=$((CHAOS_DUPLICATES + twice))
    t_check "$name: one done entry, one dead entry at most, one stored result per job" test "$CHAOS_DUPLICATES" = 0
    t_check "$name: the dead list holds only the failed jobs, each once" test "$bad_dead" = 0 -a \
        "$(jq '.dead | if type == "array" then length else 0 end' "$state")" = "$CHAOS_FAILED"
    t_check "$name: dead entries keep the payload byte for byte" chaos_dead_payloads_match "$state"
    t_check "$name: nothing left in flight or queued" \
        jq -e '(.inflight | map(select(.len > 0)) | length) == 0 and .queue == 0 and .high == 0 and .scheduled == 0' "$state"
}

# The results against the schema - but those of the silent test engine,
# which reports device "none" and zero sampling settings - and the objects.
chaos_check_results() {
    local state=$1 dir=$JEN1_TEST_TMP/results name=$CHAOS_NAME
    rm -f "$dir"/*.json
    jq -r '.jobs[] | select(.status == "succeeded") | select((.result | fromjson? | .model.name) != "none")
        | "\(.id)\t\(.result)"' "$state" |
        awk -F'\t' -v dir="$dir" '{ f = dir "/" $1 ".json"; print $2 > f; close(f) }'
    local results=("$dir"/*.json)
    [ -e "${results[0]}" ] || results=()
    local silent=$((CHAOS_SUCCEEDED - ${#results[@]})) what="${#results[@]}"
    [ "$silent" = 0 ] || what+=", not the $silent of the silent engine"
    if [ "${#results[@]}" -gt 0 ]; then
        t_check "$name: every result is a schema-valid GeneratedSong ($what)" tests/tools/validate-song "${results[@]}"
    fi
    t_check "$name: every audio object is there and whole (bytes, sha256)" chaos_objects_whole "$state"
    t_check "$name: no other object in the store (nothing half-written)" chaos_no_stray_objects "$state"
}

# Killed writers may leave temporaries; opening a store removes those of
# processes that no longer run. Sets CHAOS_TEMPORARIES: how many there were.
chaos_check_temporaries() {
    local store=$JEN1_TEST_TMP/blobs.real
    CHAOS_TEMPORARIES=$(find "$store" -name '*~tmp' | wc -l)
    "$JEN1_BUILD/blobctl" get "file://$(pwd)/$JEN1_TEST_TMP/blobs" chaos-probe.wav /dev/null >/dev/null 2>&1
    t_check "$CHAOS_NAME: no orphaned temporary once a store has opened" test -z "$(find "$store" -name '*~tmp')"
}

chaos_summary() {
    local seconds notes line
    seconds=$(chaos_seconds $(($(chaos_now_ms) - CHAOS_STARTED)))
    notes=("${CHAOS_NOTES[@]}" "re-run $CHAOS_RERUNS" "second finishes $CHAOS_SECOND_FINISHES"
        "temporaries left $CHAOS_TEMPORARIES" "${seconds%.*}s")
    line="chaos: $CHAOS_NAME: jobs $CHAOS_JOBS_SEEN, succeeded $CHAOS_SUCCEEDED, failed $CHAOS_FAILED"
    line+=", lost $CHAOS_LOST, duplicates $CHAOS_DUPLICATES, recovery $(chaos_recovery "$1") ($(chaos_join "${notes[@]}"))"
    echo "$line"
    CHAOS_SUMMARIES+=("$line")
}

# The longest time from a fault being lifted to the next job ending.
chaos_recovery() {
    if [ "${#CHAOS_LIFTS[@]}" -eq 0 ]; then
        echo n/a
        return
    fi
    local lifts ms
    lifts=$(IFS=,; echo "[${CHAOS_LIFTS[*]}]")
    ms=$(jq --argjson lifts "$lifts" '[.jobs[].finished_at // empty] | sort as $f
        | [$lifts[] as $l | ([$f[] | select(. > $l)] | first) as $n | select($n != null) | $n - $l] | max // -1' "$1")
    if [ "$ms" -lt 0 ]; then echo n/a; else printf '%.1fs' "$(chaos_seconds "$ms")"; fi
}

chaos_objects_whole() {
    local state=$1 id url audio_url bytes sha path size bad=0
    declare -A sums=()
    local paths=()
    while IFS=$'\t' read -r id audio_url url bytes sha; do
        paths+=("${url#file://}")
    done < <(chaos_audio_rows "$state")
    if [ "${#paths[@]}" -gt 0 ]; then
        while read -r sha path; do sums[$path]=$sha; done < <(sha256sum "${paths[@]}" 2>/dev/null)
    fi
    while IFS=$'\t' read -r id audio_url url bytes sha; do
        path=${url#file://}
        size=$(stat -c %s "$path" 2>/dev/null)
        if [ "$audio_url" != "$url" ] || [ "$size" != "$bytes" ] || [ "${sums[$path]:-}" != "$sha" ]; then
            echo "$id: audio_url $audio_url, result url $url, $bytes bytes (file: ${size:-missing}), sha256 $sha (file: ${sums[$path]:-none})"
            bad=$((bad + 1))
        fi
    done < <(chaos_audio_rows "$state")
    [ "$bad" = 0 ]
}

# id, the hash's audio_url, and the result's audio url, bytes and sha256.
chaos_audio_rows() {
    jq -r '.jobs[] | select(.status == "succeeded") | (.result | fromjson? // {}) as $r
        | [.id, (.audio_url // "-"), ($r.audio.url // "-"), ($r.audio.bytes // -1), ($r.audio.sha256 // "-")] | @tsv' "$1"
}

# The store holds the succeeded jobs' audio and codes (GeneratedSong.codes), and
# nothing else but the checkpoint a failed job wrote before the store went away
# (kept, so that a retry resumes from it; it could not be deleted anyway).
chaos_no_stray_objects() {
    local want have
    want=$(jq -r '.jobs[] | select(.status == "succeeded") | (.result | fromjson? // {})
        | (.audio.url // "-"), (.codes.url // "-")' "$1" | sed 's|.*/||' | sort)
    # A failed job's checkpoint stays (for jen1ctl retry); so does an audio
    # object whose codes upload failed and whose removal failed too (the store
    # went away between the two), which the worker names in its log.
    have=$(find "$JEN1_TEST_TMP/blobs.real" -mindepth 1 ! -name '*~tmp' -printf '%f\n' |
        while read -r f; do
            id=${f%.checkpoint.npy}
            [ "$id" != "$f" ] && jq -e --arg id "$id" '.jobs[] | select(.id == $id and .status == "failed")' "$1" \
                >/dev/null && continue
            id=${f%.*}
            jq -e --arg id "$id" '.jobs[] | select(.id == $id and .status == "failed")' "$1" >/dev/null &&
                cat "$JEN1_TEST_TMP"/*.log | grep -q "object of a failed upload was left.*\"key\":\"$f\"" && continue
            echo "$f"
        done | sort)
    [ "$want" = "$have" ] && return 0
    diff <(echo "$want") <(echo "$have") | head -n 10
    return 1
}

chaos_dead_payloads_match() {
    local id payload sent
    while IFS=$'\t' read -r id payload; do
        sent=$(grep -F "\"id\":\"$id\"," "$JEN1_TEST_TMP/jobs.jsonl")
        if [ "$payload" != "$sent" ]; then
            echo "$id: dead payload $payload, sent $sent"
            return 1
        fi
    done < <(jq -r '.dead | if type == "array" then .[] else empty end | fromjson | [.id, .payload] | @tsv' "$1")
}

chaos_cleanup() {
    chaos_pool_stop KILL
    redis_stop
}
