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

/* y += a * x over n floats (n a multiple of 16 takes the vector path) */
static inline void axpy(float *restrict y, float a, const float *restrict x, int n) {
    int i = 0;
    for (; i + 16 <= n; i += 16) store16(y + i, load16(y + i) + a * load16(x + i));
    for (; i < n; i++) y[i] += a * x[i];
}

void attention_forward(float *out, float *lse, const float *qkv, int B, int T, int C, int NH) {
    double t0_ = ls_prof_begin();
    int hs = C / NH, C3 = 3 * C;
    float scale = 1.0f / sqrtf((float)hs);
    int Tp = (T + ATT_TILE - 1) / ATT_TILE * ATT_TILE;
#pragma omp parallel
    {
        float *Kt = ls_calloc((size_t)hs * Tp, sizeof(float), "attention scratch");
        float *Vh = ls_calloc((size_t)hs * T, sizeof(float), "attention scratch");
        float *o = ls_calloc((size_t)hs, sizeof(float), "attention scratch");
#pragma omp for collapse(2) schedule(static)
        for (int b = 0; b < B; b++)
            for (int h = 0; h < NH; h++) {
                gather_head(Kt, Vh, NULL, qkv, b, h, T, Tp, C, hs);
                for (int t = 0; t < T; t++) {
                    const float *q = qkv + ((long)b * T + t) * C3 + h * hs;
                    float m = 0.0f, l = 0.0f, s[ATT_TILE];
                    for (int i = 0; i < hs; i++) o[i] = 0.0f;
                    for (int t2 = 0; t2 <= t; t2 += ATT_TILE) {
                        int n = t - t2 + 1 < ATT_TILE ? t - t2 + 1 : ATT_TILE; /* causal: keys <= t */
                        scores(s, q, Kt, t2, n, Tp, hs, scale);
                        float mt = s[0];
                        for (int j = 1; j < n; j++) mt = s[j] > mt ? s[j] : mt;
                        if (t2 == 0 || mt > m) { /* new running max: rescale what we have */
                            float alpha = t2 == 0 ? 0.0f : expf(m - mt);
                            l *= alpha;
                            for (int i = 0; i < hs; i++) o[i] *= alpha;
                            m = mt;
                        }
                        for (int j = 0; j < n; j++) s[j] = expf(s[j] - m);
                        for (int j = 0; j < n; j++) {
                            l += s[j];
                            axpy(o, s[j], Vh + (long)(t2 + j) * hs, hs);
                        }
                    }
                    float inv = 1.0f / l, *dst = out + ((long)b * T + t) * C + h * hs;
                    for (int i = 0; i < hs; i++) dst[i] = o[i] * inv;
                    lse[((long)b * NH + h) * T + t] = m + logf(l);
                }
            }
        ls_free(Kt);
        ls_free(Vh);
        ls_free(o);
    }
    ls_prof_end(LS_PROF_ATTENTION, t0_);
}

/* Backward, per head, in blocks of ATT_TILE query rows: first each row's
 * probabilities a (recomputed from lse) and score gradients ds, then
 *   dq_t = sum_j ds[t][j] k_j                      (a row at a time)
 *   dK_j += sum_t ds[t][j] q_t,  dV_j += sum_t a[t][j] dout_t
 * with the whole block's rows applied to one dK/dV row while it is loaded,
 * so those rank-1 updates cost one read-modify-write per block, not per row. */
void attention_backward(float *dqkv, const float *dout, const float *qkv, const float *out,
                        const float *lse, int B, int T, int C, int NH) {
    double t0_ = ls_prof_begin();
    int hs = C / NH, C3 = 3 * C, QB = ATT_TILE;
    float scale = 1.0f / sqrtf((float)hs);
    int Tp = (T + ATT_TILE - 1) / ATT_TILE * ATT_TILE;
#pragma omp parallel
    {
        /* per head: Kt, Vt (hs x Tp) transposed; Q, K rows, dK, dV (T x hs);
         * one block's probabilities and score gradients (QB x Tp) */
        float *Kt = ls_calloc((size_t)hs * Tp, sizeof(float), "attention scratch");
        float *Vt = ls_calloc((size_t)hs * Tp, sizeof(float), "attention scratch");
        float *Vh = ls_calloc((size_t)hs * T, sizeof(float), "attention scratch");
        float *Qh = ls_calloc((size_t)hs * T, sizeof(float), "attention scratch");
        float *Kh = ls_calloc((size_t)hs * T, sizeof(float), "attention scratch");
        float *dK = ls_calloc((size_t)hs * T, sizeof(float), "attention scratch");
        float *dV = ls_calloc((size_t)hs * T, sizeof(float), "attention scratch");
        float *P = ls_calloc((size_t)QB * Tp, sizeof(float), "attention scratch");
        float *dS = ls_calloc((size_t)QB * Tp, sizeof(float), "attention scratch");
        float *dq = ls_calloc((size_t)hs, sizeof(float), "attention scratch");
#pragma omp for collapse(2) schedule(static)
        for (int b = 0; b < B; b++)
            for (int h = 0; h < NH; h++) {
                gather_head(Kt, Vh, Qh, qkv, b, h, T, Tp, C, hs);
                for (int t = 0; t < T; t++)
                    for (int i = 0; i < hs; i++) {
                        Vt[(long)i * Tp + t] = Vh[(long)t * hs + i];
                        Kh[(long)t * hs + i] = Kt[(long)i * Tp + t];
                    }
                memset(dK, 0, sizeof(float) * hs * T);
                memset(dV, 0, sizeof(float) * hs * T);
                for (int t0 = 0; t0 < T; t0 += QB) {
                    int nb = T - t0 < QB ? T - t0 : QB, nkeys = t0 + nb; /* keys this block sees */
                    for (int r = 0; r < nb; r++) {
                        int t = t0 + r, n = t + 1;
                        const float *q = Qh + (long)t * hs;
                        const float *dout_t = dout + ((long)b * T + t) * C + h * hs;
                        const float *out_t = out + ((long)b * T + t) * C + h * hs;
                        float L = lse[((long)b * NH + h) * T + t];
                        float *a = P + (long)r * Tp, *ds = dS + (long)r * Tp;
                        /* the row's probabilities, recomputed: a = exp(s - lse); 0 past t */
                        scores(a, q, Kt, 0, n, Tp, hs, scale);
                        for (int j = 0; j < n; j++) a[j] = expf(a[j] - L);
                        for (int j = n; j < nkeys; j++) a[j] = 0.0f;
                        /* da[j] = dout_t . v_j; sum_j a[j] da[j] = dout_t . out_t */
                        scores(ds, dout_t, Vt, 0, n, Tp, hs, 1.0f);
                        float dot = 0.0f;
                        for (int i = 0; i < hs; i++) dot += dout_t[i] * out_t[i];
                        for (int j = 0; j < n; j++) ds[j] = a[j] * (ds[j] - dot) * scale;
                        for (int j = n; j < nkeys; j++) ds[j] = 0.0f;
                        for (int i = 0; i < hs; i++) dq[i] = 0.0f;
                        for (int j = 0; j < n; j++) axpy(dq, ds[j], Kh + (long)j * hs, hs);
                        memcpy(dqkv + ((long)b * T + t) * C3 + h * hs, dq, sizeof(float) * hs);
                    }
                    for (int j = 0; j < nkeys; j++) {
                        float *restrict dk = dK + (long)j * hs, *restrict dv = dV + (long)j * hs;
                        for (int r = j > t0 ? j - t0 : 0; r < nb; r++) { /* rows t >= j only */
                            axpy(dk, dS[(long)r * Tp + j], Qh + (long)(t0 + r) * hs, hs);
                            axpy(dv, P[(long)r * Tp + j], dout + ((long)b * T + t0 + r) * C + h * hs, hs);
                        }
                    }
                }
                for (int t = 0; t < T; t++) {
                    float *d = dqkv + ((long)b * T + t) * C3 + h * hs;
                    memcpy(d + C, dK + (long)t * hs, sizeof(float) * hs);
                    memcpy(d + 2 * C, dV + (long)t * hs, sizeof(float) * hs);
                }
            }
        ls_free(Kt), ls_free(Vt), ls_free(Vh), ls_free(Qh), ls_free(Kh), ls_free(dK), ls_free(dV);
        ls_free(P), ls_free(dS), ls_free(dq);
    }
    ls_prof_end(LS_PROF_ATTENTION, t0_);
}
