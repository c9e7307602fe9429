#!/bin/sh
# test_bad_input.sh [LLMSCALE] - bad flags, model files, checkpoints and data.
#
# Every bad case must exit with status exactly 1 (not 0, not a signal >= 128,
# not 124 = timed out), print exactly one line on stderr, starting with
# "llmscale: error:", and (under ASan/UBSan) no sanitizer report. Three
# positive controls (train, eval, sample) must exit 0.
# Prints "ok - NAME" or "FAIL - NAME: why" per case, then "N passed, M failed";
# exits non-zero on any failure. Default binary: build-asan/llmscale.
# VERBOSE=1 also prints each expected error message.
set -u
BIN=${1:-build-asan/llmscale}
case $BIN in /*) ;; *) BIN=$(pwd)/$BIN ;; esac
if [ ! -x "$BIN" ]; then
    echo "test_bad_input.sh: no executable '$BIN' (build it first)" >&2
    exit 2
fi
T=$(mktemp -d "${TMPDIR:-/tmp}/llmscale_bad_input.XXXXXX") || exit 1
trap 'rm -rf "$T"' EXIT
trap 'exit 130' INT TERM
# leaks at a fatal exit(1) are not bugs; make any other sanitizer report fatal
ASAN_OPTIONS=detect_leaks=0${ASAN_OPTIONS:+:$ASAN_OPTIONS}
UBSAN_OPTIONS=print_stacktrace=1${UBSAN_OPTIONS:+:$UBSAN_OPTIONS}
OMP_NUM_THREADS=${OMP_NUM_THREADS:-2}
LC_ALL=C # byte counts below compare with ${#var}
export ASAN_OPTIONS UBSAN_OPTIONS OMP_NUM_THREADS LC_ALL
unset MICRO_BATCH GAS
pass=0
fail=0
. "$(dirname "$0")/expect.sh"

# train_micro ARGS...: a 2-step micro train on the test data, plus ARGS
# (a later flag overrides an earlier one). As the first word of a case it is
# expanded by run_case (timeout needs a program, not a shell function).
train_micro() {
    "$BIN" train --data "$D" --model micro --seq 16 --batch 2 --steps 2 --peak-gflops 100 "$@"
}

# run_case CMD...: run with a time limit and no stdin; sets rc
run_case() {
    if [ "$1" = train_micro ]; then
        shift
        set -- "$BIN" train --data "$D" --model micro --seq 16 --batch 2 --steps 2 --peak-gflops 100 "$@"
    fi
    timeout 60 "$@" >"$T/out" 2>"$T/err" </dev/null
    rc=$?
}

# model_header MAGIC VERSION maxT V L NH C Vp: a 1024-byte llm.c model header
model_header() {
    for x in "$@"; do le32 "$x"; done
    head -c $((1024 - 4 * $#)) /dev/zero
}
# shard_header NTOKENS [MAGIC]: a 1024-byte llm.c token shard header
shard_header() {
    le32 "${2:-20240520}"
    le32 1
    le32 "$1"
    head -c 1012 /dev/zero
}
# flip_byte FILE OFFSET: invert the bits of one byte in place
flip_byte() {
    b=$(od -An -tu1 -j "$2" -N 1 "$1" | tr -d ' ')
    le32 $((b ^ 255)) | head -c 1 | dd of="$1" bs=1 seek="$2" conv=notrunc 2>/dev/null
}

# ---- a small data set, a trained run and its files ----
i=0
: >"$T/text.txt"
while [ $i -lt 40 ]; do
    echo "line $i: the quick brown fox jumps over the lazy dog, $i times." >>"$T/text.txt"
    i=$((i + 1))
done
D=$T/data
"$BIN" prepare --input "$T/text.txt" --out "$D" >/dev/null 2>&1 </dev/null || {
    echo "FAIL - prepare: cannot make the test data"
    echo "0 passed, 1 failed"
    exit 1
}

# positive controls
expect_ok "control: tiny train" train_micro --out "$T/run"
expect_ok "control: eval its checkpoint" "$BIN" eval --init "$T/run" --data "$D" --batch 2 --batches 2
expect_ok "control: sample --tokens 5 from the run dir" "$BIN" sample --init "$T/run" --tokens 5
expect_ok "control: sample past the max sequence (context cropped)" "$BIN" sample --init "$T/run" --tokens 40
MODEL=$T/run/ckpt_00000002/model.bin
STATE=$T/run/ckpt_00000002/state.bin
[ -f "$MODEL" ] && [ -f "$STATE" ] || echo "note: expected checkpoint files missing in $T/run"
# a second run with another seed: same shapes, different weights; a 4-step
# run (checkpoint of step 4); a run of another shape (3 layers)
train_micro --seed 7 --out "$T/run2" >/dev/null 2>&1 </dev/null
train_micro --steps 4 --out "$T/run4" >/dev/null 2>&1 </dev/null
train_micro --layers 3 --out "$T/run3l" >/dev/null 2>&1 </dev/null

# ---- train --init: bad model files ----
expect_error "train --init missing file" train_micro --init "$T/nope.bin"
: >"$T/empty.bin"
expect_error "train --init empty file" train_micro --init "$T/empty.bin"
head -c 100 "$MODEL" >"$T/short.bin"
expect_error "train --init shorter than header" train_micro --init "$T/short.bin"
head -c 5000 "$MODEL" >"$T/trunc.bin"
expect_error "train --init truncated params" train_micro --init "$T/trunc.bin"
cp "$MODEL" "$T/long.bin" && printf 'xxxx' >>"$T/long.bin"
expect_error "train --init trailing bytes" train_micro --init "$T/long.bin"
{ le32 12345; tail -c +5 "$MODEL"; } >"$T/magic.bin"
expect_error "train --init wrong magic" train_micro --init "$T/magic.bin"
expect_error "train --init token shard as model" train_micro --init "$D/train_000000.bin"
expect_error "train --init tokenizer as model" train_micro --init "$D/tokenizer.bin"
expect_error "train --init directory as model" train_micro --init "$D"
{ model_header 20240326 5 16 257 2 4 32 384; tail -c +1025 "$MODEL"; } >"$T/bf16.bin"
expect_error "train --init version 5 (bf16) header" train_micro --init "$T/bf16.bin"
{ model_header 20240326 7 16 257 2 4 32 384; tail -c +1025 "$MODEL"; } >"$T/v7.bin"
expect_error "train --init unknown version 7" train_micro --init "$T/v7.bin"
{ model_header 20240326 3 16 257 -2 4 32 384; tail -c +1025 "$MODEL"; } >"$T/neg.bin"
expect_error "train --init negative layers" train_micro --init "$T/neg.bin"
{ model_header 20240326 3 16 257 2 4 0 384; tail -c +1025 "$MODEL"; } >"$T/zero.bin"
expect_error "train --init zero channels" train_micro --init "$T/zero.bin"
{ model_header 20240326 3 -16 257 2 4 32 384; tail -c +1025 "$MODEL"; } >"$T/negT.bin"
expect_error "train --init negative max seq" train_micro --init "$T/negT.bin"
{ model_header 20240326 3 16 257 2 4 32 100; tail -c +1025 "$MODEL"; } >"$T/vp.bin"
expect_error "train --init padded vocab < vocab" train_micro --init "$T/vp.bin"
{ model_header 20240326 3 16 257 4000 4 100000 384; head -c 4096 /dev/zero; } >"$T/huge.bin"
expect_error "train --init huge header, small file" train_micro --init "$T/huge.bin"
{ model_header 20240326 3 2147483647 2147483647 2147483647 1 2147483647 2147483647; head -c 4096 /dev/zero; } >"$T/max.bin"
expect_error "train --init INT_MAX header sizes" train_micro --init "$T/max.bin"
{ model_header 20240326 3 16 100000 2 4 32 100096; head -c 4096 /dev/zero; } >"$T/bigvocab.bin"
expect_error "train --init vocab 100000 header, small file" train_micro --init "$T/bigvocab.bin"
{ model_header 20240326 3 16 257 2 5 32 384; tail -c +1025 "$MODEL"; } >"$T/heads.bin"
expect_error "train --init heads do not divide channels" train_micro --init "$T/heads.bin"
{ model_header 20240326 3 16 257 2 4 33 384; tail -c +1025 "$MODEL"; } >"$T/odd.bin"
expect_error "train --init channels 33, heads 4" train_micro --init "$T/odd.bin"
# found by fuzzing (tests/fuzz/fuzz_model.c): a header of the right size whose
# shape no model can have (vocab 1: 29 floats) named no file in its error
{ model_header 20240326 3 1 1 1 1 1 1; head -c 116 /dev/zero; } >"$T/vocab1.bin"
expect_error "info model file of vocab 1" "$BIN" info "$T/vocab1.bin"
grep -q "vocab1.bin" "$T/err" || report_fail "model file of vocab 1 is named in the error" "no file name:"
# a value holding a newline still gives ONE error line (control bytes escaped)
expect_error "train --batch with a newline in its value" train_micro --batch "$(printf '1\n2')"
{ head -c 1024 "$MODEL"; tr '\000' '\377' </dev/zero | head -c $(($(wc -c <"$MODEL") - 1024)); } >"$T/nan.bin"
expect_error "train --init all-NaN parameters" train_micro --init "$T/nan.bin"
expect_error "train --init with mismatching --layers" train_micro --init "$MODEL" --layers 3

# ---- train: bad flags ----
expect_error "train --batch -1" train_micro --batch -1
expect_error "train --batch 0" train_micro --batch 0
expect_error "train --batch abc" train_micro --batch abc
expect_error "train --batch 2x" train_micro --batch 2x
expect_error "train --batch 99999999999999999999" train_micro --batch 99999999999999999999
expect_error "train --batch with no value" train_micro --batch
expect_error "train --steps -5" train_micro --steps -5
expect_error "train --steps 1.5" train_micro --steps 1.5
expect_error "train --lr nan" train_micro --lr nan
expect_error "train --lr inf" train_micro --lr inf
expect_error "train --lr -1" train_micro --lr -1
expect_error "train --lr empty" train_micro --lr ""
expect_error "train --heads 5 --dim 32" "$BIN" train --data "$D" --layers 2 --dim 32 --heads 5 --seq 16 --batch 2 --steps 2 --peak-gflops 100
expect_error "train --seq 32 with --model micro" train_micro --seq 32
expect_error "train --layers 0" train_micro --layers 0
expect_error "train --dim 0" train_micro --dim 0
expect_error "train --seq 0" train_micro --seq 0
expect_error "train --vocab 0" train_micro --vocab 0
expect_error "train unknown flag --bogus" train_micro --bogus
expect_error "train stray argument" train_micro stray
expect_error "train --model nope" "$BIN" train --data "$D" --model nope --steps 2 --peak-gflops 100
expect_error "train --global-batch 5 --batch 2" train_micro --global-batch 5
expect_error "train --lr-schedule weird" train_micro --lr-schedule weird
expect_error "train --shuffle maybe" train_micro --shuffle maybe
expect_error "train --threads 0" train_micro --threads 0
expect_error "train --dtype fp16 (not a dtype)" train_micro --dtype fp16
expect_error "train --dtype without a value" train_micro --dtype
expect_error "bench --dtype BF16 (case matters)" "$BIN" bench --no-probe --no-train --dtype BF16
expect_error "train --peak-gflops -1" train_micro --peak-gflops -1
expect_error "train env MICRO_BATCH=abc" env MICRO_BATCH=abc "$BIN" train --data "$D" --model micro --steps 2 --peak-gflops 100
expect_error "train no model shape" "$BIN" train --data "$D" --steps 2 --peak-gflops 100
expect_error "train missing --data" "$BIN" train --model micro --steps 2 --peak-gflops 100

# ---- train: bad data ----
expect_error "train --data nonexistent path" train_micro --data "$T/no/such/dir"
mkdir "$T/nodata"
expect_error "train --data dir without shards" train_micro --data "$T/nodata"
expect_error "train --data glob matching nothing" train_micro --data "$T/nodata/*.bin"
head -c 2000 "$D/train_000000.bin" >"$T/trunc_shard.bin"
expect_error "train --data truncated shard" train_micro --data "$T/trunc_shard.bin"
head -c 500 "$D/train_000000.bin" >"$T/tiny_shard.bin"
expect_error "train --data shard shorter than header" train_micro --data "$T/tiny_shard.bin"
{ le32 12345; tail -c +5 "$D/train_000000.bin"; } >"$T/magic_shard.bin"
expect_error "train --data shard with wrong magic" train_micro --data "$T/magic_shard.bin"
{ shard_header -5; head -c 100 /dev/zero; } >"$T/neg_shard.bin"
expect_error "train --data shard with negative count" train_micro --data "$T/neg_shard.bin"
expect_error "train --data model file as shard" train_micro --data "$MODEL"
# 200 tokens, token 300 early (first batch) or late (never read in 2 steps)
mk_bad_token_shard() { # POSITION
    shard_header 200
    j=0
    while [ $j -lt 200 ]; do
        if [ $j -eq "$1" ]; then le16 300; else le16 $((97 + j % 26)); fi
        j=$((j + 1))
    done
}
mk_bad_token_shard 3 >"$T/tok300a.bin"
mk_bad_token_shard 190 >"$T/tok300b.bin"
expect_error "train token 300 >= vocab 257 (first batch)" train_micro --data "$T/tok300a.bin"
expect_error "train token 300 >= vocab 257 (late in shard)" train_micro --data "$T/tok300b.bin"
expect_error "train --vocab 100 with byte-level data" train_micro --vocab 100
expect_error "train --vocab 100 with byte-level shard" train_micro --data "$D/train_000000.bin" --vocab 100
{ shard_header 3; le16 1; le16 2; le16 3; } >"$T/three.bin"
expect_error "train shard of 3 tokens, seq 16" train_micro --data "$T/three.bin"

# ---- train: --init/--resume ----
expect_error "train --init with --resume" train_micro --init "$MODEL" --resume "$T/run"
mkdir "$T/empty_run"
expect_error "train --resume dir without checkpoints" train_micro --resume "$T/empty_run"
expect_error "train --resume nonexistent dir" train_micro --resume "$T/no_run"
# copy_run NAME: a fresh copy of the good run to corrupt
copy_run() {
    rm -rf "${T:?}/${1:?}"
    cp -R "$T/run" "$T/$1"
}
copy_run r_trunc
head -c 1000 "$STATE" >"$T/r_trunc/ckpt_00000002/state.bin"
expect_error "train --resume truncated state" train_micro --steps 4 --resume "$T/r_trunc"
copy_run r_empty
: >"$T/r_empty/ckpt_00000002/state.bin"
expect_error "train --resume empty state" train_micro --steps 4 --resume "$T/r_empty"
copy_run r_nostate
rm -f "$T/r_nostate/ckpt_00000002/state.bin"
expect_error "train --resume missing state" train_micro --steps 4 --resume "$T/r_nostate"
copy_run r_nomodel
rm -f "$T/r_nomodel/ckpt_00000002/model.bin"
expect_error "train --resume missing model" train_micro --steps 4 --resume "$T/r_nomodel"
copy_run r_flip
size=$(wc -c <"$STATE" | tr -d ' ')
flip_byte "$T/r_flip/ckpt_00000002/state.bin" $((size / 2))
expect_error "train --resume state byte flipped (checksum)" train_micro --steps 4 --resume "$T/r_flip"
copy_run r_magic
flip_byte "$T/r_magic/ckpt_00000002/state.bin" 0
expect_error "train --resume state wrong magic" train_micro --steps 4 --resume "$T/r_magic"
copy_run r_garbage
printf 'garbage\n' >"$T/r_garbage/latest"
expect_error "train --resume latest holds garbage" train_micro --steps 4 --resume "$T/r_garbage"
copy_run r_neg
printf -- '-3\n' >"$T/r_neg/latest"
expect_error "train --resume latest holds -3" train_micro --steps 4 --resume "$T/r_neg"
copy_run r_empty_latest
: >"$T/r_empty_latest/latest"
expect_error "train --resume latest is empty" train_micro --steps 4 --resume "$T/r_empty_latest"
copy_run r_ahead
printf '9\n' >"$T/r_ahead/latest"
expect_error "train --resume latest names a missing step" train_micro --steps 12 --resume "$T/r_ahead"
copy_run r_swap
cp "$T/run2/ckpt_00000002/model.bin" "$T/r_swap/ckpt_00000002/model.bin"
expect_error "train --resume model swapped (CRC mismatch)" train_micro --steps 4 --resume "$T/r_swap"
copy_run r_swap_state
cp "$T/run2/ckpt_00000002/state.bin" "$T/r_swap_state/ckpt_00000002/state.bin"
expect_error "train --resume state swapped (CRC mismatch)" train_micro --steps 4 --resume "$T/r_swap_state"
copy_run r_shape
cp "$T/run3l/ckpt_00000002/model.bin" "$T/r_shape/ckpt_00000002/model.bin"
expect_error "train --resume model of another shape" "$BIN" train --data "$D" --seq 16 --batch 2 --steps 4 --peak-gflops 100 --resume "$T/r_shape"
copy_run r_mixed
cp "$T/run4/ckpt_00000004/model.bin" "$T/r_mixed/ckpt_00000002/model.bin"
cp "$T/run4/ckpt_00000004/state.bin" "$T/r_mixed/ckpt_00000002/state.bin"
expect_error "train --resume step-4 pair renamed as step 2" train_micro --steps 6 --resume "$T/r_mixed"
copy_run r_batch
expect_error "train --resume with different --batch" train_micro --steps 4 --batch 4 --resume "$T/r_batch"
copy_run r_seq
expect_error "train --resume with different --seq" train_micro --steps 4 --seq 8 --resume "$T/r_seq"

# ---- eval ----
expect_error "eval missing --init" "$BIN" eval --data "$D"
expect_error "eval missing --data" "$BIN" eval --init "$T/run"
expect_error "eval --seq larger than model max" "$BIN" eval --init "$T/run" --data "$D" --seq 32
expect_error "eval data of 3 tokens" "$BIN" eval --init "$T/run" --data "$T/three.bin"
expect_error "eval token 300 >= vocab" "$BIN" eval --init "$T/run" --data "$T/tok300a.bin" --batch 2
expect_error "eval --init nonexistent" "$BIN" eval --init "$T/nope.bin" --data "$D"
expect_error "eval --init truncated model" "$BIN" eval --init "$T/trunc.bin" --data "$D"
expect_error "eval --batches 0" "$BIN" eval --init "$T/run" --data "$D" --batches 0
expect_error "eval --split test" "$BIN" eval --init "$T/run" --data "$D" --split test
expect_error "eval unknown flag" "$BIN" eval --init "$T/run" --data "$D" --bogus

# ---- sample ----
expect_error "sample missing --init" "$BIN" sample --tokens 5
expect_ok "sample --tokens 0 (prompt only)" "$BIN" sample --init "$T/run" --tokens 0
expect_error "sample --prompt-tokens id >= vocab" "$BIN" sample --init "$T/run" --prompt-tokens 1,300 --tokens 5
expect_error "sample --prompt-tokens 1,x" "$BIN" sample --init "$T/run" --prompt-tokens 1,x --tokens 5
expect_error "sample --prompt-tokens -1" "$BIN" sample --init "$T/run" --prompt-tokens -1 --tokens 5
expect_error "sample --prompt-tokens empty" "$BIN" sample --init "$T/run" --prompt-tokens "" --tokens 5
expect_error "sample --prompt-tokens 1,,2" "$BIN" sample --init "$T/run" --prompt-tokens 1,,2 --tokens 5
expect_error "sample --temperature -1" "$BIN" sample --init "$T/run" --tokens 5 --temperature -1
expect_error "sample --top-k -1" "$BIN" sample --init "$T/run" --tokens 5 --top-k -1
expect_error "sample --tokenizer missing" "$BIN" sample --init "$T/run" --tokens 5 --tokenizer "$T/nope.bin"
expect_error "sample --tokenizer is a model" "$BIN" sample --init "$T/run" --tokens 5 --tokenizer "$MODEL"
expect_error "sample --init empty run dir" "$BIN" sample --init "$T/empty_run" --tokens 5
expect_error "sample --init corrupt header" "$BIN" sample --init "$T/huge.bin" --tokens 5

# ---- info ----
expect_error "info missing file" "$BIN" info "$T/nope.bin"
expect_error "info dir without checkpoints" "$BIN" info "$T/empty_run"
tail -c 3000 "$MODEL" >"$T/random.bin" # float weights: arbitrary but reproducible bytes
expect_error "info random bytes" "$BIN" info "$T/random.bin"
expect_error "info empty file" "$BIN" info "$T/empty.bin"
expect_error "info corrupt model header" "$BIN" info "$T/huge.bin"
expect_error "info run dir with garbage latest" "$BIN" info "$T/r_garbage"
expect_error "info no files" "$BIN" info

# ---- top level ----
expect_error "llmscale nosuchcommand" "$BIN" nosuchcommand
expect_error "llmscale with no command" "$BIN"

echo "$pass passed, $fail failed"
[ "$fail" -eq 0 ]
