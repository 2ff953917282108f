#!/usr/bin/env bash
# test_redis_transport.sh - how a pool reaches Redis and what it leaves on
# disk, as docs/protocol.md tells an operator to set it up (issue 10,
# finding 8 and the ACL):
#   - a redis-server with TLS only for the pool (its plain port is the
#     test's own), a certificate from a private CA given as SSL_CERT_FILE;
#   - the pool as the ACL user the docs describe (keys {PREFIX}:* only, no
#     dangerous commands), over rediss://, the user in REDIS_URL and its
#     password in JEN1_REDIS_PASSWORD_FILE (refused before issue 10);
#   - a job through it all, its audio 0640 in a 0750 directory (the pool
#     creates it);
#   - what must fail, and how: no CA, the wrong host name, TLS to a plain
#     port, a user without a password, the ACL user outside its keys.
set -u
. tests/cli/lib.sh
. tests/lib/redis.sh
. tests/cli/pool.sh

rm -rf "$JEN1_TEST_TMP/transport"
tmp=$(mkdir -p "$JEN1_TEST_TMP/transport" && cd "$JEN1_TEST_TMP/transport" && pwd) # absolute: redis-server changes directory
unset JEN1_REDIS_PASSWORD_FILE SSL_CERT_FILE SSL_CERT_DIR
cleanup() { pool_stop KILL; redis_stop; }
trap cleanup EXIT

# ---- A private CA and a server certificate for localhost (not 127.0.0.1) ------------
openssl req -x509 -newkey rsa:2048 -nodes -days 2 -subj /CN=jen1-test-ca \
    -keyout "$tmp/ca.key" -out "$tmp/ca.pem" 2>/dev/null
openssl req -newkey rsa:2048 -nodes -subj /CN=localhost -keyout "$tmp/server.key" -out "$tmp/server.csr" 2>/dev/null
printf 'subjectAltName=DNS:localhost\n' >"$tmp/san.ext"
openssl x509 -req -in "$tmp/server.csr" -CA "$tmp/ca.pem" -CAkey "$tmp/ca.key" -CAcreateserial -days 2 \
    -extfile "$tmp/san.ext" -out "$tmp/server.pem" 2>/dev/null
[ -s "$tmp/server.pem" ] || { t_fail "openssl makes the certificates" "see above"; t_summary test_redis_transport; }

TLS_PORT=$(free_port)
if ! redis_start --tls-port "$TLS_PORT" --tls-cert-file "$tmp/server.pem" --tls-key-file "$tmp/server.key" \
    --tls-ca-cert-file "$tmp/ca.pem" --tls-auth-clients no; then
    t_fail "redis-server starts with TLS" "see above"
    t_summary test_redis_transport
fi
P="{$POOL_PREFIX}"

# ---- The ACL user of docs/protocol.md ("The Redis user") -------------------------
password="acl-$(head -c 12 /dev/urandom | od -An -tx1 | tr -d ' \n')"
printf '%s\n' "$password" >"$tmp/redis-password"
chmod 600 "$tmp/redis-password"
t_check "the documented ACL is accepted by redis-server" \
    rcli ACL SETUSER jen1 reset on ">$password" "~$P:*" "&$P:*" \
    -@all +@connection +@read +@write +@keyspace +@pubsub +@scripting +time -@dangerous -script\|flush -script\|kill

tls_url="rediss://jen1@localhost:$TLS_PORT"
if pool_start transport REDIS_URL="$tls_url" JEN1_REDIS_PASSWORD_FILE="$tmp/redis-password" \
    SSL_CERT_FILE="$tmp/ca.pem" JEN1_ENGINE=none JEN1_BLOB_URL="file://$tmp/blobs" && pool_wait_ready; then
    t_ok "a pool as the ACL user over rediss://, password from JEN1_REDIS_PASSWORD_FILE: ready"
    ctl_tls() {
        SSL_CERT_FILE="$tmp/ca.pem" "$JEN1_BUILD/jen1ctl" --redis "rediss://jen1:$password@localhost:$TLS_PORT" \
            --prefix "$POOL_PREFIX" "$@"
    }
    t_check "jen1ctl enqueues over TLS as the ACL user" ctl_tls enqueue --id tls-1 --narrative "a calm piano" --duration 1
    t_expect "the job succeeds" 0 "succeeded" ctl_tls wait tls-1 --timeout 30
    t_expect "jen1ctl stats over TLS" 0 "workers_alive +1" ctl_tls stats
    # Every connection of the ACL user came in on the TLS port.
    clients=$(rcli CLIENT LIST | grep ' user=jen1 ')
    if [ -n "$clients" ] && ! grep -vq "laddr=127.0.0.1:$TLS_PORT " <<<"$clients"; then
        t_ok "the pool's connections are all on the TLS port ($(wc -l <<<"$clients"))"
    else
        t_fail "the pool's connections are all on the TLS port" "$clients"
    fi
    audio=$(find "$tmp/blobs" -type f -name 'tls-1*' | head -n 1)
    t_check "the audio is 0640" test "$(stat -c %a "$audio" 2>/dev/null)" = 640
    t_check "its directory is 0750" test "$(stat -c %a "$tmp/blobs" 2>/dev/null)" = 750
    t_check "no password in the log" bash -c "! grep -qF -- '$password' '$JEN1_TEST_TMP/transport.log'"
else
    t_fail "a pool as the ACL user over rediss://" "see $JEN1_TEST_TMP/transport.log"
fi
pool_stop TERM

# ---- What must fail, clearly --------------------------------------------------------
as_ctl() { # URL [ENV...] : jen1ctl stats with that URL and environment
    local url=$1
    shift
    env "$@" "$JEN1_BUILD/jen1ctl" --redis "$url" --prefix "$POOL_PREFIX" stats
}
t_expect "no CA given: the certificate is refused" 3 "certificate is refused.*SSL_CERT_FILE" \
    as_ctl "rediss://jen1:$password@localhost:$TLS_PORT"
t_expect "the certificate names another host (localhost, not 127.0.0.1): refused" 3 "certificate is refused" \
    as_ctl "rediss://jen1:$password@127.0.0.1:$TLS_PORT" SSL_CERT_FILE="$tmp/ca.pem"
t_expect "rediss:// to a plain port: a handshake failure" 3 "TLS" \
    as_ctl "rediss://jen1:$password@localhost:$REDIS_PORT" SSL_CERT_FILE="$tmp/ca.pem"
t_expect "a user without any password: said so" nonzero "the user 'jen1' has no password" \
    as_ctl "rediss://jen1@localhost:$TLS_PORT" SSL_CERT_FILE="$tmp/ca.pem"
t_expect "a wrong password over TLS: authentication failed" nonzero "authentication failed" \
    as_ctl "rediss://jen1:wrong-$RANDOM@localhost:$TLS_PORT" SSL_CERT_FILE="$tmp/ca.pem"
acl_cli() { REDISCLI_AUTH=$password redis-cli -p "$REDIS_PORT" --user jen1 "$@"; }
t_expect "the ACL user cannot read a key outside its prefix" 0 "NOPERM" acl_cli GET other:key
t_expect "nor flush the database" 0 "NOPERM" acl_cli FLUSHALL
t_expect "nor reconfigure the server" 0 "NOPERM" acl_cli CONFIG SET maxmemory 1

t_summary test_redis_transport
