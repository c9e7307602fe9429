# llmscale - build, demo, tests, benchmark.
#   make demo   install missing Debian packages, build, train a small GPT ~2 min, sample
#   make test   install missing packages, build, run the whole test suite
#   make fuzz   libFuzzer harnesses of every file reader and the flag parser, each run for
#               FUZZ_SECONDS (default 600) with ASan + UBSan + LeakSanitizer (tests/fuzz/run.sh)
#   make bench  GPT-2 124M shape (B=4, T=64 and 256, 2 threads): per-phase times, tokens/s,
#               MFU, fp32 and bf16, against the PyTorch reference model (bench/run.sh);
#               dp/tp efficiency (bench/dp.sh); plan cpu-local vs measured (bench/plan.sh)
CC      ?= gcc
OPT     ?= -O3 -march=native -fno-math-errno
# OpenBLAS through CBLAS (Debian's default, pthread build). BLAS_LIBS can point
# elsewhere, e.g. BLAS_LIBS="-L/opt/openblas/lib -lopenblas".
CFLAGS  += -std=c11 -D_GNU_SOURCE -Wall -Wextra -Wno-unused-parameter -Wno-format-truncation $(OPT) -fopenmp -MMD -MP
BLAS_LIBS ?= -lopenblas
# MPI (Open MPI from Debian) when mpicc exists; without it llmscale still
# builds and runs as one process.
MPI_CFLAGS ?= $(shell mpicc --showme:compile 2>/dev/null)
MPI_LIBS   ?= $(shell mpicc --showme:link 2>/dev/null)
ifneq ($(strip $(MPI_LIBS)),)
CFLAGS  += -DLS_HAVE_MPI
endif
LDLIBS  += $(BLAS_LIBS) $(MPI_LIBS) -lm -fopenmp
BUILD   ?= build

LIB_SRC := $(sort $(wildcard src/core/*.c src/kernels/cpu/*.c src/model/*.c src/parallel/*.c src/plan/*.c \
                             src/train/*.c src/data/*.c))
CLI_SRC := $(sort $(wildcard src/cli/*.c))
LIB_OBJ := $(LIB_SRC:%.c=$(BUILD)/%.o)
CLI_OBJ := $(CLI_SRC:%.c=$(BUILD)/%.o)
TEST_SRC := $(sort $(wildcard tests/test_*.c))
TEST_BIN := $(TEST_SRC:tests/%.c=$(BUILD)/tests/%)

.PHONY: all deps test-deps demo test bench clean asan fuzz fuzz-build
all: $(BUILD)/llmscale $(TEST_BIN)

# Install what a fresh Debian 12 machine lacks (we are root).
deps:
	@sh scripts/install-deps.sh
test-deps:
	@sh scripts/install-deps.sh test

$(BUILD)/%.o: %.c
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) -c $< -o $@

$(BUILD)/src/parallel/mpi_backend.o: CFLAGS += $(MPI_CFLAGS)

# the transcendental-heavy elementwise kernels vectorise expf/tanhf only with
# -ffast-math (glibc's libmvec); they are written not to need inf/NaN semantics
$(BUILD)/src/kernels/cpu/gelu.o $(BUILD)/src/kernels/cpu/crossentropy.o $(BUILD)/src/kernels/cpu/attention.o: CFLAGS += -ffast-math

# the matmul micro-kernels use AVX-512, AVX512_BF16 and AMX intrinsics; gemm.c
# calls them only after checking the CPU at run time
$(BUILD)/src/kernels/cpu/gemm_avx512.o: CFLAGS += -mavx512f -mavx512bf16 -mamx-tile -mamx-bf16

$(BUILD)/libllmscale.a: $(LIB_OBJ)
	@rm -f $@
	ar rcs $@ $^

$(BUILD)/llmscale: $(CLI_OBJ) $(BUILD)/libllmscale.a
	$(CC) $(CFLAGS) $^ -o $@ $(LDLIBS)

# test programs link the library plus the CLI objects except main.c
$(BUILD)/tests/%: tests/%.c $(filter-out $(BUILD)/src/cli/main.o,$(CLI_OBJ)) $(BUILD)/libllmscale.a
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) -Isrc $^ -o $@ $(LDLIBS)

demo: deps
	@$(MAKE) --no-print-directory -j2 all
	@sh scripts/demo.sh

test: test-deps
	@$(MAKE) --no-print-directory -j2 all
	@$(MAKE) --no-print-directory -j2 asan
	@$(MAKE) --no-print-directory -j2 fuzz-build
	@sh tests/run_all.sh

bench: test-deps
	@$(MAKE) --no-print-directory all
	@sh bench/run.sh

# AddressSanitizer + UBSan build of the CLI, used by the bad-input tests.
asan:
	@$(MAKE) --no-print-directory BUILD=build-asan OPT="-O1 -g -fsanitize=address,undefined -fno-omit-frame-pointer" \
	    LDLIBS="$(BLAS_LIBS) $(MPI_LIBS) -lm -fopenmp -fsanitize=address,undefined" build-asan/llmscale

# libFuzzer harnesses (tests/fuzz/fuzz_*.c), one binary per reader, in build-fuzz/fuzz/:
# clang with -fsanitize=fuzzer + ASan + UBSan (UB aborts); without MPI. -Wl,--wrap=fclose
# lets the error trap forget files the readers close (src/core/error_trap.h).
FUZZ_CC    ?= clang
FUZZ_SAN   := -fsanitize=address,undefined -fno-sanitize-recover=undefined -fno-omit-frame-pointer
FUZZ_SRC   := $(sort $(filter-out tests/fuzz/fuzz_common.c,$(wildcard tests/fuzz/fuzz_*.c)))
FUZZ_BIN   := $(FUZZ_SRC:tests/fuzz/%.c=build-fuzz/fuzz/%)
FUZZ_SECONDS ?= 600
fuzz-build:
	@$(MAKE) --no-print-directory BUILD=build-fuzz CC=$(FUZZ_CC) MPI_CFLAGS= MPI_LIBS= \
	    OPT="-O1 -g -fsanitize=fuzzer-no-link $(FUZZ_SAN) -Wno-unknown-warning-option -Wno-pass-failed" $(FUZZ_BIN)

build-fuzz/fuzz/%: tests/fuzz/%.c tests/fuzz/fuzz_common.c tests/fuzz/fuzz_common.h \
                   $(filter-out $(BUILD)/src/cli/main.o,$(CLI_OBJ)) $(BUILD)/libllmscale.a
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) -fsanitize=fuzzer -Isrc -Itests/fuzz $(filter %.c %.o %.a,$^) -o $@ \
	    $(BLAS_LIBS) -lm -fopenmp -Wl,--wrap=fclose

fuzz: test-deps fuzz-build
	@FUZZ_SECONDS=$(FUZZ_SECONDS) sh tests/fuzz/run.sh

clean:
	rm -rf build build-asan build-fuzz llmscale

-include $(LIB_OBJ:.o=.d) $(CLI_OBJ:.o=.d)
