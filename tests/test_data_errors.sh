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

# ---- BPE tokenizer, formats, tokenize (issue 3) ----
for i in 1 2 3 4 5 6; do cat "$T/a.txt" "$T/b.txt"; done >"$T/corpus.txt"
expect_ok "prepare --tokenizer bpe" "$BIN" prepare --input "$T/corpus.txt" --tokenizer bpe --vocab-size 300 --out "$T/bpe"
BPETOK=$T/bpe/tokenizer.bin
expect_ok "info BPE tokenizer" "$BIN" info "$BPETOK"
expect_ok "prepare reusing a tokenizer file" "$BIN" prepare --input "$T/a.txt" "$T/b.txt" --tokenizer "$BPETOK" --out "$T/bpe2"
expect_ok "tokenize --text" "$BIN" tokenize --tokenizer "$BPETOK" --text "The quick brown fox"
expect_ok "tokenize --help" "$BIN" tokenize --help
ids=$("$BIN" tokenize --tokenizer "$BPETOK" --text "The quick brown fox, it's 42!")
back=$("$BIN" tokenize --tokenizer "$BPETOK" --decode "$ids")
[ "$back" = "The quick brown fox, it's 42!" ] && pass=$((pass + 1)) || { fail=$((fail + 1)); echo "FAIL tokenize/decode round trip: '$back'"; }
printf '{"text": "line one \\u00e9"}\n\n{"id": 3, "text": "two\\nlines", "x": [1, {"a": null}]}\n' >"$T/docs.jsonl"
expect_ok "prepare --format jsonl" "$BIN" prepare --input "$T/docs.jsonl" --format jsonl --val-fraction 0 --out "$T/j"
printf 'doc one\n\ndoc two\nlast doc without newline' >"$T/docs.lines"
expect_ok "prepare --format lines" "$BIN" prepare --input "$T/docs.lines" --format lines --val-fraction 0 --out "$T/l"
# 3 documents: 3 EOT tokens (256) in the byte-level shard
neot=$(od -An -v -tu2 -j1024 "$T/l/train_000000.bin" | tr -s ' ' '\n' | grep -c '^256$')
[ "$neot" -eq 3 ] && pass=$((pass + 1)) || { fail=$((fail + 1)); echo "FAIL lines: $neot documents, expected 3"; }

expect_error "prepare --vocab-size 256 (< 257)" "$BIN" prepare --input "$T/corpus.txt" --tokenizer bpe --vocab-size 256 --out "$T/e1"
expect_error "prepare --vocab-size 65537 (> uint16)" "$BIN" prepare --input "$T/corpus.txt" --tokenizer bpe --vocab-size 65537 --out "$T/e2"
expect_error "prepare --vocab-size with byte tokenizer" "$BIN" prepare --input "$T/corpus.txt" --vocab-size 300 --out "$T/e3"
expect_error "prepare bpe on an empty file" "$BIN" prepare --input "$T/empty.txt" --tokenizer bpe --out "$T/e4"
mkdir "$T/onlyempty" && : >"$T/onlyempty/x.txt" && : >"$T/onlyempty/y.txt"
expect_error "prepare bpe on a dir of empty files" "$BIN" prepare --input "$T/onlyempty" --tokenizer bpe --out "$T/e5"
expect_error "prepare bpe on an empty dir" "$BIN" prepare --input "$T/emptydir" --tokenizer bpe --out "$T/e6"
printf '\n\n\n' >"$T/blank.lines"
expect_error "prepare lines with only blank lines" "$BIN" prepare --input "$T/blank.lines" --format lines --out "$T/e7"
printf '{"text": "ok"}\n{"txt": "no text field"}\n' >"$T/bad1.jsonl"
expect_error "prepare jsonl without text field" "$BIN" prepare --input "$T/bad1.jsonl" --format jsonl --out "$T/e8"
printf '{"text": 42}\n' >"$T/bad2.jsonl"
expect_error "prepare jsonl text not a string" "$BIN" prepare --input "$T/bad2.jsonl" --format jsonl --out "$T/e9"
printf '{"text": "unterminated}\n' >"$T/bad3.jsonl"
expect_error "prepare jsonl malformed" "$BIN" prepare --input "$T/bad3.jsonl" --format jsonl --out "$T/e10"
# a million nested '[' overflowed the stack of the recursive JSON skip (segfault)
{ printf '{"meta": '; head -c 1000000 /dev/zero | tr '\000' '['; printf ', "text": "x"}\n'; } >"$T/deep.jsonl"
expect_error "prepare jsonl nested a million deep" "$BIN" prepare --input "$T/deep.jsonl" --format jsonl --out "$T/e10d"
# 500 levels are fine (the limit is 512)
{ printf '{"meta": '; head -c 500 /dev/zero | tr '\000' '['; head -c 500 /dev/zero | tr '\000' ']'; printf ', "text": "deep but fine"}\n'; } >"$T/deep_ok.jsonl"
expect_ok "prepare jsonl nested 500 deep" "$BIN" prepare --input "$T/deep_ok.jsonl" --format jsonl --val-fraction 0 --out "$T/j500"
expect_error "prepare --format unknown" "$BIN" prepare --input "$T/a.txt" --format csv --out "$T/e11"
# a failure after some shards were written leaves nothing that looks complete
for i in 1 2 3 4 5 6 7 8 9 10; do printf '{"text": "good document number %d"}\n' $i; done >"$T/goodbad.jsonl"
printf '{"text": ["bad"]}\n' >>"$T/goodbad.jsonl"
expect_error "prepare failing at the last line" "$BIN" prepare --input "$T/goodbad.jsonl" --format jsonl --shard-tokens 16 --out "$T/e12"
expect_error "prepare failing late (jsonl after text)" "$BIN" prepare --input "$T/docs.jsonl" "$T/bad2.jsonl" --format jsonl --shard-tokens 16 --out "$T/e13"
left=$(find "$T/e12" "$T/e13" -type f 2>/dev/null | wc -l)
[ "$left" -eq 0 ] && pass=$((pass + 1)) || { fail=$((fail + 1)); echo "FAIL failed prepare left files: $(ls -A "$T/e12" "$T/e13")"; }
# a tokenizer whose vocabulary exceeds uint16 (70000 one-byte pieces)
{ header 20240328 2 70000; head -c 140000 /dev/zero | tr '\0' '\001'; } >"$T/tok_70k.bin"
expect_error "prepare with a 70000-token tokenizer" "$BIN" prepare --input "$T/a.txt" --tokenizer "$T/tok_70k.bin" --out "$T/e14"
expect_error "tokenize with a 70000-token tokenizer" "$BIN" tokenize --tokenizer "$T/tok_70k.bin" --text hi
{ header 20240328 2 300; head -c 600 /dev/zero | tr '\0' '\001'; } >"$T/tok_nomerge.bin"
expect_error "tokenize with a decode-only table" "$BIN" tokenize --tokenizer "$T/tok_nomerge.bin" --text hi
size=$(wc -c <"$BPETOK")
{ head -c $((size - 40)) "$BPETOK"; printf 'XXXX'; tail -c 36 "$BPETOK"; } >"$T/tok_badcrc.bin"
expect_error "BPE tokenizer with a corrupted merge" "$BIN" info "$T/tok_badcrc.bin"
head -c $((size - 7)) "$BPETOK" >"$T/tok_cut.bin"
expect_error "BPE tokenizer with a truncated merge section" "$BIN" info "$T/tok_cut.bin"
{ cat "$TOK"; printf 'junk'; } >"$T/tok_junk.bin"
expect_error "tokenizer with trailing junk" "$BIN" info "$T/tok_junk.bin"
expect_error "tokenize without --tokenizer" "$BIN" tokenize --text hi
expect_error "tokenize --text and --decode" "$BIN" tokenize --tokenizer "$BPETOK" --text hi --decode 1
expect_error "tokenize --decode out of range" "$BIN" tokenize --tokenizer "$BPETOK" --decode 1,99999
expect_error "tokenize --decode not numbers" "$BIN" tokenize --tokenizer "$BPETOK" --decode 1,x
mkdir "$T/g2"
expect_error "gpt2:DIR without the files" "$BIN" tokenize --tokenizer "gpt2:$T/g2" --text hi
printf '{"a": 0,' >"$T/g2/encoder.json"; printf '#version: 0.2\n' >"$T/g2/vocab.bpe"
expect_error "gpt2:DIR with broken encoder.json" "$BIN" tokenize --tokenizer "gpt2:$T/g2" --text hi
expect_error "gpt2:DIR not a directory" "$BIN" tokenize --tokenizer "gpt2:$T/a.txt" --text hi

# ---- training on BPE shards; the data position in the checkpoint ----
for i in 1 2 3 4 5 6 7 8; do cat "$T/corpus.txt"; done >"$T/corpus8.txt"
"$BIN" prepare --input "$T/corpus8.txt" --tokenizer bpe --vocab-size 280 --val-fraction 0 --out "$T/bd" >/dev/null 2>&1
tr_common="--model micro --seq 8 --batch 2 --steps 4 --shuffle on --peak-gflops 100 --print-every 0"
expect_ok "train on BPE shards, save" "$BIN" train --data "$T/bd" $tr_common --stop-at 2 --out "$T/run"
cp -r "$T/run" "$T/run_v1"
"$BIN" prepare --input "$T/corpus8.txt" "$T/a.txt" --tokenizer "$T/bd/tokenizer.bin" --val-fraction 0 --out "$T/bd2" >/dev/null 2>&1
expect_error "resume on different data" "$BIN" train --data "$T/bd2" $tr_common --resume "$T/run"
expect_ok "resume on the same data" "$BIN" train --data "$T/bd" $tr_common --resume "$T/run"
# a version-1 state file (before the data fields) in the flat layout of that
# time (RUNDIR/ckpt_<S>_model.bin, _state.bin; no directory) still resumes
mv "$T/run_v1/ckpt_00000002/model.bin" "$T/run_v1/ckpt_00000002_model.bin"
mv "$T/run_v1/ckpt_00000002/state.bin" "$T/run_v1/ckpt_00000002_state.bin"
rmdir "$T/run_v1/ckpt_00000002"
/usr/bin/python3 - "$T/run_v1/ckpt_00000002_state.bin" <<'PY'
import struct, sys, zlib
p = sys.argv[1]
b = open(p, 'rb').read()
assert struct.unpack('<2I', b[:8]) == (0x4C535354, 2)
b = struct.pack('<2I', 0x4C535354, 1) + b[8:8 + 56] + b[8 + 80:-4]
open(p, 'wb').write(b + struct.pack('<I', zlib.crc32(b)))
PY
expect_ok "resume from a version-1 state file in the flat layout" "$BIN" train --data "$T/bd" $tr_common --resume "$T/run_v1"

echo "$pass passed, $fail failed"
[ "$fail" -eq 0 ]
