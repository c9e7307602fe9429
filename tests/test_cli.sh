#!/bin/sh
# End-to-end tour of the commands as a user runs them: prepare -> train (with
# validation, llm.c-format checkpoints, metrics.jsonl) -> eval -> sample -> info,
# plus llm.c shard/glob inputs and --init from a model file.
set -eu
LS=${1:-build/llmscale}
D=$(mktemp -d)
trap 'rm -rf "$D"' EXIT
fail=0
ok() { echo "ok - $1"; }
bad() { echo "FAIL - $1"; fail=1; }
"$LS" prepare --input README.md src/cli/*.c --out "$D/data" > "$D/prepare.log"
[ -s "$D/data/tokenizer.bin" ] && [ -s "$D/data/train_000000.bin" ] && [ -s "$D/data/val_000000.bin" ] \
    && ok "prepare writes tokenizer + train/val shards" || bad "prepare outputs"
"$LS" train --data "$D/data" --model micro --seq 16 --batch 4 --steps 30 --lr 3e-3 --val-every 10 \
    --out "$D/run" --peak-gflops 100 > "$D/train.log"
n=$(grep -c '^step ' "$D/train.log")
[ "$n" -eq 30 ] && ok "one progress line per step" || bad "expected 30 step lines, got $n"
grep -q 'MFU' "$D/train.log" && grep -q 'tok/s' "$D/train.log" && ok "progress line has tok/s and MFU" || bad "progress fields"
first=$(sed -n 1p "$D/run/metrics.jsonl" | sed 's/.*"loss": \([^,]*\),.*/\1/')
last=$(sed -n 30p "$D/run/metrics.jsonl" | sed 's/.*"loss": \([^,]*\),.*/\1/')
awk "BEGIN{exit !($last < $first - 0.5)}" && ok "loss falls ($first -> $last)" || bad "loss did not fall: $first -> $last"
for k in step loss lr grad_norm ms tokens_per_s tflops mfu; do
    grep -q "\"$k\"" "$D/run/metrics.jsonl" || bad "metrics.jsonl lacks $k"
done
[ "$(grep -c val_loss "$D/run/metrics.jsonl")" -eq 3 ] && ok "val_loss on steps 10, 20, 30" || bad "val_loss count"
M="$D/run/ckpt_00000030/model.bin"
"$LS" info "$M" | grep -q "layers 2, dim 32" && ok "info describes the checkpoint (llm.c format)" || bad "info model"
"$LS" info "$D/data/train_000000.bin" > /dev/null && "$LS" info "$D/data/tokenizer.bin" > /dev/null \
    && ok "info on shard and tokenizer" || bad "info shard/tokenizer"
# eval of the checkpoint on batch 0 must equal the training loss of a fresh
# one-step run from that same model file at lr 0 (both are batch 0, same model)
e=$("$LS" eval --init "$M" --data "$D/data" --batch 4 --seq 16 --batches 1 | sed 's/.*mean loss \([0-9.]*\).*/\1/')
"$LS" train --data "$D/data" --init "$M" --seq 16 --batch 4 --steps 1 --lr 0 --peak-gflops 100 > "$D/one.log"
t=$(grep '^step' "$D/one.log" | sed 's/.*loss \([0-9.]*\) .*/\1/')
awk "BEGIN{d=$e-$t; if(d<0)d=-d; exit !(d < 1e-4)}" && ok "eval loss ($e) == train loss of --init model ($t)" || bad "eval $e vs train $t"
out=$("$LS" sample --init "$D/run" --prompt "int " --tokens 40 --seed 1)
[ ${#out} -gt 20 ] && ok "sample generates text from the run dir" || bad "sample output too short"
a=$("$LS" sample --init "$D/run" --prompt "x" --tokens 30 --temperature 0)
b=$("$LS" sample --init "$D/run" --prompt "x" --tokens 30 --temperature 0)
[ "$a" = "$b" ] && ok "greedy sampling is deterministic" || bad "greedy differs"
c=$("$LS" sample --init "$D/run/ckpt_00000030" --prompt "x" --tokens 30 --temperature 0)
[ "$a" = "$c" ] && ok "sample --init one checkpoint's directory (tokenizer from the run directory)" || bad "checkpoint dir: '$c' vs '$a'"
# llm.c-style shard names and a glob
cp "$D/data/train_000000.bin" "$D/tiny_train.bin"
"$LS" train --data "$D/*_train.bin" --model micro --seq 16 --batch 2 --steps 2 --peak-gflops 100 > /dev/null \
    && ok "--data accepts a glob of llm.c shards" || bad "glob data"
# Megatron-DeepSpeed-style environment defaults
MODEL_SIZE_KEY=micro SEQ_LEN=8 MICRO_BATCH=3 GAS=2 "$LS" train --data "$D/data" --steps 1 --peak-gflops 100 > "$D/env.log"
grep -q "batch: 3 x 8 tokens per micro-batch, 2 micro-batches" "$D/env.log" && grep -q "model: 2 layers, dim 32" "$D/env.log" \
    && ok "MODEL_SIZE_KEY, SEQ_LEN, MICRO_BATCH, GAS set the defaults" || bad "environment defaults"
for c in prepare tokenize train eval sample info bench; do
    "$LS" $c --help | grep -q usage || bad "$c --help"
done
"$LS" train --help | grep -q GPT175B && ok "train --help lists the presets" || bad "presets in help"
exit $fail
