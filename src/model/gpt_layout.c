/* gpt_layout.c - build the flat parameter layout of one rank. */
#include "gpt_layout.h"

#include <string.h>

#include "../core/error.h"

const char *const GPT_TENSOR_NAMES[T_NUM_KINDS] = {
    "wte", "wpe", "ln1w", "ln1b", "qkvw", "qkvb", "attprojw", "attprojb",
    "ln2w", "ln2b", "fcw", "fcb", "fcprojw", "fcprojb", "lnfw", "lnfb"};

int gpt_kind_is_per_layer(int kind) { return kind >= T_LN1W && kind <= T_FCPROJB; }

int gpt_vocab_rows(const GptConfig *c, int tp) {
    if (tp <= 1) return c->padded_vocab_size; /* as the model file stores it */
    long unit = 128L * tp;
    return (int)((c->padded_vocab_size + unit - 1) / unit * 128);
}

/* Local shard shape of one tensor kind. */
static void shard_shape(const GptConfig *c, int tp, int kind, int *rows, int *cols) {
    int C = c->channels;
    switch (kind) {
    case T_WTE: *rows = gpt_vocab_rows(c, tp); *cols = C; break;
    case T_WPE: *rows = c->max_seq_len; *cols = C; break;
    case T_QKVW: *rows = 3 * C / tp; *cols = C; break;
    case T_QKVB: *rows = 3 * C / tp; *cols = 1; break;
    case T_ATTPROJW: *rows = C; *cols = C / tp; break;
    case T_FCW: *rows = 4 * C / tp; *cols = C; break;
    case T_FCB: *rows = 4 * C / tp; *cols = 1; break;
    case T_FCPROJW: *rows = C; *cols = 4 * C / tp; break;
    default: *rows = C; *cols = 1; break; /* layernorms, attprojb, fcprojb */
    }
}

static void add(GptLayout *lay, int kind, int layer) {
    GptTensor *t = &lay->tensors[lay->ntensors++];
    t->kind = kind;
    t->layer = layer;
    t->offset = lay->total;
    shard_shape(&lay->cfg, lay->tp, kind, &t->rows, &t->cols);
    t->decay = (t->cols > 1); /* 2-D weights decay; biases and LayerNorm do not */
    lay->total += (size_t)t->rows * t->cols;
}

void gpt_layout_build(GptLayout *lay, const GptConfig *cfg, int layer_begin, int layer_end,
                      int tp, int tp_rank) {
    memset(lay, 0, sizeof *lay);
    gpt_config_validate(cfg);
    if (layer_begin < 0 || layer_end > cfg->num_layers || layer_begin >= layer_end)
        ls_fatal("bad layer range [%d, %d) for a %d-layer model", layer_begin, layer_end,
                 cfg->num_layers);
    if (tp < 1 || cfg->num_heads % tp)
        ls_fatal("tensor-parallel degree %d must divide the number of heads (%d)", tp, cfg->num_heads);
    lay->cfg = *cfg;
    lay->tp = tp;
    lay->tp_rank = tp_rank;
    lay->layer_begin = layer_begin;
    lay->layer_end = layer_end;
    lay->has_embed = (layer_begin == 0);
    lay->has_head = (layer_end == cfg->num_layers);
    int nl = layer_end - layer_begin;
    lay->tensors = ls_calloc((size_t)nl * 12 + 4, sizeof(GptTensor), "parameter layout");
    /* The tied embedding lives on the first and the last stage (its copy on the
     * last stage is the LM head; their gradients are summed between the two).
     * Flat order follows the units of the pass: [wte wpe] layers [lnf] and, on
     * a last stage without the embedding, its wte copy after lnf, so that each
     * unit (embedding, layer, head) is one contiguous range. */
    if (lay->has_embed) {
        add(lay, T_WTE, -1);
        add(lay, T_WPE, -1);
    }
    for (int l = layer_begin; l < layer_end; l++)
        for (int k = T_LN1W; k <= T_FCPROJB; k++) add(lay, k, l);
    if (lay->has_head) {
        add(lay, T_LNFW, -1);
        add(lay, T_LNFB, -1);
        if (!lay->has_embed) add(lay, T_WTE, -1);
    }
}

void gpt_layout_free(GptLayout *lay) {
    ls_free(lay->tensors);
    lay->tensors = NULL;
}

const GptTensor *gpt_layout_find(const GptLayout *lay, int kind, int layer) {
    if (gpt_kind_is_per_layer(kind)) {
        if (layer < lay->layer_begin || layer >= lay->layer_end) return NULL;
        int base = 2 * lay->has_embed;
        const GptTensor *t = &lay->tensors[base + (layer - lay->layer_begin) * 12 + (kind - T_LN1W)];
        return t;
    }
    for (int i = 0; i < lay->ntensors; i++)
        if (lay->tensors[i].kind == kind) return &lay->tensors[i];
    return NULL;
}

void gpt_tensors_bind(GptTensors *v, const GptLayout *lay, float *flat) {
    memset(v, 0, sizeof *v);
    v->nlayers = lay->layer_end - lay->layer_begin;
    v->layer = ls_calloc((size_t)v->nlayers, sizeof(GptLayerTensors), "tensor views");
    if (flat) gpt_tensors_rebind(v, lay, flat, 0, lay->total); /* NULL: bound later */
}

void gpt_tensors_rebind(GptTensors *v, const GptLayout *lay, float *base, size_t lo, size_t hi) {
    for (int i = 0; i < lay->ntensors; i++) {
        const GptTensor *t = &lay->tensors[i];
        if (t->offset < lo || t->offset >= hi) continue;
        float *p = base + (t->offset - lo);
        GptLayerTensors *lt = t->layer >= 0 ? &v->layer[t->layer - lay->layer_begin] : NULL;
        switch (t->kind) {
        case T_WTE: v->wte = p; break;
        case T_WPE: v->wpe = p; break;
        case T_LNFW: v->lnfw = p; break;
        case T_LNFB: v->lnfb = p; break;
        case T_LN1W: lt->ln1w = p; break;
        case T_LN1B: lt->ln1b = p; break;
        case T_QKVW: lt->qkvw = p; break;
        case T_QKVB: lt->qkvb = p; break;
        case T_ATTPROJW: lt->attprojw = p; break;
        case T_ATTPROJB: lt->attprojb = p; break;
        case T_LN2W: lt->ln2w = p; break;
        case T_LN2B: lt->ln2b = p; break;
        case T_FCW: lt->fcw = p; break;
        case T_FCB: lt->fcb = p; break;
        case T_FCPROJW: lt->fcprojw = p; break;
        case T_FCPROJB: lt->fcprojb = p; break;
        }
    }
}

void gpt_tensors_free(GptTensors *v) {
    ls_free(v->layer);
    v->layer = NULL;
}

void gpt_full_shape(const GptConfig *cfg, int kind, int *rows, int *cols) {
    shard_shape(cfg, 1, kind, rows, cols);
}

void gpt_shard_runs(const GptLayout *lay, const GptTensor *t, GptRunFn fn, void *ctx) {
    int fr, fc;
    gpt_full_shape(&lay->cfg, t->kind, &fr, &fc);
    int r = lay->tp_rank, tp = lay->tp, C = lay->cfg.channels;
    size_t row = (size_t)t->cols; /* floats per shard row */
    switch (t->kind) {
    case T_QKVW:
    case T_QKVB: { /* q, k and v each split by heads: three row blocks */
        int part = C / tp;
        for (int j = 0; j < 3; j++)
            fn(ctx, (size_t)j * part * row, ((size_t)j * C + (size_t)r * part) * row, (size_t)part * row);
        break;
    }
    case T_WTE: { /* rows [r Vl, (r+1) Vl) of the file's Vp; beyond Vp: padding, in no file */
        long lo = (long)r * t->rows, have = fr - lo;
        if (have > t->rows) have = t->rows;
        if (have > 0) fn(ctx, 0, (size_t)lo * row, (size_t)have * row);
        break;
    }
    case T_FCW:
    case T_FCB: /* column-parallel: one block of output rows */
        fn(ctx, 0, (size_t)r * t->rows * row, (size_t)t->rows * row);
        break;
    case T_ATTPROJW:
    case T_FCPROJW: /* row-parallel: a block of input columns in every row */
        for (int i = 0; i < t->rows; i++)
            fn(ctx, (size_t)i * t->cols, (size_t)i * fc + (size_t)r * t->cols, (size_t)t->cols);
        break;
    default: /* replicated on every tensor-parallel rank */
        fn(ctx, 0, 0, (size_t)fr * fc);
        break;
    }
}

int gpt_kind_is_replicated(int kind) {
    return kind != T_QKVW && kind != T_QKVB && kind != T_WTE && kind != T_FCW && kind != T_FCB &&
           kind != T_ATTPROJW && kind != T_FCPROJW;
}

typedef struct { float *full, *shard; int dir; } CopyCtx;
static void copy_run(void *ctx, size_t shard_off, size_t full_off, size_t n) {
    CopyCtx *c = ctx;
    if (c->dir == 0) memcpy(c->shard + shard_off, c->full + full_off, sizeof(float) * n);
    else memcpy(c->full + full_off, c->shard + shard_off, sizeof(float) * n);
}

/* One routine for both directions: dir = 0 copies full -> shard (vocabulary
 * padding rows beyond the file's zeroed), 1 shard -> full. */
static void shard_copy(const GptLayout *lay, const GptTensor *t, float *full, float *shard, int dir) {
    if (dir == 0 && t->kind == T_WTE) memset(shard, 0, sizeof(float) * (size_t)t->rows * t->cols);
    CopyCtx c = {full, shard, dir};
    gpt_shard_runs(lay, t, copy_run, &c);
}

void gpt_shard_extract(const GptLayout *lay, const GptTensor *t, const float *full, float *shard) {
    shard_copy(lay, t, (float *)full, shard, 0);
}

void gpt_shard_insert(const GptLayout *lay, const GptTensor *t, const float *shard, float *full) {
    shard_copy(lay, t, full, (float *)shard, 1);
}
