#!/bin/sh
# Data-parallel efficiency on this machine (make bench): GPT-2 124M shape,
# B=4 sequences of T=64 per rank, one step = forward + backward + AdamW:
#   1 rank x 2 threads (global batch 4)  vs  2 ranks x 1 thread (global batch 8).
# Efficiency = tokens/s of the 2-rank run / tokens/s of the 1-rank run (same
# 2 cores). Also the share of the 2-rank step spent blocked on communication.
# Runs alternate (3 rounds) and each reports the median of its timed steps.
set -eu
cd "$(dirname "$0")/.."
. bench/lib.sh
ARGS="--data $W/data --model gpt2 --vocab 50257 --batch 4 --seq 64 --steps 6 --lr 1e-4 --print-every 0"

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
one=$(med3 "$W/one.txt"); two=$(med3 "$W/two.txt"); wait=$(med3 "$W/wait.txt")
echo "data parallel, GPT-2 124M shape, B=4 x T=64 per rank (median of 3 alternating runs):"
awk -v a="$one" -v b="$two" -v w="$wait" 'BEGIN {
    printf "  1 rank  x 2 threads: %7.1f ms/step  %6.0f tokens/s\n", a, 256 / a * 1e3
    printf "  2 ranks x 1 thread:  %7.1f ms/step  %6.0f tokens/s  (blocked on communication %.1f ms = %.1f%%)\n", b, 512 / b * 1e3, w, 100 * w / b
    printf "  data-parallel efficiency: %.1f%% (target >= 90%%)\n", 100 * (512 / b) / (256 / a) }'
echo
echo "collectives (mpirun -np 2 llmscale bench --comm):"
$MPI -np 2 "$BIN" bench --comm --threads 1

# tensor parallelism: tp=2 on 2 ranks x 1 thread vs 1 rank x 2 threads, the
# same global batch of 4 sequences (B=4, T=64), without and with sequence
# parallelism; communication volume per step against Megatron's
# 4*b*s*h*(t-1)/t values per layer each way (fp32 bytes); and what overlapping
# the input-gradient reduction with the weight-gradient product buys, through
# MPI's own non-blocking collectives (LLMSCALE_SHM=0), overlap on vs off.
for f in one2 tp sp tpb spb ov1 ov0; do : > "$W/$f.txt"; done
for round in 1 2 3; do
    "$BIN" train $ARGS --threads 2 --global-batch 4 --out "$W/one" > /dev/null 2>&1
    median "$W/one/metrics.jsonl" ms >> "$W/one2.txt"
    $MPI -np 2 "$BIN" train $ARGS --threads 1 --global-batch 4 --tp 2 --out "$W/tp" > /dev/null 2>&1
    median "$W/tp/metrics.jsonl" ms >> "$W/tp.txt"
    median "$W/tp/metrics.jsonl" tp_bytes >> "$W/tpb.txt"
    $MPI -np 2 "$BIN" train $ARGS --threads 1 --global-batch 4 --tp 2 --sp --out "$W/sp" > /dev/null 2>&1
    median "$W/sp/metrics.jsonl" ms >> "$W/sp.txt"
    median "$W/sp/metrics.jsonl" tp_bytes >> "$W/spb.txt"
    for ov in 1 0; do
        LLMSCALE_SHM=0 LLMSCALE_TP_OVERLAP=$ov $MPI -np 2 "$BIN" train $ARGS --threads 1 --global-batch 4 \
            --tp 2 --sp --out "$W/ov" > /dev/null 2>&1
        median "$W/ov/metrics.jsonl" ms >> "$W/ov$ov.txt"
        rm -rf "$W/ov"
    done
    rm -rf "$W/one" "$W/tp" "$W/sp"
done
one=$(med3 "$W/one2.txt"); tp=$(med3 "$W/tp.txt"); sp=$(med3 "$W/sp.txt")
tpb=$(med3 "$W/tpb.txt"); spb=$(med3 "$W/spb.txt"); ov1=$(med3 "$W/ov1.txt"); ov0=$(med3 "$W/ov0.txt")
echo
echo "tensor parallel, GPT-2 124M shape, tp=2, B=4 x T=64 (median of 3 alternating runs):"
awk -v a="$one" -v b="$tp" -v c="$sp" -v by="$tpb" -v sy="$spb" -v o1="$ov1" -v o0="$ov0" 'BEGIN {
    printf "  1 rank  x 2 threads: %7.1f ms/step\n", a
    printf "  tp=2, 2 ranks x 1 thread: %7.1f ms/step   with --sp: %7.1f ms/step\n", b, c
    printf "  tensor-parallel efficiency: %.1f%%, with sequence parallelism %.1f%% (target >= 80%%)\n", 100 * a / b, 100 * a / c
    L = 12; h = 768; bs = 4 * 64; t = 2
    f = 2 * L * 4 * bs * h * (t - 1) / t * 4
    printf "  sent per rank per step: %.1f MiB (with --sp %.1f MiB); layers alone by the formula\n", by / 1048576, sy / 1048576
    printf "    2 x L x 4bsh(t-1)/t x 4 B = %.1f MiB (SP adds the 2 LayerNorm outputs gathered again in\n", f / 1048576
    printf "    backward: x 5/4 = %.1f MiB; the rest: embedding, loss statistics, head)\n", f * 1.25 / 1048576
    printf "  overlap of the input-gradient reduction with the weight-gradient product (MPI non-blocking\n"
    printf "    collectives, --sp): %.1f ms/step on vs %.1f off: %+.1f%%\n", o1, o0, 100 * (o0 - o1) / o0 }'
