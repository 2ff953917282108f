#!/usr/bin/env bash
# test_http_wait.sh - the product's orchestrator against a real pool (a real
# redis-server, real jen1-worker processes): POST /generate {narrative,
# duration} answered with the GeneratedSong in one call when the operator
# sets JEN1_HTTP_DEFAULT_WAIT; RFC 7240's Prefer: respond-async and a short
# Prefer: wait answered 202 with Location; words-only jobs ("audio": false)
# that finish fast, write no audio and sing the same words twice.
set -u
. tests/cli/lib.sh
. tests/lib/redis.sh
. tests/cli/pool.sh

tmp=$JEN1_TEST_TMP/http_wait
rm -rf "$tmp" && mkdir -p "$tmp/blobs"
blobs=$tmp/blobs
validate=tests/tools/validate-song

cleanup() { pool_stop KILL; redis_stop; }
trap cleanup EXIT
if ! redis_start; then
    t_fail "redis-server starts" "see above"
    t_summary test_http_wait
fi

# post NAME BODY [CURL ARGS...]: POST /generate; the answer's body in
# $tmp/NAME.json, its headers in $tmp/NAME.headers; prints the status code.
post() {
    local name=$1 body=$2
    shift 2
    curl -s -o "$tmp/$name.json" -D "$tmp/$name.headers" -w '%{http_code}' -H 'Content-Type: application/json' \
        "$@" -d "$body" "http://$POOL_HTTP/generate"
}
# header NAME FIELD: one header of an answer, without its CR.
header() { sed -n "s/^$2: *//Ip" "$tmp/$1.headers" | tr -d '\r'; }

# ---- The tiny model, and the operator's default wait ----------------------------
if ! pool_start http-wait-tiny JEN1_HTTP_CLIENT_IDS=1 JEN1_BLOB_URL="file://$(pwd)/$blobs" JEN1_HTTP_DEFAULT_WAIT=120; then
    t_fail "pool starts" "see the log above"
    t_summary test_http_wait
fi

code=$(post orchestrator '{"narrative":"A lighthouse keeper finds a message in a bottle.","duration":1}')
t_check "default wait: POST {narrative, duration} answers 200" test "$code" = 200
t_check "default wait: the body is a schema-valid GeneratedSong" "$validate" "$tmp/orchestrator.json"
t_check "default wait: with its audio" jq -e '.audio.url | startswith("file://")' "$tmp/orchestrator.json"
id=$(jq -r .id "$tmp/orchestrator.json")
t_check "default wait: Location names the job" test "$(header orchestrator Location)" = "/jobs/$id"
t_check "default wait: no preference applied" test -z "$(header orchestrator Preference-Applied)"

code=$(post async '{"id":"async-1","narrative":"Rain on a tin roof.","duration":1}' -H 'Prefer: respond-async')
t_check "Prefer: respond-async: 202 at once" test "$code" = 202
t_check "Prefer: respond-async: Location" test "$(header async Location)" = /jobs/async-1
t_check "Prefer: respond-async: Preference-Applied" test "$(header async Preference-Applied)" = respond-async
t_check "Prefer: respond-async: the queued document" jq -e '.id == "async-1" and .status_url == "/jobs/async-1"' \
    "$tmp/async.json"
t_check "Prefer: respond-async: the job still runs" ctl wait async-1 --timeout 60

words='{"narrative":"Two friends drive to the sea at night.","duration":20,"seed":7,"audio":false'
code=$(post words-1 "$words,\"id\":\"words-1\"}" -H 'Prefer: wait=60')
t_check "audio false: 200" test "$code" = 200
t_check "audio false: a schema-valid GeneratedSong" "$validate" "$tmp/words-1.json"
t_check "audio false: audio null, no windows or codes" \
    jq -e '.audio == null and (has("windows") | not) and (has("codes") | not)' "$tmp/words-1.json"
t_check "audio false: the words are there" jq -e '(.title | length) > 0 and (.sections | length) > 0' \
    "$tmp/words-1.json"
t_check "audio false: Preference-Applied wait=60" test "$(header words-1 Preference-Applied)" = wait=60
t_check "audio false: no audio or codes written" test -z "$(find "$blobs" -name 'words-1*' -print -quit)"
t_check "audio false: no audio_url on the job" test -z "$(job_field words-1 audio_url)"
t_check "audio false: succeeded" test "$(job_field words-1 status)" = succeeded
post words-2 "$words,\"id\":\"words-2\"}" >/dev/null
t_check "audio false: the same job gives the same words" \
    diff <(jq -S 'del(.id, .timings, .created_at)' "$tmp/words-1.json") \
         <(jq -S 'del(.id, .timings, .created_at)' "$tmp/words-2.json")
code=$(post bad-audio '{"narrative":"x","duration":1,"audio":"no"}')
t_check "audio of the wrong type: 400" test "$code" = 400
t_check "audio of the wrong type: invalid_job, saying why" \
    jq -e '.error == "invalid_job" and (.message | test("audio must be true .* or false"))' "$tmp/bad-audio.json"
pool_stop TERM

# ---- A slow silent engine: a wait that runs out ----------------------------------
pool_start http-wait-slow JEN1_HTTP_CLIENT_IDS=1 JEN1_ENGINE=none JEN1_NONE_PACE=1 JEN1_BLOB_URL="file://$(pwd)/$blobs"
start=$(date +%s%N)
code=$(post slow '{"id":"slow-1","narrative":"A long slow drone.","duration":20}' -H 'Prefer: wait=1')
ms=$((($(date +%s%N) - start) / 1000000))
t_check "Prefer: wait=1 on a 20 s job: 202" test "$code" = 202
t_check "Prefer: wait=1: answered after the wait ($ms ms)" test "$ms" -ge 900 -a "$ms" -lt 5000
t_check "Prefer: wait=1: Location" test "$(header slow Location)" = /jobs/slow-1
t_check "Prefer: wait=1: Preference-Applied" test "$(header slow Preference-Applied)" = wait=1
t_check "Prefer: wait=1: the status document" jq -e '.id == "slow-1" and (.status | test("queued|running"))' \
    "$tmp/slow.json"
code=$(post plain '{"id":"plain-1","narrative":"x","duration":1}')
t_check "no default wait, no Prefer: 202 with Location as before" \
    test "$code" = 202 -a "$(header plain Location)" = /jobs/plain-1
ctl cancel slow-1 >/dev/null
ctl cancel plain-1 >/dev/null
t_check "the long job cancelled" wait_status slow-1 cancelled 10
start=$(date +%s%N)
code=$(post words-slow '{"id":"words-slow","narrative":"A long slow drone.","duration":60,"audio":false}' \
    -H 'Prefer: wait=30')
ms=$((($(date +%s%N) - start) / 1000000))
t_check "audio false never meets the engine: 200 in $ms ms for 60 s of song" test "$code" = 200 -a "$ms" -lt 5000
pool_stop TERM

t_summary test_http_wait
