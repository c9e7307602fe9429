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

/* K (or V) of head h of sequence b, transposed: dst[i*T + t] = src_t[i] */
static void gather_transposed(float *dst, const float *qkv, int which, int b, int h, int T, int C, int hs) {
    int C3 = 3 * C;
    for (int t = 0; t < T; t++) {
        const float *src = qkv + ((long)b * T + t) * C3 + which * C + h * hs;
        for (int i = 0; i < hs; i++) dst[(long)i * T + t] = src[i];
    }
}

/* s[j] = scale * q . k_{t0+j} for j < n, from the transposed keys */
static inline void scores(float *s, const float *q, const float *Kt, int t0, int n, int T, int hs,
                          float scale) {
    for (int j = 0; j < n; j++) s[j] = 0.0f;
    for (int i = 0; i < hs; i++) {
        const float *k = Kt + (long)i * T + t0;
        float qi = q[i];
        for (int j = 0; j < n; j++) s[j] += qi * k[j];
    }
    for (int j = 0; j < n; j++) s[j] *= scale;
}

void attention_forward(float *out, float *lse, const float *qkv, int B, int T, int C, int NH) {
    double t0_ = ls_prof_begin();
    int hs = C / NH, C3 = 3 * C;
    float scale = 1.0f / sqrtf((float)hs);
#pragma omp parallel
    {
        float *Kt = ls_calloc((size_t)hs * T, sizeof(float), "attention scratch");
#pragma omp for collapse(2) schedule(static)
        for (int b = 0; b < B; b++)
            for (int h = 0; h < NH; h++) {
                gather_transposed(Kt, qkv, 1, b, h, T, C, hs);
                for (int t = 0; t < T; t++) {
                    const float *q = qkv + ((long)b * T + t) * C3 + h * hs;
                    float *o = out + ((long)b * T + t) * C + h * hs;
                    float m = 0.0f, l = 0.0f, s[ATT_TILE];
                    for (int i = 0; i < hs; i++) o[i] = 0.0f;
                    for (int t2 = 0; t2 <= t; t2 += ATT_TILE) {
                        int n = t - t2 + 1 < ATT_TILE ? t - t2 + 1 : ATT_TILE; /* causal: keys <= t */
                        scores(s, q, Kt, t2, n, T, hs, scale);
                        float mt = s[0];
                        for (int j = 1; j < n; j++) mt = s[j] > mt ? s[j] : mt;
                        if (t2 == 0 || mt > m) { /* new running max: rescale what we have */
                            float alpha = t2 == 0 ? 0.0f : expf(m - mt);
                            l *= alpha;
                            for (int i = 0; i < hs; i++) o[i] *= alpha;
                            m = mt;
                        }
                        for (int j = 0; j < n; j++) {
                            float p = expf(s[j] - m);
                            const float *v = qkv + ((long)b * T + t2 + j) * C3 + 2 * C + h * hs;
                            l += p;
                            for (int i = 0; i < hs; i++) o[i] += p * v[i];
                        }
                    }
                    float inv = 1.0f / l;
                    for (int i = 0; i < hs; i++) o[i] *= inv;
                    lse[((long)b * NH + h) * T + t] = m + logf(l);
                }
            }
        ls_free(Kt);
    }
    ls_prof_end(LS_PROF_ATTENTION, t0_);
}

void attention_backward(float *dqkv, const float *dout, const float *qkv, const float *out,
                        const float *lse, int B, int T, int C, int NH) {
    double t0_ = ls_prof_begin();
    int hs = C / NH, C3 = 3 * C;
    float scale = 1.0f / sqrtf((float)hs);
#pragma omp parallel
    {
        float *Kt = ls_calloc((size_t)hs * T, sizeof(float), "attention scratch");
        float *Vt = ls_calloc((size_t)hs * T, sizeof(float), "attention scratch");
        float *a = ls_calloc((size_t)T, sizeof(float), "attention scratch");
        float *ds = ls_calloc((size_t)T, sizeof(float), "attention scratch");
#pragma omp for collapse(2) schedule(static)
        for (int b = 0; b < B; b++)
            for (int h = 0; h < NH; h++) {
                gather_transposed(Kt, qkv, 1, b, h, T, C, hs);
                gather_transposed(Vt, qkv, 2, b, h, T, C, hs);
                for (int t = 0; t < T; t++) {
                    float *d = dqkv + ((long)b * T + t) * C3 + h * hs;
                    memset(d, 0, sizeof(float) * hs);
                    memset(d + C, 0, sizeof(float) * hs);
                    memset(d + 2 * C, 0, sizeof(float) * hs);
                }
                for (int t = 0; t < T; t++) {
                    const float *q = qkv + ((long)b * T + t) * C3 + h * hs;
                    const float *dout_t = dout + ((long)b * T + t) * C + h * hs;
                    const float *out_t = out + ((long)b * T + t) * C + h * hs;
                    float *dq = dqkv + ((long)b * T + t) * C3 + h * hs;
                    float L = lse[((long)b * NH + h) * T + t];
                    int n = t + 1;
                    /* the row's probabilities, recomputed: a = exp(s - lse) */
                    scores(a, q, Kt, 0, n, T, hs, scale);
                    for (int j = 0; j < n; j++) a[j] = expf(a[j] - L);
                    /* da[j] = dout_t . v_j, from the transposed values */
                    for (int j = 0; j < n; j++) ds[j] = 0.0f;
                    for (int i = 0; i < hs; i++) {
                        const float *v = Vt + (long)i * T;
                        float g = dout_t[i];
                        for (int j = 0; j < n; j++) ds[j] += g * v[j];
                    }
                    float dot = 0.0f; /* sum_j a[j] da[j] = dout_t . out_t */
                    for (int i = 0; i < hs; i++) dot += dout_t[i] * out_t[i];
                    for (int j = 0; j < n; j++) ds[j] = a[j] * (ds[j] - dot) * scale;
                    for (int j = 0; j < n; j++) {
                        const float *k = qkv + ((long)b * T + j) * C3 + C + h * hs;
                        float *dk = dqkv + ((long)b * T + j) * C3 + C + h * hs;
                        float *dv = dqkv + ((long)b * T + j) * C3 + 2 * C + h * hs;
                        float dsj = ds[j], aj = a[j];
                        for (int i = 0; i < hs; i++) {
                            dq[i] += dsj * k[i];
                            dk[i] += dsj * q[i];
                            dv[i] += aj * dout_t[i];
                        }
                    }
                }
            }
        ls_free(Kt);
        ls_free(Vt);
        ls_free(a);
        ls_free(ds);
    }
    ls_prof_end(LS_PROF_ATTENTION, t0_);
}
