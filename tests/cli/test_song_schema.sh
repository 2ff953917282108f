#!/usr/bin/env bash
# tests/cli/test_song_schema.sh - the GeneratedSong documents that test_song
# builds from real plans pass docs/generated-song.schema.json and the tiling
# rule (tests/tools/validate-song), and deliberately broken ones do not.
set -u
. "$(dirname "$0")/lib.sh"

validate=tests/tools/validate-song
tmp="$JEN1_TEST_TMP/song_schema"
rm -rf "$tmp"
mkdir -p "$tmp/broken"

# test_song writes its documents under $JEN1_TEST_TMP/songs.
if [ ! -x "$JEN1_BUILD/tests/test_song" ]; then
    t_fail build "$JEN1_BUILD/tests/test_song is not built (make $JEN1_BUILD/tests/test_song)"
    t_summary test_song_schema
fi
t_check "test_song writes its documents" env JEN1_TEST_TMP="$tmp" "$JEN1_BUILD/tests/test_song"
songs=("$tmp"/songs/*.json)
if [ "${#songs[@]}" -lt 12 ] || [ ! -f "${songs[0]}" ]; then
    t_fail documents "expected 12 documents in $tmp/songs, found ${#songs[@]}"
    t_summary test_song_schema
fi

for f in "${songs[@]}"; do
    t_check "valid $(basename "$f")" "$validate" "$f"
done
t_check "valid on stdin" bash -c "$validate < '${songs[0]}'"

# break NAME REGEX JS: applies the JavaScript JS to a copy of the first
# document (as `d`), then expects the validator to refuse it saying REGEX.
good=${songs[0]}
break_doc() {
    local name=$1 pattern=$2 js=$3 out="$tmp/broken/$1.json"
    if ! node -e "
        const fs = require('fs');
        const d = JSON.parse(fs.readFileSync(process.argv[1], 'utf8'));
        $js;
        fs.writeFileSync(process.argv[2], JSON.stringify(d, null, 2));" "$good" "$out"; then
        t_fail "broken $name" "could not write the broken document"
        return
    fi
    t_check_fails "broken $name" "$pattern" "$validate" "$out"
}

break_doc gap "is not the next section's start" 'd.sections[1].start += 0.001'
break_doc overlap "is not the next section's start" 'd.sections[0].end += 0.5'
break_doc short-of-duration "is not the duration" 'd.sections[d.sections.length - 1].end -= 0.001'
break_doc late-start "/sections/0/start: must be 0" 'd.sections[0].start = 0.25'
break_doc empty-section "is not before end" 'd.sections[1].end = d.sections[1].start; d.sections[2].start = d.sections[1].start'
break_doc sub-millisecond "not whole milliseconds" 'd.sections[0].end += 0.0001; d.sections[1].start = d.sections[0].end'
break_doc no-sections "must NOT have fewer than 1 items" 'd.sections = []'
break_doc missing-title "must have required property 'title'" 'delete d.title'
break_doc extra-field "must NOT have additional properties" 'd.extra = 1'
break_doc extra-audio-field "/audio: must NOT have additional properties" 'd.audio.path = "/tmp/x.wav"'
break_doc string-bpm "/bpm: must be integer" 'd.bpm = "111"'
break_doc bad-sha256 "/audio/sha256: must match pattern" 'd.audio.sha256 = "ABC"'
break_doc audio-false "/audio: must be object,null" 'd.audio = false'
break_doc http-url "/audio/url: must match pattern" 'd.audio.url = "http://example.com/a.wav"'
break_doc bad-date "/created_at: must match format" 'd.created_at = "yesterday"'
break_doc bad-section-name "/sections/0/name: must be equal to one of the allowed values" 'd.sections[0].name = "solo"'
break_doc bad-key "/key: must match pattern" 'd.key = "H major"'
break_doc negative-timing "/timings/total_s: must be >= 0" 'd.timings.total_s = -1'
break_doc lyrics-mismatch "/lyrics: is not the sections' lines joined" 'd.lyrics = "la la la"'
break_doc wrong-version "/schema_version: must be equal to constant" 'd.schema_version = 2'
break_doc seed-too-big "/model/seed: must be <= 9007199254740992" 'd.model.seed = 2 ** 60'
# The windows (the first document: 8 s, intro, verse, chorus, in 6 windows).
break_doc window-gap "/windows/2/start: .* is not the previous end" 'd.windows[2].start += 0.02'
break_doc window-wrong-prompt "/windows/1/prompt: is not section 1's prompt" 'd.windows[1].prompt = d.sections[2].prompt'
break_doc window-straddles "/windows/2: .* is not within section 1" 'd.windows[2].end = d.windows[3].end; d.windows.splice(3, 1)'
break_doc section-change-mid-window "/sections/2: its change at 4.324 s starts no window" \
    'd.windows[2].end = d.windows[3].end; d.windows[2].section = 2; d.windows[2].prompt = d.sections[2].prompt; d.windows.splice(3, 1)'
break_doc windows-short-of-codes "/windows/4/end: .* is not the codes' length" 'd.windows.pop()'
break_doc codes-not-the-duration "/codes/shape: .* s of codes for a 8 s song" 'd.codes.shape[1] = 500; d.windows[5].end = 10'
break_doc context-before-the-song "/windows/0/context" 'd.windows[0].context = 1'
break_doc window-section-back "/windows/4/section: goes back" 'd.windows[4].section = 1; d.windows[4].prompt = d.sections[1].prompt'
break_doc prompts-not-rendered "/prompts: are not the windows' prompts" 'd.prompts = [d.prompts[0]]'
break_doc codes-without-windows "must have property windows when property codes is present" 'delete d.windows'
break_doc codes-format "/codes/format: must be equal to constant" 'd.codes.format = "wav"'
break_doc codes-shape "/codes/shape: must NOT have more than 2 items" 'd.codes.shape.push(1)'

printf '{"schema_version": 1,' >"$tmp/broken/not-json.json"
t_check_fails "not JSON" "not JSON" "$validate" "$tmp/broken/not-json.json"
t_check_fails "a missing file" "cannot read" "$validate" "$tmp/no-such-file.json"
t_check_fails "one bad among good" "gap.json: /sections/0/end" "$validate" "$good" "$tmp/broken/gap.json"

# Without its node modules the wrapper says what to do.
mkdir -p "$tmp/bare/tests/tools"
cp "$validate" "$tmp/bare/tests/tools/"
t_check_fails "no node modules" "npm ci --prefix tests/node" "$tmp/bare/tests/tools/validate-song" "$good"

t_summary test_song_schema
