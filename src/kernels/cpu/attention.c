/* attention.c - causal multi-head self-attention, forward and backward.
 *
 * qkv holds, per token, [q | k | v], each C = NH*hs wide; head h uses the
 * slice [h*hs, (h+1)*hs) of each. For query position t of head h:
 *     s[t2] = q_t . k_t2 / sqrt(hs)     for t2 <= t  (causal: later keys masked)
 *     a = softmax(s)                    (kept in att for backward)
 *     out_t = sum_t2 a[t2] v_t2
 * Backward, given dout_t:
 *     da[t2] = dout_t . v_t2,        dv_t2 += a[t2] dout_t
 *     ds[t2] = a[t2] (da[t2] - sum_j a[j] da[j])        (softmax Jacobian)
 *     dq_t  += ds[t2] k_t2 / sqrt(hs),   dk_t2 += ds[t2] q_t / sqrt(hs)
 * Work is split over (batch, head) pairs: each pair reads and writes only its
 * own head's slices, so threads never race.
 *
 * Two versions of the same math:
 *   attention_forward_ref / _backward_ref  materialise the (T x T)
 *       probabilities per head: the plain reference, kept for the tests;
 *   attention_forward / _backward  (the model's) never hold more than one
 *       block of scores: flash-attention style. Forward walks the keys in
 *       tiles of KW = 32 for blocks of QR = 8 queries, with an online
 *       softmax per query: running max m, running sum l and
 *       output accumulator o are rescaled by exp(m_old - m_new) whenever a
 *       tile raises the max, so o / l is the softmax-weighted sum at the end;
 *       only lse = m + log(l) per row is kept. Backward recomputes each row's
 *       probabilities from lse, a[t2] = exp(s[t2] - lse), and uses
 *       sum_j a[j] da[j] = dout_t . out_t (so it needs out, not att).
 *   Scores are computed from K stored transposed per head (hs x T) so the
 *   inner loops run over contiguous keys and vectorise. Memory: O(T * hs)
 *   per thread instead of O(B * NH * T * T).
 * Measured (GPT-2 124M shape, B=4, T=256, 2 threads, one layer forward +
 * backward): 4 x 16 register tiles and a scalar transpose 15.9 ms; 8 x 32
 * tiles, vexp.h's exp and the 16 x 16 transposing packer 8.6 ms.
 * This file is built with -ffast-math (Makefile); the masked entries are
 * zeroed (or -FLT_MAX for a maximum), never represented by infinities. */
#include <float.h>
#include <math.h>
#include <string.h>

#include "../../core/error.h"
#include "gemm.h"
#include "kernels.h"
#include "profile.h"
#include "v16.h"
#include "vexp.h"

#define ATT_TILE 16 /* floats per vector; register tiles are two wide (KW) */

void attention_forward_ref(float *out, float *att, const float *qkv, int B, int T, int C, int NH) {
    double t0_ = ls_prof_begin();
    int hs = C / NH, C3 = 3 * C;
    float scale = 1.0f / sqrtf((float)hs);
#pragma omp parallel for collapse(2) schedule(static)
    for (int b = 0; b < B; b++)
        for (int h = 0; h < NH; h++) {
            for (int t = 0; t < T; t++) {
                const float *q = qkv + ((long)b * T + t) * C3 + h * hs;
                float *a = att + (((long)b * NH + h) * T + t) * T;
                float maxv = -FLT_MAX; /* finite: this file is built with -ffast-math */
                for (int t2 = 0; t2 <= t; t2++) {
                    const float *k = qkv + ((long)b * T + t2) * C3 + C + h * hs;
                    float s = 0.0f;
                    for (int i = 0; i < hs; i++) s += q[i] * k[i];
                    s *= scale;
                    a[t2] = s;
                    if (s > maxv) maxv = s;
                }
                float sum = 0.0f;
                for (int t2 = 0; t2 <= t; t2++) {
                    float e = expf(a[t2] - maxv);
                    a[t2] = e;
                    sum += e;
                }
                float inv = 1.0f / sum;
                for (int t2 = 0; t2 <= t; t2++) a[t2] *= inv;
                for (int t2 = t + 1; t2 < T; t2++) a[t2] = 0.0f;
                float *o = out + ((long)b * T + t) * C + h * hs;
                for (int i = 0; i < hs; i++) o[i] = 0.0f;
                for (int t2 = 0; t2 <= t; t2++) {
                    const float *v = qkv + ((long)b * T + t2) * C3 + 2 * C + h * hs;
                    float w = a[t2];
                    for (int i = 0; i < hs; i++) o[i] += w * v[i];
                }
            }
        }
    ls_prof_end(LS_PROF_ATTENTION, t0_);
}

void attention_backward_ref(float *dqkv, const float *dout, const float *qkv, const float *att, int B,
                            int T, int C, int NH) {
    double t0_ = ls_prof_begin();
    int hs = C / NH, C3 = 3 * C;
    float scale = 1.0f / sqrtf((float)hs);
#pragma omp parallel
    {
        float *da = ls_calloc((size_t)T, sizeof(float), "attention scratch");
#pragma omp for collapse(2) schedule(static)
        for (int b = 0; b < B; b++)
            for (int h = 0; h < NH; h++) {
                for (int t = 0; t < T; t++) {
                    float *d = dqkv + ((long)b * T + t) * C3 + h * hs;
                    memset(d, 0, sizeof(float) * hs);
                    memset(d + C, 0, sizeof(float) * hs);
                    memset(d + 2 * C, 0, sizeof(float) * hs);
                }
                for (int t = 0; t < T; t++) {
                    const float *a = att + (((long)b * NH + h) * T + t) * T;
                    const float *dout_t = dout + ((long)b * T + t) * C + h * hs;
                    const float *q = qkv + ((long)b * T + t) * C3 + h * hs;
                    float *dq = dqkv + ((long)b * T + t) * C3 + h * hs;
                    float dot = 0.0f;
                    for (int t2 = 0; t2 <= t; t2++) {
                        const float *v = qkv + ((long)b * T + t2) * C3 + 2 * C + h * hs;
                        float *dv = dqkv + ((long)b * T + t2) * C3 + 2 * C + h * hs;
                        float s = 0.0f;
                        for (int i = 0; i < hs; i++) {
                            s += dout_t[i] * v[i];
                            dv[i] += a[t2] * dout_t[i];
                        }
                        da[t2] = s;
                        dot += a[t2] * s;
                    }
                    for (int t2 = 0; t2 <= t; t2++) {
                        const float *k = qkv + ((long)b * T + t2) * C3 + C + h * hs;
                        float *dk = dqkv + ((long)b * T + t2) * C3 + C + h * hs;
                        float ds = a[t2] * (da[t2] - dot) * scale;
                        for (int i = 0; i < hs; i++) {
                            dq[i] += ds * k[i];
                            dk[i] += ds * q[i];
                        }
                    }
                }
            }
        ls_free(da);
    }
    ls_prof_end(LS_PROF_ATTENTION, t0_);
}

/* Rows [0, T) of one head's slice (hs floats, row stride C3) transposed
 * into dst (hs x Tp, row i holding element i of every row; columns T..Tp
 * zero). With AVX-512, by gemm.c's 16 x 16 register-transposing packer:
 * the scalar transpose wrote each element to a different cache line of a
 * 64 KB buffer and, at T=256, took longer than the head's arithmetic. */
static void transpose_head(float *restrict dst, const float *src, int T, int Tp, int C3, int hs) {
#ifdef __AVX512F__
    gemm_pack_f32_t(dst, Tp, hs, src, C3, T);
#else
    for (int t = 0; t < Tp; t++)
        for (int i = 0; i < hs; i++) dst[(long)i * Tp + t] = t < T ? src[(long)t * C3 + i] : 0.0f;
#endif
}

/* Head h of sequence b, gathered into contiguous scratch: Kt transposed
 * (hs x Tp, so a row of scores is a run of contiguous FMAs), and V's rows
 * (T x hs; NULL: not needed). */
static void gather_head(float *restrict Kt, float *restrict Vh, const float *qkv, int b, int h, int T,
                        int Tp, int C, int hs) {
    int C3 = 3 * C;
    const float *head = qkv + (long)b * T * C3 + h * hs;
    transpose_head(Kt, head + C, T, Tp, C3, hs);
    if (Vh)
        for (int t = 0; t < T; t++) memcpy(Vh + (long)t * hs, head + (long)t * C3 + 2 * C, sizeof(float) * hs);
}

/* Register blocking. The three products of attention are small matrix
 * products per head (scores = Q K^T, out = P V, and their transposes in
 * backward), computed in register tiles of QR = 8 rows x 32 columns (two
 * vectors): 16 accumulators, and per step 2 vector loads + 8 broadcasts for
 * 16 FMAs, so the FMA units, not the loads, set the pace (the earlier 4 x
 * 16 tiles needed 5 loads per 4 FMAs: ~85 GFLOP/s here). */
#define QR 8
#define KW (2 * ATT_TILE) /* columns of a register tile */

static inline v16 vexp16(v16 x) {
#ifdef LS_HAVE_VEXP
    return (v16)ls_vexp((__m512)x);
#else
    v16 y;
    for (int i = 0; i < 16; i++) y[i] = expf(x[i]);
    return y;
#endif
}
/* lane-wise max */
static inline v16 vmax16(v16 a, v16 b) {
#ifdef __AVX512F__
    return (v16)_mm512_max_ps((__m512)a, (__m512)b);
#else
    for (int i = 0; i < 16; i++) a[i] = b[i] > a[i] ? b[i] : a[i];
    return a;
#endif
}
/* horizontal max and sum: 4 shuffle steps with AVX-512 (a scalar loop
 * compiles to 15 dependent scalar operations plus extractions) */
static inline float hmax16(v16 x) {
#ifdef __AVX512F__
    return _mm512_reduce_max_ps((__m512)x);
#else
    float m = x[0];
    for (int i = 1; i < 16; i++) m = x[i] > m ? x[i] : m;
    return m;
#endif
}
static inline float hsum16(v16 x) {
#ifdef __AVX512F__
    return _mm512_reduce_add_ps((__m512)x);
#else
    float s = 0.0f;
    for (int i = 0; i < 16; i++) s += x[i];
    return s;
#endif
}
/* all ones on lanes lo..lo+15 that are < n, else 0 */
static inline vi16 below(int lo, int n) {
    const vi16 iota = {0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15};
    return (iota + lo) < n;
}
/* x on those lanes, 0 on the rest */
static inline v16 keep_below(v16 x, int lo, int n) { return (v16)((vi16)x & below(lo, n)); }

/* s_r[j] = scale * q_r . k_{t0+j}, rows r < QR, j < n rounded up to KW
 * (Kt rows are zero-padded to Tp, a multiple of KW) */
static inline void scores8(float *const s[QR], const float *const q[QR], const float *restrict Kt, int t0,
                           int n, int Tp, int hs, float scale) {
    for (int j0 = 0; j0 < n; j0 += KW) {
        v16 a[QR][2];
#pragma GCC unroll 8
        for (int r = 0; r < QR; r++) a[r][0] = a[r][1] = (v16){0};
        for (int i = 0; i < hs; i++) {
            v16 k0 = load16(Kt + (long)i * Tp + t0 + j0), k1 = load16(Kt + (long)i * Tp + t0 + j0 + 16);
#pragma GCC unroll 8
            for (int r = 0; r < QR; r++) a[r][0] += q[r][i] * k0, a[r][1] += q[r][i] * k1;
        }
#pragma GCC unroll 8
        for (int r = 0; r < QR; r++) {
            store16(s[r] + j0, a[r][0] * scale);
            store16(s[r] + j0 + 16, a[r][1] * scale);
        }
    }
}

/* y_r += sum_{j<n} w_r[j] x_j over hs floats, x_j = X + (x0 + j) * ldx:
 * 32 columns of all QR rows at a time, then 16, then single columns */
static inline void wsum8(float *const y[QR], const float *const w[QR], const float *restrict X, long ldx,
                         int x0, int n, int hs) {
    int c = 0;
    for (; c + KW <= hs; c += KW) {
        v16 a[QR][2];
#pragma GCC unroll 8
        for (int r = 0; r < QR; r++) a[r][0] = load16(y[r] + c), a[r][1] = load16(y[r] + c + 16);
        for (int j = 0; j < n; j++) {
            const float *xr = X + (x0 + j) * ldx + c;
            v16 x0v = load16(xr), x1v = load16(xr + 16);
#pragma GCC unroll 8
            for (int r = 0; r < QR; r++) a[r][0] += w[r][j] * x0v, a[r][1] += w[r][j] * x1v;
        }
#pragma GCC unroll 8
        for (int r = 0; r < QR; r++) store16(y[r] + c, a[r][0]), store16(y[r] + c + 16, a[r][1]);
    }
    for (; c + 16 <= hs; c += 16) {
        v16 a[QR];
#pragma GCC unroll 8
        for (int r = 0; r < QR; r++) a[r] = load16(y[r] + c);
        for (int j = 0; j < n; j++) {
            v16 x = load16(X + (x0 + j) * ldx + c);
#pragma GCC unroll 8
            for (int r = 0; r < QR; r++) a[r] += w[r][j] * x;
        }
#pragma GCC unroll 8
        for (int r = 0; r < QR; r++) store16(y[r] + c, a[r]);
    }
    for (; c < hs; c++) /* head sizes that are not a multiple of 16 */
        for (int r = 0; r < QR; r++)
            for (int j = 0; j < n; j++) y[r][c] += w[r][j] * X[(x0 + j) * ldx + c];
}

/* x on lanes lo..lo+15 that are < n, `other` on the rest: a bitwise select.
 * (Written as x_kept + (other - other_kept) it was reassociated under
 * -ffast-math into (x + other) - other, which is 0 for other = -FLT_MAX: the
 * running max came out wrong, and rows with scores beyond ~88 overflowed.) */
static inline v16 below_else(v16 x, int lo, int n, float other) {
    vi16 m = below(lo, n), o = (vi16)((v16){0} + other);
    return (v16)(((vi16)x & m) | (o & ~m));
}

/* Prefetch of the next head's rows. A head's rows are hs floats (4 cache
 * lines at hs = 64) at a stride of C or 3C floats, each in its own 4 KiB
 * page at GPT-2 sizes, so the hardware prefetchers do not follow them and
 * every row of a cold head was a chain of cache misses (the products before
 * attention leave qkv and dout in DRAM). The item a thread takes next under
 * the static schedule is usually item + 1 (b, h + 1); while it computes one
 * block of rows of this head, the same rows of that head are fetched.
 * Measured (GPT-2 124M, B=4, 2 threads): attention in a T=64 step 12.5-14.3
 * -> 10.1-10.8 ms (4 of 4 alternating rounds), T=256 117.7 -> 101.4 ms; a
 * harness with cold inputs 11.9-13.3 -> 10.1-10.4 ms per 12 layers, hot
 * inputs unchanged (7.4 ms). Prefetches change no result. */
static void prefetch_rows(const float *base, long stride, int t0, int n, int hs, int write) {
    for (int t = t0; t < t0 + n; t++)
        for (int i = 0; i < hs; i += 16) {
            if (write) __builtin_prefetch(base + (long)t * stride + i, 1, 3);
            else __builtin_prefetch(base + (long)t * stride + i, 0, 3);
        }
}

void attention_forward(float *out, float *lse, const float *qkv, int B, int T, int C, int NH) {
    int hs = C / NH, C3 = 3 * C;
    double t0_ = ls_prof_begin();
    float scale = 1.0f / sqrtf((float)hs);
    int Tp = (T + KW - 1) / KW * KW;
#pragma omp parallel
    {
        float *Kt = ls_calloc((size_t)hs * Tp, sizeof(float), "attention scratch");
        float *Vh = ls_calloc((size_t)hs * T, sizeof(float), "attention scratch");
        float *o = ls_calloc((size_t)QR * hs, sizeof(float), "attention scratch");
        float sbuf[QR][KW];
#pragma omp for collapse(2) schedule(static)
        for (int b = 0; b < B; b++)
            for (int h = 0; h < NH; h++) {
                gather_head(Kt, Vh, qkv, b, h, T, Tp, C, hs);
                int nx = b * NH + h + 1, bx = nx / NH, hx = nx % NH; /* the next item */
                for (int t0 = 0; t0 < T; t0 += QR) {
                    int nr = T - t0 < QR ? T - t0 : QR, last = t0 + nr - 1;
                    if (nx < B * NH) {
                        const float *hq = qkv + (long)bx * T * C3 + hx * hs;
                        for (int part = 0; part < 3; part++) prefetch_rows(hq + part * C, C3, t0, nr, hs, 0);
                        prefetch_rows(out + (long)bx * T * C + hx * hs, C, t0, nr, hs, 1);
                    }
                    const float *q[QR];
                    float *s[QR], *orow[QR], m[QR] = {0}, l[QR] = {0};
                    for (int r = 0; r < QR; r++) { /* rows past T repeat the last one; never stored */
                        q[r] = qkv + ((long)b * T + (r < nr ? t0 + r : last)) * C3 + h * hs;
                        s[r] = sbuf[r];
                        orow[r] = o + (long)r * hs;
                    }
                    memset(o, 0, sizeof(float) * QR * hs);
                    for (int k0 = 0; k0 <= last; k0 += KW) {
                        int n = last - k0 + 1 < KW ? last - k0 + 1 : KW;
                        scores8(s, q, Kt, k0, n, Tp, hs, scale);
                        for (int r = 0; r < QR; r++) {
                            /* causal: key k0+j is visible to row t0+r iff k0+j <= t0+r; every
                             * row sees key k0 (tiles are KW-aligned, row blocks QR-aligned) */
                            int vis = t0 + r - k0 + 1 < n ? t0 + r - k0 + 1 : n;
                            v16 s0 = load16(s[r]), s1 = load16(s[r] + 16);
                            v16 b0 = below_else(s0, 0, vis, -FLT_MAX), b1 = below_else(s1, 16, vis, -FLT_MAX);
                            float mt = hmax16(vmax16(b0, b1));
                            if (k0 == 0 || mt > m[r]) { /* new running max: rescale */
                                float alpha = k0 == 0 ? 0.0f : expf(m[r] - mt);
                                l[r] *= alpha;
                                for (int i = 0; i < hs; i++) orow[r][i] *= alpha;
                                m[r] = mt;
                            }
                            v16 p0 = keep_below(vexp16(s0 - m[r]), 0, vis);
                            v16 p1 = keep_below(vexp16(s1 - m[r]), 16, vis);
                            l[r] += hsum16(p0 + p1);
                            store16(s[r], p0), store16(s[r] + 16, p1);
                        }
                        wsum8(orow, (const float *const *)s, Vh, hs, k0, n, hs);
                    }
                    for (int r = 0; r < nr; r++) {
                        float inv = 1.0f / l[r], *dst = out + ((long)b * T + t0 + r) * C + h * hs;
                        for (int i = 0; i < hs; i++) dst[i] = orow[r][i] * inv;
                        lse[((long)b * NH + h) * T + t0 + r] = m[r] + logf(l[r]);
                    }
                }
            }
        ls_free(Kt);
        ls_free(Vh);
        ls_free(o);
    }
    ls_prof_end(LS_PROF_ATTENTION, t0_);
}

/* y_jj += sum_{r<nr} W[r*ldw + j + jj] x_r over hs floats, for QR keys jj:
 * the transposed product dK_j += sum_t ds[t][j] q_t, one load of q_t per
 * QR keys (32 columns at a time, then 16, then single columns) */
static inline void outer8(float *const y[QR], const float *restrict W, long ldw, int j, int nr,
                          const float *restrict X, long ldx, int hs) {
    int c = 0;
    for (; c + KW <= hs; c += KW) {
        v16 a[QR][2];
#pragma GCC unroll 8
        for (int jj = 0; jj < QR; jj++) a[jj][0] = load16(y[jj] + c), a[jj][1] = load16(y[jj] + c + 16);
        for (int r = 0; r < nr; r++) {
            v16 x0 = load16(X + r * ldx + c), x1 = load16(X + r * ldx + c + 16);
            const float *w = W + r * ldw + j;
#pragma GCC unroll 8
            for (int jj = 0; jj < QR; jj++) a[jj][0] += w[jj] * x0, a[jj][1] += w[jj] * x1;
        }
#pragma GCC unroll 8
        for (int jj = 0; jj < QR; jj++) store16(y[jj] + c, a[jj][0]), store16(y[jj] + c + 16, a[jj][1]);
    }
    for (; c + 16 <= hs; c += 16) {
        v16 a[QR];
#pragma GCC unroll 8
        for (int jj = 0; jj < QR; jj++) a[jj] = load16(y[jj] + c);
        for (int r = 0; r < nr; r++) {
            v16 x = load16(X + r * ldx + c);
            const float *w = W + r * ldw + j;
#pragma GCC unroll 8
            for (int jj = 0; jj < QR; jj++) a[jj] += w[jj] * x;
        }
#pragma GCC unroll 8
        for (int jj = 0; jj < QR; jj++) store16(y[jj] + c, a[jj]);
    }
    for (; c < hs; c++)
        for (int jj = 0; jj < QR; jj++)
            for (int r = 0; r < nr; r++) y[jj][c] += W[r * ldw + j + jj] * X[r * ldx + c];
}

/* Backward, per head, in blocks of QB = KW query rows: first each row's
 * probabilities a (recomputed from lse) and score gradients ds (QR rows
 * at a time), then
 *   dq_t = sum_j ds[t][j] k_j                      (QR rows at a time)
 *   dK_j += sum_t ds[t][j] q_t,  dV_j += sum_t a[t][j] dout_t
 * with the whole block's rows applied to QR dK/dV rows while they are in
 * registers, so those rank-1 updates cost one read-modify-write per block. */
void attention_backward(float *dqkv, const float *dout, const float *qkv, const float *out,
                        const float *lse, int B, int T, int C, int NH) {
    double t0_ = ls_prof_begin();
    int hs = C / NH, C3 = 3 * C, QB = KW;
    float scale = 1.0f / sqrtf((float)hs);
    int Tp = (T + KW - 1) / KW * KW;
#pragma omp parallel
    {
        /* per head: Kt, Vt (hs x Tp) transposed; dK, dV (T x hs; Q's, K's and
         * dout's rows are read where they lie, hs floats each, as forward reads
         * Q's: copying them took ~10% of a hot backward at T=64);
         * one block's probabilities and score gradients (QB x Tp, one spare row
         * for the reads of the last, partial group of keys); a spare row that
         * takes the writes of rows and keys past the end (Tp or hs floats) */
        size_t nspare = (size_t)(Tp > hs ? Tp : hs);
        float *Kt = ls_calloc((size_t)hs * Tp, sizeof(float), "attention scratch");
        float *Vt = ls_calloc((size_t)hs * Tp, sizeof(float), "attention scratch");
        float *dK = ls_calloc((size_t)hs * T, sizeof(float), "attention scratch");
        float *dV = ls_calloc((size_t)hs * T, sizeof(float), "attention scratch");
        float *P = ls_calloc((size_t)(QB + 1) * Tp, sizeof(float), "attention scratch");
        float *dS = ls_calloc((size_t)(QB + 1) * Tp, sizeof(float), "attention scratch");
        float *dq = ls_calloc((size_t)QR * hs, sizeof(float), "attention scratch");
        float *spare = ls_calloc(nspare, sizeof(float), "attention scratch");
#pragma omp for collapse(2) schedule(static)
        for (int b = 0; b < B; b++)
            for (int h = 0; h < NH; h++) {
                gather_head(Kt, NULL, qkv, b, h, T, Tp, C, hs);
                transpose_head(Vt, qkv + (long)b * T * C3 + h * hs + 2 * C, T, Tp, C3, hs);
                /* this head's rows of Q, K and dout, read where they lie */
                const float *Qh = qkv + (long)b * T * C3 + h * hs, *Kh = Qh + C;
                const float *Dh = dout + (long)b * T * C + h * hs;
                memset(dK, 0, sizeof(float) * hs * T);
                memset(dV, 0, sizeof(float) * hs * T);
                int nx = b * NH + h + 1, bx = nx / NH, hx = nx % NH; /* the next item */
                for (int t0 = 0; t0 < T; t0 += QB) {
                    int nb = T - t0 < QB ? T - t0 : QB, nkeys = t0 + nb; /* keys this block sees */
                    for (int g = 0; g < nb; g += QR) { /* QR rows: a, ds, dq */
                        int ng = nb - g < QR ? nb - g : QR, nmax = t0 + g + ng; /* keys of the group */
                        if (nx < B * NH) {
                            const float *hq = qkv + (long)bx * T * C3 + hx * hs;
                            float *hd = dqkv + (long)bx * T * C3 + hx * hs;
                            for (int part = 0; part < 3; part++) {
                                prefetch_rows(hq + part * C, C3, t0 + g, ng, hs, 0);
                                prefetch_rows(hd + part * C, C3, t0 + g, ng, hs, 1);
                            }
                            prefetch_rows(dout + (long)bx * T * C + hx * hs, C, t0 + g, ng, hs, 0);
                            prefetch_rows(out + (long)bx * T * C + hx * hs, C, t0 + g, ng, hs, 0);
                        }
                        const float *q[QR], *d[QR];
                        float *a[QR], *ds[QR], *dqr[QR];
                        for (int r = 0; r < QR; r++) {
                            int rr = g + (r < ng ? r : ng - 1); /* rows past the block repeat the last */
                            q[r] = Qh + (long)(t0 + rr) * C3;
                            d[r] = Dh + (long)(t0 + rr) * C;
                            a[r] = r < ng ? P + (long)(g + r) * Tp : spare;
                            ds[r] = r < ng ? dS + (long)(g + r) * Tp : spare;
                            dqr[r] = dq + (long)r * hs;
                        }
                        scores8(a, q, Kt, 0, nmax, Tp, hs, scale);
                        scores8(ds, d, Vt, 0, nmax, Tp, hs, 1.0f);
                        for (int r = 0; r < ng; r++) {
                            int t = t0 + g + r, n = t + 1;
                            const float *out_t = out + ((long)b * T + t) * C + h * hs;
                            float L = lse[((long)b * NH + h) * T + t], dot = 0.0f;
                            /* a = exp(s - lse); sum_j a[j] da[j] = dout_t . out_t; keys
                             * past t (causal) get a = ds = 0, up to the block's last key */
                            for (int i = 0; i < hs; i++) dot += d[r][i] * out_t[i];
                            for (int j0 = 0; j0 < nkeys; j0 += 16) {
                                v16 p = keep_below(vexp16(load16(a[r] + j0) - L), j0, n);
                                store16(a[r] + j0, p);
                                store16(ds[r] + j0, p * (load16(ds[r] + j0) - dot) * scale);
                            }
                        }
                        memset(dq, 0, sizeof(float) * QR * hs);
                        wsum8(dqr, (const float *const *)ds, Kh, C3, 0, nmax, hs);
                        for (int r = 0; r < ng; r++)
                            memcpy(dqkv + ((long)b * T + t0 + g + r) * C3 + h * hs, dqr[r],
                                   sizeof(float) * hs);
                    }
                    for (int j = 0; j < nkeys; j += QR) { /* QR keys: dK, dV */
                        float *yk[QR], *yv[QR];
                        for (int jj = 0; jj < QR; jj++) {
                            yk[jj] = j + jj < nkeys ? dK + (long)(j + jj) * hs : spare;
                            yv[jj] = j + jj < nkeys ? dV + (long)(j + jj) * hs : spare;
                        }
                        outer8(yk, dS, Tp, j, nb, Qh + (long)t0 * C3, C3, hs);
                        outer8(yv, P, Tp, j, nb, Dh + (long)t0 * C, C, hs);
                    }
                }
                for (int t = 0; t < T; t++) {
                    float *dst = dqkv + ((long)b * T + t) * C3 + h * hs;
                    memcpy(dst + C, dK + (long)t * hs, sizeof(float) * hs);
                    memcpy(dst + 2 * C, dV + (long)t * hs, sizeof(float) * hs);
                }
            }
        ls_free(Kt), ls_free(Vt);
        ls_free(dK), ls_free(dV), ls_free(P), ls_free(dS), ls_free(dq), ls_free(spare);
    }
    ls_prof_end(LS_PROF_ATTENTION, t0_);
}
