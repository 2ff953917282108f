#!/usr/bin/env bash
# test_secrets.sh - no secret ever shows. Pools run with every secret jen1
# takes - a Redis password in REDIS_URL and in JEN1_REDIS_PASSWORD_FILE, an
# ACL user, S3 keys from the environment and from JEN1_S3_CREDENTIALS_FILE,
# JEN1_API_TOKEN and JEN1_API_TOKEN_FILE, HF_TOKEN in the environment - on
# the happy paths and the error paths (wrong Redis passwords, an S3 server
# refusing the signature, bad tokens, unreadable secret files), at debug log
# level. Then every log line, HTTP answer (headers too), /metrics,
# /debug/torch, jen1ctl output and error, the processes' command lines and
# every Redis key the pools wrote are searched for each secret: none may
# appear. The secrets are random, so a hit is a leak, never a coincidence.
set -u
. tests/cli/lib.sh
. tests/lib/redis.sh
. tests/cli/pool.sh
. tests/s3/servers.sh

tmp=$JEN1_TEST_TMP/secrets
evidence=$tmp/evidence
rm -rf "$tmp" "$JEN1_TEST_TMP"/secrets-*.log
mkdir -p "$evidence" "$tmp/blobs"
# Only the secrets given here count: none may come from the caller's environment.
unset AWS_ACCESS_KEY_ID AWS_SECRET_ACCESS_KEY AWS_SESSION_TOKEN AWS_PROFILE AWS_REGION AWS_DEFAULT_REGION \
    JEN1_S3_CREDENTIALS_FILE JEN1_REDIS_PASSWORD_FILE JEN1_API_TOKEN JEN1_API_TOKEN_FILE HF_TOKEN

cleanup() { pool_stop KILL; s3_stop_all; redis_stop; }
trap cleanup EXIT

rnd() { head -c 12 /dev/urandom | od -An -tx1 | tr -d ' \n'; }
# Every secret, by name. The Redis password holds @ : / so that it must be
# percent-encoded in REDIS_URL. s3rver knows one access key id, S3RVER (it
# checks no signature, so any secret key will do); the refusing S3 server's
# access key is random and counts as a secret: jen1 masks it too.
declare -A secret=(
    [redis_password]="r1@:/$(rnd)" [redis_password_file]="r3-$(rnd)" [acl_password]="r2-$(rnd)"
    [wrong_redis_password]="w1-$(rnd)" [wrong_acl_password]="w2-$(rnd)" [bad_file_secret]="w3-$(rnd)"
    [bad_url_password]="w5-$(rnd)"
    [s3_secret]="s1-$(rnd)" [s3_session_token]="s2-$(rnd)" [s3_file_secret]="s3-$(rnd)"
    [s3_refused_access_key]="AKIAR$(rnd)" [s3_refused_secret]="s4-$(rnd)"
    [api_token]="t1-$(rnd)" [api_token_file]="t2-$(rnd)" [wrong_token]="b1-$(rnd)" [hf_token]="hf_$(rnd)"
)
encode() { jq -rn --arg s "$1" '$s | @uri'; }
redis_password_url=$(encode "${secret[redis_password]}")

if ! redis_start --requirepass "${secret[redis_password]}"; then
    t_fail "redis-server starts" "see above"
    t_summary test_secrets
fi
# The test's own client authenticates through the environment, never argv.
rcli() { REDISCLI_AUTH=${secret[redis_password]} redis-cli -p "$REDIS_PORT" "$@"; }
# A second password for the default user (the file's) and an ACL user.
rcli ACL SETUSER default ">${secret[redis_password_file]}" >/dev/null
rcli ACL SETUSER jen1-acl on ">${secret[acl_password]}" '~*' '&*' '+@all' >/dev/null
url_with_password="redis://:$redis_password_url@127.0.0.1:$REDIS_PORT"
url_acl="redis://jen1-acl:${secret[acl_password]}@127.0.0.1:$REDIS_PORT"
P="{$POOL_PREFIX}"

if ! s3_start_s3rver "$tmp/s3rver" jen1-audio; then
    t_fail "s3rver starts" "see above"
    t_summary test_secrets
fi
s3_env=(JEN1_BLOB_URL=s3://jen1-audio/songs JEN1_S3_ENDPOINT="http://127.0.0.1:$S3RVER_PORT" AWS_REGION=us-east-1)

# save NAME CMD...: keeps CMD's stdout and stderr as evidence.
save() {
    local name=$1
    shift
    "$@" >"$evidence/$name" 2>&1
}
# http NAME URL [curl args]: keeps the answer, headers included; prints the status.
http() {
    local name=$1 url=$2
    shift 2
    curl -s -D "$evidence/$name.headers" -o "$evidence/$name.body" -w '%{http_code}' "$@" "$url"
}
json="Content-Type: application/json"
job() { printf '{"id":"%s","narrative":"Harbour bells at noon.","duration":1}' "$1"; }
ctl_as() {
    local url=$1
    shift
    REDIS_URL=$url JEN1_PREFIX=$POOL_PREFIX "$JEN1_BUILD/jen1ctl" "$@"
}
keep_cmdlines() { for pid in $POOL_PID $(pool_workers); do tr '\0' ' ' <"/proc/$pid/cmdline"; echo; done >>"$evidence/cmdlines"; }

# ---- Every secret in use: the password in REDIS_URL, S3 keys and HF_TOKEN in
# the environment, the API token, /debug/torch on, the tiny model ----------------
if pool_start secrets-env JEN1_HTTP_CLIENT_IDS=1 REDIS_URL="$url_with_password" USE_TORCH=1 JEN1_LOG_LEVEL=debug \
    JEN1_API_TOKEN="${secret[api_token]}" "${s3_env[@]}" AWS_ACCESS_KEY_ID=S3RVER \
    AWS_SECRET_ACCESS_KEY="${secret[s3_secret]}" AWS_SESSION_TOKEN="${secret[s3_session_token]}" \
    HF_TOKEN="${secret[hf_token]}" && POOL_TOKEN=${secret[api_token]} pool_wait_ready; then
    keep_cmdlines
    t_check "env: POST /generate?wait with the token: 200" \
        test "$(http post-ok "http://$POOL_HTTP/generate?wait=60" -H "Authorization: Bearer ${secret[api_token]}" \
            -H "$json" -d "$(job http-env)")" = 200
    t_check "env: the song went to S3" jq -e '.audio.url == "s3://jen1-audio/songs/http-env.wav"' "$evidence/post-ok.body"
    t_check "env: POST /generate with a wrong token: 401" \
        test "$(http post-wrong "http://$POOL_HTTP/generate" -H "Authorization: Bearer ${secret[wrong_token]}" \
            -H "$json" -d "$(job wrong)")" = 401
    t_check "env: POST /generate without a token: 401" \
        test "$(http post-none "http://$POOL_HTTP/generate" -H "$json" -d "$(job none)")" = 401
    t_check "env: POST an invalid job with the token: 400" \
        test "$(http post-bad "http://$POOL_HTTP/generate" -H "Authorization: Bearer ${secret[api_token]}" \
            -H "$json" -d '{"narrative":"x","duration":-1}')" = 400
    rcli LPUSH "$P:queue" "$(job lpush-env)" '{"id":"bad-env","narrative":"x","duration":"long"}' 'not json' >/dev/null
    t_check "env: an LPUSHed job succeeds" wait_status lpush-env succeeded 60
    wait_status bad-env failed 10
    for path in jobs/http-env jobs/bad-env metrics debug/torch ready health; do
        http "get-${path//\//-}" "http://$POOL_HTTP/$path" -H "Authorization: Bearer ${secret[api_token]}" >/dev/null
    done
    t_check "env: /debug/torch answers" jq -e .torch_version "$evidence/get-debug-torch.body"
    t_check "env: jen1ctl with the password in REDIS_URL" save ctl-env-stats ctl_as "$url_with_password" --json stats
    save ctl-env-status ctl_as "$url_with_password" --json status lpush-env
    save ctl-env-list ctl_as "$url_with_password" list dead
    save ctl-env-enqueue ctl_as "$url_with_password" enqueue --narrative "Foghorns at dusk." --duration 1 --priority 2
    t_check "env: jen1ctl enqueue + wait" save ctl-env-wait ctl_as "$url_with_password" wait "$(cat "$evidence/ctl-env-enqueue")" --timeout 60
else
    t_fail "env: the pool starts and gets ready" "see $JEN1_TEST_TMP/secrets-env.log"
fi
pool_stop TERM

# ---- The secrets from files: the Redis password, the API token, S3's keys --------
printf '%s\n' "${secret[redis_password_file]}" >"$tmp/redis-password"
printf '%s\n' "${secret[api_token_file]}" >"$tmp/api-token"
printf '[default]\naws_access_key_id = %s\naws_secret_access_key = %s\n' \
    S3RVER "${secret[s3_file_secret]}" >"$tmp/s3-credentials"
if pool_start secrets-files JEN1_HTTP_CLIENT_IDS=1 REDIS_URL="redis://127.0.0.1:$REDIS_PORT" JEN1_REDIS_PASSWORD_FILE="$tmp/redis-password" \
    JEN1_API_TOKEN_FILE="$tmp/api-token" JEN1_S3_CREDENTIALS_FILE="$tmp/s3-credentials" "${s3_env[@]}" \
    JEN1_ENGINE=none JEN1_LOG_LEVEL=debug && POOL_TOKEN=${secret[api_token_file]} pool_wait_ready; then
    keep_cmdlines
    t_check "files: POST /generate?wait with the file's token: 200" \
        test "$(http post-file "http://$POOL_HTTP/generate?wait=30" -H "Authorization: Bearer ${secret[api_token_file]}" \
            -H "$json" -d "$(job http-files)")" = 200
    t_check "files: the song went to S3" jq -e '.audio.url == "s3://jen1-audio/songs/http-files.wav"' \
        "$evidence/post-file.body"
    t_check "files: the environment's old token is refused: 401" \
        test "$(http post-old "http://$POOL_HTTP/generate" -H "Authorization: Bearer ${secret[api_token]}" \
            -H "$json" -d "$(job old)")" = 401
    http get-files-metrics "http://$POOL_HTTP/metrics" -H "Authorization: Bearer ${secret[api_token_file]}" >/dev/null
else
    t_fail "files: the pool starts and gets ready" "see $JEN1_TEST_TMP/secrets-files.log"
fi
pool_stop TERM

# ---- An ACL user ------------------------------------------------------------------
if pool_start secrets-acl JEN1_HTTP_CLIENT_IDS=1 REDIS_URL="$url_acl" JEN1_ENGINE=none JEN1_BLOB_URL="file://$(pwd)/$tmp/blobs" \
    JEN1_LOG_LEVEL=debug && pool_wait_ready; then
    keep_cmdlines
    rcli LPUSH "$P:queue" "$(job lpush-acl)" >/dev/null
    t_check "acl: an LPUSHed job succeeds" wait_status lpush-acl succeeded 30
    t_check "acl: jen1ctl as the ACL user" save ctl-acl-status ctl_as "$url_acl" status lpush-acl
else
    t_fail "acl: the pool starts and gets ready" "see $JEN1_TEST_TMP/secrets-acl.log"
fi
pool_stop TERM

# ---- Wrong Redis passwords: refused, said so, never shown ---------------------------
for who in default acl; do
    if [ "$who" = default ]; then
        url="redis://:${secret[wrong_redis_password]}@127.0.0.1:$REDIS_PORT"
    else
        url="redis://jen1-acl:${secret[wrong_acl_password]}@127.0.0.1:$REDIS_PORT"
    fi
    if pool_start "secrets-wrong-$who" JEN1_HTTP_CLIENT_IDS=1 REDIS_URL="$url" JEN1_ENGINE=none JEN1_LOG_LEVEL=debug \
        JEN1_BLOB_URL="file://$(pwd)/$tmp/blobs"; then
        for _ in $(seq 60); do
            grep -q '"redis refused the connection"' "$JEN1_TEST_TMP/secrets-wrong-$who.log" && break
            sleep 0.05
        done
        t_check "wrong $who password: the worker logs the refusal" \
            grep -q '"redis refused the connection".*WRONGPASS' "$JEN1_TEST_TMP/secrets-wrong-$who.log"
        t_check "wrong $who password: /ready says redis is missing (503)" \
            test "$(http "ready-wrong-$who" "http://$POOL_HTTP/ready")" = 503
        t_check "wrong $who password: POST /generate says 503" \
            test "$(http "post-wrong-$who" "http://$POOL_HTTP/generate" -H "$json" -d "$(job "w-$who")")" = 503
        http "metrics-wrong-$who" "http://$POOL_HTTP/metrics" >/dev/null
        # No job in hand: SIGTERM need not wait the grace period (20 s here)
        # for Redis to come back.
        stop_started=$EPOCHREALTIME
        pool_stop TERM
        took=$(awk -v a="$stop_started" -v b="$EPOCHREALTIME" 'BEGIN { printf "%.1f", b - a }')
        t_check "wrong $who password: SIGTERM stops the idle pool at once (exit $POOL_STATUS in $took s)" \
            awk -v t="$took" -v rc="$POOL_STATUS" 'BEGIN { exit !(rc == 0 && t < 3) }'
    else
        t_fail "wrong $who password: the pool starts (HTTP up)" "see $JEN1_TEST_TMP/secrets-wrong-$who.log"
    fi
    pool_stop TERM
    t_check_fails "wrong $who password: jen1ctl fails, saying why" "WRONGPASS" ctl_as "$url" stats
    save "ctl-wrong-$who" ctl_as "$url" stats
done
save ctl-no-password ctl_as "redis://127.0.0.1:$REDIS_PORT" stats
t_check "no password: jen1ctl asks for one" grep -q "wants a password" "$evidence/ctl-no-password"

# ---- An S3 server that refuses the signature (and echoes the access key) ----------------
if s3_start_fake "$tmp/fake-s3.log" error 403 SignatureDoesNotMatch; then
    pool_start secrets-s3-refused REDIS_URL="$url_with_password" JEN1_ENGINE=none JEN1_LOG_LEVEL=debug \
        JEN1_BLOB_URL=s3://jen1-audio/songs JEN1_S3_ENDPOINT="http://127.0.0.1:$FAKE_PORT" AWS_REGION=us-east-1 \
        AWS_ACCESS_KEY_ID="${secret[s3_refused_access_key]}" AWS_SECRET_ACCESS_KEY="${secret[s3_refused_secret]}" \
        JEN1_MAX_ATTEMPTS=2
    rcli LPUSH "$P:queue" "$(job s3-refused)" >/dev/null
    t_check "S3 refusing the signature: the job fails" wait_status s3-refused failed 30
    t_check "S3 refusing the signature: its message says so" \
        grep -q SignatureDoesNotMatch <<<"$(rcli HGET "$P:job:s3-refused" error_message)"
    # Asked the same way, the server does echo the access key: so the masking was tested.
    t_check "S3 refusing the signature: the server echoes the access key" grep -q "${secret[s3_refused_access_key]}" \
        <<<"$(curl -s -H "Authorization: AWS4-HMAC-SHA256 Credential=${secret[s3_refused_access_key]}/20260101/us-east-1/s3/aws4_request" \
            "http://127.0.0.1:$FAKE_PORT/jen1-audio/x")"
    pool_stop TERM
else
    t_fail "the fake S3 server starts" "see above"
fi

# ---- Secret files and URLs that cannot be used: the error names the file, not its content ---
printf '%s\0tail' "${secret[bad_file_secret]}" >"$tmp/redis-password-nul"
t_check_fails "a password file with a NUL byte: refused, naming the file" "redis-password-nul" \
    env REDIS_URL="redis://127.0.0.1:$REDIS_PORT" JEN1_REDIS_PASSWORD_FILE="$tmp/redis-password-nul" \
    "$JEN1_BUILD/jen1-worker"
save worker-bad-file env REDIS_URL="redis://127.0.0.1:$REDIS_PORT" JEN1_REDIS_PASSWORD_FILE="$tmp/redis-password-nul" \
    "$JEN1_BUILD/jen1-worker"
head -c 600 /dev/zero | tr '\0' 'x' | sed "s/^/${secret[bad_file_secret]}/" >"$tmp/api-token-long"
t_check_fails "an API token file too long: refused, naming the file" "api-token-long" \
    env JEN1_API_TOKEN_FILE="$tmp/api-token-long" "$JEN1_BUILD/jen1-worker"
save worker-long-token env JEN1_API_TOKEN_FILE="$tmp/api-token-long" "$JEN1_BUILD/jen1-worker"
bad_url="redis://:${secret[bad_url_password]}@127.0.0.1:notaport"
t_check_fails "a REDIS_URL with a bad port: refused" "port" env REDIS_URL="$bad_url" "$JEN1_BUILD/jen1-worker"
save worker-bad-url env REDIS_URL="$bad_url" "$JEN1_BUILD/jen1-worker"
save ctl-bad-url ctl_as "$bad_url" stats
t_check "--help shows no secret" save worker-help env JEN1_API_TOKEN="${secret[api_token]}" \
    REDIS_URL="$url_with_password" "$JEN1_BUILD/jen1-worker" --help

# ---- What the pools wrote to Redis ----------------------------------------------------
rcli --scan >"$tmp/keys"
while IFS= read -r key; do
    printf '== %s (%s)\n' "$key" "$(rcli TYPE "$key")"
    case $(rcli TYPE "$key") in
    string) rcli GET "$key" ;;
    hash) rcli HGETALL "$key" ;;
    list) rcli LRANGE "$key" 0 -1 ;;
    zset) rcli ZRANGE "$key" 0 -1 WITHSCORES ;;
    set) rcli SMEMBERS "$key" ;;
    esac
done <"$tmp/keys" >"$evidence/redis-dump"
t_check "the Redis dump holds the jobs (so it was searched for real)" \
    grep -q lpush-env "$evidence/redis-dump"

# ---- The search ----------------------------------------------------------------------
cp "$JEN1_TEST_TMP"/secrets-*.log "$evidence/"
t_check "the evidence holds every pool's log" test "$(ls "$evidence"/secrets-*.log | wc -l)" = 6
t_check "the debug logs are there (so they were searched for real)" \
    grep -q '"level":"debug"' "$evidence/secrets-env.log"
for name in "${!secret[@]}"; do
    value=${secret[$name]}
    forms=("$value" "$(encode "$value")" "${value: -24}") # raw, percent-encoded, its random part
    hits=$(grep -rlF "${forms[@]/#/-e}" "$evidence" | sed "s|^$evidence/||" | tr '\n' ' ')
    t_check "$name appears nowhere${hits:+ (found in: $hits)}" test -z "$hits"
done

t_summary test_secrets
