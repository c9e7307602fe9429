#!/bin/sh
# Data parallelism and ZeRO over MPI (mpirun --oversubscribe on this 2-core box):
#  - equivalence: dp in {2,4} x zero in {0,1,2,3} x grad-accum in {1,2}: 20
#    steps of losses and the final parameters equal the one-process run's to
#    1e-5 relative (tests/reference/compare_runs.py); through the shared-
#    memory collectives, and a subset through MPI's own (LLMSCALE_SHM=0);
#  - communication accounting: bytes each rank sends per step, as counted by
#    comm.c, equal 2 Psi (dp, ZeRO-1), (A+1) Psi (ZeRO-2), 3 A Psi (ZeRO-3),
#    Psi the parameter bytes and ring volumes (W-1)/W;
#  - layout-free checkpoints: stop at dp=2 ZeRO-3, resume at dp=4 ZeRO-1;
#  - a world that does not fit the batch is one clear error before any work;
#  - a rank killed mid-run ends the whole job, naming the rank, within 30 s.
# usage: test_data_parallel.sh build/llmscale
. "$(dirname "$0")/mpi_common.sh"
expect_grep() { if grep -q -e "$2" "$3"; then pass "$1"; else fail "$1 ('$2' not in $3)"; tail -5 "$3"; fi; }
expect_status() { if [ "$2" -ne 0 ]; then pass "$1 (exit $2)"; else fail "$1 (exit 0)"; fi; }

LR=1e-3
COMMON="--data data --model micro --batch 2 --steps 20 --lr $LR --warmup 2 --threads 1 --peak-gflops 100 --print-every 0"

# one-process references for the three global batches used below
for G in 4 8 16; do
    "$BIN" train $COMMON --global-batch $G --out ref$G > ref$G.log 2>&1 || { cat ref$G.log; exit 1; }
done

# expected bytes one rank sends per step
expect_bytes() { # W stage A n
    awk -v W="$1" -v z="$2" -v A="$3" -v n="$4" 'BEGIN {
        P = 4 * n; f = (W - 1) / W
        v = (z <= 1) ? 2 * f * P : (z == 2) ? (A + 1) * f * P : 3 * A * f * P
        printf "%.0f\n", v }'
}

for W in 2 4; do
    for A in 1 2; do
        G=$((2 * W * A))
        for Z in 0 1 2 3; do
            name="dp$W-ga$A-zero$Z"
            # small buckets, so several reductions overlap the backward pass
            $MPI -np $W "$BIN" train $COMMON --global-batch $G --zero $Z --bucket-mb 0.03 \
                --out "$name" > "$name.log" 2>&1
            if [ $? -ne 0 ]; then
                fail "$name: training failed"; tail -5 "$name.log"; continue
            fi
            if out=$($CMP "$name" ref$G --lr $LR); then
                pass "$name equals one process: $(echo "$out" | grep params)"
            else
                fail "$name differs from one process:"; echo "$out"
            fi
            n=$(sed -n 's/.*slice [0-9]* of \([0-9]*\) floats.*/\1/p' "$name.log")
            want=$(expect_bytes $W $Z $A "$n")
            got=$(sed -n 's/.*"comm_bytes": \([0-9]*\).*/\1/p' "$name/metrics.jsonl" | sort -u)
            if [ "$got" = "$want" ]; then
                pass "$name sends $got bytes per step (formula $want, n = $n floats)"
            else
                fail "$name sends '$got' bytes per step, formula says $want (n = $n)"
            fi
        done
    done
done

# the same through MPI's own non-blocking collectives (LLMSCALE_SHM=0), and
# with the all-gathers through the shared window too (LLMSCALE_SHM=all)
for cfg in "2 2 0" "2 2 3" "4 1 1" "4 1 2" "all 4 2 3"; do
    set -- $cfg
    shm=0
    [ "$1" = all ] && { shm=all; shift; }
    W=$1 A=$2 Z=$3 G=$((2 * $1 * $2))
    name="shm$shm-dp$W-ga$A-zero$Z"
    LLMSCALE_SHM=$shm $MPI -np $W "$BIN" train $COMMON --global-batch $G --zero $Z --bucket-mb 0.03 \
        --out "$name" > "$name.log" 2>&1 || { fail "$name: training failed"; tail -5 "$name.log"; continue; }
    if out=$($CMP "$name" ref$G --lr $LR); then
        pass "$name equals one process"
    else
        fail "$name differs:"; echo "$out"
    fi
done

# layout-free checkpoints: 10 steps at dp=2 ZeRO-3, then 10 more at dp=4 ZeRO-1
$MPI -np 2 "$BIN" train $COMMON --global-batch 8 --zero 3 --stop-at 10 --out hop > hop1.log 2>&1 &&
    $MPI -np 4 "$BIN" train $COMMON --global-batch 8 --zero 1 --resume hop > hop2.log 2>&1
if [ $? -eq 0 ] && out=$($CMP hop ref8 --lr $LR); then
    pass "stop at dp=2 ZeRO-3, resume at dp=4 ZeRO-1: equals one process"
else
    fail "cross-layout resume:"; echo "$out"; tail -n 3 hop1.log hop2.log
fi

# --memory-report: each rank's measured bytes equal plan_memory's prediction
# (params, grads, AdamW, activations, staging buffers), and ZeRO-3 on 4 ranks
# holds a quarter of the parameters
for Z in 0 1 2 3; do
    $MPI -np 4 "$BIN" train $COMMON --global-batch 8 --zero $Z --steps 1 --warmup 0 --bucket-mb 0.03 \
        --memory-report > mem$Z.log 2>&1
    # fields after splitting on blanks and parentheses: "", rank, then pairs
    # measured (predicted) for params, grads, AdamW, activations, buffers
    if awk '/^ *[0-3]  /{ n++; for (i = 3; i <= 11; i += 2) if ($i != $(i + 1)) bad = 1 }
            END { exit !(n == 4 && !bad) }' FS='[ ()]+' mem$Z.log; then
        pass "ZeRO-$Z memory report: 4 ranks, measured == predicted in every column"
    else
        fail "ZeRO-$Z memory report"; cat mem$Z.log
    fi
done
p0=$(awk '/^ *0  /{ print $3 }' FS='[ ()]+' mem0.log)
p3=$(awk '/^ *0  /{ print $3 }' FS='[ ()]+' mem3.log)
if awk -v a="$p0" -v b="$p3" 'BEGIN { r = a / b; exit !(r > 3.9 && r < 4.1) }'; then
    pass "ZeRO-3 parameters per rank are a quarter of ZeRO-0's ($p3 vs $p0 MiB)"
else
    fail "ZeRO-3 parameters per rank $p3 vs ZeRO-0 $p0 MiB"
fi

# a world that does not fit the batch: one clear error, before any step
$MPI -np 3 "$BIN" train $COMMON --global-batch 8 > bad.log 2>&1
expect_status "global batch not divisible by batch x dp" $?
expect_grep "names the problem" "is not a multiple of --batch 2 x 3 data-parallel ranks" bad.log
if grep -q "^step" bad.log; then fail "steps ran before the layout error"; else pass "no step ran"; fi

# a rank killed mid-run: the job ends, naming the rank, well before 30 s
start=$(date +%s)
$MPI -np 2 "$BIN" train $COMMON --global-batch 4 --steps 1000000 > kill.log 2>&1 &
job=$!
sleep 4
victim=$(pgrep -P $job | tail -1)
[ -n "$victim" ] && kill -9 "$victim"
( sleep 30; kill -9 $job 2>/dev/null ) &
guard=$!
wait $job
rc=$?
kill $guard 2>/dev/null
elapsed=$(( $(date +%s) - start ))
expect_status "job with a killed rank exits non-zero" $rc
expect_grep "the message names the dead rank" "rank [0-9]" kill.log
if [ $elapsed -lt 30 ]; then pass "job ended ${elapsed}s after start (killed at 4 s)"; else fail "job hung ($elapsed s)"; fi

summary
