#!/usr/bin/env bash
# tests/cli/test_demo.sh - the README's first command, as a newcomer runs it:
# `make demo` in a tree that has never been built (no build/, no model
# cache), which must set up, build, generate the tiny model, run the pool and
# print a GeneratedSong whose audio file exists.
#
# The tree is a copy of this checkout's tracked and untracked-but-not-ignored
# files (what a fresh clone of it would hold), so the test sees the change at
# hand, not the last commit.
set -u
cd "$(dirname "$0")/../.."
. tests/cli/lib.sh

# The demo builds its own tree with the default flags, so the sanitizer pass
# (tests/run build-asan) would only repeat this run word for word.
if [ "$JEN1_BUILD" != build ]; then
    echo "skip test_demo: it builds its own tree; it runs in the default pass only"
    t_summary test_demo
fi

tree=$(mktemp -d "$JEN1_TEST_TMP/demo.XXXXXX")
trap 'rm -rf "$tree"' EXIT
git ls-files -z --cached --others --exclude-standard |
    while IFS= read -r -d '' f; do [ -e "$f" ] && printf '%s\0' "$f"; done |
    tar --null -T - -cf - | tar -xf - -C "$tree"

if [ -e "$tree/build" ]; then
    t_fail "the copy has no build/" "build/ is tracked or not ignored"
fi

out=$(cd "$tree" && JEN1_MODEL_DIR="$tree/no-model-here" timeout 900 make demo \
        NARRATIVE="A lighthouse keeper finds a message in a bottle." DURATION=3 2>&1)
rc=$?
if [ "$rc" -eq 0 ]; then
    t_ok "make demo succeeds in a never-built tree"
else
    t_fail "make demo succeeds in a never-built tree" "exited $rc"
    t_show_output "$(tail -n 30 <<<"$out")"
fi
t_check "it says loudly that the model is a tiny random one" grep -q "THE AUDIO IS NOISE" <<<"$out"
t_check "it generated the tiny model under build/models" test -f "$tree/build/models/tiny-demo/model.safetensors"

song=$(sed -n '/^{/,/^}/p' <<<"$out")
t_check "it prints the GeneratedSong" jq -e '.title and .lyrics and (.sections | length > 0)' <<<"$song"
t_check "the song lasts what was asked" jq -e '.audio.duration == 3' <<<"$song"
audio=$(sed -n 's/^demo: audio file: //p' <<<"$out")
if [ -n "$audio" ] && [ -s "$audio" ]; then
    t_ok "the audio file it names exists"
else
    t_fail "the audio file it names exists" "'$audio'"
fi

t_summary test_demo
