#!/usr/bin/env bash
# test_gen.sh - jen1-gen as a user runs it: prompts on the command line,
# .npy dumps compared with the reference's golden outputs (one-shot and
# continuation from codes), long songs in sections, audio files, --codes
# decoding, and clear errors for bad arguments.
set -u
. tests/cli/lib.sh

gen=$JEN1_BUILD/jen1-gen
cmp=$JEN1_BUILD/npycmp
model=tests/fixtures/musicgen-tiny/model
golden=tests/fixtures/musicgen-tiny/golden
tmp=$JEN1_TEST_TMP/gen
rm -rf "$tmp" && mkdir -p "$tmp"
prompts=(--prompt "upbeat electronic dance track with heavy bass" --prompt "calm solo piano, slow tempo" --prompt "")

for cfg in 1 3; do
    if out=$("$gen" --model "$model" "${prompts[@]}" --frames 37 --greedy --guidance $cfg --threads 2 \
            --dump-codes "$tmp/codes$cfg.npy" --dump-audio "$tmp/audio$cfg.npy" --out "$tmp/song$cfg.wav" 2>&1); then
        t_ok "greedy guidance $cfg runs"
        t_check "greedy guidance $cfg: codes equal the reference's" \
            "$cmp" "$tmp/codes$cfg.npy" "$golden/gen_greedy_cfg${cfg}_audio_codes.npy"
        t_check "greedy guidance $cfg: audio within 1e-5 of the reference's" \
            "$cmp" "$tmp/audio$cfg.npy" "$golden/gen_greedy_cfg${cfg}_audio_values.npy" --atol 1e-5
        t_check "guidance $cfg: one wav per prompt" test -s "$tmp/song$cfg-0.wav" -a -s "$tmp/song$cfg-1.wav" -a -s "$tmp/song$cfg-2.wav"
        if grep -Eq "3 x 37 frames .* s of audio per wall second" <<<"$out"; then t_ok "guidance $cfg: summary line"
        else t_fail "guidance $cfg: summary line" "$out"; fi
    else
        t_fail "greedy guidance $cfg runs" "$out"
    fi
done

# A WAV of 37 frames at 32 kHz, 16-bit mono: 44-byte header + 2 bytes a sample.
size=$(stat -c %s "$tmp/song1-0.wav" 2>/dev/null || echo 0)
if [ "$size" -eq $((44 + 37 * 640 * 2)) ]; then t_ok "wav holds 37 frames of 16-bit mono"
else t_fail "wav holds 37 frames of 16-bit mono" "$size bytes"; fi

# Continuation from codes (tests/fixtures/musicgen-continuation): --frames
# counts the new frames; the dumps hold the prompt's 12 and the 30 new ones.
cont=tests/fixtures/musicgen-continuation/golden
texts=(--prompt "calm solo piano, slow tempo" --prompt "upbeat electronic dance track with heavy bass")
new_texts=(--prompt "dark ambient drone with distant choir and deep reverb"
           --prompt "funky disco groove with slap bass and brass stabs")
for case in greedy_cfg1 greedy_cfg3 newtext_greedy_cfg3 randprompt_greedy_cfg3; do
    case $case in
        newtext_*) case_texts=("${new_texts[@]}") ;;
        *) case_texts=("${texts[@]}") ;;
    esac
    codes=$cont/prompt_codes.npy
    [ "${case#randprompt}" != "$case" ] && codes=$cont/rand_prompt_codes.npy
    guidance=3
    [ "$case" = greedy_cfg1 ] && guidance=1
    if out=$("$gen" --model "$model" "${case_texts[@]}" --prompt-codes "$codes" --frames 30 --greedy \
            --guidance $guidance --threads 2 --dump-codes "$tmp/cont_$case.npy" --dump-audio "$tmp/cont_$case-audio.npy" 2>&1); then
        t_check "continuation $case: codes (prompt + 30 new frames) equal the reference's" \
            "$cmp" "$tmp/cont_$case.npy" "$cont/cont_${case}_audio_codes.npy"
        t_check "continuation $case: audio of all 42 frames within 1e-5" \
            "$cmp" "$tmp/cont_$case-audio.npy" "$cont/cont_${case}_audio_values.npy" --atol 1e-5
    else
        t_fail "continuation $case runs" "$out"
    fi
done
t_check_fails "prompt codes of the wrong batch" "expected int64 codes \[1 prompts" \
    "$gen" --model "$model" --prompt x --prompt-codes "$cont/prompt_codes.npy" --frames 3 --out "$tmp/x.wav"
t_check_fails "a continuation must fit the position table" "position table" \
    "$gen" --model "$model" "${texts[@]}" --prompt-codes "$cont/prompt_codes.npy" --frames 5000 --out "$tmp/x.wav"

# A song longer than the position table, in sections: windows of 60 frames
# (36 new after 24 of context); each section starts a window's new part.
if out=$("$gen" --model "$model" --prompt "calm piano" --section "1.6:heavy drums" --section "3:soft choir" \
        --duration 5 --window 1.2 --stride 0.72 --seed 3 --threads 2 --out "$tmp/sections.wav" \
        --dump-codes "$tmp/sections.npy" 2>&1); then
    t_ok "a song in sections renders"
    size=$(stat -c %s "$tmp/sections.wav" 2>/dev/null || echo 0)
    if [ "$size" -eq $((44 + 250 * 640 * 2)) ]; then t_ok "the sectioned song lasts 5 s"
    else t_fail "the sectioned song lasts 5 s" "$size bytes"; fi
    for want in "250 frames \(5.00 s of audio each in 7 windows\)" \
                "window 1: 1.20-1.60 s after 0.48 s of context, section 0: calm piano" \
                "window 2: 1.60-2.32 s after 0.48 s of context, section 1: heavy drums" \
                "window 4: 3.00-3.72 s after 0.48 s of context, section 2: soft choir"; do
        if grep -Eq "$want" <<<"$out"; then t_ok "sections: $want"
        else t_fail "sections: $want" "$out"; fi
    done
else
    t_fail "a song in sections renders" "$out"
fi
"$gen" --model "$model" --prompt "x" --duration 7 --seed 4 --dump-codes "$tmp/long1.npy" --quiet --threads 2
"$gen" --model "$model" --prompt "x" --duration 7 --seed 4 --dump-codes "$tmp/long2.npy" --quiet --threads 2
t_check "a song of two default windows is reproducible" "$cmp" "$tmp/long1.npy" "$tmp/long2.npy"
t_check_fails "a section needs START:TEXT" "START:TEXT" "$gen" --model "$model" --section "chorus" --frames 2 --out "$tmp/x.wav"
t_check_fails "sections need one at 0" "section at 0" "$gen" --model "$model" --section "2:x" --frames 2 --out "$tmp/x.wav"
t_check_fails "sections make one song" "one song" "$gen" --model "$model" --prompt a --prompt b --section "2:x" --frames 2 --out "$tmp/x.wav"
t_check_fails "a stride no shorter than the window" "stride" "$gen" --model "$model" --prompt x --window 1 --stride 1 --frames 200 --out "$tmp/x.wav"

t_check "--codes decodes the reference's codes to its audio" \
    "$gen" --model "$model" --codes "$golden/encodec_codes.npy" --dump-audio "$tmp/encodec.npy" --quiet
t_check "--codes audio within 1e-5" "$cmp" "$tmp/encodec.npy" "$golden/encodec_audio_values.npy" --atol 1e-5

"$gen" --model "$model" --prompt "calm solo piano, slow tempo" --duration 0.5 --seed 11 --dump-codes "$tmp/s11a.npy" --quiet
"$gen" --model "$model" --prompt "calm solo piano, slow tempo" --duration 0.5 --seed 11 --dump-codes "$tmp/s11b.npy" --quiet
"$gen" --model "$model" --prompt "calm solo piano, slow tempo" --duration 0.5 --seed 12 --dump-codes "$tmp/s12.npy" --quiet
t_check "sampling: the same seed gives the same codes" "$cmp" "$tmp/s11a.npy" "$tmp/s11b.npy"
t_check_fails "sampling: another seed gives other codes" "too large" "$cmp" "$tmp/s11a.npy" "$tmp/s12.npy"
t_check "--duration 0.5 gives 25 frames (flac by extension)" \
    "$gen" --model "$model" --prompt "x" --duration 0.5 --out "$tmp/short.flac" --quiet
t_check "flac file starts with fLaC" grep -q "^fLaC" "$tmp/short.flac"

t_check_fails "no model" "--model" env -u JEN1_MODEL_DIR "$gen" --prompt x --frames 2 --out "$tmp/x.wav"
t_check_fails "no prompt" "prompt" "$gen" --model "$model" --frames 2 --out "$tmp/x.wav"
t_check_fails "no length" "duration" "$gen" --model "$model" --prompt x --out "$tmp/x.wav"
t_check_fails "bad duration" "duration" "$gen" --model "$model" --prompt x --duration -3 --out "$tmp/x.wav"
t_check_fails "bad top-k" "top-k" "$gen" --model "$model" --prompt x --frames 2 --top-k lots --out "$tmp/x.wav"
t_check_fails "a window longer than the position table" "position table" "$gen" --model "$model" --prompt x --window 60 --frames 5000 --out "$tmp/x.wav"
t_check_fails "unknown flag" "unknown" "$gen" --model "$model" --prompt x --frames 2 --loud
t_check_fails "missing model directory" "not found" "$gen" --model /nonexistent --prompt x --frames 2 --out "$tmp/x.wav"
t_check_fails "unwritable output" "$tmp/nodir/x.wav" "$gen" --model "$model" --prompt x --frames 2 --out "$tmp/nodir/x.wav"
t_check_fails "codes of the wrong shape" "expected int64 codes" "$gen" --model "$model" --codes "$golden/tf_decoder_input_ids.npy" --out "$tmp/x.wav"
t_check "--help" "$gen" --help

t_summary test_gen
