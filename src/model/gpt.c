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
#include <string.h>

#include "../core/error.h"
#include "../kernels/cpu/kernels.h"

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

void gpt_destroy(Gpt *m) {
    free_acts(&m->a);
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
 * Vp/tp local vocabulary rows */
static ActSizes act_sizes(const GptConfig *c, int B, int T, int tp) {
    size_t N = (size_t)B * T, C = c->channels, NH = c->num_heads / tp, Vl = c->padded_vocab_size / tp;
    size_t Ct = C / tp;
    ActSizes s;
    /* ln1, res2, ln2, res3: C each; atty Ct; qkv 3Ct; fch, fch_gelu 4Ct each;
     * 4 LayerNorm statistics; attention log-sum-exp per local head and token */
    s.per_layer = N * (4 * C + Ct + 3 * Ct + 8 * Ct + 4) + (size_t)B * NH * T;
    /* lnf, its 2 statistics, logits, lse, losses; tp > 1: the loss's max,
     * sum of exps and target logit */
    s.head = N * (C + 2 + Vl + 2) + (tp > 1 ? 3 * N : 0);
    /* input, dres, dtmp (C); dqkv (3Ct); dfch (4Ct) */
    s.other = N * (C + C + C + 3 * Ct + 4 * Ct);
    return s;
}

size_t gpt_act_bytes(const GptConfig *cfg, int nlayers, int B, int T) {
    return gpt_act_bytes_tp(cfg, nlayers, B, T, 1);
}

size_t gpt_act_bytes_tp(const GptConfig *cfg, int nlayers, int B, int T, int tp) {
    ActSizes s = act_sizes(cfg, B, T, tp);
    return sizeof(float) * (s.per_layer * nlayers + s.head + s.other) +
           2 * sizeof(int32_t) * (size_t)B * T;
}

void gpt_ensure_acts(Gpt *m, int B, int T) {
    if (m->B == B && m->T == T) return;
    if (T < 1 || T > m->cfg.max_seq_len)
        ls_fatal("sequence length %d is outside [1, %d] (the model's max_seq_len)", T,
                 m->cfg.max_seq_len);
    if (B < 1) ls_fatal("batch size must be >= 1, got %d", B);
    free_acts(&m->a);
    GptActs *a = &m->a;
    int nl = m->lay.layer_end - m->lay.layer_begin, tp = m->lay.tp;
    size_t N = (size_t)B * T, C = m->cfg.channels, NH = m->cfg.num_heads / tp;
    size_t Ct = C / tp, Vl = m->cfg.padded_vocab_size / tp;
    a->bytes = gpt_act_bytes_tp(&m->cfg, nl, B, T, tp);
    a->block = ls_calloc(a->bytes, 1, "activations (reduce --batch or --seq)");
    float *p = a->block;
#define TAKE(n) (p += (n), p - (n))
    float ***lists[] = {&a->ln1, &a->ln1_mean, &a->ln1_rstd, &a->qkv, &a->atty, &a->att,
                        &a->res2, &a->ln2, &a->ln2_mean, &a->ln2_rstd, &a->fch, &a->fch_gelu,
                        &a->res3};
    size_t sizes[] = {N * C, N, N, 3 * N * Ct, N * Ct, (size_t)B * NH * T,
                      N * C, N * C, N, N, 4 * N * Ct, 4 * N * Ct, N * C};
    for (size_t k = 0; k < sizeof sizes / sizeof sizes[0]; k++) {
        *lists[k] = ls_calloc((size_t)nl, sizeof(float *), "activation table");
        for (int l = 0; l < nl; l++) (*lists[k])[l] = TAKE(sizes[k]);
    }
    a->input = TAKE(N * C);
    a->lnf = TAKE(N * C);
    a->lnf_mean = TAKE(N);
    a->lnf_rstd = TAKE(N);
    a->logits = TAKE(N * Vl);
    a->lse = TAKE(N);
    a->losses = TAKE(N);
    if (tp > 1) a->vp_stats = TAKE(3 * N);
    a->dres = TAKE(N * C);
    a->dtmp = TAKE(N * C);
    a->dqkv = TAKE(3 * N * Ct);
    a->dfch = TAKE(4 * N * Ct);
    a->tokens = (int32_t *)TAKE(N);
    a->targets = (int32_t *)TAKE(N);
#undef TAKE
    m->B = B;
    m->T = T;
}

static inline void hook(Gpt *m, GptHookEvent ev, int unit) {
    if (m->hook) m->hook(m->hook_ctx, ev, unit);
}

/* sum (or max) over the tensor-parallel group; nothing on one rank */
static inline void tp_reduce(Gpt *m, float *buf, size_t n, int max) {
    if (m->tp.size > 1) m->tp.allreduce(m->tp.ctx, buf, n, max);
}

/* A row-parallel product (its weight split by input columns): each rank's
 * out = x_r W_r^T is a partial sum; all-reduce them (g), then add the bias
 * once. On one rank: the plain product with its bias. */
static void row_parallel_forward(Gpt *m, float *out, const float *x, const float *W,
                                 const float *bias, int N, int Cin_local, int OC) {
    if (m->tp.size == 1) {
        matmul_forward(out, x, W, bias, N, Cin_local, OC);
        return;
    }
    matmul_forward(out, x, W, NULL, N, Cin_local, OC);
    tp_reduce(m, out, (size_t)N * OC, 0);
    bias_add_rows(out, bias, N, OC);
}

/* LM head and loss. One rank: logits = lnf wte^T and softmax cross-entropy
 * (fused). Tensor-parallel: local logits over this rank's vocabulary rows,
 * and the loss from 3 all-reduces (max, sum of exps, target logit). */
static void head_forward(Gpt *m, const int32_t *targets, int N) {
    GptActs *a = &m->a;
    int C = m->cfg.channels, V = m->cfg.vocab_size, Vp = m->cfg.padded_vocab_size;
    if (m->tp.size == 1) {
        classifier_forward(a->logits, a->losses, a->lse, a->lnf, m->p.wte, targets, N, C, V, Vp);
        return;
    }
    int Vl = Vp / m->tp.size, v0 = m->tp.rank * Vl;
    matmul_forward(a->logits, a->lnf, m->p.wte, NULL, N, C, Vl);
    if (!targets) return;
    float *mx = a->vp_stats, *sumexp = mx + N, *zt = sumexp + N;
    vp_ce_local_max(mx, a->logits, N, v0, Vl, V);
    tp_reduce(m, mx, (size_t)N, 1);
    vp_ce_local_sums(sumexp, zt, a->logits, mx, targets, N, v0, Vl, V);
    tp_reduce(m, sumexp, (size_t)N, 0);
    tp_reduce(m, zt, (size_t)N, 0);
    vp_ce_finish(a->losses, a->lse, mx, sumexp, zt, N);
}

/* Backward of the head into a->dtmp (the gradient of lnf). */
static void head_backward(Gpt *m, float dloss, int N) {
    GptActs *a = &m->a;
    int C = m->cfg.channels, V = m->cfg.vocab_size, Vp = m->cfg.padded_vocab_size;
    if (m->tp.size == 1) {
        classifier_backward(a->dtmp, m->g.wte, a->logits, a->lse, a->lnf, m->p.wte, a->targets,
                            dloss, N, C, V, Vp);
        return;
    }
    int Vl = Vp / m->tp.size, v0 = m->tp.rank * Vl;
    vp_ce_backward(a->logits, a->lse, a->targets, dloss, N, v0, Vl, V);
    matmul_backward(a->dtmp, m->g.wte, NULL, a->logits, a->lnf, m->p.wte, N, C, Vl);
    tp_reduce(m, a->dtmp, (size_t)N * C, 0); /* partial over the vocabulary shards */
}

float gpt_forward(Gpt *m, const int32_t *tokens, const int32_t *targets, int B, int T) {
    gpt_ensure_acts(m, B, T);
    const GptLayout *lay = &m->lay;
    GptActs *a = &m->a;
    int tp = m->tp.size, C = m->cfg.channels, NH = m->cfg.num_heads / tp, N = B * T, Ct = C / tp;
    if (lay->has_embed) {
        hook(m, GPT_PRE_FORWARD, GPT_UNIT_EMBED);
        memcpy(a->tokens, tokens, sizeof(int32_t) * N);
        if (tp == 1) {
            encoder_forward(a->input, tokens, m->p.wte, m->p.wpe, B, T, C);
        } else { /* vocabulary-parallel lookup: the owner's row, zeros elsewhere, summed */
            int Vl = m->cfg.padded_vocab_size / tp;
            vp_encoder_forward(a->input, tokens, m->p.wte, m->tp.rank * Vl, Vl, N, C);
            tp_reduce(m, a->input, (size_t)N * C, 0);
            add_position_rows(a->input, m->p.wpe, B, T, C);
        }
        hook(m, GPT_POST_FORWARD, GPT_UNIT_EMBED);
    } /* else: the pipeline schedule has placed the previous stage's output in a->input */
    int nl = lay->layer_end - lay->layer_begin;
    float *scratch = a->dtmp; /* projection outputs before the residual add */
    for (int l = 0; l < nl; l++) {
        hook(m, GPT_PRE_FORWARD, l);
        const GptLayerTensors *w = &m->p.layer[l];
        const float *x = l == 0 ? a->input : a->res3[l - 1];
        layernorm_forward(a->ln1[l], a->ln1_mean[l], a->ln1_rstd[l], x, w->ln1w, w->ln1b, N, C);
        /* column-parallel QKV: this rank's heads; attention on them alone */
        matmul_forward(a->qkv[l], a->ln1[l], w->qkvw, w->qkvb, N, C, 3 * Ct);
        attention_forward(a->atty[l], a->att[l], a->qkv[l], B, T, Ct, NH);
        row_parallel_forward(m, scratch, a->atty[l], w->attprojw, w->attprojb, N, Ct, C);
        residual_layernorm_forward(a->res2[l], a->ln2[l], a->ln2_mean[l], a->ln2_rstd[l], x, scratch,
                                   w->ln2w, w->ln2b, N, C);
        /* column-parallel fc, local GELU, row-parallel projection */
        matmul_forward(a->fch[l], a->ln2[l], w->fcw, w->fcb, N, C, 4 * Ct);
        gelu_forward(a->fch_gelu[l], a->fch[l], (long)N * 4 * Ct);
        row_parallel_forward(m, scratch, a->fch_gelu[l], w->fcprojw, w->fcprojb, N, 4 * Ct, C);
        residual_forward(a->res3[l], a->res2[l], scratch, (long)N * C);
        hook(m, GPT_POST_FORWARD, l);
    }
    if (!lay->has_head) return 0.0f;
    hook(m, GPT_PRE_FORWARD, nl);
    layernorm_forward(a->lnf, a->lnf_mean, a->lnf_rstd, a->res3[nl - 1], m->p.lnfw, m->p.lnfb, N, C);
    if (targets) memcpy(a->targets, targets, sizeof(int32_t) * N);
    head_forward(m, targets, N);
    hook(m, GPT_POST_FORWARD, nl);
    if (!targets) return 0.0f;
    double sum = 0.0;
    for (int i = 0; i < N; i++) sum += a->losses[i];
    return (float)(sum / N);
}

void gpt_backward(Gpt *m, float dloss) {
    const GptLayout *lay = &m->lay;
    GptActs *a = &m->a;
    int tp = m->tp.size, B = m->B, T = m->T, C = m->cfg.channels, NH = m->cfg.num_heads / tp;
    int N = B * T, Ct = C / tp;
    int nl = lay->layer_end - lay->layer_begin;
    if (lay->has_head) {
        hook(m, GPT_PRE_BACKWARD, nl);
        memset(a->dres, 0, sizeof(float) * N * C);
        head_backward(m, dloss, N);
        layernorm_backward(a->dres, m->g.lnfw, m->g.lnfb, a->dtmp, a->res3[nl - 1], m->p.lnfw,
                           a->lnf_mean, a->lnf_rstd, N, C);
        hook(m, GPT_POST_BACKWARD, nl);
    } /* else: the schedule has placed the next stage's input gradient in a->dres */
    for (int l = nl - 1; l >= 0; l--) {
        hook(m, GPT_PRE_BACKWARD, l);
        const GptLayerTensors *w = &m->p.layer[l];
        GptLayerTensors *g = &m->g.layer[l];
        const float *x = l == 0 ? a->input : a->res3[l - 1];
        /* MLP branch: res3 = res2 + fcproj(gelu(fc(ln2(res2)))) */
        matmul_backward(a->dfch, g->fcprojw, g->fcprojb, a->dres, a->fch_gelu[l], w->fcprojw, N,
                        4 * Ct, C);
        gelu_backward(a->dfch, a->fch[l], a->dfch, (long)N * 4 * Ct);
        matmul_backward(a->dtmp, g->fcw, g->fcb, a->dfch, a->ln2[l], w->fcw, N, C, 4 * Ct);
        tp_reduce(m, a->dtmp, (size_t)N * C, 0); /* f's backward: sum the input gradient */
        layernorm_backward(a->dres, g->ln2w, g->ln2b, a->dtmp, a->res2[l], w->ln2w, a->ln2_mean[l],
                           a->ln2_rstd[l], N, C);
        /* attention branch: res2 = x + attproj(attention(qkv(ln1(x)))) */
        matmul_backward(a->dtmp, g->attprojw, g->attprojb, a->dres, a->atty[l], w->attprojw, N, Ct, C);
        attention_backward(a->dqkv, a->dtmp, a->qkv[l], a->atty[l], a->att[l], B, T, Ct, NH);
        matmul_backward(a->dtmp, g->qkvw, g->qkvb, a->dqkv, a->ln1[l], w->qkvw, N, C, 3 * Ct);
        tp_reduce(m, a->dtmp, (size_t)N * C, 0); /* f's backward */
        layernorm_backward(a->dres, g->ln1w, g->ln1b, a->dtmp, x, w->ln1w, a->ln1_mean[l],
                           a->ln1_rstd[l], N, C);
        hook(m, GPT_POST_BACKWARD, l);
    }
    if (lay->has_embed) {
        hook(m, GPT_PRE_BACKWARD, GPT_UNIT_EMBED);
        if (tp == 1) {
            encoder_backward(m->g.wte, m->g.wpe, a->dres, a->tokens, B, T, C);
        } else {
            int Vl = m->cfg.padded_vocab_size / tp;
            vp_encoder_backward(m->g.wte, m->g.wpe, a->dres, a->tokens, m->tp.rank * Vl, Vl, B, T, C);
        }
        hook(m, GPT_POST_BACKWARD, GPT_UNIT_EMBED);
    }
    /* else: a->dres is the gradient the schedule sends to the previous stage */
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
