/* gpt_tp.c - where a layer's data crosses the tensor-parallel group.
 *
 * Tensor parallelism (Shoeybi et al. 2019). A transformer layer has two
 * column-parallel products (QKV, fc: each rank computes its heads / its 4C/t
 * columns from the whole input) and two row-parallel ones (the output
 * projections: each rank multiplies its slice of the input columns, giving a
 * partial sum of the output). Two conjugate operators glue them:
 *   f  before a column-parallel product: identity forward, all-reduce of the
 *      input gradient backward (every rank's dx is partial: it only saw its
 *      columns of W);
 *   g  after a row-parallel product: all-reduce forward (sum the partials),
 *      identity backward.
 * Per layer and micro-batch: 2 all-reduces forward, 2 backward.
 *
 * Sequence parallelism (Korthikanti et al. 2022). Between a g and the next f
 * sit only row-wise operations (bias, residual add, LayerNorm), which every
 * rank repeats on the whole (N, C) tensor under plain TP. SP splits them
 * along the sequence: rank r keeps tokens [r T/t, (r+1) T/t) of each sequence.
 * An all-reduce is a reduce-scatter followed by an all-gather, so
 *   g becomes a reduce-scatter (each rank keeps the sums for its tokens),
 *   f becomes an all-gather of the LayerNorm output (the column-parallel
 *     product needs every token), and their backward passes swap them:
 *     the output gradient of a row-parallel product is all-gathered, the
 *     input gradient of a column-parallel product is reduce-scattered.
 * The bytes on the wire are the same as TP's; the activations of the
 * row-wise regions (and the LayerNorm outputs, gathered again in backward)
 * shrink by t. A LayerNorm's weight gradient is now a sum over this rank's
 * tokens only: it is summed over the group before it joins the gradients.
 * Per layer and micro-batch: forward 2 all-gathers + 2 reduce-scatters;
 * backward 4 all-gathers (2 output gradients, 2 LayerNorm outputs gathered
 * again) + 2 reduce-scatters + 1 small all-reduce (the 4C LayerNorm weight
 * gradients).
 *
 * Overlap: a column-parallel backward computes the input gradient first,
 * starts its reduction, and computes the weight gradient while it runs. */
#include "gpt_tp.h"

#include <string.h>

#include "../kernels/cpu/kernels.h"

static void *tp_start(Gpt *m, GptTpOp op, float *buf, float *out, size_t n) {
    return m->tp.start(m->tp.ctx, op, buf, out, n);
}

static void tp_wait(Gpt *m, void *h) {
    if (h) m->tp.wait(m->tp.ctx, h);
}

static void tp_run(Gpt *m, GptTpOp op, float *buf, float *out, size_t n) {
    tp_wait(m, tp_start(m, op, buf, out, n));
}

/* ---- sequence-parallel all-gather and reduce-scatter of (B, T, C) tensors,
 * through the rank-major staging buffer a->stage (see sequence_parallel.c) */

static size_t rows_floats(const Gpt *m) { /* one rank's piece: Nr x C */
    return (size_t)gpt_rows(m, m->B * m->T) * m->cfg.channels;
}

/* Start gathering this rank's rows (which may already sit in their slot). */
static void *gather_start(Gpt *m, const float *rows) {
    size_t n = rows_floats(m);
    float *slot = m->a.stage + (size_t)m->tp.rank * n;
    if (rows != slot) memcpy(slot, rows, n * sizeof(float));
    return tp_start(m, GPT_TP_GATHER, m->a.stage, NULL, n);
}

/* Finish it: the whole (B, T, C) tensor in `full`. */
static const float *gather_finish(Gpt *m, void *h, float *full) {
    tp_wait(m, h);
    seq_from_rank_major(full, m->a.stage, m->B, m->T, m->tp.size, m->cfg.channels);
    return full;
}

/* Start summing the partial (B, T, C) tensor `full` over the group, this
 * rank's rows to `out` (which may be `full`: it is staged first). */
static void *scatter_start(Gpt *m, const float *full, float *out) {
    seq_to_rank_major(m->a.stage, full, m->B, m->T, m->tp.size, m->cfg.channels);
    return tp_start(m, GPT_TP_SCATTER, m->a.stage, out, rows_floats(m));
}

/* ---- the four products of a layer */

const float *tp_column_input(Gpt *m, const float *rows) {
    if (!m->tp.sp) return rows; /* f forward: identity */
    return gather_finish(m, gather_start(m, rows), m->a.gath);
}

void tp_column_backward(Gpt *m, float *dW, float *db, const float *dout, const float *x, int x_split,
                        const float *W, int OCl) {
    GptActs *a = &m->a;
    int N = m->B * m->T, C = m->cfg.channels;
    if (m->tp.size == 1) {
        matmul_backward(a->dtmp, dW, db, dout, x, W, N, C, OCl);
        return;
    }
    void *hx = NULL, *hd;
    if (m->tp.sp && x_split) hx = gather_start(m, x); /* Korthikanti: re-gather, overlapped */
    matmul_backward(a->dtmp, NULL, NULL, dout, NULL, W, N, C, OCl); /* dx = dout W: partial */
    if (m->tp.sp) {
        if (x_split) x = gather_finish(m, hx, a->gath);
        hd = scatter_start(m, a->dtmp, a->dtmp); /* f backward, SP: reduce-scatter */
    } else {
        hd = tp_start(m, GPT_TP_SUM, a->dtmp, NULL, (size_t)N * C); /* f backward: all-reduce */
    }
    matmul_backward(NULL, dW, db, dout, x, W, N, C, OCl); /* dW += dout^T x while it runs */
    tp_wait(m, hd);
}

const float *tp_row_forward(Gpt *m, const float *x, const float *W, const float *bias, int Cin) {
    GptActs *a = &m->a;
    int N = m->B * m->T, C = m->cfg.channels;
    if (m->tp.size == 1) {
        matmul_forward(a->dtmp, x, W, bias, N, Cin, C);
        return a->dtmp;
    }
    matmul_forward(a->dtmp, x, W, NULL, N, Cin, C); /* x_r W_r^T: a partial sum */
    if (m->tp.sp) tp_wait(m, scatter_start(m, a->dtmp, a->dtmp)); /* g, SP: reduce-scatter */
    else tp_run(m, GPT_TP_SUM, a->dtmp, NULL, (size_t)N * C);      /* g: all-reduce */
    bias_add_rows(a->dtmp, bias, gpt_rows(m, N), C);               /* once, after the sum */
    return a->dtmp;
}

void tp_row_backward(Gpt *m, float *dx, float *dW, float *db, const float *x, const float *W, int Cin) {
    GptActs *a = &m->a;
    int N = m->B * m->T, C = m->cfg.channels;
    /* g backward: identity; with SP the output gradient's rows are gathered.
     * The bias gradient then sums all N rows: complete on every rank. */
    const float *dout = a->dres;
    if (m->tp.sp) dout = gather_finish(m, gather_start(m, a->dres), a->gath);
    matmul_backward(dx, dW, db, dout, x, W, N, Cin, C);
}

/* ---- LayerNorm weight gradients under SP */

void tp_layernorm_backward(Gpt *m, int k, float *dw, float *db, const float *dout, const float *x,
                           const float *w, const float *mean, const float *rstd) {
    GptActs *a = &m->a;
    int C = m->cfg.channels;
    if (m->tp.sp) {
        dw = a->lngrad + (size_t)2 * k * C;
        db = dw + C;
        if (k == 0) memset(a->lngrad, 0, sizeof(float) * 4 * C);
    }
    layernorm_backward(a->dres, dw, db, dout, x, w, mean, rstd, gpt_rows(m, m->B * m->T), C);
}

void tp_layernorm_grads_sum(Gpt *m, float *const *dst, int nln) {
    if (!m->tp.sp) return;
    int C = m->cfg.channels;
    tp_run(m, GPT_TP_SUM, m->a.lngrad, NULL, (size_t)2 * nln * C);
    for (int j = 0; j < 2 * nln; j++) {
        const float *s = m->a.lngrad + (size_t)j * C;
        for (int c = 0; c < C; c++) dst[j][c] += s[c];
    }
}

/* ---- embedding and head */

void tp_embed_forward(Gpt *m, const int32_t *tokens) {
    GptActs *a = &m->a;
    int B = m->B, T = m->T, N = B * T, C = m->cfg.channels, tp = m->tp.size;
    if (tp == 1) {
        encoder_forward(a->input, tokens, m->p.wte, m->p.wpe, B, T, C);
        return;
    }
    /* vocabulary-parallel lookup: the owner's row, zeros elsewhere, summed */
    int Vl = gpt_vocab_rows(&m->cfg, tp), Tl = T / tp;
    if (!m->tp.sp) {
        vp_encoder_forward(a->input, tokens, m->p.wte, m->tp.rank * Vl, Vl, N, C);
        tp_run(m, GPT_TP_SUM, a->input, NULL, (size_t)N * C);
        add_position_rows(a->input, m->p.wpe, B, T, C);
        return;
    }
    vp_encoder_forward(a->dtmp, tokens, m->p.wte, m->tp.rank * Vl, Vl, N, C);
    tp_wait(m, scatter_start(m, a->dtmp, a->input)); /* this rank's tokens only */
    add_position_rows(a->input, m->p.wpe + (size_t)m->tp.rank * Tl * C, B, Tl, C);
}

void tp_embed_backward(Gpt *m) {
    GptActs *a = &m->a;
    int B = m->B, T = m->T, C = m->cfg.channels, tp = m->tp.size;
    if (tp == 1) {
        encoder_backward(m->g.wte, m->g.wpe, a->dres, a->tokens, B, T, C);
        return;
    }
    /* with SP, gather the input gradient of every token: wte's rows need all
     * of them, and wpe's gradient then comes out whole on every rank */
    const float *d = m->tp.sp ? gather_finish(m, gather_start(m, a->dres), a->gath) : a->dres;
    int Vl = gpt_vocab_rows(&m->cfg, tp);
    vp_encoder_backward(m->g.wte, m->g.wpe, d, a->tokens, m->tp.rank * Vl, Vl, B, T, C);
}

/* One rank: logits = lnf wte^T and softmax cross-entropy, fused. Tensor
 * parallel: logits over this rank's vocabulary rows for all N rows, and the
 * loss from 3 all-reduces (max, sum of exps, target logit); with SP the
 * final LayerNorm runs on this rank's rows and its output is gathered. */
void tp_head_forward(Gpt *m, const float *x, const int32_t *targets) {
    GptActs *a = &m->a;
    int N = m->B * m->T, C = m->cfg.channels, V = m->cfg.vocab_size, Vp = m->cfg.padded_vocab_size;
    if (!m->tp.sp) {
        layernorm_forward(a->lnf, a->lnf_mean, a->lnf_rstd, x, m->p.lnfw, m->p.lnfb, N, C);
    } else {
        float *slot = a->stage + (size_t)m->tp.rank * rows_floats(m);
        layernorm_forward(slot, a->lnf_mean, a->lnf_rstd, x, m->p.lnfw, m->p.lnfb, gpt_rows(m, N), C);
        gather_finish(m, gather_start(m, slot), a->lnf);
    }
    if (m->tp.size == 1) {
        classifier_forward(a->logits, a->losses, a->lse, a->lnf, m->p.wte, targets, N, C, V, Vp);
        return;
    }
    int Vl = gpt_vocab_rows(&m->cfg, m->tp.size), v0 = m->tp.rank * Vl;
    matmul_forward(a->logits, a->lnf, m->p.wte, NULL, N, C, Vl);
    if (!targets) return;
    float *mx = a->vp_stats, *sumexp = mx + N, *zt = sumexp + N;
    vp_ce_local_max(mx, a->logits, N, v0, Vl, V);
    tp_run(m, GPT_TP_MAX, mx, NULL, (size_t)N);
    vp_ce_local_sums(sumexp, zt, a->logits, mx, targets, N, v0, Vl, V);
    tp_run(m, GPT_TP_SUM, sumexp, NULL, (size_t)N);
    tp_run(m, GPT_TP_SUM, zt, NULL, (size_t)N);
    vp_ce_finish(a->losses, a->lse, mx, sumexp, zt, N);
}

void tp_head_backward(Gpt *m, const float *x, float dloss) {
    GptActs *a = &m->a;
    int N = m->B * m->T, C = m->cfg.channels, V = m->cfg.vocab_size, Vp = m->cfg.padded_vocab_size;
    if (m->tp.size == 1) {
        classifier_backward(a->dtmp, m->g.wte, a->logits, a->lse, a->lnf, m->p.wte, a->targets,
                            dloss, N, C, V, Vp);
    } else { /* the LM head is column-parallel over the vocabulary */
        int Vl = gpt_vocab_rows(&m->cfg, m->tp.size), v0 = m->tp.rank * Vl;
        vp_ce_backward(a->logits, a->lse, a->targets, dloss, N, v0, Vl, V);
        tp_column_backward(m, m->g.wte, NULL, a->logits, a->lnf, 0, m->p.wte, Vl);
    }
    tp_layernorm_backward(m, 0, m->g.lnfw, m->g.lnfb, a->dtmp, x, m->p.lnfw, a->lnf_mean, a->lnf_rstd);
    float *const dst[] = {m->g.lnfw, m->g.lnfb};
    tp_layernorm_grads_sum(m, dst, 1);
}
