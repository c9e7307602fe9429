/* gpt_init.c - GPT-2 weight initialisation (as GPT-2 / llm.c's train_gpt2.py):
 *   weights ~ N(0, 0.02); the two residual-branch output projections
 *   (attprojw, fcprojw) ~ N(0, 0.02 / sqrt(2 L)) so the residual stream's
 *   variance does not grow with depth; biases 0; LayerNorm weight 1, bias 0;
 *   padded vocabulary rows of wte 0 (they are never used by the loss).
 * Each FULL tensor draws from its own generator seeded by (seed, kind, layer)
 * in canonical element order, and a rank keeps its shard of it: the initial
 * model is the same whatever the layout. */
#include <math.h>
#include <string.h>

#include "../core/error.h"
#include "../core/rng.h"
#include "gpt.h"

void gpt_init_random(Gpt *m, uint64_t seed) {
    const GptLayout *lay = &m->lay;
    const GptConfig *c = &m->cfg;
    for (int i = 0; i < lay->ntensors; i++) {
        const GptTensor *t = &lay->tensors[i];
        int fr, fc;
        gpt_full_shape(c, t->kind, &fr, &fc);
        size_t n = (size_t)fr * fc;
        float *full = ls_calloc(n, sizeof(float), "init buffer");
        float std = 0.02f;
        if (t->kind == T_ATTPROJW || t->kind == T_FCPROJW) std = 0.02f / sqrtf(2.0f * c->num_layers);
        switch (t->kind) {
        case T_LN1W: case T_LN2W: case T_LNFW:
            for (size_t j = 0; j < n; j++) full[j] = 1.0f;
            break;
        case T_QKVW: case T_ATTPROJW: case T_FCW: case T_FCPROJW: case T_WTE: case T_WPE: {
            LsRng r;
            ls_rng_seed(&r, seed * 0x100000001B3ull + (uint64_t)t->kind * 65537u +
                                (uint64_t)(t->layer + 1) * 0x9E3779B97F4A7C15ull);
            size_t nreal = n;
            if (t->kind == T_WTE) nreal = (size_t)c->vocab_size * c->channels; /* padded rows stay 0 */
            for (size_t j = 0; j < nreal; j++) full[j] = std * ls_rng_normal(&r);
            break;
        }
        default: break; /* biases: 0 */
        }
        gpt_shard_extract(lay, t, full, m->params + t->offset);
        ls_free(full);
    }
}
