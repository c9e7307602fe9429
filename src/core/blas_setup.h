/* blas_setup.h - make OpenBLAS use the right kernels for this CPU.
 *
 * Debian's OpenBLAS is a DYNAMIC_ARCH build: it carries kernels for many CPU
 * generations and picks one set in a constructor that runs when the shared
 * library is loaded, before main(). It picks by CPU family/model number, so
 * an AVX-512 CPU whose model number OpenBLAS 0.3.21 does not know (newer
 * Xeons, some virtual machines) gets the Haswell (AVX2) kernels: measured on
 * a 2-core AVX-512 KVM guest, 1024^3 sgemm runs at ~200 GFLOP/s with Haswell
 * kernels and ~305 GFLOP/s with SkylakeX (AVX-512) kernels. The only
 * supported way to override the choice is the environment variable
 * OPENBLAS_CORETYPE, which must be set before the library is loaded -
 * setting it inside main() is too late. So ls_blas_setup() sets it and
 * re-executes the program once (same pid, same arguments, same environment
 * plus the two variables below). When OpenBLAS already chose an AVX-512 core
 * by itself nothing happens.
 *
 * Environment:
 *   OPENBLAS_CORETYPE=<name>  if already set, it is respected (no re-exec).
 *   LLMSCALE_BLAS_REEXEC      set to 1 by the re-exec, which stops a second
 *                             one; set it yourself (to anything, e.g. 0) to
 *                             disable the re-exec altogether. */
#ifndef LS_BLAS_SETUP_H
#define LS_BLAS_SETUP_H

/* Call first thing in main(), before anything is printed, any file or thread
 * is opened or any BLAS routine runs: if the CPU has AVX-512 (F, BW, VL, DQ),
 * OpenBLAS did not pick an AVX-512 core (SkylakeX, Cooperlake,
 * SapphireRapids) by itself, OPENBLAS_CORETYPE is unset and
 * LLMSCALE_BLAS_REEXEC is unset, it sets
 * OPENBLAS_CORETYPE=SkylakeX and LLMSCALE_BLAS_REEXEC=1 and execs
 * /proc/self/exe with argv; it does not return then. Otherwise (or if the
 * exec fails, which is warned about) it returns and nothing changes.
 * argv may be NULL: the arguments are then read from /proc/self/cmdline. */
void ls_blas_setup(int argc, char **argv);

/* One line describing the BLAS in use, for logs, e.g.
 *   "OpenBLAS 0.3.21, core SkylakeX (chosen by llmscale: AVX-512 detected)"
 *   "OpenBLAS 0.3.21, core Haswell (set by OPENBLAS_CORETYPE)"
 *   "OpenBLAS 0.3.21, core Haswell (OpenBLAS default)"
 * The core name is the one OpenBLAS reports it is actually using. The string
 * is static and valid until the next call. */
const char *ls_blas_describe(void);

/* Number of threads OpenBLAS uses inside one BLAS call (its own thread pool,
 * separate from OpenMP's in the pthread build). n < 1 is treated as 1. */
void ls_blas_set_threads(int n);

#endif
