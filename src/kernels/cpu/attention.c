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
 *       row of scores: flash-attention style. Forward walks the keys in tiles
 *       of ATT_TILE with an online softmax: running max m, running sum l and
 *       output accumulator o are rescaled by exp(m_old - m_new) whenever a
 *       tile raises the max, so o / l is the softmax-weighted sum at the end;
 *       only lse = m + log(l) per row is kept. Backward recomputes each row's
 *       probabilities from lse, a[t2] = exp(s[t2] - lse), and uses
 *       sum_j a[j] da[j] = dout_t . out_t (so it needs out, not att).
 *   Scores are computed from K stored transposed per head (hs x T) so the
 *   inner loops run over contiguous keys and vectorise. Memory: O(T * hs)
 *   per thread instead of O(B * NH * T * T).
 * This file is built with -ffast-math (Makefile) so expf vectorises; the
 * masked entries are skipped, never represented by infinities. */
#include <float.h>
#include <math.h>
#include <string.h>

#include "../../core/error.h"
#include "kernels.h"
#include "profile.h"

#define ATT_TILE 16 /* keys per tile of the online softmax */

/* 16 floats as one vector (a zmm register with AVX-512; GCC splits it
 * otherwise); loads and stores through memcpy, so any alignment works. */
typedef float v16 __attribute__((vector_size(64)));
static inline v16 load16(const float *p) {
    v16 v;
    memcpy(&v, p, sizeof v);
    return v;
}
static inline void store16(float *p, v16 v) { memcpy(p, &v, sizeof v); }

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

/* Head h of sequence b, gathered into contiguous scratch: Kt transposed
 * (hs x T, so a row of scores is a run of contiguous FMAs), and V, Q rows
 * (T x hs). */
static void gather_head(float *restrict Kt, float *restrict Vh, float *restrict Qh, const float *qkv,
                        int b, int h, int T, int Tp, int C, int hs) {
    int C3 = 3 * C;
    for (int t = 0; t < T; t++) {
        const float *row = qkv + ((long)b * T + t) * C3 + h * hs;
        for (int i = 0; i < hs; i++) Kt[(long)i * Tp + t] = row[C + i];
        memcpy(Vh + (long)t * hs, row + 2 * C, sizeof(float) * hs);
        if (Qh) memcpy(Qh + (long)t * hs, row, sizeof(float) * hs);
    }
}

/* s[j] = scale * q . k_{t0+j} for j < n (rounded up to whole tiles: Kt rows
 * are zero-padded to Tp), from the transposed keys. Each tile of 16 scores
 * stays in one vector register while the hs products accumulate into it. */
static inline void scores(float *restrict s, const float *restrict q, const float *restrict Kt, int t0,
                          int n, int Tp, int hs, float scale) {
    for (int j0 = 0; j0 < n; j0 += ATT_TILE) {
        v16 acc = {0};
        for (int i = 0; i < hs; i++) acc += q[i] * load16(Kt + (long)i * Tp + t0 + j0);
        store16(s + j0, acc * scale);
    }
}

/* Register-blocked helpers: four query rows at a time share every vector
 * load of K or V (1 load per 4 FMAs instead of 1 per FMA). */
#define QR 4

/* s_r[j] = scale * q_r . k_{t0+j}, rows r < QR, j < n rounded up to tiles */
static inline void scores4(float *const s[QR], const float *const q[QR], const float *restrict Kt, int t0,
                           int n, int Tp, int hs, float scale) {
    for (int j0 = 0; j0 < n; j0 += ATT_TILE) {
        v16 a0 = {0}, a1 = {0}, a2 = {0}, a3 = {0};
        for (int i = 0; i < hs; i++) {
            v16 k = load16(Kt + (long)i * Tp + t0 + j0);
            a0 += q[0][i] * k, a1 += q[1][i] * k, a2 += q[2][i] * k, a3 += q[3][i] * k;
        }
        store16(s[0] + j0, a0 * scale), store16(s[1] + j0, a1 * scale);
        store16(s[2] + j0, a2 * scale), store16(s[3] + j0, a3 * scale);
    }
}

/* y_r += sum_{j<n} w_r[j] x_j over hs floats, x_j = X + (x0 + j) * ldx */
static inline void wsum4(float *const y[QR], const float *const w[QR], const float *restrict X, long ldx,
                         int x0, int n, int hs) {
    int c = 0;
    for (; c + 16 <= hs; c += 16) {
        v16 a0 = load16(y[0] + c), a1 = load16(y[1] + c), a2 = load16(y[2] + c), a3 = load16(y[3] + c);
        for (int j = 0; j < n; j++) {
            v16 x = load16(X + (x0 + j) * ldx + c);
            a0 += w[0][j] * x, a1 += w[1][j] * x, a2 += w[2][j] * x, a3 += w[3][j] * x;
        }
        store16(y[0] + c, a0), store16(y[1] + c, a1), store16(y[2] + c, a2), store16(y[3] + c, a3);
    }
    for (; c < hs; c++) /* head sizes that are not a multiple of 16 */
        for (int r = 0; r < QR; r++)
            for (int j = 0; j < n; j++) y[r][c] += w[r][j] * X[(x0 + j) * ldx + c];
}

void attention_forward(float *out, float *lse, const float *qkv, int B, int T, int C, int NH) {
    int hs = C / NH, C3 = 3 * C;
    double t0_ = ls_prof_begin();
    float scale = 1.0f / sqrtf((float)hs);
    int Tp = (T + ATT_TILE - 1) / ATT_TILE * ATT_TILE;
#pragma omp parallel
    {
        float *Kt = ls_calloc((size_t)hs * Tp, sizeof(float), "attention scratch");
        float *Vh = ls_calloc((size_t)hs * T, sizeof(float), "attention scratch");
        float *o = ls_calloc((size_t)QR * hs, sizeof(float), "attention scratch");
        float sbuf[QR][ATT_TILE];
#pragma omp for collapse(2) schedule(static)
        for (int b = 0; b < B; b++)
            for (int h = 0; h < NH; h++) {
                gather_head(Kt, Vh, NULL, qkv, b, h, T, Tp, C, hs);
                for (int t0 = 0; t0 < T; t0 += QR) {
                    int nr = T - t0 < QR ? T - t0 : QR, last = t0 + nr - 1;
                    const float *q[QR];
                    float *s[QR], *orow[QR], m[QR] = {0}, l[QR] = {0};
                    for (int r = 0; r < QR; r++) { /* rows past T repeat the last one; never stored */
                        q[r] = qkv + ((long)b * T + (r < nr ? t0 + r : last)) * C3 + h * hs;
                        s[r] = sbuf[r];
                        orow[r] = o + (long)r * hs;
                    }
                    memset(o, 0, sizeof(float) * QR * hs);
                    for (int k0 = 0; k0 <= last; k0 += ATT_TILE) {
                        int n = last - k0 + 1 < ATT_TILE ? last - k0 + 1 : ATT_TILE;
                        scores4(s, q, Kt, k0, n, Tp, hs, scale);
                        for (int r = 0; r < QR; r++) {
                            /* causal: key k0+j is visible to row t0+r iff k0+j <= t0+r; every
                             * row sees key k0 (tiles are 16-aligned, row blocks 4-aligned) */
                            int vis = t0 + r - k0 + 1 < n ? t0 + r - k0 + 1 : n;
                            float mt = s[r][0];
                            for (int j = 1; j < vis; j++) mt = s[r][j] > mt ? s[r][j] : mt;
                            if (k0 == 0 || mt > m[r]) { /* new running max: rescale */
                                float alpha = k0 == 0 ? 0.0f : expf(m[r] - mt);
                                l[r] *= alpha;
                                for (int i = 0; i < hs; i++) orow[r][i] *= alpha;
                                m[r] = mt;
                            }
                            for (int j = 0; j < vis; j++) s[r][j] = expf(s[r][j] - m[r]);
                            for (int j = vis; j < n; j++) s[r][j] = 0.0f;
                            for (int j = 0; j < vis; j++) l[r] += s[r][j];
                        }
                        wsum4(orow, (const float *const *)s, Vh, hs, k0, n, hs);
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

/* y_jj += sum_{r<nr} W[r*ldw + j + jj] x_r over hs floats, for four keys jj:
 * the transposed product dK_j += sum_t ds[t][j] q_t, one load of q_t per
 * four keys. */
static inline void outer4(float *const y[QR], const float *restrict W, long ldw, int j, int nr,
                          const float *restrict X, long ldx, int hs) {
    int c = 0;
    for (; c + 16 <= hs; c += 16) {
        v16 a0 = load16(y[0] + c), a1 = load16(y[1] + c), a2 = load16(y[2] + c), a3 = load16(y[3] + c);
        for (int r = 0; r < nr; r++) {
            v16 x = load16(X + r * ldx + c);
            const float *w = W + r * ldw + j;
            a0 += w[0] * x, a1 += w[1] * x, a2 += w[2] * x, a3 += w[3] * x;
        }
        store16(y[0] + c, a0), store16(y[1] + c, a1), store16(y[2] + c, a2), store16(y[3] + c, a3);
    }
    for (; c < hs; c++)
        for (int jj = 0; jj < QR; jj++)
            for (int r = 0; r < nr; r++) y[jj][c] += W[r * ldw + j + jj] * X[r * ldx + c];
}

/* Backward, per head, in blocks of ATT_TILE query rows: first each row's
 * probabilities a (recomputed from lse) and score gradients ds (four rows
 * at a time), then
 *   dq_t = sum_j ds[t][j] k_j                      (four rows at a time)
 *   dK_j += sum_t ds[t][j] q_t,  dV_j += sum_t a[t][j] dout_t
 * with the whole block's rows applied to four dK/dV rows while they are in
 * registers, so those rank-1 updates cost one read-modify-write per block. */
void attention_backward(float *dqkv, const float *dout, const float *qkv, const float *out,
                        const float *lse, int B, int T, int C, int NH) {
    double t0_ = ls_prof_begin();
    int hs = C / NH, C3 = 3 * C, QB = ATT_TILE;
    float scale = 1.0f / sqrtf((float)hs);
    int Tp = (T + ATT_TILE - 1) / ATT_TILE * ATT_TILE;
#pragma omp parallel
    {
        /* per head: Kt, Vt (hs x Tp) transposed; Q, K, dout rows, dK, dV (T x hs);
         * one block's probabilities and score gradients (QB x Tp, one spare row
         * for the reads of the last, partial group of keys) */
        float *Kt = ls_calloc((size_t)hs * Tp, sizeof(float), "attention scratch");
        float *Vt = ls_calloc((size_t)hs * Tp, sizeof(float), "attention scratch");
        float *Vh = ls_calloc((size_t)hs * T, sizeof(float), "attention scratch");
        float *Qh = ls_calloc((size_t)hs * T, sizeof(float), "attention scratch");
        float *Kh = ls_calloc((size_t)hs * T, sizeof(float), "attention scratch");
        float *Dh = ls_calloc((size_t)hs * T, sizeof(float), "attention scratch");
        float *dK = ls_calloc((size_t)hs * T, sizeof(float), "attention scratch");
        float *dV = ls_calloc((size_t)hs * T, sizeof(float), "attention scratch");
        float *P = ls_calloc((size_t)(QB + 1) * Tp, sizeof(float), "attention scratch");
        float *dS = ls_calloc((size_t)(QB + 1) * Tp, sizeof(float), "attention scratch");
        float *dq = ls_calloc((size_t)QR * hs, sizeof(float), "attention scratch");
        float *spare = ls_calloc((size_t)QR * hs, sizeof(float), "attention scratch");
#pragma omp for collapse(2) schedule(static)
        for (int b = 0; b < B; b++)
            for (int h = 0; h < NH; h++) {
                gather_head(Kt, Vh, Qh, qkv, b, h, T, Tp, C, hs);
                for (int t = 0; t < T; t++) {
                    memcpy(Dh + (long)t * hs, dout + ((long)b * T + t) * C + h * hs, sizeof(float) * hs);
                    for (int i = 0; i < hs; i++) {
                        Vt[(long)i * Tp + t] = Vh[(long)t * hs + i];
                        Kh[(long)t * hs + i] = Kt[(long)i * Tp + t];
                    }
                }
                memset(dK, 0, sizeof(float) * hs * T);
                memset(dV, 0, sizeof(float) * hs * T);
                for (int t0 = 0; t0 < T; t0 += QB) {
                    int nb = T - t0 < QB ? T - t0 : QB, nkeys = t0 + nb; /* keys this block sees */
                    for (int g = 0; g < nb; g += QR) { /* four rows: a, ds, dq */
                        int ng = nb - g < QR ? nb - g : QR, nmax = t0 + g + ng; /* keys of the group */
                        const float *q[QR], *d[QR];
                        float *a[QR], *ds[QR], *dqr[QR];
                        for (int r = 0; r < QR; r++) {
                            int rr = g + (r < ng ? r : ng - 1); /* rows past the block repeat the last */
                            q[r] = Qh + (long)(t0 + rr) * hs;
                            d[r] = Dh + (long)(t0 + rr) * hs;
                            a[r] = r < ng ? P + (long)(g + r) * Tp : spare;
                            ds[r] = r < ng ? dS + (long)(g + r) * Tp : spare;
                            dqr[r] = dq + (long)r * hs;
                        }
                        scores4(a, q, Kt, 0, nmax, Tp, hs, scale);
                        scores4(ds, d, Vt, 0, nmax, Tp, hs, 1.0f);
                        for (int r = 0; r < ng; r++) {
                            int t = t0 + g + r, n = t + 1;
                            const float *out_t = out + ((long)b * T + t) * C + h * hs;
                            float L = lse[((long)b * NH + h) * T + t], dot = 0.0f;
                            /* a = exp(s - lse); sum_j a[j] da[j] = dout_t . out_t */
                            for (int i = 0; i < hs; i++) dot += d[r][i] * out_t[i];
                            for (int j = 0; j < n; j++) a[r][j] = expf(a[r][j] - L);
                            for (int j = 0; j < n; j++) ds[r][j] = a[r][j] * (ds[r][j] - dot) * scale;
                            for (int j = n; j < nkeys; j++) a[r][j] = ds[r][j] = 0.0f; /* causal */
                        }
                        memset(dq, 0, sizeof(float) * QR * hs);
                        wsum4(dqr, (const float *const *)ds, Kh, hs, 0, nmax, hs);
                        for (int r = 0; r < ng; r++)
                            memcpy(dqkv + ((long)b * T + t0 + g + r) * C3 + h * hs, dqr[r], sizeof(float) * hs);
                    }
                    for (int j = 0; j < nkeys; j += QR) { /* four keys: dK, dV */
                        float *yk[QR], *yv[QR];
                        for (int jj = 0; jj < QR; jj++) {
                            yk[jj] = j + jj < nkeys ? dK + (long)(j + jj) * hs : spare;
                            yv[jj] = j + jj < nkeys ? dV + (long)(j + jj) * hs : spare;
                        }
                        outer4(yk, dS, Tp, j, nb, Qh + (long)t0 * hs, hs, hs);
                        outer4(yv, P, Tp, j, nb, Dh + (long)t0 * hs, hs, hs);
                    }
                }
                for (int t = 0; t < T; t++) {
                    float *dst = dqkv + ((long)b * T + t) * C3 + h * hs;
                    memcpy(dst + C, dK + (long)t * hs, sizeof(float) * hs);
                    memcpy(dst + 2 * C, dV + (long)t * hs, sizeof(float) * hs);
                }
            }
        ls_free(Kt), ls_free(Vt), ls_free(Vh), ls_free(Qh), ls_free(Kh), ls_free(Dh);
        ls_free(dK), ls_free(dV), ls_free(P), ls_free(dS), ls_free(dq), ls_free(spare);
    }
    ls_prof_end(LS_PROF_ATTENTION, t0_);
}
