#!/bin/sh
# Pipeline parallelism on this machine (make bench): GPT-2 124M shape (12
# layers), pp=2 on 2 ranks x 1 thread, micro-batches of 1 x 64 tokens, m = 8
# per step: GPipe vs 1F1B vs interleaved 1F1B (2 chunks of 3 layers per rank),
# alternating runs (3 rounds), medians of the timed steps; the measured bubble
# next to (P-1)/m, (P-1)/(m V) interleaved.
set -eu
cd "$(dirname "$0")/.."
. bench/lib.sh
ARGS="--data $W/data --model gpt2 --vocab 50257 --batch 1 --seq 64 --global-batch 8 --steps 5 --lr 1e-4 --print-every 0 --threads 1"
for s in gpipe 1f1b interleaved; do : > "$W/$s.ms"; : > "$W/$s.bub"; : > "$W/$s.bal"; done
for round in 1 2 3; do
    for s in gpipe 1f1b interleaved; do
        v=1; [ $s = interleaved ] && v=2
        $MPI -np 2 "$BIN" train $ARGS --pp 2 --pp-schedule $s --virtual-stages $v --out "$W/$s" > /dev/null 2>&1
        median "$W/$s/metrics.jsonl" ms >> "$W/$s.ms"
        median "$W/$s/metrics.jsonl" pp_bubble >> "$W/$s.bub"
        median "$W/$s/metrics.jsonl" pp_balance >> "$W/$s.bal"
        rm -rf "$W/$s"
    done
done
echo "pipeline parallel, GPT-2 124M shape, pp=2 (2 ranks x 1 thread), m = 8 micro-batches of 1 x 64 tokens"
echo "(median of 3 alternating runs; bubble = (longest stage walk - the busiest stage's compute) / that"
echo " compute; balance = the busiest stage's compute / the mean stage's: the last stage also runs the"
echo " 50257-word head; with 2 unbalanced stages the fill and drain are the lighter stage's work, so"
echo " the expected bubble is the theory x (2 - balance) / balance):"
for s in gpipe 1f1b interleaved; do
    awk -v s="$s" -v ms="$(med3 "$W/$s.ms")" -v b="$(med3 "$W/$s.bub")" -v bal="$(med3 "$W/$s.bal")" 'BEGIN {
        th = s == "interleaved" ? 1 / 16 : 1 / 8
        printf "  %-11s %8.1f ms/step   bubble %.3f   theory %.3f   balance %.2f", s, ms, b, th, bal
        # interleaved: the head makes one of the four chunks twice as heavy, which this does not describe
        if (s == "interleaved") printf "   expected -\n"
        else printf "   expected %.3f\n", th * (2 - bal) / bal }'
done
