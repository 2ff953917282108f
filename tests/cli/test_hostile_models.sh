#!/usr/bin/env bash
# test_hostile_models.sh - broken model directories, built from the tiny
# fixture: safetensors files truncated, with a header length past the end,
# offsets out of range or overlapping, absurd shapes, wrong dtypes; a bad
# config.json; a missing or garbage spiece.model. jen1-gen must exit 1 with a
# message naming the file (and the tensor), never crash or trip a sanitizer;
# jen1-worker must log the same message, keep restarting the worker with a
# growing delay (no tight loop), answer /ready 503 naming the model as what is
# missing, and recover once the directory is fixed.
set -u
. tests/cli/lib.sh
. tests/lib/redis.sh
. tests/cli/pool.sh

tmp=$JEN1_TEST_TMP/hostile-models
fixture=tests/fixtures/musicgen-tiny/model
stedit=$JEN1_BUILD/stedit
rm -rf "$tmp" "$JEN1_TEST_TMP"/hostile-models-*.log
mkdir -p "$tmp/models" "$tmp/blobs"

pool_pids=()
cleanup() {
    local pid
    for pid in "${pool_pids[@]}"; do kill -KILL "$pid" 2>/dev/null && wait "$pid" 2>/dev/null; done
    pool_stop KILL
    redis_stop
}
trap cleanup EXIT

# broken NAME: a fresh copy of the fixture at $tmp/models/NAME, in $dir.
broken() {
    dir=$tmp/models/$1
    rm -rf "$dir"
    mkdir -p "$dir"
    cp "$fixture"/* "$dir"/
}
# edit EDIT...: rewrites $dir/model.safetensors from the fixture's with stedit.
edit() {
    "$stedit" "$fixture/model.safetensors" "$dir/model.safetensors" "$@" ||
        t_fail "stedit $*" "could not make the broken copy $dir"
}

# refused NAME NEEDLE...: jen1-gen on $dir exits 1, saying every NEEDLE,
# writing no audio, without a crash or a sanitizer report.
refused() {
    local name=$1 out rc=0 needle missing=
    shift
    rm -f "$tmp/out.wav"
    out=$("$JEN1_BUILD/jen1-gen" --model "$dir" --prompt "x" --duration 1 --out "$tmp/out.wav" --quiet 2>&1) || rc=$?
    for needle in "$@"; do grep -qF -- "$needle" <<<"$out" || missing="$missing '$needle'"; done
    if [ "$rc" != 1 ]; then
        t_fail "jen1-gen refuses $name" "exit $rc, expected 1"
    elif grep -qE 'Sanitizer|runtime error|Segmentation|core dumped|terminate called' <<<"$out"; then
        t_fail "jen1-gen refuses $name" "a crash or a sanitizer report"
    elif [ -n "$missing" ]; then
        t_fail "jen1-gen refuses $name" "the message lacks$missing"
    elif [ -e "$tmp/out.wav" ]; then
        t_fail "jen1-gen refuses $name" "it wrote audio all the same"
    else
        t_ok "jen1-gen refuses $name"
        return
    fi
    t_show_output "$out"
}

W=model.safetensors C=config.json S=spiece.model
bias=audio_encoder.decoder.layers.0.conv.bias    # F32 [64], data_offsets [0, 256]
gain=audio_encoder.decoder.layers.0.conv.weight_g # F32 [64, 1, 1], [256, 512]
head=decoder.lm_heads.2.weight                    # F32 [64, 64]
fc1=decoder.model.decoder.layers.1.fc1.weight
data_bytes=$(($(stat -c %s "$fixture/$W") - 8 - $(od -An -t u8 -N 8 "$fixture/$W")))

# ---- The worker pool on broken directories ---------------------------------------------------
if ! redis_start; then
    t_fail "redis-server starts" "see above"
    t_summary test_hostile_models
fi

# Four pools on four broken directories, each with what it should say. They
# start first and keep failing while jen1-gen's cases run.
broken pool-truncated && truncate -s 1000000 "$dir/$W"
broken pool-dtype-i64 && edit retype "$head" I64
broken pool-config-truncated && head -c 300 "$fixture/$C" >"$dir/$C"
broken pool-no-spiece && rm "$dir/$S"
declare -A says=(
    [truncated]="$tmp/models/pool-truncated/$W|run past the end of the data"
    [dtype-i64]="$tmp/models/pool-dtype-i64/$W|'$head'|has dtype I64"
    [config-truncated]="$tmp/models/pool-config-truncated/$C|invalid JSON"
    [no-spiece]="$tmp/models/pool-no-spiece/$S|not found"
)
declare -A http_of pid_of started_at
for name in "${!says[@]}"; do
    started_at[$name]=$EPOCHSECONDS
    if pool_start "hostile-models-$name" JEN1_MODEL_DIR="$tmp/models/pool-$name" JEN1_BLOB_URL="file://$(pwd)/$tmp/blobs"; then
        http_of[$name]=$POOL_HTTP
        pid_of[$name]=$POOL_PID
        pool_pids+=("$POOL_PID")
    else
        t_fail "$name: the supervisor starts with a broken model" "see above"
    fi
done
POOL_PID=

# ---- model.safetensors: sizes and the header ---------------------------------------
broken truncated && truncate -s 1000000 "$dir/$W"
refused "a truncated $W" "$dir/$W" "run past the end of the data"
broken truncated-header && truncate -s 100 "$dir/$W"
refused "a $W cut inside its header" "$dir/$W" "runs past the end of the file"
broken empty && : >"$dir/$W"
refused "an empty $W" "$dir/$W" "too short"
broken header-length-huge && edit header-length 1099511627776
refused "a header length of 2^40" "$dir/$W" "header length 1099511627776"
broken header-length-past-end && edit header-length $(($(stat -c %s "$fixture/$W") - 7))
refused "a header length one byte past the end" "$dir/$W" "runs past the end of the file"
broken header-length-zero && edit header-length 0
refused "a header length of 0" "$dir/$W" "header is not valid JSON"
broken header-not-json && edit header-text 'not json at all'
refused "a header that is not JSON" "$dir/$W" "not valid JSON"
broken header-array && edit header-text '[1,2,3]'
refused "a header that is an array" "$dir/$W" "not a JSON object"
broken header-duplicate && edit header-text '{"a":{"dtype":"F32","shape":[1],"data_offsets":[0,4]},"a":{"dtype":"F32","shape":[1],"data_offsets":[4,8]}}'
refused "a tensor named twice" "$dir/$W" "duplicate"
broken entry-not-object && edit header-text '{"x":"y"}'
refused "a tensor entry that is a string" "$dir/$W" "'x' is not a JSON object"
broken metadata-not-string && edit set __metadata__ format 7
refused "__metadata__ holding a number" "$dir/$W" "__metadata__"

# ---- Offsets ------------------------------------------------------------------------------
broken offsets-past-end && edit set "$bias" data_offsets "[$((data_bytes - 200)),$((data_bytes + 56))]"
refused "offsets past the end of the data" "$dir/$W" "'$bias'" "run past the end of the data"
broken offsets-huge && edit set "$bias" data_offsets '[9223372036854775551,9223372036854775807]'
refused "offsets near 2^63" "$dir/$W" "'$bias'" "run past the end of the data"
broken offsets-overlap && edit set "$gain" data_offsets '[0,256]'
refused "two tensors on the same bytes" "$dir/$W" "'$bias'" "'$gain'" "overlap"
broken offsets-partial-overlap && edit set "$gain" data_offsets '[128,384]'
refused "two tensors overlapping by half" "$dir/$W" "overlap"
broken offsets-reversed && edit set "$bias" data_offsets '[256,0]'
refused "offsets end before they begin" "$dir/$W" "'$bias'" "end before begin"
broken offsets-negative && edit set "$bias" data_offsets '[-256,0]'
refused "negative offsets" "$dir/$W" "'$bias'" "two non-negative integers"
broken offsets-three && edit set "$bias" data_offsets '[0,128,256]'
refused "three offsets" "$dir/$W" "'$bias'" "two non-negative integers"

# ---- Shapes -----------------------------------------------------------------------------------
broken shape-overflow && edit set "$head" shape '[4294967296,4294967296,4294967296]'
refused "a shape whose size overflows" "$dir/$W" "'$head'" "too large"
broken shape-int64-max && edit set "$head" shape '[9223372036854775807]'
refused "a shape of 2^63-1 elements" "$dir/$W" "'$head'" "too large"
broken shape-negative && edit set "$head" shape '[-64,-64]'
refused "a negative shape" "$dir/$W" "'$head'" "not a non-negative integer"
broken shape-9-dims && edit set "$bias" shape '[1,1,1,1,1,1,1,1,64]'
refused "a shape of 9 dimensions" "$dir/$W" "'$bias'" "9 dimensions"
broken shape-not-bytes && edit set "$bias" shape '[65]'
refused "a shape the bytes do not hold" "$dir/$W" "'$bias'" "needs 260"
broken shape-wrong && edit set "$head" shape '[32,128]'
refused "a shape the model does not expect" "$dir/$W" "'$head'" "has shape [32, 128], expected [64, 64]"

# ---- Dtypes and names ----------------------------------------------------------------------------
broken dtype-i64 && edit retype "$head" I64
refused "an I64 tensor where F32 is expected" "$dir/$W" "'$head'" "has dtype I64, expected F32, F16 or BF16"
broken dtype-i32 && edit retype "$head" I32
refused "an I32 tensor where F32 is expected" "$dir/$W" "'$head'" "has dtype I32"
broken dtype-bool && edit retype "$bias" BOOL
refused "a BOOL tensor" "$dir/$W" "'$bias'" "has dtype BOOL"
broken dtype-unknown && edit set "$head" dtype '"F8_E4M3"'
refused "an unknown dtype" "$dir/$W" "'$head'" "unsupported dtype 'F8_E4M3'"
broken dtype-number && edit set "$head" dtype 7
refused "a dtype that is a number" "$dir/$W" "'$head'" "no dtype string"
broken missing-tensor && edit drop "$fc1"
refused "a missing tensor" "$dir/$W" "'$fc1'" "is missing"
broken renamed-tensor && edit rename "$fc1" "${fc1/fc1/fc9}"
refused "a renamed tensor" "$dir/$W" "'$fc1'" "is missing"

# ---- config.json, spiece.model, the directory --------------------------------------------------------
broken config-truncated && head -c 300 "$fixture/$C" >"$dir/$C"
refused "a truncated $C" "$dir/$C" "invalid JSON"
broken config-array && echo '[]' >"$dir/$C"
refused "a $C that is an array" "$dir/$C" "not a JSON object"
broken config-no-decoder && echo '{"text_encoder":{},"audio_encoder":{}}' >"$dir/$C"
refused "a $C without its decoder" "$dir/$C" "'decoder'"
broken config-string && sed -i 's/"ffn_dim": 128/"ffn_dim": "lots"/' "$dir/$C"
refused "a $C with a string for a size" "$dir/$C" "decoder.ffn_dim must be a positive integer"
broken config-absurd && sed -i 's/"ffn_dim": 128/"ffn_dim": 99999999999/' "$dir/$C"
refused "a $C with an absurd size" "$dir/$C" "decoder.ffn_dim is 99999999999"
broken config-layers && sed -i 's/"num_hidden_layers": 2/"num_hidden_layers": 1000000/' "$dir/$C"
refused "a $C with a million layers" "$dir/$W" "decoder.model.decoder.layers.2." "is missing"
broken no-config && rm "$dir/$C"
refused "no $C" "$dir/$C" "not found"
broken no-spiece && rm "$dir/$S"
refused "no $S" "$dir/$S" "not found"
broken garbage-spiece && echo 'not a sentencepiece model' >"$dir/$S"
refused "a garbage $S" "$dir/$S" "not a sentencepiece model"
broken empty-spiece && : >"$dir/$S"
refused "an empty $S" "$dir/$S"
broken no-weights && rm "$dir/$W"
refused "no $W" "$dir/$W" "not found"
broken weights-directory && rm "$dir/$W" && mkdir "$dir/$W"
refused "a $W that is a directory" "$dir/$W"
dir=$tmp/models/does-not-exist
refused "a directory that does not exist" "$dir/$C" "not found"

# ---- The pool on broken directories: the checks ----------------------------------------------

restarts_of() { grep -c '"msg":"restarting worker"' "$JEN1_TEST_TMP/hostile-models-$1.log"; }
# Four failed loads take 0 + 1 + 2 + 4 s of backoff: wait for the fourth restart.
for _ in $(seq 150); do
    all=1
    for name in "${!pid_of[@]}"; do [ "$(restarts_of "$name")" -ge 4 ] || all=0; done
    [ "$all" = 1 ] && break
    sleep 0.1
done
for name in "${!pid_of[@]}"; do
    log=$JEN1_TEST_TMP/hostile-models-$name.log
    IFS='|' read -r -a needles <<<"${says[$name]}"
    line=$(grep -m 1 '"msg":"cannot load the model"' "$log")
    missing=
    for needle in "${needles[@]}"; do grep -qF -- "$needle" <<<"$line" || missing="$missing '$needle'"; done
    t_check "$name: the worker logs why it cannot load the model${missing:+ (lacks$missing)}" \
        test -n "$line" -a -z "$missing"
    delays=$(grep '"msg":"restarting worker"' "$log" | sed -n 's/.*"delay_s":\([0-9]*\).*/\1/p' | head -n 4 | tr '\n' ' ')
    t_check "$name: restarted with growing delays (1 2 4 8 s: $delays)" test "$delays" = "1 2 4 8 "
    # Backoff allows about 2 + log2(T) restarts in T seconds (4 in 7 s, 6 in
    # 31 s); a tight loop would make hundreds.
    restarts=$(curl -s "http://${http_of[$name]}/metrics" | sed -n 's/^jen1_worker_restarts_total //p')
    logged=$(restarts_of "$name")
    elapsed=$((EPOCHSECONDS - started_at[$name]))
    t_check "$name: no tight loop: $restarts restarts in $elapsed s" \
        awk -v r="$restarts" -v l="$logged" -v t="$elapsed" 'BEGIN { exit !(r == l && r >= 4 && r <= 3 + log(t + 1) / log(2)) }'
    t_check "$name: every load tried failed ($logged)" \
        test "$(grep -c '"msg":"cannot load the model"' "$log")" -ge "$logged" \
        -a "$(grep -c '"msg":"worker exited".*"status":1' "$log")" -ge "$logged"
    code=$(curl -s -o "$tmp/ready-$name.json" -w '%{http_code}' "http://${http_of[$name]}/ready")
    t_check "$name: /ready 503, the model missing" \
        jq -e --arg code "$code" '$code == "503" and .missing == ["model"] and .model_loaded == false' "$tmp/ready-$name.json"
    t_check "$name: /health still 200" curl -sf -o /dev/null "http://${http_of[$name]}/health"
    t_check "$name: no crash in the log" bash -c '! grep -qE "Sanitizer|runtime error|\"signal\"" "$1"' _ "$log"
done
for name in "${!pid_of[@]}"; do
    kill -TERM "${pid_of[$name]}"
    wait "${pid_of[$name]}"
    t_check "$name: SIGTERM while a restart is pending: exit 0" test "$?" = 0
done
pool_pids=()

# Fixed while the pool waits: the next restart loads it and jobs run.
broken fixed-later && edit retype "$head" I64
if pool_start hostile-models-fixed JEN1_MODEL_DIR="$dir" JEN1_BLOB_URL="file://$(pwd)/$tmp/blobs"; then
    for _ in $(seq 100); do
        [ "$(restarts_of fixed)" -ge 1 ] && break
        sleep 0.05
    done
    cp "$fixture/$W" "$dir/$W"
    t_check "fixed: /ready turns 200 at the next restart" pool_wait_ready
    t_check "fixed: one restart was enough" grep -q '^jen1_worker_restarts_total 1$' <<<"$(curl -s "http://$POOL_HTTP/metrics")"
    rcli LPUSH "{$POOL_PREFIX}:queue" '{"id":"after-fix","narrative":"Rain on a tin roof.","duration":1}' >/dev/null
    t_check "fixed: a job succeeds" wait_status after-fix succeeded 30
    pool_stop TERM
else
    t_fail "fixed: the supervisor starts" "see above"
fi

t_summary test_hostile_models
