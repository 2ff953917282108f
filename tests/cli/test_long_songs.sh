#!/usr/bin/env bash
# test_long_songs.sh - songs longer than one window through a real pool
# (docs/protocol.md, "Long songs"):
#
#   sections  a song of several windows succeeds; its sections tile it; its
#             windows are the schedule the contract specifies (an oracle
#             below, written from jen1.h's jen1_plan_windows rule), each
#             under its section's prompt; with the window set to the intro's
#             length, one section change falls at a window boundary and
#             later ones inside a stride, and every one starts a window
#   resume    the same song, its pool killed with kill -9 three times, each
#             time after its checkpoint advanced, with JEN1_MAX_ATTEMPTS=2:
#             each new pool resumes from the checkpoint, the job succeeds,
#             and its codes and audio are those of an uninterrupted run
#             (sha256); the checkpoint is gone, the codes stay
#   broken    a checkpoint that is no .npy, or whose length ends no window,
#             is logged and ignored: the song starts over, to the same codes;
#             cancel and the job timeout stop a long song (its checkpoint goes)
#
# The engine: JEN1_LONG_SONGS_ENGINE=tiny (default) renders with the real
# engine on a tiny random model made by jen1-mkmodel --size tiny
# --max-positions 2048 (windows of up to 40 s); =none is the paced silent
# engine (deterministic codes per window, silent audio).
# JEN1_LONG_SONGS_DURATION sets the song's length (default 150 s).
set -u
. tests/cli/lib.sh
. tests/lib/redis.sh
. tests/cli/pool.sh

tmp=$JEN1_TEST_TMP/long_songs
rm -rf "$tmp" "$JEN1_TEST_TMP"/long-*.log
mkdir -p "$tmp/blobs"
validate=tests/tools/validate-song
engine=${JEN1_LONG_SONGS_ENGINE:-tiny}
duration=${JEN1_LONG_SONGS_DURATION:-150}
narrative="A lighthouse keeper finds a message in a bottle during a storm."

cleanup() { pool_stop KILL; redis_stop; }
trap cleanup EXIT
if ! redis_start; then
    t_fail "redis-server starts" "see above"
    t_summary test_long_songs
fi
P="{$POOL_PREFIX}"

case $engine in
none)
    engine_env=(JEN1_ENGINE=none)
    paced=(JEN1_NONE_PACE=0.04) # 6 s of wall time for 150 s of song
    ;;
tiny)
    if ! "$JEN1_BUILD/jen1-mkmodel" --size tiny --max-positions 2048 \
        --spiece tests/fixtures/musicgen-tiny/model/spiece.model --out "$tmp/model" >/dev/null; then
        t_fail "jen1-mkmodel makes the tiny model" "see above"
        t_summary test_long_songs
    fi
    engine_env=(JEN1_MODEL_DIR="$tmp/model")
    paced=()
    ;;
*)
    t_fail "JEN1_LONG_SONGS_ENGINE" "is none or tiny, not '$engine'"
    t_summary test_long_songs
    ;;
esac

# long_pool NAME [VAR=value...]: a pool on the chosen engine, writing to $tmp/blobs.
long_pool() {
    local name=$1
    shift
    pool_start "$name" "${engine_env[@]}" JEN1_BLOB_URL="file://$(pwd)/$tmp/blobs" "$@" && pool_wait_ready
}

# song ID [SEED]: LPUSHes the test's song.
song() {
    rcli LPUSH "$P:queue" "{\"id\":\"$1\",\"narrative\":\"$narrative\",\"duration\":$duration,\"seed\":${2:-7}}" >/dev/null
}

sha() { sha256sum "$1" 2>/dev/null | cut -d' ' -f1; }

# ---- The uninterrupted song ------------------------------------------------------
if ! long_pool long-base; then
    t_fail "a pool on the $engine engine starts" "see above"
    t_summary test_long_songs
fi
song base
t_check "a ${duration} s song succeeds" ctl wait base --timeout 300
job_field base result >"$tmp/base.json"
t_check "base: the GeneratedSong is valid (windows tile the codes, under their sections' prompts)" \
    "$validate" "$tmp/base.json"
t_check "base: sections tile the duration" jq -e --argjson d "$duration" \
    '.sections[0].start == 0 and .sections[-1].end == $d and
     ([range(1; .sections | length) as $i | .sections[$i].start == .sections[$i - 1].end] | all)' "$tmp/base.json"
t_check "base: several windows, the later ones primed with context" \
    jq -e '(.windows | length) > 3 and ([.windows[1:][] | .context > 0] | all)' "$tmp/base.json"
t_check "base: prompts are the sections' prompts, each once" \
    jq -e '.prompts == ([.sections[].prompt] | reduce .[] as $p ([]; if index([$p]) then . else . + [$p] end))' \
    "$tmp/base.json"
t_check "base: the codes are stored next to the audio" \
    test -f "$tmp/blobs/base.codes.npy" -a "$(jq -r .codes.url "$tmp/base.json")" = "file://$(pwd)/$tmp/blobs/base.codes.npy"
t_check "base: no checkpoint left" test ! -e "$tmp/blobs/base.checkpoint.npy"
t_check "base: the codes' shape is the document's" bash -c \
    "head -c 128 '$tmp/blobs/base.codes.npy' | grep -aq \"'shape': ($(jq -r '.codes.shape | join(", ")' "$tmp/base.json")),\""
t_check "base: audio lasts the duration, within a frame" jq -e --argjson d "$duration" \
    '. as $s | ((.audio.duration - $d) | fabs) <= 1 / $s.codes.frame_rate' "$tmp/base.json"

# The same song delivered as mp3: another reader decodes it to the song's
# length, and its loudness was brought to the default target.
rcli LPUSH "$P:queue" "{\"id\":\"mp3\",\"narrative\":\"$narrative\",\"duration\":$duration,\"seed\":7,\"format\":\"mp3\"}" >/dev/null
t_check "mp3: a ${duration} s mp3 song succeeds" ctl wait mp3 --timeout 300
job_field mp3 result >"$tmp/mp3.json"
t_check "mp3: sox reads the song's length (within the encoder's padding)" \
    awk -v d="$(soxi -D "$tmp/blobs/mp3.mp3" 2>/dev/null)" -v want="$duration" 'BEGIN { exit !(d >= want - 0.02 && d <= want + 0.1) }'
t_check "mp3: its loudness is within 1 LU of the -14 LUFS target" \
    jq -e '.audio.loudness.target_lufs == -14 and ((.audio.loudness.integrated_lufs + 14) | fabs) <= 1' "$tmp/mp3.json"
pool_stop TERM

# ---- Sections and windows ----------------------------------------------------------
# The window: the intro's length, so that the first section change ends a
# whole window; the stride: 3/5 of it (audiocraft's 18 of 30 s).
rate=$(jq -r .codes.frame_rate "$tmp/base.json")
intro_frames=$(jq -r --argjson r "$rate" '.sections[1].start * $r | round' "$tmp/base.json")
stride_frames=$((intro_frames * 3 / 5))
window_s=$(awk -v f="$intro_frames" -v r="$rate" 'BEGIN { printf "%.6f", f / r }')
stride_s=$(awk -v f="$stride_frames" -v r="$rate" 'BEGIN { printf "%.6f", f / r }')
long_pool long-sections JEN1_WINDOW_SECONDS="$window_s" JEN1_STRIDE_SECONDS="$stride_s" ||
    t_fail "a pool with ${window_s} s windows starts" "see above"
song sections
t_check "sections: the song succeeds" ctl wait sections --timeout 300
job_field sections result >"$tmp/sections.json"
t_check "sections: the GeneratedSong is valid" "$validate" "$tmp/sections.json"

# The oracle: jen1_plan_windows's rule on the plan's sections, in frames.
cat >"$tmp/oracle.js" <<'EOF'
const d = JSON.parse(require('fs').readFileSync(process.argv[2], 'utf8'));
const W = +process.argv[3], S = +process.argv[4], r = d.codes.frame_rate, n = d.codes.shape[1];
const starts = d.sections.map((s, i) => (i === 0 ? 0 : Math.round(s.start * r)));
const want = [];
for (let t = 0; t < n; ) {
  const next = starts.find((f) => f > t) ?? n;
  const end = t + Math.min(t === 0 ? W : S, n - t, next - t);
  want.push({ start: t, end, context: Math.min(t, W - S), section: starts.filter((f) => f <= t).length - 1 });
  t = end;
}
const got = d.windows.map((w) => ({ start: Math.round(w.start * r), end: Math.round(w.end * r),
                                    context: Math.round(w.context * r), section: w.section }));
const fail = (m) => { console.log(m); process.exit(1); };
if (JSON.stringify(got) !== JSON.stringify(want))
  fail(`windows differ from the schedule:\n got  ${JSON.stringify(got)}\n want ${JSON.stringify(want)}`);
// Each section change starts a window; the window before it is whole (a
// boundary the schedule had anyway) or cut short (the change inside a stride).
let atBoundary = 0, insideStride = 0;
for (let i = 1; i < starts.length; i++) {
  const k = got.findIndex((w) => w.start === starts[i]);
  if (k < 1) fail(`section ${i}'s change at frame ${starts[i]} starts no window`);
  const before = got[k - 1], whole = before.start === 0 ? W : S;
  if (before.end - before.start === whole) atBoundary++; else insideStride++;
}
console.log(`${got.length} windows; section changes: ${atBoundary} at a window boundary, ${insideStride} inside a stride`);
if (!atBoundary || !insideStride) fail('expected both kinds of section change');
EOF
t_expect "sections: the windows are the plan's schedule; changes land at a boundary and inside a stride" 0 \
    "at a window boundary" node "$tmp/oracle.js" "$tmp/sections.json" "$intro_frames" "$stride_frames"
echo "    $t_out"
t_check "sections: each window is rendered under its section's prompt" \
    jq -e '. as $d | [.windows[] | .prompt == $d.sections[.section].prompt] | all' "$tmp/sections.json"
pool_stop TERM

# ---- Resume after kill -9 ------------------------------------------------------------
# Three times: wait for the job's checkpoint to pass what it was, then kill -9
# the worker and its supervisor; a new pool (another worker id) reaps the
# job and resumes it. JEN1_MAX_ATTEMPTS=2: only attempts without progress count.
kill_pool_hard() {
    local workers
    workers=$(pool_workers)
    # shellcheck disable=SC2086
    kill -9 $workers "$POOL_PID" 2>/dev/null
    wait "$POOL_PID" 2>/dev/null
    POOL_PID=
}
# wait_checkpoint ID FRAMES: until the job's checkpoint is past FRAMES; prints it.
wait_checkpoint() {
    local got
    for _ in $(seq 1 1200); do
        got=$(job_field "$1" checkpoint_frames)
        if [ -n "$got" ] && [ "$got" -gt "$2" ]; then
            echo "$got"
            return 0
        fi
        [ "$(job_field "$1" status)" = succeeded ] && return 1
        sleep 0.05
    done
    return 1
}

resumable=1
long_pool long-resume-0 "${paced[@]}" JEN1_MAX_ATTEMPTS=2 || t_fail "a paced pool starts" "see above"
song resumed
frames=0
for kill in 1 2 3; do
    if ! frames=$(wait_checkpoint resumed "$frames"); then
        t_fail "resume: a checkpoint before kill $kill" "the job has none past $frames frames (status $(job_field resumed status))"
        resumable=0
        break
    fi
    t_check "resume: kill $kill after a checkpoint of $frames frames, before the song ends" \
        test "$(job_field resumed status)" = running -a "$frames" -lt "$(jq -r '.codes.shape[1]' "$tmp/base.json")"
    kill_pool_hard
    t_check "resume: the checkpoint is in the blob store" test -s "$tmp/blobs/resumed.checkpoint.npy"
    long_pool "long-resume-$kill" "${paced[@]}" JEN1_MAX_ATTEMPTS=2 || t_fail "pool $kill starts" "see above"
done
t_check "resume: the job succeeds on the new pool" ctl wait resumed --timeout 300
job_field resumed result >"$tmp/resumed.json"
t_check "resume: the GeneratedSong is valid" "$validate" "$tmp/resumed.json"
if [ "$resumable" = 1 ]; then
    t_check "resume: 4 attempts, none without progress" \
        test "$(job_field resumed attempts)/$(job_field resumed stalled_attempts)" = 4/0
    t_check "resume: each new pool resumed from the checkpoint" \
        test "$(cat "$JEN1_TEST_TMP"/long-resume-[123].log | grep -c '"resuming from a checkpoint"')" -ge 3
fi
t_check "resume: codes identical to the uninterrupted song's (sha256)" \
    test -n "$(sha "$tmp/blobs/resumed.codes.npy")" -a "$(sha "$tmp/blobs/resumed.codes.npy")" = "$(sha "$tmp/blobs/base.codes.npy")"
t_check "resume: audio identical too (sha256)" \
    test "$(sha "$tmp/blobs/resumed.wav")" = "$(sha "$tmp/blobs/base.wav")" -a \
    "$(jq -r .audio.sha256 "$tmp/resumed.json")" = "$(jq -r .audio.sha256 "$tmp/base.json")"
t_check "resume: the same windows" test "$(jq -c .windows "$tmp/resumed.json")" = "$(jq -c .windows "$tmp/base.json")"
t_check "resume: the checkpoint is removed once the song is done" test ! -e "$tmp/blobs/resumed.checkpoint.npy"
pool_stop TERM

# ---- A checkpoint that does not fit is ignored; cancel and timeout stop a long song ----
# Two jobs whose hash says a checkpoint exists, with a broken one in the
# store: bytes that are no .npy, and codes whose length ends no window of the
# song. Each is logged and the song starts over, to the same codes.
for id in broken-ckpt short-ckpt; do
    ctl enqueue --id "$id" --narrative "$narrative" --duration "$duration" --seed 7 >/dev/null
    rcli HSET "$P:job:$id" checkpoint_frames 1000 >/dev/null
done
printf 'not a checkpoint' >"$tmp/blobs/broken-ckpt.checkpoint.npy"
node -e '
    const header = "{\x27descr\x27: \x27<i8\x27, \x27fortran_order\x27: False, \x27shape\x27: (4, 1000), }";
    const pad = 64 - ((10 + header.length + 1) % 64);
    const head = Buffer.from(header + " ".repeat(pad % 64) + "\n");
    const pre = Buffer.from([0x93, 0x4e, 0x55, 0x4d, 0x50, 0x59, 1, 0, head.length & 255, head.length >> 8]);
    require("fs").writeFileSync(process.argv[1], Buffer.concat([pre, head, Buffer.alloc(4 * 1000 * 8)]));
' "$tmp/blobs/short-ckpt.checkpoint.npy"
long_pool long-broken "${paced[@]}" || t_fail "a pool starts" "see above"
for id in broken-ckpt short-ckpt; do
    t_check "$id: the job succeeds all the same" ctl wait "$id" --timeout 300
    t_check "$id: started over, to the same codes" test "$(sha "$tmp/blobs/$id.codes.npy")" = "$(sha "$tmp/blobs/base.codes.npy")"
done
t_check "the broken checkpoints were logged and not used" \
    test "$(grep -c '"checkpoint not used: the song starts over"' "$JEN1_TEST_TMP/long-broken.log")" = 2
t_check "...saying why" grep -q "do not end a window" "$JEN1_TEST_TMP/long-broken.log"
song cancel-me
if wait_checkpoint cancel-me 0 >/dev/null; then
    t_check "cancel: jen1ctl cancel of a long song after its first checkpoint" ctl cancel cancel-me
    t_check "cancel: it ends cancelled" wait_status cancel-me cancelled 10
    t_check "cancel: its checkpoint is removed" test ! -e "$tmp/blobs/cancel-me.checkpoint.npy"
else
    t_fail "cancel: a checkpoint to cancel after" "none came"
fi
pool_stop TERM
# The time limit: a third of what the song takes (the paced engine's pace x
# duration, or the model's render of the uninterrupted song).
if [ "$engine" = none ]; then
    render_s=$(awk -v p="${paced[0]#*=}" -v d="$duration" 'BEGIN { print int(p * d) }')
else
    render_s=$(jq '.timings.total_s | floor' "$tmp/base.json")
fi
limit_s=$((render_s / 3))
long_pool long-stopped JEN1_JOB_TIMEOUT=$((limit_s > 0 ? limit_s : 1)) "${paced[@]}" || t_fail "a pool starts" "see above"
if [ "$limit_s" -ge 1 ]; then
    song too-long-for-the-timeout
    t_check "timeout: a long song past JEN1_JOB_TIMEOUT ($limit_s s) is stopped" wait_status too-long-for-the-timeout failed 60
    t_check "timeout: error timeout, no checkpoint left" \
        test "$(job_field too-long-for-the-timeout error)" = timeout -a ! -e "$tmp/blobs/too-long-for-the-timeout.checkpoint.npy"
else
    echo "skip timeout: the song renders in ${render_s} s, too fast to time out in the middle"
fi
pool_stop TERM

t_summary test_long_songs
