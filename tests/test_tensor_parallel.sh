#!/bin/sh
# Tensor parallelism over MPI (mpirun --oversubscribe on this 2-core box):
#  - equivalence: (tp, dp, zero) in {(2,1,0), (4,1,0), (2,2,1), (2,2,3), (2,2,0)
#    through MPI's own collectives}: 20 steps of losses and the final
#    parameters equal the one-process run's to 1e-5 relative;
#  - collective counts: tensor-parallel all-reduces per step = A x (4 L + 5):
#    per layer 2 forward (g after the output projections) + 2 backward (f's
#    backward after the QKV and fc input gradients), plus the embedding (1),
#    the loss (3: max, sum of exps, target logit) and the head's input
#    gradient (1), for each of the A micro-batches;
#  - layout-free checkpoints: stop at tp=2, resume at tp=4 and in one process;
#    stop in one process, resume at tp=2 x dp=2 ZeRO-2;
#  - the memory report's measured bytes equal plan_memory's at tp=2;
#  - layouts that cannot work are one clear error before any step.
# usage: test_tensor_parallel.sh build/llmscale
. "$(dirname "$0")/mpi_common.sh"

LR=1e-3
L=2 # the micro preset: 2 layers, 4 heads, padded vocab 384
COMMON="--data data --model micro --batch 2 --global-batch 8 --steps 20 --lr $LR --warmup 2 --threads 1 --peak-gflops 100 --print-every 0"
"$BIN" train $COMMON --out ref > ref.log 2>&1 || { cat ref.log; exit 1; }

for cfg in "2 1 0 1" "4 1 0 1" "2 2 1 1" "2 2 3 1" "2 2 0 0"; do
    set -- $cfg
    TP=$1 DP=$2 Z=$3 SHM=$4
    name="tp$TP-dp$DP-zero$Z"
    [ "$SHM" = 0 ] && name="$name-mpi"
    LLMSCALE_SHM=$SHM $MPI -np $((TP * DP)) "$BIN" train $COMMON --tp $TP --zero $Z --out "$name" > "$name.log" 2>&1 ||
        { fail "$name: training failed"; tail -5 "$name.log"; continue; }
    if out=$($CMP "$name" ref --lr $LR); then
        pass "$name equals one process: $(echo "$out" | grep params)"
    else
        fail "$name differs from one process:"; echo "$out"
    fi
    A=$((8 / (2 * DP)))
    want=$((A * (4 * L + 5)))
    got=$(sed -n 's/.*"tp_allreduces": \([0-9]*\).*/\1/p' "$name/metrics.jsonl" | sort -u)
    if [ "$got" = "$want" ]; then
        pass "$name: $got tensor-parallel all-reduces per step = $A x (4 x $L + 5)"
    else
        fail "$name: '$got' tensor-parallel all-reduces per step, expected $want"
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

# memory report: measured == plan_memory's prediction in every column
$MPI -np 4 "$BIN" train $COMMON --tp 2 --zero 1 --steps 1 --warmup 0 --memory-report > mem.log 2>&1
if awk '/^ *[0-3]  /{ n++; for (i = 3; i <= 11; i += 2) if ($i != $(i + 1)) bad = 1 }
        END { exit !(n == 4 && !bad) }' FS='[ ()]+' mem.log; then
    pass "tp=2 x dp=2 memory report: measured == predicted in every column"
else
    fail "tp=2 memory report"; cat mem.log
fi

# layouts that cannot work: one error line from rank 0, no step
bad() { # name, np, flags, expected message
    $MPI -np $2 "$BIN" train $COMMON $3 > bad.log 2>&1
    rc=$?
    if [ $rc -ne 0 ] && grep -q -e "$4" bad.log && ! grep -q '^step' bad.log; then
        pass "$1: clear error"
    else
        fail "$1 (exit $rc)"; cat bad.log
    fi
}
bad "tp 3 does not divide 4 heads" 3 "--tp 3" "tensor-parallel degree 3 must divide heads (4)"
bad "world 3 is not a multiple of tp 2" 3 "--tp 2" "world size 3 is not a multiple of tp 2"
if "$BIN" train $COMMON --tp 2 > bad.log 2>&1; then fail "--tp 2 in one process ran"
elif grep -q "launch with mpirun" bad.log; then pass "--tp 2 without mpirun: clear error"
else fail "--tp 2 without mpirun"; cat bad.log; fi

summary
