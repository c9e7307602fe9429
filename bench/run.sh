#!/bin/sh
# make bench:
#  1. tokenizer on tinyshakespeare (1.1 MB): BPE training of 4096 merges (the
#     word-count pass and the merge loop, timed separately) and encoding speed
#     on one core (median of 5 passes, each with an empty word cache);
#  2. machine probes + GPT-2 124M shape training steps, B=4, T=64, 2 threads,
#     one process (tokens/s and MFU against the measured fp32 peak), and
#     `plan --gpu cpu-local`'s prediction for the same run against the measured
#     step (bench re-calibrates plan's cpu-local figures first);
#  3. data-parallel efficiency and the collective benchmark (bench/dp.sh).
set -eu
cd "$(dirname "$0")/.."
TEXT=../shared/data/tinyshakespeare.txt
if [ -f "$TEXT" ]; then
    D=$(mktemp -d)
    trap 'rm -rf "$D"' EXIT
    echo "== tokenizer: BPE training, 4096 merges (vocab 4353) on $TEXT"
    start=$(date +%s.%N)
    build/llmscale prepare --input "$TEXT" --tokenizer bpe --vocab-size 4353 --out "$D" \
        | grep -e '^count:' -e '^trained BPE' -e '^encode:'
    awk -v a="$start" -v b="$(date +%s.%N)" 'BEGIN { printf "prepare end to end (count + train + encode + write): %.3f s\n", b - a }'
    echo "== tokenizer: encode throughput"
    build/llmscale tokenize --tokenizer "$D/tokenizer.bin" --file "$TEXT" --time 5
else
    echo "(skipping the tokenizer benchmark: $TEXT not found)"
fi
echo "== training steps"
OMP_NUM_THREADS=2 build/llmscale bench --model gpt2 --batch 4 --seq 64 --steps 5 --threads 2
echo
sh bench/dp.sh
