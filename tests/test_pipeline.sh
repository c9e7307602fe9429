#!/bin/sh
# Pipeline parallelism in the trainer over MPI (mpirun --oversubscribe on this
# 2-core box), tiny models:
#  - equivalence: (dp, pp, tp, schedule, m) in {(1,2,1,gpipe,2), (1,2,1,gpipe,4),
#    (1,2,1,1f1b,2), (1,2,1,1f1b,4), (1,4,1,gpipe,4), (1,4,1,1f1b,4) ZeRO-1,
#    (1,4,1,1f1b,8),
#    (2,2,1,1f1b,2) ZeRO-1, (1,2,2,1f1b,4) with SP, (2,2,2,1f1b,2) ZeRO-1 with
#    SP}: 20 steps of losses and the final parameters equal the one-process
#    run's to 1e-5 relative (tests/reference/compare_runs.py);
#    and with full activation recomputation (1,2,1) and (2,2,2) SP ZeRO-1;
#    interleaved 1F1B with V = 2 chunks per rank: (1,2,1) m = P and 2P,
#    (1,4,1) m = P ZeRO-1, (2,2,2) SP ZeRO-1;
#    one process with --recompute full is bit-identical to without;
#  - layout-free checkpoints: stop at (dp,pp,tp) = (2,2,2) ZeRO-1, resume at
#    (1,1,1), (1,4,2), (4,1,2) ZeRO-1 and (1,2,4); interleaved (1,2,2) resumed as GPipe (1,4,1):
#    the same trajectory;
#  - validation (--val-every) through the pipeline equals one process's;
#  - the memory report at pp=2 x tp=2 equals plan_memory's prediction (1F1B's
#    in-flight activation sets);
#  - the measured bubble is reported next to (P-1)/m; --trace writes a Chrome
#    trace that parses as JSON with every rank's forward, backward, send,
#    recv and optimizer events;
#  - bad configurations are one clear error before any step.
# usage: test_pipeline.sh build/llmscale
. "$(dirname "$0")/mpi_common.sh"

LR=1e-3
base="--data data --batch 2 --steps 20 --lr $LR --warmup 2 --threads 1 --peak-gflops 100 --print-every 0"
M2="--model micro"            # 2 layers
M4="--model micro --layers 4" # 4 layers, for pp = 4 and pp = 2 x 2 chunks
M8="--model micro --layers 8" # 8 layers, for pp = 4 x 2 chunks
for ref in 2-4 2-8 4-4 4-8 4-16 8-8; do # layers-global batch
    mdl=${ref%-*} g=${ref#*-}
    eval "MF=\$M$mdl"
    "$BIN" train $base $MF --global-batch $g --out ref$mdl-g$g > ref$mdl-g$g.log 2>&1 ||
        { cat ref$mdl-g$g.log; exit 1; }
done

# dp pp tp schedule global-batch layers extra-flags
while read -r DP PP TP S G L EXTRA; do
    name="dp$DP-pp$PP-tp$TP-$S-g$G$(echo "$EXTRA" | tr -d ' -')"
    eval "MF=\$M$L"
    $MPI -np $((DP * PP * TP)) "$BIN" train $base $MF --global-batch $G --pp $PP --tp $TP \
        --pp-schedule $S $EXTRA --out "$name" < /dev/null > "$name.log" 2>&1 ||
        { fail "$name: training failed"; tail -5 "$name.log"; continue; }
    m=$((G / (2 * DP)))
    if out=$($CMP "$name" ref$L-g$G --lr $LR); then
        pass "$name (m = $m micro-batches) equals one process: $(echo "$out" | grep params)"
    else
        fail "$name differs from one process:"; echo "$out"
    fi
    bub=$(sed -n 's/.*"pp_bubble": \([0-9.]*\), "pp_bubble_theory": \([0-9.]*\).*/\1 \2/p' "$name/metrics.jsonl" | tail -1)
    if [ -n "$bub" ]; then pass "$name: measured bubble and (P-1)/m: $bub"
    else fail "$name: no bubble in metrics.jsonl"; fi
done <<'LIST'
1 2 1 gpipe 4 2
1 2 1 gpipe 8 2
1 2 1 1f1b 4 2
1 2 1 1f1b 8 2
1 4 1 gpipe 8 4
1 4 1 1f1b 8 4 --zero 1
1 4 1 1f1b 16 4
2 2 1 1f1b 8 2 --zero 1
1 2 2 1f1b 8 2 --sp
2 2 2 1f1b 8 2 --sp --zero 1
1 2 1 1f1b 8 2 --recompute full
2 2 2 1f1b 8 4 --sp --zero 1 --recompute full
1 2 1 interleaved 4 4 --virtual-stages 2
1 2 1 interleaved 8 4 --virtual-stages 2
1 4 1 interleaved 8 8 --virtual-stages 2 --zero 1
2 2 2 interleaved 8 4 --virtual-stages 2 --sp --zero 1
LIST

# full recomputation in one process: the same floats (the layer runs again
# on the same input with the same kernels)
"$BIN" train $base $M4 --global-batch 8 --recompute full --out rc1 > rc1.log 2>&1
if out=$($CMP rc1 ref4-g8 --lr $LR --tol 0) && echo "$out" | grep -q "difference 0 "; then
    pass "one process, --recompute full: bit-identical to none"
else
    fail "one process, --recompute full"; echo "$out"
fi
# activations per layer against Korthikanti's Table 2 for each recompute mode
for r in none selective full; do
    $MPI -np 4 "$BIN" train $base $M4 --global-batch 8 --steps 1 --tp 2 --sp --pp 2 --recompute $r \
        --memory-report > k$r.log 2>&1
    if grep -q "activations per layer: .*Korthikanti.*: equal$" k$r.log; then
        pass "--recompute $r (tp=2 SP, pp=2): $(grep -o 'activations per layer: [0-9]* bytes' k$r.log) = Korthikanti's formula"
    else
        fail "--recompute $r: activations per layer differ from Korthikanti's formula"; grep "per layer" k$r.log
    fi
done

# validation through the pipeline: the same validation losses as one process
vflags="$M2 --global-batch 8 --steps 6 --val-every 3 --val-batches 4"
"$BIN" train $base $vflags --out v1 > v1.log 2>&1
$MPI -np 4 "$BIN" train $base $vflags --pp 2 --tp 2 --out v4 > v4.log 2>&1
a=$(grep -o '"val_loss": [0-9.]*' v1/metrics.jsonl | tr '\n' ' ')
b=$(grep -o '"val_loss": [0-9.]*' v4/metrics.jsonl | tr '\n' ' ')
# to 1e-5 relative, the tolerance of every layout test: pp x tp sums the
# gradient's squares (the clipping factor) and the products in another order
if [ -n "$a" ] && [ "$(echo "$a" | wc -w)" -eq 4 ] &&
    echo "$a|$b" | awk -F'|' '{ n = split($1, x, " "); if (split($2, y, " ") != n) exit 1
        for (i = 2; i <= n; i += 2) { d = x[i] - y[i]; if (d < 0) d = -d; if (d > 1e-5 * x[i]) exit 1 } }'; then
    pass "validation through pp=2 x tp=2 equals one process to 1e-5: $b (one process: $a)"
else
    fail "validation through the pipeline: '$b' vs one process '$a'"
fi

# checkpoints: written collectively at (2,2,2) ZeRO-1 (every rank its slices),
# resumed at (1,1,1), (1,4,2), (4,1,2) and (1,2,4)
save() { # name, np, flags: stop a run at step 10
    rm -rf "$1"
    $MPI -np $2 "$BIN" train $base $M4 --global-batch 8 $3 --stop-at 10 --out "$1" > "$1.a.log" 2>&1 ||
        { fail "saving '$3' (np $2)"; tail -3 "$1.a.log"; }
}
hop() { # saved run, its flags, name, np, flags: resume a copy and compare
    rm -rf "$3"
    cp -R "$1" "$3"
    if [ "$4" = 1 ]; then "$BIN" train $base $M4 --global-batch 8 $5 --resume "$3" > "$3.b.log" 2>&1
    else $MPI -np $4 "$BIN" train $base $M4 --global-batch 8 $5 --resume "$3" > "$3.b.log" 2>&1; fi
    if [ $? -eq 0 ] && out=$($CMP "$3" ref4-g8 --lr $LR); then
        pass "checkpoint '$2' resumed as '$5' (np $4) equals one process"
    else
        fail "checkpoint '$2' -> '$5':"; echo "$out"; tail -3 "$3.b.log"
    fi
}
save hop0 8 "--pp 2 --tp 2 --zero 1"
hop hop0 "--pp 2 --tp 2 --zero 1" hopa 1 ""
hop hop0 "--pp 2 --tp 2 --zero 1" hopb 8 "--pp 4 --tp 2"
hop hop0 "--pp 2 --tp 2 --zero 1" hopd 8 "--tp 2 --zero 1"
hop hop0 "--pp 2 --tp 2 --zero 1" hope 8 "--pp 2 --tp 4"
save hopi 4 "--pp 2 --tp 2 --pp-schedule interleaved --virtual-stages 2"
hop hopi "interleaved pp 2 tp 2" hopc 4 "--pp 4 --pp-schedule gpipe"

# memory report and trace
$MPI -np 4 "$BIN" train $base $M2 --global-batch 8 --pp 2 --tp 2 --steps 2 --memory-report \
    --trace trace.json > mem.log 2>&1
if awk '/^ *[0-3]  /{ n++; for (i = 3; i <= 11; i += 2) if ($i != $(i + 1)) bad = 1 }
        END { exit !(n == 4 && !bad) }' FS='[ ()]+' mem.log; then
    pass "pp=2 x tp=2 memory report: measured == predicted in every column"
else
    fail "pp=2 x tp=2 memory report"; cat mem.log
fi
if /usr/bin/python3 - trace.json <<'PY'
import collections, json, sys
ev = [e for e in json.load(open(sys.argv[1]))["traceEvents"] if e.get("ph") == "X"]
seen = collections.Counter((e["pid"], e["cat"]) for e in ev)
# 2 steps x 4 micro-batches forward and backward on each of 4 ranks, messages, the optimizer
ok = all(seen[(r, c)] == 8 for r in range(4) for c in ("forward", "backward")) and \
     all(seen[(r, "optimizer")] == 2 and seen[(r, "send")] > 0 and seen[(r, "recv")] > 0 for r in range(4))
print(dict(seen))
sys.exit(0 if ok else 1)
PY
then pass "--trace: Chrome trace-event JSON with every rank's forward, backward, send, recv, optimizer"
else fail "--trace"; fi

bad_run "pp 4 on 2 layers" 4 "$base $M2 --global-batch 8 --pp 4" "does not divide the model's 2 layers"
bad_run "ZeRO-2 with pp" 2 "$base $M2 --global-batch 8 --pp 2 --zero 2" "composes with ZeRO stages 0 and 1"
bad_run "unknown recompute mode" 2 "$base $M2 --global-batch 8 --pp 2 --recompute some" "must be none, selective or full"
bad_run "unknown schedule" 2 "$base $M2 --global-batch 8 --pp 2 --pp-schedule zigzag" "must be gpipe, 1f1b or interleaved"
bad_run "interleaved with m = 3 micro-batches over pp 2" 2 "$base $M4 --global-batch 6 --pp 2 --pp-schedule interleaved --virtual-stages 2" "multiple of"
bad_run "pp 2 x 2 chunks on 2 layers" 2 "$base $M2 --global-batch 8 --pp 2 --pp-schedule interleaved --virtual-stages 2" "does not divide the model's 2 layers"
bad_run "global batch not divisible" 4 "$base $M2 --global-batch 6 --pp 2" "is not a multiple of --batch 2"

summary
