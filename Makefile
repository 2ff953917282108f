# jen1 - build, test and benchmark.
#
#   make            build every program into build/
#   make shared     the engine alone as build/lib/libjen1.so (exports jen1_* only)
#   make test       build, then run every test; ends with "N passed, N failed"
#   make test-asan  the C unit tests again under AddressSanitizer + UBSan
#   make bench      engine benchmarks, written to BENCHMARKS.md
#   make chaos      kill -9, Redis restarts, blob outages, drain (CHAOS_QUICK=1: short)
#
# LibTorch comes from Debian's libtorch-dev by default. For another LibTorch
# set TORCH_DIR to its root: the unpacked zip (Dockerfile.gpu) or a PyTorch
# install's torch/ package folder (scripts/gpu-check). Build it into its own
# BUILD folder: objects of two LibTorch builds must not mix.

# Plain `make` builds everything, whichever helper target comes first below.
.DEFAULT_GOAL := all

CC  ?= cc
CXX ?= g++
BUILD ?= build
NVCC ?= $(shell command -v nvcc 2>/dev/null || ls /usr/local/cuda/bin/nvcc 2>/dev/null)

OPT      ?= -O2
WARN     := -Wall -Wextra
DEPFLAGS := -MMD -MP
CFLAGS   += -std=c11 $(OPT) -g $(WARN) -D_GNU_SOURCE $(DEPFLAGS)
CXXFLAGS += -std=c++17 $(OPT) -g $(WARN) $(DEPFLAGS)
LDFLAGS  +=

ifdef TORCH_DIR
TORCH_CUDA   := $(wildcard $(TORCH_DIR)/lib/libtorch_cuda.so)
# The C++ ABI LibTorch was built with, as its TorchConfig.cmake says (PyTorch's
# pip wheels used the old ABI up to 2.6); 1 when it says nothing.
TORCH_CONFIG := $(TORCH_DIR)/share/cmake/Torch/TorchConfig.cmake
TORCH_ABI    ?= $(or $(shell sed -n 's/.*_GLIBCXX_USE_CXX11_ABI=\([01]\).*/\1/p' '$(TORCH_CONFIG)' 2>/dev/null | head -n 1),1)
# CUDA graphs (shim/musicgen/decoder_graph.cpp) need the CUDA runtime's
# headers, which a torch wheel does not ship: the toolkit's, where nvcc is.
CUDA_HOME    ?= $(or $(patsubst %/bin/nvcc,%,$(shell command -v nvcc 2>/dev/null)),/usr/local/cuda)
TORCH_CUDA_GRAPHS := $(if $(TORCH_CUDA),$(wildcard $(CUDA_HOME)/include/cuda_runtime_api.h))
TORCH_CFLAGS := $(if $(TORCH_CUDA),-DJEN1_WITH_CUDA) \
                $(if $(TORCH_CUDA_GRAPHS),-DJEN1_WITH_CUDA_GRAPHS -isystem $(CUDA_HOME)/include) \
                -isystem $(TORCH_DIR)/include -isystem $(TORCH_DIR)/include/torch/csrc/api/include -D_GLIBCXX_USE_CXX11_ABI=$(TORCH_ABI)
TORCH_LIBS   := -L$(TORCH_DIR)/lib -Wl,-rpath,$(TORCH_DIR)/lib -Wl,--no-as-needed -ltorch -ltorch_cpu \
                $(if $(TORCH_CUDA),-ltorch_cuda -lc10_cuda) -Wl,--as-needed -lc10
else
TORCH_CFLAGS :=
TORCH_LIBS   := -ltorch_cpu -lc10
endif
# LibTorch's at::parallel_for is a header template that splits its work over
# threads only where it is compiled with OpenMP (its ParallelOpenMP.h; LibTorch
# itself is built with it): without -fopenmp every parallel_for of ours (the
# decoder's linears, attention, EnCodec's gates) runs on one thread.
TORCH_CFLAGS += -fopenmp
TORCH_LIBS   += -fopenmp

# PCRE2 and utf8proc: the BPE tokenizer's pre-tokenisation regex and NFC.
TOKENIZER_LIBS := -lpcre2-8 -lutf8proc
BASE_LIBS := -lhiredis -levent -lcurl -lssl -lcrypto -ljansson -lsndfile -lebur128 $(TOKENIZER_LIBS) -lm -lpthread

# What a LibTorch build is compiled and linked with, and the plain libraries
# every program links: tests/cli/test_gpu_check.sh and scripts/gpu-bundle ask.
#   make -s torch-flags [TORCH_DIR=...]    make -s base-libs
torch-flags:
	@echo 'TORCH_CFLAGS=$(TORCH_CFLAGS)'
	@echo 'TORCH_LIBS=$(TORCH_LIBS)'
base-libs:
	@echo '$(BASE_LIBS)'
.PHONY: torch-flags base-libs

# ---- Rooms ---------------------------------------------------------------
# One folder per library. A source file is compiled with the include paths of
# its folder's room and nothing else, so the compiler holds the lines of
# README.md's layout table: arrows point down only (worker -> common, shim's
# public headers; common/* -> common; nothing outside shim/ sees a shim
# internal). A file's own folder is always searched first ("...").
# shim/include holds public headers only (jen1.h: plain C, no LibTorch to
# compile against), so common/ and common/song/ may see it: the job and the
# GeneratedSong carry the engine's own jen1_sampling, not a copy of it.
INC.common              := common shim/include
INC.common/queue        := common
INC.common/blob         := common
INC.common/song         := common shim/include
INC.shim/core           := common shim/include
INC.shim/tokenizer/spm  := common
INC.shim/tokenizer/bpe  := common
INC.shim/tokenizer/chat := common
INC.shim/musicgen       := common shim/include shim/core shim/tokenizer/spm
# The language model loads its checkpoint's tokenizer and chat template.
INC.shim/qwen2          := common shim/include shim/core shim/tokenizer/bpe shim/tokenizer/chat
INC.shim/tools          := common shim/include shim/core shim/tokenizer/spm
INC.shim/tools/mkmodel  := $(INC.shim/tools)
# jen1-write writes a song's words exactly as the worker does: it plans with
# common/song and links the worker's writer (worker/engine_writer.o and
# engine_writer_batch.o), so its room sees those; the rest of shim/tools does not.
INC.shim/tools/write    := common common/song shim/include worker
INC.worker              := common common/queue common/blob common/song shim/include
# Tests, benchmarks and test tools may look inside every room.
INC.tests               := tests common common/queue common/blob common/song worker shim/include \
                           shim/core shim/tokenizer/spm shim/tokenizer/bpe shim/tokenizer/chat
INC.tests/unit          := $(INC.tests)
INC.tests/bench         := $(INC.tests)
INC.tests/tools         := $(INC.tests)
INC.tests/spm_oracle    := $(INC.tests)
# -I flags of the room of $< (a folder missing from the table is an error).
room_includes = $(addprefix -I,$(or $(INC.$(patsubst %/,%,$(dir $<))),$(error $<: its folder has no room in the Makefile)))

# The -I flags of one room, for tests/cli/test_layout.sh: make -s room-includes ROOM=worker
room-includes:
	@echo $(addprefix -I,$(or $(INC.$(ROOM)),$(error ROOM=$(ROOM) is not a room)))
.PHONY: room-includes

# ---- Libraries, one per room ---------------------------------------------
srcs = $(wildcard $(1)/*.c)
objs = $(patsubst %.c,$(BUILD)/obj/%.o,$(patsubst %.cpp,$(BUILD)/obj/%.o,$(1)))

# common: errors, buffers, npy, audio, the job, text, logging; queue: the Redis
# contract; blob: file:// and s3://; song: planner, lyrics, GeneratedSong;
# core: the engine's plain-C parts (no LibTorch); engine: jen1.h over LibTorch.
LIB_COMMON := $(BUILD)/lib/libjen1common.a
LIB_QUEUE  := $(BUILD)/lib/libjen1queue.a
LIB_BLOB   := $(BUILD)/lib/libjen1blob.a
LIB_SONG   := $(BUILD)/lib/libjen1song.a
LIB_CORE   := $(BUILD)/lib/libjen1core.a
LIB_ENGINE := $(BUILD)/lib/libjen1.a

$(LIB_COMMON): $(call objs,$(call srcs,common))
$(LIB_QUEUE):  $(call objs,$(call srcs,common/queue))
$(LIB_BLOB):   $(call objs,$(call srcs,common/blob))
$(LIB_SONG):   $(call objs,$(call srcs,common/song))
TOKENIZER_SRC := $(call srcs,shim/tokenizer/spm) $(call srcs,shim/tokenizer/bpe) $(call srcs,shim/tokenizer/chat)
ENGINE_CXX_SRC := $(wildcard shim/core/*.cpp shim/musicgen/*.cpp shim/qwen2/*.cpp)
$(LIB_CORE):   $(call objs,$(call srcs,shim/core) $(TOKENIZER_SRC))
$(LIB_ENGINE): $(call objs,$(ENGINE_CXX_SRC))
LIBS := $(LIB_COMMON) $(LIB_QUEUE) $(LIB_BLOB) $(LIB_SONG) $(LIB_CORE) $(LIB_ENGINE)
$(LIBS):
	@mkdir -p $(dir $@)
	rm -f $@ && ar rcs $@ $^

# The engine behind jen1.h: core, musicgen and the tokenizer. Its objects are
# compiled with hidden visibility, so only what the headers mark JEN1_API
# leaves a shared build, and as position-independent code, so that the same
# objects serve the static programs and build/lib/libjen1.so (make shared).
# The objects of common/ the engine calls (errbuf, buf, util) come in from
# libjen1common.a, whose objects are position-independent too. shim/libjen1.map keeps all but jen1_* local, and says what
# hidden visibility alone cannot hide.
ENGINE_OBJS := $(call objs,$(call srcs,shim/core) $(TOKENIZER_SRC) $(ENGINE_CXX_SRC))
$(ENGINE_OBJS): CFLAGS += -fvisibility=hidden -fPIC
$(ENGINE_OBJS): CXXFLAGS += -fvisibility=hidden -fvisibility-inlines-hidden -fPIC
$(call objs,$(call srcs,common)): CFLAGS += -fPIC
LIB_SHARED := $(BUILD)/lib/libjen1.so
$(LIB_SHARED): $(ENGINE_OBJS) $(LIB_COMMON) shim/libjen1.map
	@mkdir -p $(dir $@)
	$(CXX) $(LDFLAGS) -shared -Wl,-soname,libjen1.so -Wl,--version-script=shim/libjen1.map -o $@ \
	    $(ENGINE_OBJS) $(LIB_COMMON) $(TORCH_LIBS) -ljansson -lcrypto $(TOKENIZER_LIBS) -lm -lpthread

# Everything plain C, in link order; LibTorch programs add the engine first.
PLAIN_LIBS := $(LIB_SONG) $(LIB_BLOB) $(LIB_QUEUE) $(LIB_CORE) $(LIB_COMMON)
LINK_C     = $(CC) $(LDFLAGS) -o $@ $(filter %.o,$^) $(PLAIN_LIBS) $(BASE_LIBS)
LINK_TORCH = $(CXX) $(LDFLAGS) -o $@ $(filter %.o,$^) $(LIB_ENGINE) $(PLAIN_LIBS) $(TORCH_LIBS) $(BASE_LIBS)

$(BUILD)/obj/%.o: %.c
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) $(room_includes) -c $< -o $@

# The matvec kernels pick AVX-512/AVX2 at run time, so they are compiled
# with per-function target attributes, not with -march flags.
$(BUILD)/obj/%.o: %.cpp
	@mkdir -p $(dir $@)
	$(CXX) $(CXXFLAGS) $(TORCH_CFLAGS) $(room_includes) -c $< -o $@

# ---- Programs --------------------------------------------------------------
TOOLS := $(BUILD)/jen1-gen $(BUILD)/jen1-mkmodel $(BUILD)/jen1-worker $(BUILD)/jen1ctl $(BUILD)/jen1-write

.PHONY: all test test-asan bench clean tools tests demo chaos shared
# Keep intermediate objects (the tests' .o files) so that a second make does nothing.
.SECONDARY:
all: $(TOOLS)
tools: $(TOOLS)
shared: $(LIB_SHARED)

$(BUILD)/jen1-gen: $(BUILD)/obj/shim/tools/gen.o $(LIBS)
	$(LINK_TORCH)

$(BUILD)/jen1-write: $(call objs,$(call srcs,shim/tools/write)) $(BUILD)/obj/worker/engine_writer.o $(BUILD)/obj/worker/engine_writer_batch.o $(LIBS)
	$(LINK_TORCH)

# jen1-mkmodel writes checkpoints with the plain-C safetensors writer: no LibTorch.
$(BUILD)/jen1-mkmodel: $(call objs,$(call srcs,shim/tools/mkmodel)) $(LIBS)
	$(LINK_C)

# The daemon is every worker/*.c but jen1ctl's; jen1ctl needs no engine.
WORKER_SRC := $(filter-out worker/jen1ctl%.c,$(wildcard worker/*.c))
$(BUILD)/jen1-worker: $(call objs,$(WORKER_SRC)) $(LIBS)
	$(LINK_TORCH)

$(BUILD)/jen1ctl: $(call objs,$(wildcard worker/jen1ctl*.c)) $(LIBS)
	$(LINK_C)

$(BUILD)/jen1-bench: $(BUILD)/obj/tests/bench/engine_bench.o $(BUILD)/obj/tests/bench/proc_status.o $(LIBS)
	$(LINK_TORCH)

# bf16 / int8 logits against fp32 (scripts/bench, BENCHMARKS.md's int8 section).
$(BUILD)/jen1-drift: $(BUILD)/obj/tests/bench/weights_drift.o $(LIBS)
	$(LINK_TORCH)

$(BUILD)/jen1-text-bench: $(BUILD)/obj/tests/bench/text_bench.o $(BUILD)/obj/tests/bench/proc_status.o $(LIBS)
	$(LINK_TORCH)

$(BUILD)/jen1-queue-bench: $(BUILD)/obj/tests/bench/queue_bench.o $(LIBS)
	$(LINK_C)

# tests/cli/test_spm_parity.sh: shim/tokenizer/spm alone (spm-encode) against
# the real libsentencepiece (spm-oracle), which must not share a process with
# LibTorch (its bundled protobuf clashes with LibTorch's).
SPM_TOOLS := $(BUILD)/spm-oracle $(BUILD)/spm-encode
$(BUILD)/spm-oracle: tests/spm_oracle/oracle.cpp
	@mkdir -p $(dir $@)
	$(CXX) -std=c++17 -O2 $(WARN) -o $@ $< -lsentencepiece_train -lsentencepiece

$(BUILD)/spm-encode: $(BUILD)/obj/tests/spm_oracle/encode.o $(LIBS)
	$(LINK_C)

$(BUILD)/npycmp $(BUILD)/blobctl $(BUILD)/stedit: $(BUILD)/%: $(BUILD)/obj/tests/tools/%.o $(LIBS)
	$(LINK_C)

# ---- Tests -------------------------------------------------------------------
# A unit test links LibTorch only when it runs the engine (TORCH_TESTS); the
# others are plain C. TEST_OBJ_<name> adds the daemon's objects a test drives.
UNIT_SRC    := $(wildcard tests/unit/test_*.c)
UNIT_BIN    := $(UNIT_SRC:tests/unit/%.c=$(BUILD)/tests/%)
TORCH_TESTS := test_parity test_generate test_model_load test_continuation test_windows \
               test_text_parity test_text_load test_text_generate test_text_api test_writer \
               test_text_checkpoint test_text_prompt_cache test_session test_text_session
TEST_OBJ_test_http    := $(patsubst worker/%.c,$(BUILD)/obj/worker/%.o,$(wildcard worker/http*.c))
TEST_OBJ_test_http_tokens := $(BUILD)/obj/worker/http_tokens.o $(BUILD)/obj/worker/http_host.o
TEST_OBJ_test_http_prefer := $(BUILD)/obj/worker/http_prefer.o
TEST_OBJ_test_http_offload := $(BUILD)/obj/worker/http_offload.o
TEST_OBJ_test_config  := $(BUILD)/obj/worker/config.o
TEST_OBJ_test_metrics := $(BUILD)/obj/worker/metrics.o
TEST_OBJ_test_writer  := $(BUILD)/obj/worker/engine_writer.o $(BUILD)/obj/worker/engine_writer_batch.o

.SECONDEXPANSION:
$(BUILD)/tests/%: $(BUILD)/obj/tests/unit/%.o $$(TEST_OBJ_$$*) $(LIBS)
	@mkdir -p $(dir $@)
	$(if $(filter $*,$(TORCH_TESTS)),$(LINK_TORCH),$(LINK_C))

TEST_TOOLS := $(SPM_TOOLS) $(BUILD)/npycmp $(BUILD)/blobctl $(BUILD)/stedit
# tests/cli/test_engine_abi.sh inspects and links the shared build.
tests: $(UNIT_BIN) $(TEST_TOOLS) $(LIB_SHARED)

test: all tests
	@tests/run $(BUILD)

# Sanitizer build: everything again in build-asan/ with ASan + UBSan.
test-asan:
	$(MAKE) BUILD=build-asan OPT="-O1 -fsanitize=address,undefined -fno-omit-frame-pointer" \
	    LDFLAGS="-fsanitize=address,undefined" all tests
	ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 \
	    tests/run build-asan

bench: all $(BUILD)/jen1-bench $(BUILD)/jen1-drift $(BUILD)/jen1-text-bench $(BUILD)/jen1-queue-bench
	@scripts/bench $(BUILD)
	@scripts/bench-queue $(BUILD)

# Crash, restart and outage scenarios against real processes (tests/chaos/run):
# make chaos [CHAOS_QUICK=1] [CHAOS_JOBS=N]
chaos: all tests
	@JEN1_BUILD=$(BUILD) CHAOS_JOBS=$(CHAOS_JOBS) CHAOS_QUICK=$(CHAOS_QUICK) tests/chaos/run

# The main job on one machine: make demo NARRATIVE="..." DURATION=8
demo:
	@scripts/demo "$(NARRATIVE)" "$(DURATION)"

# libFuzzer targets (tests/fuzz/README.md), built with clang straight from the
# C files each one exercises (no LibTorch) into build-fuzz/. make fuzz runs
# each for FUZZ_SECONDS at random and fails on any crash: new findings are made
# there. make fuzz-smoke is CI's deterministic pass. FUZZ_TARGETS="job http"
# picks some.
FUZZ_BUILD   ?= build-fuzz
FUZZ_SECONDS ?= 60
FUZZ_CC      ?= clang
FUZZ_CFLAGS  := -std=c11 -O1 -g -D_GNU_SOURCE $(WARN) $(addprefix -I,$(INC.tests)) -fno-omit-frame-pointer \
                -fsanitize=fuzzer,address,undefined -fno-sanitize-recover=undefined
FUZZ_TARGETS ?= job safetensors config spm spm_text http redis_url npy bpe

FUZZ_SPM_SRC          := $(wildcard shim/tokenizer/spm/*.c) common/errbuf.c common/buf.c
FUZZ_SRC_job          := common/job.c common/protocol.c common/text.c common/audio.c common/buf.c
FUZZ_LIBS_job         := -ljansson -lsndfile -lm
FUZZ_SRC_safetensors  := shim/core/safetensors.c common/errbuf.c common/util.c
FUZZ_LIBS_safetensors := -ljansson -lcrypto
FUZZ_SRC_config       := shim/core/model_config.c common/errbuf.c common/buf.c
FUZZ_LIBS_config      := -ljansson -lm
FUZZ_SRC_spm          := $(FUZZ_SPM_SRC)
FUZZ_SRC_spm_text     := $(FUZZ_SPM_SRC)
FUZZ_SRC_bpe          := $(wildcard shim/tokenizer/bpe/*.c) common/errbuf.c common/buf.c common/text.c
FUZZ_LIBS_bpe         := -ljansson -lpcre2-8 -lutf8proc
FUZZ_SRC_http         := $(wildcard worker/http*.c) common/protocol.c common/log.c common/buf.c common/util.c
FUZZ_LIBS_http        := -levent -ljansson -lm -lcrypto -lpthread
FUZZ_SRC_redis_url    := common/queue/redis_url.c
FUZZ_SRC_npy          := common/npy.c common/errbuf.c common/util.c
FUZZ_LIBS_npy         := -lcrypto

define FUZZ_RULE
$(FUZZ_BUILD)/fuzz_$(1): tests/fuzz/fuzz_$(1).c tests/fuzz/fuzz.h $(FUZZ_SRC_$(1)) \
                         $(wildcard common/*.h common/*/*.h shim/*/*.h shim/*/*/*.h worker/*.h)
	@mkdir -p $$(dir $$@)
	$(FUZZ_CC) $(FUZZ_CFLAGS) -o $$@ tests/fuzz/fuzz_$(1).c $(FUZZ_SRC_$(1)) $(FUZZ_LIBS_$(1))
endef
$(foreach t,$(FUZZ_TARGETS),$(eval $(call FUZZ_RULE,$(t))))

.PHONY: fuzz fuzz-smoke fuzz-build fuzz-clean
fuzz-build: $(FUZZ_TARGETS:%=$(FUZZ_BUILD)/fuzz_%)
fuzz: fuzz-build
	@tests/fuzz/run $(FUZZ_BUILD) $(FUZZ_SECONDS) $(FUZZ_TARGETS)
# CI's pass: the same verdict for the same commit (fixed seed and run count,
# every seed of tests/fuzz/corpus replayed first).
FUZZ_SMOKE_RUNS ?= 30000
fuzz-smoke: fuzz-build
	@tests/fuzz/run --fixed $(FUZZ_SMOKE_RUNS) $(FUZZ_BUILD) $(FUZZ_TARGETS)
fuzz-clean:
	rm -rf $(FUZZ_BUILD)
clean: fuzz-clean

clean:
	rm -rf $(BUILD) build-asan

-include $(shell find $(BUILD)/obj -name '*.d' 2>/dev/null)
