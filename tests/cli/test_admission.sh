#!/usr/bin/env bash
# test_admission.sh - issue 10's admission findings against a real pool and a
# real redis-server, loopback only, bounded in count and time:
#   1. a queue cap inside the enqueue script (429 queue_full + Retry-After over
#      HTTP, exit 5 from jen1ctl), unknown fields bounded, queued hashes that expire;
#   3. one JSON depth limit on every path in (1,000-2,048 levels were accepted,
#      then orphaned: cjson could not read them back);
#   5. ids minted by the server over HTTP; a producer whose id is taken is
#      dead-lettered duplicate_id, and the job holding the id is left alone;
#   7. the dead list bounded by count and age; `jen1ctl retry --all` linear.
# The silent engine (JEN1_ENGINE=none) keeps it fast.
set -u
. tests/cli/lib.sh
. tests/lib/redis.sh
. tests/cli/pool.sh

tmp=$JEN1_TEST_TMP/admission
rm -rf "$tmp" "$JEN1_TEST_TMP/admission.log"
mkdir -p "$tmp/blobs"

cleanup() {
    [ -n "${worker_pid:-}" ] && kill -CONT "$worker_pid" 2>/dev/null
    pool_stop KILL
    redis_stop
}
trap cleanup EXIT
if ! redis_start; then
    t_fail "redis-server starts" "see above"
    t_summary test_admission
fi
P="{$POOL_PREFIX}"
if ! pool_start admission JEN1_ENGINE=none JEN1_MAX_QUEUED=5 JEN1_DEAD_MAX=5 JEN1_DEAD_MAX_AGE=60 \
    JEN1_BLOB_URL="file://$(pwd)/$tmp/blobs" || ! pool_wait_ready; then
    t_fail "pool starts" "see the log above"
    t_summary test_admission
fi
H="http://$POOL_HTTP"
json='Content-Type: application/json'

# post NAME BODY [curl args...]: the status code; the body in $tmp/NAME.json,
# the headers in $tmp/NAME.headers.
post() {
    local name=$1 body=$2
    shift 2
    curl -s -o "$tmp/$name.json" -D "$tmp/$name.headers" -w '%{http_code}' -H "$json" "$@" \
        -d "$body" "$H/generate"
}

# nested N: a job whose "junk" nests N arrays deep.
nested() {
    printf '{"narrative":"x","duration":1,"junk":'
    head -c "$1" /dev/zero | tr '\0' '['
    head -c "$1" /dev/zero | tr '\0' ']'
    printf '}'
}

# ---- 5. Ids over HTTP are the server's --------------------------------------------
code=$(post claim '{"id":"song-77","narrative":"Harbour bells at noon.","duration":1}')
t_check "an id in the body: 400 id_not_allowed" test "$code/$(jq -r .error "$tmp/claim.json")" = 400/id_not_allowed
t_check "...and no job song-77" test -z "$(job_field song-77 status)"
code=$(post minted '{"narrative":"Harbour bells at noon.","duration":1}')
minted=$(jq -r .id "$tmp/minted.json")
t_check "no id: 202 with a minted one (32 hex digits)" grep -Eq '^202 [0-9a-f]{32}$' <<<"$code $minted"
t_check "the minted job succeeds" wait_status "$minted" succeeded 30

# A producer's id taken by another job: its payload is dead-lettered, never run
# under the other's hash nor dropped.
t_check "jen1ctl enqueue --id song-77" ctl enqueue --id song-77 --narrative "The first song." --duration 1
t_check "song-77 succeeds" wait_status song-77 succeeded 30
first_request=$(job_field song-77 request)
rcli LPUSH "$P:queue" '{"id":"song-77","narrative":"A producer reusing the id.","duration":1}' >/dev/null
dup=
for _ in $(seq 1 100); do
    dup=$(rcli LRANGE "$P:dead" 0 -1 | jq -c 'select(.error == "duplicate_id")' 2>/dev/null)
    [ -n "$dup" ] && break
    sleep 0.1
done
t_check "a reused id: the payload in the dead list as duplicate_id" \
    jq -e '.id == "song-77" and (.payload | test("reusing the id")) and (.error_message | test("another job"))' <<<"${dup:-null}"
t_check "...the job holding the id is untouched" \
    test "$(job_field song-77 status)|$(job_field song-77 request)" = "succeeded|$first_request"
t_check "...and retry --all leaves that entry (it would overwrite song-77)" \
    test "$(ctl --json retry --all | jq .moved)/$(rcli LRANGE "$P:dead" 0 -1 | grep -c duplicate_id)" = 0/1

# ---- 3. One depth limit -------------------------------------------------------------
nested 1500 >"$tmp/deep-1500.json"
code=$(curl -s -o "$tmp/deep.json" -w '%{http_code}' -H "$json" --data-binary @"$tmp/deep-1500.json" "$H/generate")
t_check "1,500 levels (jansson reads them, cjson does not): 400 invalid_json" \
    test "$code/$(jq -r .error "$tmp/deep.json")" = 400/invalid_json
nested 40 >"$tmp/deep-40.json"
code=$(curl -s -o "$tmp/deep.json" -w '%{http_code}' -H "$json" --data-binary @"$tmp/deep-40.json" "$H/generate")
t_check "40 levels: 400 naming the limit" grep -q "deeper than 32" <<<"$code $(cat "$tmp/deep.json")"
nested 20 >"$tmp/deep-20.json"
code=$(curl -s -o "$tmp/ok.json" -w '%{http_code}' -H "$json" --data-binary @"$tmp/deep-20.json" "$H/generate")
t_check "20 levels: accepted, and the job ends" wait_status "$(jq -r .id "$tmp/ok.json")" succeeded 30
t_expect "jen1ctl enqueue of 1,500 levels: refused" 2 "deeper than 32" ctl enqueue --job "$(sed 's/^{/{"id":"deep-ctl",/' "$tmp/deep-1500.json")"
t_check "...and nothing queued" test -z "$(job_field deep-ctl status)"

# ---- 1. Bounded stored requests ------------------------------------------------------
big=$(head -c 5000 /dev/zero | tr '\0' 'x')
code=$(post big "{\"narrative\":\"x\",\"duration\":1,\"note\":\"$big\"}")
t_check "5 KB of unknown fields: 400 invalid_job naming the bound" \
    grep -q "at most 4096 are kept" <<<"$code $(cat "$tmp/big.json")"
code=$(post small '{"narrative":"x","duration":1,"note":"kept"}')
t_check "a small unknown field is kept" test "$code/$(job_field "$(jq -r .id "$tmp/small.json")" request | jq -r .note)" = 202/kept

# ---- 1. The queue cap --------------------------------------------------------------
# The worker is stopped, so that what is posted waits.
wait_status "$(jq -r .id "$tmp/small.json")" succeeded 30 >/dev/null
worker_pid=$(pool_workers)
kill -STOP "$worker_pid"
accepted=0 full=0 other=0
for i in $(seq 1 40); do
    case $(post "flood-$i" '{"narrative":"A flood of jobs.","duration":1}') in
    202) accepted=$((accepted + 1)) ;;
    429) full=$((full + 1)) ;;
    *) other=$((other + 1)) ;;
    esac
done
# A worker stopped inside BLMOVE still takes one payload (Redis moves it): it is in flight, not waiting.
inflight=$(rcli LLEN "$P:inflight:$(rcli ZRANGE "$P:workers" 0 0)")
t_check "40 POSTs with JEN1_MAX_QUEUED=5: 5 waiting accepted, the rest refused 429" \
    test "$((accepted - inflight))/$((full + inflight))/$other" = 5/35/0
t_check "429: queue_full, Retry-After: 10" \
    test "$(jq -r .error "$tmp/flood-40.json")/$(grep -i '^retry-after:' "$tmp/flood-40.headers" | tr -d '\r')" = \
    "queue_full/Retry-After: 10"
t_check "the queue holds 5" test "$(rcli LLEN "$P:queue")" = 5
t_expect "jen1ctl enqueue on a full queue: exit 5, a clear error" 5 "queue is full" \
    env JEN1_MAX_QUEUED=5 "$JEN1_BUILD/jen1ctl" --redis "$REDIS_URL" --prefix "$POOL_PREFIX" \
    enqueue --narrative "One more." --duration 1
queued_id=$(jq -r .id "$tmp/flood-1.json")
ttl=$(rcli TTL "$P:job:$queued_id")
t_check "a queued job's hash expires (JEN1_QUEUED_TTL, 7 days)" test "$ttl" -gt 600000 -a "$ttl" -le 604800
kill -CONT "$worker_pid"
t_check "once taken, it lasts until it ends" wait_status "$queued_id" succeeded 30
t_check "...then the result TTL" test "$(rcli TTL "$P:job:$queued_id")" -gt 0

# ---- 7. The dead list's bounds -----------------------------------------------------
now_ms=$(($(date +%s) * 1000))
for i in $(seq 1 8); do rcli LPUSH "$P:queue" "not json $i" >/dev/null; done
for _ in $(seq 1 100); do
    [ "$(rcli LLEN "$P:queue")" = 0 ] && [ -z "$(rcli LRANGE "$P:inflight:$(rcli ZRANGE "$P:workers" 0 0)" 0 -1)" ] && break
    sleep 0.1
done
t_check "8 more dead payloads with JEN1_DEAD_MAX=5: the list keeps the newest 5" \
    test "$(rcli LLEN "$P:dead")/$(rcli LINDEX "$P:dead" 0 | jq -r .payload)" = "5/not json 8"
# One entry older than JEN1_DEAD_MAX_AGE, while nothing new dies: the reaper drops it.
rcli RPUSH "$P:dead" "{\"id\":null,\"payload\":\"old\",\"error\":\"invalid_json\",\"error_message\":\"\",\"attempts\":0,\"at\":$((now_ms - 120000))}" >/dev/null
gone=no
for _ in $(seq 1 100); do
    rcli LRANGE "$P:dead" 0 -1 | grep -q '"payload":"old"' || { gone=yes; break; }
    sleep 0.1
done
t_check "a dead entry past JEN1_DEAD_MAX_AGE is dropped with nothing new dying" test "$gone" = yes

# retry --all over 30,000 entries, on a prefix no worker serves: one pass, not one scan per entry.
R="{bulk$$}"
rcli EVAL "for i = 1, tonumber(ARGV[1]) do
  local id = 'bulk-' .. i
  local payload = '{\"id\":\"' .. id .. '\",\"narrative\":\"x\",\"duration\":1}'
  redis.call('LPUSH', KEYS[1], cjson.encode({id = id, payload = payload, error = 'engine_error',
    error_message = 'x', attempts = 3, at = 0}))
end
return 1" 1 "$R:dead" 30000 >/dev/null
start=$(date +%s%N)
moved=$("$JEN1_BUILD/jen1ctl" --json --redis "$REDIS_URL" --prefix "bulk$$" retry --all | jq .moved)
ms=$((($(date +%s%N) - start) / 1000000))
t_check "retry --all of 30,000 dead jobs: all moved, in under 3 s (was ~10 s: quadratic)" \
    test "$moved" = 30000 -a "$ms" -lt 3000
echo "     (retry --all of 30,000: $ms ms)"
t_check "...the dead list is empty, the queue holds them" \
    test "$(rcli LLEN "$R:dead")/$(rcli LLEN "$R:queue")" = 0/30000

t_check "the worker never restarted" test "$(pool_workers)" = "$worker_pid"
t_summary test_admission
