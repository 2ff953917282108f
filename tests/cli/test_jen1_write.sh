#!/usr/bin/env bash
# test_jen1_write.sh - jen1-write as a user runs it, against the reference's
# goldens of tests/fixtures/qwen2-tiny: --tokenize gives the golden ids,
# --messages with the golden chats gives gen_a's (no penalty) and gen_c's
# (penalty 1.05) greedy replies, ids (--dump-ids, exact) and processed scores
# (--dump-logits, within 1e-5 * max|golden| + 1e-5, -inf exact); --narrative
# writes well-formed words, the same for the same seed; bad input gives clear
# errors.
set -u
. tests/cli/lib.sh

write=$JEN1_BUILD/jen1-write
fixture=tests/fixtures/qwen2-tiny
model=$fixture/model
index=$fixture/golden/index.json
tmp=$JEN1_TEST_TMP/jen1-write
rm -rf "$tmp" && mkdir -p "$tmp"

# ---- --tokenize: a spread of the golden strings (spaces, contractions, digits,
# accents, CJK, emoji, special tokens and near-misses, control characters);
# one with a NUL cannot be an argument.
n_strings=$(jq '.tokenization | length' "$index")
bad= tried=0
for ((i = 0; i < n_strings; i += 9)); do
    jq -e ".tokenization[$i].text | explode | any(. == 0)" "$index" >/dev/null && continue
    tried=$((tried + 1))
    text=$(jq -j ".tokenization[$i].text" "$index"; printf x)
    text=${text%x} # keep trailing newlines
    want=$(jq -c ".tokenization[$i].ids" "$index")
    got=$("$write" --model "$model" --tokenize "$text" 2>&1 | jq -c . 2>&1)
    [ "$got" = "$want" ] || bad="$bad\n  string $i: got $got, want $want"
done
if [ -z "$bad" ]; then t_ok "--tokenize gives the golden ids ($tried strings)"
else t_fail "--tokenize gives the golden ids" "$(printf '%b' "$bad")"; fi

# ---- --messages: compares a dump of new ids [n] and scores [n, vocab] with
# row ROW of a golden [3, 48] / [3, 48, vocab] over its first LENGTH steps.
npy_rows_match() { # OURS_IDS OURS_SCORES GOLDEN_TOKENS GOLDEN_SCORES ROW LENGTH
    node -e '
const fs = require("fs");
function npy(path) {
    const b = fs.readFileSync(path), hl = b.readUInt16LE(8), h = b.toString("latin1", 10, 10 + hl);
    const shape = h.match(/\(([^)]*)\)/)[1].split(",").filter(s => s.trim()).map(Number);
    const off = 10 + hl, body = b.buffer.slice(b.byteOffset + off, b.byteOffset + b.length);
    return { shape, data: h.includes("<i8") ? new BigInt64Array(body) : new Float32Array(body) };
}
const [ids, scores, gids, gscores] = process.argv.slice(1, 5).map(npy);
const row = +process.argv[5], len = +process.argv[6];
if (ids.shape.join() !== String(len)) { console.log(`ids shape ${ids.shape}, want ${len}`); process.exit(1); }
for (let t = 0; t < len; t++)
    if (ids.data[t] !== gids.data[row * 48 + t]) { console.log(`id ${t}: ${ids.data[t]} != ${gids.data[row * 48 + t]}`); process.exit(1); }
const V = gscores.shape[2];
if (scores.shape.join() !== [len, V].join()) { console.log(`scores shape ${scores.shape}, want ${len},${V}`); process.exit(1); }
let max = 0, worst = 0;
for (let i = 0; i < len * V; i++) { const g = gscores.data[row * 48 * V + i]; if (isFinite(g)) max = Math.max(max, Math.abs(g)); }
for (let i = 0; i < len * V; i++) {
    const a = scores.data[i], g = gscores.data[row * 48 * V + i];
    if (!isFinite(g) || !isFinite(a)) { if (a !== g) { console.log(`score ${i}: ${a} vs ${g}`); process.exit(1); } continue; }
    worst = Math.max(worst, Math.abs(a - g));
}
const tol = 1e-5 * max + 1e-5;
if (worst > tol) { console.log(`scores differ by ${worst} > ${tol}`); process.exit(1); }
' "$@"
}

for run in "gen_a 1.0" "gen_c 1.05"; do
    set -- $run
    name=$1 penalty=$2
    for row in 0 1 2; do
        jq -c ".chat[$row].messages" "$index" >"$tmp/chat$row.json"
        length=$(jq ".generation.$name.lengths[$row]" "$index")
        what="--messages chat $row, repetition penalty $penalty ($name)"
        if "$write" --model "$model" --messages "$tmp/chat$row.json" --greedy --max-tokens 48 \
            --repetition-penalty "$penalty" --dump-ids "$tmp/$name-$row-ids.npy" \
            --dump-logits "$tmp/$name-$row-scores.npy" >"$tmp/$name-$row.txt" 2>"$tmp/$name-$row.err"; then
            { jq -j ".generation.$name.text_skip_special[$row]" "$index"; echo; } >"$tmp/$name-$row.want"
            t_check "$what: the golden reply" cmp "$tmp/$name-$row.txt" "$tmp/$name-$row.want"
            t_check "$what: golden ids and scores" npy_rows_match "$tmp/$name-$row-ids.npy" \
                "$tmp/$name-$row-scores.npy" "$fixture/golden/${name}_tokens.npy" \
                "$fixture/golden/${name}_scores.npy" "$row" "$length"
        else
            t_fail "$what runs" "$(cat "$tmp/$name-$row.err")"
        fi
    done
done

# ---- --narrative: the song's words as the worker writes them.
narrative="A lighthouse keeper finds a message in a bottle during a storm."
if "$write" --model "$model" --narrative "$narrative" --duration 40 --seed 11 --threads 2 >"$tmp/words1.json" 2>"$tmp/words1.err" &&
    "$write" --model "$model" --narrative "$narrative" --duration 40 --seed 11 --threads 2 >"$tmp/words2.json" 2>/dev/null; then
    t_check "--narrative: title, sung sections with lines, the model named" jq -e '
        (.title | length > 0) and .words.source == "model" and .words.model == "model"
        and ([.sections[] | select(.name == "verse" or .name == "chorus" or .name == "bridge") | .lyrics | length > 0] | all)
        and ([.sections[] | select(.name == "intro" or .name == "outro") | .lyrics | length == 0] | all)
        and ([.sections[].lyrics[] | length > 0 and length < 80] | all)' "$tmp/words1.json"
    t_check "--narrative: the same seed writes the same words" cmp "$tmp/words1.json" "$tmp/words2.json"
else
    t_fail "--narrative runs" "$(cat "$tmp/words1.err")"
fi

# ---- Errors: what is wrong, and the exit status (2: usage, 1: the model or the input).
echo '[{"role": "user", "content": "hi"' >"$tmp/broken.json"
echo '[{"role": "narrator", "content": "hi"}]' >"$tmp/role.json"
t_expect "a missing model directory is named" 1 "no-such-model" \
    "$write" --model "$tmp/no-such-model" --tokenize "hello"
t_expect "messages that are not JSON are refused" 1 "broken.json: not JSON" \
    "$write" --model "$model" --messages "$tmp/broken.json"
t_expect "an unknown role is refused" 1 "message 0 wants a \"role\"" \
    "$write" --model "$model" --messages "$tmp/role.json"
t_expect "a missing messages file is refused" 1 "nothing.json" \
    "$write" --model "$model" --messages "$tmp/nothing.json"
t_expect "two modes at once are a usage error" 2 "exactly one of" \
    "$write" --model "$model" --tokenize a --narrative b
t_expect "no model is a usage error" 2 "--model DIR is required" \
    env -u JEN1_TEXT_MODEL_DIR "$write" --tokenize a
t_expect "a bad top-p is a usage error" 2 "--top-p must be in" \
    "$write" --model "$model" --messages "$tmp/chat0.json" --top-p 1.5
t_expect "--help says how" 0 "usage: jen1-write" "$write" --help

t_summary test_jen1_write
