# shellcheck shell=bash
# tests/s3/servers.sh - loopback S3 servers for the tests; source it.
#
#   s3_start_s3rver DIR BUCKET   starts s3rver (tests/node) on a free
#                                127.0.0.1 port with its data in DIR and
#                                BUCKET created; sets S3RVER_PORT, S3RVER_PID.
#                                Its credentials are S3RVER / S3RVER. Path
#                                style: http://127.0.0.1:PORT; virtual-hosted
#                                style: http://s3.localhost:PORT (curl sends
#                                *.localhost to loopback).
#   s3_start_fake LOG MODE ARGS  starts tests/s3/fake_s3.js MODE ARGS;
#                                sets FAKE_PORT, FAKE_PID
#   s3_stop PID                  stops one of them and waits for it
#   s3_stop_all                  stops every server started here (for a trap)
#
# Each returns non-zero with a message on stderr when node or s3rver is
# missing or the server does not come up: callers fail, never skip.

S3_NODE_DIR=${S3_NODE_DIR:-tests/node}
s3_pids=()

# Waits up to 10 s for LOG to hold "PATTERN<port>"; prints the port.
s3_wait_port() {
    local log=$1 pattern=$2 pid=$3 port
    for _ in $(seq 100); do
        port=$(sed -n "s/.*${pattern}\([0-9][0-9]*\).*/\1/p" "$log" 2>/dev/null | head -n 1)
        if [ -n "$port" ]; then
            echo "$port"
            return 0
        fi
        kill -0 "$pid" 2>/dev/null || break
        sleep 0.1
    done
    echo "tests/s3: the server did not start; its output:" >&2
    sed 's/^/    /' "$log" >&2
    return 1
}

s3_need_node() {
    if ! command -v node >/dev/null; then
        echo "tests/s3: node is not installed (scripts/setup installs it)" >&2
        return 1
    fi
}

s3_start_s3rver() {
    local dir=$1 bucket=$2 bin=$S3_NODE_DIR/node_modules/.bin/s3rver
    s3_need_node || return 1
    if [ ! -x "$bin" ]; then
        echo "tests/s3: $bin is missing: run 'npm ci --prefix $S3_NODE_DIR'" >&2
        return 1
    fi
    mkdir -p "$dir/data"
    "$bin" -d "$dir/data" -a 127.0.0.1 -p 0 --silent --service-endpoint localhost \
        --configure-bucket "$bucket" >"$dir/s3rver.log" 2>&1 &
    S3RVER_PID=$!
    s3_pids+=("$S3RVER_PID")
    S3RVER_PORT=$(s3_wait_port "$dir/s3rver.log" "listening on 127.0.0.1:" "$S3RVER_PID") || return 1
}

s3_start_fake() {
    local log=$1
    shift
    s3_need_node || return 1
    node tests/s3/fake_s3.js "$@" >"$log" 2>&1 &
    FAKE_PID=$!
    s3_pids+=("$FAKE_PID")
    FAKE_PORT=$(s3_wait_port "$log" "listening " "$FAKE_PID") || return 1
}

s3_stop() {
    kill "$1" 2>/dev/null
    wait "$1" 2>/dev/null
    return 0
}

s3_stop_all() {
    local pid
    for pid in "${s3_pids[@]}"; do s3_stop "$pid"; done
    s3_pids=()
}
