#!/bin/sh
# test_plan.sh [LLMSCALE] - the `plan` command end to end: one layout in
# JSON (well-formed, the fields the issue asks for, consistent sums), search
# mode (ranked, impossible layouts skipped with their reason), --hw-file
# overrides, and bad input (one "llmscale: error:" line, exit 1). Uses catalog
# GPUs only, so nothing here measures the machine (see test_plan_cpu.sh).
set -u
BIN=${1:-build-asan/llmscale}
case $BIN in /*) ;; *) BIN=$(pwd)/$BIN ;; esac
[ -x "$BIN" ] || { echo "test_plan.sh: no executable '$BIN'" >&2; exit 2; }
T=$(mktemp -d "${TMPDIR:-/tmp}/llmscale_plan.XXXXXX") || exit 1
trap 'rm -rf "$T"' EXIT
ASAN_OPTIONS=detect_leaks=0${ASAN_OPTIONS:+:$ASAN_OPTIONS}
LC_ALL=C
export ASAN_OPTIONS LC_ALL
pass=0
fail=0
. "$(dirname "$0")/expect.sh"
PY=/usr/bin/python3

G175="--model GPT175B --gpu a100-80g"
# one layout, JSON: fields present, memory parts add up, time parts add up
expect_ok "layout json" "$BIN" plan $G175 --gpus 1024 --global-batch 1536 --tp 8 --pp 16 --recompute full --tokens 300e9 --json
if $PY - "$T/out" <<'PYEOF'
import json, sys
o = json.load(open(sys.argv[1]))
for k in ("step_time_s", "tflops_per_gpu", "mfu", "memory_gb_per_gpu", "tokens_per_s", "days", "layout"):
    assert k in o, k
l = o["layout"]
assert (l["dp"], l["tp"], l["pp"], l["num_micro"]) == (8, 8, 16, 192), l
m = l["memory_gb"]
assert abs(sum(m.values()) - o["memory_gb_per_gpu"]) < 1e-3, m
parts = sum(l[k] for k in ("compute_s", "tp_comm_s", "pp_comm_s", "dp_comm_s", "bubble_s", "optimizer_s"))
assert abs(parts - o["step_time_s"]) < 1e-6 * o["step_time_s"], (parts, o["step_time_s"])
# tokens/s and days follow from the step time: 1536 x 2048 tokens per step
assert abs(o["tokens_per_s"] - 1536 * 2048 / o["step_time_s"]) < 1e-3 * o["tokens_per_s"]
assert abs(o["days"] - 300e9 / o["tokens_per_s"] / 86400) < 1e-3 * o["days"]
assert 0 < o["mfu"] < 1 and 0 < o["tflops_per_gpu"] < 312
PYEOF
then pass=$((pass + 1)); echo "ok - layout json fields and sums"
else fail=$((fail + 1)); echo "FAIL - layout json fields and sums"; head -c 600 "$T/out"; fi

# search: ranked by step time; the best is at least as fast as the fixed layout above
fixed=$($PY -c 'import json,sys; print(json.load(open(sys.argv[1]))["step_time_s"])' "$T/out")
expect_ok "search json" "$BIN" plan $G175 --gpus 1024 --global-batch 1536 --json --top 8
if $PY - "$T/out" "$fixed" <<'PYEOF'
import json, sys
o = json.load(open(sys.argv[1]))
r = [x["step_time_s"] for x in o["ranked"]]
assert r == sorted(r) and len(r) == 8, r
assert o["best"]["step_time_s"] == r[0] == o["step_time_s"]
assert r[0] <= float(sys.argv[2]) * (1 + 1e-9), (r[0], sys.argv[2])
assert all(x["fits"] and x["memory_gb_per_gpu"] <= 80 for x in o["ranked"])
assert o["impossible"] > 0 and o["too_big"] > 0 and o["fit"] > 0
PYEOF
then pass=$((pass + 1)); echo "ok - search ranked, better than or equal to the fixed layout"
else fail=$((fail + 1)); echo "FAIL - search ranking"; head -c 600 "$T/out"; fi

# human search report names why layouts were skipped
expect_ok "search report" "$BIN" plan $G175 --gpus 1024 --global-batch 1536
if grep -q "impossible" "$T/out" && grep -q "do not fit" "$T/out" && grep -q "most from" "$T/out"; then
    pass=$((pass + 1)); echo "ok - search report gives reasons"
else fail=$((fail + 1)); echo "FAIL - search report reasons"; fi

# --hw-file: doubling the peak and the GEMM efficiency knee's effect show up
printf '# faster chip\npeak16_tflops = 624\n' >"$T/hw.txt"
expect_ok "hw-file" "$BIN" plan $G175 --gpus 1024 --global-batch 1536 --tp 8 --pp 16 --json --hw-file "$T/hw.txt"
if $PY -c 'import json,sys; a=json.load(open(sys.argv[1])); assert a["step_time_s"] < float(sys.argv[2]) * 0.9' "$T/out" "$fixed"; then
    pass=$((pass + 1)); echo "ok - hw-file override is used"
else fail=$((fail + 1)); echo "FAIL - hw-file override"; fi

# bad input: one clear line each
expect_error "tp not dividing heads" "$BIN" plan $G175 --gpus 80 --global-batch 64 --tp 5
expect_error "pp not dividing layers" "$BIN" plan $G175 --gpus 7 --global-batch 7 --pp 7
expect_error "more GPUs than the layout uses" "$BIN" plan $G175 --gpus 64 --global-batch 64 --tp 8 --pp 2 --dp 2
expect_error "layout needs more GPUs" "$BIN" plan $G175 --gpus 8 --global-batch 64 --tp 8 --pp 2
expect_error "batch not divisible" "$BIN" plan $G175 --gpus 64 --global-batch 100 --tp 8
expect_error "unknown gpu" "$BIN" plan $G175 --gpu a200 --gpus 8 --tp 8
expect_error "bad recompute" "$BIN" plan $G175 --gpus 8 --tp 8 --recompute some
expect_error "zero stage" "$BIN" plan $G175 --gpus 8 --tp 8 --zero 4
expect_error "no model" "$BIN" plan --gpu h100 --gpus 8
expect_error "search without batch" "$BIN" plan $G175 --gpus 8
expect_error "nothing fits" "$BIN" plan --model GPT175B --gpu v100 --gpus 1 --global-batch 8
printf 'peak16_tflops = fast\n' >"$T/bad1.txt"
expect_error "hw-file bad number" "$BIN" plan $G175 --gpus 8 --tp 8 --hw-file "$T/bad1.txt"
printf 'warp_speed = 9\n' >"$T/bad2.txt"
expect_error "hw-file unknown key" "$BIN" plan $G175 --gpus 8 --tp 8 --hw-file "$T/bad2.txt"
expect_error "hw-file missing" "$BIN" plan $G175 --gpus 8 --tp 8 --hw-file "$T/none.txt"
expect_ok "help" "$BIN" plan --help
echo "$pass passed, $fail failed"
[ "$fail" -eq 0 ]
