/* gemm.c - blocking, packing and threading around the micro-kernels of
 * gemm_avx512.c (see gemm.h for the interface).
 *
 * For C (M x N) (+)= A (M x K) B (K x N):
 *   1. orientation: compute C, or C^T = B^T A^T, whichever lets the larger
 *      operand be packed by a vector packer (x W^T becomes W x^T);
 *   2. the threads split the larger of C's two dimensions. The operand along
 *      the other dimension is "shared": for each slice of KC values of k it
 *      is packed once (each thread packs a run of its micro-panels), then a
 *      barrier - or, for fp32 with a wide enough split, every thread packs
 *      all of it into its own buffer and no barrier is needed; or, for fp32
 *      when it is A with rows contiguous along k (the activations x and dy
 *      of every linear layer), it is not packed at all: the micro-kernel
 *      broadcasts from A's rows where they lie. The operand along the split
 *      dimension is cut into blocks (sized for L2); a thread packs its block
 *      privately and multiplies it with every shared micro-panel, tile by
 *      tile, adding into C;
 *   3. except for dx = dy W with a small C (few tokens; fp32 and
 *      vdpbf16ps): there the threads split k into two fixed ranges and the
 *      weight is read in whole rows (split-k, gemm_run_splitk).
 * Packing is where strides are resolved (x W^T, dy W and dy^T x run the same
 * kernels; only the fp32 kernel's A may also be a plain row-major view),
 * where bf16 rounding happens, and where ragged edges are
 * zero-padded (the kernel always computes a full tile; only the valid part
 * is written). Each element of C is owned by one thread per k slice and the
 * slices run in order (split-k: the ranges, too, are fixed by the shape and
 * added in order), so results do not depend on the thread count. */
#include "gemm.h"

#include <omp.h>
#include <stdint.h>
#include <string.h>

#include "../../core/cpu.h"
#include "../../core/error.h"

/* An engine: tile shape, k slice, packed layouts, micro-kernel. The k slice
 * and the block width size a thread's packed block for L2 (2 MiB per core
 * here, also holding the shared operand).
 *   fp32: k slices of at most 768, evened out (K = 768: one slice, so C is
 *         written once instead of read and written three times; K = 3072:
 *         four of 768), blocks of at most 640 KiB whatever the slice; and
 *         each tile of C is prefetched (for writing) before its micro-kernel
 *         runs, so C's cache misses (the weight gradient is read and written
 *         from DRAM) overlap the arithmetic instead of following it.
 *         Measured on the 2-core VM at the GPT-2 shapes: ~10% faster than
 *         the previous 256-slices/960-wide blocks, dW tiles ~25% faster.
 *   vdpbf16ps: the same (it had slices of 512 and blocks of 960 columns;
 *         with fp32's, its products were ~8% faster on a Zen 4 VM:
 *         docs/CPU_SPEED.md, tenth round).
 *   AMX: fixed slices (kc) and block widths (nb_max columns or rows). */
typedef enum { LAY_F32, LAY_PAIR, LAY_ROW32 } Layout;
typedef struct {
    int mr, nr, kc, nb_max, kalign; /* kalign: packed k is padded to a multiple */
    size_t esz;                     /* bytes per packed element */
    Layout la, lb;
    int even_k;                     /* slices of K evened out, kc the largest */
    size_t own_bytes;               /* if set: block width = own_bytes / (slice bytes) */
    int prefetch_c;                 /* prefetch each tile of C before its kernel */
} Engine;

static const Engine engines[] = {
    [LS_GEMM_F32] = {8, 48, 768, 0, 1, 4, LAY_F32, LAY_F32, 1, 640 << 10, 1},
    [LS_GEMM_BF16_AVX512] = {8, 48, 768, 0, 2, 2, LAY_PAIR, LAY_PAIR, 1, 640 << 10, 1},
    [LS_GEMM_BF16_AMX] = {32, 32, 768, 640, 32, 2, LAY_ROW32, LAY_PAIR, 0, 0, 0},
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
    if (lay == LAY_ROW32 && ks == 1) return gemm_pack_row32(dst, W, kc, kpad, src, ls, valid);
    if (lay == LAY_PAIR && ks == 1 && ls != 1 && (W == 8 || W % 16 == 0))
        return gemm_pack_pair_t(dst, W, kc, kpad, src, ls, valid);
    if (lay == LAY_F32 && ks == 1 && ls != 1 && (W == 8 || W % 16 == 0))
        return gemm_pack_f32_t(dst, W, kc, src, ls, valid);
    switch (lay) {
    case LAY_F32: PACK(at_f32, float, AS_F32); break;
    case LAY_PAIR: PACK(at_pair, uint16_t, to_bf16); break;
    case LAY_ROW32: PACK(at_row32, uint16_t, to_bf16); break;
    }
}

/* Packing buffers, grown on demand and reused across calls (gemm is called
 * from the serial part of the program, never concurrently): one shared, and
 * one per thread. */
static void *buf_shared;
static size_t buf_shared_bytes;
static void **buf_own;
static size_t *buf_own_bytes;
static int buf_own_n;

static void *grow(void **p, size_t *have, size_t need) {
    if (need > *have) {
        ls_free(*p);
        *p = ls_calloc(need, 1, "matmul packing buffer");
        *have = need;
    }
    return *p;
}

static void grow_own(int nth, size_t need) {
    if (buf_own_n < nth) {
        void **b = ls_calloc((size_t)nth, sizeof *b, "matmul packing table");
        size_t *n = ls_calloc((size_t)nth, sizeof *n, "matmul packing table");
        for (int t = 0; t < buf_own_n; t++) b[t] = buf_own[t], n[t] = buf_own_bytes[t];
        ls_free(buf_own);
        ls_free(buf_own_bytes);
        buf_own = b, buf_own_bytes = n, buf_own_n = nth;
    }
    for (int t = 0; t < nth; t++) grow(&buf_own[t], &buf_own_bytes[t], need);
}

/* Cost of packing an operand, in element copies: the vector packers (bf16
 * layouts whose source runs contiguously the right way) count 1, the
 * transposing vector packer 2, the scalar loops about 4. */
static double pack_cost(const Engine *e, Layout lay, long ls, long ks, double n) {
    if (e->esz == 4) return n;
    int fast = lay == LAY_ROW32 ? ks == 1 : ls == 1;
    if (!fast && lay == LAY_PAIR && ks == 1) return 2 * n; /* gemm_pack_pair_t: through transposes */
    return fast ? n : 4 * n;
}

/* fp32 panels of W lines that run along i (ls == 1), packed row by row:
 * k outer, and for each k the same row's pieces for a group of panels, so
 * a row is read in runs of group x W floats instead of W at a time, one
 * page after another, which the hardware prefetchers do not follow.
 *   dW = dy^T x split over dy's columns (W = 8; dy's rows 9 KiB or more
 *   apart, each in its own page): groups of 8 panels (256 bytes of a row),
 *   with the same piece of the row `ahead` rows on prefetched, so each row
 *   visit has several misses in flight. Measured (harness, cold operands,
 *   256 tokens, 2 alternating runs): dW of QKV 286-319 -> 327-330 GFLOP/s,
 *   of fc 300-336 -> 332-369 (OpenBLAS: 323-350, 324-370); the LM head's
 *   (50304 rows) unchanged.
 *   W's panels for dx = dy W (W = 48): the whole block in one group, no
 *   prefetch; a block as wide as W (split-k) is one contiguous run. */
static void pack_f32_rowwise(float *dst, int W, int np, size_t pstride, int kc, const float *src, long ks,
                             int valid, int group, int ahead) {
    for (int q0 = 0; q0 < np; q0 += group) {
        int q1 = q0 + group < np ? q0 + group : np, i0 = q0 * W, iv = valid < q1 * W ? valid : q1 * W;
        for (int k = 0; k < kc; k++) {
            const float *s = src + (long)k * ks;
            if (ahead && k + ahead < kc)
                for (int i = i0; i < iv; i += 16) __builtin_prefetch(s + ahead * ks + i, 0, 3);
            for (int q = q0; q < q1; q++) {
                float *d = dst + pstride * q + (long)k * W;
                int v = valid - q * W < W ? valid - q * W : W;
                if (v == W) memcpy(d, s + q * W, sizeof(float) * W);
                else
                    for (int i = 0; i < W; i++) d[i] = i < v ? s[q * W + i] : 0.0f;
            }
        }
    }
}

/* np consecutive panels (pstride bytes apart) of lines [0, valid) */
static void pack_panels(Layout lay, char *dst, int W, int np, size_t pstride, size_t esz, int kc,
                        int kpad, const float *src, long ls, long ks, int valid) {
    if (lay == LAY_PAIR && ls == 1 && W % 16 == 0)
        return gemm_pack_pair((unsigned short *)dst, W, np, (long)(pstride / esz), kc, kpad, src, ks, valid);
    if (lay == LAY_F32 && ls == 1 && W == 8 && ks >= 1024)
        return pack_f32_rowwise((float *)dst, W, np, pstride / esz, kc, src, ks, valid, 8, 8);
    if (lay == LAY_F32 && ls == 1 && W == 48)
        return pack_f32_rowwise((float *)dst, W, np, pstride / esz, kc, src, ks, valid, np, 0);
    for (int q = 0; q < np; q++) {
        int v = valid - q * W < W ? valid - q * W : W;
        pack_panel(lay, dst + pstride * q, W, kc, kpad, src + (long)q * W * ls, ls, ks, v < 0 ? 0 : v);
    }
}

typedef struct { /* one problem C (+)= A B, after the orientation is chosen */
    int M, N, K;
    const float *A, *B;
    long rsa, csa, rsb, csb, rsc, csc;
    const float *bias_row, *bias_col; /* bias per row of C, or per column */
} Problem;

/* One MR x NR tile of C from the micro-panels a and b; an fp32 a is read as
 * element (r, k) at a[r*sar + k*sak] (packed: sar 1, sak MR), the bf16
 * engines' panels are always packed. */
static void run_tile(LsGemmType type, const Engine *e, const void *a, long sar, long sak, const void *b,
                     int kc, int kpad, const Problem *p, float *C, int i0, int j0, int store,
                     float *tile, float *sq) {
    int MR = e->mr, NR = e->nr;
    int mv = p->M - i0 < MR ? p->M - i0 : MR, nv = p->N - j0 < NR ? p->N - j0 : NR;
    /* streaming stores: a whole tile of row-major C, 64-byte aligned,
     * written once (one k slice): nothing to read or prefetch */
    int direct = type == LS_GEMM_F32 || type == LS_GEMM_BF16_AVX512; /* kernels that write C themselves */
    int stream = store == 2 && direct && p->csc == 1 && mv == MR && nv == NR && !p->bias_row &&
                 !p->bias_col && kc == p->K && ((uintptr_t)(C + (long)i0 * p->rsc + j0) & 63) == 0 &&
                 p->rsc % 16 == 0;
    if (e->prefetch_c && !stream) { /* one prefetchw per cache line of the tile */
        if (p->csc == 1)
            for (int r = 0; r < mv; r++)
                for (int q = 0; q < nv; q += 16) __builtin_prefetch(C + (long)(i0 + r) * p->rsc + j0 + q, 1, 3);
        else
            for (int q = 0; q < nv; q++) __builtin_prefetch(C + (long)(j0 + q) * p->csc + i0, 1, 3);
    }
    if (direct && p->csc == 1 && mv == MR && nv == NR && !p->bias_row) {
        /* a whole tile of row-major C: straight from the registers, without
         * the trip through the scratch tile and the loops below */
        float *c = C + (long)i0 * p->rsc + j0;
        const float *bias = p->bias_col ? p->bias_col + j0 : NULL;
        if (type == LS_GEMM_F32) gemm_kernel_f32(kc, a, sar, sak, b, c, p->rsc, stream ? 2 : !store, bias, sq);
        else gemm_kernel_bf16(kpad / 2, a, b, c, p->rsc, stream ? 2 : !store, bias, sq);
        return;
    }
    if (type == LS_GEMM_BF16_AMX) gemm_kernel_amx(kpad / 32, a, b, tile);
    else if (type == LS_GEMM_BF16_AVX512) gemm_kernel_bf16(kpad / 2, a, b, tile, NR, 0, NULL, NULL);
    else gemm_kernel_f32(kc, a, sar, sak, b, tile, NR, 0, NULL, NULL);
    float s2 = 0.0f; /* sum of squares of what is stored, if sq */
    if (p->csc == 1) { /* row-major C: rows of the tile are contiguous */
        for (int r = 0; r < mv; r++) {
            float *c = C + (long)(i0 + r) * p->rsc + j0;
            const float *t = tile + r * NR;
            float rb = p->bias_row ? p->bias_row[i0 + r] : 0.0f;
            if (!store)
                for (int q = 0; q < nv; q++) c[q] += t[q];
            else if (p->bias_col)
                for (int q = 0; q < nv; q++) c[q] = t[q] + p->bias_col[j0 + q];
            else
                for (int q = 0; q < nv; q++) c[q] = t[q] + rb;
            if (sq)
                for (int q = 0; q < nv; q++) s2 += c[q] * c[q];
        }
    } else { /* transposed C (rsc == 1): columns of the tile are contiguous */
        for (int q = 0; q < nv; q++) {
            float *c = C + (long)(j0 + q) * p->csc + i0;
            float cb = p->bias_col ? p->bias_col[j0 + q] : 0.0f;
            if (!store)
                for (int r = 0; r < mv; r++) c[r] += tile[r * NR + q];
            else if (p->bias_row)
                for (int r = 0; r < mv; r++) c[r] = tile[r * NR + q] + p->bias_row[i0 + r];
            else
                for (int r = 0; r < mv; r++) c[r] = tile[r * NR + q] + cb;
            if (sq)
                for (int r = 0; r < mv; r++) s2 += c[r] * c[r];
        }
    }
    if (sq) *sq = s2;
}

/* Sums of squares for gemm_sumsq (one float per tile of C in the chosen
 * orientation, row-major over the tile grid; split-k: one double per row),
 * grown like the packing buffers. */
static void *buf_sq;
static size_t buf_sq_bytes;

/* Split-k: dx = dy W with few tokens, where the threads split k instead of
 * C's columns.
 *
 * Split over C's columns (gemm_run), a thread packs a block of 192 of W's
 * columns: 768 bytes of each row, one 3 KiB row after the next. The L2
 * streamer does not follow such pieces, and packing runs at about half the
 * speed of a contiguous read (2-core VM, cold rows of 768 floats, both
 * cores packing: 11 against 24 GB/s). With 256 tokens the packing is a
 * sixth of such a product's time. Here K is cut into SPLITK_R fixed ranges;
 * range r's part of the product,
 *     P_r = sum over k in range r of dy[:, k] W[k, :],
 * is computed by one thread in k slices whose blocks are as wide as W (16
 * panels at C = 768, 192-208 rows per slice: each slice of W is read as one
 * contiguous run), into C for range 0 and into a scratch copy for the
 * others, which are then added to C in range order:
 *     C (+)= P_0, then C += P_1 (+ P_2 ...).
 * The copies bound it to a small C (at most 1 MiB, e.g. 256 tokens x 768),
 * so that a range's partial product stays in L2 next to its block.
 * Measured: see docs/CPU_SPEED.md (ninth round).
 *
 * The ranges and slices follow from the shape alone, and each element's
 * sum runs in a fixed order (slices in order within a range, then the
 * ranges in order), so the result does not depend on the thread count:
 * with more threads than ranges each range's columns are cut into blocks
 * (narrower reads, the same sums); one thread runs the ranges in turn. */
enum { SPLITK_R = 2 };

static void *buf_part; /* the partial products of ranges 1 .. R-1 */
static size_t buf_part_bytes;

/* fp32 (A read in place: dy's rows) or vdpbf16ps (A packed slice by slice),
 * B's rows contiguous and dense (W), C row-major and small */
static int splitk_applies(LsGemmType type, const Problem *p) {
    return (type == LS_GEMM_F32 || type == LS_GEMM_BF16_AVX512) && p->csa == 1 && p->M % 8 == 0 &&
           p->csb == 1 && p->rsb == p->N && p->csc == 1 && !p->bias_row &&
           (size_t)p->M * p->N * sizeof(float) <= (1u << 20) && p->K >= 512;
}

/* as gemm_run; C = ... + bias (range 0's first slice adds it), and with
 * sumsq the squares are summed row by row (in double) in the final pass,
 * where every element of C takes its final value */
static void gemm_run_splitk(LsGemmType type, const Engine *e, const Problem *p, float *C, int accumulate,
                            double *sumsq) {
    enum { R = SPLITK_R, MR = 8, NR = 48 };
    int M = p->M, N = p->N, K = p->K, nth = omp_get_max_threads();
    int npan = (N + NR - 1) / NR;
    size_t esz = e->esz;
    /* the longest k slice whose block of all npan panels fits the engine's
     * block size (640 KiB: 208 rows at N = 768 in fp32, 416 in bf16) */
    int kmax = (int)(e->own_bytes / ((size_t)npan * NR * esz)) / 16 * 16;
    if (kmax < 16) kmax = 16;
    int ncb = (nth + R - 1) / R;       /* column blocks per range */
    int bpan = (npan + ncb - 1) / ncb; /* panels per column block */
    /* fp32 reads dy's rows in place; bf16 packs each slice of them (rounding
     * to bf16) after the block, M / 8 panels of 8 rows */
    int pack_a = type != LS_GEMM_F32;
    size_t own_b = (size_t)bpan * NR * kmax * esz;
    grow_own(nth, own_b + (pack_a ? (size_t)M * kmax * esz : 0));
    float *part = grow(&buf_part, &buf_part_bytes, sizeof(float) * (R - 1) * M * N);
    double *rsq = sumsq ? grow(&buf_sq, &buf_sq_bytes, sizeof(double) * M) : NULL;
    Problem pp = *p; /* a scratch copy's layout: row-major, leading dimension N, no bias */
    pp.rsc = N, pp.bias_col = NULL;
#pragma omp parallel num_threads(nth)
    {
        char *O = buf_own[omp_get_thread_num()], *Ap = O + own_b;
        float tile[32 * 48] __attribute__((aligned(64)));
#pragma omp for schedule(static, 1)
        for (int item = 0; item < R * ncb; item++) { /* (range, column block) */
            int r = item / ncb, q0 = item % ncb * bpan, q1 = q0 + bpan < npan ? q0 + bpan : npan;
            if (q1 <= q0) continue;
            int kr0 = (int)((long)K * r / R), kr1 = (int)((long)K * (r + 1) / R), len = kr1 - kr0;
            int ns = (len + kmax - 1) / kmax, kcs = ((len + ns - 1) / ns + 15) / 16 * 16;
            int w0 = q0 * NR, wv = (N < q1 * NR ? N : q1 * NR) - w0, np = q1 - q0;
            float *D = r == 0 ? C : part + (size_t)(r - 1) * M * N;
            for (int k0 = kr0; k0 < kr1; k0 += kcs) {
                int kc = kr1 - k0 < kcs ? kr1 - k0 : kcs;
                int kpad = (kc + e->kalign - 1) / e->kalign * e->kalign;
                int store = k0 == kr0 && (r > 0 || accumulate != 1); /* the range's first slice */
                size_t pb = esz * NR * kpad, pa = esz * MR * kpad; /* bytes per packed panel */
                pack_panels(e->lb, O, NR, np, pb, esz, kc, kpad, p->B + (long)k0 * p->rsb + w0, 1, p->rsb, wv);
                if (pack_a) pack_panels(e->la, Ap, MR, M / MR, pa, esz, kc, kpad, p->A + k0, p->rsa, 1, M);
                /* dy's 8 rows outer (in L1), the block's panels inner (in L2) */
                for (int s = 0; s < M / MR; s++) {
                    const void *a = pack_a ? (const void *)(Ap + pa * s)
                                           : (const void *)(p->A + (long)s * MR * p->rsa + k0);
                    for (int q = 0; q < np; q++)
                        run_tile(type, e, a, p->rsa, 1, O + pb * q, kc, kpad, r == 0 ? p : &pp, D, s * MR,
                                 w0 + q * NR, store, tile, NULL);
                }
            }
        }
        /* C += the other ranges' partial products, in range order (the
         * loop's implicit barrier above: every range is complete) */
#pragma omp for schedule(static)
        for (int i = 0; i < M; i++) {
            float *c = C + (long)i * p->rsc;
            for (int r = 1; r < R; r++) {
                const float *src = part + (size_t)(r - 1) * M * N + (size_t)i * N;
                for (int j = 0; j < N; j++) c[j] += src[j];
            }
            if (rsq) {
                double s2 = 0.0;
                for (int j = 0; j < N; j++) s2 += (double)c[j] * c[j];
                rsq[i] = s2;
            }
        }
    }
    if (sumsq) { /* the rows in order, whichever thread summed them */
        double s2 = 0.0;
        for (int i = 0; i < M; i++) s2 += rsq[i];
        *sumsq = s2;
    }
}

static void gemm_run(LsGemmType type, int M, int N, int K, const float *A, long rsa, long csa,
                     const float *B, long rsb, long csb, float *C, long ldc, int accumulate,
                     const float *bias, double *sumsq) {
    if (M <= 0 || N <= 0) return;
    type = gemm_resolve(type);
    if (!gemm_supported(type)) ls_fatal("matmul engine '%s' is not supported by this CPU", gemm_name(type));
    if (K <= 0) { /* empty product: C = bias or 0, or unchanged */
        double s2 = 0.0;
        for (int i = 0; i < M; i++)
            for (int j = 0; j < N; j++) {
                float *c = C + (long)i * ldc + j;
                if (accumulate != 1) *c = bias ? bias[j] : 0.0f;
                s2 += (double)*c * *c;
            }
        if (sumsq) *sumsq = s2;
        return;
    }
    const Engine *e = &engines[type];
    int MR = e->mr, NR = e->nr, KC = e->kc, nth = omp_get_max_threads();
    if (e->even_k) { /* the fewest slices of at most kc, of equal length (a multiple of 16) */
        int ns = (K + KC - 1) / KC;
        KC = ((K + ns - 1) / ns + 15) / 16 * 16;
    }
    int nb_max = e->own_bytes ? (int)(e->own_bytes / ((size_t)KC * e->esz)) : e->nb_max;
    /* Orientation: C = A B, or C^T = B^T A^T when that packs the larger
     * operand through a vector packer (e.g. x W^T is run as W x^T, so the
     * weights are read along their rows and only the small x is transposed). */
    Problem p = {M, N, K, A, B, rsa, csa, rsb, csb, ldc, 1, NULL, bias};
    double cost = pack_cost(e, e->la, rsa, csa, (double)M * K) + pack_cost(e, e->lb, csb, rsb, (double)K * N);
    double cost_t = pack_cost(e, e->la, csb, rsb, (double)N * K) + pack_cost(e, e->lb, rsa, csa, (double)K * M);
    if (cost_t < cost) p = (Problem){N, M, K, B, A, csb, rsb, csa, rsa, 1, ldc, bias, NULL};
    /* Threads split the larger dimension of C: over N, A is packed once per
     * k slice into the shared buffer and each thread packs blocks of B; over
     * M, the roles of A and B swap. Blocks are sized for L2. Exception: when
     * A can be read in place (below) and there are at least 384 columns per
     * thread, split over N even when M is larger: then A (the activations)
     * is never packed and each thread packs only its share of B (the
     * weights), where a split over M packs all of B in every thread. At
     * T=256 (M = 1024 tokens) that takes x W^T and dy W with 768 columns
     * from 69-71% of the peak to 77-80%: step 2456/2417 -> 2310/2323 ms. */
    if (splitk_applies(type, &p)) return gemm_run_splitk(type, e, &p, C, accumulate, sumsq);
    int a_inplace = type == LS_GEMM_F32 && p.csa == 1 && p.M % MR == 0;
    int split_n = p.N >= p.M || (a_inplace && p.N / nth >= 384);
    int W = split_n ? NR : MR, wn = split_n ? p.N : p.M, so = split_n ? p.M : p.N;
    /* as few blocks as the L2 allows, their number a multiple of the thread
     * count so that the threads finish together (2304 columns on 2 threads:
     * 4 blocks of 576, not 960 + 960 + 384) */
    int npan = (wn + W - 1) / W, pmax = nb_max / W > 0 ? nb_max / W : 1;
    int nb = (npan + pmax - 1) / pmax;
    nb = (nb + nth - 1) / nth * nth;
    int blk = (npan + nb - 1) / nb * W;
    int nblocks = (wn + blk - 1) / blk;
    int SW = split_n ? MR : NR, nshared = (so + SW - 1) / SW;
    size_t panel_s = (size_t)SW * KC * e->esz, panel_o = (size_t)W * KC * e->esz;
    /* fp32 with the shared operand A, its rows contiguous along k (x and dy,
     * row-major, in x W^T and dy W) and whole micro-panels of them: not
     * packed at all. The kernel broadcasts from 8 rows where they lie (one
     * stream per row, in L1 while a tile row of C is computed), so the copy,
     * its buffer and the barriers are gone; the weights are still packed
     * (they are read column-wise or cold, and each panel is reused by every
     * row of C). Measured (GPT-2 124M, T=64, 4 alternating rounds): step
     * 640-652 -> 620-627 ms, faster in every round, products 520-535 ->
     * 503-518 ms; T=256 2298/2264 -> 2271/2251 ms. Bit-identical: the kernel
     * sums the same products in the same order. */
    int inplace = a_inplace && split_n;
    /* Otherwise, fp32 with at least 384 columns (or rows) of C per thread:
     * each thread packs the whole shared operand into its own buffer instead
     * of half of it into one buffer both read. The copies cost 2 x so x KC
     * element moves per slice against >= 768 FLOPs per element each thread
     * computes; in exchange no barriers, and no panel is read from the other
     * core's cache. Measured (GPT-2, T=64, 5 alternating rounds): products
     * 600 -> 580 ms, every round faster; T=256 unchanged; bf16 AMX 3% slower
     * (its packing converts to bf16 and its products are 3x faster), so bf16
     * shares. Only the one shared buffer needs barriers. */
    int priv = !inplace && type == LS_GEMM_F32 && nth > 1 && wn / nth >= 384;
    int one_buf = !inplace && !priv;
    size_t own_sz = (panel_o * (blk / W) + 4095) / 4096 * 4096;
    /* sums of squares: one per tile of C, written in the last k slice */
    int ntj = (p.N + NR - 1) / NR;
    long ntiles = (long)((p.M + MR - 1) / MR) * ntj;
    float *tsq = sumsq ? (float *)grow(&buf_sq, &buf_sq_bytes, sizeof(float) * ntiles) : NULL;
    if (one_buf) grow(&buf_shared, &buf_shared_bytes, panel_s * nshared);
    grow_own(nth, own_sz + (priv ? panel_s * nshared : 0));
    /* one parallel region; the k slices run in order inside it */
#pragma omp parallel num_threads(nth)
    for (int k0 = 0; k0 < K; k0 += KC) {
        int kc = K - k0 < KC ? K - k0 : KC;
        int kpad = (kc + e->kalign - 1) / e->kalign * e->kalign;
        /* first slice of a non-accumulating product: 1, or 2 for streaming stores */
        int store = k0 == 0 && accumulate != 1 ? (accumulate == LS_GEMM_STREAM ? 2 : 1) : 0;
        float *sqs = tsq && k0 + kc >= K ? tsq : NULL; /* C is final after this slice */
        {
            char *O = buf_own[omp_get_thread_num()], *S = priv ? O + own_sz : buf_shared;
            float tile[32 * 48] __attribute__((aligned(64))); /* MR x NR of any engine */
            if (!inplace) { /* the shared operand: each thread packs a contiguous run of
                             * the panels into the one buffer, or (priv) all into its own */
                int t = priv ? 0 : omp_get_thread_num(), n = priv ? 1 : nth;
                int s0 = nshared * t / n, s1 = nshared * (t + 1) / n;
                int i = s0 * SW, valid = (so < s1 * SW ? so : s1 * SW) - i;
                if (s1 > s0) {
                    if (split_n)
                        pack_panels(e->la, S + panel_s * s0, SW, s1 - s0, panel_s, e->esz, kc, kpad,
                                    p.A + i * p.rsa + k0 * p.csa, p.rsa, p.csa, valid);
                    else
                        pack_panels(e->lb, S + panel_s * s0, SW, s1 - s0, panel_s, e->esz, kc, kpad,
                                    p.B + k0 * p.rsb + i * p.csb, p.csb, p.rsb, valid);
                }
            }
            if (one_buf) {
#pragma omp barrier
            }
            /* blocks dealt round-robin, the same way in every k slice: a
             * thread adds into the same columns (or rows) of C slice after
             * slice, so they stay in its core's cache instead of moving to
             * the other core's, as a dynamic schedule let them (the blocks
             * are of equal size; measured ~2% of a GPT-2 step, dx products
             * with several k slices the most) */
#pragma omp for schedule(static, 1) nowait
            for (int b = 0; b < nblocks; b++) {
                int w0 = b * blk, wv = wn - w0 < blk ? wn - w0 : blk, np = (wv + W - 1) / W;
                if (split_n)
                    pack_panels(e->lb, O, W, np, panel_o, e->esz, kc, kpad, p.B + k0 * p.rsb + w0 * p.csb,
                                p.csb, p.rsb, wv);
                else
                    pack_panels(e->la, O, W, np, panel_o, e->esz, kc, kpad, p.A + w0 * p.rsa + k0 * p.csa,
                                p.rsa, p.csa, wv);
                /* the shared panels outer, this block's panels inner (they stay in L2) */
                for (int s = 0; s < nshared; s++) {
                    /* shared micro-panel s: packed, or (inplace) 8 rows of A where they lie */
                    const void *sp = inplace ? (const void *)(p.A + (long)s * MR * p.rsa + k0)
                                             : (const void *)(S + panel_s * s);
                    long sar = inplace ? p.rsa : 1, sak = inplace ? 1 : MR;
                    for (int q = 0; q < np; q++) {
                        int i0 = split_n ? s * MR : w0 + q * MR, j0 = split_n ? w0 + q * NR : s * NR;
                        float *sq = sqs ? sqs + (long)(i0 / MR) * ntj + j0 / NR : NULL;
                        if (split_n)
                            run_tile(type, e, sp, sar, sak, O + panel_o * q, kc, kpad, &p, C, i0, j0,
                                     store, tile, sq);
                        else
                            run_tile(type, e, O + panel_o * q, 1, MR, sp, kc, kpad, &p, C, i0, j0,
                                     store, tile, sq);
                    }
                }
            }
#if defined(__SSE__)
            /* streaming stores are weakly ordered: drain them before the
             * region's closing barrier, after which C is anyone's to read */
            if (store == 2) __builtin_ia32_sfence();
#endif
            /* the next slice repacks the shared buffer: wait until every
             * thread is done with it (after the last slice the end of the
             * parallel region is the wait; passive threads sleep in each
             * barrier, and a wake-up costs tens of microseconds in a VM) */
            if (k0 + KC < K && one_buf) {
#pragma omp barrier
            }
        }
    }
    if (sumsq) { /* the tiles in grid order, whichever thread computed them */
        double s2 = 0.0;
        for (long i = 0; i < ntiles; i++) s2 += tsq[i];
        *sumsq = s2;
    }
}

void gemm(LsGemmType type, int M, int N, int K, const float *A, long rsa, long csa,
          const float *B, long rsb, long csb, float *C, long ldc, int accumulate,
          const float *bias) {
    gemm_run(type, M, N, K, A, rsa, csa, B, rsb, csb, C, ldc, accumulate, bias, NULL);
}

double gemm_sumsq(LsGemmType type, int M, int N, int K, const float *A, long rsa, long csa,
                  const float *B, long rsb, long csb, float *C, long ldc, int accumulate,
                  const float *bias) {
    double s2 = 0.0;
    gemm_run(type, M, N, K, A, rsa, csa, B, rsb, csb, C, ldc, accumulate, bias, &s2);
    return s2;
}
