/* cost.h - analytic time of one training step (docs/PLANNER.md).
 *
 * Per micro-batch and pipeline stage, every GEMM of the transformer (forward,
 * the two backward GEMMs, the recomputed forward) is timed at its shape:
 *     t = max(flops / (peak * gemm_eff * g(M) g(N) g(K)),  bytes / (hbm * mem_eff))
 * element-wise kernels as memory traffic, attention on cpu-local at its
 * measured rate, tensor-parallel collectives as ring collectives, exposed
 * (Megatron runs them on the critical path). A step is
 *     m * t_mb  +  bubble (p-1)/v * t_mb  +  p2p  +  exposed DP  +  optimizer
 * for the slowest stage, m micro-batches per dp rank, v virtual stages. */
#ifndef LS_PLAN_COST_H
#define LS_PLAN_COST_H

#include "../model/gpt_config.h"
#include "catalog.h"
#include "memory.h"

typedef struct {
    /* seconds per step (per dp rank, the slowest pipeline stage) */
    double compute_s;      /* GEMMs + element-wise + attention, incl. recompute */
    double gemm_s, elem_s; /* parts of compute_s */
    double tp_comm_s;      /* exposed tensor-parallel collectives */
    double pp_comm_s;      /* exposed pipeline send/recv */
    double dp_comm_s;      /* exposed data-parallel / ZeRO collectives */
    double dp_comm_total_s;/* the same before overlap with backward */
    double bubble_s;       /* pipeline fill and drain */
    double optimizer_s;    /* AdamW (and zero-grad, grad norm) as memory traffic */
    double step_s;
    /* rates */
    double hw_flops;       /* per step, all GPUs: every GEMM executed, recompute included
                              (= Narayanan et al. Eq. 3's F with full recompute) */
    double model_flops;    /* per step: (6N + 12*L*h*s) * tokens (gpt_flops_per_token) */
    double tflops_per_gpu; /* hw_flops / step / GPUs */
    double model_tflops_per_gpu;
    double mfu;            /* model_flops / (step * GPUs * peak) */
    double tokens_per_s;
    double days;           /* for the token count asked (0 if none) */
    double peak_tflops;    /* the denominator used */
    int gpus;
} PlanCost;

/* Step time of layout l (l->num_micro micro-batches per dp rank). hw gives
 * the device; p the precision (its act_bytes is the width of activations
 * and TP/PP messages, weight/grad bytes the DP volume). act picks llmscale's
 * own kernels' traffic (cpu-local) or Megatron's. tokens: training tokens for
 * `days` (0: none). The layout must pass plan_layout_check. */
void plan_cost(const GptConfig *cfg, const PlanLayout *l, const PlanHw *hw, const PlanPrecision *p,
               PlanActModel act, double tokens, PlanCost *out);

/* Ring collectives over W ranks of V bytes on links of bw GB/s (already
 * scaled by comm_eff) and lat microseconds per step:
 *   all-reduce 2(W-1)/W * V/bw + 2(W-1) lat; all-gather, reduce-scatter (W-1)/W * V/bw + (W-1) lat */
double plan_allreduce_s(double V, int W, double bw_gbs, double lat_us);
double plan_allgather_s(double V, int W, double bw_gbs, double lat_us);

/* Bytes the element-wise kernels of one layer move for one micro-batch,
 * forward + backward (what cost.c charges at the element-wise bandwidth). */
double plan_layer_elem_bytes(const GptConfig *cfg, const PlanLayout *l, PlanActModel act, int ebytes);

/* Narayanan et al. (2021) FLOPs per iteration with full recompute:
 * F = 96 B s l h^2 (1 + s/(6h) + V/(16 l h)). */
double plan_narayanan_flops(const GptConfig *cfg, double global_batch, int seq);

/* Narayanan et al. Eq. 4 style end-to-end time in days: flops_per_token *
 * tokens / (gpus * tflops_per_gpu). With 8*P per token (recompute) this is
 * their T = 8TP/(nX); with 6*P it is the model-FLOP version. */
double plan_train_days(double flops_per_token, double tokens, double gpus, double tflops_per_gpu);

#endif
