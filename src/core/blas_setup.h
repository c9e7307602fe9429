/* blas_setup.h - make OpenBLAS and OpenMP run well on this machine.
 *
 * Three settings decide how fast llmscale's matrix products run, and all are
 * read by the libraries in constructors that run when they are loaded,
 * before main(); setting them inside main() is too late. ls_blas_setup()
 * therefore sets them and re-executes the program once (same pid, same
 * arguments, same environment plus these variables):
 *
 * 1. OPENBLAS_CORETYPE. Debian's OpenBLAS is a DYNAMIC_ARCH build: it
 *    carries kernels for many CPU generations and picks one set by CPU
 *    family/model number, so an AVX-512 CPU whose model number OpenBLAS
 *    0.3.21 does not know (newer Xeons, some virtual machines) gets its
 *    Haswell (AVX2) kernels. Measured on the 2-core AVX-512 development VM:
 *    1024^3 sgemm ~200 GFLOP/s with Haswell kernels, ~305 GFLOP/s with
 *    SkylakeX kernels. When OpenBLAS already chose an AVX-512 core by itself
 *    (as it does on that VM) this setting is left alone.
 *
 * 2. The OpenMP wait policy. The Debian OpenBLAS used here is the pthread
 *    build: it has its own worker threads next to OpenMP's. By default
 *    libgomp's idle threads spin for a long while (300000 pause loops,
 *    milliseconds) after each parallel region, and OpenBLAS's workers spin
 *    after each BLAS call, so when the two alternate (a training step does,
 *    hundreds of times) each side's spinning threads steal the cores the
 *    other needs. Measured on the 2-core VM when OpenBLAS ran every
 *    product: 2 element-wise OpenMP loops + one 256x768x768 sgemm took
 *    5.5 ms instead of 1.3 ms, and a GPT-2 124M training step (B=4, T=64)
 *    1.64 s instead of 1.16 s. Hence:
 *    - without AVX-512 (OpenBLAS runs the products): OMP_WAIT_POLICY=passive,
 *      idle OpenMP threads sleep at once and each parallel region costs
 *      ~25 us more to wake them;
 *    - with AVX-512 our own GEMM (src/kernels/cpu/gemm.c) runs most products
 *      on OpenMP's threads, and those ~25 us wake-ups at every GEMM, its k
 *      slices and every element-wise kernel add up: GOMP_SPINCOUNT=10000
 *      (~0.5 ms of spinning, enough to bridge the gaps between the kernels
 *      of a step, short enough not to hold a core against OpenBLAS's
 *      weight-gradient calls). Measured on the 2-core VM, GPT-2 124M B=4,
 *      alternating runs: T=64 885/870 -> 848/842/840 ms per step, T=256
 *      3047/3064 -> 3020/3030 ms (passive vs 10000; 300000 or all products
 *      on our GEMM were slower).
 *    Not set when the user set OMP_WAIT_POLICY or GOMP_SPINCOUNT.
 *
 * 3. OPENBLAS_THREAD_TIMEOUT=4. The other half of the same contention:
 *    after each BLAS call OpenBLAS's idle worker keeps polling (sched_yield)
 *    for 2^28 cycles (~0.1 s) before it sleeps, so the OpenMP kernels that
 *    follow (AdamW, attention, GELU) share their cores with it. With 4 (2^4
 *    cycles, the smallest value OpenBLAS accepts) it sleeps at once and the
 *    next call wakes it (microseconds, ~100 calls per training step).
 *    Measured on the 2-core VM, GPT-2 124M B=4 T=64, same build, same
 *    minute: step 940 ms -> 849 ms, AdamW 130 ms -> 83 ms, attention 35 ->
 *    24 ms. Not set when the user set it.
 *
 * Environment:
 *   OPENBLAS_CORETYPE, OMP_WAIT_POLICY, GOMP_SPINCOUNT, OPENBLAS_THREAD_TIMEOUT
 *                         a value the user set is respected.
 *   LLMSCALE_BLAS_REEXEC  set by the re-exec to the list of variables it set
 *                         (e.g. "OMP_WAIT_POLICY"), which stops a second
 *                         re-exec; set it yourself (to anything, e.g. 0) to
 *                         disable the re-exec and all of the above. */
#ifndef LS_BLAS_SETUP_H
#define LS_BLAS_SETUP_H

/* Call first thing in main(), before anything is printed, any file or thread
 * is opened or any BLAS routine runs. Unless LLMSCALE_BLAS_REEXEC is set, it
 * decides what to set:
 *   OPENBLAS_CORETYPE=SkylakeX  if the CPU has AVX-512 (F, BW, VL, DQ),
 *                               OpenBLAS did not pick an AVX-512 core
 *                               (SkylakeX, Cooperlake, SapphireRapids) by
 *                               itself and OPENBLAS_CORETYPE is unset;
 *   GOMP_SPINCOUNT=10000 (AVX-512) or OMP_WAIT_POLICY=passive (other CPUs)
 *                               if OMP_WAIT_POLICY and GOMP_SPINCOUNT are
 *                               both unset;
 *   OPENBLAS_THREAD_TIMEOUT=4   if it is unset;
 * and if anything, sets those and LLMSCALE_BLAS_REEXEC and execs
 * /proc/self/exe with argv; it does not return then. Otherwise (or if the
 * exec fails, which is warned about) it returns and nothing changes.
 * argv may be NULL: the arguments are then read from /proc/self/cmdline. */
void ls_blas_setup(int argc, char **argv);

/* One line describing the BLAS and OpenMP setup in use, for logs, e.g.
 *   "OpenBLAS 0.3.21, core SkylakeX (OpenBLAS default); GOMP_SPINCOUNT=10000 (set by llmscale);
 *    OPENBLAS_THREAD_TIMEOUT=4 (set by llmscale)"
 *   "OpenBLAS 0.3.21, core SkylakeX (chosen by llmscale: AVX-512 detected); ..."
 *   "OpenBLAS 0.3.21, core Haswell (set by OPENBLAS_CORETYPE); OpenMP default wait policy"
 * The core name is the one OpenBLAS reports it is actually using. The string
 * is static and valid until the next call. */
const char *ls_blas_describe(void);

/* Number of threads OpenBLAS uses inside one BLAS call (its own thread pool,
 * separate from OpenMP's in the pthread build). n < 1 is treated as 1. */
void ls_blas_set_threads(int n);

#endif
