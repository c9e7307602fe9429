/* probe.c - see probe.h. */
#include "probe.h"

#include "gemm.h"

#include <cblas.h>
#include <errno.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#ifdef _OPENMP
#include <omp.h>
#endif
#if defined(__x86_64__) || defined(__i386__)
#include <immintrin.h>
#define LS_PROBE_X86 1
#else
#define LS_PROBE_X86 0
#endif

#include "../../core/cpu.h"
#include "../../core/error.h"
#include "../../core/fileio.h"
#include "../../core/timer.h"

/* ------------------------------------------------------------------------ */
/* Peak FMA rate                                                            */
/* ------------------------------------------------------------------------ */
/* An FMA has a latency of 4-5 cycles and a core issues up to 2 per cycle, so
 * at least ~10 independent dependency chains are needed to keep both FMA
 * ports busy; 16 chains (15 with AVX2's 16 registers) leave headroom and
 * still fit in registers. Each chain computes acc = acc * m + c with m just
 * below 1, which converges to c / (1 - m) = 1: no overflow, no denormals
 * (which would slow the loop down). The chains are summed and the sum stored
 * to a volatile, so nothing can be optimised away. */
#define FMA_CHAINS 16
#define FMA_MUL 0.9999f
#define FMA_ADD 0.0001f

#if LS_PROBE_X86 && defined(__x86_64__) && defined(__GNUC__)
/* The x86 loops are written in assembly, not intrinsics, so the measured
 * peak does not depend on how this file was compiled: at -O0, or with
 * -fsanitize=undefined, intrinsics code keeps the accumulators in memory and
 * runs 3-10x slower (measured), and such a build would otherwise write a
 * wrong peak into the cache shared with optimised builds. They are only
 * called after a runtime check of the CPU's features, and the target
 * attributes only make the compiler accept the zmm/ymm clobbers. */
/* 16 independent chains acc_i = acc_i * m + c (vfmadd132ps: a = a*b + c). */
#define FMA16(R, M, C)                                                          \
    "vfmadd132ps %%" M ", %%" C ", %%" R "0\n\t"                                \
    "vfmadd132ps %%" M ", %%" C ", %%" R "1\n\t"                                \
    "vfmadd132ps %%" M ", %%" C ", %%" R "2\n\t"                                \
    "vfmadd132ps %%" M ", %%" C ", %%" R "3\n\t"                                \
    "vfmadd132ps %%" M ", %%" C ", %%" R "4\n\t"                                \
    "vfmadd132ps %%" M ", %%" C ", %%" R "5\n\t"                                \
    "vfmadd132ps %%" M ", %%" C ", %%" R "6\n\t"                                \
    "vfmadd132ps %%" M ", %%" C ", %%" R "7\n\t"                                \
    "vfmadd132ps %%" M ", %%" C ", %%" R "8\n\t"                                \
    "vfmadd132ps %%" M ", %%" C ", %%" R "9\n\t"                                \
    "vfmadd132ps %%" M ", %%" C ", %%" R "10\n\t"                               \
    "vfmadd132ps %%" M ", %%" C ", %%" R "11\n\t"                               \
    "vfmadd132ps %%" M ", %%" C ", %%" R "12\n\t"                               \
    "vfmadd132ps %%" M ", %%" C ", %%" R "13\n\t"                               \
    "vfmadd132ps %%" M ", %%" C ", %%" R "14\n\t"                               \
    "vfmadd132ps %%" M ", %%" C ", %%" R "15\n\t"
/* Initialise the 16 accumulators to the constant c (they converge to 1). */
#define FMA_INIT16(R, C)                                                        \
    "vmovaps %%" C ", %%" R "0\n\t"  "vmovaps %%" C ", %%" R "1\n\t"            \
    "vmovaps %%" C ", %%" R "2\n\t"  "vmovaps %%" C ", %%" R "3\n\t"            \
    "vmovaps %%" C ", %%" R "4\n\t"  "vmovaps %%" C ", %%" R "5\n\t"            \
    "vmovaps %%" C ", %%" R "6\n\t"  "vmovaps %%" C ", %%" R "7\n\t"            \
    "vmovaps %%" C ", %%" R "8\n\t"  "vmovaps %%" C ", %%" R "9\n\t"            \
    "vmovaps %%" C ", %%" R "10\n\t" "vmovaps %%" C ", %%" R "11\n\t"           \
    "vmovaps %%" C ", %%" R "12\n\t" "vmovaps %%" C ", %%" R "13\n\t"           \
    "vmovaps %%" C ", %%" R "14\n\t" "vmovaps %%" C ", %%" R "15\n\t"
/* Sum accumulators 0..15 into accumulator 0 (a tree, 15 adds). */
#define FMA_SUM16(R)                                                            \
    "vaddps %%" R "1, %%" R "0, %%" R "0\n\t"   "vaddps %%" R "3, %%" R "2, %%" R "2\n\t"    \
    "vaddps %%" R "5, %%" R "4, %%" R "4\n\t"   "vaddps %%" R "7, %%" R "6, %%" R "6\n\t"    \
    "vaddps %%" R "9, %%" R "8, %%" R "8\n\t"   "vaddps %%" R "11, %%" R "10, %%" R "10\n\t" \
    "vaddps %%" R "13, %%" R "12, %%" R "12\n\t" "vaddps %%" R "15, %%" R "14, %%" R "14\n\t" \
    "vaddps %%" R "2, %%" R "0, %%" R "0\n\t"   "vaddps %%" R "6, %%" R "4, %%" R "4\n\t"    \
    "vaddps %%" R "10, %%" R "8, %%" R "8\n\t"  "vaddps %%" R "14, %%" R "12, %%" R "12\n\t" \
    "vaddps %%" R "4, %%" R "0, %%" R "0\n\t"   "vaddps %%" R "12, %%" R "8, %%" R "8\n\t"   \
    "vaddps %%" R "8, %%" R "0, %%" R "0\n\t"

__attribute__((target("avx512f"))) static float fma_loop_avx512(long iters) {
    static const float mul = FMA_MUL, add = FMA_ADD;
    float lanes[16];
    if (iters < 1) iters = 1;
    __asm__ volatile(
        "vbroadcastss %[m], %%zmm16\n\t"
        "vbroadcastss %[c], %%zmm17\n\t"
        FMA_INIT16("zmm", "zmm17")
        "1:\n\t"
        FMA16("zmm", "zmm16", "zmm17")
        "dec %[n]\n\t"
        "jnz 1b\n\t"
        FMA_SUM16("zmm")
        "vmovups %%zmm0, (%[out])\n\t"
        "vzeroupper\n\t"
        : [n] "+r"(iters)
        : [m] "m"(mul), [c] "m"(add), [out] "r"(lanes)
        : "cc", "memory", "xmm0", "xmm1", "xmm2", "xmm3", "xmm4", "xmm5", "xmm6", "xmm7",
          "xmm8", "xmm9", "xmm10", "xmm11", "xmm12", "xmm13", "xmm14", "xmm15", "xmm16",
          "xmm17");
    float r = 0.0f;
    for (int i = 0; i < 16; i++) r += lanes[i];
    return r;
}

/* 256-bit AVX2 + FMA3 version, 8 lanes: with only 16 ymm registers, c lives
 * in ymm15 and m comes from a memory operand (an FMA with a memory operand
 * still issues at full rate), leaving 15 chains in ymm0-14 - still more than
 * the ~10 needed. */
__attribute__((target("avx2,fma"))) static float fma_loop_avx2(long iters) {
    static const float mul8[8] __attribute__((aligned(32))) = {
        FMA_MUL, FMA_MUL, FMA_MUL, FMA_MUL, FMA_MUL, FMA_MUL, FMA_MUL, FMA_MUL};
    static const float add = FMA_ADD;
    float lanes[8];
    if (iters < 1) iters = 1;
    __asm__ volatile(
        "vbroadcastss %[c], %%ymm15\n\t"
        "vmovaps %%ymm15, %%ymm0\n\t"  "vmovaps %%ymm15, %%ymm1\n\t"
        "vmovaps %%ymm15, %%ymm2\n\t"  "vmovaps %%ymm15, %%ymm3\n\t"
        "vmovaps %%ymm15, %%ymm4\n\t"  "vmovaps %%ymm15, %%ymm5\n\t"
        "vmovaps %%ymm15, %%ymm6\n\t"  "vmovaps %%ymm15, %%ymm7\n\t"
        "vmovaps %%ymm15, %%ymm8\n\t"  "vmovaps %%ymm15, %%ymm9\n\t"
        "vmovaps %%ymm15, %%ymm10\n\t" "vmovaps %%ymm15, %%ymm11\n\t"
        "vmovaps %%ymm15, %%ymm12\n\t" "vmovaps %%ymm15, %%ymm13\n\t"
        "vmovaps %%ymm15, %%ymm14\n\t"
        "1:\n\t"
        "vfmadd132ps %[m], %%ymm15, %%ymm0\n\t"  "vfmadd132ps %[m], %%ymm15, %%ymm1\n\t"
        "vfmadd132ps %[m], %%ymm15, %%ymm2\n\t"  "vfmadd132ps %[m], %%ymm15, %%ymm3\n\t"
        "vfmadd132ps %[m], %%ymm15, %%ymm4\n\t"  "vfmadd132ps %[m], %%ymm15, %%ymm5\n\t"
        "vfmadd132ps %[m], %%ymm15, %%ymm6\n\t"  "vfmadd132ps %[m], %%ymm15, %%ymm7\n\t"
        "vfmadd132ps %[m], %%ymm15, %%ymm8\n\t"  "vfmadd132ps %[m], %%ymm15, %%ymm9\n\t"
        "vfmadd132ps %[m], %%ymm15, %%ymm10\n\t" "vfmadd132ps %[m], %%ymm15, %%ymm11\n\t"
        "vfmadd132ps %[m], %%ymm15, %%ymm12\n\t" "vfmadd132ps %[m], %%ymm15, %%ymm13\n\t"
        "vfmadd132ps %[m], %%ymm15, %%ymm14\n\t"
        "dec %[n]\n\t"
        "jnz 1b\n\t"
        "vaddps %%ymm1, %%ymm0, %%ymm0\n\t"   "vaddps %%ymm3, %%ymm2, %%ymm2\n\t"
        "vaddps %%ymm5, %%ymm4, %%ymm4\n\t"   "vaddps %%ymm7, %%ymm6, %%ymm6\n\t"
        "vaddps %%ymm9, %%ymm8, %%ymm8\n\t"   "vaddps %%ymm11, %%ymm10, %%ymm10\n\t"
        "vaddps %%ymm13, %%ymm12, %%ymm12\n\t" "vaddps %%ymm14, %%ymm0, %%ymm0\n\t"
        "vaddps %%ymm2, %%ymm0, %%ymm0\n\t"   "vaddps %%ymm6, %%ymm4, %%ymm4\n\t"
        "vaddps %%ymm10, %%ymm8, %%ymm8\n\t"  "vaddps %%ymm12, %%ymm0, %%ymm0\n\t"
        "vaddps %%ymm4, %%ymm0, %%ymm0\n\t"   "vaddps %%ymm8, %%ymm0, %%ymm0\n\t"
        "vmovups %%ymm0, (%[out])\n\t"
        "vzeroupper\n\t"
        : [n] "+r"(iters)
        : [m] "m"(mul8), [c] "m"(add), [out] "r"(lanes)
        : "cc", "memory", "xmm0", "xmm1", "xmm2", "xmm3", "xmm4", "xmm5", "xmm6", "xmm7",
          "xmm8", "xmm9", "xmm10", "xmm11", "xmm12", "xmm13", "xmm14", "xmm15");
    float r = 0.0f;
    for (int i = 0; i < 8; i++) r += lanes[i];
    return r;
}
#define LS_PROBE_ASM 1
#else
#define LS_PROBE_ASM 0
#endif

/* Portable version: 16 scalar chains (a multiply and an add, fused or not
 * depending on the compiler; counted as 2 flops either way). */
static float fma_loop_scalar(long iters) {
    float a[FMA_CHAINS];
    for (int j = 0; j < FMA_CHAINS; j++) a[j] = 0.5f + 0.01f * (float)j;
    for (long i = 0; i < iters; i++)
        for (int j = 0; j < FMA_CHAINS; j++) a[j] = a[j] * FMA_MUL + FMA_ADD;
    float r = 0.0f;
    for (int j = 0; j < FMA_CHAINS; j++) r += a[j];
    return r;
}

typedef float (*FmaLoop)(long iters);

/* The widest loop this CPU runs. */
/* *fmas gets the lane-FMAs one loop iteration performs: vector width times
 * chains. */
static FmaLoop pick_fma_loop(int *fmas, const char **isa) {
#if LS_PROBE_ASM
    if (ls_cpu_has_avx512()) { *fmas = 16 * 16; *isa = "avx512"; return fma_loop_avx512; }
    if (ls_cpu_has_avx2_fma()) { *fmas = 8 * 15; *isa = "avx2+fma"; return fma_loop_avx2; }
#endif
    *fmas = FMA_CHAINS;
    *isa = "scalar";
    return fma_loop_scalar;
}

const char *ls_probe_fma_isa(void) {
    int fmas;
    const char *isa;
    pick_fma_loop(&fmas, &isa);
    return isa;
}

/* Where the threads' results go so the loops cannot be optimised away. */
static volatile float g_fma_sink;

/* One timed run: every thread runs `iters` iterations; the clock starts
 * after all threads exist and have met at a barrier, and stops when the
 * last one is done. Returns GFLOP/s; *seconds gets the time. */
static double fma_run(FmaLoop loop, int fmas, int threads, long iters, double *seconds) {
    double t0 = 0.0, t1 = 0.0;
    int used = 1;
    float total = 0.0f;
#ifdef _OPENMP
#pragma omp parallel num_threads(threads) reduction(+ : total)
    {
#pragma omp single
        {
            used = omp_get_num_threads();
            t0 = ls_now_s();
        } /* implied barrier: nobody starts before t0 */
        total += loop(iters);
#pragma omp barrier
#pragma omp single
        t1 = ls_now_s();
    }
#else
    (void)threads;
    t0 = ls_now_s();
    total = loop(iters);
    t1 = ls_now_s();
#endif
    g_fma_sink = total;
    double dt = t1 - t0;
    if (dt <= 0.0) dt = 1e-9;
    *seconds = dt;
    double flops = (double)used * (double)iters * fmas * 2.0; /* 2 flops per FMA */
    return flops / dt * 1e-9;
}

double ls_probe_fma_gflops(int threads) {
    if (threads < 1) threads = ls_cpu_threads();
    int fmas;
    const char *isa;
    FmaLoop loop = pick_fma_loop(&fmas, &isa);
    /* Calibrate: a short run (also wakes the threads and lets the clock
     * ramp up) tells how many iterations take ~0.2 s. */
    long iters = 1L << 16;
    double dt = 0.0;
    for (;;) {
        fma_run(loop, fmas, threads, iters, &dt);
        if (dt >= 0.02 || iters >= (1L << 40)) break;
        iters *= 4;
    }
    double scaled = (double)iters * 0.2 / dt;
    iters = scaled < 1.0 ? 1 : (scaled > 1e13 ? (long)1e13 : (long)scaled);
    double best = 0.0;
    for (int rep = 0; rep < 3; rep++) {
        double g = fma_run(loop, fmas, threads, iters, &dt);
        if (g > best) best = g;
    }
    return best;
}

/* ------------------------------------------------------------------------ */
/* sgemm rate                                                               */
/* ------------------------------------------------------------------------ */
/* One product to time: OpenBLAS sgemm (engine < 0) or our gemm.h engine. */
typedef struct {
    int M, N, K, trans_a, trans_b, engine;
    const float *A, *B;
    float *C;
} Product;

static void run_product(const Product *p) {
    if (p->engine >= 0) { /* C = A W^T with W (N, K): the linear layer's forward */
        gemm((LsGemmType)p->engine, p->M, p->N, p->K, p->A, p->K, 1, p->B, 1, p->K, p->C, p->N, 0, NULL);
        return;
    }
    enum CBLAS_TRANSPOSE ta = p->trans_a ? CblasTrans : CblasNoTrans;
    enum CBLAS_TRANSPOSE tb = p->trans_b ? CblasTrans : CblasNoTrans;
    int lda = p->trans_a ? p->M : p->K, ldb = p->trans_b ? p->K : p->N;
    cblas_sgemm(CblasRowMajor, ta, tb, p->M, p->N, p->K, 1.0f, p->A, lda, p->B, ldb, 0.0f, p->C, p->N);
}

static double product_gflops(int M, int N, int K, int trans_a, int trans_b, int engine) {
    if (M < 1 || N < 1 || K < 1) ls_fatal("sgemm probe: bad shape %dx%dx%d", M, N, K);
    float *A = ls_calloc((size_t)M * K, sizeof(float), "sgemm probe A");
    float *B = ls_calloc((size_t)K * N, sizeof(float), "sgemm probe B");
    float *C = ls_calloc((size_t)M * N, sizeof(float), "sgemm probe C");
    /* Arbitrary values in [-1, 1) (zeros could take shortcuts in principle). */
    uint32_t x = 12345u;
    for (size_t i = 0; i < (size_t)M * K; i++) {
        x = x * 1664525u + 1013904223u;
        A[i] = (float)(x >> 8) * (2.0f / 16777216.0f) - 1.0f;
    }
    for (size_t i = 0; i < (size_t)K * N; i++) {
        x = x * 1664525u + 1013904223u;
        B[i] = (float)(x >> 8) * (2.0f / 16777216.0f) - 1.0f;
    }
    Product p = {M, N, K, trans_a, trans_b, engine, A, B, C};
    /* Warm-up: starts the thread pools, faults in C's pages, sizes buffers. */
    run_product(&p);
    double best = 1e30, spent = 0.0;
    for (int rep = 0; rep < 100000 && (rep < 3 || spent < 0.3); rep++) {
        double t0 = ls_now_s();
        run_product(&p);
        double dt = ls_now_s() - t0;
        spent += dt;
        if (dt < best) best = dt;
    }
    ls_free(A);
    ls_free(B);
    ls_free(C);
    if (best <= 0.0) best = 1e-9;
    return 2.0 * (double)M * (double)N * (double)K / best * 1e-9;
}

double ls_probe_sgemm_gflops_ex(int M, int N, int K, int trans_a, int trans_b) {
    return product_gflops(M, N, K, trans_a, trans_b, -1);
}

double ls_probe_gemm_gflops(LsGemmType type, int M, int N, int K) {
    return product_gflops(M, N, K, 0, 0, (int)type);
}

double ls_probe_sgemm_gflops(int M, int N, int K) {
    return ls_probe_sgemm_gflops_ex(M, N, K, 0, 0);
}

/* ------------------------------------------------------------------------ */
/* Memory bandwidth                                                         */
/* ------------------------------------------------------------------------ */
/* 256 MiB per array, 768 MiB in all: well beyond the last-level cache even
 * where a virtual machine reports the host's whole L3 (480 MiB here). */
#define MEM_ARRAY_BYTES ((size_t)256 << 20)

double ls_probe_mem_gbs(void) {
    const size_t n = MEM_ARRAY_BYTES / sizeof(float);
    /* ls_calloc zero-fills, so every page is already mapped before timing
     * (one NUMA node here, so first touch by one thread costs nothing). */
    float *a = ls_calloc(n, sizeof(float), "bandwidth probe a");
    float *b = ls_calloc(n, sizeof(float), "bandwidth probe b");
    float *c = ls_calloc(n, sizeof(float), "bandwidth probe c");
    const long nl = (long)n;
#pragma omp parallel for schedule(static)
    for (long i = 0; i < nl; i++) {
        b[i] = 1.0f;
        c[i] = 2.0f;
    }
    const float s = 0.5f;
    double best = 1e30;
    for (int rep = 0; rep < 4; rep++) { /* rep 0 is a warm-up */
        double t0 = ls_now_s();
#pragma omp parallel for schedule(static)
        for (long i = 0; i < nl; i++) a[i] = b[i] + s * c[i];
        double dt = ls_now_s() - t0;
        if (rep > 0 && dt < best) best = dt;
    }
    /* Keep the result observable so the loops are not dropped. */
    volatile float keep = a[n / 2] + a[n - 1];
    (void)keep;
    ls_free(a);
    ls_free(b);
    ls_free(c);
    /* STREAM counting: two arrays read + one written = 12 bytes/element.
     * (Without streaming stores the CPU also reads a's lines before writing
     * them, so true traffic is 16 bytes/element; STREAM ignores that.) */
    return 3.0 * (double)MEM_ARRAY_BYTES / best * 1e-9;
}

/* ------------------------------------------------------------------------ */
/* Cached peak                                                              */
/* ------------------------------------------------------------------------ */
static double g_peak_override = 0.0;

void ls_peak_override(double gflops) { g_peak_override = gflops > 0.0 ? gflops : 0.0; }

/* Values measured in this process, for when there is no writable cache. */
#define MEMO_SLOTS 16
static struct { int threads; double gflops; } g_memo[MEMO_SLOTS];
static int g_memo_n = 0;

/* Cache directory per XDG: $XDG_CACHE_HOME (absolute paths only, as the
 * spec says) else $HOME/.cache; "" when neither is usable. */
static void cache_dir(char *out, size_t n) {
    const char *xdg = getenv("XDG_CACHE_HOME");
    const char *home = getenv("HOME");
    int w = -1;
    if (xdg && xdg[0] == '/') w = snprintf(out, n, "%s/llmscale", xdg);
    else if (home && home[0] == '/') w = snprintf(out, n, "%s/.cache/llmscale", home);
    if (w < 0 || (size_t)w >= n) out[0] = '\0';
}

/* mkdir -p that reports failure instead of exiting (ls_mkdirs is fatal, but
 * a missing cache must never stop a training run). 0 on success. */
static int mkdirs_soft(const char *path) {
    char buf[4096];
    size_t n = strlen(path);
    if (n == 0 || n >= sizeof buf) return -1;
    memcpy(buf, path, n + 1);
    for (size_t i = 1; i <= n; i++) {
        if (buf[i] == '/' || buf[i] == '\0') {
            char ch = buf[i];
            buf[i] = '\0';
            if (mkdir(buf, 0777) != 0 && errno != EEXIST) return -1;
            buf[i] = ch;
        }
    }
    return ls_is_dir(path) ? 0 : -1;
}

int ls_cache_dir_make(char *out, size_t n) {
    cache_dir(out, n);
    if (!out[0]) return -1;
    return mkdirs_soft(out);
}

/* Parse one cache line "<threads> <gflops> <model name>". 1 if well formed. */
static int parse_line(const char *line, int *threads, double *gflops, char *model, size_t msz) {
    char *end;
    long t = strtol(line, &end, 10);
    if (end == line || *end != ' ' || t < 1 || t > 1000000) return 0;
    const char *p = end + 1;
    double g = strtod(p, &end);
    if (end == p || *end != ' ' || !(g > 0.0) || !isfinite(g)) return 0;
    p = end + 1;
    size_t len = strcspn(p, "\r\n");
    if (len == 0 || len >= msz) return 0;
    memcpy(model, p, len);
    model[len] = '\0';
    *threads = (int)t;
    *gflops = g;
    return 1;
}

/* Value cached for (threads, model) in `path`, or 0 if none. */
static double cache_lookup(const char *path, int threads, const char *model) {
    FILE *f = fopen(path, "r");
    if (!f) return 0.0;
    char line[1024], m[512];
    double found = 0.0;
    while (fgets(line, sizeof line, f)) {
        int t;
        double g;
        if (parse_line(line, &t, &g, m, sizeof m) && t == threads && strcmp(m, model) == 0)
            found = g; /* the last matching line wins */
    }
    fclose(f);
    return found;
}

/* Rewrite `path` atomically: the existing well-formed lines for other
 * (threads, model) pairs, then this one. Malformed lines are dropped. */
static void cache_store(const char *path, int threads, double gflops, const char *model) {
    char *text = NULL;
    size_t len = 0, cap = 0;
    FILE *f = fopen(path, "r");
    if (f) {
        char line[1024], m[512];
        while (fgets(line, sizeof line, f)) {
            int t;
            double g;
            if (!parse_line(line, &t, &g, m, sizeof m)) continue;
            if (t == threads && strcmp(m, model) == 0) continue;
            size_t l = strlen(line);
            if (len + l + 2 > cap) {
                cap = (len + l + 2) * 2;
                char *nt = realloc(text, cap);
                if (!nt) break;
                text = nt;
            }
            memcpy(text + len, line, l);
            len += l;
            if (text[len - 1] != '\n') text[len++] = '\n';
        }
        fclose(f);
    }
    char mine[700];
    int w = snprintf(mine, sizeof mine, "%d %.2f %s\n", threads, gflops, model);
    LsAtomicFile af;
    ls_atomic_open(&af, path);
    if (len) ls_atomic_write(&af, text, len);
    if (w > 0) ls_atomic_write(&af, mine, strlen(mine));
    ls_atomic_commit(&af);
    free(text);
}

double ls_peak_gflops_cached(int threads, int verbose) {
    if (threads < 1) threads = ls_cpu_threads();
    if (g_peak_override > 0.0) {
        if (verbose) ls_info("peak fp32 rate %.1f GFLOP/s (given with --peak-gflops)",
                             g_peak_override);
        return g_peak_override;
    }
    const char *env = getenv("LLMSCALE_PEAK_GFLOPS");
    if (env && env[0]) {
        char *end;
        errno = 0;
        double g = strtod(env, &end);
        while (*end == ' ' || *end == '\t' || *end == '\n') end++;
        if (errno != 0 || end == env || *end != '\0' || !(g > 0.0) || !isfinite(g))
            ls_fatal("LLMSCALE_PEAK_GFLOPS='%s' is not a positive number of GFLOP/s "
                     "(set it to e.g. 474, or unset it to measure the peak)", env);
        if (verbose) ls_info("peak fp32 rate %.1f GFLOP/s (from LLMSCALE_PEAK_GFLOPS)", g);
        return g;
    }

    const char *model = ls_cpu_model_name();
    char dir[4096], path[4200];
    cache_dir(dir, sizeof dir);
    path[0] = '\0';
    if (dir[0]) snprintf(path, sizeof path, "%s/peak.txt", dir);
    if (path[0]) {
        double g = cache_lookup(path, threads, model);
        if (g > 0.0) {
            if (verbose)
                ls_info("peak fp32 FMA rate %.1f GFLOP/s on %d threads (read from cache %s)", g,
                        threads, path);
            return g;
        }
    }
    for (int i = 0; i < g_memo_n; i++)
        if (g_memo[i].threads == threads) {
            if (verbose)
                ls_info("peak fp32 FMA rate %.1f GFLOP/s on %d threads (measured earlier)",
                        g_memo[i].gflops, threads);
            return g_memo[i].gflops;
        }

    double t0 = ls_now_s();
    /* The value is cached for good, so guard against a disturbance (another
     * process, the hypervisor running something else on one of our vCPUs)
     * that spans a whole probe: on the 2-vCPU development VM the 2-thread
     * probe now and then returns ~200 instead of ~430 GFLOP/s. Probe until
     * two results agree within 5% with the best one (at most 4 probes) and
     * keep the best. */
    double g = ls_probe_fma_gflops(threads);
    for (int attempt = 1; attempt < 4; attempt++) {
        double again = ls_probe_fma_gflops(threads);
        double lo = again < g ? again : g, hi = again < g ? g : again;
        g = hi;
        if (lo >= 0.95 * hi) break;
    }
    double took = ls_now_s() - t0;
    /* Round to the 0.01 GFLOP/s the cache file keeps, so a value read back
     * later is bit-identical to the one returned now. */
    g = round(g * 100.0) / 100.0;
    if (!(g > 0.0)) g = 0.01;
    if (g_memo_n < MEMO_SLOTS) {
        g_memo[g_memo_n].threads = threads;
        g_memo[g_memo_n].gflops = g;
        g_memo_n++;
    }
    int cached = 0;
    if (path[0] && mkdirs_soft(dir) == 0 && access(dir, W_OK) == 0) {
        cache_store(path, threads, g, model);
        cached = 1;
    }
    if (verbose) {
        if (cached)
            ls_info("peak fp32 FMA rate %.1f GFLOP/s on %d threads (%s, measured in %.1f s; "
                    "cached in %s)", g, threads, ls_probe_fma_isa(), took, path);
        else
            ls_info("peak fp32 FMA rate %.1f GFLOP/s on %d threads (%s, measured in %.1f s; "
                    "no writable cache directory)", g, threads, ls_probe_fma_isa(), took);
    }
    return g;
}
