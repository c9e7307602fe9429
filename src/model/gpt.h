/* gpt.h - the model on one rank: its parameters and gradients (flat buffers,
 * see gpt_layout.h), its activations, and the forward/backward pass of its
 * pipeline stage for one micro-batch of B sequences of T tokens.
 *
 * Loss convention: gpt_forward returns the MEAN token loss of the micro-batch;
 * gpt_backward(dloss) back-propagates `dloss` times the SUM of token losses, so
 * the trainer passes dloss = 1/(tokens in the global batch) and the gradients
 * summed over micro-batches (and later over ranks) are exactly those of the
 * global-batch mean loss. Gradients accumulate (+=) until gpt_zero_grad. */
#ifndef LS_GPT_H
#define LS_GPT_H
#include <stddef.h>
#include <stdint.h>

#include "gpt_layout.h"

typedef struct {
    /* per local layer (index l - layer_begin), each an array of pointers into one block */
    /* att: the attention's per-row log-sum-exp (B,NH,T), see kernels.h */
    /* with sequence parallelism ln1, res2, ln2, res3, input, their statistics
     * and dres hold this rank's T/tp tokens of each sequence (B*T/tp rows) */
    float **ln1, **ln1_mean, **ln1_rstd, **qkv, **atty, **att, **res2;
    float **ln2, **ln2_mean, **ln2_rstd, **fch, **fch_gelu, **res3;
    float *input;      /* (B,T,C) residual stream entering the stage */
    float *lnf, *lnf_mean, *lnf_rstd, *logits, *lse, *losses;
    float *vp_stats;   /* tp > 1: per-row max, sum of exps, target logit of the loss */
    int32_t *tokens, *targets;
    /* backward scratch */
    float *dres, *dtmp, *dqkv, *dfch;
    /* sequence parallelism: a gathered (B,T,C) LayerNorm output or residual
     * gradient, the rank-major staging of a collective, and the partial
     * LayerNorm weight gradients of one micro-batch (summed over tp) */
    float *gath, *stage, *lngrad;
    float *block;      /* the single allocation behind all of the above */
    size_t bytes;
} GptActs;

/* Hooks let the parallel layer act between the pieces of a pass without the
 * model knowing about communication: ZeRO-3 gathers a unit's weights before
 * it runs and frees them after; data parallelism starts the reduction of a
 * unit's gradients as soon as its backward is done. A "unit" is
 *   GPT_UNIT_EMBED (-1)  the embedding (wte, wpe; on the first stage),
 *   0 .. nl-1            the local transformer layers, in order,
 *   nl                   the head (final layernorm; the logits use the tied wte).
 * Forward visits embed, 0..nl-1, head; backward visits head, nl-1..0, embed.
 * The tied wte's gradient is complete only after the embed unit's backward. */
#define GPT_UNIT_EMBED (-1)
typedef enum { GPT_PRE_FORWARD, GPT_POST_FORWARD, GPT_PRE_BACKWARD, GPT_POST_BACKWARD } GptHookEvent;
typedef void (*GptHook)(void *ctx, GptHookEvent ev, int unit);

/* Tensor parallelism (Megatron): the layer's products are split over the
 * tensor-parallel group and combined by collectives the model asks for through
 * this callback, so the model knows nothing about communication (gpt_tp.c
 * says which, where and why). `start` begins a collective and returns a
 * handle that `wait` completes (NULL: already complete):
 *   GPT_TP_SUM     all-reduce sum of buf[0..n) in place (max: GPT_TP_MAX)
 *   GPT_TP_GATHER  all-gather in place: buf holds size*n floats, this rank's
 *                  n at buf + rank*n; afterwards every rank's piece
 *   GPT_TP_SCATTER reduce-scatter: buf holds size*n floats (rank-major
 *                  pieces), summed over the group; this rank's piece -> out
 * sp = 1: sequence parallelism (Korthikanti et al. 2022): the residual
 * stream, LayerNorms and their activations hold T/size tokens of each
 * sequence per rank; all-gather / reduce-scatter replace the all-reduces.
 * size 1: no calls, the one-process code path. */
typedef enum { GPT_TP_SUM, GPT_TP_MAX, GPT_TP_GATHER, GPT_TP_SCATTER } GptTpOp;
typedef struct {
    int size, rank, sp;
    void *ctx;
    void *(*start)(void *ctx, GptTpOp op, float *buf, float *out, size_t n);
    void (*wait)(void *ctx, void *handle);
} GptTp;

typedef struct {
    GptLayout lay;
    GptConfig cfg;
    float *params, *grads; /* flat, lay.total floats each */
    GptTensors p, g;       /* per-tensor views of params and grads */
    GptActs a;
    int B, T;              /* shape the activations are allocated for (0 = none) */
    GptTp tp;              /* tensor-parallel group (size 1 = none) */
    GptHook hook;          /* NULL = none */
    void *hook_ctx;
    /* activation sets: the pipeline keeps one per micro-batch in flight;
     * `a` is set `cur`, the others wait in slots[] (gpt_select_acts) */
    GptActs *slots;
    int nslots, cur;
    int recompute;         /* GPT_RECOMPUTE_*, set before the first forward */
    /* NULL, or: gpt_backward adds the sum of squares of the weight matrices'
     * and wte's gradients here as it computes them (kernels.h,
     * matmul_set_dw_sumsq), so that with gpt_grad_sq_rest the gradient norm
     * needs no second read of them. Only when the backward leaves the final
     * gradient: one process (tp = 1), one micro-batch; the weight-gradient
     * products then write their gradients instead of adding to them (what
     * was there is ignored: gpt_overwritten_kinds), the other gradients must
     * be zero as usual. The trainer sets it only then. */
    double *grad_sq;
} Gpt;

/* Allocate a model holding layers [layer_begin, layer_end) as tensor-parallel
 * shard tp_rank of tp. Parameters are zero until gpt_init_random or a load. */
void gpt_create(Gpt *m, const GptConfig *cfg, int layer_begin, int layer_end, int tp, int tp_rank);
/* The same, but the flat parameter and/or gradient buffers are left to the
 * caller (NULL here; ZeRO-2/3 keep only slices and bind staged buffers with
 * gpt_tensors_rebind before each unit runs). */
enum { GPT_OWN_PARAMS = 1, GPT_OWN_GRADS = 2, GPT_OWN_ALL = 3 };
void gpt_create_ex(Gpt *m, const GptConfig *cfg, int layer_begin, int layer_end, int tp,
                   int tp_rank, int own);
void gpt_destroy(Gpt *m);
/* GPT-2 initialisation, layout-free: every full tensor is drawn from its own
 * stream seeded by (seed, tensor, layer), so any sharding gets the same values. */
void gpt_init_random(Gpt *m, uint64_t seed);
/* (Re)allocate activations for micro-batches of B x T (T <= max_seq_len). */
void gpt_ensure_acts(Gpt *m, int B, int T);
size_t gpt_act_bytes(const GptConfig *cfg, int nlayers, int B, int T);
/* Activation recomputation (Korthikanti et al. 2022): NONE stores every
 * activation a layer's backward needs; SELECTIVE recomputes the attention
 * core (softmax and its inputs' products) in backward, which llmscale's
 * flash-style attention always does (it stores only a log-sum-exp per head
 * and token, never the scores), so it stores what NONE does; FULL stores only
 * each layer's input and runs the layer forward again in its backward. */
enum { GPT_RECOMPUTE_NONE, GPT_RECOMPUTE_SELECTIVE, GPT_RECOMPUTE_FULL };
/* "none", "selective", "full" (the --recompute flag of train and plan) to
 * GPT_RECOMPUTE_*, -1 for anything else; and back */
int gpt_recompute_parse(const char *name);
const char *gpt_recompute_name(int recompute);

/* One activation set of a pipeline stage of nlayers layers (the head's
 * buffers only if it has the head). */
size_t gpt_act_bytes_stage(const GptConfig *cfg, int nlayers, int has_head, int B, int T, int tp,
                           int sp, int recompute);
/* Keep n activation sets (default 1), allocated by the next gpt_ensure_acts;
 * gpt_select_acts(k) makes set k the one forward/backward use: a pipeline
 * stage holds one per micro-batch in flight (the forward of one micro-batch,
 * later its backward, with other micro-batches' passes in between). */
void gpt_set_act_slots(Gpt *m, int n);
void gpt_select_acts(Gpt *m, int k);
/* Bytes of all activation sets. */
size_t gpt_act_bytes_held(const Gpt *m);
/* The same on one tensor-parallel shard of tp (local heads, fc columns, vocab
 * rows), with sequence parallelism if sp (T/tp tokens of the residual stream). */
size_t gpt_act_bytes_tp(const GptConfig *cfg, int nlayers, int B, int T, int tp, int sp);

/* Forward one micro-batch. tokens (B*T) are read on the first stage; targets
 * (B*T) on the last stage, or NULL to compute logits only. Returns the mean
 * loss (last stage with targets) or 0. */
float gpt_forward(Gpt *m, const int32_t *tokens, const int32_t *targets, int B, int T);
/* Backward of the last forward, accumulating parameter gradients; dloss is
 * the weight of each token's loss (see above). */
void gpt_backward(Gpt *m, float dloss);
void gpt_zero_grad(Gpt *m);
/* Sum of squares of the gradients gpt_backward does not add to grad_sq (biases,
 * LayerNorm gains and biases, wpe): with *grad_sq, the squared gradient norm. */
double gpt_grad_sq_rest(const Gpt *m);
/* Bit (1 << T_*) for each kind whose gradient a backward with grad_sq set
 * overwrites (the weight matrices and wte): they need not be cleared before it. */
unsigned gpt_overwritten_kinds(void);
/* Logits of row (b, t) of the last forward (Vp floats, first V real). */
const float *gpt_logits(const Gpt *m, int b, int t);

#endif
