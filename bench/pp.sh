#!/bin/sh
# Pipeline parallelism on this machine (make bench): GPT-2 124M shape (12
# layers), pp=2 on 2 ranks x 1 thread, micro-batches of 1 x 64 tokens, m = 8
# per step: GPipe vs 1F1B, alternating runs (3 rounds), medians of the timed
# steps; the measured bubble of the slowest stage next to (P-1)/m.
# (The interleaved schedule is not wired into the trainer yet.)
set -eu
cd "$(dirname "$0")/.."
. bench/lib.sh
ARGS="--data $W/data --model gpt2 --vocab 50257 --batch 1 --seq 64 --global-batch 8 --steps 5 --lr 1e-4 --print-every 0 --threads 1"
for s in gpipe 1f1b; do : > "$W/$s.ms"; : > "$W/$s.bub"; done
for round in 1 2 3; do
    for s in gpipe 1f1b; do
        $MPI -np 2 "$BIN" train $ARGS --pp 2 --pp-schedule $s --out "$W/$s" > /dev/null 2>&1
        median "$W/$s/metrics.jsonl" ms >> "$W/$s.ms"
        median "$W/$s/metrics.jsonl" pp_bubble >> "$W/$s.bub"
        rm -rf "$W/$s"
    done
done
echo "pipeline parallel, GPT-2 124M shape, pp=2 (2 ranks x 1 thread), m = 8 micro-batches of 1 x 64 tokens"
echo "(median of 3 alternating runs; bubble = idle / compute time of the slowest stage):"
for s in gpipe 1f1b; do
    awk -v s="$s" -v ms="$(med3 "$W/$s.ms")" -v b="$(med3 "$W/$s.bub")" 'BEGIN {
        printf "  %-6s %8.1f ms/step   bubble %.3f   (P-1)/m = %.3f\n", s, ms, b, 1 / 8 }'
done
