/* gpt.c - forward and backward of one pipeline stage of GPT-2.
 *
 * One block (pre-LayerNorm), with x the residual stream (N = B*T rows, C wide):
 *     ln1  = LN(x)                     qkv = ln1 Wqkv^T + bqkv
 *     atty = causal_attention(qkv)     res2 = x + atty Wproj^T + bproj
 *     ln2  = LN(res2)                  fch = ln2 Wfc^T + bfc
 *     fchg = gelu(fch)                 res3 = res2 + fchg Wfcproj^T + bfcproj
 * Head (last stage): lnf = LN(x_L), logits = lnf wte^T, loss = xent(logits).
 * Backward walks the same list in reverse with ONE buffer dres holding the
 * gradient of the residual stream: a residual add passes it through
 * unchanged, and each LayerNorm backward adds its branch's contribution. */
#include "gpt.h"

#include <omp.h>
#include <stdlib.h>
#include <string.h>

#include "../core/error.h"
#include "../kernels/cpu/kernels.h"
#include "gpt_tp.h"

void gpt_create(Gpt *m, const GptConfig *cfg, int layer_begin, int layer_end, int tp, int tp_rank) {
    gpt_create_ex(m, cfg, layer_begin, layer_end, tp, tp_rank, GPT_OWN_ALL);
}

void gpt_create_ex(Gpt *m, const GptConfig *cfg, int layer_begin, int layer_end, int tp,
                   int tp_rank, int own) {
    memset(m, 0, sizeof *m);
    gpt_layout_build(&m->lay, cfg, layer_begin, layer_end, tp, tp_rank);
    m->cfg = *cfg;
    m->tp.size = tp;
    m->tp.rank = tp_rank;
    m->nslots = 1;
    m->slots = ls_calloc(1, sizeof(GptActs), "activation slots");
    if (own & GPT_OWN_PARAMS) m->params = ls_calloc(m->lay.total, sizeof(float), "parameters");
    if (own & GPT_OWN_GRADS) m->grads = ls_calloc(m->lay.total, sizeof(float), "gradients");
    gpt_tensors_bind(&m->p, &m->lay, m->params);
    gpt_tensors_bind(&m->g, &m->lay, m->grads);
}

static void free_acts(GptActs *a) {
    void **arrays[] = {(void **)a->ln1, (void **)a->ln1_mean, (void **)a->ln1_rstd, (void **)a->qkv,
                       (void **)a->atty, (void **)a->att, (void **)a->res2, (void **)a->ln2,
                       (void **)a->ln2_mean, (void **)a->ln2_rstd, (void **)a->fch,
                       (void **)a->fch_gelu, (void **)a->res3};
    for (size_t i = 0; i < sizeof arrays / sizeof arrays[0]; i++) ls_free(arrays[i]);
    ls_free(a->block);
    memset(a, 0, sizeof *a);
}

static void free_all_acts(Gpt *m);

void gpt_destroy(Gpt *m) {
    free_all_acts(m);
    ls_free(m->slots);
    gpt_tensors_free(&m->p);
    gpt_tensors_free(&m->g);
    ls_free(m->params);
    ls_free(m->grads);
    gpt_layout_free(&m->lay);
    memset(m, 0, sizeof *m);
}

/* Activation floats of one stage: the list below, in one place, so the
 * memory report and the allocation cannot disagree. */
typedef struct { size_t per_layer, head, other; } ActSizes;

/* Ct = C/tp local attention channels (NH/tp heads), 4Ct local MLP columns,
 * Vp/tp local vocabulary rows; Nr rows of the residual stream (N/tp with
 * sequence parallelism, gpt_tp.h) */
static ActSizes act_sizes(const GptConfig *c, int B, int T, int tp, int sp) {
    size_t N = (size_t)B * T, C = c->channels, NH = c->num_heads / tp, Vl = gpt_vocab_rows(c, tp);
    size_t Ct = C / tp, Nr = sp ? N / tp : N;
    ActSizes s;
    /* ln1, res2, ln2, res3: C each on Nr rows, with 4 LayerNorm statistics;
     * atty Ct; qkv 3Ct; fch, fch_gelu 4Ct each; the attention's log-sum-exp
     * per local head and token. Korthikanti et al.'s count without dropout
     * and without stored attention scores: 16 values per token and channel,
     * (4 + 12/t) under TP, 16/t under TP + SP. */
    s.per_layer = Nr * (4 * C + 4) + N * (Ct + 3 * Ct + 8 * Ct) + (size_t)B * NH * T;
    /* lnf (all N rows: the logits need them), its 2 statistics, logits, lse,
     * losses; tp > 1: the loss's max, sum of exps and target logit */
    s.head = N * C + Nr * 2 + N * (Vl + 2) + (tp > 1 ? 3 * N : 0);
    /* input, dres (Nr rows); dtmp (C); dqkv (3Ct); dfch (4Ct); SP: the
     * gathered and staged (B,T,C) tensors and 4C LayerNorm weight gradients */
    s.other = Nr * 2 * C + N * (C + 3 * Ct + 4 * Ct) + (sp ? 2 * N * C + 4 * C : 0);
    return s;
}

static const char *const RECOMPUTE_NAMES[] = {"none", "selective", "full"};

int gpt_recompute_parse(const char *name) {
    for (int r = GPT_RECOMPUTE_NONE; r <= GPT_RECOMPUTE_FULL; r++)
        if (!strcmp(name, RECOMPUTE_NAMES[r])) return r;
    return -1;
}

const char *gpt_recompute_name(int recompute) {
    return recompute >= GPT_RECOMPUTE_NONE && recompute <= GPT_RECOMPUTE_FULL ? RECOMPUTE_NAMES[recompute] : "?";
}

size_t gpt_act_bytes(const GptConfig *cfg, int nlayers, int B, int T) {
    return gpt_act_bytes_tp(cfg, nlayers, B, T, 1, 0);
}

size_t gpt_act_bytes_tp(const GptConfig *cfg, int nlayers, int B, int T, int tp, int sp) {
    return gpt_act_bytes_stage(cfg, nlayers, 1, B, T, tp, sp, GPT_RECOMPUTE_NONE);
}

size_t gpt_act_bytes_stage(const GptConfig *cfg, int nlayers, int has_head, int B, int T, int tp,
                           int sp, int recompute) {
    sp = sp && tp > 1;
    ActSizes s = act_sizes(cfg, B, T, tp, sp);
    size_t layers = s.per_layer * nlayers;
    if (recompute == GPT_RECOMPUTE_FULL && nlayers > 0) /* each layer's output (the next one's
                                                           input) + one layer's set, shared */
        layers = (size_t)nlayers * (sp ? (size_t)B * T / tp : (size_t)B * T) * cfg->channels + s.per_layer;
    return sizeof(float) * (layers + (has_head ? s.head : 0) + s.other) +
           2 * sizeof(int32_t) * (size_t)B * T;
}

/* Carve one activation set for micro-batches of B x T out of one block. */
static void alloc_acts(Gpt *m, GptActs *a, int B, int T) {
    int nl = m->lay.layer_end - m->lay.layer_begin, tp = m->lay.tp, sp = m->tp.sp && tp > 1;
    size_t N = (size_t)B * T, C = m->cfg.channels, NH = m->cfg.num_heads / tp;
    size_t Ct = C / tp, Vl = gpt_vocab_rows(&m->cfg, tp), Nr = sp ? N / tp : N;
    memset(a, 0, sizeof *a);
    a->bytes = gpt_act_bytes_stage(&m->cfg, nl, m->lay.has_head, B, T, tp, sp, m->recompute);
    a->block = ls_calloc(a->bytes, 1, "activations (reduce --batch or --seq)");
    float *p = a->block;
#define TAKE(n) (p += (n), p - (n))
    float ***lists[] = {&a->ln1, &a->ln1_mean, &a->ln1_rstd, &a->qkv, &a->atty, &a->att,
                        &a->res2, &a->ln2, &a->ln2_mean, &a->ln2_rstd, &a->fch, &a->fch_gelu,
                        &a->res3};
    size_t sizes[] = {Nr * C, Nr, Nr, 3 * N * Ct, N * Ct, (size_t)B * NH * T,
                      Nr * C, Nr * C, Nr, Nr, 4 * N * Ct, 4 * N * Ct, Nr * C};
    /* full recomputation: every layer's buffers but res3 (its output, the next
     * layer's input) are one set that the forward overwrites layer by layer
     * and the backward refills by running the layer again (gpt_backward) */
    int shared = m->recompute == GPT_RECOMPUTE_FULL;
    for (size_t k = 0; k < sizeof sizes / sizeof sizes[0]; k++) {
        *lists[k] = ls_calloc((size_t)(nl > 0 ? nl : 1), sizeof(float *), "activation table");
        int own = !shared || lists[k] == &a->res3;
        for (int l = 0; l < nl; l++) (*lists[k])[l] = own || l == 0 ? TAKE(sizes[k]) : (*lists[k])[0];
    }
    a->input = TAKE(Nr * C);
    if (m->lay.has_head) {
        a->lnf = TAKE(N * C);
        a->lnf_mean = TAKE(Nr);
        a->lnf_rstd = TAKE(Nr);
        a->logits = TAKE(N * Vl);
        a->lse = TAKE(N);
        a->losses = TAKE(N);
        if (tp > 1) a->vp_stats = TAKE(3 * N);
    }
    a->dres = TAKE(Nr * C);
    a->dtmp = TAKE(N * C);
    a->dqkv = TAKE(3 * N * Ct);
    a->dfch = TAKE(4 * N * Ct);
    if (sp) {
        a->gath = TAKE(N * C);
        a->stage = TAKE(N * C);
        a->lngrad = TAKE(4 * C);
    }
    a->tokens = (int32_t *)TAKE(N);
    a->targets = (int32_t *)TAKE(N);
#undef TAKE
}

static void free_all_acts(Gpt *m) {
    free_acts(&m->a);
    for (int k = 0; k < m->nslots; k++)
        if (k != m->cur) free_acts(&m->slots[k]);
    m->cur = 0;
    m->B = m->T = 0;
}

void gpt_ensure_acts(Gpt *m, int B, int T) {
    if (m->B == B && m->T == T) return;
    if (T < 1 || T > m->cfg.max_seq_len)
        ls_fatal("sequence length %d is outside [1, %d] (the model's max_seq_len)", T,
                 m->cfg.max_seq_len);
    if (B < 1) ls_fatal("batch size must be >= 1, got %d", B);
    int tp = m->lay.tp, sp = m->tp.sp && tp > 1;
    if (sp && T % tp)
        ls_fatal("sequence parallelism splits each sequence over the %d tensor-parallel ranks: "
                 "sequence length %d is not a multiple of %d", tp, T, tp);
    free_all_acts(m);
    for (int k = 1; k < m->nslots; k++) alloc_acts(m, &m->slots[k], B, T);
    alloc_acts(m, &m->a, B, T); /* slot 0, the current one */
    m->B = B;
    m->T = T;
}

void gpt_set_act_slots(Gpt *m, int n) {
    if (n < 1) n = 1;
    free_all_acts(m);
    ls_free(m->slots);
    m->slots = ls_calloc((size_t)n, sizeof(GptActs), "activation slots");
    m->nslots = n;
}

void gpt_select_acts(Gpt *m, int k) {
    if (k == m->cur) return;
    if (k < 0 || k >= m->nslots) ls_fatal("internal: activation slot %d of %d", k, m->nslots);
    m->slots[m->cur] = m->a;
    m->a = m->slots[k];
    m->cur = k;
}

size_t gpt_act_bytes_held(const Gpt *m) {
    size_t b = m->a.bytes;
    for (int k = 0; k < m->nslots; k++)
        if (k != m->cur) b += m->slots[k].bytes;
    return b;
}

static inline void hook(Gpt *m, GptHookEvent ev, int unit) {
    if (m->hook) m->hook(m->hook_ctx, ev, unit);
}

/* Forward of local layer l on the current micro-batch (x = its input). */
static void layer_forward(Gpt *m, int l) {
    GptActs *a = &m->a;
    int B = m->B, T = m->T, tp = m->tp.size, C = m->cfg.channels, NH = m->cfg.num_heads / tp;
    int N = B * T, Ct = C / tp, Nr = gpt_rows(m, N);
    const GptLayerTensors *w = &m->p.layer[l];
    const float *x = l == 0 ? a->input : a->res3[l - 1];
    layernorm_forward(a->ln1[l], a->ln1_mean[l], a->ln1_rstd[l], x, w->ln1w, w->ln1b, Nr, C);
    /* column-parallel QKV: this rank's heads; attention on them alone */
    matmul_forward(a->qkv[l], tp_column_input(m, a->ln1[l]), w->qkvw, w->qkvb, N, C, 3 * Ct);
    attention_forward(a->atty[l], a->att[l], a->qkv[l], B, T, Ct, NH);
    const float *y = tp_row_forward(m, a->atty[l], w->attprojw, w->attprojb, Ct);
    residual_layernorm_forward(a->res2[l], a->ln2[l], a->ln2_mean[l], a->ln2_rstd[l], x, y, w->ln2w,
                               w->ln2b, Nr, C);
    /* column-parallel fc, local GELU, row-parallel projection */
    matmul_forward(a->fch[l], tp_column_input(m, a->ln2[l]), w->fcw, w->fcb, N, C, 4 * Ct);
    gelu_forward(a->fch_gelu[l], a->fch[l], (long)N * 4 * Ct);
    y = tp_row_forward(m, a->fch_gelu[l], w->fcprojw, w->fcprojb, 4 * Ct);
    residual_forward(a->res3[l], a->res2[l], y, (long)Nr * C);
}

float gpt_forward(Gpt *m, const int32_t *tokens, const int32_t *targets, int B, int T) {
    gpt_ensure_acts(m, B, T);
    const GptLayout *lay = &m->lay;
    GptActs *a = &m->a;
    int N = B * T;
    if (lay->has_embed) {
        hook(m, GPT_PRE_FORWARD, GPT_UNIT_EMBED);
        memcpy(a->tokens, tokens, sizeof(int32_t) * N);
        tp_embed_forward(m, tokens);
        hook(m, GPT_POST_FORWARD, GPT_UNIT_EMBED);
    } /* else: the pipeline schedule has placed the previous stage's output in a->input */
    int nl = lay->layer_end - lay->layer_begin;
    for (int l = 0; l < nl; l++) {
        hook(m, GPT_PRE_FORWARD, l);
        layer_forward(m, l);
        hook(m, GPT_POST_FORWARD, l);
    }
    if (!lay->has_head) return 0.0f;
    hook(m, GPT_PRE_FORWARD, nl);
    if (targets) memcpy(a->targets, targets, sizeof(int32_t) * N);
    tp_head_forward(m, a->res3[nl - 1], targets);
    hook(m, GPT_POST_FORWARD, nl);
    if (!targets) return 0.0f;
    double sum = 0.0;
    for (int i = 0; i < N; i++) sum += a->losses[i];
    return (float)(sum / N);
}

/* The kinds whose gradients gpt_backward sums into grad_sq: every weight
 * matrix comes out of one dW product, and wte out of the LM head's product
 * and then the embedding's scatter-add, corrected for below. With grad_sq
 * set, those products write the gradient (kernels.h), so whatever the
 * buffer held before does not matter. */
static int sq_in_backward(int kind) {
    return kind == T_WTE || kind == T_QKVW || kind == T_ATTPROJW || kind == T_FCW || kind == T_FCPROJW;
}

static int cmp_i32(const void *x, const void *y) {
    int32_t a = *(const int32_t *)x, b = *(const int32_t *)y;
    return (a > b) - (a < b);
}

/* Sum of squares of wte's gradient rows of the micro-batch's distinct tokens:
 * the rows the embedding's backward adds to after the LM head's product */
static double wte_rows_sq(const Gpt *m) {
    int N = m->B * m->T, C = m->cfg.channels;
    int32_t *ids = ls_calloc((size_t)N, sizeof(int32_t), "token list");
    memcpy(ids, m->a.tokens, sizeof(int32_t) * N);
    qsort(ids, (size_t)N, sizeof(int32_t), cmp_i32);
    double s = 0.0;
    for (int i = 0; i < N; i++) {
        if (i > 0 && ids[i] == ids[i - 1]) continue;
        const float *g = m->g.wte + (size_t)ids[i] * C;
        for (int c = 0; c < C; c++) s += (double)g[c] * g[c];
    }
    ls_free(ids);
    return s;
}

unsigned gpt_overwritten_kinds(void) {
    unsigned k = 0;
    for (int i = 0; i < T_NUM_KINDS; i++)
        if (sq_in_backward(i)) k |= 1u << i;
    return k;
}

double gpt_grad_sq_rest(const Gpt *m) {
    double s = 0.0;
    for (int i = 0; i < m->lay.ntensors; i++) {
        const GptTensor *t = &m->lay.tensors[i];
        if (!sq_in_backward(t->kind)) s += sum_squares(m->grads + t->offset, (size_t)t->rows * t->cols);
    }
    return s;
}

void gpt_backward(Gpt *m, float dloss) {
    const GptLayout *lay = &m->lay;
    GptActs *a = &m->a;
    int tp = m->tp.size, B = m->B, T = m->T, C = m->cfg.channels, NH = m->cfg.num_heads / tp;
    int N = B * T, Ct = C / tp, Nr = gpt_rows(m, N);
    int nl = lay->layer_end - lay->layer_begin;
    if (m->grad_sq && tp > 1) ls_fatal("internal: grad_sq with tensor parallelism");
    matmul_set_dw_sumsq(m->grad_sq); /* every dW product adds its squares (kernels.h) */
    if (lay->has_head) {
        hook(m, GPT_PRE_BACKWARD, nl);
        memset(a->dres, 0, sizeof(float) * Nr * C);
        tp_head_backward(m, a->res3[nl - 1], dloss);
        hook(m, GPT_POST_BACKWARD, nl);
    } /* else: the schedule has placed the next stage's input gradient in a->dres */
    for (int l = nl - 1; l >= 0; l--) {
        hook(m, GPT_PRE_BACKWARD, l);
        /* full recomputation: run the layer again from its stored input (the
         * collectives of tensor parallelism included) to refill its set */
        if (m->recompute == GPT_RECOMPUTE_FULL) layer_forward(m, l);
        const GptLayerTensors *w = &m->p.layer[l];
        GptLayerTensors *g = &m->g.layer[l];
        const float *x = l == 0 ? a->input : a->res3[l - 1];
        /* MLP branch: res3 = res2 + fcproj(gelu(fc(ln2(res2)))) */
        tp_row_backward(m, a->dfch, g->fcprojw, g->fcprojb, a->fch_gelu[l], w->fcprojw, 4 * Ct);
        gelu_backward(a->dfch, a->fch[l], a->dfch, (long)N * 4 * Ct);
        tp_column_backward(m, g->fcw, g->fcb, a->dfch, a->ln2[l], 1, w->fcw, 4 * Ct);
        tp_layernorm_backward(m, 0, g->ln2w, g->ln2b, a->dtmp, a->res2[l], w->ln2w, a->ln2_mean[l],
                              a->ln2_rstd[l]);
        /* attention branch: res2 = x + attproj(attention(qkv(ln1(x)))) */
        tp_row_backward(m, a->dtmp, g->attprojw, g->attprojb, a->atty[l], w->attprojw, Ct);
        attention_backward(a->dqkv, a->dtmp, a->qkv[l], a->atty[l], a->att[l], B, T, Ct, NH);
        tp_column_backward(m, g->qkvw, g->qkvb, a->dqkv, a->ln1[l], 1, w->qkvw, 3 * Ct);
        tp_layernorm_backward(m, 1, g->ln1w, g->ln1b, a->dtmp, x, w->ln1w, a->ln1_mean[l],
                              a->ln1_rstd[l]);
        float *const lngrads[] = {g->ln2w, g->ln2b, g->ln1w, g->ln1b};
        tp_layernorm_grads_sum(m, lngrads, 2);
        hook(m, GPT_POST_BACKWARD, l);
    }
    if (lay->has_embed) {
        hook(m, GPT_PRE_BACKWARD, GPT_UNIT_EMBED);
        /* grad_sq holds wte's rows as the LM head left them; the tokens' rows change */
        double before = m->grad_sq ? wte_rows_sq(m) : 0.0;
        tp_embed_backward(m);
        if (m->grad_sq) *m->grad_sq += wte_rows_sq(m) - before;
        hook(m, GPT_POST_BACKWARD, GPT_UNIT_EMBED);
    }
    /* else: a->dres is the gradient the schedule sends to the previous stage */
    matmul_set_dw_sumsq(NULL);
}

void gpt_zero_grad(Gpt *m) { /* threaded: ~0.5 GB at GPT-2 124M */
    if (!m->grads) return; /* ZeRO-2/3 stage their gradients */
    size_t n = m->lay.total;
#pragma omp parallel
    {
        int nth = omp_get_num_threads(), id = omp_get_thread_num();
        size_t a0 = n * id / nth, a1 = n * (id + 1) / nth;
        memset(m->grads + a0, 0, sizeof(float) * (a1 - a0));
    }
}

const float *gpt_logits(const Gpt *m, int b, int t) {
    return m->a.logits + ((size_t)b * m->T + t) * m->cfg.padded_vocab_size;
}
