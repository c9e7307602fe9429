/* probe.h - measure what this machine can do.
 *
 * MFU (model FLOPs utilisation) = achieved FLOP/s / peak FLOP/s. The peak is
 * not taken from a datasheet: clock speeds, turbo, virtualisation and how many
 * FMA units a core really has vary too much. Instead it is measured with a
 * register-only FMA loop (the most any fp32 kernel can reach on these cores)
 * and cached per CPU model and thread count. The other probes (sgemm, memory
 * bandwidth) give the practical ceilings for compute-bound matrix products
 * and memory-bound element-wise kernels, for benchmark reports. */
#ifndef LS_PROBE_H
#define LS_PROBE_H
#include <stddef.h>

/* Peak fp32 fused-multiply-add rate in GFLOP/s with `threads` OpenMP threads
 * (threads < 1 means ls_cpu_threads()). Every thread runs 16 independent
 * chains of vector FMAs on registers only (AVX-512 when the CPU has it, else
 * AVX2+FMA, else scalar), ~0.2 s per run, best of 3 runs; one FMA on one
 * lane counts as 2 flops. */
double ls_probe_fma_gflops(int threads);
/* Which loop ls_probe_fma_gflops() runs here: "avx512", "avx2+fma", "scalar". */
const char *ls_probe_fma_isa(void);

/* cblas_sgemm rate in GFLOP/s (2*M*N*K flops per call) for row-major
 * C[M,N] = A[M,K] * B[K,N], with OpenBLAS's current thread count: one warm-up
 * call, then the fastest of repeated calls (at least 3, about 0.3 s). */
double ls_probe_sgemm_gflops(int M, int N, int K);
/* The same with transposes: trans_a=1 means A is stored as [K,M]; trans_b=1
 * means B is stored as [N,K] (as a linear layer's weight out = in * W^T). */
double ls_probe_sgemm_gflops_ex(int M, int N, int K, int trans_a, int trans_b);
/* Our GEMM (gemm.h) on the linear layer's forward, out (M,N) = x (M,K) W^T. */
#include "gemm.h"
double ls_probe_gemm_gflops(LsGemmType type, int M, int N, int K);

/* Main-memory bandwidth in GB/s (1e9 bytes/s): a STREAM-style triad
 * a[i] = b[i] + s*c[i] over three 256 MiB float arrays (far beyond any
 * cache) with all OpenMP threads, best of 3 passes, counting 12 bytes per
 * element (two reads, one write) as STREAM does. */
double ls_probe_mem_gbs(void);

/* Peak fp32 FMA GFLOP/s for `threads` threads (< 1: ls_cpu_threads()), in
 * this order of precedence:
 *   1. a value given to ls_peak_override() (the --peak-gflops flag),
 *   2. the environment variable LLMSCALE_PEAK_GFLOPS (fatal if not a
 *      positive number),
 *   3. the cache file $XDG_CACHE_HOME/llmscale/peak.txt, else
 *      $HOME/.cache/llmscale/peak.txt, whose lines read
 *      "<threads> <gflops> <cpu model name>"; a line matching this CPU's
 *      model name and `threads` is used,
 *   4. otherwise ls_probe_fma_gflops(threads) is measured (2 to 4 times
 *      until two results agree within 5%, the best kept; 1.5-3 s) and
 *      added to the cache file (written atomically); with no writable cache
 *      directory it is only remembered for the life of the process.
 * With verbose, one ls_info line says the value and where it came from. */
double ls_peak_gflops_cached(int threads, int verbose);
/* Use `gflops` as the peak from now on (gflops <= 0 removes the override). */
void ls_peak_override(double gflops);
/* The cache directory above ($XDG_CACHE_HOME/llmscale else ~/.cache/llmscale)
 * written to out, created if missing; 0 on success, -1 (out may be "") when
 * there is no usable cache directory. Other calibration files (plan's
 * cpu-local, src/plan/catalog.h) live beside peak.txt. */
int ls_cache_dir_make(char *out, size_t n);

#endif
