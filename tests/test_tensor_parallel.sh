#!/bin/sh
# Tensor and sequence parallelism over MPI (mpirun --oversubscribe on this
# 2-core box):
#  - equivalence: (tp, dp, sp, zero) in {(2,1,off,0), (4,1,off,0), (2,2,off,1),
#    (2,2,off,3), (2,2,off,0) through MPI's own collectives, (2,1,on,0),
#    (4,1,on,0), (2,2,on,1), (2,2,on,3), (2,1,on,0) through MPI's own}: 20
#    steps of losses and the final parameters equal the one-process run's to
#    1e-5 relative (tests/reference/compare_runs.py);
#  - collective counts per step, for A micro-batches and L layers:
#      TP: all-reduces A x (4L + 5): per layer 2 forward (g after the output
#          projections) + 2 backward (f's backward after the QKV and fc input
#          gradients), plus the embedding (1), the loss (3: max, sum of exps,
#          target logit) and the head's input gradient (1);
#      SP: all-gathers A x (6L + 2): per layer 2 forward (f: LayerNorm outputs
#          into QKV and fc) + 2 backward (the output projections' gradients)
#          + 2 backward (the LayerNorm outputs gathered again for the weight
#          gradients), the embedding's gradient, the final LayerNorm output;
#          reduce-scatters A x (4L + 2): per layer 2 forward (g) + 2 backward
#          (f's backward), the embedding, the head's input gradient;
#          all-reduces A x (L + 4): the LayerNorm weight gradients of each
#          layer and of the head, and the loss's 3;
#  - layout-free checkpoints: stop at tp=2, resume at tp=4 and in one process;
#    stop in one process, resume at tp=2 x dp=2 ZeRO-2; stop at tp=2 with SP,
#    resume at tp=4 with SP and at tp=2 without;
#  - the memory report's measured bytes equal plan_memory's at tp=2, with and
#    without SP, and one layer's activations equal Korthikanti et al.'s
#    formula (Table 2) converted to llmscale's fp32 model;
#  - layouts that cannot work are one clear error before any step.
# usage: test_tensor_parallel.sh build/llmscale
. "$(dirname "$0")/mpi_common.sh"

LR=1e-3
L=2 # the micro preset: 2 layers, 4 heads, padded vocab 384
COMMON="--data data --model micro --batch 2 --global-batch 8 --steps 20 --lr $LR --warmup 2 --threads 1 --peak-gflops 100 --print-every 0"
"$BIN" train $COMMON --out ref > ref.log 2>&1 || { cat ref.log; exit 1; }

for cfg in "2 1 0 0 1" "4 1 0 0 1" "2 2 0 1 1" "2 2 0 3 1" "2 2 0 0 0" \
           "2 1 1 0 1" "4 1 1 0 1" "2 2 1 1 1" "2 2 1 3 1" "2 1 1 0 0"; do
    set -- $cfg
    TP=$1 DP=$2 SP=$3 Z=$4 SHM=$5
    name="tp$TP-dp$DP-zero$Z"
    flags="--tp $TP --zero $Z"
    [ "$SP" = 1 ] && name="$name-sp" && flags="$flags --sp"
    [ "$SHM" = 0 ] && name="$name-mpi"
    LLMSCALE_SHM=$SHM $MPI -np $((TP * DP)) "$BIN" train $COMMON $flags --out "$name" > "$name.log" 2>&1 ||
        { fail "$name: training failed"; tail -5 "$name.log"; continue; }
    if out=$($CMP "$name" ref --lr $LR); then
        pass "$name equals one process: $(echo "$out" | grep params)"
    else
        fail "$name differs from one process:"; echo "$out"
    fi
    A=$((8 / (2 * DP)))
    if [ "$SP" = 1 ]; then
        want="$((A * (L + 4))) $((A * (6 * L + 2))) $((A * (4 * L + 2)))"
        how="all-reduce/all-gather/reduce-scatter = $A x (L+4, 6L+2, 4L+2)"
    else
        want="$((A * (4 * L + 5))) 0 0"
        how="all-reduces = $A x (4 x $L + 5), no all-gather or reduce-scatter"
    fi
    got=$(sed -n 's/.*"tp_allreduces": \([0-9]*\), "tp_allgathers": \([0-9]*\), "tp_reduce_scatters": \([0-9]*\).*/\1 \2 \3/p' \
          "$name/metrics.jsonl" | sort -u)
    if [ "$got" = "$want" ]; then
        pass "$name: tensor-parallel collectives per step $got: $how"
    else
        fail "$name: tensor-parallel collectives per step '$got', expected '$want' ($how)"
    fi
done

# layout-free checkpoints
hop() { # name, first layout flags, np1, second layout flags, np2
    rm -rf "$1"
    $MPI -np $3 "$BIN" train $COMMON $2 --stop-at 10 --out "$1" > "$1.a.log" 2>&1 &&
        $MPI -np $5 "$BIN" train $COMMON $4 --resume "$1" > "$1.b.log" 2>&1
    if [ $? -eq 0 ] && out=$($CMP "$1" ref --lr $LR); then
        pass "checkpoint '$2' (np $3) resumed as '$4' (np $5) equals one process"
    else
        fail "checkpoint '$2' -> '$4':"; echo "$out"; tail -3 "$1.a.log" "$1.b.log"
    fi
}
hop hop1 "--tp 2" 2 "--tp 4" 4
hop hop2 "--tp 2" 2 "" 1
hop hop3 "" 1 "--tp 2 --zero 2" 4
hop hop4 "--tp 2 --sp" 2 "--tp 4 --sp" 4
hop hop5 "--tp 2 --sp --zero 1" 4 "--tp 2" 2

# memory report: measured == plan_memory's prediction in every column, and
# one layer's activations == Korthikanti's formula in llmscale's terms
for sp in "" "--sp"; do
    $MPI -np 4 "$BIN" train $COMMON --tp 2 $sp --zero 1 --steps 1 --warmup 0 --memory-report > mem.log 2>&1
    if awk '/^ *[0-3]  /{ n++; for (i = 3; i <= 11; i += 2) if ($i != $(i + 1)) bad = 1 }
            END { exit !(n == 4 && !bad) }' FS='[ ()]+' mem.log; then
        pass "tp=2 $sp x dp=2 memory report: measured == predicted in every column"
    else
        fail "tp=2 $sp memory report"; cat mem.log
    fi
    if grep -q "activations per layer: .*Korthikanti.*: equal$" mem.log; then
        pass "tp=2 $sp: $(grep -o 'activations per layer: [0-9]* bytes' mem.log) = Korthikanti's formula"
    else
        fail "tp=2 $sp: activations per layer differ from Korthikanti's formula"; grep "per layer" mem.log
    fi
    grep -o 'activations per layer: [0-9]*' mem.log | grep -o '[0-9]*$' > "act$sp.txt"
done
# SP splits every per-layer activation by t: at t = 2 exactly half of one
# process's (plain TP keeps the row-wise regions whole: 4 + 12/t of 16)
"$BIN" train $COMMON --steps 1 --warmup 0 --memory-report > mem1.log 2>&1
one=$(grep -o 'activations per layer: [0-9]*' mem1.log | grep -o '[0-9]*$')
if [ -n "$one" ] && [ "$(cat act--sp.txt)" -eq $((one / 2)) ] && [ "$(cat act.txt)" -gt $((one / 2)) ]; then
    pass "per-layer activations: one process $one bytes, tp=2 $(cat act.txt), tp=2 with SP $(cat act--sp.txt) = half"
else
    fail "per-layer activations: one process '$one', tp=2 $(cat act.txt), with SP $(cat act--sp.txt)"
fi

# layouts that cannot work: one error line from rank 0, no step
bad_run "tp 3 does not divide 4 heads" 3 "$COMMON --tp 3" "tensor-parallel degree 3 must divide the number of heads (4)"
bad_run "world 3 is not a multiple of tp 2" 3 "$COMMON --tp 2" "world size 3 is not a multiple of tp 2"
bad_run "--sp without tensor parallelism" 2 "$COMMON --sp" "it needs --tp > 1"
bad_run "--sp with seq 14 over tp 4" 4 "$COMMON --tp 4 --sp --seq 14" "sequence length 14 is not a multiple of --tp 4"
if "$BIN" train $COMMON --tp 2 > bad.log 2>&1; then fail "--tp 2 in one process ran"
elif grep -q "launch with mpirun" bad.log; then pass "--tp 2 without mpirun: clear error"
else fail "--tp 2 without mpirun"; cat bad.log; fi

summary
