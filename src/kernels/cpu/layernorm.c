/* layernorm.c - LayerNorm over the channel dimension (eps = 1e-5).
 *
 * Forward, per row x of C values:
 *     mean = sum(x)/C,  var = sum((x-mean)^2)/C,  rstd = 1/sqrt(var + eps)
 *     n = (x - mean) * rstd,  out = n * w + b
 * Backward, with g = dout * w (gradient w.r.t. n):
 *     dx = rstd * (g - mean(g) - n * mean(g * n))
 *     dw = sum over rows of dout * n,  db = sum over rows of dout
 * dx is per row (parallel over rows); dw/db sum over rows, parallelised over
 * channel ranges so every sum runs in row order whatever the thread count.
 *
 * The sums over a row's C channels run in 32 lanes (two vectors of 16, lane
 * k summing channels k, k+32, ...), then the lanes are added in a fixed
 * order: a deterministic order like the sequential one, but not a chain of
 * C dependent additions (4 cycles each: at C = 768 the sequential sums made
 * LayerNorm ~4x slower than its memory traffic). */
#include <math.h>
#include <omp.h>
#include "kernels.h"
#include "profile.h"
#include "v16.h"

static inline float lanes_sum(v16 a, v16 b) {
    v16 t = a + b;
    float s = 0.0f;
    for (int k = 0; k < 16; k++) s += t[k];
    return s;
}

/* sum_c x[c] */
static inline float row_sum(const float *x, int C) {
    v16 a = {0}, b = {0};
    int c = 0;
    for (; c + 32 <= C; c += 32) a += load16(x + c), b += load16(x + c + 16);
    float s = lanes_sum(a, b);
    for (; c < C; c++) s += x[c];
    return s;
}

/* sum_c (x[c] - m)^2 */
static inline float row_sqdev(const float *x, float m, int C) {
    v16 a = {0}, b = {0};
    int c = 0;
    for (; c + 32 <= C; c += 32) {
        v16 d0 = load16(x + c) - m, d1 = load16(x + c + 16) - m;
        a += d0 * d0, b += d1 * d1;
    }
    float s = lanes_sum(a, b);
    for (; c < C; c++) s += (x[c] - m) * (x[c] - m);
    return s;
}

/* *sg = sum_c g[c], *sgn = sum_c g[c] n[c], with g = dout w and n = (x - m) s */
static inline void row_gsums(float *sg, float *sgn, const float *x, const float *d, const float *w, float m,
                             float s, int C) {
    v16 g0 = {0}, g1 = {0}, n0 = {0}, n1 = {0};
    int c = 0;
    for (; c + 32 <= C; c += 32) {
        v16 ga = load16(d + c) * load16(w + c), gb = load16(d + c + 16) * load16(w + c + 16);
        g0 += ga, g1 += gb;
        n0 += ga * ((load16(x + c) - m) * s), n1 += gb * ((load16(x + c + 16) - m) * s);
    }
    float a = lanes_sum(g0, g1), b = lanes_sum(n0, n1);
    for (; c < C; c++) {
        float g = d[c] * w[c];
        a += g;
        b += g * ((x[c] - m) * s);
    }
    *sg = a, *sgn = b;
}

/* One row: statistics and normalised output. */
static inline void layernorm_row(float *oi, float *mean, float *rstd, const float *xi, const float *w,
                                 const float *b, int C) {
    float m = row_sum(xi, C) / C;
    float v = row_sqdev(xi, m, C) / C;
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
        float gmean, gnmean;
        row_gsums(&gmean, &gnmean, xi, di, w, m, s, C);
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
