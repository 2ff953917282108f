#!/usr/bin/env bash
# test_gen.sh - jen1-gen as a user runs it: prompts on the command line,
# .npy dumps compared with the reference's golden outputs, audio files,
# --codes decoding, and clear errors for bad arguments.
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
t_check_fails "too long for the position table" "position table" "$gen" --model "$model" --prompt x --frames 5000 --out "$tmp/x.wav"
t_check_fails "unknown flag" "unknown" "$gen" --model "$model" --prompt x --frames 2 --loud
t_check_fails "missing model directory" "not found" "$gen" --model /nonexistent --prompt x --frames 2 --out "$tmp/x.wav"
t_check_fails "unwritable output" "$tmp/nodir/x.wav" "$gen" --model "$model" --prompt x --frames 2 --out "$tmp/nodir/x.wav"
t_check_fails "codes of the wrong shape" "expected int64 codes" "$gen" --model "$model" --codes "$golden/tf_decoder_input_ids.npy" --out "$tmp/x.wav"
t_check "--help" "$gen" --help

t_summary test_gen
