/* gemm.c - blocking, packing and threading around the micro-kernels of
 * gemm_avx512.c (see gemm.h for the interface).
 *
 * The loops, for C (M x N) (+)= A (M x K) B (K x N):
 *   for each slice of KC values of k:
 *     pack all of A's rows for the slice into MR-row micro-panels (shared by
 *     the threads; a micro-panel, MR x KC, stays in L1 while it is used);
 *     each thread takes blocks of NB columns of B in turn, packs its block
 *     (KC x NB, sized for L2) into NR-column micro-panels, and for every A
 *     micro-panel sweeps the block's B micro-panels, adding each MR x NR tile
 *     into C.
 * Packing is where strides are resolved (so x W^T, dy W and dy^T x all run
 * the same kernel), where bf16 rounding happens, and where the ragged edges
 * are zero-padded (the kernel always computes a full tile; only the valid
 * part is written). Each element of C is owned by one thread per k slice and
 * the k slices run in order, so results do not depend on the thread count. */
#include "gemm.h"

#include <omp.h>
#include <stdint.h>
#include <string.h>

#include "../../core/cpu.h"
#include "../../core/error.h"

/* An engine: tile shape, k slice, packed layouts, micro-kernel. The k slice
 * and the B block width size the packed B block to about 1 MiB (L2). */
typedef enum { LAY_F32, LAY_PAIR, LAY_ROW32 } Layout;
typedef struct {
    int mr, nr, kc, nb_max, kalign; /* kalign: packed k is padded to a multiple */
    size_t esz;                     /* bytes per packed element */
    Layout la, lb;
} Engine;

static const Engine engines[] = {
    [LS_GEMM_F32] = {8, 48, 256, 960, 1, 4, LAY_F32, LAY_F32},
    [LS_GEMM_BF16_AVX512] = {8, 48, 512, 960, 2, 2, LAY_PAIR, LAY_PAIR},
    [LS_GEMM_BF16_AMX] = {32, 32, 768, 640, 32, 2, LAY_ROW32, LAY_PAIR},
};

LsGemmType gemm_resolve(LsGemmType type) {
    if (type != LS_GEMM_BF16) return type;
    return ls_cpu_enable_amx_bf16() ? LS_GEMM_BF16_AMX : LS_GEMM_BF16_AVX512;
}

int gemm_supported(LsGemmType type) {
    switch (type) {
    case LS_GEMM_F32: return ls_cpu_has_avx512();
    case LS_GEMM_BF16_AVX512: return ls_cpu_has_avx512bf16();
    case LS_GEMM_BF16_AMX: return ls_cpu_has_avx512() && ls_cpu_enable_amx_bf16();
    case LS_GEMM_BF16: return gemm_supported(gemm_resolve(type));
    }
    return 0;
}

const char *gemm_name(LsGemmType type) {
    switch (type) {
    case LS_GEMM_F32: return "fp32 AVX-512 FMA";
    case LS_GEMM_BF16_AVX512: return "bf16 AVX512_BF16 (vdpbf16ps)";
    case LS_GEMM_BF16_AMX: return "bf16 AMX (tdpbf16ps)";
    case LS_GEMM_BF16: return gemm_name(gemm_resolve(type));
    }
    return "?";
}

/* fp32 -> bf16, round to nearest even (finite inputs; inf stays inf) */
static inline uint16_t to_bf16(float f) {
    uint32_t u;
    memcpy(&u, &f, sizeof u);
    u += 0x7FFFu + ((u >> 16) & 1u);
    return (uint16_t)(u >> 16);
}

/* Index of element (line i, k) in a packed micro-panel of W lines. */
static inline long at_f32(int W, int k, int i) { return (long)k * W + i; }
static inline long at_pair(int W, int k, int i) { return ((long)(k >> 1) * W + i) * 2 + (k & 1); }
static inline long at_row32(int W, int k, int i) { return (long)(k >> 5) * W * 32 + i * 32 + (k & 31); }

/* Pack `valid` lines of kc elements: line i, element k is src[i*ls + k*ks].
 * The loop order follows the unit stride of the source. */
#define PACK(AT, T, CONV)                                                               \
    do {                                                                                \
        T *d = dst;                                                                     \
        if (ls == 1)                                                                    \
            for (int k = 0; k < kc; k++)                                                \
                for (int i = 0; i < valid; i++) d[AT(W, k, i)] = CONV(src[i + k * ks]); \
        else                                                                            \
            for (int i = 0; i < valid; i++)                                             \
                for (int k = 0; k < kc; k++) d[AT(W, k, i)] = CONV(src[i * ls + k * ks]); \
        for (int k = 0; k < kpad; k++) /* zero padding: missing lines, k tail */        \
            for (int i = k < kc ? valid : 0; i < W; i++) d[AT(W, k, i)] = 0;            \
    } while (0)
#define AS_F32(x) (x)

static void pack_panel(Layout lay, void *dst, int W, int kc, int kpad, const float *src, long ls,
                       long ks, int valid) {
    switch (lay) {
    case LAY_F32: PACK(at_f32, float, AS_F32); break;
    case LAY_PAIR: PACK(at_pair, uint16_t, to_bf16); break;
    case LAY_ROW32: PACK(at_row32, uint16_t, to_bf16); break;
    }
}

/* Packing buffers, grown on demand and reused across calls (gemm is called
 * from the serial part of the program, never concurrently). */
static void *bufA;
static size_t bufA_bytes;
static void **bufB;
static size_t *bufB_bytes;
static int bufB_n;

static void *grow(void **p, size_t *have, size_t need) {
    if (need > *have) {
        ls_free(*p);
        *p = ls_calloc(need, 1, "matmul packing buffer");
        *have = need;
    }
    return *p;
}

void gemm(LsGemmType type, int M, int N, int K, const float *A, long rsa, long csa,
          const float *B, long rsb, long csb, float *C, long ldc, int accumulate,
          const float *bias) {
    if (M <= 0 || N <= 0) return;
    type = gemm_resolve(type);
    if (!gemm_supported(type)) ls_fatal("matmul engine '%s' is not supported by this CPU", gemm_name(type));
    if (K <= 0) { /* empty product: C = bias or 0, or unchanged */
        if (!accumulate)
            for (int i = 0; i < M; i++)
                for (int j = 0; j < N; j++) C[(long)i * ldc + j] = bias ? bias[j] : 0.0f;
        return;
    }
    const Engine *e = &engines[type];
    int MR = e->mr, NR = e->nr, KC = e->kc;
    int nth = omp_get_max_threads();
    /* B blocks: at most nb_max columns, and at least one block per thread */
    int nb = (N + nth - 1) / nth;
    nb = (nb + NR - 1) / NR * NR;
    if (nb > e->nb_max) nb = e->nb_max;
    int nblocks = (N + nb - 1) / nb, mp = (M + MR - 1) / MR;
    size_t panelA = (size_t)MR * KC * e->esz, panelB = (size_t)NR * KC * e->esz;
    grow(&bufA, &bufA_bytes, panelA * mp);
    if (bufB_n < nth) { /* one B block buffer per thread */
        void **nb_ = ls_calloc((size_t)nth, sizeof *bufB, "matmul packing table");
        size_t *nbb = ls_calloc((size_t)nth, sizeof *bufB_bytes, "matmul packing table");
        for (int t = 0; t < bufB_n; t++) nb_[t] = bufB[t], nbb[t] = bufB_bytes[t];
        ls_free(bufB);
        ls_free(bufB_bytes);
        bufB = nb_, bufB_bytes = nbb, bufB_n = nth;
    }
    for (int t = 0; t < nth; t++) grow(&bufB[t], &bufB_bytes[t], panelB * (nb / NR));
    for (int k0 = 0; k0 < K; k0 += KC) {
        int kc = K - k0 < KC ? K - k0 : KC;
        int kpad = (kc + e->kalign - 1) / e->kalign * e->kalign;
        int store = k0 == 0 && !accumulate; /* first slice of a non-accumulating product */
#pragma omp parallel num_threads(nth)
        {
            char *Ap = bufA, *Bp = bufB[omp_get_thread_num()];
            float tile[32 * 48] __attribute__((aligned(64))); /* MR x NR of any engine */
#pragma omp for schedule(static)
            for (int ip = 0; ip < mp; ip++) {
                int valid = M - ip * MR < MR ? M - ip * MR : MR;
                pack_panel(e->la, Ap + panelA * ip, MR, kc, kpad, A + (long)ip * MR * rsa + k0 * csa,
                           rsa, csa, valid);
            }
#pragma omp for schedule(dynamic, 1)
            for (int jb = 0; jb < nblocks; jb++) {
                int j0 = jb * nb, nbv = N - j0 < nb ? N - j0 : nb;
                int np = (nbv + NR - 1) / NR;
                for (int jp = 0; jp < np; jp++) {
                    int j = j0 + jp * NR, valid = j0 + nbv - j < NR ? j0 + nbv - j : NR;
                    pack_panel(e->lb, Bp + panelB * jp, NR, kc, kpad, B + k0 * rsb + j * csb, csb, rsb,
                               valid);
                }
                for (int ip = 0; ip < mp; ip++) {
                    int i0 = ip * MR, mv = M - i0 < MR ? M - i0 : MR;
                    const void *a = Ap + panelA * ip;
                    for (int jp = 0; jp < np; jp++) {
                        int j = j0 + jp * NR, nv = j0 + nbv - j < NR ? j0 + nbv - j : NR;
                        const void *b = Bp + panelB * jp;
                        if (type == LS_GEMM_BF16_AMX) gemm_kernel_amx(kpad / 32, a, b, tile);
                        else if (type == LS_GEMM_BF16_AVX512) gemm_kernel_bf16(kpad / 2, a, b, tile);
                        else gemm_kernel_f32(kc, a, b, tile);
                        for (int r = 0; r < mv; r++) {
                            float *c = C + (long)(i0 + r) * ldc + j;
                            const float *t = tile + r * NR;
                            if (!store)
                                for (int q = 0; q < nv; q++) c[q] += t[q];
                            else if (bias)
                                for (int q = 0; q < nv; q++) c[q] = t[q] + bias[j + q];
                            else
                                for (int q = 0; q < nv; q++) c[q] = t[q];
                        }
                    }
                }
            }
        }
    }
}
