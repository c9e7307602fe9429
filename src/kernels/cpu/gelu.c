/* gelu.c - GELU with the tanh approximation (GPT-2's):
 *     gelu(x) = 0.5 x (1 + tanh(u)),  u = sqrt(2/pi) (x + 0.044715 x^3)
 *     gelu'(x) = 0.5 (1 + tanh(u)) + 0.5 x (1 - tanh(u)^2) sqrt(2/pi) (1 + 3*0.044715 x^2)
 * Also the residual add, the other purely elementwise op of a block.
 * Built with -ffast-math (Makefile) so tanhf vectorises through glibc's libmvec. */
#include <math.h>

#include "kernels.h"
#include "profile.h"

#define GELU_K 0.7978845608028654f /* sqrt(2/pi) */

void gelu_forward(float *out, const float *x, long n) {
    double t0_ = ls_prof_begin();
#pragma omp parallel for schedule(static)
    for (long i = 0; i < n; i++) {
        float v = x[i];
        float u = GELU_K * (v + 0.044715f * v * v * v);
        out[i] = 0.5f * v * (1.0f + tanhf(u));
    }
    ls_prof_end(LS_PROF_GELU, t0_);
}

void gelu_backward(float *dx, const float *x, const float *dout, long n) {
    double t0_ = ls_prof_begin();
#pragma omp parallel for schedule(static)
    for (long i = 0; i < n; i++) {
        float v = x[i];
        float u = GELU_K * (v + 0.044715f * v * v * v);
        float th = tanhf(u);
        float sech2 = 1.0f - th * th;
        float grad = 0.5f * (1.0f + th) + 0.5f * v * sech2 * GELU_K * (1.0f + 3.0f * 0.044715f * v * v);
        dx[i] = grad * dout[i];
    }
    ls_prof_end(LS_PROF_GELU, t0_);
}

void residual_forward(float *out, const float *a, const float *b, long n) {
    double t0_ = ls_prof_begin();
#pragma omp parallel for schedule(static)
    for (long i = 0; i < n; i++) out[i] = a[i] + b[i];
    ls_prof_end(LS_PROF_GELU, t0_);
}
