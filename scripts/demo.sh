#!/bin/sh
# make demo: train a small GPT for about two minutes on text this repository
# contains (its own README, docs and C sources; no download, nothing outside
# the clone), one progress line per step, then print a generated sample.
set -eu
cd "$(dirname "$0")/.."
LS=build/llmscale
OUT=${DEMO_OUT:-runs/demo}
STEPS=${DEMO_STEPS:-1400}
echo "== 1/3 prepare: the repository's own text -> byte-level tokens"
rm -rf "$OUT" data/demo
$LS prepare --input README.md docs/*.md src/*/*.c src/*/*.h src/kernels/cpu/*.c src/kernels/cpu/*.h \
    --out data/demo --val-fraction 0.05
echo
echo "== 2/3 train: 4-layer GPT (tiny preset, ~0.9M params), batch 8 x 128 tokens, $STEPS steps"
$LS train --data data/demo --model tiny --seq 128 --batch 8 --steps "$STEPS" --lr 2e-3 --warmup 50 \
    --lr-min 2e-4 --grad-clip 1.0 --val-every 100 --val-batches 8 --shuffle on --out "$OUT"
echo
echo "== 3/3 sample: 400 tokens from the trained model (prompt 'static ', temperature 0.8, top-k 40)"
$LS sample --init "$OUT" --prompt "static " --tokens 400 --temperature 0.8 --top-k 40 --seed 7
echo
echo "done: checkpoints and metrics.jsonl are in $OUT (try: $LS sample --init $OUT --prompt 'int ')"
