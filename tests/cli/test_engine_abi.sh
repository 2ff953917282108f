#!/usr/bin/env bash
# tests/cli/test_engine_abi.sh - the engine as a shared library
# (build/lib/libjen1.so, built by `make shared` and `make tests`):
#   - it exports exactly the JEN1_API functions of the public headers (jen1.h,
#     jen1_stages.h, jen1_text.h, jen1_text_stages.h),
#     and every function those headers declare is marked JEN1_API;
#   - the engine's objects were compiled with hidden visibility: none defines
#     a strong default-visibility symbol but jen1_* (the weak ones that flag
#     cannot hide - libstdc++ and LibTorch header instantiations - are kept
#     local by shim/libjen1.map);
#   - a C program linked against it alone (no static engine) loads the tiny
#     model, generates, takes an item's audio and codes and frees them with
#     jen1_free.
set -u
cd "$(dirname "$0")/../.."
. tests/cli/lib.sh

lib=$JEN1_BUILD/lib/libjen1.so
if [ ! -f "$lib" ]; then
    t_fail "$lib exists" "run make shared (or make tests)"
    t_summary test_engine_abi
fi
headers=(shim/include/jen1.h shim/include/jen1_stages.h shim/include/jen1_text.h shim/include/jen1_text_stages.h)

# ---- What the library exports ----------------------------------------------------
exported=$(nm -D --defined-only "$lib" | awk '{print $NF}' | sort)
strays=$(grep -v '^jen1_' <<<"$exported")
if [ -z "$strays" ]; then
    t_ok "libjen1.so exports only jen1_* symbols"
else
    t_fail "libjen1.so exports only jen1_* symbols" "$(wc -l <<<"$strays") others"
    t_show_output "$(c++filt <<<"$strays")"
fi

# Every function declared at the start of a line in the public headers.
declared=$(cat "${headers[@]}" | grep -oE '^[A-Za-z].*[ *]jen1_[a-z0-9_]+\(' |
    grep -v '^typedef' | grep -oE 'jen1_[a-z0-9_]+\($' | tr -d '(' | sort)
unmarked=$(cat "${headers[@]}" | grep -E '^[A-Za-z].*[ *]jen1_[a-z0-9_]+\(' | grep -vE '^(JEN1_API|typedef) ')
if [ -z "$unmarked" ]; then
    t_ok "every function of the public headers is marked JEN1_API"
else
    t_fail "every function of the public headers is marked JEN1_API" "unmarked:"
    t_show_output "$unmarked"
fi
if [ "$(wc -l <<<"$declared")" -ge 20 ] && [ "$declared" = "$(grep '^jen1_' <<<"$exported")" ]; then
    t_ok "the exports are exactly the headers' $(wc -l <<<"$declared") functions"
else
    t_fail "the exports are exactly the headers' functions" "declared vs exported:"
    t_show_output "$(diff <(echo "$declared") <(grep '^jen1_' <<<"$exported"))"
fi

# ---- Hidden visibility on the engine's objects -----------------------------------
objects=$(find "$JEN1_BUILD/obj/shim/core" "$JEN1_BUILD/obj/shim/musicgen" "$JEN1_BUILD/obj/shim/qwen2" \
    "$JEN1_BUILD/obj/shim/tokenizer" -name '*.o' 2>/dev/null)
if [ -z "$objects" ]; then
    t_fail "the engine's objects are in $JEN1_BUILD/obj/shim" "none found"
else
    # readelf -sW: Num Value Size Type Bind Vis Ndx Name
    visible=$(for o in $objects; do readelf -sW "$o"; done |
        awk '$5 == "GLOBAL" && $6 == "DEFAULT" && $7 != "UND" && $8 !~ /^jen1_/ {print $8}' | sort -u)
    if [ -z "$visible" ]; then
        t_ok "the engine's objects define no default-visibility symbol but jen1_*"
    else
        t_fail "the engine's objects define no default-visibility symbol but jen1_*" \
            "compiled without -fvisibility=hidden? (a build from before it: rm -rf $JEN1_BUILD/obj/shim $JEN1_BUILD/lib)"
        t_show_output "$visible"
    fi
fi

# ---- A program linked against the shared library alone ---------------------------
src=$JEN1_TEST_TMP/engine_abi_client.c
bin=$JEN1_TEST_TMP/engine_abi_client
cat >"$src" <<'EOF'
#include <stdio.h>
#include <string.h>

#include "jen1_stages.h"

int main(int argc, char **argv)
{
    char err[512];
    jen1_model_params mp = jen1_model_default_params();
    mp.device = JEN1_DEVICE_CPU;
    mp.n_threads = 1;
    jen1_model *model;
    if (argc != 2 || jen1_model_load(argv[1], &mp, &model, err, sizeof err) != JEN1_OK) {
        fprintf(stderr, "load: %s\n", argc == 2 ? err : "usage: client MODEL_DIR");
        return 1;
    }
    int64_t ids[64];
    int n_ids = 0;
    if (jen1_tokenize(model, "soft rain", ids, 64, &n_ids, err, sizeof err) != JEN1_OK || n_ids < 1) {
        fprintf(stderr, "tokenize: %s\n", err);
        return 1;
    }
    jen1_generate_params gp = jen1_generate_default_params(model);
    jen1_request req = {.prompt = "soft rain", .n_frames = 3, .seed = 7};
    jen1_output *out;
    if (jen1_generate(model, &req, 1, &gp, &out, err, sizeof err) != JEN1_OK) {
        fprintf(stderr, "generate: %s (%s)\n", err, jen1_status_name(JEN1_ERR_INTERNAL));
        return 1;
    }
    float *audio = out->items[0].audio;
    int64_t *codes = out->items[0].codes, n_samples = out->items[0].n_samples;
    out->items[0].audio = NULL;
    out->items[0].codes = NULL;
    jen1_output_free(out);
    printf("tokens %d samples %lld last %g code %lld\n", n_ids, (long long)n_samples,
           (double)audio[n_samples - 1], (long long)codes[0]);
    jen1_free(audio);
    jen1_free(codes);
    jen1_model_free(model);
    return 0;
}
EOF
# A sanitizer build's library needs the program built with the same runtime.
cflags=()
nm -D --undefined-only "$lib" | grep -q ' __asan_' && cflags+=(-fsanitize=address,undefined)
libdir=$(cd "$(dirname "$lib")" && pwd)
if ${CC:-cc} -std=c11 -Wall -Wextra -Werror "${cflags[@]}" -Ishim/include -o "$bin" "$src" \
    -L"$libdir" -ljen1 -Wl,-rpath,"$libdir" >"$bin.log" 2>&1; then
    t_ok "a C program links against libjen1.so alone"
    t_check "it loads the tiny model, generates, takes the audio and frees it with jen1_free" \
        "$bin" "${JEN1_FIXTURES:-tests/fixtures/musicgen-tiny}/model"
    t_check "the program's engine is the shared library" \
        bash -c "ldd '$bin' | grep -q '$libdir/libjen1.so'"
else
    t_fail "a C program links against libjen1.so alone" "see below"
    t_show_output "$(cat "$bin.log")"
fi

t_summary test_engine_abi
