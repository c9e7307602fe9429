#!/bin/sh
# The non-finite guard (--max-skips), with faults injected by
# LLMSCALE_FAULT_NAN_STEP (one gradient value poisoned on rank 0 after the
# reduction, at step N, or at every step from N with "N+"):
#  - one bad step: a warning naming the step and the tensor, no update, the
#    count in metrics.jsonl, the run finishes with finite losses and exit 0;
#  - bad steps in a row: after --max-skips of them the run stops non-zero with
#    one message naming the step and the tensor, and writes nothing for it
#    (a skipped step changed no parameter, so its checkpoint is a good one);
#  - the same under mpirun with a pipeline (the norm is global, so every rank
#    skips the same step).
# usage: test_nonfinite.sh build/llmscale
. "$(dirname "$0")/mpi_common.sh"
base="--data data --model micro --batch 2 --global-batch 8 --steps 6 --lr 1e-3 --threads 1 --peak-gflops 100"

LLMSCALE_FAULT_NAN_STEP=3 "$BIN" train $base --out one > one.log 2>&1
rc=$?
if [ $rc -eq 0 ] && grep -q "step 3: .*first non-finite gradient: wte) not finite: update skipped (1 in a row" one.log &&
    [ "$(grep -c '"skipped": 1' one/metrics.jsonl)" -eq 4 ] && ! grep -q '"loss": nan' one/metrics.jsonl; then
    pass "one bad step: skipped with a warning naming the tensor, the run finishes"
else
    fail "one bad step (exit $rc)"; cat one.log
fi

LLMSCALE_FAULT_NAN_STEP=2+ "$BIN" train $base --max-skips 2 --save-every 1 --out many > many.log 2>&1
rc=$?
if [ $rc -ne 0 ] && grep -q "step 3: .*wte) not finite for 2 steps in a row (--max-skips 2); stopping without saving (last checkpoint: step 2" many.log &&
    [ "$(cat many/latest)" = 2 ]; then
    pass "bad steps in a row: stops after --max-skips, names the tensor, keeps the last good checkpoint"
else
    fail "bad steps in a row (exit $rc)"; cat many.log; cat many/latest
fi

LLMSCALE_FAULT_NAN_STEP=2+ $MPI -np 4 "$BIN" train $base --pp 2 --tp 2 --zero 1 --out pp > pp.log 2>&1
rc=$?
if [ $rc -ne 0 ] && grep -q "step 4: .*not finite for 3 steps in a row (--max-skips 3)" pp.log &&
    ! grep -q "^step     4" pp.log; then
    pass "pp=2 x tp=2: every rank skips, the run stops after 3"
else
    fail "pp=2 x tp=2 (exit $rc)"; cat pp.log
fi
summary
