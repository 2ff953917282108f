#!/usr/bin/env bash
# tests/cli/test_spm_parity.sh - jen1's sentencepiece tokenizer (shim/tokenizer/spm/spm.c,
# through build/spm-encode) against the real libsentencepiece 0.1.97
# (build/spm-oracle, a separate process: the library cannot share one with
# LibTorch). Both tokenise every string of tests/spm_oracle/corpus.txt and
# must print the same ids; both dump the vocabulary and special ids, which
# must match too. The models:
#   - the fixture's spiece.model (T5's normaliser settings);
#   - models trained here by the real trainer: byte fallback with user-defined
#     symbols, the identity normaliser with custom special pieces, whitespace
#     as suffix with case folding, user-defined " " without space escaping;
#   - the fixture with protobuf bytes appended (protobuf merges them in):
#     options flipped, pieces added, unknown fields, invalid models. The two
#     must agree on loading or refusing each, and on the ids when they load.
set -u
# shellcheck source=tests/cli/lib.sh
. "$(dirname "$0")/lib.sh"

oracle=$JEN1_BUILD/spm-oracle
encode=$JEN1_BUILD/spm-encode
corpus=tests/spm_oracle/corpus.txt
fixture=tests/fixtures/musicgen-tiny/model/spiece.model
tmp=$(mktemp -d "$JEN1_TEST_TMP/spm_parity.XXXXXX")
trap 'rm -rf -- "$tmp"' EXIT

if [ ! -x "$oracle" ] || [ ! -x "$encode" ]; then
    t_fail setup "needs $oracle and $encode (make tests)"
    t_summary test_spm_parity
fi

# Line $1 of the corpus, for mismatch reports.
corpus_line() {
    sed -n "${1}p" "$corpus"
}

# Runs both programs on model $2 and compares; $1 names the case.
compare_model() {
    local name=$1 model=$2 rc_o=0 rc_j=0
    "$oracle" vocab "$model" >"$tmp/o.vocab" 2>"$tmp/o.err" || rc_o=$?
    "$encode" vocab "$model" >"$tmp/j.vocab" 2>"$tmp/j.err" || rc_j=$?
    if [ "$rc_o" -ne 0 ] && [ "$rc_j" -ne 0 ]; then
        t_ok "$name (both refuse: $(head -c 200 "$tmp/j.err"))"
        return
    fi
    if [ "$rc_o" -ne 0 ] || [ "$rc_j" -ne 0 ]; then
        t_fail "$name" "sentencepiece exit $rc_o, jen1 exit $rc_j"
        t_show_output "$(cat "$tmp/o.err" "$tmp/j.err")"
        return
    fi
    if ! cmp -s "$tmp/o.vocab" "$tmp/j.vocab"; then
        t_fail "$name" "vocabulary or special ids differ"
        t_show_output "$(diff "$tmp/o.vocab" "$tmp/j.vocab")"
        return
    fi
    "$oracle" encode "$model" <"$corpus" >"$tmp/o.ids" 2>"$tmp/o.err" || rc_o=$?
    "$encode" encode "$model" <"$corpus" >"$tmp/j.ids" 2>"$tmp/j.err" || rc_j=$?
    if [ "$rc_o" -ne 0 ] || [ "$rc_j" -ne 0 ]; then
        t_fail "$name" "encoding the corpus: sentencepiece exit $rc_o, jen1 exit $rc_j"
        t_show_output "$(cat "$tmp/o.err" "$tmp/j.err")"
        return
    fi
    local n_strings mismatches
    n_strings=$(wc -l <"$tmp/o.ids")
    if [ "$n_strings" -lt 200 ]; then
        t_fail "$name" "only $n_strings strings encoded"
        return
    fi
    mismatches=$(paste "$tmp/o.ids" "$tmp/j.ids" | awk -F'\t' '$2 != $5 { print $1 }')
    if [ -n "$mismatches" ] || ! cmp -s "$tmp/o.ids" "$tmp/j.ids"; then
        local report="" line
        for line in $mismatches; do
            report+="line $line: $(corpus_line "$line")"$'\n'
            report+="  sentencepiece: $(grep -m1 "^$line	" "$tmp/o.ids" | cut -f2-)"$'\n'
            report+="  jen1:          $(grep -m1 "^$line	" "$tmp/j.ids" | cut -f2-)"$'\n'
        done
        [ -n "$report" ] || report=$(diff "$tmp/o.ids" "$tmp/j.ids")
        t_fail "$name" "$(wc -w <<<"$mismatches") of $n_strings strings differ"
        t_show_output "$report"
        return
    fi
    t_ok "$name ($n_strings strings)"
}

# Trains a model with the real trainer: train NAME --key=value...
train() {
    local name=$1
    shift
    if ! "$oracle" train --input="$corpus,tests/fixtures/musicgen-tiny/README.md" \
            --model_prefix="$tmp/$name" --num_threads=2 --hard_vocab_limit=false \
            "$@" >"$tmp/train.log" 2>&1; then
        t_fail "train $name" "spm-oracle train failed"
        t_show_output "$(tail -n 5 "$tmp/train.log")"
        return 1
    fi
}

# The fixture with protobuf bytes (hex) appended: patched NAME HEX
patched() {
    local out=$tmp/$1.model
    cp "$fixture" "$out"
    printf "$(sed 's/\([0-9a-f][0-9a-f]\) */\\x\1/g' <<<"$2")" >>"$out"
}

compare_model "fixture spiece.model" "$fixture"

if train bytefb --vocab_size=600 --byte_fallback=true --character_coverage=0.98 \
        '--user_defined_symbols=<sep>,[MASK],ab,▁▁x,hello world'; then
    compare_model "byte fallback + user-defined symbols" "$tmp/bytefb.model"
fi
if train identity --vocab_size=500 --normalization_rule_name=identity \
        --add_dummy_prefix=false --remove_extra_whitespaces=false \
        '--control_symbols=<ctl>,<0x41>' '--unk_piece=[UNK]' --pad_id=3 '--pad_piece=[PAD]' \
        '--eos_piece=[EOS]' --bos_id=-1; then
    compare_model "identity normaliser, custom special pieces" "$tmp/identity.model"
fi
if train suffix --vocab_size=500 --normalization_rule_name=nmt_nfkc_cf \
        --treat_whitespace_as_suffix=true --split_digits=true; then
    compare_model "whitespace as suffix, case folding" "$tmp/suffix.model"
fi
# The unigram trainer insists on escape_whitespaces, so it is switched off
# afterwards: normalizer_spec { escape_whitespaces: false } appended.
if train noescape --vocab_size=500 --normalization_rule_name=nfkc \
        '--user_defined_symbols=hello world,ab, ,▁'; then
    printf '\x1a\x02\x28\x00' >>"$tmp/noescape.model"
    compare_model "no whitespace escaping, user-defined space" "$tmp/noescape.model"
fi

# name, then the bytes appended to the fixture (a serialized ModelProto part).
while read -r name hex; do
    case $name in '#'*|'') continue ;; esac
    patched "$name" "$hex"
    compare_model "patched: $name" "$tmp/$name.model"
done <<'EOF'
# trainer_spec.model_type = 7: not in the enum, so ignored (still UNIGRAM)
unknown-model-type      12 02 18 07
# pieces: "xyz" with no type, an out-of-enum type, USER_DEFINED, UNUSED, CONTROL
piece-xyz               0a 05 0a 03 78 79 7a
piece-xyz-type-9        0a 07 0a 03 78 79 7a 18 09
piece-xyz-user          0a 07 0a 03 78 79 7a 18 04
piece-xyz-unused        0a 07 0a 03 78 79 7a 18 05
piece-xyz-control       0a 07 0a 03 78 79 7a 18 03
piece-xyz-score-3       0a 0a 0a 03 78 79 7a 15 00 00 40 40
piece-xyz-score-varint  0a 07 0a 03 78 79 7a 10 05
# max_score 3 (from "xyz") gives user-defined "qq" a bigger bonus
score-3-and-user-qq     0a 0a 0a 03 78 79 7a 15 00 00 40 40 0a 06 0a 02 71 71 18 04
user-defined-xq-zz      0a 09 0a 05 e2 96 81 78 71 18 04 0a 06 0a 02 7a 7a 18 04
piece-type-2pow32-4     0a 0b 0a 03 78 79 7a 18 84 80 80 80 10
# "</s>" once more as a NORMAL piece: allowed, the CONTROL one stays eos
normal-eos-copy         0a 06 0a 04 3c 2f 73 3e
# special piece names: eos named "<unk>", unk named "zzz", pad named "</s>"
eos-piece-is-unk        12 08 fa 02 05 3c 75 6e 6b 3e
unk-piece-zzz           12 06 ea 02 03 7a 7a 7a
pad-piece-eos           12 07 82 03 04 3c 2f 73 3e
# normalizer_spec options
no-charsmap             1a 02 12 00
no-dummy-prefix         1a 02 18 00
keep-extra-spaces       1a 02 20 00
no-escape               1a 02 28 00
keep-spaces-no-escape   1a 04 20 00 28 00
ws-as-suffix            12 03 c0 01 01
ws-as-suffix-no-prefix  12 03 c0 01 01 1a 02 18 00
# unknown fields: varint, fixed64, fixed32, bytes, a group (inside a piece too)
unknown-fields          98 06 01 91 06 01 02 03 04 05 06 07 08 9d 06 01 02 03 04 a2 06 01 00 a3 06 08 01 a4 06
unknown-in-piece        0a 0c 0a 03 78 79 7a 98 06 01 a3 06 a4 06
# refused by both
duplicate-piece         0a 06 0a 04 e2 96 81 61
second-unknown          0a 09 0a 05 3c 75 6e 6b 32 18 02
byte-piece-no-fallback  0a 0a 0a 06 3c 30 78 34 31 3e 18 06
fallback-no-byte-pieces 12 03 98 02 01
empty-piece             0a 02 0a 00
piece-without-text      0a 00
broken-charsmap         1a 04 12 02 01 02
charsmap-size-too-big   1a 08 12 06 ff 00 00 00 00 00
truncated-varint        98
length-past-end         0a 7f 0a 03
end-group-alone         a4 06
field-number-zero       00 01
EOF

# Byte fallback on the fixture: trainer_spec { byte_fallback: true } and the
# 256 pieces { piece: "<0xXX>" type: BYTE }.
patched byte-fallback "12 03 98 02 01"
for byte in $(seq 0 255); do
    printf '\x0a\x0a\x0a\x06<0x%02X>\x18\x06' "$byte" >>"$tmp/byte-fallback.model"
done
compare_model "patched: byte-fallback" "$tmp/byte-fallback.model"

# What jen1 refuses although sentencepiece loads it.
patched nul-in-piece "0a 07 0a 03 61 00 62 18 01"
t_check_fails "refuses a piece with a NUL byte" "NUL" "$encode" vocab "$tmp/nul-in-piece.model"
patched bpe "12 02 18 02"
t_check_fails "refuses a BPE model" "BPE is not supported" "$encode" vocab "$tmp/bpe.model"
if train bpe-trained --vocab_size=300 --model_type=bpe; then
    t_check_fails "refuses a trained BPE model" "BPE is not supported" \
        "$encode" vocab "$tmp/bpe-trained.model"
fi

# Truncations of the fixture: both refuse, or both load and agree.
size=$(wc -c <"$fixture")
for cut in 1 2 17 1000 4567 100000 $((size - 1000)) $((size - 1)); do
    head -c "$cut" "$fixture" >"$tmp/cut.model"
    compare_model "fixture cut to $cut bytes" "$tmp/cut.model"
done

t_summary test_spm_parity
