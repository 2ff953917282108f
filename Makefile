# jen1 - build, test and benchmark.
#
#   make            build every program into build/
#   make test       build, then run every test; ends with "N passed, N failed"
#   make test-asan  the C unit tests again under AddressSanitizer + UBSan
#   make bench      engine benchmarks, written to BENCHMARKS.md
#   make chaos      kill -9, Redis restarts, blob outages, drain (CHAOS_QUICK=1: short)
#
# LibTorch comes from Debian's libtorch-dev by default. For another LibTorch
# (the CUDA build in Dockerfile.gpu) set TORCH_DIR to its unpacked root.

CC  ?= cc
CXX ?= g++
BUILD ?= build
NVCC ?= $(shell command -v nvcc 2>/dev/null || ls /usr/local/cuda/bin/nvcc 2>/dev/null)

OPT      ?= -O2
WARN     := -Wall -Wextra
DEPFLAGS := -MMD -MP
INCLUDES := -Ishim -Icommon
CFLAGS   += -std=c11 $(OPT) -g $(WARN) -D_GNU_SOURCE $(DEPFLAGS) $(INCLUDES)
CXXFLAGS += -std=c++17 $(OPT) -g $(WARN) $(DEPFLAGS) $(INCLUDES)
LDFLAGS  +=

ifdef TORCH_DIR
TORCH_CUDA   := $(wildcard $(TORCH_DIR)/lib/libtorch_cuda.so)
TORCH_CFLAGS := $(if $(TORCH_CUDA),-DJEN1_WITH_CUDA) -isystem $(TORCH_DIR)/include -isystem $(TORCH_DIR)/include/torch/csrc/api/include -D_GLIBCXX_USE_CXX11_ABI=1
TORCH_LIBS   := -L$(TORCH_DIR)/lib -Wl,-rpath,$(TORCH_DIR)/lib -Wl,--no-as-needed -ltorch -ltorch_cpu \
                $(if $(TORCH_CUDA),-ltorch_cuda -lc10_cuda) -Wl,--as-needed -lc10
else
TORCH_CFLAGS :=
TORCH_LIBS   := -ltorch_cpu -lc10
endif

BASE_LIBS := -lhiredis -levent -lcurl -lcrypto -ljansson -lsndfile -lm -lpthread
SHIM_LIBS := $(TORCH_LIBS) $(BASE_LIBS)

COMMON_SRC := $(wildcard common/*.c)
SHIM_C_SRC := $(wildcard shim/*.c)
SHIM_CXX_SRC := $(wildcard shim/*.cpp)

COMMON_OBJ := $(COMMON_SRC:%.c=$(BUILD)/obj/%.o)
SHIM_OBJ   := $(SHIM_C_SRC:%.c=$(BUILD)/obj/%.o) $(SHIM_CXX_SRC:%.cpp=$(BUILD)/obj/%.o)

LIBCOMMON := $(BUILD)/libjen1common.a
LIBSHIM   := $(BUILD)/libjen1shim.a

TOOLS := $(BUILD)/jen1-gen $(BUILD)/jen1-mkmodel \
         $(if $(wildcard worker/main.c),$(BUILD)/jen1-worker) $(if $(wildcard worker/jen1ctl.c),$(BUILD)/jen1ctl)

# The daemon is every worker/*.c but jen1ctl's; jen1ctl needs no engine.
WORKER_SRC := $(filter-out worker/jen1ctl%.c,$(wildcard worker/*.c))
WORKER_OBJ := $(WORKER_SRC:%.c=$(BUILD)/obj/%.o)
CTL_OBJ    := $(patsubst %.c,$(BUILD)/obj/%.o,$(wildcard worker/jen1ctl*.c))

# tests/cli/test_spm_parity.sh: shim/spm.c alone (spm-encode) against the
# real libsentencepiece (spm-oracle), which must not share a process with
# LibTorch (its bundled protobuf clashes with LibTorch's).
SPM_OBJ   := $(patsubst %,$(BUILD)/obj/shim/%.o,spm spm_normalize spm_proto spm_trie) $(BUILD)/obj/common/errbuf.o
SPM_TOOLS := $(BUILD)/spm-oracle $(BUILD)/spm-encode

UNIT_SRC   := $(wildcard tests/unit/test_*.c)
UNIT_BIN   := $(UNIT_SRC:tests/unit/%.c=$(BUILD)/tests/%)

.PHONY: all test test-asan bench clean tools tests demo chaos
# Keep intermediate objects (the tests' .o files) so that a second make does nothing.
.SECONDARY:
all: $(LIBCOMMON) $(LIBSHIM) $(TOOLS)
tools: $(TOOLS)
TEST_TOOLS := $(SPM_TOOLS) $(BUILD)/npycmp $(BUILD)/blobctl $(BUILD)/stedit
tests: $(UNIT_BIN) $(TEST_TOOLS)

$(BUILD)/obj/%.o: %.c
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) -c $< -o $@

$(BUILD)/obj/shim/%.o: shim/%.cpp
	@mkdir -p $(dir $@)
	$(CXX) $(CXXFLAGS) $(TORCH_CFLAGS) -c $< -o $@

# The matvec kernels pick AVX-512/AVX2 at run time, so they are compiled
# with per-function target attributes, not with -march flags.
$(LIBCOMMON): $(COMMON_OBJ)
	@mkdir -p $(dir $@)
	rm -f $@ && ar rcs $@ $^

$(LIBSHIM): $(SHIM_OBJ)
	@mkdir -p $(dir $@)
	rm -f $@ && ar rcs $@ $^

# Every program links the two libraries, LibTorch and the C libraries.
LINK = $(CXX) $(LDFLAGS) -o $@ $(filter %.o %.a,$^) $(SHIM_LIBS)

$(BUILD)/jen1-gen: $(BUILD)/obj/shim/tools/gen.o $(LIBSHIM) $(LIBCOMMON)
	$(LINK)

$(BUILD)/jen1-mkmodel: $(BUILD)/obj/shim/tools/mkmodel.o $(LIBSHIM) $(LIBCOMMON)
	$(LINK)

$(BUILD)/jen1-worker: $(WORKER_OBJ) $(LIBSHIM) $(LIBCOMMON)
	$(LINK)

$(BUILD)/jen1ctl: $(CTL_OBJ) $(LIBCOMMON)
	$(CC) $(LDFLAGS) -o $@ $^ $(BASE_LIBS)

$(BUILD)/jen1-bench: $(BUILD)/obj/tests/bench/engine_bench.o $(LIBSHIM) $(LIBCOMMON)
	$(LINK)

$(BUILD)/jen1-queue-bench: $(BUILD)/obj/tests/bench/queue_bench.o $(LIBCOMMON)
	$(CC) $(LDFLAGS) -o $@ $^ $(BASE_LIBS)

$(BUILD)/spm-oracle: tests/spm_oracle/oracle.cpp
	@mkdir -p $(dir $@)
	$(CXX) -std=c++17 -O2 $(WARN) -o $@ $< -lsentencepiece_train -lsentencepiece

$(BUILD)/spm-encode: $(BUILD)/obj/tests/spm_oracle/encode.o $(SPM_OBJ)
	$(CC) $(LDFLAGS) -o $@ $^

$(BUILD)/npycmp: $(BUILD)/obj/tests/tools/npycmp.o $(LIBCOMMON)
	$(CC) $(LDFLAGS) -o $@ $^ -lm

$(BUILD)/blobctl: $(BUILD)/obj/tests/tools/blobctl.o $(LIBCOMMON)
	$(CC) $(LDFLAGS) -o $@ $^ $(BASE_LIBS)

# The safetensors reader alone (plain C): no LibTorch needed.
$(BUILD)/stedit: $(BUILD)/obj/tests/tools/stedit.o $(BUILD)/obj/shim/safetensors.o $(LIBCOMMON)
	$(CC) $(LDFLAGS) -o $@ $^ -ljansson

$(BUILD)/tests/%: $(BUILD)/obj/tests/unit/%.o $(LIBSHIM) $(LIBCOMMON)
	@mkdir -p $(dir $@)
	$(LINK)

# test_http drives the daemon's HTTP server, which lives in worker/.
$(BUILD)/tests/test_http: $(BUILD)/obj/tests/unit/test_http.o $(BUILD)/obj/worker/http.o $(LIBSHIM) $(LIBCOMMON)
	@mkdir -p $(dir $@)
	$(LINK)

$(BUILD)/obj/tests/unit/%.o: tests/unit/%.c
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) -Itests -c $< -o $@

test: all tests
	@tests/run $(BUILD)

# Sanitizer build: everything again in build-asan/ with ASan + UBSan.
test-asan:
	$(MAKE) BUILD=build-asan OPT="-O1 -fsanitize=address,undefined -fno-omit-frame-pointer" \
	    LDFLAGS="-fsanitize=address,undefined" all tests
	ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 \
	    tests/run build-asan

bench: all $(BUILD)/jen1-bench $(BUILD)/jen1-queue-bench
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
# each for FUZZ_SECONDS and fails on any crash; make fuzz-smoke is the 10 s
# version for CI. FUZZ_TARGETS="job http" picks some.
FUZZ_BUILD   ?= build-fuzz
FUZZ_SECONDS ?= 60
FUZZ_CC      ?= clang
FUZZ_CFLAGS  := -std=c11 -O1 -g -D_GNU_SOURCE $(WARN) $(INCLUDES) -fno-omit-frame-pointer \
                -fsanitize=fuzzer,address,undefined -fno-sanitize-recover=undefined
FUZZ_TARGETS ?= job safetensors config spm spm_text http redis_url npy

FUZZ_SPM_SRC          := shim/spm.c shim/spm_normalize.c shim/spm_proto.c shim/spm_trie.c common/errbuf.c
FUZZ_SRC_job          := common/job.c common/text.c common/audio.c
FUZZ_LIBS_job         := -ljansson -lsndfile -lm
FUZZ_SRC_safetensors  := shim/safetensors.c common/errbuf.c
FUZZ_LIBS_safetensors := -ljansson
FUZZ_SRC_config       := shim/model_config.c common/errbuf.c
FUZZ_LIBS_config      := -ljansson -lm
FUZZ_SRC_spm          := $(FUZZ_SPM_SRC)
FUZZ_SRC_spm_text     := $(FUZZ_SPM_SRC)
FUZZ_SRC_http         := worker/http.c common/log.c
FUZZ_LIBS_http        := -levent -ljansson -lm
FUZZ_SRC_redis_url    := common/redis_url.c
FUZZ_SRC_npy          := common/npy.c common/errbuf.c

define FUZZ_RULE
$(FUZZ_BUILD)/fuzz_$(1): tests/fuzz/fuzz_$(1).c tests/fuzz/fuzz.h $(FUZZ_SRC_$(1)) \
                         $(wildcard common/*.h shim/*.h worker/*.h)
	@mkdir -p $$(dir $$@)
	$(FUZZ_CC) $(FUZZ_CFLAGS) -o $$@ tests/fuzz/fuzz_$(1).c $(FUZZ_SRC_$(1)) $(FUZZ_LIBS_$(1))
endef
$(foreach t,$(FUZZ_TARGETS),$(eval $(call FUZZ_RULE,$(t))))

.PHONY: fuzz fuzz-smoke fuzz-build fuzz-clean
fuzz-build: $(FUZZ_TARGETS:%=$(FUZZ_BUILD)/fuzz_%)
fuzz: fuzz-build
	@tests/fuzz/run $(FUZZ_BUILD) $(FUZZ_SECONDS) $(FUZZ_TARGETS)
fuzz-smoke:
	@$(MAKE) --no-print-directory fuzz FUZZ_SECONDS=10
fuzz-clean:
	rm -rf $(FUZZ_BUILD)
clean: fuzz-clean

clean:
	rm -rf $(BUILD) build-asan

-include $(shell find $(BUILD)/obj -name '*.d' 2>/dev/null)
