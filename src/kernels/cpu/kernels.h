/* kernels.h - the CPU numerical kernels of a GPT layer, forward and backward.
 *
 * Shapes use N = B*T rows (tokens), C channels, OC output channels, NH heads,
 * hs = C/NH head size, V real and Vp padded vocabulary. All tensors are
 * row-major float32. Conventions for backward kernels:
 *   - weight and bias gradients are ACCUMULATED (+=), so gradient accumulation
 *     over micro-batches is free;
 *   - input gradients are either accumulated into the residual stream
 *     (layernorm_backward, encoder) or written (matmul/attention/gelu, into
 *     scratch buffers), as each function says.
 * Reductions over rows are ordered independently of the thread count, so a run
 * is bit-reproducible on the same machine. */
#ifndef LS_KERNELS_H
#define LS_KERNELS_H
#include <stddef.h>
#include <stdint.h>

/* --- token + position embedding: out[b,t,:] = wte[tok[b,t],:] + wpe[t,:] */
void encoder_forward(float *out, const int32_t *tok, const float *wte, const float *wpe, int B,
                     int T, int C);
/* dwte[tok] += dout, dwpe[t] += sum_b dout (accumulate) */
void encoder_backward(float *dwte, float *dwpe, const float *dout, const int32_t *tok, int B,
                      int T, int C);

/* --- LayerNorm over C, eps 1e-5: out = (x - mean) * rstd * w + b */
void layernorm_forward(float *out, float *mean, float *rstd, const float *x, const float *w,
                       const float *b, int N, int C);
/* res = a + b (the residual add), then out = LN(res): one pass */
void residual_layernorm_forward(float *res, float *out, float *mean, float *rstd, const float *a,
                                const float *b, const float *w, const float *bias, int N, int C);
/* dx += ..., dw += ..., db += ... */
void layernorm_backward(float *dx, float *dw, float *db, const float *dout, const float *x,
                        const float *w, const float *mean, const float *rstd, int N, int C);

/* --- precision of the linear layers (and the LM head): fp32 (default), or
 * bf16 operands with fp32 accumulation. Process-wide; set once at start-up
 * (fatal if the CPU cannot run bf16 products). */
typedef enum { LS_DTYPE_F32, LS_DTYPE_BF16 } LsDtype;
void matmul_set_dtype(LsDtype t);
LsDtype matmul_dtype(void);
const char *matmul_describe(void); /* e.g. "bf16 AMX (tdpbf16ps)" */

/* --- linear layer, W is (OC, C) as in torch.nn.Linear: out = x W^T + bias */
void matmul_forward(float *out, const float *x, const float *W, const float *bias, int N, int C,
                    int OC);
/* dx = dout W (written; skipped if dx is NULL), dW += dout^T x, dbias += colsum(dout)
 * (both skipped if dW is NULL): tensor parallelism computes dx first, starts
 * its reduction, and overlaps the weight gradient with it. */
void matmul_backward(float *dx, float *dW, float *dbias, const float *dout, const float *x,
                     const float *W, int N, int C, int OC);
/* While a sink is set (not NULL), every dW product of matmul_backward WRITES
 * dW = dout^T x instead of adding to it (what dW held is ignored; our engine
 * uses streaming stores, which do not read its lines first), and adds to
 * *sink the sum of the squares of the new dW, taken in the GEMM's epilogue
 * while each tile is in registers (gemm_sumsq; after an OpenBLAS product, by
 * a pass over dW). With one process and one micro-batch that is the weight's
 * share of the gradient norm, so the trainer need not read the gradient
 * again for it, nor clear it beforehand (gpt.h: Gpt.grad_sq). */
void matmul_set_dw_sumsq(double *sink);

/* --- causal multi-head self-attention on qkv (B,T,3C) = [q | k | v].
 * The model's version (flash-attention style, see attention.c) keeps only
 * lse (B,NH,T), the log-sum-exp of each row's scores, for backward. */
void attention_forward(float *out, float *lse, const float *qkv, int B, int T, int C, int NH);
/* dqkv is written (not accumulated); out and lse are the forward's */
void attention_backward(float *dqkv, const float *dout, const float *qkv, const float *out,
                        const float *lse, int B, int T, int C, int NH);
/* Reference versions: att (B,NH,T,T) keeps the softmax probabilities. */
void attention_forward_ref(float *out, float *att, const float *qkv, int B, int T, int C, int NH);
void attention_backward_ref(float *dqkv, const float *dout, const float *qkv, const float *att, int B,
                            int T, int C, int NH);

/* --- sum of the squares of n floats (sum_squares.c: the gradient norm) */
double sum_squares(const float *x, size_t n);

/* --- GELU, tanh approximation */
void gelu_forward(float *out, const float *x, long n);
/* dx = dout * gelu'(x); dx may alias dout */
void gelu_backward(float *dx, const float *x, const float *dout, long n);

/* --- residual: out = a + b */
void residual_forward(float *out, const float *a, const float *b, long n);

/* --- softmax cross-entropy over the first V of Vp logits per row.
 * losses[i] = logsumexp(logits[i, :V]) - logits[i, target[i]]; lse keeps the
 * log-sum-exp for backward. */
void crossentropy_forward(float *losses, float *lse, const float *logits, const int32_t *target,
                          int N, int V, int Vp);
/* In place: logits becomes dlogits = (softmax - onehot) * dloss, 0 on padded columns. */
void crossentropy_backward(float *logits, const float *lse, const int32_t *target, float dloss,
                           int N, int V, int Vp);

/* --- LM head: logits = lnf wte^T and, if targets is not NULL, the loss above */
void classifier_forward(float *logits, float *losses, float *lse, const float *lnf,
                        const float *wte, const int32_t *targets, int N, int C, int V, int Vp);
/* logits becomes dlogits (in place); dlnf written, dwte accumulated */
void classifier_backward(float *dlnf, float *dwte, float *logits, const float *lse,
                         const float *lnf, const float *wte, const int32_t *targets, float dloss,
                         int N, int C, int V, int Vp);

/* --- tensor parallelism (vocab_parallel.c): local halves of the
 * vocabulary-parallel embedding and loss; the model adds the all-reduces.
 * This rank holds vocabulary rows [v0, v0 + Vl); logits are (N, Vl). */
/* out = wte[tok - v0] for tokens in range, else 0 (N rows) */
void vp_encoder_forward(float *out, const int32_t *tok, const float *wte, int v0, int Vl, int N,
                        int C);
/* out[b,t,:] += wpe[t,:] */
void add_position_rows(float *out, const float *wpe, int B, int T, int C);
/* dwte[tok - v0] += dout for tokens in range; dwpe[t] += sum_b dout (accumulate) */
void vp_encoder_backward(float *dwte, float *dwpe, const float *dout, const int32_t *tok, int v0,
                         int Vl, int B, int T, int C);
/* out[i,:] += bias (the bias of a row-parallel product, added once after the reduction) */
void bias_add_rows(float *out, const float *bias, int N, int C);
/* per row: max over the local real columns */
void vp_ce_local_max(float *mx, const float *logits, int N, int v0, int Vl, int V);
/* per row, given the global max: sum of exp(z - max) over local real columns,
 * and the target's logit if this rank owns it (else 0) */
void vp_ce_local_sums(float *sumexp, float *zt, const float *logits, const float *mx,
                      const int32_t *target, int N, int v0, int Vl, int V);
/* from the reduced max, sums and target logits: lse and losses */
void vp_ce_finish(float *losses, float *lse, const float *mx, const float *sumexp, const float *zt,
                  int N);
/* in place: local logits become dloss * (softmax - onehot), 0 on padding */
void vp_ce_backward(float *logits, const float *lse, const int32_t *target, float dloss, int N,
                    int v0, int Vl, int V);

/* --- sequence parallelism (sequence_parallel.c): rank r of tp holds tokens
 * [r*T/tp, (r+1)*T/tp) of each of the B sequences. pieces is rank-major (rank
 * r's B*T/tp rows after rank r-1's), full is (B, T, C); T % tp == 0. */
void seq_to_rank_major(float *pieces, const float *full, int B, int T, int tp, int C);
void seq_from_rank_major(float *full, const float *pieces, int B, int T, int tp, int C);

#endif
