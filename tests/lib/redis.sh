# shellcheck shell=bash
# tests/lib/redis.sh - a private redis-server for a bash test, never the
# machine's (nothing touches 6379):
#
#   . tests/lib/redis.sh
#   trap 'redis_stop' EXIT           # or call redis_stop from your own cleanup
#   redis_start || exit 1            # extra redis-server arguments may follow,
#                                    # e.g. redis_start --requirepass pw
#   redis-cli -p "$REDIS_PORT" LLEN '{jen1}:queue'
#   redis_kill; redis_restart        # Redis going away and coming back
#
# redis_start sets REDIS_PORT, REDIS_URL (redis://127.0.0.1:PORT, without a
# password), REDIS_SOCKET (its unix socket), REDIS_DIR and REDIS_PID. The
# server listens on 127.0.0.1 at a free port (a port taken meanwhile is
# retried), in a fresh directory under $JEN1_TEST_TMP, without persistence
# unless the extra arguments say otherwise (later arguments win:
# --appendonly yes keeps the data across redis_kill + redis_restart).
#
# redis_stop is safe to call twice and from a trap. Should the script die
# without calling it, the kernel still stops the server (PR_SET_PDEATHSIG,
# through setpriv) - so call redis_start in the script's own shell, not in
# a $(...) subshell, whose end would stop the server at once.

REDIS_PID=''
REDIS_DIR=''
REDIS_ARGS=()

# Whether process $1 runs (a zombie does not).
_redis_alive() {
    kill -0 "$1" 2>/dev/null && [ "$(cut -d' ' -f3 "/proc/$1/stat" 2>/dev/null)" != Z ]
}

# Launches on $REDIS_PORT and waits up to 5 s until it serves (PONG, or
# NOAUTH when it wants a password - not LOADING). 0, or 1 when it died.
_redis_launch() {
    setpriv --pdeathsig TERM redis-server --port "$REDIS_PORT" --bind 127.0.0.1 --dir "$REDIS_DIR" \
        --unixsocket "$REDIS_SOCKET" --unixsocketperm 700 --logfile "$REDIS_DIR/redis.log" \
        --save '' --appendonly no --daemonize no "${REDIS_ARGS[@]}" </dev/null >/dev/null 2>&1 &
    REDIS_PID=$!
    local i
    for ((i = 0; i < 500; i++)); do
        _redis_alive "$REDIS_PID" || break
        if redis-cli -p "$REDIS_PORT" PING 2>/dev/null | grep -qE '^(PONG|NOAUTH)'; then
            return 0
        fi
        sleep 0.01
    done
    redis_kill
    return 1
}

redis_start() {
    redis_stop
    REDIS_ARGS=("$@")
    local tmp=${JEN1_TEST_TMP:-build/tmp}
    mkdir -p "$tmp"
    REDIS_DIR=$(mktemp -d "$tmp/redis.XXXXXX") || return 1
    REDIS_DIR=$(cd "$REDIS_DIR" && pwd)
    REDIS_SOCKET=$REDIS_DIR/redis.sock
    local attempt
    for attempt in 1 2 3 4 5; do
        # Below the kernel's ephemeral ports (32768-60999), which clients'
        # sockets and their TIME_WAITs hold: so that redis_restart finds the
        # port free again.
        REDIS_PORT=$((20000 + RANDOM % 12000))
        # Something listens there already: try another.
        if (exec 3<>"/dev/tcp/127.0.0.1/$REDIS_PORT") 2>/dev/null; then continue; fi
        if _redis_launch; then
            REDIS_URL=redis://127.0.0.1:$REDIS_PORT
            export REDIS_PORT REDIS_URL REDIS_SOCKET REDIS_DIR
            return 0
        fi
    done
    echo "redis_start: redis-server did not start (attempt $attempt); see $REDIS_DIR/redis.log" >&2
    return 1
}

# Stops the server (SIGTERM: with persistence on, it writes its data first)
# but keeps its directory and port for redis_restart.
redis_kill() {
    if [ -n "$REDIS_PID" ]; then
        kill "$REDIS_PID" 2>/dev/null
        wait "$REDIS_PID" 2>/dev/null
        REDIS_PID=''
    fi
    return 0
}

# Starts it again on the same port, directory and arguments.
redis_restart() {
    redis_kill
    local i
    for ((i = 0; i < 50; i++)); do # the port may linger a moment
        _redis_launch && return 0
        sleep 0.1
    done
    echo "redis_restart: could not restart on port $REDIS_PORT; see $REDIS_DIR/redis.log" >&2
    return 1
}

# Stops the server and removes its directory.
redis_stop() {
    redis_kill
    if [ -n "$REDIS_DIR" ]; then
        rm -rf -- "$REDIS_DIR"
        REDIS_DIR=''
    fi
    return 0
}
