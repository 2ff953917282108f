# shellcheck shell=bash
# tests/cli/pool.sh - starting and stopping a real jen1-worker pool for the
# end-to-end tests, against the private redis-server of tests/lib/redis.sh.
#
#   pool_start NAME [VAR=value ...]   starts build/jen1-worker with the
#                                     test defaults plus the given settings;
#                                     sets POOL_PID and POOL_HTTP (host:port);
#                                     waits until /health answers
#   pool_wait_ready                   until /ready says 200 (with the bearer
#                                     token $POOL_TOKEN when set)
#   pool_stop [SIGNAL]                signals the pool (TERM) and waits for it;
#                                     sets POOL_STATUS to its exit status
#   rcli ARGS...                      redis-cli on the test's server
#   ctl ARGS...                       jen1ctl on the test's server and prefix
#   wait_status ID STATUS [SECONDS]   polls the job hash until it says STATUS
#   free_port                         a free loopback TCP port
#
# Logs go to $JEN1_TEST_TMP/NAME.log.

POOL_PREFIX=${POOL_PREFIX:-e2e$$}

free_port() {
    local port
    for _ in $(seq 1 100); do
        # Below the kernel's ephemeral ports (32768-60999): a client's socket
        # there, or its TIME_WAIT, makes bind fail though nothing listens.
        port=$((20000 + RANDOM % 12000))
        if ! (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null; then
            echo "$port"
            return 0
        fi
    done
    return 1
}

rcli() { redis-cli -p "$REDIS_PORT" "$@"; }
ctl() { "$JEN1_BUILD/jen1ctl" --redis "$REDIS_URL" --prefix "$POOL_PREFIX" "$@"; }
# job_field ID FIELD: one field of the job's hash.
job_field() { rcli HGET "{$POOL_PREFIX}:job:$1" "$2"; }

pool_start() {
    local name=$1
    shift
    POOL_LOG=$JEN1_TEST_TMP/$name.log
    POOL_HTTP=127.0.0.1:$(free_port)
    env REDIS_URL="$REDIS_URL" JEN1_PREFIX="$POOL_PREFIX" \
        JEN1_MODEL_DIR=tests/fixtures/musicgen-tiny/model \
        JEN1_BLOB_URL="file://$(pwd)/$JEN1_TEST_TMP/blobs" \
        JEN1_HTTP_ADDR="$POOL_HTTP" JEN1_WORKERS=1 JEN1_THREADS=1 \
        JEN1_HEARTBEAT_MS=300 JEN1_RETRY_BASE_MS=200 JEN1_GRACE_SECONDS=20 \
        "$@" "$JEN1_BUILD/jen1-worker" >>"$POOL_LOG" 2>&1 &
    POOL_PID=$!
    for _ in $(seq 1 200); do
        curl -sf "http://$POOL_HTTP/health" >/dev/null 2>&1 && return 0
        kill -0 "$POOL_PID" 2>/dev/null || break
        sleep 0.05
    done
    echo "pool $name did not come up; its log:" >&2
    tail -n 20 "$POOL_LOG" >&2
    return 1
}

pool_wait_ready() {
    for _ in $(seq 1 300); do
        [ "$(curl -s -o /dev/null -w '%{http_code}' ${POOL_TOKEN:+-H "Authorization: Bearer $POOL_TOKEN"} \
            "http://$POOL_HTTP/ready")" = 200 ] && return 0
        sleep 0.05
    done
    return 1
}

pool_stop() {
    local sig=${1:-TERM}
    POOL_STATUS=
    [ -n "${POOL_PID:-}" ] || return 0
    kill -"$sig" "$POOL_PID" 2>/dev/null
    wait "$POOL_PID" 2>/dev/null
    POOL_STATUS=$?
    POOL_PID=
}

# The pool's worker processes (children of the supervisor).
pool_workers() { pgrep -P "$POOL_PID"; }

wait_status() {
    local id=$1 want=$2 limit=${3:-30} got=
    for _ in $(seq 1 $((limit * 20))); do
        got=$(rcli HGET "{$POOL_PREFIX}:job:$id" status)
        [ "$got" = "$want" ] && return 0
        sleep 0.05
    done
    echo "job $id: status '$got', expected '$want'" >&2
    return 1
}
