/* layernorm.c - LayerNorm over the channel dimension (eps = 1e-5).
 *
 * Forward, per row x of C values:
 *     mean = sum(x)/C,  var = sum((x-mean)^2)/C,  rstd = 1/sqrt(var + eps)
 *     n = (x - mean) * rstd,  out = n * w + b
 * Backward, with g = dout * w (gradient w.r.t. n):
 *     dx = rstd * (g - mean(g) - n * mean(g * n))
 *     dw = sum over rows of dout * n,  db = sum over rows of dout
 * dx is per row (parallel over rows); dw/db sum over rows, parallelised over
 * channel ranges so every sum runs in row order whatever the thread count. */
#include <math.h>
#include <omp.h>

#include "kernels.h"
#include "profile.h"

/* One row: statistics and normalised output. */
static inline void layernorm_row(float *oi, float *mean, float *rstd, const float *xi, const float *w,
                                 const float *b, int C) {
    float m = 0.0f;
    for (int c = 0; c < C; c++) m += xi[c];
    m /= C;
    float v = 0.0f;
    for (int c = 0; c < C; c++) {
        float d = xi[c] - m;
        v += d * d;
    }
    v /= C;
    float s = 1.0f / sqrtf(v + 1e-5f);
    for (int c = 0; c < C; c++) oi[c] = (xi[c] - m) * s * w[c] + b[c];
    *mean = m;
    *rstd = s;
}

void layernorm_forward(float *out, float *mean, float *rstd, const float *x, const float *w,
                       const float *b, int N, int C) {
    double t0_ = ls_prof_begin();
#pragma omp parallel for schedule(static)
    for (int i = 0; i < N; i++)
        layernorm_row(out + (long)i * C, mean + i, rstd + i, x + (long)i * C, w, b, C);
    ls_prof_end(LS_PROF_LAYERNORM, t0_);
}

/* Fused: the row of res = a + b is formed and normalised while it is in L1,
 * one pass over memory instead of residual_forward + layernorm_forward. */
void residual_layernorm_forward(float *res, float *out, float *mean, float *rstd, const float *a,
                                const float *b, const float *w, const float *bias, int N, int C) {
    double t0_ = ls_prof_begin();
#pragma omp parallel for schedule(static)
    for (int i = 0; i < N; i++) {
        float *ri = res + (long)i * C;
        const float *ai = a + (long)i * C, *bi = b + (long)i * C;
        for (int c = 0; c < C; c++) ri[c] = ai[c] + bi[c];
        layernorm_row(out + (long)i * C, mean + i, rstd + i, ri, w, bias, C);
    }
    ls_prof_end(LS_PROF_LAYERNORM, t0_);
}

void layernorm_backward(float *dx, float *dw, float *db, const float *dout, const float *x,
                        const float *w, const float *mean, const float *rstd, int N, int C) {
    double t0_ = ls_prof_begin();
#pragma omp parallel for schedule(static)
    for (int i = 0; i < N; i++) {
        const float *xi = x + (long)i * C, *di = dout + (long)i * C;
        float *dxi = dx + (long)i * C;
        float m = mean[i], s = rstd[i];
        float gmean = 0.0f, gnmean = 0.0f;
        for (int c = 0; c < C; c++) {
            float n = (xi[c] - m) * s;
            float g = di[c] * w[c];
            gmean += g;
            gnmean += g * n;
        }
        gmean /= C;
        gnmean /= C;
        for (int c = 0; c < C; c++) {
            float n = (xi[c] - m) * s;
            float g = di[c] * w[c];
            dxi[c] += s * (g - gmean - n * gnmean);
        }
    }
#pragma omp parallel
    {
        int nth = omp_get_num_threads(), id = omp_get_thread_num();
        int c0 = (int)((long)C * id / nth), c1 = (int)((long)C * (id + 1) / nth);
        for (int i = 0; i < N; i++) {
            const float *xi = x + (long)i * C, *di = dout + (long)i * C;
            float m = mean[i], s = rstd[i];
            for (int c = c0; c < c1; c++) {
                db[c] += di[c];
                dw[c] += di[c] * (xi[c] - m) * s;
            }
        }
    }
    ls_prof_end(LS_PROF_LAYERNORM, t0_);
}
