/* memory.c - bytes on one rank (see memory.h). */
#include "memory.h"

#include <stdio.h>

#include "../model/gpt.h"
#include "../model/gpt_layout.h"
#include "../parallel/zero.h"

const PlanPrecision PLAN_PREC_LLMSCALE_FP32 = {4, 4, 0, 8, 4};
const PlanPrecision PLAN_PREC_MIXED = {2, 2, 4, 8, 2};

size_t plan_zero_shard_len(size_t n, int dp) { return zero_shard_len(n, dp); }

/* llmscale's ZeRO staging on pipeline rank r (summed over its chunks). */
static double llmscale_staging(const GptConfig *cfg, const PlanLayout *l, int r, double mb) {
    if (l->zero == 0) return 0;
    int stages = l->pp * l->vpp, per = cfg->num_layers / stages;
    double bytes = 0;
    for (int c = 0; c < l->vpp; c++) {
        int st = c * l->pp + r;
        GptLayout lay;
        gpt_layout_build(&lay, cfg, st * per, (st + 1) * per, l->tp, 0);
        bytes += zero_staging_bytes(&lay, l->zero, l->dp, (size_t)(mb * 1048576.0 / 4.0));
        gpt_layout_free(&lay);
    }
    return bytes;
}

int plan_layout_check(const GptConfig *c, const PlanLayout *l, char *why, size_t n) {
#define BAD(...) return snprintf(why, n, __VA_ARGS__), 1
    if (l->dp < 1 || l->tp < 1 || l->pp < 1 || l->vpp < 1 || l->micro_batch < 1 || l->seq < 1 ||
        l->num_micro < 1)
        BAD("every degree, the micro-batch, seq and micro-batch count must be >= 1");
    if (l->zero < 0 || l->zero > 3) BAD("ZeRO stage must be 0, 1, 2 or 3 (got %d)", l->zero);
    if (c->num_heads % l->tp) BAD("tp %d does not divide the %d attention heads", l->tp, c->num_heads);
    if (c->num_layers % (l->pp * l->vpp)) {
        if (l->vpp > 1)
            BAD("pp %d x interleave %d does not divide the %d layers", l->pp, l->vpp, c->num_layers);
        BAD("pp %d does not divide the %d layers", l->pp, c->num_layers);
    }
    if (l->vpp > 1 && l->pp < 2) BAD("interleaving (%d virtual stages) needs pp >= 2", l->vpp);
    if (l->vpp > 1 && l->num_micro % l->pp)
        BAD("the interleaved schedule needs micro-batches (%d) divisible by pp (%d)", l->num_micro, l->pp);
    if (l->seq > c->max_seq_len) BAD("seq %d exceeds the model's %d positions", l->seq, c->max_seq_len);
    if (l->sp && l->seq % l->tp) BAD("sequence parallelism needs tp %d to divide seq %d", l->tp, l->seq);
    return 0;
#undef BAD
}

double plan_rank_params(const GptConfig *cfg, int tp, int pp, int vpp, int pp_rank, double *largest) {
    int stages = pp * vpp, per = cfg->num_layers / stages;
    double total = 0, big = 0;
    /* The layout reads only the padded vocabulary; capping the real one keeps
     * gpt_config_validate's token-shard warning (uint16 tokens) from repeating
     * for every layout a search evaluates (the command warns once). */
    GptConfig c = *cfg;
    if (c.vocab_size > 65536) c.vocab_size = 65536;
    cfg = &c;
    for (int c = 0; c < vpp; c++) {
        int st = c * pp + pp_rank;
        GptLayout lay;
        gpt_layout_build(&lay, cfg, st * per, (st + 1) * per, tp, 0);
        total += (double)lay.total;
        /* units: embedding (wte wpe), each layer, head (lnf; the tied wte on a
         * last stage that is not also the first is part of the head unit) */
        double emb = 0, head = 0, layer = 0;
        for (int i = 0; i < lay.ntensors; i++) {
            const GptTensor *t = &lay.tensors[i];
            double sz = (double)t->rows * t->cols;
            if (t->layer >= 0) layer += t->layer == lay.layer_begin ? sz : 0;
            else if (t->kind == T_WPE || (t->kind == T_WTE && lay.has_embed)) emb += sz;
            else head += sz;
        }
        if (emb > big) big = emb;
        if (layer > big) big = layer;
        if (head > big) big = head;
        gpt_layout_free(&lay);
    }
    if (largest) *largest = big;
    return total;
}

double plan_act_layer_bytes_megatron(const GptConfig *c, int b, int s, int t, int sp, PlanRecompute rc,
                                     int act_bytes) {
    double h = c->channels, a = c->num_heads, sbh = (double)s * b * h, bytes;
    switch (rc) {
    case PLAN_RECOMPUTE_FULL: bytes = 2 * sbh / (sp ? t : 1); break;
    case PLAN_RECOMPUTE_SELECTIVE: bytes = sp ? 34 * sbh / t : sbh * (10 + 24.0 / t); break;
    default:
        bytes = sp ? sbh / t * (34 + 5 * a * s / h) : sbh * (10 + 24.0 / t + 5 * a * s / (h * t));
        break;
    }
    return bytes * act_bytes / 2.0;
}

/* In-flight micro-batch chunks on rank r and layers per chunk. */
static int inflight_chunks(const PlanLayout *l, int r, int *chunk_layers_div) {
    int p = l->pp, v = l->vpp, m = l->num_micro, n;
    if (v <= 1) n = p - r < m ? p - r : m;
    else {
        n = 2 * (p - r - 1) + (v - 1) * p + 1;
        if (n > m * v) n = m * v;
    }
    *chunk_layers_div = p * v; /* a chunk is L / (p*v) layers */
    return n;
}

double plan_inflight(const PlanLayout *l, int pp_rank) {
    int div, n = inflight_chunks(l, pp_rank, &div);
    return (double)n / l->vpp;
}

double plan_act_bytes(const GptConfig *c, const PlanLayout *l, const PlanPrecision *p, PlanActModel act,
                      int r) {
    int div, chunks = inflight_chunks(l, r, &div);
    int layers = chunks * (c->num_layers / div); /* layers' activations held at the peak */
    int b = l->micro_batch, s = l->seq, t = l->tp;
    if (act == PLAN_ACT_LLMSCALE) /* the model's own allocation: one activation set (a chunk's
                                     layers, the head's buffers on the last stage, scratch) per
                                     micro-batch in flight (1F1B) */
        return chunks * (double)gpt_act_bytes_stage(c, c->num_layers / div, r == l->pp - 1, b, s, t, l->sp,
                                                    (int)l->recompute) *
               p->act_bytes / 4.0;
    double bytes = layers * plan_act_layer_bytes_megatron(c, b, s, t, l->sp, l->recompute, p->act_bytes);
    double sbh = (double)s * b * c->channels;
    if (r == 0) bytes += sbh / t * chunks / l->vpp; /* embedding dropout mask, 1 byte, per in-flight micro-batch */
    if (r == l->pp - 1) /* final LayerNorm input + fp32 logits of one micro-batch (Korthikanti 4.3) */
        bytes += 4.0 * sbh / t * (1 + (double)c->padded_vocab_size / c->channels) * p->act_bytes / 2.0;
    return bytes;
}

void plan_memory(const GptConfig *cfg, const PlanLayout *l, const PlanPrecision *p, PlanActModel act,
                 int pp_rank, PlanMemory *out) {
    plan_memory_ex(cfg, l, p, act, pp_rank, ZERO_DEFAULT_BUCKET_MB, out);
}

void plan_memory_ex(const GptConfig *cfg, const PlanLayout *l, const PlanPrecision *p,
                    PlanActModel act, int pp_rank, double bucket_mb, PlanMemory *out) {
    double largest, n = plan_rank_params(cfg, l->tp, l->pp, l->vpp, pp_rank, &largest);
    double shard = (double)plan_zero_shard_len((size_t)n, l->dp);
    out->params = p->weight_bytes * (l->zero >= 3 ? shard : n);
    out->grads = p->grad_bytes * (l->zero >= 2 ? shard : n);
    out->optimizer = (double)(p->master_bytes + p->optim_bytes) * (l->zero >= 1 ? shard : n);
    out->activations = plan_act_bytes(cfg, l, p, act, pp_rank);
    if (act == PLAN_ACT_LLMSCALE)
        out->buffers = llmscale_staging(cfg, l, pp_rank, bucket_mb);
    else
        out->buffers = l->zero >= 3 && l->dp > 1 ? p->weight_bytes * largest : 0;
    out->total = out->params + out->grads + out->optimizer + out->activations + out->buffers;
}
