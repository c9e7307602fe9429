#!/bin/sh
# test_fuzz.sh - the short fuzz run of `make test`: builds the libFuzzer
# harnesses (make fuzz-build -> build-fuzz/fuzz/) and runs each for
# FUZZ_SECONDS (default 60), two at a time, with ASan, UBSan and
# LeakSanitizer (tests/fuzz/run.sh). Fails if clang or libFuzzer is missing,
# if a harness does not build, or if any target finds a crash, a leak, a
# sanitizer report, a hang, or an input rejected without a clear one-line
# error. Longer runs: make fuzz (FUZZ_SECONDS=600 per target).
cd "$(dirname "$0")/.." || exit 1
FUZZ_CC=${FUZZ_CC:-clang}
if ! command -v "$FUZZ_CC" >/dev/null 2>&1; then
    echo "FAIL fuzz: '$FUZZ_CC' not found: the fuzz harnesses need clang with libFuzzer (sh scripts/install-deps.sh test installs clang, libclang-rt-14-dev, libomp-14-dev)"
    exit 1
fi
probe=$(mktemp -d "${TMPDIR:-/tmp}/llmscale-fuzzprobe.XXXXXX") || exit 1
printf 'int LLVMFuzzerTestOneInput(const char *d, unsigned long n) { return 0; }\n' > "$probe/p.c"
if ! "$FUZZ_CC" -fsanitize=fuzzer,address,undefined "$probe/p.c" -o "$probe/p" > "$probe/log" 2>&1; then
    echo "FAIL fuzz: '$FUZZ_CC -fsanitize=fuzzer' does not link (libFuzzer missing: install libclang-rt-14-dev): $(head -n 2 "$probe/log" | tr '\n' ' ')"
    rm -rf "$probe"
    exit 1
fi
rm -rf "$probe"
if ! make --no-print-directory -j2 fuzz-build FUZZ_CC="$FUZZ_CC" > /dev/null; then
    echo "FAIL fuzz: the harnesses do not build (make fuzz-build)"
    exit 1
fi
FUZZ_SECONDS=${FUZZ_SECONDS:-60} exec sh tests/fuzz/run.sh "$@"
