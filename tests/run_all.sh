#!/bin/sh
# The whole test suite (make test). Each entry is one test program; its
# output is shown on failure. Ends with "N passed, N failed".
cd "$(dirname "$0")/.." || exit 1
export OMP_NUM_THREADS=${OMP_NUM_THREADS:-2}
LOGS=$(mktemp -d "${TMPDIR:-/tmp}/llmscale-tests.XXXXXX") || exit 1
trap 'rm -rf "$LOGS"' EXIT
pass=0
fail=0
run() {
    name=$1
    shift
    start=$(date +%s)
    if "$@" > "$LOGS/$name.log" 2>&1; then
        pass=$((pass + 1))
        echo "PASS  $name ($(( $(date +%s) - start )) s)"
    else
        fail=$((fail + 1))
        echo "FAIL  $name ($(( $(date +%s) - start )) s)"
        # the failing checks first (a long log's tail may not show them)
        grep -E '^(FAIL|not ok)' "$LOGS/$name.log" | head -10 | sed 's/^/    ! /'
        sed 's/^/      /' "$LOGS/$name.log" | tail -40
    fi
}
run unit-model      build/tests/test_model
run unit-optimizer  build/tests/test_optimizer
run unit-data       build/tests/test_data
run unit-tokenizer  build/tests/test_tokenizer
run unit-loader-ranks build/tests/test_loader_ranks
run unit-probe      build/tests/test_probe
run plan-published  build/tests/test_plan
run plan-cli-asan   sh tests/test_plan.sh build-asan/llmscale
run plan-cpu-local  sh tests/test_plan_cpu.sh build/llmscale
run bench-products sh tests/test_bench_products.sh build/llmscale
run plan-layouts    sh tests/test_plan_layouts.sh build/llmscale
run pytorch-ref     sh tests/test_reference.sh build/tests/test_reference
run unit-gemm       build/tests/test_gemm
run unit-kernels    build/tests/test_kernels
run bf16-curve      sh tests/test_bf16_curve.sh build/llmscale
run cli-tour        sh tests/test_cli.sh build/llmscale
run resume          sh tests/test_resume.sh build/llmscale
run bad-input-asan  sh tests/test_bad_input.sh build-asan/llmscale
run bpe-reference   /usr/bin/python3 tests/test_bpe.py build/llmscale
run data-parallel   sh tests/test_data_parallel.sh build/llmscale
run unit-tensor-parallel build/tests/test_tensor_parallel
run tensor-parallel sh tests/test_tensor_parallel.sh build/llmscale
run pipeline sh tests/test_pipeline.sh build/llmscale
run nonfinite sh tests/test_nonfinite.sh build/llmscale
run resume-auto sh tests/test_resume_auto.sh build/llmscale
run unit-pipeline-schedule build/tests/test_pipeline_schedule
run unit-trace      build/tests/test_trace
run p2p             sh tests/test_p2p.sh build/tests/test_p2p
run hang-watchdog   sh tests/test_hang.sh build/llmscale
run data-errors-asan sh tests/test_data_errors.sh build-asan/llmscale
run fuzz            sh tests/test_fuzz.sh
echo "$pass passed, $fail failed"
[ "$fail" -eq 0 ]
