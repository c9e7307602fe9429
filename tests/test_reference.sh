#!/bin/sh
# PyTorch reference comparison (Debian's python3-torch): build tiny random
# models and batches, let tests/reference/gpt_ref.py compute the float64
# truth, and compare the C trainer with build/tests/test_reference.
set -eu
BIN=${1:-build/tests/test_reference}
LLMSCALE=${2:-build/llmscale}
PY=/usr/bin/python3
REF=tests/reference/gpt_ref.py
D=$(mktemp -d)
trap 'rm -rf "$D"' EXIT
status=0
# name  layers dim heads maxT vocab  B T nmicro  steps accum clip lr eps
run_case() {
    name=$1 L=$2 C=$3 H=$4 MT=$5 V=$6 B=$7 T=$8 N=$9
    shift 9
    S=$1 A=$2 CLIP=$3 LR=$4 EPS=$5
    echo "== $name"
    $PY $REF make-model --layers "$L" --dim "$C" --heads "$H" --seq "$MT" --vocab "$V" --seed 1 --out "$D/$name.model" >/dev/null
    $PY $REF make-batch --B "$B" --T "$T" --n "$N" --vocab "$V" --seed 2 --out "$D/$name.batch" >/dev/null
    $PY $REF run --model "$D/$name.model" --batch "$D/$name.batch" --out "$D/$name.ref" --steps "$S" \
        --grad-accum "$A" --grad-clip "$CLIP" --lr "$LR" --eps "$EPS" --beta1 0.9 --beta2 0.95 --weight-decay 0.1 >/dev/null
    "$BIN" "$D/$name.model" "$D/$name.batch" "$D/$name.ref" "$S" "$A" "$CLIP" "$LR" 0.9 0.95 "$EPS" 0.1 || status=1
    # the same truth against bf16 matrix products (looser tolerances, see test_reference.c),
    # where the CPU has them
    if "$LLMSCALE" bench --no-probe --no-train --dtype bf16 >/dev/null 2>&1; then
        echo "-- $name, --dtype bf16"
        LLMSCALE_TEST_DTYPE=bf16 "$BIN" "$D/$name.model" "$D/$name.batch" "$D/$name.ref" "$S" "$A" "$CLIP" "$LR" \
            0.9 0.95 "$EPS" 0.1 || status=1
    fi
}
# plain: one micro-batch per step, no clipping, T < maxT, vocab padded 100 -> 128
run_case plain      2 32 4 16 100   2 8 3    10 1 0 1e-3 1e-8
# gradient accumulation (2 micro-batches per step) with clipping active (norm ~1.9 > 1)
run_case accum-clip 3 48 6 24 200   3 24 4   10 2 1.0 1e-3 1e-6
# one head, odd sizes, clipping on every step
run_case one-head   1 24 1 12 130   2 12 2   10 1 0.5 2e-3 1e-6
exit $status
