/* optimizer.c - see optimizer.h. */
#include "optimizer.h"

#include <math.h>
#include <omp.h>
#include <string.h>

#include "../core/error.h"

void adamw_init(AdamW *o, size_t n) {
    memset(o, 0, sizeof *o);
    o->n = n;
    o->m = ls_calloc(n, sizeof(float), "AdamW first moment");
    o->v = ls_calloc(n, sizeof(float), "AdamW second moment");
}

void adamw_free(AdamW *o) {
    ls_free(o->m);
    ls_free(o->v);
    memset(o, 0, sizeof *o);
}

void adamw_step(AdamW *o, const GptLayout *lay, float *params, const float *grads,
                const AdamWParams *hp) {
    adamw_step_range(o, lay, 0, lay->total, params, grads, hp);
}

/* The update of n consecutive elements of one tensor (decay = lr * wd, or 0
 * for biases and gains). If zero is not NULL (it is g), the gradient is
 * cleared right after it is read, in the same pass. */
static void update(float *p, float *m, float *v, const float *g, float *zero, long n, float gs, float b1,
                   float b2, float lr, float eps, float decay, float c1, float c2) {
#pragma omp simd
    for (long j = 0; j < n; j++) {
        float gj = g[j] * gs;
        float mj = b1 * m[j] + (1.0f - b1) * gj;
        float vj = b2 * v[j] + (1.0f - b2) * gj * gj;
        m[j] = mj;
        v[j] = vj;
        float pj = p[j] - decay * p[j];
        p[j] = pj - lr * (mj / c1) / (sqrtf(vj / c2) + eps);
        if (zero) zero[j] = 0.0f;
    }
}

/* One parallel region for the whole range: each thread takes a contiguous
 * share of [lo, hi) (cut at multiples of 16 floats, one cache line) and walks
 * the tensors inside it, instead of one region per tensor (148 at GPT-2
 * small, each waking the sleeping threads). Every element gets the same
 * arithmetic as before, so results do not depend on the thread count. */
static void step(AdamW *o, const GptLayout *lay, size_t lo, size_t hi, float *params,
                 const float *grads, float *zero, unsigned keep, const AdamWParams *hp) {
    o->t++;
    float b1 = hp->beta1, b2 = hp->beta2, lr = hp->lr, eps = hp->eps;
    float c1 = 1.0f - powf(b1, (float)o->t);
    float c2 = 1.0f - powf(b2, (float)o->t);
#pragma omp parallel
    {
        int nth = omp_get_num_threads(), id = omp_get_thread_num();
        size_t lines = (hi - lo + 15) / 16;
        size_t a = lo + lines * id / nth * 16, b = lo + lines * (id + 1) / nth * 16;
        if (b > hi) b = hi;
        for (int i = 0; i < lay->ntensors && a < b; i++) {
            /* the part of tensor i inside this thread's [a, b), range-relative */
            const GptTensor *t = &lay->tensors[i];
            size_t t0 = t->offset, t1 = t->offset + (size_t)t->rows * t->cols;
            size_t s0 = t0 > a ? t0 : a, s1 = t1 < b ? t1 : b;
            if (s0 >= s1) continue;
            size_t r = s0 - lo;
            float *z = zero && !(keep >> t->kind & 1u) ? zero + r : NULL;
            update(params + r, o->m + r, o->v + r, grads + r, z, (long)(s1 - s0),
                   hp->grad_scale, b1, b2, lr, eps, t->decay ? lr * hp->weight_decay : 0.0f, c1, c2);
        }
    }
}

void adamw_step_range(AdamW *o, const GptLayout *lay, size_t lo, size_t hi, float *params,
                      const float *grads, const AdamWParams *hp) {
    step(o, lay, lo, hi, params, grads, NULL, 0u, hp);
}

void adamw_step_zero_grads(AdamW *o, const GptLayout *lay, size_t lo, size_t hi, float *params,
                           float *grads, const AdamWParams *hp, unsigned keep_kinds) {
    step(o, lay, lo, hi, params, grads, grads, keep_kinds, hp);
}

float lr_at(LrSchedule s, float lr_max, float lr_min, int warmup, long step, long total) {
    if (step < warmup) return lr_max * (float)(step + 1) / (float)warmup;
    if (s == LR_CONSTANT) return lr_max;
    long span = total - warmup;
    if (span <= 1) return lr_max;
    double frac = (double)(step - warmup) / (double)(span - 1); /* 0 .. 1 */
    if (frac > 1.0) frac = 1.0;
    return lr_min + 0.5f * (lr_max - lr_min) * (float)(1.0 + cos(M_PI * frac));
}

float grad_clip_factor(double norm, float clip) {
    return clip <= 0.0f || !(norm > clip) ? 1.0f : (float)(clip / norm);
}
