/* gpt_infer.c - see gpt_infer.h. The per-position math is the training
 * forward's (gpt.c) with N = 1 row; only attention differs: the single query
 * attends to the cached keys 0..pos, which is exactly the causal mask. */
#include "gpt_infer.h"

#include <math.h>
#include <string.h>

#include "../core/error.h"
#include "../kernels/cpu/kernels.h"

void gpt_kv_init(GptKV *kv, const Gpt *m) {
    const GptConfig *c = &m->cfg;
    size_t C = c->channels, L = c->num_layers, T = c->max_seq_len;
    if (!m->lay.has_embed || !m->lay.has_head || m->lay.tp != 1)
        ls_fatal("internal: sampling needs the whole model on one rank");
    kv->maxT = (int)T;
    kv->k = ls_calloc(L * T * C, sizeof(float), "KV cache (keys)");
    kv->v = ls_calloc(L * T * C, sizeof(float), "KV cache (values)");
    kv->x = ls_calloc(C, sizeof(float), "sample state");
    kv->ln = ls_calloc(C, sizeof(float), "sample state");
    kv->qkv = ls_calloc(3 * C, sizeof(float), "sample state");
    kv->atty = ls_calloc(C, sizeof(float), "sample state");
    kv->tmp = ls_calloc(C, sizeof(float), "sample state");
    kv->fch = ls_calloc(4 * C, sizeof(float), "sample state");
    kv->fchg = ls_calloc(4 * C, sizeof(float), "sample state");
    kv->att = ls_calloc(T, sizeof(float), "sample state");
    kv->logits = ls_calloc((size_t)c->padded_vocab_size, sizeof(float), "sample logits");
    kv->mean = ls_calloc(1, sizeof(float), "sample state");
    kv->rstd = ls_calloc(1, sizeof(float), "sample state");
}

void gpt_kv_free(GptKV *kv) {
    float *ps[] = {kv->k, kv->v, kv->x, kv->ln, kv->qkv, kv->atty, kv->tmp, kv->fch,
                   kv->fchg, kv->att, kv->logits, kv->mean, kv->rstd};
    for (size_t i = 0; i < sizeof ps / sizeof ps[0]; i++) ls_free(ps[i]);
    memset(kv, 0, sizeof *kv);
}

const float *gpt_infer_step(const Gpt *m, GptKV *kv, int token, int pos) {
    const GptConfig *c = &m->cfg;
    int C = c->channels, NH = c->num_heads, hs = C / NH, L = c->num_layers;
    if (pos < 0 || pos >= kv->maxT) ls_fatal("position %d is beyond the model's max sequence %d", pos, kv->maxT);
    if (token < 0 || token >= c->vocab_size) ls_fatal("token id %d is outside the vocab (%d)", token, c->vocab_size);
    encoder_forward(kv->x, &token, m->p.wte, m->p.wpe + (size_t)pos * C, 1, 1, C);
    float scale = 1.0f / sqrtf((float)hs);
    for (int l = 0; l < L; l++) {
        const GptLayerTensors *w = &m->p.layer[l];
        float *K = kv->k + (size_t)l * kv->maxT * C, *Vc = kv->v + (size_t)l * kv->maxT * C;
        layernorm_forward(kv->ln, kv->mean, kv->rstd, kv->x, w->ln1w, w->ln1b, 1, C);
        matmul_forward(kv->qkv, kv->ln, w->qkvw, w->qkvb, 1, C, 3 * C);
        memcpy(K + (size_t)pos * C, kv->qkv + C, sizeof(float) * C);
        memcpy(Vc + (size_t)pos * C, kv->qkv + 2 * C, sizeof(float) * C);
        for (int h = 0; h < NH; h++) {
            const float *q = kv->qkv + h * hs;
            float maxv = -INFINITY, sum = 0.0f;
            for (int t = 0; t <= pos; t++) {
                const float *k = K + (size_t)t * C + h * hs;
                float s = 0.0f;
                for (int i = 0; i < hs; i++) s += q[i] * k[i];
                kv->att[t] = s * scale;
                if (kv->att[t] > maxv) maxv = kv->att[t];
            }
            for (int t = 0; t <= pos; t++) sum += (kv->att[t] = expf(kv->att[t] - maxv));
            float *o = kv->atty + h * hs;
            memset(o, 0, sizeof(float) * hs);
            for (int t = 0; t <= pos; t++) {
                const float *v = Vc + (size_t)t * C + h * hs;
                float a = kv->att[t] / sum;
                for (int i = 0; i < hs; i++) o[i] += a * v[i];
            }
        }
        matmul_forward(kv->tmp, kv->atty, w->attprojw, w->attprojb, 1, C, C);
        residual_forward(kv->x, kv->x, kv->tmp, C);
        layernorm_forward(kv->ln, kv->mean, kv->rstd, kv->x, w->ln2w, w->ln2b, 1, C);
        matmul_forward(kv->fch, kv->ln, w->fcw, w->fcb, 1, C, 4 * C);
        gelu_forward(kv->fchg, kv->fch, 4 * C);
        matmul_forward(kv->tmp, kv->fchg, w->fcprojw, w->fcprojb, 1, 4 * C, C);
        residual_forward(kv->x, kv->x, kv->tmp, C);
    }
    layernorm_forward(kv->ln, kv->mean, kv->rstd, kv->x, m->p.lnfw, m->p.lnfb, 1, C);
    matmul_forward(kv->logits, kv->ln, m->p.wte, NULL, 1, C, c->padded_vocab_size);
    return kv->logits;
}
