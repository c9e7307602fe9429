#!/bin/sh
# test_data_errors.sh LLMSCALE - bad data files and bad `prepare` input.
#
# Every bad case must exit with status 1 (not a crash: >= 128 is a signal)
# and print exactly one line on stderr, starting with "llmscale: error:".
# A few good cases check that the accepted inputs still work.
# Prints "N passed, N failed"; exits non-zero on any failure.
set -u
BIN=${1:?usage: test_data_errors.sh path/to/llmscale}
case $BIN in /*) ;; *) BIN=$(pwd)/$BIN ;; esac
T=$(mktemp -d "/tmp/llmscale_data_errors.$$.XXXXXX") || exit 1
trap 'rm -rf "$T"' EXIT
pass=0
fail=0
. "$(dirname "$0")/expect.sh"

# header MAGIC VERSION COUNT: a 1024-byte llm.c header (256 int32)
header() {
    le32 "$1"
    le32 "$2"
    le32 "$3"
    head -c 1012 /dev/zero
}

# ---- a good data set to start from ----
printf 'The quick brown fox jumps over the lazy dog.\n' >"$T/a.txt"
printf 'Second document.\n' >"$T/b.txt"
: >"$T/empty.txt"
expect_ok "prepare good input" "$BIN" prepare --input "$T/a.txt" "$T/empty.txt" --input "$T/b.txt" --out "$T/data"
expect_ok "prepare --help" "$BIN" prepare --help
expect_ok "info good shard" "$BIN" info "$T/data/train_000000.bin"
expect_ok "info good val shard" "$BIN" info "$T/data/val_000000.bin"
expect_ok "info good tokenizer" "$BIN" info "$T/data/tokenizer.bin"
SHARD=$T/data/train_000000.bin
TOK=$T/data/tokenizer.bin

# ---- info on bad files ----
expect_error "info missing file" "$BIN" info "$T/nope.bin"
: >"$T/empty.bin"
expect_error "info empty file" "$BIN" info "$T/empty.bin"
expect_error "info directory" "$BIN" info "$T/data"
printf 'hello, I am text\n' >"$T/text.bin"
expect_error "info text file" "$BIN" info "$T/text.bin"
head -c 1024 /dev/urandom >"$T/random.bin"
printf '\001\002\003\004' | dd of="$T/random.bin" conv=notrunc 2>/dev/null
expect_error "info random bytes" "$BIN" info "$T/random.bin"

size=$(wc -c <"$SHARD")
head -c $((size - 1)) "$SHARD" >"$T/trunc1.bin"
expect_error "info shard missing 1 byte" "$BIN" info "$T/trunc1.bin"
head -c 1030 "$SHARD" >"$T/trunc2.bin"
expect_error "info shard truncated" "$BIN" info "$T/trunc2.bin"
head -c 500 "$SHARD" >"$T/trunc3.bin"
expect_error "info shard cut inside header" "$BIN" info "$T/trunc3.bin"
{ cat "$SHARD"; printf 'xx'; } >"$T/trailing.bin"
expect_error "info shard with trailing bytes" "$BIN" info "$T/trailing.bin"
{ header 20240520 2 4; head -c 8 /dev/zero; } >"$T/v2.bin"
expect_error "info shard version 2" "$BIN" info "$T/v2.bin"
{ header 20240520 1 1; head -c 2 /dev/zero; } >"$T/one.bin"
expect_error "info shard with 1 token" "$BIN" info "$T/one.bin"
header 20240520 1 0 >"$T/zero.bin"
expect_error "info shard with 0 tokens" "$BIN" info "$T/zero.bin"
header 20240520 1 4294967295 >"$T/neg.bin"
expect_error "info shard with negative count" "$BIN" info "$T/neg.bin"
header 20240520 1 2000000000 >"$T/huge.bin"
expect_error "info shard claiming 2e9 tokens" "$BIN" info "$T/huge.bin"
header 20240326 3 0 >"$T/model_hdr.bin"
expect_error "info model header only" "$BIN" info "$T/model_hdr.bin"
printf '\210\330\064' >"$T/short_magic.bin"
expect_error "info 3-byte file" "$BIN" info "$T/short_magic.bin"

size=$(wc -c <"$TOK")
head -c $((size - 5)) "$TOK" >"$T/tok_trunc.bin"
expect_error "info tokenizer truncated in last piece" "$BIN" info "$T/tok_trunc.bin"
head -c 1500 "$TOK" >"$T/tok_trunc2.bin"
expect_error "info tokenizer missing pieces" "$BIN" info "$T/tok_trunc2.bin"
head -c 1000 "$TOK" >"$T/tok_trunc3.bin"
expect_error "info tokenizer cut inside header" "$BIN" info "$T/tok_trunc3.bin"
{ header 20240328 3 2; printf '\001a\001b'; } >"$T/tok_v3.bin"
expect_error "info tokenizer version 3" "$BIN" info "$T/tok_v3.bin"
header 20240328 2 0 >"$T/tok_v0.bin"
expect_error "info tokenizer vocab 0" "$BIN" info "$T/tok_v0.bin"
header 20240328 2 2000000 >"$T/tok_vbig.bin"
expect_error "info tokenizer vocab 2e6" "$BIN" info "$T/tok_vbig.bin"
{ header 20240328 2 2; printf '\001a\000'; } >"$T/tok_len0.bin"
expect_error "info tokenizer zero-length piece" "$BIN" info "$T/tok_len0.bin"
{ le32 20240328; le32 2; le32 2; le32 5; head -c 1008 /dev/zero; printf '\001a\001b'; } >"$T/tok_eot.bin"
expect_error "info tokenizer eot out of range" "$BIN" info "$T/tok_eot.bin"

# ---- prepare with bad input ----
expect_error "prepare without --input" "$BIN" prepare --out "$T/p0"
expect_error "prepare --input without files" "$BIN" prepare --input --out "$T/p1"
expect_error "prepare nonexistent input" "$BIN" prepare --input "$T/does_not_exist.txt" --out "$T/p2"
expect_error "prepare one good one missing" "$BIN" prepare --input "$T/a.txt" "$T/missing.txt" --out "$T/p3"
expect_error "prepare only an empty file" "$BIN" prepare --input "$T/empty.txt" --out "$T/p4"
: >"$T/empty2.txt"
expect_error "prepare only empty files" "$BIN" prepare --input "$T/empty.txt" "$T/empty2.txt" --out "$T/p5"
mkdir "$T/emptydir"
expect_error "prepare empty directory" "$BIN" prepare --input "$T/emptydir" --out "$T/p6"
printf 'x' >"$T/x.txt"
expect_error "prepare too little data for val" "$BIN" prepare --input "$T/x.txt" --val-fraction 0.5 --out "$T/p7"
expect_error "prepare val-fraction out of range" "$BIN" prepare --input "$T/a.txt" --val-fraction 2 --out "$T/p8"
expect_error "prepare val-fraction not a number" "$BIN" prepare --input "$T/a.txt" --val-fraction abc --out "$T/p9"
expect_error "prepare shard-tokens 0" "$BIN" prepare --input "$T/a.txt" --shard-tokens 0 --out "$T/p10"
expect_error "prepare unknown flag" "$BIN" prepare --input "$T/a.txt" --bogus --out "$T/p11"
expect_error "prepare --out is a file" "$BIN" prepare --input "$T/a.txt" --out "$T/a.txt"
expect_error "prepare --out without value" "$BIN" prepare --input "$T/a.txt" --out

# ---- accepted edge cases ----
expect_ok "prepare no val split" "$BIN" prepare --input "$T/a.txt" --val-fraction 0 --out "$T/q1"
[ ! -e "$T/q1/val_000000.bin" ] && pass=$((pass + 1)) || { fail=$((fail + 1)); echo "FAIL val shard written with --val-fraction 0"; }
mkdir "$T/docs" && cp "$T/a.txt" "$T/b.txt" "$T/empty.txt" "$T/docs/"
expect_ok "prepare directory input" "$BIN" prepare --input "$T/docs" "$T/a.txt" --out "$T/q2" --shard-tokens 16
expect_ok "info small shard" "$BIN" info "$T/q2/train_000001.bin"

echo "$pass passed, $fail failed"
[ "$fail" -eq 0 ]
