#!/bin/sh
# plan.sh - how well `llmscale plan --gpu cpu-local` predicts llmscale's own
# measured steps on this machine (make bench; tests/test_plan_layouts.sh runs
# it on a smaller model with a tolerance).
#
# Each of ROUNDS rounds, in a private cache directory (nothing stale is read):
#   llmscale bench --no-train --threads 2    calibrate one process, 2 threads
#   train one process x 2 threads, B sequences           (global batch B)
#   mpirun -np 2 llmscale bench --threads 1  calibrate 2 processes together
#                                            and their all-reduce
#   train dp=2: 2 ranks x 1 thread, B per rank           (global batch 2B)
#   train tp=2: 2 ranks x 1 thread, --tp 2               (global batch B)
#   train pp=2: 2 ranks x 1 thread, --pp 2 (1F1B), 4 micro-batches of B
#                                                        (global batch 4B)
# and plan's predictions for the three layouts from that round's calibration
# (each calibration right before the runs it predicts: on a machine shared
# with other jobs the load moves within minutes). A run's step 1 warms up;
# it gives the median and the fastest of the others.
#
# Prints the median over rounds of the predictions against the median of the
# runs' median steps (the error); the lowest prediction (the calibration taken
# in the quietest moment) against the fastest step seen (both sides as little
# disturbed by other jobs as the rounds allowed); and the measured time
# blocked in collectives (comm_wait_ms). With TOL set (percent)
# the rounds stop at the first where every prediction lies within TOL% of that
# round's range [fastest step, median step] (either the calibration or the
# steps may be slowed by other jobs; the fastest step is the least disturbed),
# and the script exits 1 if none does.
#
# Environment: SHAPE (model flags, for train and plan alike; default the GPT-2
# 124M shape with its vocabulary, not the data's), B (4), T (64),
# STEPS (6), ROUNDS (3), TOL (unset: report only), LLMSCALE (build/llmscale).
set -eu
cd "$(dirname "$0")/.."
BIN=${LLMSCALE:-$PWD/build/llmscale}
SHAPE=${SHAPE:---model gpt2 --vocab 50257}
B=${B:-4}
T=${T:-64}
STEPS=${STEPS:-6}
ROUNDS=${ROUNDS:-3}
W=$(mktemp -d "${TMPDIR:-/tmp}/llmscale_bench_plan.XXXXXX")
trap 'rm -rf "$W"' EXIT
export XDG_CACHE_HOME="$W/cache"
MPI="mpirun --oversubscribe --allow-run-as-root"
PY=/usr/bin/python3
corpus=../shared/data/tinyshakespeare.txt
[ -f "$corpus" ] || { cat README.md docs/*.md src/*/*.c > "$W/corpus.txt"; corpus=$W/corpus.txt; }
"$BIN" prepare --input "$corpus" --out "$W/data" > /dev/null
ARGS="--data $W/data $SHAPE --batch $B --seq $T --steps $STEPS --lr 1e-4 --print-every 0"

# one line per round in $W/<layout>: predicted median fastest comm_wait (ms)
stats() { # metrics.jsonl field -> "median fastest" over steps 2..
    sed -n "s/.*\"$2\": \([0-9.e+-]*\).*/\1/p" "$1" | tail -n +2 | sort -g |
        awk '{ v[NR] = $1 } END { printf "%s %s", (NR % 2) ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2, v[1] }'
}
predict() { # threads, plan layout flags -> predicted ms (the split in $W/plan)
    "$BIN" plan $SHAPE --seq "$T" --micro-batch "$B" --gpu cpu-local --threads "$@" --json > "$W/plan" 2> "$W/err" ||
        { cat "$W/err" >&2; exit 1; }
    $PY -c "import json; print('%.1f' % (json.load(open('$W/plan'))['step_time_s'] * 1e3))"
}
split() { # the predicted split of the last prediction
    $PY -c "import json; o = json.load(open('$W/plan'))['layout']; print(', '.join('%s %.1f' % (k[:-2], o[k] * 1e3) for k in ('compute_s', 'tp_comm_s', 'pp_comm_s', 'dp_comm_s', 'bubble_s', 'optimizer_s')))"
}
train() { # layout name, predicted ms, launcher + train flags
    name=$1 p=$2
    shift 2
    "$@" $ARGS --out "$W/run" > "$W/log" 2>&1 || { cat "$W/log"; exit 1; }
    echo "$p $(stats "$W/run/metrics.jsonl" ms) $(stats "$W/run/metrics.jsonl" comm_wait_ms | cut -d' ' -f1)" >> "$W/$name"
    rm -rf "$W/run"
}
round_ok() { # the last round: every prediction within TOL% of [fastest, median]
    for lay in one dp tp pp; do tail -n 1 "$W/$lay"; done |
        awk -v t="$TOL" '{ if ($1 < (1 - t / 100) * $3 || $1 > (1 + t / 100) * $2) bad = 1 } END { exit bad }'
}
r=0
while [ "$r" -lt "$ROUNDS" ]; do
    r=$((r + 1))
    "$BIN" bench --no-train --threads 2 > "$W/cal" 2>&1 || { cat "$W/cal"; exit 1; }
    echo "round $r (load average $(cut -d' ' -f1-3 /proc/loadavg)):"
    grep "plan calibration" "$W/cal" | sed 's/ -> .*//; s/^plan calibration: */  1 x 2 threads: /'
    p=$(predict 2 --global-batch "$B")
    train one "$p" "$BIN" train --threads 2 --global-batch "$B"
    $MPI -np 2 "$BIN" bench --threads 1 > "$W/cal" 2>&1 || { cat "$W/cal"; exit 1; }
    sed -n 's/ -> .*//; s/^per process (slowest rank): /  2 x 1 thread:  /p; s/^all-reduce/  all-reduce/p' "$W/cal"
    p=$(predict 1 --gpus 2 --dp 2 --global-batch $((2 * B)))
    echo "  plan dp=2 (ms): $(split)"
    train dp "$p" $MPI -np 2 "$BIN" train --threads 1 --global-batch $((2 * B))
    p=$(predict 1 --gpus 2 --tp 2 --global-batch "$B")
    echo "  plan tp=2 (ms): $(split)"
    train tp "$p" $MPI -np 2 "$BIN" train --threads 1 --global-batch "$B" --tp 2
    p=$(predict 1 --gpus 2 --pp 2 --global-batch $((4 * B)))
    echo "  plan pp=2 (ms): $(split)"
    train pp "$p" $MPI -np 2 "$BIN" train --threads 1 --global-batch $((4 * B)) --pp 2
    for lay in one dp tp pp; do tail -n 1 "$W/$lay" | awk -v l="$lay" '{ printf "  %s: predicted %.1f ms, measured median %.1f (fastest %.1f), in collectives %.1f\n", l, $1, $2, $3, $4 }'; done
    if [ -n "${TOL:-}" ] && round_ok; then
        echo "round $r: every prediction within $TOL% of [fastest, median]"
        ROUNDS=$r
        break
    fi
done

echo "plan --gpu cpu-local vs measured, $SHAPE, B=$B x T=$T per rank ($ROUNDS rounds; medians over rounds):"
printf "  %-26s %10s %10s %8s %10s %10s %8s %10s\n" layout predicted measured error "lowest p." fastest error "in comm"
for lay in one dp tp pp; do
    case $lay in
        one) name="1 process x 2 threads" ;;
        dp) name="dp=2, 2 ranks x 1 thread" ;;
        tp) name="tp=2, 2 ranks x 1 thread" ;;
        pp) name="pp=2 (1F1B, m=4), 2 x 1 th." ;;
    esac
    $PY - "$W/$lay" "$name" <<'EOF'
import statistics, sys
rows = [list(map(float, l.split())) for l in open(sys.argv[1])]
p, m, c = (statistics.median(r[k] for r in rows) for k in (0, 1, 3))
lo, f = min(r[0] for r in rows), min(r[2] for r in rows)
print("  %-26s %7.1f ms %7.1f ms %+7.1f%% %7.1f ms %7.1f ms %+7.1f%% %7.1f ms" % (sys.argv[2], p, m, 100 * (p / m - 1), lo, f, 100 * (lo / f - 1), c))
EOF
done
[ -z "${TOL:-}" ] && exit 0
# TOL set: the loop stopped at the first round that passed, if any
round_ok || { echo "no round had every prediction within $TOL% of [fastest, median]"; exit 1; }
