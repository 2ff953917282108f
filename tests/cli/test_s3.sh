#!/usr/bin/env bash
# test_s3.sh - the s3:// blob store through build/blobctl, against a real
# S3-compatible server on loopback (s3rver, from tests/node) and against
# tests/s3/fake_s3.js for the failures s3rver cannot produce (it never checks
# a SigV4 signature: the signing itself is proven by test_sigv4).
#
# Round trips (path and virtual-hosted style, a credentials file), then the
# failures and how they are classed: wrong credentials are "rejected" with a
# message naming no credential; 5xx, timeouts, a dropped connection, an
# unreachable or stopped server are "unavailable".
set -u
. tests/cli/lib.sh
. tests/s3/servers.sh

ctl=$JEN1_BUILD/blobctl
tmp=$JEN1_TEST_TMP/s3
rm -rf "$tmp" && mkdir -p "$tmp"
trap s3_stop_all EXIT

# Each case sets what it uses; nothing comes from the caller's environment.
unset JEN1_S3_ENDPOINT AWS_REGION AWS_DEFAULT_REGION AWS_ACCESS_KEY_ID AWS_SECRET_ACCESS_KEY \
    AWS_SESSION_TOKEN JEN1_S3_CREDENTIALS_FILE AWS_PROFILE JEN1_S3_PATH_STYLE \
    JEN1_S3_CONNECT_TIMEOUT_MS JEN1_S3_TIMEOUT_MS

if [ ! -x "$ctl" ]; then
    t_fail "blobctl is built" "$ctl is missing (make tests)"
    t_summary test_s3
fi
if ! s3_start_s3rver "$tmp/s3rver" jen1-test; then
    t_fail "s3rver starts" "node or s3rver is missing or did not start (see above)"
    t_summary test_s3
fi
t_ok "s3rver starts"
endpoint=http://127.0.0.1:$S3RVER_PORT
store=s3://jen1-test/songs

# s3 [VAR=value...] CMD...: runs CMD with s3rver's endpoint and credentials.
s3() { env JEN1_S3_ENDPOINT="$endpoint" AWS_ACCESS_KEY_ID=S3RVER AWS_SECRET_ACCESS_KEY=S3RVER "$@"; }

# t_names_none NAME WORD...: the last t_expect's output holds none of the words.
t_names_none() {
    local name=$1 word
    shift
    for word in "$@"; do
        if grep -qF -- "$word" <<<"$t_out"; then
            t_fail "$name" "the message holds '$word'"
            t_show_output "$t_out"
            return
        fi
    done
    t_ok "$name"
}

head -c 1048577 /dev/urandom >"$tmp/song.bin"
head -c 5000 /dev/urandom >"$tmp/other.bin"
: >"$tmp/empty.bin"

# --- round trips -----------------------------------------------------------
t_expect "put returns the object's s3:// URL" 0 "^s3://jen1-test/songs/job-1\.wav$" \
    s3 "$ctl" put "$store" job-1.wav "$tmp/song.bin" audio/wav
t_expect "get" 0 "" s3 "$ctl" get "$store" job-1.wav "$tmp/got.bin"
t_check "get returns the bytes put" cmp "$tmp/song.bin" "$tmp/got.bin"

s3 "$ctl" put "$store" job-1.wav "$tmp/other.bin" >/dev/null 2>&1
s3 "$ctl" get "$store" job-1.wav "$tmp/got2.bin" >/dev/null 2>&1
t_check "a second put replaces the object" cmp "$tmp/other.bin" "$tmp/got2.bin"

t_expect "an empty object" 0 "" s3 "$ctl" put "$store" empty.bin "$tmp/empty.bin"
s3 "$ctl" get "$store" empty.bin "$tmp/got-empty.bin" >/dev/null 2>&1
t_check "an empty object reads back empty" cmp "$tmp/empty.bin" "$tmp/got-empty.bin"

t_expect "no prefix" 0 "^s3://jen1-test/top\.bin$" s3 "$ctl" put s3://jen1-test top.bin "$tmp/other.bin"
t_expect "get of a missing key is not_found" 5 "not_found: .*no such object" \
    s3 "$ctl" get "$store" missing.wav "$tmp/x"
t_expect "delete" 0 "" s3 "$ctl" delete "$store" job-1.wav
t_expect "get after delete is not_found" 5 "not_found" s3 "$ctl" get "$store" job-1.wav "$tmp/x"
t_expect "a key with '/' is rejected" 4 "rejected: .*holds '/'" \
    s3 "$ctl" put "$store" ../escape "$tmp/other.bin"
t_expect "a content type with a line break (header injection) is rejected" 4 "rejected: .*line break" \
    s3 "$ctl" put "$store" k.bin "$tmp/other.bin" $'audio/wav\r\nX-Injected: 1'
t_expect "a missing bucket is rejected" 4 "rejected: .*bucket does not exist" \
    s3 "$ctl" put s3://no-such-bucket/songs k.bin "$tmp/other.bin"

t_expect "virtual-hosted style (bucket.s3.localhost)" 0 "^s3://jen1-test/vhost/v\.bin$" \
    s3 JEN1_S3_ENDPOINT="http://s3.localhost:$S3RVER_PORT" JEN1_S3_PATH_STYLE=0 \
    "$ctl" put s3://jen1-test/vhost v.bin "$tmp/other.bin"
s3 "$ctl" get s3://jen1-test/vhost v.bin "$tmp/got-vhost.bin" >/dev/null 2>&1
t_check "virtual-hosted put lands where path style reads" cmp "$tmp/other.bin" "$tmp/got-vhost.bin"

cat >"$tmp/credentials" <<'EOF'
[default]
aws_access_key_id = NOT-THIS-ONE
aws_secret_access_key = nor-this-secret

# the profile the test selects
[jen1]
aws_access_key_id = S3RVER
aws_secret_access_key = S3RVER
EOF
t_expect "credentials from a file (AWS_PROFILE)" 0 "^s3://jen1-test/songs/file\.bin$" \
    env JEN1_S3_ENDPOINT="$endpoint" JEN1_S3_CREDENTIALS_FILE="$tmp/credentials" AWS_PROFILE=jen1 \
    "$ctl" put "$store" file.bin "$tmp/other.bin"
t_expect "a credentials file's [default] profile is used without AWS_PROFILE" 4 "refused the credentials" \
    env JEN1_S3_ENDPOINT="$endpoint" JEN1_S3_CREDENTIALS_FILE="$tmp/credentials" \
    "$ctl" put "$store" file.bin "$tmp/other.bin"
t_names_none "... naming neither key nor secret" NOT-THIS-ONE nor-this-secret
t_expect "a missing profile is rejected" 4 "no profile \[nope\]" \
    env JEN1_S3_ENDPOINT="$endpoint" JEN1_S3_CREDENTIALS_FILE="$tmp/credentials" AWS_PROFILE=nope \
    "$ctl" put "$store" file.bin "$tmp/other.bin"
t_expect "no credentials at all is rejected" 4 "no S3 credentials" \
    env JEN1_S3_ENDPOINT="$endpoint" "$ctl" put "$store" k.bin "$tmp/other.bin"

# --- wrong credentials: rejected, and never repeated -----------------------
secret=wrong-secret-Zq8xTr4
t_expect "a wrong access key is rejected" 4 "rejected: .*S3 refused the credentials.*InvalidAccessKeyId" \
    s3 AWS_ACCESS_KEY_ID=WRONGKEYID123 AWS_SECRET_ACCESS_KEY=$secret \
    "$ctl" put "$store" k.bin "$tmp/other.bin"
t_names_none "... naming neither key nor secret nor endpoint" \
    WRONGKEYID123 "$secret" "127.0.0.1" "$S3RVER_PORT"

if s3_start_fake "$tmp/fake-403.log" error 403 SignatureDoesNotMatch; then
    t_expect "a wrong secret (SignatureDoesNotMatch) is rejected" 4 \
        "rejected: .*S3 refused the credentials: HTTP 403 \(SignatureDoesNotMatch" \
        env JEN1_S3_ENDPOINT="http://127.0.0.1:$FAKE_PORT" AWS_ACCESS_KEY_ID=AKIDJEN1TEST \
        AWS_SECRET_ACCESS_KEY=$secret AWS_SESSION_TOKEN=token-Qw3rTy9 \
        "$ctl" put "$store" k.bin "$tmp/other.bin"
    t_names_none "... naming no credential although the server echoed the key" \
        AKIDJEN1TEST "$secret" token-Qw3rTy9 "$FAKE_PORT"
    s3_stop "$FAKE_PID"
else
    t_fail "fake S3 (403) starts" "see above"
fi

# --- unavailable -----------------------------------------------------------
for failure in "503 SlowDown" "500 InternalError"; do
    if s3_start_fake "$tmp/fake.log" error $failure; then
        t_expect "HTTP ${failure% *} is unavailable" 3 "unavailable: .*HTTP ${failure% *} \(${failure#* }" \
            s3 JEN1_S3_ENDPOINT="http://127.0.0.1:$FAKE_PORT" "$ctl" put "$store" k.bin "$tmp/other.bin"
        s3_stop "$FAKE_PID"
    else
        t_fail "fake S3 ($failure) starts" "see above"
    fi
done

if s3_start_fake "$tmp/fake-hang.log" hang; then
    start=$SECONDS
    t_expect "a server that never answers times out as unavailable" 3 "unavailable: .*time limit" \
        s3 JEN1_S3_ENDPOINT="http://127.0.0.1:$FAKE_PORT" JEN1_S3_TIMEOUT_MS=1000 \
        "$ctl" put "$store" k.bin "$tmp/song.bin"
    if [ $((SECONDS - start)) -le 10 ]; then t_ok "... within the time limit"
    else t_fail "... within the time limit" "took $((SECONDS - start)) s"; fi
    s3_stop "$FAKE_PID"
else
    t_fail "fake S3 (hang) starts" "see above"
fi

if s3_start_fake "$tmp/fake-reset.log" reset; then
    t_expect "a connection dropped during the upload is unavailable" 3 \
        "unavailable: .*request to the S3 endpoint failed" \
        s3 JEN1_S3_ENDPOINT="http://127.0.0.1:$FAKE_PORT" "$ctl" put "$store" k.bin "$tmp/song.bin"
    s3_stop "$FAKE_PID"
else
    t_fail "fake S3 (reset) starts" "see above"
fi

if s3_start_fake "$tmp/fake-etag.log" bad-etag; then
    t_expect "an ETag that is not the body's MD5 is unavailable" 3 "unavailable: .*ETag" \
        s3 JEN1_S3_ENDPOINT="http://127.0.0.1:$FAKE_PORT" "$ctl" put "$store" k.bin "$tmp/other.bin"
    closed_port=$FAKE_PORT
    s3_stop "$FAKE_PID"
    t_expect "an unreachable endpoint (closed port) is unavailable" 3 \
        "unavailable: .*cannot reach the S3 endpoint" \
        s3 JEN1_S3_ENDPOINT="http://127.0.0.1:$closed_port" "$ctl" put "$store" k.bin "$tmp/other.bin"
    t_names_none "... without naming the endpoint" "127.0.0.1" "$closed_port" S3RVER
else
    t_fail "fake S3 (bad-etag) starts" "see above"
fi

# --- s3rver goes away ------------------------------------------------------
t_expect "put before s3rver stops" 0 "" s3 "$ctl" put "$store" last.bin "$tmp/other.bin"
s3_stop "$S3RVER_PID"
t_expect "put after s3rver stopped is unavailable" 3 "unavailable" \
    s3 "$ctl" put "$store" last.bin "$tmp/other.bin"
t_expect "get after s3rver stopped is unavailable" 3 "unavailable" \
    s3 "$ctl" get "$store" last.bin "$tmp/x"

t_summary test_s3
