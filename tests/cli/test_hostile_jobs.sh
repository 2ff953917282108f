#!/usr/bin/env bash
# test_hostile_jobs.sh - the whole bad-job corpus (tests/corpus/jobs/) pushed
# with redis-cli LPUSH, byte for byte, into a real pool, with good jobs in
# between: every bad payload ends failed with its stable code and message, or,
# when no job id can be read from it, in the dead list with the payload kept
# exactly; the worker serves every good job after them and never restarts.
# The silent engine (JEN1_ENGINE=none) keeps it fast: parsing does not depend
# on the engine. JEN1_MAX_DURATION=30 is the corpus's limit (test_job's corpus_limits).
set -u
. tests/cli/lib.sh
. tests/lib/redis.sh
. tests/cli/pool.sh

tmp=$JEN1_TEST_TMP/hostile-jobs
corpus=tests/corpus/jobs
rm -rf "$tmp" "$JEN1_TEST_TMP/hostile-jobs.log"
mkdir -p "$tmp/payloads" "$tmp/blobs"

cleanup() { pool_stop KILL; redis_stop; }
trap cleanup EXIT
if ! redis_start; then
    t_fail "redis-server starts" "see above"
    t_summary test_hostile_jobs
fi
P="{$POOL_PREFIX}"
if ! pool_start hostile-jobs JEN1_ENGINE=none JEN1_MAX_DURATION=30 JEN1_BLOB_URL="file://$(pwd)/$tmp/blobs" ||
    ! pool_wait_ready; then
    t_fail "pool starts" "see the log above"
    t_summary test_hostile_jobs
fi
worker_pid=$(pool_workers)

# ---- Checks done inside Redis, so that binary payloads never pass through a
# shell variable: the expected bytes go in as the last argument (redis-cli -x).

# The dead entries whose "payload" is exactly ARGV[1]: "count error id message".
find_dead_lua="
local n, found = 0, {}
for _, entry in ipairs(redis.call('LRANGE', KEYS[1], 0, -1)) do
  local d = cjson.decode(entry)
  if d.payload == ARGV[1] then
    n = n + 1
    found = {d.error, d.id == cjson.null and 'null' or tostring(d.id), d.error_message}
  end
end
return {n, found[1] or '', found[2] or '', found[3] or ''}"

# Whether the job hash's request field is exactly ARGV[1]: 1 or 0.
same_request_lua="return redis.call('HGET', KEYS[1], 'request') == ARGV[1] and 1 or 0"

push() { rcli -x LPUSH "$P:queue" <"$1" >/dev/null; }

# Reads a job's outcome into job_status, job_error, job_message.
read_job() {
    job_status=$(rcli HGET "$P:job:$1" status)
    job_error=$(rcli HGET "$P:job:$1" error)
    job_message=$(rcli HGET "$P:job:$1" error_message)
}

# check_failed_job NAME ID CODE MESSAGE PAYLOAD: the job failed with CODE, its
# message holds MESSAGE, its request is PAYLOAD byte for byte, its done list
# says so once, and it is not in the dead list.
check_failed_job() {
    local name=$1 id=$2 code=$3 message=$4 payload=$5 announced
    read_job "$id"
    if [ "$job_status/$job_error" != "failed/$code" ]; then
        t_fail "$name: failed with $code" "job $id is '$job_status' with error '$job_error' ($job_message)"
        return
    fi
    if ! grep -qF -- "$message" <<<"$job_message"; then
        t_fail "$name: failed with $code" "the message '$job_message' lacks '$message'"
        return
    fi
    if [ "$(rcli -x EVAL "$same_request_lua" 1 "$P:job:$id" <"$payload")" != 1 ]; then
        t_fail "$name: failed with $code" "the job's request is not the payload byte for byte"
        return
    fi
    announced=$(rcli LRANGE "$P:done:$id" 0 -1)
    if [ "$(jq -c '[.id, .status, .error]' <<<"$announced" 2>/dev/null)" != "[\"$id\",\"failed\",\"$code\"]" ]; then
        t_fail "$name: failed with $code" "done list of $id: $announced"
        return
    fi
    t_ok "$name: failed with $code, message and request kept"
}

# check_dead NAME CODE MESSAGE PAYLOAD: exactly one dead entry holds PAYLOAD
# byte for byte, with "id": null, CODE and MESSAGE.
check_dead() {
    local name=$1 code=$2 message=$3 payload=$4 found
    mapfile -t found < <(rcli -x EVAL "$find_dead_lua" 1 "$P:dead" <"$payload")
    if [ "${found[0]:-}" != 1 ]; then
        t_fail "$name: dead-listed raw" "${found[0]:-no} dead entries hold the payload byte for byte"
    elif [ "${found[1]}/${found[2]}" != "$code/null" ]; then
        t_fail "$name: dead-listed raw" "the entry says error '${found[1]}', id '${found[2]}'"
    elif ! grep -qF -- "$message" <<<"${found[3]}"; then
        t_fail "$name: dead-listed raw" "the entry's message '${found[3]}' lacks '$message'"
    else
        t_ok "$name: dead-listed raw with $code"
    fi
}

# ---- The corpus, with a good job after every ten bad ones -----------------------

# Every case names its job "job-1" (one also "job-2"); here each needs an id of
# its own, since a payload whose job has ended is dropped unread.
case_id() { echo "hj-${1%%-*}"; }

# Where a payload ends is the take script's decision, which reads the id with
# Redis's cjson: laxer than job_parse, it reads NaN, Infinity, 1e999 and
# 99999999999999999999999 as numbers and a repeated key as its last value. So
# these payloads, from which job_parse reads no id, still name a job, and that
# job fails (docs/protocol.md: "A payload with a valid id is a job").
declare -A lax_id=([44]=hj-44 [45]=hj-45 [51]=hj-51 [57]=hj-57 [77]=hj-77-b)

goods=()
push_good() {
    local id=good-${#goods[@]}
    rcli LPUSH "$P:queue" "{\"id\":\"$id\",\"narrative\":\"Rain on a tin roof.\",\"duration\":1}" >/dev/null
    goods+=("$id")
}

cases=()
while IFS=$'\t' read -r file code id message; do
    case $file in '#'* | '') continue ;; esac
    id_for=$(case_id "$file")
    LC_ALL=C sed -e "s/\"job-1\"/\"$id_for\"/g; s/\"job-2\"/\"$id_for-b\"/g" "$corpus/$file" >"$tmp/payloads/$file"
    push "$tmp/payloads/$file"
    cases+=("$file"$'\t'"$code"$'\t'"$id"$'\t'"$message")
    [ $((${#cases[@]} % 10)) = 0 ] && push_good
done <"$corpus/expected.tsv"
t_check "the corpus has at least 40 cases" test "${#cases[@]}" -ge 40

# ---- Beyond the corpus: sizes and bytes that only a real client can send ---------

# 10 MiB of narrative, refused unread (the payload limit is 1 MiB), with and
# without an id; the payload is kept whole all the same.
narrative_of() { yes 'A storm rolls over the harbour at night. ' | head -c "$1"; }
{ printf '{"id":"huge-10mb","duration":8,"narrative":"'; narrative_of 10485760; printf '"}'; } >"$tmp/huge.json"
{ printf '{"duration":8,"narrative":"'; narrative_of 10485760; printf '"}'; } >"$tmp/huge-no-id.json"
# Raw binary: NUL bytes and invalid UTF-8 everywhere.
printf '\x00\xff\xfe{"id":"bin-1"}\x00\x80\xc0\xaf\n\x00' >"$tmp/binary.bin"
# A valid job followed by a NUL and junk: Redis's cjson stops reading at the
# NUL, job_parse reads every byte.
printf '{"id":"nul-tail","narrative":"A storm at sea.","duration":1}\x00junk' >"$tmp/nul-tail.json"
# A 1000-character id and an id with a NUL, in an otherwise good job.
{ printf '{"id":"'; head -c 1000 /dev/zero | tr '\0' 'x'; printf '","narrative":"A storm.","duration":1}'; } >"$tmp/id-1000.json"
printf '{"id":"nul\x00id","narrative":"A storm.","duration":1}' >"$tmp/id-raw-nul.json"
for f in huge.json huge-no-id.json binary.bin nul-tail.json id-1000.json id-raw-nul.json; do push "$tmp/$f"; done
push_good

# ---- The verdicts ------------------------------------------------------------------

last_good=${goods[${#goods[@]} - 1]}
t_check "the last good job succeeds after all the bad ones" wait_status "$last_good" succeeded 60
failed_goods=
for id in "${goods[@]}"; do
    [ "$(rcli HGET "$P:job:$id" status)" = succeeded ] || failed_goods="$failed_goods $id"
done
t_check "every good job between the bad ones succeeded (${#goods[@]} of them)" test -z "$failed_goods"

expected_dead=0
for c in "${cases[@]}"; do
    IFS=$'\t' read -r file code id message <<<"$c"
    num=${file%%-*}
    payload=$tmp/payloads/$file
    if [ "$id" != - ]; then
        check_failed_job "$file" "$(case_id "$file")" "$code" "$message" "$payload"
    elif [ -n "${lax_id[$num]:-}" ]; then
        check_failed_job "$file" "${lax_id[$num]}" "$code" "$message" "$payload"
    else
        check_dead "$file" "$code" "$message" "$payload"
        expected_dead=$((expected_dead + 1))
    fi
done

check_failed_job "10 MiB narrative" huge-10mb invalid_job "at most 1048576 are accepted" "$tmp/huge.json"
check_dead "10 MiB narrative without an id" invalid_job "at most 1048576 are accepted" "$tmp/huge-no-id.json"
check_dead "binary junk with NUL bytes" invalid_json "not JSON" "$tmp/binary.bin"
check_failed_job "a job, a NUL byte, junk" nul-tail invalid_json "not JSON" "$tmp/nul-tail.json"
check_dead "a 1000-character id" invalid_job "id must be 1 to 128" "$tmp/id-1000.json"
check_dead "an id with a raw NUL byte" invalid_json "not JSON" "$tmp/id-raw-nul.json"
expected_dead=$((expected_dead + 4))

t_check "the dead list holds exactly the $expected_dead payloads that are not jobs" \
    test "$(rcli LLEN "$P:dead")" = "$expected_dead"
t_check "nothing is left in a queue or in flight" \
    test "$(rcli LLEN "$P:queue")/$(rcli LLEN "$P:queue:high")/$(rcli --scan --pattern "$P:inflight:*" |
        xargs -r -n1 redis-cli -p "$REDIS_PORT" LLEN | grep -vc '^0$')" = 0/0/0
t_check "no bad job wrote an audio object" \
    test "$(find "$tmp/blobs" -type f ! -name 'good-*' | wc -l)" = 0
t_check "the bad jobs are counted as failed in /metrics" \
    grep -q "jen1_jobs_total{outcome=\"failed\"} $((${#cases[@]} + 6))\$" <<<"$(curl -s "http://$POOL_HTTP/metrics")"
t_check "no worker restart (jen1_worker_restarts_total 0)" \
    grep -q '^jen1_worker_restarts_total 0$' <<<"$(curl -s "http://$POOL_HTTP/metrics")"
t_check "the same worker process served everything" test "$(pool_workers)" = "$worker_pid"
t_check "no worker exited or was killed" \
    bash -c '! grep -E "\"msg\":\"worker (exited|killed)\"" "$1"' _ "$JEN1_TEST_TMP/hostile-jobs.log"
pool_stop TERM
t_check "the pool stops cleanly afterwards (exit 0)" test "$POOL_STATUS" = 0

t_summary test_hostile_jobs
