#!/bin/sh
# plan.sh - how well `llmscale plan --gpu cpu-local` predicts llmscale's own
# measured steps on this machine (make bench; tests/test_plan_layouts.sh runs
# it on a smaller model with a tolerance).
#
# 1. Calibrate, in a private cache directory so that nothing stale is read:
#      llmscale bench --no-train --threads 2              (one process, 2 threads)
#      mpirun -np 2 llmscale bench --threads 1            (2 processes together,
#                                                          and their all-reduce)
# 2. Train a few steps of each layout, alternating, ROUNDS times (step 1 of a
#    run is warm-up; each run gives the median of the others):
#      one process x 2 threads, B sequences          (global batch B)
#      dp=2: 2 ranks x 1 thread, B per rank           (global batch 2B)
#      tp=2: 2 ranks x 1 thread, --tp 2               (global batch B)
# 3. Print plan's prediction for the same layouts against the median of the
#    runs' medians, and the error. With TOL set (percent), exit 1 when any
#    |error| exceeds it.
#
# Environment: SHAPE (model flags; default the GPT-2 124M shape), B (4), T (64),
# STEPS (6), ROUNDS (3), TOL (unset: report only), LLMSCALE (build/llmscale).
set -eu
cd "$(dirname "$0")/.."
BIN=${LLMSCALE:-$PWD/build/llmscale}
SHAPE=${SHAPE:---model gpt2}
B=${B:-4}
T=${T:-64}
STEPS=${STEPS:-6}
ROUNDS=${ROUNDS:-3}
W=$(mktemp -d "${TMPDIR:-/tmp}/llmscale_bench_plan.XXXXXX")
trap 'rm -rf "$W"' EXIT
export XDG_CACHE_HOME="$W/cache"
MPI="mpirun --oversubscribe --allow-run-as-root"
corpus=../shared/data/tinyshakespeare.txt
[ -f "$corpus" ] || { cat README.md docs/*.md src/*/*.c > "$W/corpus.txt"; corpus=$W/corpus.txt; }
"$BIN" prepare --input "$corpus" --out "$W/data" > /dev/null

"$BIN" bench --no-train --threads 2 > "$W/cal1" 2>&1 || { cat "$W/cal1"; exit 1; }
$MPI -np 2 "$BIN" bench --threads 1 > "$W/cal2" 2>&1 || { cat "$W/cal2"; exit 1; }
echo "calibration (llmscale bench):"
grep "plan calibration" "$W/cal1" | sed 's/ -> .*//; s/^/  1 x 2 threads: /'
grep -A1 "^per process" "$W/cal2" | sed 's/ -> .*//; s/^/  2 x 1 thread:  /'

# median of a metrics.jsonl field over steps 2.. (step 1 warms up)
median() { # file field
    sed -n "s/.*\"$2\": \([0-9.e+-]*\).*/\1/p" "$1" | tail -n +2 | sort -g |
        awk '{ v[NR] = $1 } END { print (NR % 2) ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2 }'
}
ARGS="--data $W/data $SHAPE --batch $B --seq $T --steps $STEPS --lr 1e-4 --print-every 0"
for lay in one dp tp; do : > "$W/$lay.txt"; : > "$W/$lay.comm"; done
r=0
while [ "$r" -lt "$ROUNDS" ]; do
    r=$((r + 1))
    "$BIN" train $ARGS --threads 2 --global-batch "$B" --out "$W/run" > "$W/log" 2>&1 || { cat "$W/log"; exit 1; }
    median "$W/run/metrics.jsonl" ms >> "$W/one.txt"
    median "$W/run/metrics.jsonl" comm_wait_ms >> "$W/one.comm"
    rm -rf "$W/run"
    $MPI -np 2 "$BIN" train $ARGS --threads 1 --global-batch $((2 * B)) --out "$W/run" > "$W/log" 2>&1 || { cat "$W/log"; exit 1; }
    median "$W/run/metrics.jsonl" ms >> "$W/dp.txt"
    median "$W/run/metrics.jsonl" comm_wait_ms >> "$W/dp.comm"
    rm -rf "$W/run"
    $MPI -np 2 "$BIN" train $ARGS --threads 1 --global-batch "$B" --tp 2 --out "$W/run" > "$W/log" 2>&1 || { cat "$W/log"; exit 1; }
    median "$W/run/metrics.jsonl" ms >> "$W/tp.txt"
    median "$W/run/metrics.jsonl" comm_wait_ms >> "$W/tp.comm"
    rm -rf "$W/run"
done
# the median of the runs' medians (lower middle for an even count)
medn() { sort -g "$1" | awk '{ v[NR] = $1 } END { print v[int((NR + 1) / 2)] }'; }

predict() { # threads, plan layout flags -> predicted ms
    "$BIN" plan $SHAPE --seq "$T" --micro-batch "$B" --gpu cpu-local --threads "$@" --json > "$W/plan" 2> "$W/err" ||
        { cat "$W/err" >&2; exit 1; }
    /usr/bin/python3 -c "import json; print('%.1f' % (json.load(open('$W/plan'))['step_time_s'] * 1e3))"
}
p_one=$(predict 2 --global-batch "$B")
p_dp=$(predict 1 --gpus 2 --dp 2 --global-batch $((2 * B)))
p_tp=$(predict 1 --gpus 2 --tp 2 --global-batch "$B")
# the predicted split of the 2-rank steps (compute, exposed communication)
for f in "--dp 2 --global-batch $((2 * B))" "--tp 2 --global-batch $B"; do
    predict 1 --gpus 2 $f > /dev/null
    /usr/bin/python3 -c "import json; o = json.load(open('$W/plan')); print('  plan $f:', ', '.join('%s %.1f ms' % (k, v * 1e3) for k, v in o.items() if k.endswith('_s') and isinstance(v, float)))" || true
done
echo "plan --gpu cpu-local vs measured, $SHAPE, B=$B x T=$T per rank (median of $ROUNDS alternating runs):"
printf "  %-28s %10s %10s %8s %18s   %s\n" layout "predicted" "measured" error "blocked in comm" "runs (ms)"
status=0
for lay in one dp tp; do
    case $lay in
        one) name="1 process x 2 threads"; p=$p_one ;;
        dp) name="dp=2, 2 ranks x 1 thread"; p=$p_dp ;;
        tp) name="tp=2, 2 ranks x 1 thread"; p=$p_tp ;;
    esac
    m=$(medn "$W/$lay.txt")
    runs=$(sort -g "$W/$lay.txt" | tr '\n' ' ')
    c=$(medn "$W/$lay.comm")
    printf "  %-28s %7.1f ms %7.1f ms %+7.1f%% %15.1f ms   %s\n" "$name" "$p" "$m" "$(awk -v p="$p" -v m="$m" 'BEGIN { print 100 * (p / m - 1) }')" "$c" "$runs"
    if [ -n "${TOL:-}" ] && ! awk -v p="$p" -v m="$m" -v t="$TOL" 'BEGIN { e = 100 * (p / m - 1); exit (e <= t && e >= -t) ? 0 : 1 }'; then
        echo "  ^ more than ${TOL}% off"
        status=1
    fi
done
exit $status
