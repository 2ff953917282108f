#!/usr/bin/env bash
# tests/cli/test_mkmodel.sh - jen1-mkmodel --size tiny against the fixture
# it imitates (tests/fixtures/musicgen-tiny/model): same JSON files, same
# tensor names / dtypes / shapes, a well-formed model.safetensors, seeded
# determinism, and clean failures on bad arguments. (--size small is 2.4 GB
# and is not generated here.)
set -u
# shellcheck source=tests/cli/lib.sh
. "$(dirname "$0")/lib.sh"

mkmodel=$JEN1_BUILD/jen1-mkmodel
fixture=tests/fixtures/musicgen-tiny/model
spiece=$fixture/spiece.model
tmp=$(mktemp -d "$JEN1_TEST_TMP/mkmodel.XXXXXX")
trap 'rm -rf -- "$tmp"' EXIT

if [ ! -x "$mkmodel" ] || ! command -v jq >/dev/null; then
    t_fail setup "needs $mkmodel (make) and jq (scripts/setup)"
    t_summary test_mkmodel
fi

# The JSON header of a safetensors file: an 8-byte little-endian length, then JSON.
st_header() {
    local n
    n=$(od -An --endian=little -t u8 -N 8 "$1" | tr -d ' ')
    tail -c +9 "$1" | head -c "$n"
}

# Names, dtypes and shapes, sorted, one canonical JSON document.
st_layout() {
    st_header "$1" | jq -S 'del(.__metadata__) | map_values({dtype, shape})'
}

# The raw bytes of tensor $2.
st_tensor() {
    local n begin end
    n=$(od -An --endian=little -t u8 -N 8 "$1" | tr -d ' ')
    read -r begin end < <(st_header "$1" | jq -r --arg t "$2" '.[$t].data_offsets | "\(.[0]) \(.[1])"')
    tail -c +$((8 + n + begin + 1)) "$1" | head -c $((end - begin))
}

# The largest |a - b| over two float32 tensors of the same size.
max_abs_diff() {
    paste <(od -An -v -w4 -t f4 "$1") <(od -An -v -w4 -t f4 "$2") \
        | awk '{ d = $1 - $2; if (d < 0) d = -d; if (d > m) m = d } END { printf "%g\n", m + 0 }'
}

a=$tmp/a
t_check "tiny model is written" "$mkmodel" --size tiny --spiece "$spiece" --out "$a" --seed 1

missing=''
for f in config.json generation_config.json model.safetensors spiece.model added_tokens.json \
         special_tokens_map.json tokenizer_config.json preprocessor_config.json; do
    [ -s "$a/$f" ] || missing="$missing $f"
done
if [ -z "$missing" ]; then
    t_ok "every file of the layout is there"
else
    t_fail "every file of the layout is there" "missing:$missing"
fi

t_check "config.json parses" \
    jq -e '.decoder.num_codebooks == 4 and .text_encoder.d_model == 32' "$a/config.json"
for f in config.json generation_config.json added_tokens.json special_tokens_map.json \
         tokenizer_config.json preprocessor_config.json; do
    if cmp -s <(jq -S . "$fixture/$f") <(jq -S . "$a/$f" 2>/dev/null); then
        t_ok "$f has the fixture's keys and values"
    else
        t_fail "$f has the fixture's keys and values" \
            "$(diff <(jq -S . "$fixture/$f") <(jq -S . "$a/$f" 2>&1) | head -n 5)"
    fi
done
t_check "spiece.model is a copy of --spiece" cmp "$spiece" "$a/spiece.model"

st=$a/model.safetensors
if cmp -s <(st_layout "$fixture/model.safetensors") <(st_layout "$st"); then
    t_ok "tensor names, dtypes and shapes equal the fixture's (180 tensors)"
else
    t_fail "tensor names, dtypes and shapes equal the fixture's (180 tensors)" \
        "$(diff <(st_layout "$fixture/model.safetensors") <(st_layout "$st") | head -n 8)"
fi
meta=$(st_header "$st" | jq -c .__metadata__)
if [ "$meta" = '{"format":"pt"}' ]; then
    t_ok "metadata is {\"format\": \"pt\"}"
else
    t_fail "metadata is {\"format\": \"pt\"}" "it is $meta"
fi

data_end=$(st_header "$st" | jq '[del(.__metadata__)[] | .data_offsets[1]] | max')
header_len=$(od -An --endian=little -t u8 -N 8 "$st" | tr -d ' ')
if [ $((8 + header_len + data_end)) -eq "$(stat -c %s "$st")" ]; then
    t_ok "the data ends exactly at the end of the file"
else
    t_fail "the data ends exactly at the end of the file" "8 + $header_len + $data_end != $(stat -c %s "$st")"
fi

st_tensor "$fixture/model.safetensors" decoder.model.decoder.embed_positions.weights >"$tmp/pos.fixture"
st_tensor "$st" decoder.model.decoder.embed_positions.weights >"$tmp/pos.mine"
diff_pos=$(max_abs_diff "$tmp/pos.fixture" "$tmp/pos.mine")
if awk -v d="$diff_pos" 'BEGIN { exit !(d <= 1e-4) }'; then
    t_ok "sinusoidal positions match the fixture's (max abs diff $diff_pos)"
else
    t_fail "sinusoidal positions match the fixture's" "max abs diff $diff_pos"
fi
if cmp -s <(st_tensor "$st" audio_encoder.quantizer.layers.2.codebook.embed) \
          <(st_tensor "$st" audio_encoder.quantizer.layers.2.codebook.embed_avg); then
    t_ok "codebook embed_avg equals embed"
else
    t_fail "codebook embed_avg equals embed" "they differ"
fi
inited=$(st_tensor "$st" audio_encoder.quantizer.layers.0.codebook.inited | od -An -t f4 | tr -d ' ')
if [ "$inited" = 1 ]; then
    t_ok "codebook inited is 1"
else
    t_fail "codebook inited is 1" "it is '$inited'"
fi

b=$tmp/b
"$mkmodel" --size tiny --spiece "$spiece" --out "$b" --seed 1 >/dev/null 2>&1
t_check "the same seed gives byte-identical files" diff -r "$a" "$b"
c=$tmp/c
"$mkmodel" --size tiny --spiece "$spiece" --out "$c" --seed 2 >/dev/null 2>&1
if [ -f "$c/model.safetensors" ] && ! cmp -s "$st" "$c/model.safetensors" \
   && cmp -s <(st_header "$st") <(st_header "$c/model.safetensors"); then
    t_ok "another seed gives other values under the same header"
else
    t_fail "another seed gives other values under the same header" \
        "the files of seeds 1 and 2 are equal, or their headers differ"
fi

mkdir "$tmp/empty"
t_check "an existing empty --out directory is filled" \
    "$mkmodel" --size tiny --spiece "$spiece" --out "$tmp/empty"
echo "not a model" >"$tmp/a-file"

t_check_fails "a bad --size" "--size must be tiny or small" \
    "$mkmodel" --size medium --spiece "$spiece" --out "$tmp/x"
t_check "--help documents the options" bash -c "'$mkmodel' --help | grep -q -- '--spiece FILE'"
t_check_fails "missing --size" "missing --size" "$mkmodel" --spiece "$spiece" --out "$tmp/x"
t_check_fails "missing --spiece" "missing --spiece" "$mkmodel" --size tiny --out "$tmp/x"
t_check_fails "missing --out" "missing --out" "$mkmodel" --size tiny --spiece "$spiece"
t_check_fails "--spiece that does not exist" "--spiece $tmp/nope: cannot open" \
    "$mkmodel" --size tiny --spiece "$tmp/nope" --out "$tmp/x"
t_check_fails "--spiece that is not a SentencePiece model" "not a SentencePiece model" \
    "$mkmodel" --size tiny --spiece "$fixture/config.json" --out "$tmp/x"
t_check_fails "--out that holds files" "exists and is not empty" \
    "$mkmodel" --size tiny --spiece "$spiece" --out "$a"
t_check_fails "--out that is a file" "exists and is not a directory" \
    "$mkmodel" --size tiny --spiece "$spiece" --out "$tmp/a-file"
t_check_fails "--out under a file cannot be created" "cannot create the folder $tmp/a-file" \
    "$mkmodel" --size tiny --spiece "$spiece" --out "$tmp/a-file/model"
t_check "--out whose folders do not exist yet is made, folders and all" \
    "$mkmodel" --size tiny --spiece "$spiece" --out "$tmp/new/deeper/model"
t_check "... and holds a model" test -f "$tmp/new/deeper/model/model.safetensors"
t_check_fails "a --seed that is not a number" "--seed needs an unsigned 64-bit integer" \
    "$mkmodel" --size tiny --spiece "$spiece" --out "$tmp/x" --seed 12x
t_check_fails "an unknown argument" "unknown argument '--bogus'" \
    "$mkmodel" --size tiny --spiece "$spiece" --out "$tmp/x" --bogus

leftovers=$(find "$tmp" -maxdepth 1 \( -name '*.tmp-*' -o -name x \))
if [ -z "$leftovers" ]; then
    t_ok "failures leave no partial output behind"
else
    t_fail "failures leave no partial output behind" "found: $leftovers"
fi

t_summary test_mkmodel
