#!/bin/sh
# Crash safety with --resume auto:
#  - an empty run directory: --resume auto starts the run;
#  - the newest checkpoint truncated (a crash while writing that got past the
#    atomic rename, or a damaged disk): --resume auto warns, ignores it and
#    continues from the previous one, bit-identical to the uninterrupted run;
#  - kill -9 at random moments (seeded: LLMSCALE_TEST_SEED, printed, replays
#    a failure): 5 kills of a one-process run, then 5 kills of a random rank
#    of a 4-rank run (pp=2 x tp=2), each at a random step (and moment in it), restarted with --resume auto; the
#    finished runs' 60 losses and final parameters equal the uninterrupted
#    run's: bit-identical to the same layout's uninterrupted run, 1e-5
#    relative to the one-process run; one more kill of the 4-rank run,
#    restarted as dp=2 ZeRO-1, ends equal to the one-process run (1e-5).
# usage: test_resume_auto.sh build/llmscale
. "$(dirname "$0")/mpi_common.sh"
SEED=${LLMSCALE_TEST_SEED:-$(date +%s)}
echo "# kill points from seed $SEED (LLMSCALE_TEST_SEED=$SEED replays them)"
base="--data data --model tiny --batch 2 --seq 64 --global-batch 4 --steps 60 --lr 1e-3 --warmup 5 --threads 1 --peak-gflops 100 --print-every 1 --save-every 3"
"$BIN" train $base --out ref > ref.log 2>&1 || { cat ref.log; exit 1; }
$MPI -np 4 "$BIN" train $base --pp 2 --tp 2 --out ref4 > ref4.log 2>&1 || { cat ref4.log; exit 1; }

"$BIN" train $base --resume auto --out fresh > fresh.log 2>&1
if grep -q "no complete checkpoint in 'fresh': starting a new run" fresh.log && $CMP fresh ref --tol 0 > /dev/null; then
    pass "--resume auto on an empty run directory starts the run"
else
    fail "--resume auto on an empty directory"; tail -n 3 fresh.log
fi

"$BIN" train $base --stop-at 31 --out cut > cut.log 2>&1
truncate -s 1000 cut/ckpt_00000031/state.bin
"$BIN" train $base --resume auto --out cut > cut2.log 2>&1
if grep -q "checkpoint of step 31 in 'cut' is incomplete or corrupt (state file has the wrong size" cut2.log &&
    grep -q "continuing 'cut' from its checkpoint of step 30" cut2.log && $CMP cut ref --tol 0 > /dev/null; then
    pass "a truncated newest checkpoint is ignored with a warning; the previous one continues bit-identically"
else
    fail "truncated newest checkpoint"; cat cut2.log
fi

# wait until LOG shows a step >= $1 (or the job PID ended), then sleep $2
at_step() {
    while kill -0 "$3" 2> /dev/null; do
        last=$(grep -o '^step *[0-9]*' "$4" 2> /dev/null | tail -1 | awk '{ print $2 }')
        [ "${last:-0}" -ge "$1" ] && break
        sleep 0.01
    done
    sleep "$2"
}
# A crash while a checkpoint is being written (LLMSCALE_FAULT_KILL_SAVE=S:R:
# rank R SIGKILLs itself after writing its slices of step S's checkpoint,
# before the commit): only ckpt_<S>.tmp is left, `latest` still names the
# previous step, --resume auto warns about the .tmp and continues bit-identically.
LLMSCALE_FAULT_KILL_SAVE=12:1 $MPI -np 4 "$BIN" train $base --pp 2 --tp 2 --out mid > mid.log 2>&1
rc=$?
$MPI -np 4 "$BIN" train $base --pp 2 --tp 2 --resume auto --out mid > mid2.log 2>&1
if [ $rc -ne 0 ] && grep -q "left by an interrupted write" mid2.log &&
    grep -q "continuing 'mid' from its checkpoint of step 9" mid2.log; then
    pass "rank 1 killed while writing step 12's checkpoint: ckpt_00000012.tmp ignored with a warning, step 9 continues"
else
    fail "kill while writing (exit $rc)"; tail -n 3 mid.log mid2.log
fi
ls mid > mid.ls
if [ "$(grep -c '^ckpt_' mid.ls)" -eq 2 ] && ! grep -q tmp mid.ls && $CMP mid ref4 --tol 0 > /dev/null; then
    pass "the resumed run rewrote step 12, kept 2 checkpoints (--keep default), and equals the uninterrupted run bit for bit"
else
    fail "after the kill while writing:"; cat mid.ls
fi
"$BIN" train $base --steps 20 --keep 3 --out keep3 > /dev/null 2>&1
"$BIN" train $base --steps 20 --keep 0 --out keep0 > /dev/null 2>&1
k3=$(ls keep3 | grep -c '^ckpt_'); k0=$(ls keep0 | grep -c '^ckpt_')
if [ "$k3" -eq 3 ] && [ -d keep3/ckpt_00000020 ] && [ -d keep3/ckpt_00000015 ] && [ "$k0" -eq 7 ]; then
    pass "--keep 3 keeps the 3 newest checkpoints, --keep 0 all 7"
else
    fail "--keep: $k3 and $k0 checkpoints"; ls keep3 keep0
fi

# SIGTERM (a scheduler's time limit) at pp=2 x tp=2: to the ranks (what
# Slurm does), the job exits 0 after a checkpoint of the step it stopped at;
# to mpirun (which forwards it to the ranks, then reports the signal itself),
# the checkpoint is written as well. Both continue bit-identically. These runs
# are 200 steps long: the signal is sent at step 20 and reaches the ranks
# through mpirun some 40 steps (0.5 s) later here, so 60 steps were too few
# to be sure it arrives before the run ends.
long=$(echo "$base" | sed 's/--steps 60/--steps 200/')
$MPI -np 4 "$BIN" train $long --pp 2 --tp 2 --out ref4l > ref4l.log 2>&1 || { cat ref4l.log; exit 1; }
$MPI -np 4 "$BIN" train $long --pp 2 --tp 2 --out term > term.log 2>&1 &
pid=$!
at_step 20 0 $pid term.log
pkill -TERM -P $pid
wait $pid
rc=$?
st=$(cat term/latest 2> /dev/null)
$MPI -np 4 "$BIN" train $long --pp 2 --tp 2 --resume auto --out term > term2.log 2>&1
if [ $rc -eq 0 ] && grep -q "SIGTERM received: stopping after step $st" term.log &&
    grep -q "continue with the same command plus --resume" term.log && $CMP term ref4l --tol 0 > /dev/null; then
    pass "SIGTERM to the ranks: exit 0 with a checkpoint of step $st and how to resume; continues bit-identically"
else
    fail "SIGTERM to the ranks (exit $rc, latest '$st')"; tail -n 3 term.log term2.log
fi
$MPI -np 4 "$BIN" train $long --pp 2 --tp 2 --out term_m > term_m.log 2>&1 &
pid=$!
at_step 20 0 $pid term_m.log
kill -TERM $pid
wait $pid
st=$(cat term_m/latest 2> /dev/null)
$MPI -np 4 "$BIN" train $long --pp 2 --tp 2 --resume auto --out term_m > term_m2.log 2>&1
if grep -q "SIGTERM received: stopping after step $st" term_m.log && $CMP term_m ref4l --tol 0 > /dev/null; then
    pass "SIGTERM to mpirun: the ranks checkpoint step $st; continues bit-identically"
else
    fail "SIGTERM to mpirun (latest '$st')"; tail -n 3 term_m.log term_m2.log
fi

# Kill points from the seed: 5 for the one-process run, 5 for the 4-rank run,
# each a step number in [2, 58] (sorted, so every restart gets there) plus a
# delay of 0-40 ms after that step's progress line, which lands anywhere in the
# step: forward, backward, the collectives, a checkpoint being written.
points=$(awk -v s="$SEED" 'BEGIN { srand(s)
    for (g = 0; g < 2; g++) { for (i = 0; i < 5; i++) st[i] = 2 + int(57 * rand())
        for (i = 1; i < 5; i++) for (j = i; j > 0 && st[j - 1] > st[j]; j--) { x = st[j]; st[j] = st[j - 1]; st[j - 1] = x }
        for (i = 0; i < 5; i++) printf "%d %.3f %d\n", st[i], 0.04 * rand(), int(4 * rand()) }
}')
i=0
echo "$points" | while read -r st d r; do
    i=$((i + 1))
    if [ $i -le 5 ]; then
        "$BIN" train $base --resume auto --out one > "one.$i.log" 2>&1 &
        pid=$!
        at_step "$st" "$d" $pid "one.$i.log"
        kill -9 $pid 2> /dev/null; wait $pid 2> /dev/null
        [ $? -eq 137 ] && echo x >> killed1
        echo "# one process: kill -9 at step $st + ${d}s (restart $i)"
    else
        $MPI -np 4 "$BIN" train $base --pp 2 --tp 2 --resume auto --out four > "four.$i.log" 2>&1 &
        pid=$!
        at_step "$st" "$d" $pid "four.$i.log"
        victim=$(pgrep -P $pid | sed -n "$((r + 1))p")
        [ -n "$victim" ] && kill -9 "$victim" 2> /dev/null
        wait $pid 2> /dev/null
        [ $? -ne 0 ] && echo x >> killed4
        echo "# 4 ranks: kill -9 of rank process $r at step $st + ${d}s (restart $i)"
    fi
done
"$BIN" train $base --resume auto --out one > one.end.log 2>&1
k1=$(cat killed1 2> /dev/null | wc -l); k4=$(cat killed4 2> /dev/null | wc -l)
if [ "$k1" -gt 0 ] && [ "$k4" -gt 0 ]; then
    pass "kills that interrupted a running job: $k1 of 5 (one process), $k4 of 5 (4 ranks)"
else
    fail "no kill interrupted a job ($k1, $k4): the runs finished before the kill points"
fi
if out=$($CMP one ref --tol 0); then
    pass "one process, kill -9 and --resume auto: 60 steps bit-identical to the uninterrupted run"
else
    fail "one process after kills:"; echo "$out"; tail -n 3 one.end.log
fi
$MPI -np 4 "$BIN" train $base --pp 2 --tp 2 --resume auto --out four > four.end.log 2>&1
if out=$($CMP four ref4 --tol 0); then
    pass "4 ranks (pp=2 x tp=2), kill -9 of a random rank and --resume auto: bit-identical to the uninterrupted 4-rank run"
else
    fail "4 ranks after kills vs uninterrupted 4 ranks:"; echo "$out"
fi
if out=$($CMP four ref); then
    pass "4 ranks (pp=2 x tp=2), kill -9 of a random rank and --resume auto: equal the uninterrupted run ($(echo "$out" | grep params))"
else
    fail "4 ranks after kills:"; echo "$out"; tail -n 3 four.end.log
fi
# and onto another layout: kill -9 of a rank of a pp=2 x tp=2 run at a seeded
# step, restart with --resume auto as dp=2 ZeRO-1 on 2 ranks
xs=$(awk -v s="$SEED" 'BEGIN { srand(s + 1); printf "%d %d", 5 + int(50 * rand()), int(4 * rand()) }')
$MPI -np 4 "$BIN" train $base --pp 2 --tp 2 --out cross > cross.log 2>&1 &
pid=$!
at_step "${xs% *}" 0.01 $pid cross.log
victim=$(pgrep -P $pid | sed -n "$((${xs#* } + 1))p")
[ -n "$victim" ] && kill -9 "$victim" 2> /dev/null
wait $pid 2> /dev/null
rc=$?
$MPI -np 2 "$BIN" train $base --zero 1 --resume auto --out cross > cross2.log 2>&1
if [ $rc -ne 0 ] && grep -q "continuing 'cross'" cross2.log && out=$($CMP cross ref); then
    pass "kill -9 at step ${xs% *} of a pp=2 x tp=2 run, resumed as dp=2 ZeRO-1: equal the one-process run ($(echo "$out" | grep params))"
else
    fail "cross-layout restart (exit $rc):"; echo "$out"; tail -n 3 cross.log cross2.log
fi
summary
