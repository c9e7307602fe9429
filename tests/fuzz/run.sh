#!/bin/sh
# tests/fuzz/run.sh [TARGET...] - run the libFuzzer harnesses (make fuzz-build
# makes them in build-fuzz/fuzz/), FUZZ_SECONDS each (default 600), FUZZ_JOBS
# at a time (default 2), with ASan, UBSan and LeakSanitizer.
#   corpus   build-fuzz/corpus/TARGET   (kept between runs; grows)
#   seeds    build-fuzz/seeds/TARGET    (written by the harness: LS_FUZZ_SEEDS)
#   crashes  build-fuzz/crashes/TARGET/ (crash-*, leak-*, timeout-*, oom-* inputs)
# Replay one:  build-fuzz/fuzz/fuzz_TARGET build-fuzz/crashes/TARGET/crash-...
# Prints one line per target (executions, coverage, corpus size, result) and
# exits non-zero if any target found something.
cd "$(dirname "$0")/../.." || exit 1
SECONDS_EACH=${FUZZ_SECONDS:-600}
JOBS=${FUZZ_JOBS:-2}
B=build-fuzz
if [ $# -gt 0 ]; then targets=$*; else
    targets=$(ls tests/fuzz/fuzz_*.c | sed -e 's|tests/fuzz/fuzz_||' -e 's|\.c$||' | grep -v '^common$')
fi
for t in $targets; do
    if [ ! -x "$B/fuzz/fuzz_$t" ]; then
        echo "FAIL fuzz: no harness $B/fuzz/fuzz_$t (build with: make fuzz-build; needs clang + libFuzzer)" >&2
        exit 1
    fi
done
# the harnesses' scratch files go to a directory removed at the end
SCRATCH=$(mktemp -d "${TMPDIR:-/tmp}/llmscale-fuzz-run.XXXXXX") || exit 1
trap 'rm -rf "$SCRATCH"' EXIT
trap 'exit 130' INT TERM
export TMPDIR=$SCRATCH OMP_NUM_THREADS=1 OPENBLAS_NUM_THREADS=1
export ASAN_OPTIONS=detect_leaks=1:abort_on_error=1:symbolize=1
export UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1

# one target: seeds, then fuzz; its summary line goes to $SCRATCH/TARGET.sum
fuzz_one() {
    t=$1
    mkdir -p "$B/corpus/$t" "$B/seeds/$t" "$B/crashes/$t"
    rm -f "$B/seeds/$t"/*
    if ! LS_FUZZ_SEEDS=$B/seeds/$t "$B/fuzz/fuzz_$t" > "$SCRATCH/$t.log" 2>&1; then
        echo "FAIL $t: writing its seeds failed: $(tail -n 3 "$SCRATCH/$t.log" | tr '\n' ' ')" > "$SCRATCH/$t.sum"
        return
    fi
    case $t in
        model|state) maxlen=8192 ;;
        tokenizer|gpt2) maxlen=16384 ;;
        *) maxlen=4096 ;;
    esac
    before=$(ls "$B/crashes/$t" | wc -l)
    "$B/fuzz/fuzz_$t" -max_total_time="$SECONDS_EACH" -detect_leaks=1 -timeout=20 -rss_limit_mb=2560 \
        -max_len=$maxlen -print_final_stats=1 -artifact_prefix="$B/crashes/$t/" \
        "$B/corpus/$t" "$B/seeds/$t" > "$SCRATCH/$t.log" 2>&1
    rc=$?
    runs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$SCRATCH/$t.log" | tail -n 1)
    cov=$(grep -o 'cov: [0-9]*' "$SCRATCH/$t.log" | tail -n 1 | sed 's/cov: //')
    corpus=$(ls "$B/corpus/$t" | wc -l)
    after=$(ls "$B/crashes/$t" | wc -l)
    if [ "$rc" -eq 0 ] && [ "$after" -eq "$before" ]; then
        echo "ok   $t: ${runs:-?} executions in ${SECONDS_EACH} s, coverage ${cov:-?}, corpus $corpus" > "$SCRATCH/$t.sum"
    else
        art=$(ls -t "$B/crashes/$t" | head -n 1)
        {
            echo "FAIL $t: exit $rc after ${runs:-?} executions; input saved as $B/crashes/$t/$art"
            echo "     replay: $B/fuzz/fuzz_$t $B/crashes/$t/$art"
            grep -E 'ERROR:|FUZZ FINDING|runtime error|SUMMARY|#[0-9]+ 0x' "$SCRATCH/$t.log" | head -n 14 | sed 's/^/     /'
        } > "$SCRATCH/$t.sum"
    fi
}

start=$(date +%s)
set -- $targets
while [ $# -gt 0 ]; do
    batch=""
    i=0
    while [ $# -gt 0 ] && [ $i -lt "$JOBS" ]; do
        fuzz_one "$1" &
        batch="$batch $1"
        i=$((i + 1))
        shift
    done
    wait
    for t in $batch; do cat "$SCRATCH/$t.sum"; done
done
fail=0
for t in $targets; do grep -q '^FAIL' "$SCRATCH/$t.sum" && fail=$((fail + 1)); done
echo "fuzz: $(echo $targets | wc -w) targets, $fail with findings, $(( $(date +%s) - start )) s"
[ "$fail" -eq 0 ]
