#!/usr/bin/env bash
# tests/cli/test_gpu_check.sh - what of the GPU path can be checked without a
# GPU: the Makefile's LibTorch prefix (TORCH_DIR: its C++ ABI and CUDA
# libraries), scripts/gpu-check's plan (--dry-run) and its refusals, and
# which packages scripts/gpu-bundle takes (--list: nothing is downloaded).
set -u
# shellcheck source=tests/cli/lib.sh
. "$(dirname "$0")/lib.sh"

tmp=$(mktemp -d "$JEN1_TEST_TMP/gpu-check.XXXXXX")
tmp=$(cd "$tmp" && pwd)
trap 'rm -rf -- "$tmp"' EXIT
unset TORCH_DIR TORCH_ABI

# A LibTorch prefix as a pip install lays it out: lib/ and share/cmake/Torch.
fake_torch() {  # fake_torch DIR ABI CUDA(0|1)
    mkdir -p "$1/lib" "$1/include" "$1/share/cmake/Torch"
    echo "set(TORCH_CXX_FLAGS \"-D_GLIBCXX_USE_CXX11_ABI=$2\")" >"$1/share/cmake/Torch/TorchConfig.cmake"
    if [ "$3" = 1 ]; then touch "$1/lib/libtorch_cuda.so"; fi
}
fake_torch "$tmp/cuda-old-abi" 0 1
fake_torch "$tmp/cpu-only" 1 0

# ---- Makefile: TORCH_DIR ----------------------------------------------------
out=$(make -s torch-flags)
# OpenMP either way: LibTorch's at::parallel_for splits work only where it is on.
if grep -qx 'TORCH_CFLAGS=-fopenmp' <<<"$out" && grep -qx 'TORCH_LIBS=-ltorch_cpu -lc10 -fopenmp' <<<"$out"; then
    t_ok "without TORCH_DIR: Debian's LibTorch, OpenMP and nothing else added"
else
    t_fail "without TORCH_DIR: Debian's LibTorch, OpenMP and nothing else added" "$out"
fi
out=$(make -s torch-flags TORCH_DIR="$tmp/cuda-old-abi")
if grep -q -- '-D_GLIBCXX_USE_CXX11_ABI=0' <<<"$out" && grep -q -- '-DJEN1_WITH_CUDA' <<<"$out" &&
    grep -q -- "-Wl,-rpath,$tmp/cuda-old-abi/lib" <<<"$out" && grep -q -- '-ltorch_cuda -lc10_cuda' <<<"$out"; then
    t_ok "TORCH_DIR: the ABI its TorchConfig.cmake names, the CUDA libraries when it has them"
else
    t_fail "TORCH_DIR: the ABI its TorchConfig.cmake names, the CUDA libraries when it has them" "$out"
fi
out=$(make -s torch-flags TORCH_DIR="$tmp/cpu-only")
if grep -q -- '-D_GLIBCXX_USE_CXX11_ABI=1' <<<"$out" && ! grep -q -- 'cuda\|CUDA' <<<"$out"; then
    t_ok "TORCH_DIR without CUDA: no CUDA define, no CUDA libraries"
else
    t_fail "TORCH_DIR without CUDA: no CUDA define, no CUDA libraries" "$out"
fi
out=$(make -s torch-flags TORCH_DIR="$tmp/cuda-old-abi" TORCH_ABI=1)
t_check "TORCH_ABI overrides what TorchConfig.cmake says" grep -q -- '-D_GLIBCXX_USE_CXX11_ABI=1' <<<"$out"

# ---- scripts/gpu-check --dry-run ---------------------------------------------
t_expect "dry run: exits 0 and says it ran nothing" 0 "dry run: nothing was built or run" \
    env TORCH_DIR="$tmp/cuda-old-abi" scripts/gpu-check --dry-run --bundle "$tmp/no-bundle"
# shellcheck disable=SC2154  # t_out: set by t_expect (lib.sh)
plan=$t_out
want_plan() {  # want_plan NAME FIXED-STRING
    if grep -qF -- "$2" <<<"$plan"; then t_ok "dry run: $1"; else t_fail "dry run: $1" "no '$2' in: $plan"; fi
}
want_plan "builds against TORCH_DIR in its own folder" "make -j"
want_plan "builds against TORCH_DIR in its own folder (flags)" "BUILD=build-gpu TORCH_DIR=$tmp/cuda-old-abi"
want_plan "names the old ABI it found" "-D_GLIBCXX_USE_CXX11_ABI=0"
want_plan "the parity suite on the GPU" "build-gpu/tests/test_parity --device cuda"
want_plan "the generation suite" "build-gpu/tests/test_generate"
want_plan "the windows suite" "build-gpu/tests/test_windows"
want_plan "a random model with musicgen-small's shapes" "jen1-mkmodel --size small"
want_plan "the benchmark at batch 1" "--batch 1"
want_plan "the benchmark at batch 32" "--batch 32"
want_plan "the bundle into the build folder" "bundled packages unpacked in build-gpu/deps"
t_check "dry run leaves no build folder" test ! -e build-gpu/gpu-check.log

t_expect "--quick: batch 1 and 32 only" 0 "--batch 32" env TORCH_DIR="$tmp/cuda-old-abi" scripts/gpu-check --dry-run --quick
if grep -q -- "--batch 64\|--bf16" <<<"$t_out"; then t_fail "--quick runs no batch 64 and no bf16" "$t_out"; else t_ok "--quick runs no batch 64 and no bf16"; fi

# ---- scripts/gpu-check: what it refuses before building anything ---------------
t_expect "no torch to import and no TORCH_DIR: says so" 1 "cannot import torch" \
    env PYTHON=false scripts/gpu-check --build "$tmp/b"
t_expect "a LibTorch without CUDA: says so" 1 "built without CUDA" \
    env TORCH_DIR="$tmp/cpu-only" scripts/gpu-check --build "$tmp/b"
t_expect "a missing bundle: says how to make one" 1 "run scripts/gpu-bundle" \
    env TORCH_DIR="$tmp/cuda-old-abi" scripts/gpu-check --build "$tmp/b" --bundle "$tmp/no-bundle"
t_expect "an unknown argument" 2 "unknown argument" scripts/gpu-check --gpu

# ---- scripts/gpu-bundle --list ---------------------------------------------------
t_expect "gpu-bundle --list: exits 0" 0 "" scripts/gpu-bundle --list
manifest=$t_out
missing=''
for p in libhiredis-dev libevent-dev libcurl4-openssl-dev libssl-dev libjansson-dev libsndfile1-dev \
    libebur128-dev libpcre2-dev libutf8proc-dev; do
    grep -q "^dev $p=" <<<"$manifest" || missing="$missing $p"
done
if [ -z "$missing" ]; then t_ok "the -dev package of every -l of the link line"; else
    t_fail "the -dev package of every -l of the link line" "missing:$missing"; fi
missing=''
for p in libhiredis0.14 libjansson4 libsndfile1 libcurl4 libssl3 libflac12; do
    grep -q "^run $p=" <<<"$manifest" || missing="$missing $p"
done
if [ -z "$missing" ]; then t_ok "the runtime libraries, those they load too (libsndfile1 -> libflac12)"; else
    t_fail "the runtime libraries, those they load too (libsndfile1 -> libflac12)" "missing:$missing"; fi
if grep -qE ' (libc6|libstdc\+\+6|libgcc-s1|libtorch[^=]*)=' <<<"$manifest"; then
    t_fail "no C runtime, no LibTorch" "$manifest"
else
    t_ok "no C runtime, no LibTorch"
fi

t_summary test_gpu_check
