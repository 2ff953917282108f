#!/usr/bin/env bash
# test_hostile_front.sh - issue 10's front door, against a real pool and a
# real redis-server on loopback, each case bounded in count and time:
#   1. a non-loopback listener needs a token (or a loud opt-out); a token
#      table with per-token rates (429 + Retry-After) and names;
#   2. slow clients: a request must arrive whole within the timeout (a byte
#      every 0.4 s no longer keeps a socket), the connection cap drops the
#      slowest so /health still answers, the listener pauses on EMFILE and
#      the log stays JSON and short;
#   4. every endpoint but /health behind the token;
#   6. /health (and /ready) answer at once while Redis is stuck in a script;
#   8. a foreign Host header (DNS rebinding) is refused with 421.
set -u
. tests/cli/lib.sh
. tests/lib/redis.sh
. tests/cli/pool.sh

tmp=$JEN1_TEST_TMP/hostile-front
rm -rf "$tmp" "$JEN1_TEST_TMP"/hostile-front*.log
mkdir -p "$tmp/blobs"
cleanup() {
    pool_stop KILL
    redis_stop
}
trap cleanup EXIT
if ! redis_start; then
    t_fail "redis-server starts" "see above"
    t_summary test_hostile_front
fi
json="Content-Type: application/json"
job='{"narrative":"Wind in the wires.","duration":1}'
rnd() { head -c 16 /dev/urandom | od -An -tx1 | tr -d ' \n'; }
# code URL [curl args]: the status code; body and headers in $tmp/body, $tmp/headers.
code() {
    local url=$1
    shift
    curl -s -m 5 -D "$tmp/headers" -o "$tmp/body" -w '%{http_code}' "$@" "$url"
}
# run_worker LOG VAR=value...: the daemon in the foreground (it must exit by
# itself within 10 s); its exit status.
run_worker() {
    local log=$1
    shift
    env REDIS_URL="$REDIS_URL" JEN1_PREFIX="$POOL_PREFIX" JEN1_ENGINE=none JEN1_WORKERS=1 \
        JEN1_BLOB_URL="file://$(pwd)/$tmp/blobs" "$@" timeout 10 "$JEN1_BUILD/jen1-worker" >"$log" 2>&1
}

# ---- 1. A non-loopback address needs a token ----------------------------------------------------
run_worker "$tmp/open.log" JEN1_HTTP_ADDR="0.0.0.0:$(free_port)"
rc=$?
t_check "0.0.0.0 without a token: the daemon refuses to start (exit $rc, 2 expected)" test "$rc" = 2
t_check "... and says why, naming JEN1_API_TOKEN" grep -q 'not a loopback address and no API token.*JEN1_API_TOKEN' "$tmp/open.log"
port=$(free_port)
env REDIS_URL="$REDIS_URL" JEN1_PREFIX="$POOL_PREFIX" JEN1_ENGINE=none JEN1_WORKERS=1 JEN1_HTTP_INSECURE_OPEN=1 \
    JEN1_BLOB_URL="file://$(pwd)/$tmp/blobs" JEN1_HTTP_ADDR="0.0.0.0:$port" "$JEN1_BUILD/jen1-worker" >"$tmp/insecure.log" 2>&1 &
insecure_pid=$!
for _ in $(seq 100); do curl -sf -o /dev/null "http://127.0.0.1:$port/health" && break; sleep 0.05; done
t_check "JEN1_HTTP_INSECURE_OPEN=1: it serves 0.0.0.0" curl -sf -o /dev/null "http://127.0.0.1:$port/health"
t_check "... and warns loudly" grep -q '"level":"warn".*INSECURE' "$tmp/insecure.log"
kill -TERM "$insecure_pid"
wait "$insecure_pid"

printf 'short tooshort\n' >"$tmp/bad-tokens"
run_worker "$tmp/bad-tokens.log" JEN1_API_TOKENS_FILE="$tmp/bad-tokens" JEN1_HTTP_ADDR="127.0.0.1:$(free_port)"
rc=$?
t_check "a tokens file with a short secret: refused at start (exit $rc)" test "$rc" = 2
t_check "... naming the line, not the secret" \
    bash -c 'grep -q "line 1: token short" "$1" && ! grep -q tooshort "$1"' _ "$tmp/bad-tokens.log"

# ---- The pool under test: two tokens, short timeouts, a small connection cap ---------------------
studio=studio-$(rnd) public=public-$(rnd)
guest=guest-$(rnd)
printf '# name secret rights\nstudio %s rate=0 priority\npublic %s rate=3\nguest %s rate=0\n' "$studio" "$public" \
    "$guest" >"$tmp/tokens"
timeout_s=2
if ! pool_start hostile-front JEN1_ENGINE=none JEN1_API_TOKENS_FILE="$tmp/tokens" JEN1_HTTP_TIMEOUT=$timeout_s \
    JEN1_HTTP_MAX_CONNECTIONS=40 JEN1_BLOB_URL="file://$(pwd)/$tmp/blobs"; then
    t_fail "pool starts" "see the log above"
    t_summary test_hostile_front
fi
H=http://$POOL_HTTP
host=${POOL_HTTP%:*} port=${POOL_HTTP##*:}
as_studio="Authorization: Bearer $studio"
as_public="Authorization: Bearer $public"
t_check "the pool gets ready (/ready with a token)" env POOL_TOKEN="$studio" bash -c '. tests/cli/pool.sh; POOL_HTTP=$1 pool_wait_ready' _ "$POOL_HTTP"

# ---- 4. Every endpoint but /health behind the token ---------------------------------------------
t_check "GET /health without a token: 200" test "$(code "$H/health")" = 200
for path in /ready /metrics /jobs/some-id; do
    t_check "GET $path without a token: 401" test "$(code "$H$path")" = 401
    t_check "GET $path without a token: WWW-Authenticate: Bearer, a JSON error" \
        bash -c 'grep -qi "^WWW-Authenticate: Bearer" "$1" && jq -e ".error == \"unauthorized\"" "$2"' _ "$tmp/headers" "$tmp/body"
    t_check "GET $path with an unknown token: 401" test "$(code "$H$path" -H "Authorization: Bearer nope-$(rnd)")" = 401
done
t_check "GET /ready with a token: 200" test "$(code "$H/ready" -H "$as_studio")" = 200
t_check "GET /metrics with a token: 200" test "$(code "$H/metrics" -H "$as_public")" = 200
t_check "GET /jobs/ID with a token: 404 for an unknown job" test "$(code "$H/jobs/some-id" -H "$as_studio")" = 404
t_check "a job's status with a token: no 'worker' or 'audio' field leaks without one" \
    test "$(code "$H/jobs/some-id")" = 401

# ---- 1. The per-token rate limit -----------------------------------------------------------------
codes=
for _ in 1 2 3 4; do codes+="$(code "$H/generate" -H "$as_public" -H "$json" -d "$job") "; done
t_check "public (rate=3 a minute): 3 jobs accepted, the 4th refused ($codes)" test "$codes" = "202 202 202 429 "
t_check "the 429 says rate_limited" jq -e '.error == "rate_limited"' "$tmp/body"
retry=$(awk 'tolower($1) == "retry-after:" { print $2 + 0 }' "$tmp/headers")
t_check "the 429 has Retry-After (${retry:-none} s, 1 to 20)" test "${retry:-0}" -ge 1 -a "${retry:-0}" -le 20
codes=
for _ in 1 2 3 4 5 6; do codes+="$(code "$H/generate" -H "$as_studio" -H "$json" -d "$job") "; done
t_check "studio (rate=0: no limit) is not held back by public's ($codes)" test "$codes" = "202 202 202 202 202 202 "

# ---- 1. Priority only for tokens allowed it ---------------------------------------------------------
urgent='{"narrative":"An urgent song.","duration":1,"priority":9}'
t_check "guest (no priority right) sets priority 9: 403" \
    test "$(code "$H/generate" -H "Authorization: Bearer $guest" -H "$json" -d "$urgent")" = 403
t_check "... error priority_not_allowed" jq -e '.error == "priority_not_allowed"' "$tmp/body"
t_check "guest with priority 0: 202" \
    test "$(code "$H/generate" -H "Authorization: Bearer $guest" -H "$json" -d "${urgent/9/0}")" = 202
t_check "studio (priority right) sets priority 9: 202" \
    test "$(code "$H/generate" -H "$as_studio" -H "$json" -d "$urgent")" = 202

# ---- 8. The Host header (DNS rebinding) ------------------------------------------------------------
t_check "POST /generate with Host: rebind.example: 421" \
    test "$(code "$H/generate" -H 'Host: rebind.example' -H "$as_studio" -H "$json" -d "$job")" = 421
t_check "... error unknown_host" jq -e '.error == "unknown_host"' "$tmp/body"
t_check "GET /jobs/ID with Host: rebind.example:$port: 421" \
    test "$(code "$H/jobs/x" -H "Host: rebind.example:$port" -H "$as_studio")" = 421
t_check "Host: localhost:$port is answered" test "$(code "$H/jobs/x" -H "Host: localhost:$port" -H "$as_studio")" = 404
t_check "Host: [::1]:$port is answered" test "$(code "$H/jobs/x" -H "Host: [::1]:$port" -H "$as_studio")" = 404
t_check "/health answers any Host (probes)" test "$(code "$H/health" -H 'Host: rebind.example')" = 200

# ---- 2. Slow clients ---------------------------------------------------------------------------------

# A client that sends its headers one byte every 0.4 s, for 8 s: evhttp's own
# timeout restarts on every byte; the whole-request deadline does not.
drip() {
    local fd start
    exec {fd}<>"/dev/tcp/$host/$port"
    start=$EPOCHREALTIME
    (
        for c in $(printf 'GET /health HTTP/1.1\r\nHost: localhost\r\nX-Slow: aaaa\r\n\r\n' | od -An -c); do
            printf '%s' "$c" >&"$fd" 2>/dev/null || exit 0
            sleep 0.4
        done
    ) &
    local writer=$!
    timeout 10 cat <&"$fd" >/dev/null
    awk -v a="$start" -v b="$EPOCHREALTIME" 'BEGIN { printf "%.1f\n", b - a }'
    kill "$writer" 2>/dev/null
    wait "$writer" 2>/dev/null
    exec {fd}>&-
}
took=$(drip)
t_check "a client dripping a byte every 0.4 s is dropped at the ${timeout_s} s deadline (took $took s)" \
    awk -v t="$took" -v lim="$timeout_s" 'BEGIN { exit !(t >= lim - 0.5 && t <= lim + 1.5) }'

# 60 idle connections against a cap of 40: the oldest make room, /health answers.
fds=()
for _ in $(seq 60); do exec {fd}<>"/dev/tcp/$host/$port" && fds+=("$fd"); done
sleep 0.2
t_check "60 idle connections, a cap of 40: GET /health still answers within 1 s" curl -sf -m 1 -o /dev/null "$H/health"
closed=0
for fd in "${fds[@]}"; do
    timeout 0.05 cat <&"$fd" >/dev/null 2>&1
    [ $? = 124 ] || closed=$((closed + 1))
    exec {fd}>&-
done
t_check "... the slowest were dropped to make room ($closed of 60, at least 20)" test "$closed" -ge 20

# Out of descriptors: the listener pauses instead of spinning on accept().
lines_before=$(wc -l <"$POOL_LOG")
prlimit --pid "$POOL_PID" --nofile=40:
fds=()
for _ in $(seq 60); do exec {fd}<>"/dev/tcp/$host/$port" && fds+=("$fd"); done
sleep 3
for fd in "${fds[@]}"; do exec {fd}>&-; done
prlimit --pid "$POOL_PID" --nofile="$(ulimit -Sn)":
new_lines=$(($(wc -l <"$POOL_LOG") - lines_before))
t_check "EMFILE for 3 s: the log grows by a few lines, not thousands ($new_lines, at most 40)" test "$new_lines" -le 40
t_check "... every one of them JSON" bash -c 'tail -n "$1" "$2" | jq -e . >/dev/null' _ "$new_lines" "$POOL_LOG"
t_check "... and the accept failure is said (a warning)" grep -q '"msg":"http: accept failed; pausing the listener"' "$POOL_LOG"
ok=
for _ in $(seq 40); do curl -sf -m 1 -o /dev/null "$H/health" && ok=1 && break; sleep 0.1; done
t_check "after the clients left, /health answers again" test -n "$ok"

# ---- 6. /health never waits on Redis ---------------------------------------------------------------
# A script holds Redis for 2.5 s; meanwhile the pool's thread waits on it (a
# GET /jobs/ID, the once-a-second tick) but the loop goes on.
busy='local t = redis.call("TIME") local s = t[1] * 1000000 + t[2]
while true do local n = redis.call("TIME") if n[1] * 1000000 + n[2] - s > 2500000 then break end end return 1'
rcli EVAL "$busy" 0 >/dev/null &
script=$!
sleep 0.2
curl -s -m 5 -o /dev/null -H "$as_studio" "$H/jobs/held-by-redis" &
held=$!
sleep 0.1
slowest=0
for _ in $(seq 10); do
    ms=$(curl -s -m 3 -o /dev/null -w '%{time_total}' "$H/health" | awk '{ printf "%d", $1 * 1000 }')
    [ "$ms" -gt "$slowest" ] && slowest=$ms
    sleep 0.15
done
ready_ms=$(curl -s -m 3 -o /dev/null -w '%{time_total}' -H "$as_studio" "$H/ready" | awk '{ printf "%d", $1 * 1000 }')
wait "$script" "$held"
t_check "while Redis runs a 2.5 s script, /health answers in under 300 ms (slowest: $slowest ms)" test "$slowest" -lt 300
t_check "... and /ready too ($ready_ms ms)" test "$ready_ms" -lt 300

t_check "the pool survived all of it" kill -0 "$POOL_PID"
pool_stop TERM
t_check "the pool stops cleanly (exit $POOL_STATUS)" test "$POOL_STATUS" = 0
t_summary test_hostile_front
