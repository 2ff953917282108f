#!/usr/bin/env bash
# tests/cli/test_mkmodel.sh - jen1-mkmodel --size tiny against the fixture
# it imitates (tests/fixtures/musicgen-tiny/model): same JSON files, same
# tensor names / dtypes / shapes, a well-formed model.safetensors, seeded
# determinism, and clean failures on bad arguments. (--size small is 2.4 GB
# and is not generated here.) Then --size qwen2.5-0.5b (1 GB, about 20 s)
# with qwen2-tiny's tokenizer: Qwen2.5-0.5B-Instruct's config values, tensor
# names and shapes in BF16, the tokenizer files with the special tokens at
# 151643..151645, and clean refusals of broken --tokenizer-from directories.
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

t_check_fails "a bad --size" "--size must be tiny, small or qwen2.5-0.5b" \
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

# ---- --size qwen2.5-0.5b ------------------------------------------------------------

qfixture=tests/fixtures/qwen2-tiny/model
q=$tmp/qwen
t_check "qwen2.5-0.5b model is written" \
    "$mkmodel" --size qwen2.5-0.5b --tokenizer-from "$qfixture" --out "$q" --seed 1
files=$(find "$q" -mindepth 1 -printf '%f\n' 2>/dev/null | LC_ALL=C sort | tr '\n' ' ')
want="config.json generation_config.json merges.txt model.safetensors tokenizer.json tokenizer_config.json vocab.json "
if [ "$files" = "$want" ]; then
    t_ok "the file set of Qwen2.5-0.5B-Instruct"
else
    t_fail "the file set of Qwen2.5-0.5B-Instruct" "got: $files"
fi
t_check "config.json has Qwen2.5-0.5B-Instruct's values" jq -e '
    .architectures == ["Qwen2ForCausalLM"] and .model_type == "qwen2" and .hidden_size == 896
    and .num_hidden_layers == 24 and .num_attention_heads == 14 and .num_key_value_heads == 2
    and .intermediate_size == 4864 and .vocab_size == 151936 and .max_position_embeddings == 32768
    and .rope_theta == 1000000 and .rms_norm_eps == 1e-6 and .tie_word_embeddings == true
    and .torch_dtype == "bfloat16" and .hidden_act == "silu" and .use_sliding_window == false
    and .bos_token_id == 151643 and .eos_token_id == 151645' "$q/config.json"
t_check "generation_config.json has Qwen2.5-0.5B-Instruct's values" jq -e '
    .do_sample == true and .temperature == 0.7 and .top_p == 0.8 and .top_k == 20
    and .repetition_penalty == 1.1 and .eos_token_id == [151645, 151643] and .pad_token_id == 151643
    and .bos_token_id == 151643' "$q/generation_config.json"

# The expected names and shapes: Qwen2ForCausalLM's state_dict() less the tied lm_head.
qwen_layout() {
    local l
    {
        echo '"model.embed_tokens.weight" [151936,896]'
        echo '"model.norm.weight" [896]'
        for l in $(seq 0 23); do
            p="model.layers.$l"
            echo "\"$p.input_layernorm.weight\" [896]"
            echo "\"$p.post_attention_layernorm.weight\" [896]"
            echo "\"$p.self_attn.q_proj.weight\" [896,896]"
            echo "\"$p.self_attn.q_proj.bias\" [896]"
            echo "\"$p.self_attn.k_proj.weight\" [128,896]"
            echo "\"$p.self_attn.k_proj.bias\" [128]"
            echo "\"$p.self_attn.v_proj.weight\" [128,896]"
            echo "\"$p.self_attn.v_proj.bias\" [128]"
            echo "\"$p.self_attn.o_proj.weight\" [896,896]"
            echo "\"$p.mlp.gate_proj.weight\" [4864,896]"
            echo "\"$p.mlp.up_proj.weight\" [4864,896]"
            echo "\"$p.mlp.down_proj.weight\" [896,4864]"
        done
    } | jq -sS '. as $a
        | [range(0; length; 2) | {key: $a[.], value: {dtype: "BF16", shape: $a[. + 1]}}] | from_entries'
}
qst=$q/model.safetensors
if cmp -s <(qwen_layout) <(st_layout "$qst"); then
    t_ok "tensor names and shapes are Qwen2.5-0.5B's, all BF16, no lm_head (290 tensors)"
else
    t_fail "tensor names and shapes are Qwen2.5-0.5B's, all BF16, no lm_head (290 tensors)" \
        "$(diff <(qwen_layout) <(st_layout "$qst") | head -n 8)"
fi
qmeta=$(st_header "$qst" | jq -c .__metadata__)
qend=$(st_header "$qst" | jq '[del(.__metadata__)[] | .data_offsets[1]] | max')
qheader=$(od -An --endian=little -t u8 -N 8 "$qst" | tr -d ' ')
if [ "$qmeta" = '{"format":"pt"}' ] && [ $((8 + qheader + qend)) -eq "$(stat -c %s "$qst")" ] \
   && [ "$qend" -eq $((494032768 * 2)) ]; then
    t_ok "metadata {\"format\": \"pt\"}, 494,032,768 bf16 values ending at the end of the file"
else
    t_fail "metadata {\"format\": \"pt\"}, 494,032,768 bf16 values ending at the end of the file" \
        "metadata $qmeta, data $qend bytes, header $qheader, file $(stat -c %s "$qst")"
fi

# Embedding rows: 896 bf16 = 1792 bytes each. Rows a token has are random,
# the others zero.
embed_row() {
    st_tensor "$qst" model.embed_tokens.weight | tail -c +$(($1 * 1792 + 1)) | head -c 1792 | od -An -v -t x1 \
        | tr -d ' \n' | sed 's/^0*$/zero/'
}
rows=''
for r in 0 755 756 151642 151643 151645 151646 151935; do rows="$rows $r:$(embed_row "$r" | cut -c1-4)"; done
want_rows=" 0:[0-9a-f]{4} 755:[0-9a-f]{4} 756:zero 151642:zero 151643:[0-9a-f]{4} 151645:[0-9a-f]{4} 151646:zero 151935:zero"
if [[ "$rows" =~ ^$want_rows$ ]] && [[ "$rows" != *" 0:zero"* && "$rows" != *"755:zero"* && "$rows" != *"151643:zero"* && "$rows" != *"151645:zero"* ]]; then
    t_ok "embedding rows of tokens are random, rows no token has are zero"
else
    t_fail "embedding rows of tokens are random, rows no token has are zero" "rows:$rows"
fi

t_check "merges.txt is the --tokenizer-from file" cmp "$qfixture/merges.txt" "$q/merges.txt"
# The fixture's 756 tokens, then placeholders up to the specials: ids run without a gap.
t_check "vocab.json: the fixture's tokens, then <|unused_ID|> up to 151642" jq -e --slurpfile f "$qfixture/vocab.json" '
    . == ($f[0] + ([range(756; 151643)] | map({key: "<|unused_\(.)|>", value: .}) | from_entries))
    and length == 151643' "$q/vocab.json"
t_check "tokenizer.json: the fixture's with the same vocab, its added tokens at 151643..151645" jq -e --slurpfile f "$qfixture/tokenizer.json" '
    (del(.added_tokens) | .model.vocab |= with_entries(select(.value < 756))) == ($f[0] | del(.added_tokens))
    and (.model.vocab | length) == 151643
    and [.added_tokens[] | [.id, .content]]
        == [[151643, "<|endoftext|>"], [151644, "<|im_start|>"], [151645, "<|im_end|>"]]' "$q/tokenizer.json"
# The text engine loads what mkmodel writes (bf16 as stored: mapped, no copy).
t_check "the text engine loads it: jen1-write tokenizes with its tokenizer" bash -c "
    '$JEN1_BUILD/jen1-write' --model '$q' --bf16 --tokenize 'hi there<|im_end|>' | jq -e '.[-1] == 151645 and length > 1'"
t_check "tokenizer_config.json: the fixture's ChatML template, specials at 151643..151645" \
    jq -e --slurpfile f "$qfixture/tokenizer_config.json" '
    .chat_template == $f[0].chat_template and .model_max_length == 131072
    and .eos_token == "<|im_end|>" and .pad_token == "<|endoftext|>"
    and (.added_tokens_decoder | to_entries | map([.key, .value.content]))
        == [["151643", "<|endoftext|>"], ["151644", "<|im_start|>"], ["151645", "<|im_end|>"]]' \
    "$q/tokenizer_config.json"

# Broken --tokenizer-from directories are refused before anything is written.
broken() { # NAME: a copy of the fixture's tokenizer files in $tmp/tok-NAME
    rm -rf "$tmp/tok-$1"
    mkdir "$tmp/tok-$1"
    cp "$qfixture"/{vocab.json,merges.txt,tokenizer.json,tokenizer_config.json} "$tmp/tok-$1/"
    echo "$tmp/tok-$1"
}
qmk() { "$mkmodel" --size qwen2.5-0.5b --out "$tmp/x" --tokenizer-from "$@"; }
dir=$(broken nomerges); rm "$dir/merges.txt"
t_check_fails "--tokenizer-from without merges.txt" "merges.txt: cannot open" qmk "$dir"
dir=$(broken badjson); echo '{"version": ' >"$dir/tokenizer.json"
t_check_fails "--tokenizer-from with bad JSON" "tokenizer.json: bad JSON" qmk "$dir"
dir=$(broken merge); sed -i '2s/.*/t Ġzzz/' "$dir/merges.txt"
t_check_fails "--tokenizer-from with a merge of an unknown token" "merges.txt line 2: 'Ġzzz' is not in vocab.json" qmk "$dir"
dir=$(broken notab); sed -i '3s/ /_/' "$dir/merges.txt"
t_check_fails "--tokenizer-from with a merges line that is not 'A B'" "merges.txt line 3: not 'A B'" qmk "$dir"
dir=$(broken differ); sed -i '2{h;d};3G' "$dir/merges.txt"
t_check_fails "--tokenizer-from whose merges.txt and tokenizer.json differ" "model.merges\[0\] differs" qmk "$dir"
dir=$(broken dupid); jq -c '.["!"] = 5' "$qfixture/vocab.json" >"$dir/vocab.json"
t_check_fails "--tokenizer-from with a duplicate id" "token '.*' has a duplicate id" qmk "$dir"
dir=$(broken specials); jq '.added_tokens[0].content = "<|im_start|>" | .added_tokens[1].content = "<|endoftext|>"' \
    "$qfixture/tokenizer.json" >"$dir/tokenizer.json"
t_check_fails "--tokenizer-from whose added tokens are not Qwen's" "added_tokens\[0\] must be <\|endoftext\|> with id 756" \
    qmk "$dir"
dir=$(broken template); jq 'del(.chat_template)' "$qfixture/tokenizer_config.json" >"$dir/tokenizer_config.json"
t_check_fails "--tokenizer-from without a chat_template" "tokenizer_config.json: no chat_template" qmk "$dir"
t_check_fails "--tokenizer-from a MusicGen directory" "vocab.json: cannot open" qmk "$fixture"
t_check_fails "missing --tokenizer-from" "missing --tokenizer-from DIR" \
    "$mkmodel" --size qwen2.5-0.5b --out "$tmp/x"
t_check_fails "--spiece with --size qwen2.5-0.5b" "--spiece is not an option of --size qwen2.5-0.5b" \
    "$mkmodel" --size qwen2.5-0.5b --spiece "$spiece" --tokenizer-from "$qfixture" --out "$tmp/x"
t_check_fails "--tokenizer-from with --size tiny" "--tokenizer-from is not an option of --size tiny" \
    "$mkmodel" --size tiny --spiece "$spiece" --tokenizer-from "$qfixture" --out "$tmp/x"
t_check_fails "--max-positions with --size qwen2.5-0.5b" "--max-positions is not an option" \
    "$mkmodel" --size qwen2.5-0.5b --tokenizer-from "$qfixture" --max-positions 64 --out "$tmp/x"

leftovers=$(find "$tmp" -maxdepth 1 \( -name '*.tmp-*' -o -name x \))
if [ -z "$leftovers" ]; then
    t_ok "failures leave no partial output behind"
else
    t_fail "failures leave no partial output behind" "found: $leftovers"
fi

t_summary test_mkmodel
