/* trainer.c - see trainer.h. */
#include "trainer.h"

#include <math.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>

#include "../core/blas_setup.h"
#include "../core/cpu.h"
#include "../core/error.h"
#include "../core/fileio.h"
#include "../core/timer.h"
#include "../data/loader.h"
#include "../kernels/cpu/probe.h"
#include "../model/gpt.h"
#include "../model/gpt_io.h"
#include "../parallel/comm.h"
#include "../parallel/pipeline.h"
#include "../parallel/tensor_parallel.h"
#include "../parallel/watchdog.h"
#include "../parallel/zero.h"
#include "../plan/memory.h"
#include "checkpoint.h"
#include "eval.h"
#include "metrics.h"

/* SIGINT / SIGTERM (Ctrl-C, a scheduler's time limit): finish the current
 * step, write a checkpoint, exit 0. A second signal stops at once. */
static volatile sig_atomic_t g_stop_signal = 0;

static void on_stop_signal(int sig) {
    if (g_stop_signal) {
        signal(sig, SIG_DFL);
        raise(sig);
    }
    g_stop_signal = sig;
}

/* On resume, drop metrics records of steps after the checkpoint (they were
 * logged by the interrupted run and will be trained again). */
static void truncate_metrics(const char *path, long keep_steps) {
    FILE *f = fopen(path, "r");
    if (!f) return;
    char tmp[4200];
    snprintf(tmp, sizeof tmp, "%s.tmp", path);
    FILE *out = fopen(tmp, "w");
    if (!out) ls_fatal("cannot rewrite metrics file '%s'", path);
    char line[4096];
    while (fgets(line, sizeof line, f)) {
        long s = 0;
        if (sscanf(line, "{\"step\": %ld", &s) == 1 && s > keep_steps) continue;
        fputs(line, out);
    }
    fclose(f);
    if (fclose(out) != 0 || rename(tmp, path) != 0) ls_fatal("cannot rewrite metrics file '%s'", path);
}

void train_opts_defaults(TrainOpts *o) {
    memset(o, 0, sizeof *o);
    o->B = 4;
    o->T = 0; /* 0: the model's max_seq_len */
    o->grad_accum = 1;
    o->steps = 100;
    o->lr = 3e-4f;
    o->lr_min = 0.0f;
    o->beta1 = 0.9f;
    o->beta2 = 0.95f;
    o->eps = 1e-8f;
    o->weight_decay = 0.1f;
    o->grad_clip = 1.0f;
    o->max_skips = 3;
    o->resume_step = -1;
    o->warmup = 0;
    o->schedule = LR_COSINE;
    o->val_every = 0;
    o->val_batches = 8;
    o->shuffle = 0;
    o->seed = 1337;
    o->save_every = 0;
    o->keep = 2;
    o->print_every = 1;
    o->bucket_mb = ZERO_DEFAULT_BUCKET_MB;
}

/* Write a checkpoint from any layout, collectively: each rank hands
 * ckpt_save the chunks it holds and the part of their flat buffers it owns
 * (its ZeRO slice; with ZeRO 0 its 1/dp share of the replicated buffers), and
 * writes those floats into the layout-free files itself. ZeRO-3 first
 * gathers the chunk's parameters (its slice would do, but the gather is the
 * engine's one way to a flat parameter buffer). V chunks per rank
 * (interleaved pipeline; 1 otherwise). */
static void save_checkpoint(const char *rundir, int V, ZeroEngine *z, AdamW *opt, TrainState *st,
                            LsGrid *grid, int keep) {
    CkptPart parts[PIPE_MAX_CHUNKS] = {{0}};
    for (int c = 0; c < V; c++) {
        const float *params = zero_params_full(&z[c], 1);
        size_t n = z[c].n, lo, hi;
        if (z[c].stage > 0) {
            lo = z[c].lo, hi = z[c].hi;
        } else {
            lo = n * (size_t)grid->dp_rank / (size_t)grid->dp;
            hi = n * (size_t)(grid->dp_rank + 1) / (size_t)grid->dp;
        }
        parts[c] = (CkptPart){&z[c].m->lay, params, opt[c].m, opt[c].v, lo, hi,
                              z[c].stage > 0 ? z[c].lo : 0};
    }
    st->adam_t = opt[0].t;
    ckpt_save(rundir, parts, V, st, &grid->world_comm, keep);
    for (int c = 0; c < V; c++) zero_params_release(&z[c], 0);
}

/* Resume: every rank reads the whole checkpoint and keeps its slices of its
 * chunks' layers. */
static void load_checkpoint(const char *rundir, int64_t step, ZeroEngine *z, AdamW *opt,
                            TrainState *st) {
    zero_params_full(z, 0);
    if (z->stage == 0) {
        ckpt_load(rundir, step, z->m, opt, st);
    } else {
        AdamW full;
        adamw_init(&full, z->n);
        ckpt_load(rundir, step, z->m, &full, st);
        zero_take_slice(z, full.m, opt->m);
        zero_take_slice(z, full.v, opt->v);
        opt->t = full.t;
        adamw_free(&full);
    }
    zero_params_release(z, 1);
}

/* One layer's activations against Korthikanti et al. 2022, Table 2 (16-bit
 * activations, 1-byte dropout masks, stored attention scores; the planner's
 * formula). llmscale keeps fp32 values, has no dropout, and its attention
 * keeps only a log-sum-exp per head and token instead of the scores, and the
 * LayerNorms' mean and rstd per token; so per layer it should hold exactly
 *   2 x (Korthikanti - 2 s b h / t_r - 5 a s^2 b / t) + 4 (a s b / t + 4 s b / t_r)
 * bytes, with t_r = t under sequence parallelism (the row-wise regions that
 * hold the masks and statistics are split) and 1 without. */
static void korthikanti_check(const Gpt *m) {
    const GptConfig *c = &m->cfg;
    int nl = m->lay.layer_end - m->lay.layer_begin, t = m->tp.size, sp = m->tp.sp, rc = m->recompute;
    if (nl < 1) return;
    double b = m->B, s = m->T, h = c->channels, a = c->num_heads, tr = sp ? t : 1;
    /* one more layer's bytes: with full recomputation the shared set is paid once */
    double measured = (double)m->a.bytes -
                      (double)gpt_act_bytes_stage(c, nl - 1, m->lay.has_head, m->B, m->T, t, sp, rc);
    if (rc == GPT_RECOMPUTE_FULL && nl == 1) measured -= (double)gpt_act_bytes_stage(c, 1, 0, m->B, m->T, t, sp, 0) -
                                                     (double)gpt_act_bytes_stage(c, 0, 0, m->B, m->T, t, sp, 0);
    double k16 = plan_act_layer_bytes_megatron(c, m->B, m->T, t, sp, (PlanRecompute)rc, 2);
    /* none and selective: see above; full: the paper's 2 s b h / t_r 16-bit input, in fp32 */
    double expect = rc == GPT_RECOMPUTE_FULL ? 2 * k16
                  : 2 * (k16 - 2 * s * b * h / tr - 5 * a * s * s * b / t) + 4 * (a * s * b / t + 4 * s * b / tr);
    if (rc == GPT_RECOMPUTE_SELECTIVE) /* Table 2's selective row already drops the scores */
        expect = 2 * (k16 - 2 * s * b * h / tr) + 4 * (a * s * b / t + 4 * s * b / tr);
    ls_info("activations per layer: %.0f bytes allocated; Korthikanti et al. Table 2 (%s%s): %.0f bytes "
            "in 16-bit, i.e. %.0f in llmscale's fp32 without dropout or stored scores: %s",
            measured, t == 1 ? "no parallelism" : sp ? "tensor + sequence parallel" : "tensor parallel",
            rc == GPT_RECOMPUTE_FULL ? ", full recompute" : rc == GPT_RECOMPUTE_SELECTIVE ? ", selective recompute" : "",
            k16, expect, fabs(measured - expect) < 0.5 ? "equal" : "DIFFERENT");
}

/* --memory-report: every rank's bytes, measured from its allocations, next to
 * plan_memory()'s prediction for the same layout (the same formulas `llmscale
 * plan` uses) and the ZeRO paper's; printed by rank 0 as one line per rank. */
static void memory_report(const ZeroEngine *z, const Gpt *m, LsGrid *grid, int A, double bucket_mb) {
    enum { K = 12 };
    int W = grid->world;
    double *v = ls_calloc((size_t)W * K, sizeof(double), "memory report");
    ZeroMemory me;
    zero_memory(z, &me);
    PlanLayout pl = {grid->dp, grid->tp, grid->pp, 1, z->stage, m->tp.sp, (PlanRecompute)m->recompute, m->B, m->T, A};
    PlanMemory pr;
    plan_memory_ex(&m->cfg, &pl, &PLAN_PREC_LLMSCALE_FP32, PLAN_ACT_LLMSCALE, grid->pp_rank,
                   bucket_mb, &pr);
    double *row = v + (size_t)grid->rank * K;
    row[0] = me.params, row[1] = me.grads, row[2] = me.optimizer, row[3] = (double)gpt_act_bytes_held(m);
    row[4] = me.buffers, row[5] = pr.params, row[6] = pr.grads, row[7] = pr.optimizer;
    row[8] = pr.activations, row[9] = pr.buffers, row[10] = me.window;
    row[11] = metrics_rss_mib() * 1048576.0;
    ls_comm_allreduce_sum_doubles(&grid->world_comm, v, (size_t)W * K);
    const double M = 1048576.0, n = (double)z->n, d = grid->dp;
    ls_info("memory per rank, MiB: measured (predicted by plan_memory, the formulas `llmscale plan` uses)");
    ls_info("  rank  params              grads               AdamW               activations         "
            "buffers             shm window  resident");
    for (int r = 0; r < W; r++) {
        const double *q = v + (size_t)r * K;
        ls_info("  %4d  %8.3f (%8.3f) %8.3f (%8.3f) %8.3f (%8.3f) %8.3f (%8.3f) %8.3f (%8.3f) %8.1f  %8.1f",
                r, q[0] / M, q[5] / M, q[1] / M, q[6] / M, q[2] / M, q[7] / M, q[3] / M, q[8] / M,
                q[4] / M, q[9] / M, q[10] / M, q[11] / M);
    }
    /* Rajbhandari et al. 2020, Fig. 1, fp32 (4 + 4 + K=8 bytes per parameter) */
    int st = z->stage;
    ls_info("  ZeRO paper, stage %d over dp %d: params %.3f, grads %.3f, AdamW %.3f MiB per rank "
            "(Psi = %.0f parameters; slices differ by padding to 16)", st, grid->dp,
            4 * n / (st >= 3 ? d : 1) / M, 4 * n / (st >= 2 ? d : 1) / M, 8 * n / (st >= 1 ? d : 1) / M, n);
    korthikanti_check(m);
    ls_free(v);
}

/* The pipeline asks for micro-batch mb of the step: the same sequences as the
 * one-process run's accumulation round mb (see the loop below). */
typedef struct {
    LsLoader *ld;
    long step, G;
    int B, dp, dp_rank;
    int32_t *x, *y;
} BatchCtx;

static void pipe_batch(void *ctx, int mb, const int32_t **tokens, const int32_t **targets) {
    BatchCtx *c = ctx;
    uint64_t seq = (uint64_t)c->step * c->G + (uint64_t)mb * c->B * c->dp + (uint64_t)c->dp_rank * c->B;
    ls_loader_get(c->ld, seq, c->B, c->x, c->y);
    *tokens = c->x;
    *targets = c->y;
}

/* LLMSCALE_FAULT_NAN_STEP=N poisons one gradient at step N (N+: every step
 * from N): fault injection for the tests of the non-finite guard.
 * LLMSCALE_FAULT_HANG=S:R stops world rank R (SIGSTOP) when step S begins, a
 * rank that stops participating, for the watchdog's tests (watchdog.h). */
static long fault_nan_step(int *every) {
    const char *e = getenv("LLMSCALE_FAULT_NAN_STEP");
    if (!e || !*e) return 0;
    char *end;
    long n = strtol(e, &end, 10);
    *every = *end == '+';
    if (n < 1 || (*end && strcmp(end, "+"))) ls_fatal("LLMSCALE_FAULT_NAN_STEP='%s' must be N or N+", e);
    return n;
}

/* The first tensor (canonical order: kind, then layer) with a non-finite
 * reduced gradient on any rank, as "fcw of layer 3", or "loss only". */
static void bad_gradient_name(ZeroEngine *z, int V, LsGrid *g, char *buf, size_t n) {
    int L = z[0].m->cfg.num_layers;
    double code = 1e300;
    for (int c = 0; c < V; c++) {
        ZeroSlice sl = zero_update_slice(&z[c]);
        const GptLayout *lay = &z[c].m->lay;
        for (int i = 0; i < lay->ntensors; i++) {
            const GptTensor *t = &lay->tensors[i];
            size_t a = t->offset, b = t->offset + (size_t)t->rows * t->cols;
            if (a < sl.lo) a = sl.lo;
            if (b > sl.hi) b = sl.hi;
            for (size_t j = a; j < b; j++)
                if (!isfinite(sl.grads[j - sl.lo])) {
                    double k = (double)t->kind * (L + 1) + (t->layer + 1);
                    if (k < code) code = k;
                    break;
                }
        }
    }
    code = -ls_comm_allreduce_max_double(&g->world_comm, -code);
    if (code >= 1e300) {
        snprintf(buf, n, "gradients finite: the loss");
        return;
    }
    int kind = (int)(code / (L + 1)), layer = (int)code % (L + 1) - 1;
    if (layer >= 0) snprintf(buf, n, "first non-finite gradient: %s of layer %d", GPT_TENSOR_NAMES[kind], layer);
    else snprintf(buf, n, "first non-finite gradient: %s", GPT_TENSOR_NAMES[kind]);
}

static double pipe_eval_forward(void *ctx, const int32_t *x, const int32_t *y, int B, int T) {
    (void)B, (void)T; /* the pipeline's micro-batch shape */
    return pipe_forward_loss(ctx, x, y);
}

int trainer_run(const TrainOpts *o) {
    LsGrid single;
    if (!o->grid) ls_grid_init_single(&single);
    LsGrid *gp = o->grid ? o->grid : &single, grid = *gp;
    const GptConfig *cfg = &o->cfg;
    int B = o->B, T = o->T, A = o->grad_accum;
    long G = (long)B * A * grid.dp; /* global batch in sequences */
    if (o->global_batch) {
        G = o->global_batch;
        if (G % ((long)B * grid.dp))
            ls_fatal("--global-batch %ld is not a multiple of --batch %d x %d data-parallel ranks = %ld: "
                     "gradient accumulation would be %.3g micro-batches", G, B, grid.dp,
                     (long)B * grid.dp, (double)G / ((double)B * grid.dp));
        A = (int)(G / ((long)B * grid.dp));
    }

    int V = grid.pp > 1 ? o->virtual_stages : 1; /* model chunks on this rank */
    if (o->virtual_stages > 1 && grid.pp == 1)
        ls_fatal("--virtual-stages %d needs --pp > 1 (and --pp-schedule interleaved)", o->virtual_stages);
    if (V > PIPE_MAX_CHUNKS) ls_fatal("--virtual-stages %d: at most %d", V, PIPE_MAX_CHUNKS);
    if (grid.pp > 1) {
        if (cfg->num_layers % (grid.pp * V))
            ls_fatal("--pp %d x --virtual-stages %d does not divide the model's %d layers (each model "
                     "stage holds L/(pp V) layers)", grid.pp, V, cfg->num_layers);
        if (o->zero > 1)
            ls_fatal("--zero %d with --pp %d: pipeline parallelism composes with ZeRO stages 0 and 1 "
                     "(as in Megatron-LM); use --zero 1", o->zero, grid.pp);
    }
    if (o->sp && grid.tp == 1)
        ls_fatal("--sp (sequence parallelism) splits each sequence over the tensor-parallel group: "
                 "it needs --tp > 1");
    if (o->sp && T % grid.tp)
        ls_fatal("--sp: sequence length %d is not a multiple of --tp %d (each tensor-parallel rank "
                 "keeps T/tp tokens of every sequence)", T, grid.tp);

    /* ---- data */
    LsLoader train;
    ls_loader_init(&train, o->data, "train", T, o->shuffle, o->seed);
    if (ls_loader_max_token(&train) >= cfg->vocab_size)
        ls_fatal("training data '%s' contains token id %d but the model's vocab is %d (use --vocab "
                 "%d or larger, or data from a matching tokenizer)",
                 o->data, ls_loader_max_token(&train), cfg->vocab_size, ls_loader_max_token(&train) + 1);
    LsLoader val;
    int have_val = 0;
    if (o->val_every > 0 && !o->val_data)
        ls_warn("--val-every %d but no validation data: give --val-data PATH (or a --data DIR with "
                "val shards); training without validation", o->val_every);
    if (o->val_data && o->val_every > 0) {
        ls_loader_init(&val, o->val_data, "val", T, 0, 0);
        if (ls_loader_max_token(&val) >= cfg->vocab_size)
            ls_fatal("validation data '%s' contains token id %d but the model's vocab is %d",
                     o->val_data, ls_loader_max_token(&val), cfg->vocab_size);
        have_val = 1;
    }

    /* ---- model and optimizer */
    /* this rank's model chunks: chunk c is model stage c*pp + pp_rank of
     * pp*V (V = 1 but for the interleaved schedule); each with its ZeRO
     * engine and AdamW state */
    Gpt mm[PIPE_MAX_CHUNKS], *mp[PIPE_MAX_CHUNKS];
    ZeroEngine zz[PIPE_MAX_CHUNKS];
    AdamW oo[PIPE_MAX_CHUNKS];
    for (int c = 0; c < V; c++) {
        int lo, hi;
        pipe_stage_layers(cfg->num_layers, grid.pp * V, c * grid.pp + grid.pp_rank, &lo, &hi);
        gpt_create_ex(&mm[c], cfg, lo, hi, grid.tp, grid.tp_rank, zero_model_ownership(o->zero));
        tp_attach(&mm[c], &gp->tp_comm, o->sp);
        mm[c].recompute = o->recompute;
        mp[c] = &mm[c];
        zero_init(&zz[c], &mm[c], &gp->dp_comm, o->zero, (size_t)(o->bucket_mb * 1048576.0 / 4.0));
        adamw_init(&oo[c], zero_optimizer_len(&zz[c]));
    }
    Pipeline pipe;
    if (grid.pp > 1) pipe_init(&pipe, gp, mp, V, (LsPipeKind)o->pp_schedule, A, B, T);
    TrainState st;
    memset(&st, 0, sizeof st);
    long start = 0;
    if (o->resume) {
        int64_t s = o->resume_step >= 0 ? o->resume_step : ckpt_latest(o->resume);
        if (s < 0) ls_fatal("nothing to resume in '%s': no 'latest' checkpoint pointer", o->resume);
        for (int c = 0; c < V; c++) load_checkpoint(o->resume, s, &zz[c], &oo[c], &st);
        ckpt_check_data(&st, &train, o->resume);
        long st_G = (long)st.B * st.grad_accum * (st.dp ? st.dp : 1);
        if (st_G != G || st.T != T || st.shuffle != o->shuffle || st.data_seed != o->seed)
            ls_fatal("checkpoint in '%s' was trained with global batch %ld (--batch %d x "
                     "--grad-accum %d x dp %u) --seq %d --shuffle %s --seed %llu; resume with the "
                     "same global batch, seq, shuffle and seed (any layout)",
                     o->resume, st_G, st.B, st.grad_accum, st.dp ? st.dp : 1, st.T,
                     st.shuffle ? "on" : "off", (unsigned long long)st.data_seed);
        start = (long)st.step;
        if (start >= o->steps)
            ls_warn("the checkpoint in '%s' is already at step %ld >= --steps %ld: nothing to train "
                    "(raise --steps to continue)", o->resume, start, o->steps);
        ls_info("resuming from %s at step %ld (data position: sequence %lld)", o->resume, start,
                (long long)st.next_seq);
    } else {
        for (int c = 0; c < V; c++) {
            zero_params_full(&zz[c], 0);
            if (o->init) gpt_load(&mm[c], o->init);
            else gpt_init_random(&mm[c], o->seed);
            zero_params_release(&zz[c], 1);
        }
    }
    st.B = B;
    st.T = T;
    st.grad_accum = A;
    st.dp = (uint32_t)grid.dp;
    st.shuffle = o->shuffle;
    st.data_seed = o->seed;

    /* ---- start-up report */
    double flops_tok = gpt_flops_per_token(cfg, T);
    double peak = o->peak_gflops > 0 ? o->peak_gflops : ls_peak_gflops_cached(ls_cpu_threads(), 1);
    for (int c = 0; c < V; c++) gpt_ensure_acts(&mm[c], B, T);
    ls_info("model: %d layers, dim %d, %d heads, max seq %d, vocab %d (padded %d): %.3f M parameters",
            cfg->num_layers, cfg->channels, cfg->num_heads, cfg->max_seq_len, cfg->vocab_size,
            cfg->padded_vocab_size, gpt_num_params(cfg) / 1e6);
    ls_grid_describe(&grid);
    if (grid.dp > 1 || o->zero)
        ls_info("data parallel: ZeRO stage %d over %d ranks, %d gradient buckets (>= %.1f MiB, "
                "started during the backward pass), slice %zu of %zu floats per rank",
                o->zero, grid.dp, zz[0].nbuckets, o->bucket_mb, zz[0].hi - zz[0].lo, zz[0].n);
    LsTrace trace;
    if (o->trace) { /* a common time origin: right after a barrier */
        ls_comm_barrier(&gp->world_comm);
        char label[64];
        snprintf(label, sizeof label, "rank %d (dp %d, pp %d, tp %d)", grid.rank, grid.dp_rank,
                 grid.pp_rank, grid.tp_rank);
        ls_trace_init(&trace, grid.rank, ls_now_s(), label);
        ls_trace_name_lane(&trace, 0, "compute");
        ls_trace_name_lane(&trace, 1, "messages");
        if (grid.pp > 1) pipe.trace = &trace;
    }
    double bubble_theory = 0;
    if (grid.pp > 1) {
        LsPipeConfig pc = {(LsPipeKind)o->pp_schedule, grid.pp, A, V, LS_PIPE_BLOCKING};
        bubble_theory = ls_pipe_bubble_fraction(&pc);
        ls_info("pipeline parallel: %d stages x %d chunks of %d layers, schedule %s, %d micro-batches "
                "per step; bubble (P-1)/(m V) = %.3f of the compute time; stage %d holds %d "
                "micro-batch chunks' activations at most", grid.pp, V, cfg->num_layers / (grid.pp * V),
                ls_pipe_kind_name((LsPipeKind)o->pp_schedule), A, bubble_theory, grid.pp_rank,
                ls_pipe_max_in_flight(&pc, grid.pp_rank));
    }
    if (grid.tp > 1)
        ls_info("tensor parallel: %d ranks, %d heads and %d MLP columns each, vocabulary rows %d; "
                "sequence parallel %s", grid.tp, cfg->num_heads / grid.tp, 4 * cfg->channels / grid.tp,
                gpt_vocab_rows(cfg, grid.tp),
                o->sp ? "on (T/tp tokens of the residual stream per rank)" : "off");
    ls_info("batch: %d x %d tokens per micro-batch, %d micro-batches per step x %d data-parallel "
            "ranks: global batch %ld sequences = %ld tokens", B, T, A, grid.dp, G, G * T);
    ls_info("data: %s (%llu tokens, shuffle %s)%s%s", o->data,
            (unsigned long long)ls_loader_ntokens(&train), o->shuffle ? "on" : "off",
            have_val ? ", val: " : "", have_val ? o->val_data : "");
    {
        ZeroMemory me = {0}, mc;
        size_t acts = 0;
        for (int c = 0; c < V; c++) {
            zero_memory(&zz[c], &mc);
            me.params += mc.params, me.grads += mc.grads, me.optimizer += mc.optimizer;
            me.buffers += mc.buffers, me.window = mc.window;
            acts += gpt_act_bytes_held(&mm[c]);
        }
        ls_info("memory (rank 0): params %.1f MiB, grads %.1f MiB, AdamW %.1f MiB, activations "
                "%.1f MiB, buffers %.1f MiB (+ shm window %.1f MiB)", me.params / 1048576.0,
                me.grads / 1048576.0, me.optimizer / 1048576.0, acts / 1048576.0,
                me.buffers / 1048576.0, me.window / 1048576.0);
    }
    if (o->memory_report) memory_report(&zz[0], &mm[0], gp, A, o->bucket_mb);
    ls_info("cpu: %s, %d threads, %s", ls_cpu_model_name(), ls_cpu_threads(), ls_blas_describe());
    ls_info("MFU: model FLOPs 6N + 12*L*C*T = %.3g per token (PaLM), peak %.1f GFLOP/s (%s)",
            flops_tok, peak, o->peak_gflops > 0 ? "--peak-gflops" : "measured fp32 FMA probe");

    FILE *jsonl = NULL;
    if (o->out && grid.rank == 0) {
        ls_mkdirs(o->out);
        char path[4096];
        snprintf(path, sizeof path, "%s/metrics.jsonl", o->out);
        if (o->resume) truncate_metrics(path, start);
        jsonl = fopen(path, o->resume ? "a" : "w");
        if (!jsonl) ls_fatal("cannot write metrics file '%s'", path);
    }

    int32_t *x = ls_calloc((size_t)B * T, sizeof(int32_t), "batch inputs");
    int32_t *y = ls_calloc((size_t)B * T, sizeof(int32_t), "batch targets");
    AdamWParams hp = {0, o->beta1, o->beta2, o->eps, o->weight_decay, 1.0f};
    float dloss = 1.0f / ((float)G * T); /* d(mean over the global batch)/d(token loss) */
    long last_saved = o->resume ? start : -1;
    long skipped = 0;
    int skipped_in_row = 0;
    int fault_every = 0;
    long fault_step = fault_nan_step(&fault_every);
    long end = (o->stop_at > 0 && o->stop_at < o->steps) ? o->stop_at : o->steps;
    signal(SIGINT, on_stop_signal);
    signal(SIGTERM, on_stop_signal);
    /* One process, one micro-batch: the backward leaves the final gradient, so
     * the weight matrices' and wte's share of its norm is summed by the dW
     * products as they write it (gpt.h: grad_sq) instead of in a second read
     * of 0.5 GB; otherwise the gradient is complete only after accumulation
     * and the data-parallel reduction, and zero_grad_sq_sum reads it. */
    int fused_norm = grid.world == 1 && A == 1 && zz[0].stage == 0;
    double fused_sq = 0.0;
    for (long step = start; step < end; step++) {
        ls_watchdog_step(step + 1); /* for its messages; LLMSCALE_FAULT_HANG stops here */
        fused_sq = 0.0;
        mm[0].grad_sq = fused_norm ? &fused_sq : NULL;
        double t0 = ls_now_s();
        double bytes0 = gp->dp_comm.bytes_sent;
        long tp_calls0[LS_OP_KINDS];
        memcpy(tp_calls0, gp->tp_comm.calls, sizeof tp_calls0);
        double tp_bytes0 = gp->tp_comm.bytes_sent;
        for (int c = 0; c < V; c++) zero_begin_step(&zz[c]);
        double loss_sum = 0.0;
        if (grid.pp > 1) {
            /* the schedule runs the A micro-batches through the stages; the
             * data-parallel reduction waits for the tied embedding's sum */
            BatchCtx bc = {&train, step, G, B, grid.dp, grid.dp_rank, x, y};
            for (int c = 0; c < V; c++) zero_begin_micro(&zz[c], 0);
            loss_sum = pipe_step(&pipe, pipe_batch, &bc, dloss);
            pipe_tie_embedding_grads(&pipe);
            for (int c = 0; c < V; c++) zero_reduce_now(&zz[c]);
            loss_sum = ls_comm_allreduce_sum_double(&gp->pp_comm, loss_sum); /* the last stage's */
        }
        for (int j = 0; j < (grid.pp > 1 ? 0 : A); j++) {
            /* micro-batch round j of the step's G sequences; data-parallel rank r
             * takes the r-th B of each round (B*dp sequences per round) */
            uint64_t seq = (uint64_t)step * G + (uint64_t)j * B * grid.dp + (uint64_t)grid.dp_rank * B;
            ls_loader_get(&train, seq, B, x, y);
            zero_begin_micro(&zz[0], j == A - 1);
            ls_watchdog_phase("forward", j, -1);
            double tf = ls_now_s();
            float l = gpt_forward(&mm[0], x, y, B, T);
            loss_sum += (double)l * B * T; /* sum of token losses */
            double tb = ls_now_s();
            ls_watchdog_phase("backward", j, -1);
            gpt_backward(&mm[0], dloss);
            if (o->trace) {
                ls_trace_add(&trace, "forward", 0, tf, tb, "F mb %d", j);
                ls_trace_add(&trace, "backward", 0, tb, ls_now_s(), "B mb %d", j);
            }
            zero_end_backward(&zz[0]);
        }
        ls_watchdog_phase(NULL, -1, -1);
        /* the mean over all G*T tokens of the global batch, never a mean of means */
        double loss = ls_comm_allreduce_sum_double(&gp->dp_comm, loss_sum) / ((double)G * T);
        int fault_now = fault_step > 0 && step + 1 >= fault_step && (fault_every || step + 1 == fault_step) &&
                        grid.rank == 0;
        if (fault_now) zero_update_slice(&zz[0]).grads[0] = NAN; /* LLMSCALE_FAULT_NAN_STEP (tests) */
        mm[0].grad_sq = NULL;
        double sq = 0; /* the tied wte counts once: on the first stage */
        if (fused_norm && !fault_now) sq = fused_sq + gpt_grad_sq_rest(&mm[0]);
        else
            for (int c = 0; c < V; c++) sq += zero_grad_sq_sum(&zz[c], &gp->tp_comm);
        double norm = sqrt(grid.pp > 1 ? ls_comm_allreduce_sum_double(&gp->pp_comm, sq) : sq);
        int skip = !isfinite(loss) || !isfinite(norm);
        if (skip) { /* leave the parameters and AdamW state as they are */
            char what[96];
            bad_gradient_name(zz, V, gp, what, sizeof what);
            skipped++;
            if (++skipped_in_row >= o->max_skips) {
                char saved[64] = "no checkpoint was written";
                if (last_saved >= 0) snprintf(saved, sizeof saved, "last checkpoint: step %ld", last_saved);
                ls_fatal("step %ld: loss %g, gradient norm %g (%s) not finite for %d steps in a row "
                         "(--max-skips %d); stopping without saving (%s; lower --lr or use --grad-clip)",
                         step + 1, loss, norm, what, skipped_in_row, o->max_skips, saved);
            }
            ls_warn("step %ld: loss %g, gradient norm %g (%s) not finite: update skipped (%d in a row, "
                    "%ld in this run; --max-skips %d stops the run)", step + 1, loss, norm, what,
                    skipped_in_row, skipped, o->max_skips);
        } else {
            skipped_in_row = 0;
        }
        hp.lr = lr_at(o->schedule, o->lr, o->lr_min, o->warmup, step, o->steps);
        double to = ls_now_s();
        double wait_s = 0;
        hp.grad_scale = grad_clip_factor(norm, o->grad_clip);
        for (int c = 0; c < V && !skip; c++) {
            ZeroSlice sl = zero_update_slice(&zz[c]);
            if (zz[c].stage == 0) { /* the whole gradient: cleared in the update's own pass */
                /* the weight matrices and wte are overwritten by the next
                 * backward when it sums the norm: left as they are */
                adamw_step_zero_grads(&oo[c], &mm[c].lay, sl.lo, sl.hi, sl.params, sl.grads, &hp,
                                      fused_norm ? gpt_overwritten_kinds() : 0u);
                zz[c].grads_zero = 1;
            } else {
                adamw_step_range(&oo[c], &mm[c].lay, sl.lo, sl.hi, sl.params, sl.grads, &hp);
            }
            zero_end_step(&zz[c]);
            wait_s += zz[c].wait_s;
        }
        if (o->trace) ls_trace_add(&trace, "optimizer", 0, to, ls_now_s(), "AdamW step %ld", step + 1);
        double dt = ls_now_s() - t0;

        StepMetrics sm = {0};
        sm.step = step;
        sm.total_steps = o->steps;
        sm.loss = loss;
        sm.lr = hp.lr;
        sm.grad_norm = norm;
        sm.ms = dt * 1e3;
        sm.tokens_per_s = (double)G * T / dt;
        sm.gflops = flops_tok * G * T / dt / 1e9 / grid.world; /* per rank */
        sm.mfu = sm.gflops / peak;
        sm.val_loss = -1.0;
        sm.mem_mib = metrics_rss_mib();
        sm.ranks = grid.world;
        sm.comm_bytes = gp->dp_comm.bytes_sent - bytes0;
        sm.tp_allreduces = gp->tp_comm.calls[LS_OP_ALLREDUCE] - tp_calls0[LS_OP_ALLREDUCE];
        sm.tp_allgathers = gp->tp_comm.calls[LS_OP_ALLGATHER] - tp_calls0[LS_OP_ALLGATHER];
        sm.tp_reduce_scatters = gp->tp_comm.calls[LS_OP_REDUCE_SCATTER] - tp_calls0[LS_OP_REDUCE_SCATTER];
        sm.tp_bytes = gp->tp_comm.bytes_sent - tp_bytes0;
        sm.comm_wait_ms = wait_s * 1e3;
        sm.skipped = skipped;
        sm.pp_bubble = -1;
        if (grid.pp > 1) {
            /* the bubble of (P-1)/m: how much longer the pipeline's walk
             * took than the compute of the stage that sets the pace, the one
             * with the most. The walk is measured on every stage from the
             * common start (the previous step's collectives line the ranks
             * up) to its last action; the longest is the pipeline's: the
             * first stage's under GPipe and 1F1B, which ends with the last
             * backward. A lighter stage's own idle time also holds its
             * imbalance, reported apart as pp_balance: the busiest stage's
             * compute over the mean stage's, 1 when balanced. */
            double c = pipe.compute_s, cmax = ls_comm_allreduce_max_double(&gp->pp_comm, c);
            double csum = ls_comm_allreduce_sum_double(&gp->pp_comm, c);
            double walk = ls_comm_allreduce_max_double(&gp->pp_comm, pipe.step_s);
            sm.pp_bubble = cmax > 0 ? (walk - cmax) / cmax : 0.0;
            sm.pp_balance = csum > 0 ? cmax * grid.pp / csum : 1.0;
            sm.pp_bubble_theory = bubble_theory;
        }
        if (have_val && ((step + 1) % o->val_every == 0 || step + 1 == o->steps))
            sm.val_loss = grid.pp > 1 ? eval_loss_with(pipe_eval_forward, &pipe, &val, B, T, o->val_batches)
                                      : eval_loss(&mm[0], &val, B, T, o->val_batches);
        if (grid.rank == 0 && o->print_every > 0 &&
            ((step + 1) % o->print_every == 0 || step == start || step + 1 == o->steps || sm.val_loss >= 0))
            metrics_print_line(&sm);
        metrics_write_json(jsonl, &sm);

        st.step = step + 1;
        st.next_seq = (int64_t)(step + 1) * G;
        ckpt_bind_data(&st, &train);
        if (o->out && o->save_every > 0 && (step + 1) % o->save_every == 0) {
            ls_watchdog_phase("checkpoint save", -1, -1);
            save_checkpoint(o->out, V, zz, oo, &st, gp, o->keep);
            ls_watchdog_phase(NULL, -1, -1);
            last_saved = step + 1;
        }
        /* a signal may reach the ranks at different steps: stop together */
        if (grid.world > 1)
            g_stop_signal = (sig_atomic_t)ls_comm_allreduce_max_double(&gp->world_comm, g_stop_signal);
        if (g_stop_signal) {
            end = step + 1;
            ls_info("%s received: stopping after step %ld", g_stop_signal == SIGINT ? "SIGINT" : "SIGTERM", end);
            break;
        }
    }
    signal(SIGINT, SIG_DFL);
    signal(SIGTERM, SIG_DFL);
    if (o->out && last_saved != end && end > start) {
        ls_watchdog_phase("checkpoint save", -1, -1);
        save_checkpoint(o->out, V, zz, oo, &st, gp, o->keep);
        ls_watchdog_phase(NULL, -1, -1);
        last_saved = end;
    }
    if (end < o->steps)
        ls_info("stopped after step %ld of %ld; continue with the same command plus --resume %s",
                end, o->steps, o->out ? o->out : "RUNDIR (give --out to save checkpoints)");
    if (o->out) {
        char path[4096];
        ckpt_model_path(path, o->out, last_saved);
        ls_info("saved %s (resume with --resume %s, sample with: llmscale sample --init %s)", path,
                o->out, o->out);
    }
    if (o->trace) {
        ls_trace_write_part(&trace, o->trace);
        ls_comm_barrier(&gp->world_comm);
        if (grid.rank == 0) {
            ls_trace_merge(o->trace, grid.world);
            ls_info("trace: %s (open in chrome://tracing or https://ui.perfetto.dev)", o->trace);
        }
        ls_trace_free(&trace);
    }
    if (grid.pp > 1) pipe_free(&pipe);
    if (jsonl) fclose(jsonl);
    ls_free(x);
    ls_free(y);
    for (int c = 0; c < V; c++) {
        adamw_free(&oo[c]);
        zero_free(&zz[c]);
        gpt_destroy(&mm[c]);
    }
    if (have_val) ls_loader_free(&val);
    ls_loader_free(&train);
    return 0;
}
