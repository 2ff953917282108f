#!/usr/bin/env bash
# tests/cli/test_layout.sh - the rooms of README.md's layout table hold: each
# folder is compiled with its own include paths (the Makefile's INC.* table),
# so a file can reach only what its room may use. Each probe compiles a
# one-line file with a room's flags: headers the room may use must be found,
# headers of rooms above it or beside it must not. No source steps around the
# rule with a relative path.
set -u
cd "$(dirname "$0")/../.."
. tests/cli/lib.sh

tmp=$(mktemp -d "$JEN1_TEST_TMP/layout.XXXXXX")
trap 'rm -rf "$tmp"' EXIT

# probe ROOM HEADER reachable|unreachable
probe() {
    local room=$1 header=$2 expect=$3 flags rc=0
    flags=$(make -s room-includes ROOM="$room") || { t_fail "$room is a room" "make room-includes failed"; return; }
    printf '#include "%s"\n' "$header" >"$tmp/probe.c"
    # shellcheck disable=SC2086
    cc -std=c11 -D_GNU_SOURCE -fsyntax-only $flags "$tmp/probe.c" >"$tmp/out" 2>&1 || rc=$?
    if [ "$expect" = reachable ] && [ "$rc" -eq 0 ]; then
        t_ok "$room may include $header"
    elif [ "$expect" = unreachable ] && grep -q "$header: No such file" "$tmp/out"; then
        t_ok "$room cannot include $header"
    else
        t_fail "$room and $header" "expected $expect; the compiler said: $(head -n 3 "$tmp/out")"
    fi
}

# common/: the base every program uses, reaching nothing above it.
probe common errbuf.h reachable
for h in queue.h blob.h planner.h song.h config.h metrics.h http.h safetensors.h spm.h; do
    probe common "$h" unreachable
done
# The three libraries beside each other use the base only.
for room in common/queue common/blob common/song; do
    probe "$room" log.h reachable
    for h in config.h metrics.h engine.h safetensors.h; do probe "$room" "$h" unreachable; done
done
probe common/queue blob.h unreachable
probe common/queue planner.h unreachable
probe common/blob queue.h unreachable
probe common/song queue.h unreachable
probe common/song blob.h unreachable
# shim/qwen2/: the language model sees shim/core and the tokenizers, never MusicGen's insides nor the daemon.
for h in bpe.h chat_template.h safetensors.h text_config.h jen1_text.h; do probe shim/qwen2 "$h" reachable; done
for h in musicgen.hpp spm.h queue.h blob.h song.h planner.h config.h http.h; do probe shim/qwen2 "$h" unreachable; done
# worker/: the common rooms and the engine's public header, never its insides.
for h in queue.h blob.h song.h jen1.h log.h; do probe worker "$h" reachable; done
for h in safetensors.h model_config.h matvec.h sampler.h spm.h bpe.h chat_template.h; do probe worker "$h" unreachable; done
# shim/: the engine knows nothing of Redis, blobs, songs or the daemon.
for room in shim/core shim/tokenizer/spm shim/tokenizer/bpe shim/tokenizer/chat shim/musicgen; do
    for h in queue.h blob.h song.h planner.h config.h http.h; do probe "$room" "$h" unreachable; done
done
probe shim/tokenizer/spm safetensors.h unreachable
# The tokenizers stand alone: the model's files and each other are out of reach.
for room in shim/tokenizer/bpe shim/tokenizer/chat; do
    probe "$room" buf.h reachable
    for h in safetensors.h spm.h jen1.h; do probe "$room" "$h" unreachable; done
done
probe shim/tokenizer/bpe chat_template.h unreachable
probe shim/tokenizer/chat bpe.h unreachable

# Nobody steps around the include paths with a relative or room-qualified path.
found=$(grep -rnE '#[[:space:]]*include[[:space:]]*"([.][.]/|(common|shim|worker|queue|blob|song|core|musicgen|tokenizer|include)/)' \
    common worker shim tests scripts --include='*.c' --include='*.h' --include='*.cpp' --include='*.hpp' || true)
if [ -z "$found" ]; then
    t_ok "no include names a path through another folder"
else
    t_fail "no include names a path through another folder" "$found"
fi

# The job loop reaches the engine through worker/engine*.h alone (engine.h:
# the music model; engine_writer.h and engine_writer_batch.h: the language
# model writing the words):
# no other daemon file includes the engine's headers or calls into them
# (config.h uses its jen1_device type and nothing else).
found=$(grep -ln '#include "jen1' worker/*.c worker/*.h | grep -vE -e '^worker/engine(_[a-z]+)*\.[ch]$' -e '^worker/config\.h$')
calls=$(grep -nE '\bjen1_(model|generate|output|free|torch|tokenize|encode|decode|text)[a-z_]*\(' worker/*.c |
        grep -vE '^worker/engine(_[a-z]+)*\.c:')
if [ -z "$found$calls" ]; then
    t_ok "only worker/engine*.c talk to the engine"
else
    t_fail "only worker/engine*.c talk to the engine" "$found $calls"
fi

# Every folder with sources has a room (make would stop on one without).
missing=
while IFS= read -r dir; do
    make -s room-includes ROOM="$dir" >/dev/null 2>&1 || missing="$missing $dir"
done < <(find common worker shim tests -name '*.c' -o -name '*.cpp' | xargs -n1 dirname | sort -u |
         grep -v -e '^tests/fuzz$' -e '^tests/spm_oracle$' -e '^tests/cli$')
if [ -z "$missing" ]; then t_ok "every source folder has a room"; else t_fail "every source folder has a room" "$missing"; fi

# Only what runs the engine links LibTorch: the Makefile's TORCH_TESTS and
# the engine's programs. jen1ctl, jen1-mkmodel and the plain-C tests do not.
torch_tests=$(make -s -pn 2>/dev/null | sed -n 's/^TORCH_TESTS := //p' | head -n 1)
for bin in "$JEN1_BUILD"/tests/test_* "$JEN1_BUILD/jen1ctl" "$JEN1_BUILD/jen1-mkmodel" "$JEN1_BUILD/jen1-worker"; do
    [ -x "$bin" ] || continue
    name=$(basename "$bin")
    links=no
    ldd "$bin" | grep -q 'libtorch' && links=yes
    want=no
    case " $torch_tests jen1-worker " in *" $name "*) want=yes ;; esac
    if [ "$links" = "$want" ]; then
        t_ok "$name links LibTorch: $want"
    else
        t_fail "$name links LibTorch: $want" "it does: $links"
    fi
done

t_summary test_layout
