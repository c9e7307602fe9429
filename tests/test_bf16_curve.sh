#!/bin/sh
# test_bf16_curve.sh LLMSCALE - bf16 matrix products train like fp32.
# A small GPT (2 layers, dim 128) trains 300 steps on tinyshakespeare
# (TINYSHAKESPEARE, default ../shared/data/tinyshakespeare.txt; the
# repository's own text if that file is absent) twice, --dtype fp32 and
# --dtype bf16, same seed and data order. Checks:
#   - both learn (mean loss of the last 20 steps < 60% of step 1's);
#   - the bf16 run really differs from the fp32 one (bf16 rounding engaged);
#   - the bf16 curve is within 1% of fp32's: mean of the last 20 steps, and
#     every 50-step window mean along the way within 2% (early steps move fast).
# On a CPU without bf16 products, --dtype bf16 must fail with one clear line.
set -u
BIN=${1:-build/llmscale}
D=$(mktemp -d)
trap 'rm -rf "$D"' EXIT
TEXT=${TINYSHAKESPEARE:-../shared/data/tinyshakespeare.txt}
if [ -f "$TEXT" ]; then set -- "$TEXT"; else
    echo "($TEXT not found: using the repository's own text)"
    set -- README.md docs/*.md src/*/*.c src/*/*.h src/kernels/cpu/*.c
fi
"$BIN" prepare --input "$@" --out "$D/data" >/dev/null || { echo "FAIL prepare"; exit 1; }
run() { # dtype
    "$BIN" train --data "$D/data" --layers 2 --dim 128 --heads 4 --seq 64 --batch 8 --steps 300 --lr 3e-3 \
        --warmup 20 --seed 1 --threads 2 --print-every 0 --dtype "$1" --out "$D/$1" > "$D/$1.log" 2>&1
}
if ! "$BIN" bench --no-probe --no-train --dtype bf16 > "$D/probe.log" 2>&1; then
    if grep -q '^llmscale: error: --dtype bf16 needs a CPU' "$D/probe.log"; then
        echo "PASS: no bf16 products on this CPU; --dtype bf16 refused with: $(cat "$D/probe.log")"; exit 0
    fi
    echo "FAIL: --dtype bf16 failed without the expected message:"; cat "$D/probe.log"; exit 1
fi
run fp32 || { echo "FAIL fp32 training"; cat "$D/fp32.log"; exit 1; }
run bf16 || { echo "FAIL bf16 training"; cat "$D/bf16.log"; exit 1; }
losses() { sed -n 's/.*"step": \([0-9]*\), "loss": \([0-9.eE+-]*\),.*/\1 \2/p' "$D/$1/metrics.jsonl"; }
losses fp32 > "$D/a"
losses bf16 > "$D/b"
paste "$D/a" "$D/b" | awk '
    { s = $1; a[s] = $2; b[s] = $4; n = s; if ($2 != $4) differ = 1 }
    END {
        if (n != 300) { print "FAIL: expected 300 steps, got " n; exit 1 }
        for (s = 281; s <= 300; s++) { fa += a[s]; fb += b[s] }
        fa /= 20; fb /= 20
        rel = (fb - fa) / fa; if (rel < 0) rel = -rel
        printf "fp32 step 1 %.4f, last-20 mean %.4f | bf16 step 1 %.4f, last-20 mean %.4f | rel diff %.3f%%\n",
               a[1], fa, b[1], fb, 100 * rel
        bad = 0
        if (!(fa < 0.6 * a[1] && fb < 0.6 * b[1])) { print "FAIL: a run did not learn"; bad = 1 }
        if (!differ) { print "FAIL: bf16 losses are identical to fp32: bf16 products not engaged"; bad = 1 }
        if (!(rel <= 0.01)) { print "FAIL: bf16 final loss differs from fp32 by more than 1%"; bad = 1 }
        for (w = 0; w < 6; w++) {
            wa = 0; wb = 0
            for (s = w * 50 + 1; s <= w * 50 + 50; s++) { wa += a[s]; wb += b[s] }
            r = (wb - wa) / wa; if (r < 0) r = -r
            printf "  steps %3d-%3d: fp32 %.4f bf16 %.4f (%.2f%%)\n", w * 50 + 1, w * 50 + 50, wa / 50, wb / 50, 100 * r
            if (!(r <= 0.02)) { print "FAIL: window differs by more than 2%"; bad = 1 }
        }
        exit bad
    }'
