/* calib.h - cpu-local: this machine, as `plan` models llmscale's own CPU
 * trainer (R processes on this host, t threads each, fp32, OpenBLAS GEMMs,
 * OpenMP element-wise kernels, collectives through shared memory).
 *
 * `llmscale bench --threads t` measures one process, and
 * `mpirun -np R llmscale bench --threads t` measures R processes running the
 * same kernels at the same time (each rank's rates while the others compete
 * for the memory bandwidth and the cores; the slowest rank's figure is kept)
 * plus the collectives between them. Saved to
 *     $XDG_CACHE_HOME/llmscale/plan-cpu-local-<t>t.txt       (one process)
 *     $XDG_CACHE_HOME/llmscale/plan-cpu-local-<R>x<t>t.txt   (R processes)
 *     (else ~/.cache/llmscale/..., beside the FMA-peak cache of probe.c)
 * as key = value lines (catalog.h's keys):
 *   peak32_tflops  the register-only FMA peak (the MFU denominator)
 *   gemm_eff       llmscale's linear-layer GEMMs (forward + both backward) of
 *                  GPT-2-small layers on 256 tokens, / that peak / the shape
 *                  factor at those shapes (knee PLAN_CPU_GEMM_D0)
 *   hbm_gbs        bandwidth of in-place streaming updates (AdamW's access pattern;
 *                  mem_eff = 1: it is measured)
 *   elem_gbs       llmscale's LayerNorm/residual/GELU kernels of one layer, in
 *                  the bytes cost.c charges for them
 *   zero_gbs       the threaded memset of gpt_zero_grad
 *   attn_gflops    llmscale's attention kernel, forward + backward
 *   node_cores, node_gbs  the host's cores, and the update bandwidth of all of
 *                  them together (what R processes share when no R-process
 *                  calibration exists: plan_calib_share)
 *   intra_gbs, intra_lat_us  all-reduce bus bandwidth (32 MiB, the size of a
 *                  gradient bucket) and per-step latency (4 KiB), measured over
 *                  the R ranks; one process: DEFAULTS below (nothing to measure)
 * `plan --gpu cpu-local` with no file for its thread count measures one
 * process once (~10 s) and saves it. */
#ifndef LS_PLAN_CALIB_H
#define LS_PLAN_CALIB_H
#include <stddef.h>

#include "../parallel/comm.h"
#include "catalog.h"

/* Collective figures for processes on one host (shared-memory window) when
 * no R-process calibration measured them. See docs/PLANNER.md. */
#define PLAN_CPU_DEFAULT_COMM_GBS 4.0
#define PLAN_CPU_DEFAULT_COMM_LAT_US 5.0
/* GEMM shape knee on CPUs (g(d) = d/(d + d0), catalog.h): measured once on
 * the development VM from llmscale's layer GEMMs on 256 vs 1024 tokens
 * (25-34 in quiet runs); too noisy on a shared machine to refit each time. */
#define PLAN_CPU_GEMM_D0 32.0

/* The calibration file path for `ranks` processes of `threads` threads ("" if
 * no cache dir). */
char *plan_calib_path(char *out, size_t n, int ranks, int threads);
/* Measure this process's kernels with `threads` threads into *hw. With
 * `ranks` != NULL (every rank of it on this host calls this together) the
 * ranks measure each kernel at the same moment and *hw holds the slowest
 * rank's rates; the collective figures are left at the defaults. */
void plan_calib_measure(PlanHw *hw, int threads, LsComm *ranks);
/* Save atomically; returns 0 on success, -1 with no usable cache directory. */
int plan_calib_save(const PlanHw *hw, int ranks, int threads, const char *path);
/* R processes of t threads on this host from a one-process calibration of t
 * threads: each gets min(1, cores / (R t)) of its compute rates and
 * min(1, cores / (R t), node_gbs / (R hbm_gbs)) of its bandwidths. */
void plan_calib_share(PlanHw *hw, int ranks, int threads);
/* cpu-local for `ranks` processes on this host with `threads` threads each
 * (< 1: ls_cpu_threads()): the R-process file if present; else the
 * one-process file (measured now and saved if absent) shared among R by
 * plan_calib_share, with the default collective figures. */
void plan_calib_get(PlanHw *hw, int ranks, int threads);

#endif
