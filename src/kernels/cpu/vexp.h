/* vexp.h - exp of 16 floats at once (AVX-512), for the kernels whose time
 * goes into exponentials: GELU (through the logistic function), softmax
 * cross-entropy and attention's softmax.
 *
 * glibc's vector expf/tanhf (libmvec, reached through -ffast-math) handle
 * every input range with several code paths; measured here, GELU forward
 * and backward spent ~100 cycles per 16 elements in them, 3x the time of
 * the memory traffic. The version below is one straight sequence:
 *     exp(x) = 2^n e^f,   n = round(x / ln 2),   f = x - n ln 2,  |f| <= ln2/2
 * f is computed in two steps (ln 2 split into a high part exact in float
 * and a small correction, Cody and Waite) so n ln 2 costs no precision;
 * e^f is its Taylor polynomial to degree 7 (truncation error
 * 0.347^8 / 8! = 5e-9 relative, below float's 6e-8 rounding), evaluated by
 * Horner's rule with FMAs; 2^n is applied by vscalefps, which returns inf
 * or 0 (no garbage) when n leaves float's exponent range. Inputs are
 * clamped to [-104, 89] first (exp(-104) is below the smallest denormal,
 * exp(89) above FLT_MAX), so the result is 0 .. inf for finite x, and NaN
 * for NaN. Against libm's exp in double, rounded to float, on 2^24 inputs
 * over [-100, 88]: at most 1 ulp apart (tests/test_kernels.c checks <= 2). */
#ifndef LS_VEXP_H
#define LS_VEXP_H

#if defined(__AVX512F__)
#include <immintrin.h>
#define LS_HAVE_VEXP 1

static inline __m512 ls_vexp(__m512 x) {
    const __m512 log2e = _mm512_set1_ps(1.44269504088896341f);
    const __m512 ln2_hi = _mm512_set1_ps(0.693359375f); /* 355/512, 9 bits: n * ln2_hi is exact */
    const __m512 ln2_lo = _mm512_set1_ps(-2.12194440e-4f);
    __mmask16 nan = _mm512_cmp_ps_mask(x, x, _CMP_UNORD_Q);
    __m512 x0 = x;
    x = _mm512_min_ps(_mm512_max_ps(x, _mm512_set1_ps(-104.0f)), _mm512_set1_ps(89.0f));
    __m512 n = _mm512_roundscale_ps(_mm512_mul_ps(x, log2e), _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
    __m512 f = _mm512_fnmadd_ps(n, ln2_hi, x);
    f = _mm512_fnmadd_ps(n, ln2_lo, f);
    __m512 p = _mm512_set1_ps(1.0f / 5040.0f); /* 1/7! */
    p = _mm512_fmadd_ps(p, f, _mm512_set1_ps(1.0f / 720.0f));
    p = _mm512_fmadd_ps(p, f, _mm512_set1_ps(1.0f / 120.0f));
    p = _mm512_fmadd_ps(p, f, _mm512_set1_ps(1.0f / 24.0f));
    p = _mm512_fmadd_ps(p, f, _mm512_set1_ps(1.0f / 6.0f));
    p = _mm512_fmadd_ps(p, f, _mm512_set1_ps(0.5f));
    p = _mm512_fmadd_ps(p, f, _mm512_set1_ps(1.0f));
    p = _mm512_fmadd_ps(p, f, _mm512_set1_ps(1.0f));
    /* the clamp turned NaN into -104; a NaN input stays NaN (a non-finite
     * logit must reach the loss, where the trainer looks for it) */
    return _mm512_mask_mov_ps(_mm512_scalef_ps(p, n), nan, x0);
}

/* 1 / (1 + exp(-z)), the logistic function. The reciprocal of d = 1 + exp(-z)
 * is vrcp14ps's estimate (relative error < 2^-14) refined by one Newton step,
 * r' = r (2 - d r), whose error is the square of the estimate's (< 2^-28):
 * cheaper than vdivps, whose throughput bounded GELU. -z is clamped to 80
 * so d stays finite (for z < -80 the result, e^-80 = 2e-35 instead of less,
 * is 0 for every purpose). */
static inline __m512 ls_vsigmoid(__m512 z) {
    const __m512 one = _mm512_set1_ps(1.0f), two = _mm512_set1_ps(2.0f);
    __m512 nz = _mm512_min_ps(_mm512_sub_ps(_mm512_setzero_ps(), z), _mm512_set1_ps(80.0f));
    __m512 d = _mm512_add_ps(one, ls_vexp(nz));
    __m512 r = _mm512_rcp14_ps(d);
    return _mm512_mul_ps(r, _mm512_fnmadd_ps(d, r, two));
}

/* mask of the first n (0..16) lanes, for loop tails */
static inline __mmask16 ls_vtail(long n) { return n >= 16 ? (__mmask16)0xFFFF : (__mmask16)((1u << n) - 1); }
#else
#include <math.h>
#endif

/* Row helpers of the softmax cross-entropy (one row of logits, n values):
 *   ls_sum_exp(z, n, m)          = sum_v exp(z[v] - m), summed in double
 *                                  (a 50257-term sum of values <= 1);
 *   ls_exp_scale(z, n, l, s)     z[v] = exp(z[v] - l) * s, in place. */
static inline double ls_sum_exp(const float *z, long n, float m) {
#ifdef LS_HAVE_VEXP
    __m512d acc0 = _mm512_setzero_pd(), acc1 = _mm512_setzero_pd();
    const __m512 mv = _mm512_set1_ps(m);
    for (long v = 0; v < n; v += 16) {
        __mmask16 k = ls_vtail(n - v);
        /* lanes past the row are zeroed after the exp */
        __m512 e = _mm512_maskz_mov_ps(k, ls_vexp(_mm512_sub_ps(_mm512_maskz_loadu_ps(k, z + v), mv)));
        __m256 hi = _mm256_castpd_ps(_mm512_extractf64x4_pd(_mm512_castps_pd(e), 1));
        acc0 = _mm512_add_pd(acc0, _mm512_cvtps_pd(_mm512_castps512_ps256(e)));
        acc1 = _mm512_add_pd(acc1, _mm512_cvtps_pd(hi));
    }
    return _mm512_reduce_add_pd(_mm512_add_pd(acc0, acc1));
#else
    double sum = 0.0;
    for (long v = 0; v < n; v++) sum += expf(z[v] - m);
    return sum;
#endif
}

static inline void ls_exp_scale(float *z, long n, float l, float s) {
#ifdef LS_HAVE_VEXP
    const __m512 lv = _mm512_set1_ps(l), sv = _mm512_set1_ps(s);
    for (long v = 0; v < n; v += 16) {
        __mmask16 k = ls_vtail(n - v);
        __m512 e = ls_vexp(_mm512_sub_ps(_mm512_maskz_loadu_ps(k, z + v), lv));
        _mm512_mask_storeu_ps(z + v, k, _mm512_mul_ps(e, sv));
    }
#else
    for (long v = 0; v < n; v++) z[v] = expf(z[v] - l) * s;
#endif
}

#endif
