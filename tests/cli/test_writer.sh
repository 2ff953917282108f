#!/usr/bin/env bash
# test_writer.sh - a real pool (redis-server, jen1-worker) whose words are
# written by the qwen2-tiny language model (JEN1_TEXT_MODEL_DIR): every
# GeneratedSong validates against the schema and names the model as the
# words' author; an "audio": false job finishes without audio; the same job
# twice sings the same words; jobs planned at once (JEN1_BATCH=4) share the
# model's decode steps and write the words they write alone; /ready and
# /debug/torch say which models are loaded. A pool whose text model is broken still serves, with the rules,
# and /ready says why.
set -u
. tests/cli/lib.sh
. tests/lib/redis.sh
. tests/cli/pool.sh

tmp=$JEN1_TEST_TMP/writer
rm -rf "$tmp" && mkdir -p "$tmp/blobs" "$tmp/broken-model"
blobs=$tmp/blobs
validate=tests/tools/validate-song
text_model=tests/fixtures/qwen2-tiny/model

cleanup() { pool_stop KILL; redis_stop; }
trap cleanup EXIT
if ! redis_start; then
    t_fail "redis-server starts" "see above"
    t_summary test_writer
fi

# post NAME BODY: POST /generate waiting for the song; the body in $tmp/NAME.json.
post() {
    curl -s -o "$tmp/$1.json" -w '%{http_code}' -H 'Content-Type: application/json' -H 'Prefer: wait=120' \
        -d "$2" "http://$POOL_HTTP/generate"
}

# ---- The language model writes the words --------------------------------------------
if ! pool_start writer-tiny JEN1_HTTP_CLIENT_IDS=1 JEN1_BLOB_URL="file://$(pwd)/$blobs" JEN1_TEXT_MODEL_DIR="$text_model" USE_TORCH=1 ||
    ! pool_wait_ready; then
    t_fail "pool with a text model starts" "see the log above"
    t_summary test_writer
fi
curl -s "http://$POOL_HTTP/ready" >"$tmp/ready.json"
t_check "/ready: both models loaded" jq -e '.models.music.loaded and .models.music.name == "model"
    and .models.text.loaded and .models.text.name == "model" and .models.text.device == "cpu"' "$tmp/ready.json"
curl -s "http://$POOL_HTTP/debug/torch" >"$tmp/torch.json"
t_check "/debug/torch: the text model" jq -e '.text_model.loaded and .text_model.name == "model"' "$tmp/torch.json"

code=$(post song '{"id":"w-song","narrative":"A lighthouse keeper finds a message in a bottle.","duration":2}')
t_check "a song with audio: 200" test "$code" = 200
t_check "a song with audio: schema-valid" "$validate" "$tmp/song.json"
t_check "a song with audio: the words are the model's" \
    jq -e '.words.source == "model" and .words.model == "model" and .words.fields >= 2 and (.audio.url | startswith("file://"))' \
    "$tmp/song.json"

words='{"narrative":"Two friends drive across the desert at night, singing.","duration":40,"seed":7,"audio":false'
code=$(post words-1 "$words,\"id\":\"w-words-1\"}")
t_check "audio false: 200" test "$code" = 200
t_check "audio false: schema-valid" "$validate" "$tmp/words-1.json"
t_check "audio false: the model's words, no audio" jq -e '.audio == null and .words.source == "model"
    and .words.fields_from_rules < .words.fields
    and ([.sections[] | select(.name == "verse" or .name == "chorus" or .name == "bridge") | .lyrics | length > 0] | all)' \
    "$tmp/words-1.json"
t_check "audio false: nothing written to the blob store" test -z "$(find "$blobs" -name 'w-words-1*' -print -quit)"
post words-2 "$words,\"id\":\"w-words-2\"}" >/dev/null
t_check "the same job twice: the same words" \
    diff <(jq -S 'del(.id, .timings, .created_at)' "$tmp/words-1.json") \
         <(jq -S 'del(.id, .timings, .created_at)' "$tmp/words-2.json")
t_check "the log says who wrote the words" grep -q '"words written".*"model":"model"' "$POOL_LOG"
pool_stop TERM

# ---- Jobs planned at once share the model's steps ------------------------------------
# Four words-only jobs wait in the queue before the pool starts; a worker
# with JEN1_BATCH=4 plans them together (a planner each, one text session),
# one with JEN1_BATCH=1 in turn. Each job's words are the same either way,
# and the log's batch_rows (the most rows of a decode step a job was in)
# shows the model decoded them together.
stories=("A fox crosses a frozen river at dawn." "Two sisters open a bakery by the sea."
         "An old train crosses the mountains for the last time." "A girl teaches a crow to speak.")
plan_together() {
    local tag=$1 batch=$2 i
    for i in "${!stories[@]}"; do
        rcli LPUSH "{$POOL_PREFIX}:queue" "{\"id\":\"$tag-$i\",\"narrative\":\"${stories[$i]}\",\"duration\":40,\"seed\":$((30 + i)),\"audio\":false}" >/dev/null
    done
    if ! pool_start "writer-$tag" JEN1_BATCH="$batch" JEN1_TEXT_MODEL_DIR="$text_model" JEN1_ENGINE=none; then
        t_fail "$tag: pool starts" "see the log above"
        return 1
    fi
    for i in "${!stories[@]}"; do
        t_check "$tag: job $i succeeds" wait_status "$tag-$i" succeeded 60
        job_field "$tag-$i" result | jq -S 'del(.id, .timings, .created_at)' >"$tmp/$tag-$i.json"
    done
    most_rows[$batch]=$(grep '"words written"' "$POOL_LOG" | grep -o '"batch_rows":[0-9]*' | cut -d: -f2 | sort -n | tail -1)
    text_steps[$batch]=$(metric jen1_text_steps_total)
    text_rows[$batch]=$(metric jen1_text_step_rows_total)
    pool_stop TERM
}
metric() { curl -s "http://$POOL_HTTP/metrics" | awk -v m="$1" '$1 == m { print $2 }'; }
declare -A most_rows text_steps text_rows
plan_together alone 1
plan_together together 4
for i in "${!stories[@]}"; do
    t_check "job $i: the same words planned alone and beside three others" \
        diff "$tmp/alone-$i.json" "$tmp/together-$i.json"
done
t_check "jobs planned together: the model's words" jq -e '.words.source == "model" and .words.fields_from_rules < .words.fields' \
    "$tmp/together-0.json"
echo "    the most rows in a text step: ${most_rows[1]:-?} alone, ${most_rows[4]:-?} with four planned at once"
t_check "four jobs planned at once share the text model's steps (${most_rows[4]:-?} rows, ${most_rows[1]:-?} alone)" \
    test "${most_rows[4]:-0}" -gt "${most_rows[1]:-99}"
echo "    /metrics: ${text_steps[1]:-?} text steps of ${text_rows[1]:-?} rows alone, ${text_steps[4]:-?} of ${text_rows[4]:-?} together"
t_check "/metrics: jen1_text_steps_total and jen1_text_step_rows_total, fewer steps with more rows each together" \
    awk -v s1="${text_steps[1]:-0}" -v r1="${text_rows[1]:-0}" -v s4="${text_steps[4]:-0}" -v r4="${text_rows[4]:-0}" \
    'BEGIN { exit !(s1 > 0 && s4 > 0 && s4 < s1 && r4 / s4 > r1 / s1) }'

# ---- A broken text model: the rules write, the pool serves ------------------------
cp "$text_model"/*.json "$text_model"/merges.txt "$tmp/broken-model/"
head -c 100000 "$text_model/model.safetensors" >"$tmp/broken-model/model.safetensors"
if ! pool_start writer-broken JEN1_HTTP_CLIENT_IDS=1 JEN1_BLOB_URL="file://$(pwd)/$blobs" JEN1_TEXT_MODEL_DIR="$tmp/broken-model" ||
    ! pool_wait_ready; then
    t_fail "pool with a broken text model serves" "see the log above"
    t_summary test_writer
fi
curl -s "http://$POOL_HTTP/ready" >"$tmp/ready-broken.json"
t_check "/ready: ready, the text model not loaded and why" jq -e '.status == "ready" and .models.music.loaded
    and (.models.text.loaded | not) and (.models.text.reason | test("model.safetensors"))' "$tmp/ready-broken.json"
t_check "the log says the rules write the words" grep -q 'the text model did not load' "$POOL_LOG"
code=$(post rules '{"id":"w-rules","narrative":"A lighthouse keeper finds a message in a bottle.","duration":2}')
t_check "broken text model: a song all the same" test "$code" = 200
t_check "broken text model: schema-valid, the rules' words" jq -e '.words == {"source": "rules"}' "$tmp/rules.json"
t_check "broken text model: valid" "$validate" "$tmp/rules.json"
pool_stop TERM

# ---- No text model: as before, the rules ----------------------------------------
pool_start writer-none JEN1_HTTP_CLIENT_IDS=1 JEN1_BLOB_URL="file://$(pwd)/$blobs" JEN1_ENGINE=none && pool_wait_ready
t_check "/ready without a text model says so" jq -e '.models.text.reason == "JEN1_TEXT_MODEL_DIR is not set"' \
    <(curl -s "http://$POOL_HTTP/ready")
pool_stop TERM

t_summary test_writer
