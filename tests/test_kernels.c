/* test_kernels.c - each optimised kernel against its reference version, on
 * random inputs (the references themselves are checked against PyTorch by
 * tests/test_reference.sh through the whole model).
 *   attention_forward/_backward (flash style, online softmax, no T x T) vs
 *     attention_forward_ref/_backward_ref (materialised probabilities), for
 *     T across tile boundaries and scores large enough that the running max
 *     changes often. Tolerance 2e-5 of the largest |value|: both are fp32,
 *     summed in different orders (relative round-off ~1e-7 per operation,
 *     sums of <= 64 terms and one exp/log each); outputs are poisoned (NaN)
 *     first, and a perturbed reference must fail the same comparison.
 *   residual_layernorm_forward vs residual_forward + layernorm_forward: the
 *     same operations in the same order, so bit-identical.
 *   classifier_forward/_backward vs matmul + cross-entropy called apart:
 *     bit-identical.
 *   gelu_forward/_backward (vexp.h's exp through the logistic function on
 *     AVX-512) and crossentropy_forward/_backward (vexp.h's exp) against the
 *     formulas evaluated in double with tanh/exp from libm, over inputs from
 *     0 to +-1e4 (exp under- and overflow inside): a float evaluation is
 *     a few ulp (1e-7 relative) from double, so the bounds below (2e-6 of
 *     the value's scale) fail for any wrong term or an exp off by > ~20 ulp. */
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include "core/error.h"
#include "core/rng.h"
#include "kernels/cpu/kernels.h"
#include "kernels/cpu/vexp.h"

#include "check.h"

static void fill(float *x, size_t n, LsRng *r, float scale) {
    for (size_t i = 0; i < n; i++) x[i] = scale * ls_rng_normal(r);
}

static double max_rel(const float *a, const float *ref, size_t n) {
    double md = 0, mr = 0;
    for (size_t i = 0; i < n; i++) {
        double d = fabs((double)a[i] - ref[i]);
        if (!(d <= md)) md = d; /* NaN propagates */
        mr = fmax(mr, fabs(ref[i]));
    }
    return md / (mr > 0 ? mr : 1);
}

static void test_attention(int B, int T, int C, int NH, float qscale) {
    LsRng r;
    ls_rng_seed(&r, (uint64_t)(T * 131 + NH));
    size_t nqkv = (size_t)B * T * 3 * C, nout = (size_t)B * T * C;
    float *qkv = ls_calloc(nqkv, 4, "t"), *dout = ls_calloc(nout, 4, "t");
    float *out = ls_calloc(nout, 4, "t"), *out_ref = ls_calloc(nout, 4, "t");
    float *att = ls_calloc((size_t)B * NH * T * T, 4, "t"), *lse = ls_calloc((size_t)B * NH * T, 4, "t");
    float *dqkv = ls_calloc(nqkv, 4, "t"), *dqkv_ref = ls_calloc(nqkv, 4, "t");
    fill(qkv, nqkv, &r, qscale);
    fill(dout, nout, &r, 1.0f);
    for (size_t i = 0; i < nout; i++) out[i] = NAN;
    for (size_t i = 0; i < nqkv; i++) dqkv[i] = NAN;
    attention_forward_ref(out_ref, att, qkv, B, T, C, NH);
    attention_forward(out, lse, qkv, B, T, C, NH);
    attention_backward_ref(dqkv_ref, dout, qkv, att, B, T, C, NH);
    attention_backward(dqkv, dout, qkv, out, lse, B, T, C, NH);
    double eo = max_rel(out, out_ref, nout), ed = max_rel(dqkv, dqkv_ref, nqkv);
    CHECK(eo <= 2e-5, "attention forward B=%d T=%d C=%d NH=%d: %.3g", B, T, C, NH, eo);
    CHECK(ed <= 2e-5, "attention backward B=%d T=%d C=%d NH=%d: %.3g", B, T, C, NH, ed);
    dqkv_ref[nqkv / 2] += 1e-3f * (float)fabs(dqkv_ref[nqkv / 2]) + 1e-2f;
    CHECK(max_rel(dqkv, dqkv_ref, nqkv) > 2e-5, "self-check: a perturbed reference is detected");
    ls_free(qkv), ls_free(dout), ls_free(out), ls_free(out_ref), ls_free(att), ls_free(lse);
    ls_free(dqkv), ls_free(dqkv_ref);
}

static void test_residual_layernorm(void) {
    int N = 37, C = 96;
    LsRng r;
    ls_rng_seed(&r, 5);
    size_t n = (size_t)N * C;
    float *a = ls_calloc(n, 4, "t"), *b = ls_calloc(n, 4, "t"), *w = ls_calloc(C, 4, "t"), *bias = ls_calloc(C, 4, "t");
    float *res = ls_calloc(n, 4, "t"), *out = ls_calloc(n, 4, "t"), *m = ls_calloc(N, 4, "t"), *s = ls_calloc(N, 4, "t");
    float *res2 = ls_calloc(n, 4, "t"), *out2 = ls_calloc(n, 4, "t"), *m2 = ls_calloc(N, 4, "t"), *s2 = ls_calloc(N, 4, "t");
    fill(a, n, &r, 2.0f), fill(b, n, &r, 1.0f), fill(w, C, &r, 1.0f), fill(bias, C, &r, 1.0f);
    residual_layernorm_forward(res, out, m, s, a, b, w, bias, N, C);
    residual_forward(res2, a, b, (long)n);
    layernorm_forward(out2, m2, s2, res2, w, bias, N, C);
    CHECK(!memcmp(res, res2, n * 4) && !memcmp(out, out2, n * 4) && !memcmp(m, m2, N * 4) &&
              !memcmp(s, s2, N * 4), "fused residual+layernorm equals the two kernels");
    ls_free(a), ls_free(b), ls_free(w), ls_free(bias), ls_free(res), ls_free(out), ls_free(m), ls_free(s);
    ls_free(res2), ls_free(out2), ls_free(m2), ls_free(s2);
}

static void test_classifier(void) {
    int N = 21, C = 40, V = 100, Vp = 128;
    LsRng r;
    ls_rng_seed(&r, 9);
    float *x = ls_calloc((size_t)N * C, 4, "t"), *wte = ls_calloc((size_t)Vp * C, 4, "t");
    float *lg = ls_calloc((size_t)N * Vp, 4, "t"), *lg2 = ls_calloc((size_t)N * Vp, 4, "t");
    float *loss = ls_calloc(N, 4, "t"), *lse = ls_calloc(N, 4, "t"), *loss2 = ls_calloc(N, 4, "t"), *lse2 = ls_calloc(N, 4, "t");
    float *dx = ls_calloc((size_t)N * C, 4, "t"), *dx2 = ls_calloc((size_t)N * C, 4, "t");
    float *dw = ls_calloc((size_t)Vp * C, 4, "t"), *dw2 = ls_calloc((size_t)Vp * C, 4, "t");
    int32_t tg[21];
    for (int i = 0; i < N; i++) tg[i] = (int32_t)ls_rng_below(&r, (uint64_t)V);
    fill(x, (size_t)N * C, &r, 1.0f), fill(wte, (size_t)Vp * C, &r, 0.5f);
    classifier_forward(lg, loss, lse, x, wte, tg, N, C, V, Vp);
    matmul_forward(lg2, x, wte, NULL, N, C, Vp);
    crossentropy_forward(loss2, lse2, lg2, tg, N, V, Vp);
    CHECK(!memcmp(lg, lg2, (size_t)N * Vp * 4) && !memcmp(loss, loss2, N * 4), "classifier forward");
    classifier_backward(dx, dw, lg, lse, x, wte, tg, 0.25f, N, C, V, Vp);
    crossentropy_backward(lg2, lse2, tg, 0.25f, N, V, Vp);
    matmul_backward(dx2, dw2, NULL, lg2, x, wte, N, C, Vp);
    CHECK(!memcmp(dx, dx2, (size_t)N * C * 4) && !memcmp(dw, dw2, (size_t)Vp * C * 4), "classifier backward");
    double sum = 0; /* and the loss is a real cross-entropy: loss >= 0, mean near log(V) for random logits */
    for (int i = 0; i < N; i++) sum += loss[i];
    CHECK(sum / N > 0.5 * log(V) && sum / N < 3 * log(V), "classifier loss magnitude %g", sum / N);
    ls_free(x), ls_free(wte), ls_free(lg), ls_free(lg2), ls_free(loss), ls_free(lse), ls_free(loss2), ls_free(lse2);
    ls_free(dx), ls_free(dx2), ls_free(dw), ls_free(dw2);
}

/* vexp.h's exp against libm's exp in double, rounded to float: at most 2 ulp
 * (the header claims 1, measured) over [-100, 88] where the result is a
 * normal float; 0 / inf outside float's range, never NaN. */
static void test_vexp(void) {
#ifdef LS_HAVE_VEXP
    long n = 1 << 20;
    int64_t worst = 0;
    float at = 0;
    for (long i = 0; i < n; i += 16) {
        float in[16], out[16];
        for (int j = 0; j < 16; j++) in[j] = -100.0f + 188.0f * (float)(i + j) / (float)n;
        _mm512_storeu_ps(out, ls_vexp(_mm512_loadu_ps(in)));
        for (int j = 0; j < 16; j++) {
            float ref = (float)exp((double)in[j]);
            if (ref < 1.2e-38f) continue; /* denormal results: not compared */
            int32_t a, b;
            memcpy(&a, &out[j], 4), memcpy(&b, &ref, 4);
            int64_t u = a > b ? (int64_t)a - b : (int64_t)b - a;
            if (u > worst) worst = u, at = in[j];
        }
    }
    CHECK(worst <= 2, "vexp: %lld ulp from exp at %g", (long long)worst, at);
    float o16[16];
    _mm512_storeu_ps(o16, ls_vexp(_mm512_set1_ps(NAN)));
    CHECK(isnan(o16[0]), "vexp(NaN) = %g", o16[0]);
    const float far[4] = {-1e30f, -200.0f, 100.0f, 1e30f}, want[4] = {0.0f, 0.0f, INFINITY, INFINITY};
    for (int k = 0; k < 4; k++) {
        float o[16];
        _mm512_storeu_ps(o, ls_vexp(_mm512_set1_ps(far[k])));
        CHECK(o[0] == want[k], "vexp(%g) = %g", far[k], o[0]);
    }
#else
    printf("vexp: no AVX-512 here, the kernels use expf\n");
#endif
}

static void test_gelu(void) {
    long n = 100003; /* not a multiple of 16: the masked tail */
    LsRng r;
    ls_rng_seed(&r, 5);
    float *x = ls_calloc((size_t)n, 4, "t"), *y = ls_calloc((size_t)n, 4, "t");
    float *d = ls_calloc((size_t)n, 4, "t"), *dx = ls_calloc((size_t)n, 4, "t");
    fill(x, (size_t)n, &r, 4.0f), fill(d, (size_t)n, &r, 1.0f);
    const float edge[] = {0.0f, -1e4f, 1e4f, -30.0f, 30.0f, -9.0f, 1e-20f, -0.75f};
    for (int i = 0; i < 8; i++) x[i * 7] = edge[i];
    for (long i = 0; i < n; i++) y[i] = dx[i] = NAN;
    gelu_forward(y, x, n);
    gelu_backward(dx, x, d, n);
    double ef = 0, eb = 0;
    for (long i = 0; i < n; i++) {
        double v = x[i], k = 0.7978845608028654, th = tanh(k * (v + 0.044715 * v * v * v));
        double g = 0.5 * v * (1 + th);
        double gp = (0.5 * (1 + th) + 0.5 * v * (1 - th * th) * k * (1 + 3 * 0.044715 * v * v)) * d[i];
        double e1 = fabs(y[i] - g) / (fabs(v) + 1e-30), e2 = fabs(dx[i] - gp) / (fabs(d[i]) * (1 + fabs(v)));
        if (!(e1 <= ef)) ef = e1; /* NaN propagates */
        if (!(e2 <= eb)) eb = e2;
    }
    CHECK(ef <= 2e-6, "gelu forward vs double: %.3g of |x|", ef);
    CHECK(eb <= 2e-6, "gelu backward vs double: %.3g of |dout| (1 + |x|)", eb);
    ls_free(x), ls_free(y), ls_free(d), ls_free(dx);
}

static void test_crossentropy(void) {
    int N = 5, V = 1000, Vp = 1024; /* V not a multiple of 16: the masked tail */
    LsRng r;
    ls_rng_seed(&r, 6);
    float *z = ls_calloc((size_t)N * Vp, 4, "t"), *z0 = ls_calloc((size_t)N * Vp, 4, "t");
    float *loss = ls_calloc(N, 4, "t"), *lse = ls_calloc(N, 4, "t");
    int32_t tg[5];
    fill(z, (size_t)N * Vp, &r, 8.0f); /* exp(z - max) spans below float's range */
    for (int i = 0; i < N; i++) tg[i] = (int32_t)ls_rng_below(&r, (uint64_t)V);
    memcpy(z0, z, (size_t)N * Vp * 4);
    crossentropy_forward(loss, lse, z, tg, N, V, Vp);
    crossentropy_backward(z, lse, tg, 0.5f, N, V, Vp);
    double el = 0, eg = 0;
    for (int i = 0; i < N; i++) {
        const float *zi = z0 + (long)i * Vp;
        double m = zi[0], s = 0;
        for (int v = 1; v < V; v++) m = fmax(m, zi[v]);
        for (int v = 0; v < V; v++) s += exp((double)zi[v] - m);
        double l = m + log(s);
        el = fmax(el, fabs(loss[i] - (l - zi[tg[i]])) / fabs(l));
        for (int v = 0; v < Vp; v++) {
            double g = v < V ? 0.5 * (exp((double)zi[v] - l) - (v == tg[i])) : 0.0;
            double e = fabs(z[(long)i * Vp + v] - g);
            if (!(e <= eg)) eg = e;
        }
    }
    CHECK(el <= 2e-6, "cross-entropy loss vs double: %.3g relative", el);
    /* a NaN logit anywhere in a row (not the target) makes that row's loss NaN:
     * the trainer detects non-finite steps by the loss and the gradient */
    memcpy(z, z0, (size_t)N * Vp * 4);
    z[(long)2 * Vp + (tg[2] + 1) % V] = NAN;
    crossentropy_forward(loss, lse, z, tg, N, V, Vp);
    CHECK(isnan(loss[2]) && !isnan(loss[1]), "NaN logit -> NaN loss (%g, %g)", loss[2], loss[1]);
    /* the probabilities are exp(z - lse) with lse a float near 30: its rounding
     * (ulp 2e-6) is the bound, times dloss */
    CHECK(eg <= 1e-6, "cross-entropy gradient vs double: %.3g (of dloss 0.5)", eg);
    ls_free(z), ls_free(z0), ls_free(loss), ls_free(lse);
}

int main(void) {
    test_attention(2, 1, 32, 2, 1.0f);    /* a single position */
    test_attention(2, 37, 64, 4, 1.0f);   /* across tile boundaries */
    test_attention(1, 64, 48, 3, 3.0f);   /* large scores: the running max moves */
    test_attention(3, 130, 128, 2, 2.0f); /* head size 64, several tiles */
    test_attention(2, 45, 72, 3, 2.0f);   /* head size 24: the scalar tail */
    test_attention(2, 40, 32, 2, 12.0f);  /* scores in the hundreds: exp overflows unless each
                                           * row's running max is right */
    test_attention(1, 301, 96, 2, 2.0f);  /* head size 48 (32 + 16 columns), T > 256: score rows
                                           * longer than a head's row (the spare buffer) */
    test_residual_layernorm();
    test_classifier();
    test_vexp();
    test_gelu();
    test_crossentropy();
    return check_summary();
}
