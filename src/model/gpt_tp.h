/* gpt_tp.h - the model's side of tensor and sequence parallelism (gpt_tp.c),
 * used by the layer loop in gpt.c. Internal to src/model.
 *
 * Rows: a micro-batch has N = B*T token rows. The residual stream, the
 * LayerNorms and their statistics hold Nr rows on this rank: N, or with
 * sequence parallelism N/tp (this rank's T/tp tokens of each sequence). The
 * products between them (QKV, attention, fc, GELU, the projections, logits)
 * always see all N rows and this rank's share of the columns. */
#ifndef LS_GPT_TP_H
#define LS_GPT_TP_H
#include "gpt.h"

/* rows of the residual stream on this rank */
static inline int gpt_rows(const Gpt *m, int N) { return m->tp.sp ? N / m->tp.size : N; }

/* The input of a column-parallel product (QKV, fc) from this rank's rows of
 * a LayerNorm output: Megatron's f is the identity forward; with SP, the rows
 * are all-gathered into a->gath. Returns (N, C) rows in sequence order. */
const float *tp_column_input(Gpt *m, const float *rows);
/* Backward of a column-parallel product y = x W^T (+ b), W this rank's (OCl, C)
 * rows: dx into a->dtmp (this rank's Nr rows, summed over the group), dW and
 * db accumulated. x_split: x holds only this rank's rows (SP stores the
 * LayerNorm outputs split; they are gathered again here). */
void tp_column_backward(Gpt *m, float *dW, float *db, const float *dout, const float *x, int x_split,
                        const float *W, int OCl);
/* A row-parallel product y = x W^T + b (W this rank's (C, Cin) columns) whose
 * rows the residual stream adds: returns this rank's Nr rows of y (a->dtmp). */
const float *tp_row_forward(Gpt *m, const float *x, const float *W, const float *bias, int Cin);
/* Its backward, with a->dres as the gradient of y: dx (N, Cin) written, dW
 * and db accumulated. */
void tp_row_backward(Gpt *m, float *dx, float *dW, float *db, const float *x, const float *W, int Cin);

/* LayerNorm backward of this rank's rows into a->dres. Its weight gradients
 * go to (dw, db), or with SP to LayerNorm slot k of a->lngrad, partial sums
 * over this rank's tokens that tp_layernorm_grads_sum adds up over the group
 * and accumulates into dst[0..2k) = (dw0, db0, dw1, db1, ...). */
void tp_layernorm_backward(Gpt *m, int k, float *dw, float *db, const float *dout, const float *x,
                           const float *w, const float *mean, const float *rstd);
void tp_layernorm_grads_sum(Gpt *m, float *const *dst, int nln);

/* The embedding (vocabulary-parallel; first stage) into a->input, and its
 * backward from a->dres. */
void tp_embed_forward(Gpt *m, const int32_t *tokens);
void tp_embed_backward(Gpt *m);
/* The head (last stage): final LayerNorm of x (Nr rows), logits and, with
 * targets, the per-token losses of all N rows; its backward into a->dres. */
void tp_head_forward(Gpt *m, const float *x, const int32_t *targets);
void tp_head_backward(Gpt *m, const float *x, float dloss);

#endif
