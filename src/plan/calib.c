/* calib.c - measure this machine for cpu-local (see calib.h). */
#include "calib.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "../core/cpu.h"
#include "../core/error.h"
#include "../core/fileio.h"
#include "../core/rng.h"
#include "../core/timer.h"
#include "../kernels/cpu/kernels.h"
#include "../kernels/cpu/probe.h"

char *plan_calib_path(char *out, size_t n, int threads) {
    char dir[4096];
    out[0] = '\0';
    if (ls_cache_dir_make(dir, sizeof dir) == 0) {
        int w = snprintf(out, n, "%s/plan-cpu-local-%dt.txt", dir, threads);
        if (w < 0 || (size_t)w >= n) out[0] = '\0';
    }
    return out;
}

static double g_shape(double d, double d0) { return d / (d + d0); }

/* The shape knee d0 for which rate(small)/rate(big) equals the model's
 * g(small dims)/g(big dims) (bisection; the ratio falls as d0 grows). */
static double fit_d0(double ratio, const int small[3], const int big[3]) {
    double lo = 0, hi = 4096;
    for (int it = 0; it < 60; it++) {
        double d0 = 0.5 * (lo + hi), r = 1;
        for (int k = 0; k < 3; k++) r *= g_shape(small[k], d0) / g_shape(big[k], d0);
        if (r > ratio) lo = d0;
        else hi = d0;
    }
    return 0.5 * (lo + hi);
}

/* llmscale's attention kernel, forward + backward, in GFLOP/s counting
 * 4*B*T*T*C forward and twice that backward (the count cost.c uses). */
static double attention_gflops(void) {
    const int B = 4, T = 64, C = 768, NH = 12;
    size_t nqkv = (size_t)B * T * 3 * C, nout = (size_t)B * T * C, natt = (size_t)B * NH * T * T;
    float *qkv = ls_calloc(nqkv, sizeof(float), "calibration"), *dqkv = ls_calloc(nqkv, sizeof(float), "calibration");
    float *out = ls_calloc(nout, sizeof(float), "calibration"), *dout = ls_calloc(nout, sizeof(float), "calibration");
    float *att = ls_calloc(natt, sizeof(float), "calibration");
    LsRng r;
    ls_rng_seed(&r, 3);
    for (size_t i = 0; i < nqkv; i++) qkv[i] = (float)(ls_rng_uniform(&r) - 0.5);
    for (size_t i = 0; i < nout; i++) dout[i] = (float)(ls_rng_uniform(&r) - 0.5);
    double best = 1e30, spent = 0;
    for (int rep = 0; rep < 50 && (rep < 3 || spent < 0.3); rep++) {
        double t0 = ls_now_s();
        attention_forward(out, att, qkv, B, T, C, NH);
        attention_backward(dqkv, dout, qkv, att, B, T, C, NH);
        double dt = ls_now_s() - t0;
        spent += dt;
        if (rep > 0 && dt < best) best = dt; /* rep 0 warms up */
    }
    ls_free(qkv), ls_free(dqkv), ls_free(out), ls_free(dout), ls_free(att);
    return 12.0 * B * T * (double)T * C / best / 1e9;
}

/* Bandwidth of in-place streaming updates, the access pattern of AdamW and
 * of most element-wise passes: four 32 MiB arrays (far beyond the caches),
 * read g, p, m, v and write p, m, v per element (28 bytes counted), all
 * OpenMP threads, best of 5 passes. */
static double stream_update_gbs(void) {
    const long n = 8L << 20;
    float *p = ls_calloc((size_t)n, sizeof(float), "calibration"), *g = ls_calloc((size_t)n, sizeof(float), "calibration");
    float *m = ls_calloc((size_t)n, sizeof(float), "calibration"), *v = ls_calloc((size_t)n, sizeof(float), "calibration");
    for (long i = 0; i < n; i++) g[i] = (float)(i % 7) * 0.1f;
    double best = 1e30;
    for (int rep = 0; rep < 6; rep++) {
        double t0 = ls_now_s();
#pragma omp parallel for schedule(static)
        for (long i = 0; i < n; i++) {
            float mi = 0.9f * m[i] + 0.1f * g[i], vi = 0.95f * v[i] + 0.05f * g[i] * g[i];
            m[i] = mi;
            v[i] = vi;
            p[i] -= 1e-4f * mi * (1.0f - vi) + 1e-5f * p[i];
        }
        double dt = ls_now_s() - t0;
        if (rep > 0 && dt < best) best = dt;
    }
    ls_free(p), ls_free(g), ls_free(m), ls_free(v);
    return 28.0 * n / best / 1e9;
}

void plan_calib_measure(PlanHw *hw, int threads) {
    memset(hw, 0, sizeof *hw);
    snprintf(hw->name, sizeof hw->name, "cpu-local");
    snprintf(hw->desc, sizeof hw->desc, "this machine: %.60s, %d threads (llmscale fp32)",
             ls_cpu_model_name(), threads);
    double peak = ls_peak_gflops_cached(threads, 0);
    /* GEMM: one large shape for the ceiling, one at GPT-2-small training
     * shapes (256 tokens x 768) for the knee */
    static const int big[3] = {1024, 1024, 1024}, small[3] = {256, 768, 768};
    double r_big = ls_probe_sgemm_gflops(big[0], big[1], big[2]);
    double r_small = ls_probe_sgemm_gflops(small[0], small[1], small[2]);
    hw->gemm_d0 = r_small >= r_big ? 0 : fit_d0(r_small / r_big, small, big);
    double gb = 1;
    for (int k = 0; k < 3; k++) gb *= g_shape(big[k], hw->gemm_d0);
    hw->peak32_tflops = peak / 1e3;
    hw->peak16_tflops = hw->peak32_tflops; /* fp32 only: no 16-bit path on the CPU trainer */
    hw->gemm_eff = r_big / gb / peak;
    hw->hbm_gbs = stream_update_gbs();
    hw->mem_eff = 1.0;
    hw->attn_gflops = attention_gflops();
    hw->mem_gb = (double)sysconf(_SC_PHYS_PAGES) * (double)sysconf(_SC_PAGE_SIZE) / 1e9;
    hw->intra_gbs = hw->inter_gbs = PLAN_CPU_DEFAULT_COMM_GBS;
    hw->intra_lat_us = hw->inter_lat_us = PLAN_CPU_DEFAULT_COMM_LAT_US;
    hw->comm_eff = 1.0;
    hw->gpus_per_node = 1 << 16; /* every process on this host */
    hw->fp32_only = 1;
}

int plan_calib_save(const PlanHw *hw, int threads, const char *path) {
    if (!path[0]) return -1;
    char *text = NULL;
    size_t len = 0;
    FILE *mem = open_memstream(&text, &len);
    if (!mem) return -1;
    fprintf(mem, "# llmscale cpu-local calibration, written by `llmscale bench`; see src/plan/calib.h\n"
                 "# (comm figures are defaults until `llmscale bench --comm` measures them)\n");
    fprintf(mem, "cpu = %s\nthreads = %d\n", ls_cpu_model_name(), threads);
    plan_hw_write(hw, mem);
    fclose(mem);
    LsAtomicFile af;
    ls_atomic_open(&af, path);
    ls_atomic_write(&af, text, len);
    ls_atomic_commit(&af);
    free(text);
    return 0;
}

void plan_calib_get(PlanHw *hw, int threads) {
    if (threads < 1) threads = ls_cpu_threads();
    char path[4200];
    plan_calib_path(path, sizeof path, threads);
    if (path[0] && ls_file_size(path) > 0) {
        memset(hw, 0, sizeof *hw);
        int t = threads;
        plan_hw_parse_file(hw, path, &t);
        if (hw->peak32_tflops <= 0 || hw->hbm_gbs <= 0 || hw->gemm_eff <= 0 || hw->attn_gflops <= 0)
            ls_fatal("calibration file '%s' lacks peak32_tflops/hbm_gbs/gemm_eff/attn_gflops "
                     "(delete it and run llmscale bench)", path);
        snprintf(hw->name, sizeof hw->name, "cpu-local");
        hw->fp32_only = 1;
        return;
    }
    ls_info("no cpu-local calibration for %d threads yet: measuring this machine (~10 s; "
            "`llmscale bench` does the same)", threads);
    plan_calib_measure(hw, threads);
    if (path[0] && plan_calib_save(hw, threads, path) == 0) ls_info("saved %s", path);
}
