#!/bin/sh
# The watchdog (src/parallel/watchdog.h): a rank that stops participating
# (LLMSCALE_FAULT_HANG=STEP:RANK sends it SIGSTOP when that step begins)
# makes the job exit non-zero within the timeout plus a bound, every
# surviving rank printing one line that names what it waited for (operation,
# group, peer, step, pipeline action), and no process of the job survives:
#  - dp=2 (timeout from LLMSCALE_TIMEOUT; MPI's non-blocking collectives, so
#    the wait for a request): rank 0 in the gradient all-reduce;
#  - pp=2 x tp=2 (--timeout): rank 1 in the pipeline send of activations to
#    the stopped rank 3, ranks 0 and 2 in tensor-parallel all-reduces (the
#    shared-memory path);
#  - a rank killed with SIGKILL ends the job within the timeout;
#  - bad --timeout / LLMSCALE_TIMEOUT / LLMSCALE_FAULT_HANG values are one
#    clear error.
# usage: test_hang.sh build/llmscale
. "$(dirname "$0")/mpi_common.sh"

T=5      # --timeout
SLACK=15 # start-up, two steps, the watchdog's look interval and grace, teardown
COMMON="--data data --model micro --batch 2 --threads 1 --print-every 1 --peak-gflops 100"

# live (not zombie) processes of this test's jobs: their --out is under $D
leftovers() { ps -eo stat=,args= | awk -v d="$D/run-" 'index($0, d) && $1 !~ /^Z/' | grep -v awk; }

# run_job NAME NP "ENV" "FLAGS": runs the job (killed after 120 s), sets rc and elapsed
run_job() {
    start=$(date +%s)
    env $3 $MPI -np "$2" "$BIN" train $COMMON $4 --out "$D/run-$1" > "$1.log" 2>&1 &
    job=$!
    ( sleep 120; kill -9 $job 2>/dev/null ) &
    guard=$!
    wait $job
    rc=$?
    kill $guard 2>/dev/null
    elapsed=$(( $(date +%s) - start ))
}

# check_hang NAME: the common expectations of a hung run
check_hang() {
    if [ $rc -ne 0 ]; then pass "$1: job exited non-zero ($rc)"; else fail "$1: exit 0"; fi
    if [ $elapsed -le $((T + SLACK)) ]; then
        pass "$1: ended $elapsed s after start (--timeout $T, bound $((T + SLACK)) s)"
    else
        fail "$1: took $elapsed s (bound $((T + SLACK)) s)"
    fi
    if grep -q "LLMSCALE_FAULT_HANG: stopping at step 3" "$1.log"; then pass "$1: the fault was injected"
    else fail "$1: no fault injected"; fi
    left=$(leftovers)
    if [ -z "$left" ]; then pass "$1: no process of the job left"
    else fail "$1: processes left: $left"; fi
}

# expect_line NAME RANK PATTERN: rank's one diagnostic line matches PATTERN
expect_line() {
    line=$(grep "^llmscale: error: \[rank $2\] no progress for" "$1.log")
    if [ "$(echo "$line" | grep -c .)" = 1 ] && echo "$line" | grep -q -e "$3"; then
        pass "$1: rank $2: $(echo "$line" | sed 's/^llmscale: error: //' | cut -d';' -f1)"
    else
        fail "$1: rank $2's line does not match '$3'"; grep -v '^step' "$1.log" | tail -15
    fi
}
expect_silent() {
    if grep -q "^llmscale: error: \[rank $2\] no progress" "$1.log"; then fail "$1: the stopped rank $2 reported"
    else pass "$1: the stopped rank $2 printed no diagnostic"; fi
}

# ---- dp=2, rank 1 stops at step 3; the timeout comes from the environment;
# MPI's collectives (LLMSCALE_SHM=0): rank 0 waits for its Iallreduce request
run_job dp2 2 "LLMSCALE_FAULT_HANG=3:1 LLMSCALE_TIMEOUT=$T LLMSCALE_SHM=0" "--steps 20"
check_hang dp2
expect_line dp2 0 "in all-reduce of [0-9]* floats on the dp group (rank 0 of 2: world ranks 0 1) at step 3, backward of micro-batch 0; a rank of that group died, stopped or is stuck: ending the job (--timeout $T s"
expect_silent dp2 1
grep -q "^step     2/20" dp2.log && pass "dp2: steps 1 and 2 ran (no false alarm)" || fail "dp2: steps before the hang missing"

# ---- pp=2 x tp=2 (world ranks: stage 0 = 0 1, stage 1 = 2 3), rank 3 stops at step 3
run_job pp2tp2 4 "LLMSCALE_FAULT_HANG=3:3" "--pp 2 --tp 2 --global-batch 8 --steps 20 --timeout $T"
check_hang pp2tp2
expect_line pp2tp2 1 "in send of [0-9]* floats to rank 1 of the pp group (world rank 3) at step 3, pipeline send of activations of micro-batch 0; that rank died, stopped or is stuck: ending the job (--timeout $T s"
expect_line pp2tp2 0 "in all-reduce of [0-9]* floats on the tp group (rank 0 of 2: world ranks 0 1) at step 3, pipeline forward of micro-batch 1"
expect_line pp2tp2 2 "in all-reduce of [0-9]* floats on the tp group (rank 0 of 2: world ranks 2 3) at step 3, pipeline forward of micro-batch 0"
expect_silent pp2tp2 3

# ---- a rank killed with SIGKILL (pp=2 x tp=2): the job ends within the timeout
start=$(date +%s)
$MPI -np 4 "$BIN" train $COMMON --pp 2 --tp 2 --global-batch 8 --steps 1000000 --timeout $T \
    --out "$D/run-kill" > kill.log 2>&1 &
job=$!
( sleep 120; kill -9 $job 2>/dev/null ) &
guard=$!
n=0
until grep -q "^step" kill.log || [ $n -ge 60 ]; do sleep 0.5; n=$((n + 1)); done
victim=$(pgrep -P $job | sed -n 4p)
[ -n "$victim" ] && kill -9 "$victim"
killed=$(date +%s)
wait $job
rc=$?
kill $guard 2>/dev/null
after=$(( $(date +%s) - killed ))
if [ -n "$victim" ] && [ $rc -ne 0 ] && [ $after -le $T ]; then
    pass "SIGKILL of a rank: job exited ($rc) $after s after the kill (--timeout $T)"
else
    fail "SIGKILL of a rank: victim '$victim', exit $rc, $after s after the kill"; tail -5 kill.log
fi
left=$(leftovers)
if [ -z "$left" ]; then pass "SIGKILL: no process of the job left"; else fail "SIGKILL: processes left: $left"; fi

# ---- bad values: one clear error
bad_run "--timeout -1" 2 "$COMMON --steps 1 --timeout -1" "--timeout"
export LLMSCALE_TIMEOUT=soon
bad_run "LLMSCALE_TIMEOUT=soon" 2 "$COMMON --steps 1" "LLMSCALE_TIMEOUT='soon' must be a number"
unset LLMSCALE_TIMEOUT
export LLMSCALE_FAULT_HANG=3
bad_run "LLMSCALE_FAULT_HANG=3" 2 "$COMMON --steps 1" "LLMSCALE_FAULT_HANG='3' must be STEP:RANK"
unset LLMSCALE_FAULT_HANG

left=$(leftovers)
[ -z "$left" ] || { echo "cleaning up: $left"; }
summary
