#!/usr/bin/env bash
# test_worker.sh - the worker pool end to end: a real redis-server, real
# jen1-worker processes on the tiny model, jobs pushed with redis-cli LPUSH
# as any producer would, the HTTP endpoints, jen1ctl, bad jobs, cancel,
# timeout, SIGTERM and kill -9.
set -u
. tests/cli/lib.sh
. tests/lib/redis.sh
. tests/cli/pool.sh
. tests/s3/servers.sh

tmp=$JEN1_TEST_TMP
rm -rf "$tmp/blobs" "$tmp"/pool-*.log
mkdir -p "$tmp/blobs"
validate=tests/tools/validate-song

cleanup() { pool_stop KILL; s3_stop_all; redis_stop; }
trap cleanup EXIT
# Append-only, so that Redis killed and restarted keeps the queue (as production must).
if ! redis_start --appendonly yes; then
    t_fail "redis-server starts" "see above"
    t_summary test_worker
fi
P="{$POOL_PREFIX}"

# ---- The real engine on the tiny model ---------------------------------------
if ! pool_start pool-tiny USE_TORCH=1 JEN1_HTTP_CLIENT_IDS=1; then
    t_fail "pool starts" "see the log above"
    t_summary test_worker
fi
t_check "GET /health" curl -sf "http://$POOL_HTTP/health"
t_check "GET /ready once the model is loaded" pool_wait_ready

rcli LPUSH "$P:queue" '{"id":"lp-wav","narrative":"A lighthouse keeper finds a message in a bottle during a storm.","duration":2}' >/dev/null
rcli LPUSH "$P:queue" '{"id":"lp-flac","narrative":"Neon lights and a late train home.","duration":1.5,"format":"flac","seed":7}' >/dev/null
rcli LPUSH "$P:queue" '{"id":"lp-ogg","narrative":"Two old friends dance at a wedding.","duration":1,"format":"ogg","extra":{"kept":true}}' >/dev/null
rcli LPUSH "$P:queue" '{"id":"lp-mp3","narrative":"A brass band marches through the old town.","duration":3,"format":"mp3"}' >/dev/null
rcli LPUSH "$P:queue" '{"id":"lp-raw","narrative":"A brass band marches through the old town.","duration":2,"loudness":null}' >/dev/null
rcli LPUSH "$P:queue" '{"id":"lp-quiet","narrative":"A brass band marches through the old town.","duration":2,"loudness":-23}' >/dev/null
for id in lp-wav lp-flac lp-ogg lp-mp3 lp-raw lp-quiet; do
    t_check "$id: LPUSHed job succeeds" ctl wait "$id" --timeout 60
    rcli HGET "$P:job:$id" result >"$tmp/$id.json"
    t_check "$id: GeneratedSong is schema-valid" "$validate" "$tmp/$id.json"
    t_check "$id: exactly one done entry" test "$(rcli LLEN "$P:done:$id")" = 1
done
wav=$tmp/blobs/lp-wav.wav
t_check "wav: 2 s of 16-bit mono 32 kHz (44-byte header)" test "$(stat -c %s "$wav" 2>/dev/null)" = $((44 + 2 * 32000 * 2))
t_check "flac: a FLAC stream" grep -q "^fLaC" "$tmp/blobs/lp-flac.flac"
t_check "ogg: an Ogg stream" grep -q "^OggS" "$tmp/blobs/lp-ogg.ogg"
sha=$(sha256sum "$wav" | cut -d' ' -f1)
t_check "wav: the result's sha256 and bytes describe the object" \
    jq -e --arg sha "$sha" --argjson bytes "$(stat -c %s "$wav")" '.audio.sha256 == $sha and .audio.bytes == $bytes' "$tmp/lp-wav.json"
t_check "sections tile the duration" jq -e '.sections[0].start == 0 and .sections[-1].end == 2' "$tmp/lp-wav.json"
t_check "seed given is the seed used" jq -e '.model.seed == 7' "$tmp/lp-flac.json"
# mp3: a stream that another reader (sox, through libmad/mpg123) decodes to the song's length and rate.
mp3=$tmp/blobs/lp-mp3.mp3
t_check "mp3: sox reads 32 kHz mono" test "$(soxi -r "$mp3" 2>/dev/null)/$(soxi -c "$mp3" 2>/dev/null)" = 32000/1
t_check "mp3: sox reads 3 s (within the encoder's padding)" \
    awk -v d="$(soxi -D "$mp3" 2>/dev/null)" 'BEGIN { exit !(d >= 2.99 && d <= 3.1) }'
t_check "mp3: audio/mpeg in the GeneratedSong, sha256 of the object" \
    jq -e --arg sha "$(sha256sum "$mp3" | cut -d' ' -f1)" '.audio.format == "mp3" and .audio.mime_type == "audio/mpeg" and .audio.sha256 == $sha' "$tmp/lp-mp3.json"
# Loudness: the default target (-14 LUFS) or the job's, reached within 1 LU under the -1 dBTP
# ceiling; "loudness": null keeps the model's output and reports none.
t_check "loudness: the default job reaches -14 LUFS (within 1 LU), true peak <= -1 dBTP" \
    jq -e '.audio.loudness.target_lufs == -14 and (.audio.loudness.integrated_lufs + 14 | fabs) <= 1 and .audio.loudness.true_peak_dbtp <= -1' "$tmp/lp-wav.json"
t_check "loudness: every format is normalised" \
    jq -e -s 'all(.[]; (.audio.loudness.integrated_lufs + 14 | fabs) <= 1)' "$tmp/lp-flac.json" "$tmp/lp-ogg.json" "$tmp/lp-mp3.json"
t_check "loudness: the job's own target (-23 LUFS)" \
    jq -e '.audio.loudness.target_lufs == -23 and (.audio.loudness.integrated_lufs + 23 | fabs) <= 1' "$tmp/lp-quiet.json"
t_check "loudness null: reported as none" jq -e '.audio | has("loudness") and .loudness == null' "$tmp/lp-raw.json"
t_check "loudness: sox sees the wav's sample peak under -1 dBFS" \
    awk -v p="$(sox "$wav" -n stats 2>&1 | awk '/^Pk lev dB/ {print $4}')" 'BEGIN { exit !(p != "" && p <= -1) }'
t_check "loudness: the last sample of the fade-out is silence" \
    test "$(tail -c 2 "$wav" | od -An -td2 | tr -d ' ')" = 0
t_check "unknown fields are kept in the request" test "$(job_field lp-ogg request | jq -c .extra)" = '{"kept":true}'
t_check "job hash: status, progress 1, attempts 1, worker" \
    test "$(job_field lp-wav status)/$(job_field lp-wav progress)/$(job_field lp-wav attempts)" = "succeeded/1/1" -a -n "$(job_field lp-wav worker)"

# Bad jobs fail with their code and the worker keeps serving.
rcli LPUSH "$P:queue" 'this is not json' >/dev/null
rcli LPUSH "$P:queue" '{"id":"bad-neg","narrative":"x","duration":-1}' >/dev/null
rcli LPUSH "$P:queue" '{"id":"bad-format","narrative":"x","duration":1,"format":"aiff"}' >/dev/null
rcli LPUSH "$P:queue" '{"id":"bad-loudness","narrative":"x","duration":1,"loudness":-60}' >/dev/null
rcli LPUSH "$P:queue" '{"id":"bad-long","narrative":"x","duration":301}' >/dev/null
rcli LPUSH "$P:queue" '{"id":"after-bad","narrative":"Rain on a tin roof.","duration":1}' >/dev/null
t_check "good job after bad ones succeeds" ctl wait after-bad --timeout 60
t_check "negative duration: failed, invalid_job" test "$(job_field bad-neg status)/$(job_field bad-neg error)" = failed/invalid_job
t_check "unknown format: failed, invalid_job" test "$(job_field bad-format error)" = invalid_job
t_check "unknown format: the message lists the formats" grep -q "wav, flac, ogg, mp3" <<<"$(job_field bad-format error_message)"
t_check "loudness out of range: failed, invalid_job" test "$(job_field bad-loudness error)" = invalid_job
t_check "longer than JEN1_MAX_DURATION (300 s): failed, too_long" test "$(job_field bad-long error)" = too_long
t_check "error message says what is wrong" grep -q duration <<<"$(job_field bad-neg error_message)"
t_check "non-JSON payload in the dead list, raw" grep -q "this is not json" <<<"$(rcli LRANGE "$P:dead" 0 -1)"
t_check "jen1ctl list dead shows it" grep -q "invalid_json" <<<"$(ctl list dead)"

# HTTP.
code=$(curl -s -o "$tmp/post.json" -w '%{http_code}' -H 'Content-Type: application/json' \
    -d '{"narrative":"A robot learns to whistle.","duration":1}' "http://$POOL_HTTP/generate")
t_check "POST /generate: 202" test "$code" = 202
gen_id=$(jq -r .id "$tmp/post.json" 2>/dev/null)
t_check "POST /generate: the job succeeds" ctl wait "$gen_id" --timeout 60
t_check "GET /jobs/ID: succeeded" test "$(curl -s "http://$POOL_HTTP/jobs/$gen_id" | jq -r .status)" = succeeded
code=$(curl -s -o "$tmp/waited.json" -w '%{http_code}' -H 'Content-Type: application/json' \
    -d '{"id":"http-wait","narrative":"Snow falls on a quiet village.","duration":1}' "http://$POOL_HTTP/generate?wait=60")
t_check "POST /generate?wait: 200" test "$code" = 200
t_check "POST /generate?wait: a schema-valid GeneratedSong" "$validate" "$tmp/waited.json"
t_check "POST bad JSON: 400" test "$(curl -s -o /dev/null -w '%{http_code}' -H 'Content-Type: application/json' -d '{oops' "http://$POOL_HTTP/generate")" = 400
t_check "POST invalid job: 400 with its code" grep -q invalid_job <<<"$(curl -s -H 'Content-Type: application/json' -d '{"narrative":"x","duration":"long"}' "http://$POOL_HTTP/generate")"
t_check "GET /jobs/unknown: 404" test "$(curl -s -o /dev/null -w '%{http_code}' "http://$POOL_HTTP/jobs/nope")" = 404
t_check "GET /debug/torch with USE_TORCH=1" jq -e '.torch_version' <<<"$(curl -s "http://$POOL_HTTP/debug/torch")"
t_check "GET /metrics: jobs by outcome" grep -q 'jen1_jobs_total{outcome="succeeded"}' <<<"$(curl -s "http://$POOL_HTTP/metrics")"
t_check "GET /metrics: queue depth, restarts, audio seconds" \
    grep -q jen1_audio_seconds_generated_total <<<"$(curl -s "http://$POOL_HTTP/metrics")"

# jen1ctl.
ctl_id=$(ctl enqueue --narrative "A fox crosses a frozen river at dawn." --duration 1 --format flac)
t_check "jen1ctl enqueue + wait" ctl wait "$ctl_id" --timeout 60
t_check "jen1ctl status --json" jq -e '.status == "succeeded"' <<<"$(ctl --json status "$ctl_id")"
t_check "jen1ctl stats" jq -e '.dead >= 1' <<<"$(ctl --json stats)"
t_check_fails "jen1ctl enqueue refuses a bad job" "duration" ctl enqueue --narrative x --duration -4
t_check_fails "jen1ctl enqueue refuses a bad --loudness" "LUFS or off" ctl enqueue --narrative x --duration 3 --loudness loud

pool_stop TERM
t_check "SIGTERM on an idle pool: exit 0" test "$POOL_STATUS" = 0

# ---- The paced silent engine: jobs that last long enough to interrupt ----------
slow() { rcli LPUSH "$P:queue" "{\"id\":\"$1\",\"narrative\":\"A long slow drone.\",\"duration\":${2:-4}}" >/dev/null; }

pool_start pool-slow JEN1_ENGINE=none JEN1_NONE_PACE=1 JEN1_JOB_TIMEOUT=30
t_check "GET /debug/torch without USE_TORCH: 404" test "$(curl -s -o /dev/null -w '%{http_code}' "http://$POOL_HTTP/debug/torch")" = 404
slow cancel-me 20
wait_status cancel-me running 10
t_check "jen1ctl cancel a running job" ctl cancel cancel-me
t_check "cancelled job ends cancelled" wait_status cancel-me cancelled 5
slow cancel-queued 1
rcli LPUSH "$P:queue" '{"id":"blocker","narrative":"x","duration":3}' >/dev/null
wait_status blocker running 10
slow cancel-queued-2 1
t_check "cancel a queued job" ctl cancel cancel-queued-2
t_check "a cancelled queued job stays cancelled after it is taken" wait_status cancel-queued-2 cancelled 10
wait_status blocker succeeded 15
t_check "silence is not normalised: no loudness measured" \
    jq -e '.audio.loudness.target_lufs == -14 and .audio.loudness.integrated_lufs == null and .audio.loudness.gain_db == 0' <<<"$(job_field blocker result)"

# SIGTERM mid-job: the job finishes within the grace period.
slow drain-finishes 2
wait_status drain-finishes running 10
pool_stop TERM
t_check "SIGTERM mid-job: exit 0" test "$POOL_STATUS" = 0
t_check "SIGTERM mid-job: the job finished" test "$(job_field drain-finishes status)" = succeeded

# SIGTERM with a short grace: the job goes back to the queue, a new pool runs it.
pool_start pool-drain JEN1_ENGINE=none JEN1_NONE_PACE=1 JEN1_GRACE_SECONDS=1
slow drain-returned 6
wait_status drain-returned running 10
pool_stop TERM
t_check "SIGTERM, short grace: exit 0" test "$POOL_STATUS" = 0
t_check "SIGTERM, short grace: the job is queued again" test "$(job_field drain-returned status)" = queued
t_check "SIGTERM, short grace: nothing left in flight" test -z "$(rcli --scan --pattern "$P:inflight:*" | xargs -r -n1 redis-cli -p "$REDIS_PORT" LLEN | grep -v '^0$')"

pool_start pool-kill JEN1_ENGINE=none JEN1_NONE_PACE=1
t_check "a new pool finishes the returned job" wait_status drain-returned succeeded 20

# kill -9 of a worker mid-job: the supervisor restarts it and the job still succeeds.
slow kill-worker 3
wait_status kill-worker running 10
kill -9 "$(pool_workers | head -n 1)"
t_check "kill -9 of a worker: the job still succeeds" wait_status kill-worker succeeded 30
t_check "kill -9 of a worker: counted as a restart" grep -q 'jen1_worker_restarts_total 1' <<<"$(curl -s "http://$POOL_HTTP/metrics")"

# kill -9 of the whole pool mid-job: the next pool's reaper recovers the job.
slow kill-pool 3
wait_status kill-pool running 10
workers=$(pool_workers)
pool_stop KILL
sleep 0.5
survivors=
# (A zombie waiting for init to reap it has stopped all the same.)
for pid in $workers; do
    state=$(ps -o stat= -p "$pid" 2>/dev/null)
    [ -n "$state" ] && [ "${state#Z}" = "$state" ] && survivors="$survivors $pid"
done
t_check "kill -9 of the supervisor takes its workers with it" test -z "$survivors"
pool_start pool-reaper JEN1_ENGINE=none JEN1_NONE_PACE=1
t_check "kill -9 of the pool: the reaper returns the job and it succeeds" wait_status kill-pool succeeded 30
t_check "kill -9 of the pool: still one result" test "$(rcli LLEN "$P:done:kill-pool")" = 1
pool_stop TERM

# Redis killed mid-job and restarted: the pool reconnects and nothing is lost.
pool_start pool-redis JEN1_ENGINE=none JEN1_NONE_PACE=1
slow redis-restart 3
rcli LPUSH "$P:queue" '{"id":"redis-queued","narrative":"x","duration":1}' >/dev/null
wait_status redis-restart running 10
redis_kill
sleep 1
redis_restart
t_check "Redis restarted: the running job still succeeds" wait_status redis-restart succeeded 30
t_check "Redis restarted: the queued job too" wait_status redis-queued succeeded 30
t_check "Redis restarted: GET /ready recovers" pool_wait_ready
pool_stop TERM

# S3: audio goes to a loopback S3-compatible server.
if s3_start_s3rver "$tmp/s3rver" jen1-audio; then
    pool_start pool-s3 JEN1_ENGINE=none JEN1_BLOB_URL=s3://jen1-audio/songs \
        JEN1_S3_ENDPOINT="http://127.0.0.1:$S3RVER_PORT" AWS_ACCESS_KEY_ID=S3RVER AWS_SECRET_ACCESS_KEY=S3RVER
    rcli LPUSH "$P:queue" '{"id":"to-s3","narrative":"Harbour bells at noon.","duration":2,"format":"flac"}' >/dev/null
    t_check "S3: the job succeeds" wait_status to-s3 succeeded 30
    t_check "S3: audio_url names the object" test "$(job_field to-s3 audio_url)" = s3://jen1-audio/songs/to-s3.flac
    env JEN1_S3_ENDPOINT="http://127.0.0.1:$S3RVER_PORT" AWS_ACCESS_KEY_ID=S3RVER AWS_SECRET_ACCESS_KEY=S3RVER \
        "$JEN1_BUILD/blobctl" get s3://jen1-audio/songs to-s3.flac "$tmp/from-s3.flac" >/dev/null 2>&1
    t_check "S3: the object is the song (sha256)" \
        test "$(sha256sum <"$tmp/from-s3.flac" | cut -d' ' -f1)" = "$(job_field to-s3 result | jq -r .audio.sha256)"
    pool_stop TERM
    # The store going away: transient failures are retried, then the job is dead.
    s3_stop "$S3RVER_PID"
    pool_start pool-s3-down JEN1_ENGINE=none JEN1_BLOB_URL=s3://jen1-audio/songs JEN1_MAX_ATTEMPTS=2 \
        JEN1_S3_ENDPOINT="http://127.0.0.1:$S3RVER_PORT" AWS_ACCESS_KEY_ID=S3RVER AWS_SECRET_ACCESS_KEY=S3RVER
    rcli LPUSH "$P:queue" '{"id":"s3-down","narrative":"x","duration":1}' >/dev/null
    t_check "S3 unreachable: the job fails after its retries" wait_status s3-down failed 30
    t_check "S3 unreachable: blob_unavailable, attempts 2, in the dead list" \
        test "$(job_field s3-down error)/$(job_field s3-down attempts)/$(rcli LRANGE "$P:dead" 0 -1 | grep -c s3-down)" = blob_unavailable/2/1
    pool_stop TERM
else
    t_fail "s3rver starts" "see above"
fi

# Timeout.
pool_start pool-timeout JEN1_ENGINE=none JEN1_NONE_PACE=1 JEN1_JOB_TIMEOUT=1
slow too-slow 5
t_check "a job past its time limit fails with timeout" wait_status too-slow failed 15
t_check "timeout error code" test "$(job_field too-slow error)" = timeout
pool_stop TERM

t_summary test_worker
