/* vocab_parallel.c - the local halves of Megatron's vocabulary-parallel
 * embedding and cross-entropy, and the bias add after a row-parallel product.
 *
 * With tensor parallelism of degree t, rank r holds rows [v0, v0 + Vl) of the
 * (padded) token embedding wte, Vl = Vp / t. The pieces below compute what one
 * rank can alone; the model combines them with all-reduces over the
 * tensor-parallel group (gpt.c):
 *
 *   embedding   out = allreduce_sum( wte_r[tok - v0] if tok in range else 0 ) + wpe
 *               (adding zeros is exact, so the sum equals the unsplit lookup)
 *   loss        m   = allreduce_max( max over local real columns of z )
 *               S   = allreduce_sum( sum over local real columns of exp(z - m) )
 *               z_y = allreduce_sum( z[target] on the rank that owns it, else 0 )
 *               lse = m + log S,  loss = lse - z_y
 *   backward    dz = dloss * (exp(z - lse) - [v == target]) on the local columns,
 *               no communication; the (N, Vp) logits are never gathered.
 * Only the first V of the Vp columns are real tokens. Built with -ffast-math
 * like crossentropy.c: no infinities are relied on (a rank whose columns are
 * all padding reports the lowest finite float as its maximum). */
#include <float.h>
#include <math.h>
#include <omp.h>

#include "kernels.h"
#include "profile.h"
#include "vexp.h"

void vp_encoder_forward(float *out, const int32_t *tok, const float *wte, int v0, int Vl, int N,
                        int C) {
    double t0_ = ls_prof_begin();
#pragma omp parallel for schedule(static)
    for (int i = 0; i < N; i++) {
        float *o = out + (long)i * C;
        int v = tok[i] - v0;
        if (v >= 0 && v < Vl) {
            const float *e = wte + (long)v * C;
            for (int c = 0; c < C; c++) o[c] = e[c];
        } else {
            for (int c = 0; c < C; c++) o[c] = 0.0f;
        }
    }
    ls_prof_end(LS_PROF_EMBED, t0_);
}

void add_position_rows(float *out, const float *wpe, int B, int T, int C) {
#pragma omp parallel for collapse(2) schedule(static)
    for (int b = 0; b < B; b++)
        for (int t = 0; t < T; t++) {
            float *o = out + ((long)b * T + t) * C;
            const float *p = wpe + (long)t * C;
            for (int c = 0; c < C; c++) o[c] += p[c];
        }
}

void vp_encoder_backward(float *dwte, float *dwpe, const float *dout, const int32_t *tok, int v0,
                         int Vl, int B, int T, int C) {
    double t0_ = ls_prof_begin();
#pragma omp parallel
    { /* channel ranges per thread, as encoder_backward: race-free, fixed order */
        int nth = omp_get_num_threads(), id = omp_get_thread_num();
        int c0 = (int)((long)C * id / nth), c1 = (int)((long)C * (id + 1) / nth);
        for (int b = 0; b < B; b++)
            for (int t = 0; t < T; t++) {
                const float *d = dout + ((long)b * T + t) * C;
                int v = tok[b * T + t] - v0;
                float *p = dwpe + (long)t * C;
                for (int c = c0; c < c1; c++) p[c] += d[c];
                if (v < 0 || v >= Vl) continue;
                float *e = dwte + (long)v * C;
                for (int c = c0; c < c1; c++) e[c] += d[c];
            }
    }
    ls_prof_end(LS_PROF_EMBED, t0_);
}

void bias_add_rows(float *out, const float *bias, int N, int C) {
#pragma omp parallel for schedule(static)
    for (int i = 0; i < N; i++) {
        float *o = out + (long)i * C;
        for (int c = 0; c < C; c++) o[c] += bias[c];
    }
}

/* number of real (non-padding) columns among this rank's [v0, v0 + Vl) */
static int real_cols(int v0, int Vl, int V) {
    int n = V - v0;
    return n < 0 ? 0 : n > Vl ? Vl : n;
}

void vp_ce_local_max(float *mx, const float *logits, int N, int v0, int Vl, int V) {
    int nr = real_cols(v0, Vl, V);
#pragma omp parallel for schedule(static)
    for (int i = 0; i < N; i++) {
        const float *z = logits + (long)i * Vl;
        float m = -FLT_MAX;
        for (int v = 0; v < nr; v++) m = z[v] > m ? z[v] : m;
        mx[i] = m;
    }
}

void vp_ce_local_sums(float *sumexp, float *zt, const float *logits, const float *mx,
                      const int32_t *target, int N, int v0, int Vl, int V) {
    int nr = real_cols(v0, Vl, V);
#pragma omp parallel for schedule(static)
    for (int i = 0; i < N; i++) {
        const float *z = logits + (long)i * Vl;
        sumexp[i] = (float)ls_sum_exp(z, nr, mx[i]);
        int y = target[i] - v0;
        zt[i] = (y >= 0 && y < nr) ? z[y] : 0.0f;
    }
}

void vp_ce_finish(float *losses, float *lse, const float *mx, const float *sumexp, const float *zt,
                  int N) {
    for (int i = 0; i < N; i++) {
        lse[i] = mx[i] + logf(sumexp[i]);
        losses[i] = lse[i] - zt[i];
    }
}

void vp_ce_backward(float *logits, const float *lse, const int32_t *target, float dloss, int N,
                    int v0, int Vl, int V) {
    int nr = real_cols(v0, Vl, V);
#pragma omp parallel for schedule(static)
    for (int i = 0; i < N; i++) {
        float *z = logits + (long)i * Vl;
        float l = lse[i];
        ls_exp_scale(z, nr, l, dloss);
        for (int v = nr; v < Vl; v++) z[v] = 0.0f;
        int y = target[i] - v0;
        if (y >= 0 && y < nr) z[y] -= dloss;
    }
}
