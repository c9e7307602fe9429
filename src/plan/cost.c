/* cost.c - analytic step time (see cost.h and docs/PLANNER.md). */
#include "cost.h"

#include <math.h>
#include <string.h>

#include "../model/gpt.h"

/* Element-wise kernels move each stored activation byte twice in the forward
 * pass (written once, read once) and twice that in the backward pass (read
 * the saved value and the incoming gradient, write the outgoing one). */
#define ELEM_FWD_RW 2.0
#define ELEM_BWD_FACTOR 2.0

double plan_allreduce_s(double V, int W, double bw, double lat_us) {
    if (W <= 1 || V <= 0) return 0;
    return 2.0 * (W - 1) / W * V / (bw * 1e9) + 2.0 * (W - 1) * lat_us * 1e-6;
}

double plan_allgather_s(double V, int W, double bw, double lat_us) {
    if (W <= 1 || V <= 0) return 0;
    return (double)(W - 1) / W * V / (bw * 1e9) + (W - 1) * lat_us * 1e-6;
}

double plan_narayanan_flops(const GptConfig *c, double B, int s) {
    double l = c->num_layers, h = c->channels, V = c->vocab_size;
    return 96.0 * B * s * l * h * h * (1 + s / (6 * h) + V / (16 * l * h));
}

typedef struct {
    const PlanHw *hw;
    double peak;     /* FLOP/s */
    double bw;       /* memory bytes/s achieved by streaming GEMM operands */
    double ebw;      /* bytes/s of element-wise kernels */
    int ebytes;      /* bytes per activation / GEMM operand element */
    double flops;    /* accumulated executed FLOPs */
    double gemm_s, elem_s;
} Ctx;

static double g_shape(double d, double d0) { return d / (d + d0); }

/* nb independent GEMMs C[M,N] = A[M,K] B[K,N]: compute or memory bound. */
static void gemm(Ctx *x, double M, double N, double K, double nb) {
    double f = 2.0 * M * N * K * nb;
    double eff = x->hw->gemm_eff * g_shape(M, x->hw->gemm_d0) * g_shape(N, x->hw->gemm_d0) *
                 g_shape(K, x->hw->gemm_d0);
    double tc = f / (x->peak * eff);
    double tm = (M * K + K * N + M * N) * nb * x->ebytes / x->bw;
    x->flops += f;
    x->gemm_s += tc > tm ? tc : tm;
}

/* forward GEMM and its two backward GEMMs (dX = dY W^T: M x K over N;
 * dW = X^T dY: K x N over M) */
static void gemm_fb(Ctx *x, double M, double N, double K, double nb, int fwd, int bwd) {
    if (fwd) gemm(x, M, N, K, nb);
    if (bwd) {
        gemm(x, M, K, N, nb);
        gemm(x, K, N, M, nb);
    }
}

static void elem(Ctx *x, double bytes) { x->elem_s += bytes / x->ebw; }

/* Attention core (scores and weighted values) of one layer, one micro-batch. */
static void attention(Ctx *x, double b, double s, double h, double a, double t, int fwd, int bwd) {
    double hd = h / a, nb = b * a / t;
    if (x->hw->attn_gflops > 0) { /* llmscale's loop kernel at its measured rate */
        double f = 4.0 * b * s * s * h / t * (fwd + 2 * bwd);
        x->flops += f;
        x->gemm_s += f / (x->hw->attn_gflops * 1e9);
        return;
    }
    gemm_fb(x, s, s, hd, nb, fwd, bwd); /* q k^T */
    gemm_fb(x, s, hd, s, nb, fwd, bwd); /* probabilities v */
}

/* The four weight GEMMs of a layer (Megatron shards: QKV and fc1 by output
 * columns, projections by input rows). */
static void layer_gemms(Ctx *x, double bs, double h, double t, int fwd, int bwd) {
    gemm_fb(x, bs, 3 * h / t, h, 1, fwd, bwd);     /* QKV */
    gemm_fb(x, bs, h, h / t, 1, fwd, bwd);         /* attention projection */
    gemm_fb(x, bs, 4 * h / t, h, 1, fwd, bwd);     /* fc1 */
    gemm_fb(x, bs, h, 4 * h / t, 1, fwd, bwd);     /* fc2 */
}

/* Bytes element-wise kernels touch per layer per forward pass, and the part
 * of it that belongs to the attention core (softmax, dropout of scores). */
static void layer_elem_bytes(const GptConfig *c, const PlanLayout *l, PlanActModel act, int ebytes,
                             double *all, double *attn_part) {
    double b = l->micro_batch, s = l->seq, t = l->tp, a = c->num_heads;
    double probs, stored;
    if (act == PLAN_ACT_LLMSCALE) {
        /* the model's own per-layer allocation on a tensor-parallel rank,
         * less the attention rows' log-sum-exps that the attention kernel
         * (timed at its own measured rate) handles */
        stored = (double)gpt_act_bytes_tp(c, 1, l->micro_batch, l->seq, l->tp, l->sp) -
                 (double)gpt_act_bytes_tp(c, 0, l->micro_batch, l->seq, l->tp, l->sp) - b * a / t * s * 4;
        probs = 0;
    } else {
        stored = plan_act_layer_bytes_megatron(c, l->micro_batch, l->seq, l->tp, l->sp,
                                               PLAN_RECOMPUTE_NONE, ebytes);
        probs = 5.0 * a * s * s * b / t * ebytes / 2.0;
    }
    *all = ELEM_FWD_RW * stored;
    *attn_part = ELEM_FWD_RW * probs;
}

double plan_layer_elem_bytes(const GptConfig *c, const PlanLayout *l, PlanActModel act, int ebytes) {
    double all, attn;
    layer_elem_bytes(c, l, act, ebytes, &all, &attn);
    return all * (1 + ELEM_BWD_FACTOR);
}

/* Time of one micro-batch's forward+backward on pipeline rank r: compute
 * parts accumulate in x; returns the exposed TP communication. */
static double stage_mb(Ctx *x, const GptConfig *c, const PlanLayout *l, PlanActModel act, int r,
                       double *bwd_s) {
    double b = l->micro_batch, s = l->seq, h = c->channels, a = c->num_heads, t = l->tp;
    double bs = b * s, Vp = c->padded_vocab_size;
    int nl = c->num_layers / l->pp;
    const PlanHw *hw = x->hw;
    double el, el_attn;
    layer_elem_bytes(c, l, act, x->ebytes, &el, &el_attn);
    double g0 = x->gemm_s, e0 = x->elem_s, f0 = x->flops;
    /* backward first (to report the window DP overlaps with) */
    layer_gemms(x, bs, h, t, 0, 1);
    attention(x, b, s, h, a, t, 0, 1);
    elem(x, ELEM_BWD_FACTOR * el);
    double bwd_layer = (x->gemm_s - g0) + (x->elem_s - e0);
    /* forward, and what recompute repeats */
    layer_gemms(x, bs, h, t, 1, 0);
    attention(x, b, s, h, a, t, 1, 0);
    elem(x, el);
    if (l->recompute == PLAN_RECOMPUTE_FULL) {
        layer_gemms(x, bs, h, t, 1, 0);
        attention(x, b, s, h, a, t, 1, 0);
        elem(x, el);
    } else if (l->recompute == PLAN_RECOMPUTE_SELECTIVE) {
        attention(x, b, s, h, a, t, 1, 0);
        elem(x, el_attn);
    }
    /* one layer measured: scale the layer's increments to the stage's nl layers */
    double dg = x->gemm_s - g0, de = x->elem_s - e0, df = x->flops - f0;
    x->gemm_s = g0 + dg * nl;
    x->elem_s = e0 + de * nl;
    x->flops = f0 + df * nl;
    *bwd_s = bwd_layer * nl;
    /* TP: 2 all-reduces forward, 2 backward, 2 more when the forward is
     * recomputed in full (SP: all-gather + reduce-scatter, the same bytes) */
    double tp_bw = (t <= hw->gpus_per_node ? hw->intra_gbs : hw->inter_gbs) * hw->comm_eff;
    double tp_lat = t <= hw->gpus_per_node ? hw->intra_lat_us : hw->inter_lat_us;
    double ar = plan_allreduce_s(bs * h * x->ebytes, (int)t, tp_bw, tp_lat);
    double n_ar = (4 + (l->recompute == PLAN_RECOMPUTE_FULL ? 2 : 0)) * (double)nl;
    if (r == 0) { /* embedding: lookup, position add, dropout; its gradient scatter-add */
        elem(x, 3.0 * bs * h * x->ebytes);
        n_ar += 1; /* vocab-parallel embedding output */
    }
    if (r == l->pp - 1) { /* final LayerNorm, logits GEMM against wte, fp32 softmax cross-entropy */
        double g1 = x->gemm_s, e1 = x->elem_s;
        gemm_fb(x, bs, Vp / t, h, 1, 1, 1);
        elem(x, 3.0 * bs * Vp / t * 4 + 3.0 * ELEM_FWD_RW * bs * h * x->ebytes);
        *bwd_s += (x->gemm_s - g1) * 2 / 3 + (x->elem_s - e1) * 2 / 3;
        n_ar += 1; /* gradient of the LN output from the vocab-parallel logits */
        /* vocab-parallel cross-entropy: the row max, the sum of exponentials
         * and the target's logit, b s values each (Megatron and llmscale) */
        return n_ar * ar + 3 * plan_allreduce_s(bs * 4, (int)t, tp_bw, tp_lat);
    }
    return n_ar * ar;
}

void plan_cost(const GptConfig *c, const PlanLayout *l, const PlanHw *hw, const PlanPrecision *p,
               PlanActModel act, double tokens, PlanCost *o) {
    memset(o, 0, sizeof *o);
    int mixed = !hw->fp32_only && p->act_bytes <= 2;
    o->peak_tflops = mixed ? hw->peak16_tflops : hw->peak32_tflops;
    int P = l->pp, V = l->vpp, m = l->num_micro, t = l->tp, dp = l->dp;
    o->gpus = dp * t * P;
    /* The slowest stage: rank 0 (embedding) or the last (logits); ranks in
     * between are identical to rank 1. Executed FLOPs sum over all ranks. */
    Ctx best = {0};
    double best_mb = -1, best_tp = 0, best_bwd = 0, flops_all_stages = 0;
    for (int r = 0; r < P; r++) {
        if (r != 0 && r != P - 1 && r != 1) continue;
        double copies = (r == 1 && P > 2) ? P - 2 : 1;
        double bw = hw->hbm_gbs * 1e9 * hw->mem_eff;
        Ctx x = {hw, o->peak_tflops * 1e12, bw, hw->elem_gbs > 0 ? hw->elem_gbs * 1e9 : bw, p->act_bytes, 0, 0, 0};
        double bwd, tp = stage_mb(&x, c, l, act, r, &bwd);
        double mb = x.gemm_s + x.elem_s + tp;
        flops_all_stages += x.flops * copies;
        if (mb > best_mb) best_mb = mb, best = x, best_tp = tp, best_bwd = bwd;
    }
    /* Gradient accumulation: every micro-batch's weight gradients are added
     * into the gradient buffer (read + write), on top of the GEMMs. */
    double n_rank_max = 0; /* parameters of the fullest pipeline rank */
    for (int r = 0; r < P; r++) {
        if (r != 0 && r != P - 1 && r != 1) continue; /* middle ranks equal rank 1 */
        double nr = plan_rank_params(c, t, P, V, r, NULL);
        if (nr > n_rank_max) n_rank_max = nr;
    }
    double accum = 2.0 * p->grad_bytes * n_rank_max / best.ebw;
    best.elem_s += accum;
    best_mb += accum;
    o->gemm_s = m * best.gemm_s;
    o->elem_s = m * best.elem_s;
    o->compute_s = o->gemm_s + o->elem_s;
    o->tp_comm_s = m * best_tp;
    o->bubble_s = (double)(P - 1) / V * best_mb;
    /* PP: each micro-batch crosses each of the rank's boundaries forward and
     * backward, v times with interleaving; blocking send/recv on the critical
     * path. Megatron's scatter-gather optimisation sends 1/t of the tensor
     * between nodes. */
    if (P > 1) {
        int cross = t * P > hw->gpus_per_node;
        double bw = (cross ? hw->inter_gbs : hw->intra_gbs) * hw->comm_eff;
        double lat = cross ? hw->inter_lat_us : hw->intra_lat_us;
        double msg = (double)l->micro_batch * l->seq * c->channels * p->act_bytes / (cross ? t : 1);
        o->pp_comm_s = 2.0 * V * m * (msg / (bw * 1e9) + lat * 1e-6);
    }
    /* DP: the gradients of the rank's parameters. All-reduce (ZeRO 0), or
     * reduce-scatter of gradients + all-gather of parameters (ZeRO-1/2),
     * bucketed and started during the last micro-batch's backward, which
     * hides up to that backward's duration; the ZeRO-1/2 all-gather follows
     * the optimizer step, exposed. ZeRO-3 gathers parameters for every
     * micro-batch's forward and backward and reduce-scatters its gradients,
     * prefetched under that micro-batch's compute. */
    if (dp > 1) {
        double n = n_rank_max;
        int stride = t * P, k = hw->gpus_per_node / stride;
        double bw, lat;
        if ((long)dp * stride <= hw->gpus_per_node) bw = hw->intra_gbs, lat = hw->intra_lat_us;
        else {
            bw = (k > 1 ? k : 1) * hw->inter_gbs;
            if (bw > hw->intra_gbs) bw = hw->intra_gbs;
            lat = hw->inter_lat_us;
        }
        bw *= hw->comm_eff;
        double G = n * p->grad_bytes, Wb = n * p->weight_bytes;
        double mb_compute = best.gemm_s + best.elem_s;
        /* collectives run by the compute cores (cpu-local) hide behind nothing */
        if (hw->comm_on_cores) mb_compute = best_bwd = 0;
        if (l->zero >= 3) {
            double per_mb = 2 * plan_allgather_s(Wb, dp, bw, lat) + plan_allgather_s(G, dp, bw, lat);
            o->dp_comm_total_s = m * per_mb;
            o->dp_comm_s = m * fmax(0, per_mb - mb_compute);
        } else if (l->zero >= 1) {
            double rs = plan_allgather_s(G, dp, bw, lat), ag = plan_allgather_s(Wb, dp, bw, lat);
            o->dp_comm_total_s = rs + ag;
            o->dp_comm_s = fmax(0, rs - best_bwd) + ag;
        } else {
            double ar = plan_allreduce_s(G, dp, bw, lat);
            o->dp_comm_total_s = ar;
            o->dp_comm_s = fmax(0, ar - best_bwd);
        }
    }
    /* Optimizer as memory traffic per parameter of the rank's shard: read the
     * gradient, read+write master weights (or the weights themselves), write
     * the 16-bit copy, read+write the moments; zero the gradients, read them
     * once more for the norm and read+write them to clip (gradient clipping at
     * 1.0, Megatron's and llmscale's default, scales them whenever the norm
     * exceeds it, as it does through most of early training; llmscale scales
     * them inside AdamW's pass instead: clip_fused; and with one process and
     * one micro-batch needs no read for the norm: norm_fused). */
    {
        double n = n_rank_max;
        double shard = l->zero >= 1 ? (double)plan_zero_shard_len((size_t)n, dp) : n;
        double per = p->grad_bytes + (p->master_bytes ? 2.0 * p->master_bytes + p->weight_bytes
                                                      : 2.0 * p->weight_bytes) +
                     2.0 * p->optim_bytes;
        double bw = hw->hbm_gbs * 1e9 * hw->mem_eff;
        double zbw = hw->zero_gbs > 0 ? hw->zero_gbs * 1e9 : bw, nbw = hw->norm_gbs > 0 ? hw->norm_gbs * 1e9 : bw;
        double zeroed = p->grad_bytes * (l->zero >= 2 ? shard : n); /* ZeRO-2/3 keep only the shard */
        double gshard = p->grad_bytes * shard; /* what the norm, clipping and AdamW read */
        double clip = hw->clip_fused ? 0.0 : 2 * gshard;
        /* one process, one micro-batch (llmscale): the dW products summed the
         * weight matrices' squares; the norm reads only biases, gains and wpe */
        int norm_fused = hw->norm_fused && dp == 1 && t == 1 && P == 1 && m == 1 && l->zero == 0;
        double normed = norm_fused ? 0.0 : gshard;
        o->optimizer_s = (per * shard + clip) / bw + normed / nbw + zeroed / zbw;
    }
    o->step_s = o->compute_s + o->tp_comm_s + o->bubble_s + o->pp_comm_s + o->dp_comm_s + o->optimizer_s;
    double tokens_step = (double)dp * m * l->micro_batch * l->seq;
    o->hw_flops = flops_all_stages * m * dp * t;
    o->model_flops = gpt_flops_per_token(c, l->seq) * tokens_step;
    o->tflops_per_gpu = o->hw_flops / o->step_s / o->gpus / 1e12;
    o->model_tflops_per_gpu = o->model_flops / o->step_s / o->gpus / 1e12;
    o->mfu = o->model_tflops_per_gpu / o->peak_tflops;
    o->tokens_per_s = tokens_step / o->step_s;
    o->days = tokens > 0 ? tokens / o->tokens_per_s / 86400 : 0;
}

double plan_train_days(double flops_per_token, double tokens, double gpus, double tflops_per_gpu) {
    return flops_per_token * tokens / (gpus * tflops_per_gpu * 1e12) / 86400.0;
}
