/* crossentropy.c - softmax cross-entropy on the LM head's logits.
 *
 * Only the first V of the Vp (padded) columns are real tokens; the padding
 * exists for GEMM-friendly shapes and never enters the softmax. Per row i:
 *     lse_i = log sum_{v<V} exp(z_iv)        (computed with the max subtracted)
 *     loss_i = lse_i - z_i,target
 * Backward of dloss * loss_i w.r.t. z_iv is dloss * (softmax_v - [v == target]),
 * written in place over the logits so the (N, Vp) matrix is not stored twice.
 * The exponentials are vexp.h's (AVX-512; expf elsewhere). Built with
 * -ffast-math (Makefile); nothing here relies on infinities or NaN semantics. */
#include <math.h>

#include "kernels.h"
#include "profile.h"
#include "vexp.h"

void crossentropy_forward(float *losses, float *lse, const float *logits, const int32_t *target,
                          int N, int V, int Vp) {
    double t0_ = ls_prof_begin();
#pragma omp parallel for schedule(static)
    for (int i = 0; i < N; i++) {
        const float *z = logits + (long)i * Vp;
        float maxv = z[0]; /* no infinities here: this file is built with -ffast-math */
        for (int v = 1; v < V; v++) maxv = z[v] > maxv ? z[v] : maxv;
        float l = maxv + (float)log(ls_sum_exp(z, V, maxv));
        lse[i] = l;
        losses[i] = l - z[target[i]];
    }
    ls_prof_end(LS_PROF_CLASSIFIER, t0_);
}

void crossentropy_backward(float *logits, const float *lse, const int32_t *target, float dloss,
                           int N, int V, int Vp) {
    double t0_ = ls_prof_begin();
#pragma omp parallel for schedule(static)
    for (int i = 0; i < N; i++) {
        float *z = logits + (long)i * Vp;
        float l = lse[i];
        ls_exp_scale(z, V, l, dloss);
        for (int v = V; v < Vp; v++) z[v] = 0.0f;
        z[target[i]] -= dloss;
    }
    ls_prof_end(LS_PROF_CLASSIFIER, t0_);
}
