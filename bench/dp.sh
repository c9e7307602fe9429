#!/bin/sh
# Data-parallel efficiency on this machine (make bench): GPT-2 124M shape,
# B=4 sequences of T=64 per rank, one step = forward + backward + AdamW:
#   1 rank x 2 threads (global batch 4)  vs  2 ranks x 1 thread (global batch 8).
# Efficiency = tokens/s of the 2-rank run / tokens/s of the 1-rank run (same
# 2 cores). Also the share of the 2-rank step spent blocked on communication.
# Runs alternate (3 rounds) and each reports the median of its timed steps.
set -eu
cd "$(dirname "$0")/.."
BIN=$PWD/build/llmscale
W=$(mktemp -d "${TMPDIR:-/tmp}/llmscale_bench_dp.XXXXXX")
trap 'rm -rf "$W"' EXIT
corpus=../shared/data/tinyshakespeare.txt
[ -f "$corpus" ] || { cat README.md docs/*.md src/*/*.c > "$W/corpus.txt"; corpus=$W/corpus.txt; }
"$BIN" prepare --input "$corpus" --out "$W/data" > /dev/null
ARGS="--data $W/data --model gpt2 --vocab 50257 --batch 4 --seq 64 --steps 6 --lr 1e-4 --print-every 0"
MPI="mpirun --oversubscribe --allow-run-as-root"

# median of a metrics.jsonl field over steps 2.. (step 1 warms up)
median() { # file field
    sed -n "s/.*\"$2\": \([0-9.e+-]*\).*/\1/p" "$1" | tail -n +2 | sort -g |
        awk '{ v[NR] = $1 } END { print (NR % 2) ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2 }'
}

: > "$W/one.txt"
: > "$W/two.txt"
: > "$W/wait.txt"
for round in 1 2 3; do
    "$BIN" train $ARGS --threads 2 --global-batch 4 --out "$W/one" > /dev/null 2>&1
    median "$W/one/metrics.jsonl" ms >> "$W/one.txt"
    $MPI -np 2 "$BIN" train $ARGS --threads 1 --global-batch 8 --out "$W/two" > /dev/null 2>&1
    median "$W/two/metrics.jsonl" ms >> "$W/two.txt"
    median "$W/two/metrics.jsonl" comm_wait_ms >> "$W/wait.txt"
    rm -rf "$W/one" "$W/two"
done
med3() { sort -g "$1" | sed -n 2p; }
one=$(med3 "$W/one.txt"); two=$(med3 "$W/two.txt"); wait=$(med3 "$W/wait.txt")
echo "data parallel, GPT-2 124M shape, B=4 x T=64 per rank (median of 3 alternating runs):"
awk -v a="$one" -v b="$two" -v w="$wait" 'BEGIN {
    printf "  1 rank  x 2 threads: %7.1f ms/step  %6.0f tokens/s\n", a, 256 / a * 1e3
    printf "  2 ranks x 1 thread:  %7.1f ms/step  %6.0f tokens/s  (blocked on communication %.1f ms = %.1f%%)\n", b, 512 / b * 1e3, w, 100 * w / b
    printf "  data-parallel efficiency: %.1f%% (target >= 90%%)\n", 100 * (512 / b) / (256 / a) }'
echo
echo "collectives (mpirun -np 2 llmscale bench --comm):"
$MPI -np 2 "$BIN" bench --comm --threads 1
