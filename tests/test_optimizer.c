/* test_optimizer.c - AdamW's threaded single-pass update against a plain
 * per-element loop of the formula in optimizer.h (bit for bit: the update is
 * element-wise, so neither the threading nor the split of the flat range may
 * change a single bit), on the micro model's layout:
 *   - adamw_step on 1 and 2 threads;
 *   - adamw_step_range over ZeRO-like slices whose ends fall inside tensors
 *     and off the 16-float lines, matching the same elements of a full step;
 *   - adamw_step_zero_grads: the same parameters and moments, and the
 *     gradient left exactly zero, or, for the kinds kept, untouched;
 *   - clipping inside the update (grad_scale) equals scaling the gradient
 *     first, bit for bit.
 * (Agreement with torch.optim.AdamW is the pytorch-ref test's job.) */
#include <math.h>
#include <omp.h>
#include <stdio.h>
#include <string.h>

#include "core/error.h"
#include "core/rng.h"
#include "model/gpt.h"
#include "train/optimizer.h"

#include "check.h"

enum { STEPS = 3 };

/* the formula, one element at a time, tensor by tensor */
static void reference_step(const GptLayout *lay, float *p, float *m, float *v, const float *g, long t,
                           const AdamWParams *hp) {
    float b1 = hp->beta1, b2 = hp->beta2, lr = hp->lr, eps = hp->eps;
    float c1 = 1.0f - powf(b1, (float)t), c2 = 1.0f - powf(b2, (float)t);
    for (int i = 0; i < lay->ntensors; i++) {
        const GptTensor *te = &lay->tensors[i];
        float decay = te->decay ? lr * hp->weight_decay : 0.0f;
        for (size_t j = te->offset; j < te->offset + (size_t)te->rows * te->cols; j++) {
            float mj = b1 * m[j] + (1.0f - b1) * g[j];
            float vj = b2 * v[j] + (1.0f - b2) * g[j] * g[j];
            m[j] = mj;
            v[j] = vj;
            float pj = p[j] - decay * p[j];
            p[j] = pj - lr * (mj / c1) / (sqrtf(vj / c2) + eps);
        }
    }
}

static int same(const float *a, const float *b, size_t n) { return memcmp(a, b, n * sizeof(float)) == 0; }

int main(void) {
    GptConfig c;
    gpt_preset("micro", &c);
    GptLayout lay;
    gpt_layout_build(&lay, &c, 0, c.num_layers, 1, 0);
    size_t n = lay.total;
    float *p0 = ls_calloc(n, 4, "p0"), *g[STEPS];
    LsRng r;
    ls_rng_seed(&r, 11);
    for (size_t i = 0; i < n; i++) p0[i] = ls_rng_normal(&r) * 0.02f;
    for (int s = 0; s < STEPS; s++) {
        g[s] = ls_calloc(n, 4, "g");
        for (size_t i = 0; i < n; i++) g[s][i] = ls_rng_normal(&r) * (i % 3 ? 1e-3f : 1.0f);
    }
    AdamWParams hp = {3e-4f, 0.9f, 0.95f, 1e-8f, 0.1f, 1.0f};

    /* the reference */
    float *pr = ls_calloc(n, 4, "pr"), *mr = ls_calloc(n, 4, "mr"), *vr = ls_calloc(n, 4, "vr");
    memcpy(pr, p0, n * 4);
    for (int s = 0; s < STEPS; s++) reference_step(&lay, pr, mr, vr, g[s], s + 1, &hp);

    /* adamw_step on 1 and 2 threads, and the fused zeroing variant */
    float *p = ls_calloc(n, 4, "p"), *gz = ls_calloc(n, 4, "gz");
    /* variant 3 keeps the gradients of the kinds the next backward overwrites
     * (the weight matrices, wte) and clears the rest */
    unsigned keep = gpt_overwritten_kinds();
    CHECK(keep != 0 && (keep >> T_WTE & 1u) && (keep >> T_QKVW & 1u) && !(keep >> T_QKVB & 1u) &&
              !(keep >> T_WPE & 1u) && !(keep >> T_LN1W & 1u),
          "gpt_overwritten_kinds: the weight matrices and wte, no vector, not wpe (0x%x)", keep);
    for (int variant = 0; variant < 4; variant++) {
        int nth = variant == 0 ? 1 : 2;
        omp_set_num_threads(nth);
        AdamW o;
        adamw_init(&o, n);
        memcpy(p, p0, n * 4);
        int zero_ok = 1, kept_ok = 1;
        for (int s = 0; s < STEPS; s++) {
            if (variant < 2) {
                adamw_step(&o, &lay, p, g[s], &hp);
            } else {
                memcpy(gz, g[s], n * 4);
                adamw_step_zero_grads(&o, &lay, 0, n, p, gz, &hp, variant == 3 ? keep : 0u);
                for (int k = 0; k < lay.ntensors; k++) {
                    const GptTensor *tt = &lay.tensors[k];
                    int kept = variant == 3 && (keep >> tt->kind & 1u);
                    for (size_t i = tt->offset; i < tt->offset + (size_t)tt->rows * tt->cols; i++) {
                        if (kept) kept_ok &= gz[i] == g[s][i];
                        else zero_ok &= gz[i] == 0.0f && !signbit(gz[i]);
                    }
                }
            }
        }
        CHECK(same(p, pr, n) && same(o.m, mr, n) && same(o.v, vr, n),
              "%s on %d threads differs from the per-element formula",
              variant < 2 ? "adamw_step" : "adamw_step_zero_grads", nth);
        if (variant >= 2) CHECK(zero_ok, "adamw_step_zero_grads left a gradient non-zero (keep 0x%x)",
                                variant == 3 ? keep : 0u);
        if (variant == 3) CHECK(kept_ok, "adamw_step_zero_grads changed a kept gradient");
        adamw_free(&o);
    }

    /* ZeRO slices: [lo, hi) cut inside tensors, off the 16-float lines */
    size_t cuts[] = {0, 7, n / 3 + 5, n / 2 - 1, n - 9, n};
    omp_set_num_threads(2);
    int slices_ok = 1;
    for (int k = 0; k + 1 < (int)(sizeof cuts / sizeof cuts[0]); k++) {
        size_t lo = cuts[k], hi = cuts[k + 1], len = hi - lo;
        AdamW o;
        adamw_init(&o, len);
        memcpy(p, p0, n * 4);
        for (int s = 0; s < STEPS; s++) adamw_step_range(&o, &lay, lo, hi, p + lo, g[s] + lo, &hp);
        slices_ok &= same(p + lo, pr + lo, len) && same(o.m, mr + lo, len) && same(o.v, vr + lo, len);
        slices_ok &= same(p, p0, lo) && same(p + hi, p0 + hi, n - hi); /* nothing outside */
        adamw_free(&o);
    }
    CHECK(slices_ok, "adamw_step_range over slices differs from the full step");

    /* clipping inside the update (grad_scale) equals the separate pass the
     * formula implies: g * f written back, then an unscaled step */
    {
        double norm = 0;
        for (size_t i = 0; i < n; i++) norm += (double)g[0][i] * g[0][i];
        norm = sqrt(norm);
        float f = grad_clip_factor(norm, 0.25f);
        CHECK(f < 1.0f && f == (float)(0.25 / norm), "grad_clip_factor: %g for norm %g, clip 0.25", f, norm);
        CHECK(grad_clip_factor(norm, 0.0f) == 1.0f && grad_clip_factor(0.1, 0.25f) == 1.0f &&
                  grad_clip_factor(NAN, 0.25f) == 1.0f,
              "grad_clip_factor: 1 when clipping is off or the norm is below the threshold");
        float *gs = ls_calloc(n, 4, "gs"), *p2 = ls_calloc(n, 4, "p2");
        for (size_t i = 0; i < n; i++) gs[i] = g[0][i] * f;
        AdamW a, b;
        adamw_init(&a, n), adamw_init(&b, n);
        memcpy(p, p0, n * 4), memcpy(p2, p0, n * 4);
        AdamWParams hs = hp;
        hs.grad_scale = f;
        adamw_step(&a, &lay, p, g[0], &hs);
        adamw_step(&b, &lay, p2, gs, &hp);
        CHECK(same(p, p2, n) && same(a.m, b.m, n) && same(a.v, b.v, n),
              "the update with grad_scale %g differs from scaling the gradient first", f);
        memcpy(p2, p0, n * 4);
        adamw_free(&b), adamw_init(&b, n);
        adamw_step(&b, &lay, p2, g[0], &hp);
        CHECK(!same(a.m, b.m, n), "the scaled update equals the unscaled one (the check above could not fail)");
        adamw_free(&a), adamw_free(&b);
        ls_free(gs), ls_free(p2);
    }

    for (int s = 0; s < STEPS; s++) ls_free(g[s]);
    ls_free(p0), ls_free(p), ls_free(gz), ls_free(pr), ls_free(mr), ls_free(vr);
    gpt_layout_free(&lay);
    return check_summary();
}
