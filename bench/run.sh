#!/bin/sh
# make bench:
#  1. tokenizer on tinyshakespeare (1.1 MB): BPE training of 4096 merges (the
#     word-count pass and the merge loop, timed separately) and encoding speed
#     on one core (median of 5 passes, each with an empty word cache);
#  2. machine probes, then GPT-2 124M shape training steps (B=4,
# T=64 and T=256, 2 threads, one process) of llmscale (fp32, and bf16 where
# the CPU has bf16 products) and of the PyTorch reference model
# (bench/torch_gpt2.py, Debian's torch), in alternating runs on the same
# machine. Prints the per-phase breakdown of each llmscale run and a table
# of median step times (over all timed steps of all rounds), MFU against the
# measured fp32 FMA peak, and the speed-up over PyTorch, then each speed
# target of issue 7 (docs/CPU_SPEED.md) as met or not against these medians;
# each llmscale bench run also prints `plan --gpu cpu-local`'s prediction
# against its measurement;
#  3. data-, tensor- and sequence-parallel efficiency and the collective benchmark
#     (bench/dp.sh); 4. pipeline GPipe vs 1F1B vs interleaved (bench/pp.sh);
#  5. plan --gpu cpu-local against measured 1-process, dp=2, tp=2, pp=2 steps (bench/plan.sh).
#   ROUNDS=2 STEPS=5 SEQS="64 256" THREADS=2 sh bench/run.sh
set -eu
cd "$(dirname "$0")/.."
ROUNDS=${ROUNDS:-2}
STEPS=${STEPS:-5}
SEQS=${SEQS:-"64 256"}
THREADS=${THREADS:-2}
PY=/usr/bin/python3
BIN=build/llmscale
export OMP_NUM_THREADS=$THREADS
D=$(mktemp -d)
trap 'rm -rf "$D"' EXIT

TEXT=../shared/data/tinyshakespeare.txt
if [ -f "$TEXT" ]; then
    echo "== tokenizer: BPE training, 4096 merges (vocab 4353) on $TEXT"
    start=$(date +%s.%N)
    build/llmscale prepare --input "$TEXT" --tokenizer bpe --vocab-size 4353 --out "$D/bpe" \
        | grep -e '^count:' -e '^trained BPE' -e '^encode:'
    awk -v a="$start" -v b="$(date +%s.%N)" 'BEGIN { printf "prepare end to end (count + train + encode + write): %.3f s\n", b - a }'
    echo "== tokenizer: encode throughput"
    build/llmscale tokenize --tokenizer "$D/bpe/tokenizer.bin" --file "$TEXT" --time 5
else
    echo "(skipping the tokenizer benchmark: $TEXT not found)"
fi

$BIN bench --threads "$THREADS" --no-train | tee "$D/probe"
# the peak llmscale's own MFU uses (its cached probe), so every MFU below agrees
PEAK=$($BIN bench --model micro --batch 1 --seq 8 --steps 1 --threads "$THREADS" --no-probe | sed -n 's/.* of \([0-9.]*\) GFLOP\/s.*/\1/p')
DTYPES=fp32
if $BIN bench --threads "$THREADS" --no-probe --no-train --dtype bf16 >/dev/null 2>&1; then DTYPES="fp32 bf16"; fi
HAVE_TORCH=1
$PY -c "import torch" 2>/dev/null || { HAVE_TORCH=0; echo "(no torch for $PY: PyTorch column skipped)"; }

for T in $SEQS; do
    r=1
    while [ "$r" -le "$ROUNDS" ]; do
        for dt in $DTYPES; do
            echo "== llmscale $dt, T=$T, round $r"
            $BIN bench --model gpt2 --batch 4 --seq "$T" --steps "$STEPS" --threads "$THREADS" --no-probe \
                --dtype "$dt" | tee "$D/out" | sed -n '/^step:/,$p'
            sed -n 's/^steps (ms, sorted)://p' "$D/out" | tr ' ' '\n' | sed '/^$/d' >> "$D/ls_${dt}_$T"
        done
        if [ "$HAVE_TORCH" = 1 ]; then
            echo "== torch, T=$T, round $r"
            # passive waiting, as llmscale sets for itself: torch's spinning OpenMP
            # threads next to its BLAS threads otherwise slow it down 3x on 2 cores
            OMP_WAIT_POLICY=passive $PY bench/torch_gpt2.py --batch 4 --seq "$T" --steps "$STEPS" --threads "$THREADS" \
                --peak-gflops "$PEAK" | tee "$D/out" | tail -1
            sed -n 's/^step_ms //p' "$D/out" >> "$D/torch_$T"
        fi
        r=$((r + 1))
    done
done

# median of a file of numbers
median() { sort -n "$1" | awk '{v[NR] = $1} END {print (NR % 2) ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2}'; }
# GFLOP per step: 6 N + 12 L C T per token (N without wpe), B*T tokens; GPT-2 124M, Vp 50304
flops() { awk -v T="$1" 'BEGIN { L = 12; C = 768; Vp = 50304; N = Vp * C + L * (12 * C * C + 13 * C) + 2 * C;
                                 print 4 * T * (6 * N + 12 * L * C * T) / 1e9 }'; }
echo
echo "GPT-2 124M, batch 4, $THREADS threads, $(sed -n 's/^cpu: \([^,]*\),.*/\1/p' "$D/probe"), fp32 peak $PEAK GFLOP/s"
echo "median step over $ROUNDS x $STEPS timed steps; MFU = model FLOPs (6N + 12LCT per token) / fp32 peak"
printf "%-6s %-16s %10s %9s %7s %10s\n" T run "ms/step" tokens/s MFU "vs torch"
# The speed targets (docs/CPU_SPEED.md), each against the same medians,
# collected in $D/targets and printed after the table. A speed-up over
# PyTorch is reachable only if it needs at most 100% of the fp32 peak:
# 4.5x PyTorch needs 4.5 times PyTorch's own MFU.
for T in $SEQS; do
    G=$(flops "$T")
    TM=""
    [ -s "$D/torch_$T" ] && TM=$(median "$D/torch_$T")
    F="" B=""
    for dt in $DTYPES; do
        M=$(median "$D/ls_${dt}_$T")
        case $dt in fp32) F=$M ;; bf16) B=$M ;; esac
        awk -v T="$T" -v n="llmscale $dt" -v m="$M" -v g="$G" -v p="$PEAK" -v tm="$TM" 'BEGIN {
            printf "%-6s %-16s %10.1f %9.0f %6.1f%% %10s\n", T, n, m, 4 * T / (m / 1e3), 100 * g / (m / 1e3) / p,
                   tm == "" ? "-" : sprintf("%.2fx", tm / m) }'
    done
    [ -n "$TM" ] && awk -v T="$T" -v m="$TM" -v g="$G" -v p="$PEAK" 'BEGIN {
        printf "%-6s %-16s %10.1f %9.0f %6.1f%% %10s\n", T, "pytorch fp32", m, 4 * T / (m / 1e3), 100 * g / (m / 1e3) / p, "1.00x" }'
    awk -v T="$T" -v f="$F" -v b="$B" -v tm="$TM" -v g="$G" -v p="$PEAK" 'BEGIN {
        ok = "met"; no = "NOT met"
        mfu = 100 * g / (f / 1e3) / p
        printf "T=%-4s fp32 MFU %.1f%%: %s", T, mfu, (mfu >= 65 ? ok : no)
        if (b != "") printf "; bf16 %.2fx fp32: %s", f / b, (f / b >= 1.2 ? ok : no)
        if (tm != "") {
            tmfu = mfu * f / tm
            printf "; %.2fx PyTorch: %s", tm / f, (tm / f >= 4.5 ? ok : no)
            if (tm / f < 4.5) printf " (PyTorch at %.1f%% MFU: 4.5x would need %.1f%%)", tmfu, 4.5 * tmfu
        }
        printf "\n" }' >> "$D/targets"
done
echo
echo "targets: fp32 MFU >= 65%; bf16 >= 1.2x fp32; fp32 >= 4.5x PyTorch (needs 4.5 x PyTorch's MFU)"
cat "$D/targets"

echo
sh bench/dp.sh
echo
sh bench/pp.sh
echo
sh bench/plan.sh
