/* memory.h - bytes on one rank for a model, a layout and a precision.
 *
 * One formula in one place: the trainer's --memory-report calls plan_memory()
 * for its own layout, and `llmscale plan` calls it for layouts that do not
 * exist yet, so the two cannot disagree. Parameter counts come from the
 * model's own layout code (gpt_layout_build: the stage's layer range, the
 * tensor-parallel shard, the padded vocabulary), and llmscale's activations
 * from the model's own allocation size (gpt_act_bytes).
 *
 *   params      weight_bytes * local parameters   (ZeRO-3: one dp shard)
 *   grads       grad_bytes   * local parameters   (ZeRO-2/3: one dp shard)
 *   optimizer   (master_bytes + optim_bytes) * local parameters
 *                                                 (ZeRO-1/2/3: one dp shard)
 *   activations what the rank holds at its peak (see plan_act_bytes)
 *   buffers     PLAN_ACT_MEGATRON: ZeRO-3's one gathered unit (the rank's
 *               largest unit, whole); PLAN_ACT_LLMSCALE: the staging the
 *               trainer's ZeRO engine allocates (zero_staging_bytes)
 * A dp shard is plan_zero_shard_len(n, dp) elements (padding included). */
#ifndef LS_PLAN_MEMORY_H
#define LS_PLAN_MEMORY_H
#include <stddef.h>

#include "../model/gpt.h"
#include "../model/gpt_config.h"

/* the model's recomputation modes (the trainer hands its own to plan_memory) */
typedef enum {
    PLAN_RECOMPUTE_NONE = GPT_RECOMPUTE_NONE,
    PLAN_RECOMPUTE_SELECTIVE = GPT_RECOMPUTE_SELECTIVE,
    PLAN_RECOMPUTE_FULL = GPT_RECOMPUTE_FULL
} PlanRecompute;
/* Korthikanti et al. 2022 formulas for Megatron-style fp16/bf16 training; or
 * llmscale's own stored activations */
typedef enum { PLAN_ACT_MEGATRON, PLAN_ACT_LLMSCALE } PlanActModel;
/* vpp = virtual stages per rank (1 = none); num_micro = micro-batches per step
 * per dp rank */
typedef struct {
    int dp, tp, pp, vpp, zero, sp;
    PlanRecompute recompute;
    int micro_batch, seq, num_micro;
} PlanLayout;
/* per parameter / per activation element: fp32 CPU llmscale = {4,4,0,8,4};
 * Megatron mixed precision = {2,2,4,8,2} (ZeRO paper's K=12) */
typedef struct { int weight_bytes, grad_bytes, master_bytes, optim_bytes, act_bytes; } PlanPrecision;
extern const PlanPrecision PLAN_PREC_LLMSCALE_FP32, PLAN_PREC_MIXED;
/* bytes on one rank */
typedef struct { double params, grads, optimizer, activations, buffers, total; } PlanMemory;

void plan_memory(const GptConfig *cfg, const PlanLayout *l, const PlanPrecision *p, PlanActModel act,
                 int pp_rank, PlanMemory *out);
/* The same with llmscale's gradient bucket size (--bucket-mb; plan_memory
 * uses the trainer's default), which sets its ZeRO staging buffers. */
void plan_memory_ex(const GptConfig *cfg, const PlanLayout *l, const PlanPrecision *p,
                    PlanActModel act, int pp_rank, double bucket_mb, PlanMemory *out);

/* ZeRO's slice of a flat buffer of n elements over dp ranks:
 * round_up(ceil(n / dp), 16) elements per rank (the last rank's slice is
 * padded): zero_shard_len of src/parallel/zero.h, the function the trainer
 * cuts its buffers with, so plan's numbers and the allocation agree. */
size_t plan_zero_shard_len(size_t n, int dp);

/* Parameters held by pipeline rank pp_rank (the sum over its vpp chunks, one
 * tensor-parallel shard, from gpt_layout_build) and its largest unit
 * (embedding, one layer, or the head) in elements. Layers split evenly:
 * chunk c of rank r is virtual stage c*pp + r of pp*vpp equal stages. */
double plan_rank_params(const GptConfig *cfg, int tp, int pp, int vpp, int pp_rank, double *largest_unit);

/* Check a layout against a model: 0 if usable, else 1 with a one-line reason
 * in why (heads or padded vocab not divisible by tp, layers not by pp*vpp,
 * seq beyond the model's, ...). */
int plan_layout_check(const GptConfig *cfg, const PlanLayout *l, char *why, size_t n);

/* Korthikanti et al. 2022 (Table 2) activation bytes of ONE transformer
 * layer for one micro-batch (b sequences of s tokens), 16-bit activations:
 *   none, tp:         s*b*h*(10 + 24/t + 5*a*s/(h*t))   (t = 1: 34 + 5as/h)
 *   none, tp + sp:    s*b*h/t*(34 + 5*a*s/h)
 *   selective:        s*b*h*(10 + 24/t)   (with sp: 34*s*b*h/t)
 *   full:             2*s*b*h             (with sp: 2*s*b*h/t)
 * scaled by act_bytes/2 for other activation widths. */
double plan_act_layer_bytes_megatron(const GptConfig *cfg, int b, int s, int tp, int sp,
                                     PlanRecompute rc, int act_bytes);
/* Micro-batches whose activations pipeline rank r holds at its peak under
 * 1F1B, counted in layer-sets of L/pp layers: min(pp - r, m) without
 * interleaving; with vpp > 1, Megatron's interleaved warm-up
 * min(2*(pp - r - 1) + (vpp - 1)*pp + 1, m*vpp) chunks of L/(pp*vpp) layers,
 * divided by vpp (rank 0: 1 + (pp-1)/(pp*vpp) times pp, Korthikanti Sec. 4.2.3). */
double plan_inflight(const PlanLayout *l, int pp_rank);
/* Activation bytes on pipeline rank pp_rank (see memory.c). */
double plan_act_bytes(const GptConfig *cfg, const PlanLayout *l, const PlanPrecision *p,
                      PlanActModel act, int pp_rank);

#endif
