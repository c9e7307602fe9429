#!/bin/sh
# make bench: machine probes + GPT-2 124M shape training steps, B=4, T=64,
# 2 threads, one process (tokens/s and MFU against the measured fp32 peak),
# and `plan --gpu cpu-local`'s prediction for the same run against the
# measured step (bench re-calibrates plan's cpu-local figures first).
set -eu
cd "$(dirname "$0")/.."
OMP_NUM_THREADS=2 build/llmscale bench --model gpt2 --batch 4 --seq 64 --steps 5 --threads 2
