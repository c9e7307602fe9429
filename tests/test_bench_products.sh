#!/bin/sh
# test_bench_products.sh [LLMSCALE] - `llmscale bench`'s table of matrix
# products accounts for every product of the step, once:
#   - each of y = x W^T, dx = dy W, dW += dy^T x is listed for the four block
#     shapes (calls = layers) and the LM head (calls = 1, OC = the padded
#     vocabulary), with N = batch x seq; db for the four biased shapes;
#   - each row's GFLOP/s is 2 N C OC calls / its time, the "all" row the sum;
#   - its total time fits inside the matmul + classifier+loss phases that
#     contain it (means against medians: 30% slack for a noisy machine);
#   - the engine follows matmul.c's rule: with fewer than 32 rows (N = 16),
#     or on a CPU without AVX-512, every product is OpenBLAS's; with 256 rows
#     y and dx are ours (AVX-512).
set -u
BIN=${1:-build/llmscale}
T=$(mktemp -d "${TMPDIR:-/tmp}/llmscale_bench_prod.XXXXXX") || exit 1
trap 'rm -rf "$T"' EXIT
export OMP_NUM_THREADS=2
PY=/usr/bin/python3
fail=0
AVX512=0
grep -q avx512f /proc/cpuinfo 2>/dev/null && AVX512=1
check() { # batch seq dtype
    "$BIN" bench --model gpt2 --layers 2 --batch "$1" --seq "$2" --steps 2 --threads 2 --no-probe \
        --dtype "$3" >"$T/out" 2>&1 || { cat "$T/out"; echo "FAIL - bench $*"; fail=1; return; }
    if $PY - "$T/out" "$1" "$2" "$3" "$AVX512" <<'PY'
import re, sys
text = open(sys.argv[1]).read()
B, T, dtype, avx512 = int(sys.argv[2]), int(sys.argv[3]), sys.argv[4], sys.argv[5] == "1"
N, L, Vp = B * T, 2, 50304  # vocab 50257 padded to a multiple of 128
m = re.search(r"^matrix products \(per step.*?\n(.*?)^  all +([\d.]+) +([\d.]+)", text, re.S | re.M)
assert m, "no products table"
rows = []
for line in m.group(1).splitlines()[1:]:  # after the header
    r = re.match(r"  (y = x W\^T|dx = dy W|dW \+= dy\^T x|db \+= sum dy) +(\d+) x (\d+) -> (\d+) +(\d+) +([\d.]+) +(\S+) +(\S+) +(.*)", line)
    assert r, "bad row: " + line
    rows.append((r.group(1), int(r.group(2)), int(r.group(3)), int(r.group(4)), int(r.group(5)),
                 float(r.group(6)), r.group(7), r.group(9).strip()))
shapes = {(768, 2304): L, (768, 768): L, (768, 3072): L, (3072, 768): L, (768, Vp): 1}
for kind in ("y = x W^T", "dx = dy W", "dW += dy^T x"):
    got = {(c, oc): calls for k, n, c, oc, calls, *_ in rows if k == kind}
    assert got == shapes, (kind, got)
got = {(c, oc): calls for k, n, c, oc, calls, *_ in rows if k.startswith("db")}
assert got == {s: L for s in shapes if s[1] != Vp}, ("db", got)
assert all(n == N for _, n, *_ in rows), "N is not batch x seq"
flops = ms = 0.0
for k, n, c, oc, calls, t, gf, eng in rows:
    ms += t
    if k.startswith("db"):
        continue
    f = 2.0 * n * c * oc * calls
    flops += f
    # ms is printed to 0.01, GFLOP/s to 0.1
    lo, hi = f / ((t + 0.005) * 1e-3) / 1e9 - 0.05, f / (max(t - 0.005, 1e-9) * 1e-3) / 1e9 + 0.05
    assert lo <= float(gf) <= hi, (k, c, oc, t, gf)
    if dtype == "bf16":
        assert "bf16" in eng, (k, eng)
    elif N < 32 or not avx512:
        assert eng == "OpenBLAS sgemm", (k, c, oc, eng)
    elif k != "dW += dy^T x":
        assert eng == "own fp32 AVX-512", (k, c, oc, eng)
all_ms, all_gf = float(m.group(2)), float(m.group(3))
assert abs(all_ms - ms) <= 0.02 * len(rows), (all_ms, ms)
assert abs(all_gf - flops / (all_ms * 1e-3) / 1e9) <= 0.002 * all_gf + 0.1, (all_gf, flops, all_ms)
phase = lambda name: float(re.search(r"^  %s +([\d.]+)" % re.escape(name), text, re.M).group(1))
outer = phase("matmul") + phase("classifier+loss")
assert 0.5 * outer <= all_ms <= 1.3 * outer, (all_ms, outer)
print("ok - bench B=%d T=%d %s: %d product rows, %.1f ms of %.1f ms (matmul + classifier), %.0f GFLOP/s"
      % (B, T, dtype, len(rows), all_ms, outer, all_gf))
PY
    then :; else echo "FAIL - bench products table (B=$1 T=$2 $3)"; sed -n '/^matrix products/,/^  all/p' "$T/out"; fail=1; fi
}
check 4 64 fp32
check 1 16 fp32
if "$BIN" bench --no-probe --no-train --dtype bf16 >/dev/null 2>&1; then check 4 64 bf16
else echo "ok - # skip bf16 (no AVX512_BF16 or AMX here)"; fi
[ "$fail" -eq 0 ]
