/* gelu.c - GELU with the tanh approximation (GPT-2's):
 *     gelu(x) = 0.5 x (1 + tanh(u)),  u = sqrt(2/pi) (x + 0.044715 x^3)
 *     gelu'(x) = 0.5 (1 + tanh(u)) + 0.5 x (1 - tanh(u)^2) sqrt(2/pi) (1 + 3*0.044715 x^2)
 * With AVX-512 the same functions are computed through the logistic
 * function s = 1 / (1 + exp(-2u)), since 0.5 (1 + tanh(u)) = s and
 * 1 - tanh(u)^2 = 4 s (1 - s):
 *     gelu(x) = x s,   gelu'(x) = s + 2 x s (1 - s) sqrt(2/pi) (1 + 3*0.044715 x^2)
 * with vexp.h's exponential and reciprocal (ls_vsigmoid) instead of
 * libmvec's tanhf, which made these passes compute-bound (GPT-2 124M,
 * T=256: 86 -> 48 ms per step, docs/CPU_SPEED.md). The scalar loops are
 * the fallback for CPUs without AVX-512; tests/test_kernels.c checks the
 * kernels against the tanh formula in double precision.
 * Also the residual add, the other purely elementwise op of a block.
 * Built with -ffast-math (Makefile) so the fallback's tanhf vectorises
 * through glibc's libmvec. */
#include <math.h>

#include "kernels.h"
#include "profile.h"
#include "vexp.h"

#define GELU_K 0.7978845608028654f /* sqrt(2/pi) */
#define GELU_A 0.044715f

#ifdef LS_HAVE_VEXP
static void gelu_forward_avx512(float *out, const float *x, long n) {
    const __m512 k = _mm512_set1_ps(GELU_K), a = _mm512_set1_ps(GELU_A);
#pragma omp parallel for schedule(static)
    for (long i = 0; i < n; i += 16) { /* whole vectors; the last one masked */
        __mmask16 m = ls_vtail(n - i);
        __m512 v = _mm512_maskz_loadu_ps(m, x + i);
        __m512 u = _mm512_mul_ps(k, _mm512_fmadd_ps(_mm512_mul_ps(a, v), _mm512_mul_ps(v, v), v));
        __m512 s = ls_vsigmoid(_mm512_add_ps(u, u));
        _mm512_mask_storeu_ps(out + i, m, _mm512_mul_ps(v, s));
    }
}

static void gelu_backward_avx512(float *dx, const float *x, const float *dout, long n) {
    const __m512 k = _mm512_set1_ps(GELU_K), a = _mm512_set1_ps(GELU_A), one = _mm512_set1_ps(1.0f);
    const __m512 k2 = _mm512_set1_ps(2.0f * GELU_K), a3 = _mm512_set1_ps(3.0f * GELU_A);
#pragma omp parallel for schedule(static)
    for (long i = 0; i < n; i += 16) {
        __mmask16 m = ls_vtail(n - i);
        __m512 v = _mm512_maskz_loadu_ps(m, x + i), v2 = _mm512_mul_ps(v, v);
        __m512 u = _mm512_mul_ps(k, _mm512_fmadd_ps(_mm512_mul_ps(a, v), v2, v));
        __m512 s = ls_vsigmoid(_mm512_add_ps(u, u));
        /* 2 x s (1 - s) K (1 + 3 A x^2) + s */
        __m512 t = _mm512_mul_ps(_mm512_mul_ps(k2, v), _mm512_fmadd_ps(a3, v2, one));
        __m512 g = _mm512_fmadd_ps(_mm512_mul_ps(t, s), _mm512_sub_ps(one, s), s);
        _mm512_mask_storeu_ps(dx + i, m, _mm512_mul_ps(g, _mm512_maskz_loadu_ps(m, dout + i)));
    }
}
#endif

void gelu_forward(float *out, const float *x, long n) {
    double t0_ = ls_prof_begin();
#ifdef LS_HAVE_VEXP
    gelu_forward_avx512(out, x, n);
#else
#pragma omp parallel for schedule(static)
    for (long i = 0; i < n; i++) {
        float v = x[i];
        float u = GELU_K * (v + GELU_A * v * v * v);
        out[i] = 0.5f * v * (1.0f + tanhf(u));
    }
#endif
    ls_prof_end(LS_PROF_GELU, t0_);
}

void gelu_backward(float *dx, const float *x, const float *dout, long n) {
    double t0_ = ls_prof_begin();
#ifdef LS_HAVE_VEXP
    gelu_backward_avx512(dx, x, dout, n);
#else
#pragma omp parallel for schedule(static)
    for (long i = 0; i < n; i++) {
        float v = x[i];
        float u = GELU_K * (v + GELU_A * v * v * v);
        float th = tanhf(u);
        float sech2 = 1.0f - th * th;
        float grad = 0.5f * (1.0f + th) + 0.5f * v * sech2 * GELU_K * (1.0f + 3.0f * GELU_A * v * v);
        dx[i] = grad * dout[i];
    }
#endif
    ls_prof_end(LS_PROF_GELU, t0_);
}

void residual_forward(float *out, const float *a, const float *b, long n) {
    double t0_ = ls_prof_begin();
#pragma omp parallel for schedule(static)
    for (long i = 0; i < n; i++) out[i] = a[i] + b[i];
    ls_prof_end(LS_PROF_GELU, t0_);
}
