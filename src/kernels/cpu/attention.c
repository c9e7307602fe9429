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
 * own head's slices, so threads never race. This version materialises the
 * (T x T) probabilities; fine for the sequence lengths trained on a CPU. */
#include <math.h>
#include <string.h>

#include "../../core/error.h"
#include "kernels.h"
#include "profile.h"

void attention_forward(float *out, float *att, const float *qkv, int B, int T, int C, int NH) {
    double t0_ = ls_prof_begin();
    int hs = C / NH, C3 = 3 * C;
    float scale = 1.0f / sqrtf((float)hs);
#pragma omp parallel for collapse(2) schedule(static)
    for (int b = 0; b < B; b++)
        for (int h = 0; h < NH; h++) {
            for (int t = 0; t < T; t++) {
                const float *q = qkv + ((long)b * T + t) * C3 + h * hs;
                float *a = att + (((long)b * NH + h) * T + t) * T;
                float maxv = -INFINITY;
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

void attention_backward(float *dqkv, const float *dout, const float *qkv, const float *att, int B,
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
