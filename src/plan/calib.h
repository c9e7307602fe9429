/* calib.h - cpu-local: this machine, as `plan` models llmscale's own CPU
 * trainer (one process, fp32, OpenBLAS GEMMs, OpenMP element-wise kernels).
 *
 * `llmscale bench` measures, and saves to
 *     $XDG_CACHE_HOME/llmscale/plan-cpu-local-<threads>t.txt
 *     (else ~/.cache/llmscale/..., beside the FMA-peak cache of probe.c)
 * the numbers the cost model needs, as key = value lines (catalog.h's keys):
 *   peak32_tflops  the register-only FMA peak (the MFU denominator)
 *   gemm_eff       llmscale's linear-layer GEMMs (forward + both backward) of
 *                  GPT-2-small layers on 256 tokens, / that peak / the shape
 *                  factor at those shapes (knee PLAN_CPU_GEMM_D0)
 *   hbm_gbs        bandwidth of in-place streaming updates (AdamW's access pattern;
 *                  mem_eff = 1: it is measured)
 *   elem_gbs       llmscale's LayerNorm/residual/GELU kernels of one layer, in
 *                  the bytes cost.c charges for them
 *   zero_gbs       one-threaded memset (gpt_zero_grad)
 *   attn_gflops    llmscale's attention kernel, forward + backward
 *   intra_gbs, intra_lat_us, inter_*  collective bandwidth and latency:
 *                  DEFAULTS (below) until `llmscale bench --comm` measures them
 * `plan --gpu cpu-local` with no file for the thread count measures once
 * (~10 s) and saves, so the first plan is slow, the next ones are not. */
#ifndef LS_PLAN_CALIB_H
#define LS_PLAN_CALIB_H
#include <stddef.h>

#include "catalog.h"

/* Default MPI collective figures for processes on one host (shared-memory
 * transport): used until measured. See docs/PLANNER.md. */
#define PLAN_CPU_DEFAULT_COMM_GBS 4.0
#define PLAN_CPU_DEFAULT_COMM_LAT_US 5.0
/* GEMM shape knee on CPUs (g(d) = d/(d + d0), catalog.h): measured once on
 * the development VM from llmscale's layer GEMMs on 256 vs 1024 tokens
 * (25-34 in quiet runs); too noisy on a shared machine to refit each time. */
#define PLAN_CPU_GEMM_D0 32.0

/* The calibration file path for `threads` threads ("" if no cache dir). */
char *plan_calib_path(char *out, size_t n, int threads);
/* Measure this machine with `threads` threads into *hw (cpu-local). */
void plan_calib_measure(PlanHw *hw, int threads);
/* Save atomically; returns 0 on success, -1 with no usable cache directory. */
int plan_calib_save(const PlanHw *hw, int threads, const char *path);
/* cpu-local for `threads` threads (< 1: ls_cpu_threads()): the file if
 * present, else measured now and saved. */
void plan_calib_get(PlanHw *hw, int threads);

#endif
