/* calib.c - measure this machine for cpu-local (see calib.h). */
#include "calib.h"
#include "cost.h"

#include <math.h>
#include <omp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "../core/cpu.h"
#include "../core/error.h"
#include "../core/fileio.h"
#include "../core/rng.h"
#include "../core/timer.h"
#include "../kernels/cpu/kernels.h"
#include "../kernels/cpu/probe.h"
#include "../model/gpt_layout.h"
#include "../parallel/tensor_parallel.h"

char *plan_calib_path(char *out, size_t n, int ranks, int threads) {
    char dir[4096], who[32] = "";
    out[0] = '\0';
    if (ranks > 1) snprintf(who, sizeof who, "%dx", ranks);
    if (ls_cache_dir_make(dir, sizeof dir) == 0) {
        int w = snprintf(out, n, "%s/plan-cpu-local-%s%dt.txt", dir, who, threads);
        if (w < 0 || (size_t)w >= n) out[0] = '\0';
    }
    return out;
}

static double g_shape(double d, double d0) { return d / (d + d0); }

/* Fastest of reps timings (seconds) of fn(ctx) after one warm-up call: the
 * machine's capability, robust to other jobs interrupting some runs. */
static double best_time(void (*fn)(void *), void *ctx, int reps) {
    double t[32];
    fn(ctx);
    for (int r = 0; r < reps; r++) {
        double t0 = ls_now_s();
        fn(ctx);
        t[r] = ls_now_s() - t0;
    }
    ls_sort_times(t, (size_t)reps);
    return t[0];
}

/* The GEMMs of GPT-2-small layers (C = 768) on N tokens through llmscale's
 * own linear-layer kernels: QKV (C -> 3C), projection (C -> C), fc (C -> 4C),
 * fc-projection (4C -> C), each forward and backward (dx, dW, bias), over
 * SUITE_LAYERS layers with their own weights and gradients (113 MB each,
 * beyond the caches, as in training where every layer's weights stream in). */
enum { SUITE_C = 768, SUITE_LAYERS = 4 };
typedef struct { int N; float *x, *w, *y, *dx, *dw, *b, *db; } Suite;
static const int SUITE_IO[4][2] = {{SUITE_C, 3 * SUITE_C}, {SUITE_C, SUITE_C}, {SUITE_C, 4 * SUITE_C}, {4 * SUITE_C, SUITE_C}};
static const size_t SUITE_W_LAYER = (size_t)12 * SUITE_C * SUITE_C; /* weights per layer */

static void suite_run(void *ctx) {
    Suite *s = ctx;
    for (int l = 0; l < SUITE_LAYERS; l++) {
        size_t off = l * SUITE_W_LAYER;
        for (int k = 0; k < 4; k++) {
            int C = SUITE_IO[k][0], OC = SUITE_IO[k][1];
            matmul_forward(s->y, s->x, s->w + off, s->b, s->N, C, OC);
            matmul_backward(s->dx, s->dw + off, s->db, s->y, s->x, s->w + off, s->N, C, OC);
            off += (size_t)C * OC;
        }
    }
}

/* The suite's FLOPs and its effective shape factor under the cost model:
 * flops / sum(flops_i / (g(M) g(N) g(K))) over its 12 GEMMs. */
static double suite_g(int N, double d0, double *flops) {
    double f = 0, w = 0;
    for (int k = 0; k < 4; k++) {
        double C = SUITE_IO[k][0], OC = SUITE_IO[k][1];
        double shapes[3][3] = {{N, OC, C}, {N, C, OC}, {OC, C, N}};
        for (int j = 0; j < 3; j++) {
            double fi = 2 * shapes[j][0] * shapes[j][1] * shapes[j][2];
            f += fi;
            w += fi / (g_shape(shapes[j][0], d0) * g_shape(shapes[j][1], d0) * g_shape(shapes[j][2], d0));
        }
    }
    if (flops) *flops = f * SUITE_LAYERS;
    return f / w;
}

/* Measured GFLOP/s of the suite on N tokens. */
static double suite_gflops(int N) {
    size_t big = (size_t)N * 4 * SUITE_C, wsz = SUITE_W_LAYER * SUITE_LAYERS;
    Suite s = {N, ls_calloc(big, sizeof(float), "calibration"), ls_calloc(wsz, sizeof(float), "calibration"),
               ls_calloc(big, sizeof(float), "calibration"), ls_calloc(big, sizeof(float), "calibration"),
               ls_calloc(wsz, sizeof(float), "calibration"), ls_calloc(4 * SUITE_C, sizeof(float), "calibration"),
               ls_calloc(4 * SUITE_C, sizeof(float), "calibration")};
    for (size_t i = 0; i < big; i++) s.x[i] = (float)((i * 2654435761u) % 1000) * 1e-3f;
    for (size_t i = 0; i < wsz; i++) s.w[i] = (float)((i * 40503u) % 1000) * 1e-3f;
    double f, t = best_time(suite_run, &s, 5);
    suite_g(N, 0, &f);
    ls_free(s.x), ls_free(s.w), ls_free(s.y), ls_free(s.dx), ls_free(s.dw), ls_free(s.b), ls_free(s.db);
    return f / t / 1e9;
}

/* att holds the row log-sum-exps (B*NH*T; allocated larger) */
typedef struct { float *qkv, *dqkv, *out, *dout, *att; int B, T, C, NH; } AttnCtx;
static void attn_run(void *p) {
    AttnCtx *a = p;
    attention_forward(a->out, a->att, a->qkv, a->B, a->T, a->C, a->NH);
    attention_backward(a->dqkv, a->dout, a->qkv, a->out, a->att, a->B, a->T, a->C, a->NH);
}

/* llmscale's attention kernel, forward + backward, in GFLOP/s counting
 * 4*B*T*T*C forward and twice that backward (the count cost.c uses). */
static double attention_gflops(void) {
    const int B = 4, T = 64, C = 768, NH = 12;
    size_t nqkv = (size_t)B * T * 3 * C, nout = (size_t)B * T * C, natt = (size_t)B * NH * T * T;
    float *qkv = ls_calloc(nqkv, sizeof(float), "calibration"), *dqkv = ls_calloc(nqkv, sizeof(float), "calibration");
    float *out = ls_calloc(nout, sizeof(float), "calibration"), *dout = ls_calloc(nout, sizeof(float), "calibration");
    float *att = ls_calloc(natt, sizeof(float), "calibration");
    LsRng r;
    ls_rng_seed(&r, 3);
    for (size_t i = 0; i < nqkv; i++) qkv[i] = (float)(ls_rng_uniform(&r) - 0.5);
    for (size_t i = 0; i < nout; i++) dout[i] = (float)(ls_rng_uniform(&r) - 0.5);
    AttnCtx ctx = {qkv, dqkv, out, dout, att, B, T, C, NH};
    double best = best_time(attn_run, &ctx, 15);
    ls_free(qkv), ls_free(dqkv), ls_free(out), ls_free(dout), ls_free(att);
    return 12.0 * B * T * (double)T * C / best / 1e9;
}

/* Bandwidth of in-place streaming updates, the access pattern of AdamW and
 * of most element-wise passes: four 128 MiB arrays (far beyond the caches),
 * read g, p, m, v and write p, m, v per element (28 bytes counted), on nth
 * threads, fastest of 3 passes. */
static double stream_update_gbs(int nth) {
    const long n = 32L << 20;
    float *p = ls_calloc((size_t)n, sizeof(float), "calibration"), *g = ls_calloc((size_t)n, sizeof(float), "calibration");
    float *m = ls_calloc((size_t)n, sizeof(float), "calibration"), *v = ls_calloc((size_t)n, sizeof(float), "calibration");
    for (long i = 0; i < n; i++) g[i] = (float)(i % 7) * 0.1f;
    double t[4];
    for (int rep = 0; rep < 4; rep++) {
        double t0 = ls_now_s();
#pragma omp parallel for schedule(static) num_threads(nth)
        for (long i = 0; i < n; i++) {
            float mi = 0.9f * m[i] + 0.1f * g[i], vi = 0.95f * v[i] + 0.05f * g[i] * g[i];
            m[i] = mi;
            v[i] = vi;
            p[i] = p[i] * 0.99999f - 1e-4f * mi / (sqrtf(vi) + 1e-8f);
        }
        t[rep] = ls_now_s() - t0;
    }
    ls_sort_times(t + 1, 3); /* t[0] warmed up */
    double best = t[1];
    ls_free(p), ls_free(g), ls_free(m), ls_free(v);
    return 28.0 * n / best / 1e9;
}

/* Zeroing a 256 MiB buffer, one memset per OpenMP thread, as gpt_zero_grad
 * does. */
static double zero_gbs(void) {
    const size_t n = (size_t)256 << 20;
    char *buf = ls_calloc(n, 1, "calibration");
    double best = 1e30;
    for (int rep = 0; rep < 4; rep++) {
        double t0 = ls_now_s();
#pragma omp parallel
        {
            size_t nth = (size_t)omp_get_num_threads(), id = (size_t)omp_get_thread_num();
            memset(buf + n * id / nth, rep, n * (id + 1) / nth - n * id / nth);
        }
        double dt = ls_now_s() - t0;
        if (rep > 0 && dt < best) best = dt;
    }
    ls_free(buf);
    return n / best / 1e9;
}

/* The gradient norm as the trainer computes it (tp_grad_sq_parts: a sum of
 * squares per tensor, float lanes within blocks, blocks in double) over the parameters of four
 * GPT-2-small layers (28 M floats), in bytes of gradient read per second. */
static double norm_gbs(void) {
    GptConfig cfg = {64, 128, 128, 4, 12, SUITE_C};
    GptLayout lay;
    gpt_layout_build(&lay, &cfg, 0, cfg.num_layers, 1, 0);
    float *g = ls_calloc(lay.total, sizeof(float), "calibration");
    for (size_t i = 0; i < lay.total; i++) g[i] = (float)(i % 1000) * 1e-3f;
    double best = 1e30;
    for (int rep = 0; rep < 4; rep++) {
        double sh, rp, t0 = ls_now_s();
        tp_grad_sq_parts(&lay, g, 0, lay.total, &sh, &rp);
        double dt = ls_now_s() - t0;
        if (rep > 0 && dt < best) best = dt;
    }
    double gbs = 4.0 * lay.total / best / 1e9;
    ls_free(g);
    gpt_layout_free(&lay);
    return gbs;
}

/* llmscale's element-wise kernels of one layer on B=4 x T=64 tokens, C=768:
 * forward two LayerNorms, two residual adds, GELU over 4C; backward GELU and
 * two LayerNorms. Returns GB/s counting the bytes the cost model charges
 * for them (plan_layer_elem_bytes), so the model reproduces their time. */
typedef struct { int N, C; float *x, *ln, *res, *fch, *fchg, *dfch, *dx, *dout, *mean, *rstd, *w, *b, *dw, *db; } ElemCtx;
static void elem_run(void *p) {
    ElemCtx *e = p;
    long n = (long)e->N * e->C;
    layernorm_forward(e->ln, e->mean, e->rstd, e->x, e->w, e->b, e->N, e->C);
    residual_forward(e->res, e->x, e->ln, n);
    layernorm_forward(e->ln, e->mean, e->rstd, e->res, e->w, e->b, e->N, e->C);
    gelu_forward(e->fchg, e->fch, 4 * n);
    residual_forward(e->res, e->res, e->ln, n);
    gelu_backward(e->dfch, e->fch, e->dfch, 4 * n);
    layernorm_backward(e->dx, e->dw, e->db, e->dout, e->res, e->w, e->mean, e->rstd, e->N, e->C);
    layernorm_backward(e->dx, e->dw, e->db, e->dout, e->x, e->w, e->mean, e->rstd, e->N, e->C);
}

static double elementwise_gbs(void) {
    const int B = 4, T = 64, C = 768;
    ElemCtx e = {.N = B * T, .C = C};
    size_t n = (size_t)B * T * C;
    float **big[] = {&e.x, &e.ln, &e.res, &e.dx, &e.dout}, **wide[] = {&e.fch, &e.fchg, &e.dfch};
    float **vec[] = {&e.mean, &e.rstd, &e.w, &e.b, &e.dw, &e.db};
    for (int i = 0; i < 5; i++) *big[i] = ls_calloc(n, sizeof(float), "calibration");
    for (int i = 0; i < 3; i++) *wide[i] = ls_calloc(4 * n, sizeof(float), "calibration");
    for (int i = 0; i < 6; i++) *vec[i] = ls_calloc((size_t)B * T + C, sizeof(float), "calibration");
    for (size_t i = 0; i < n; i++) e.x[i] = (float)((i * 2654435761u) % 1000) * 1e-3f;
    for (int i = 0; i < C; i++) e.w[i] = 1.0f;
    double t = best_time(elem_run, &e, 15);
    for (int i = 0; i < 5; i++) ls_free(*big[i]);
    for (int i = 0; i < 3; i++) ls_free(*wide[i]);
    for (int i = 0; i < 6; i++) ls_free(*vec[i]);
    GptConfig cfg = {T, 50257, gpt_pad_vocab(50257, 128), 1, 12, C};
    PlanLayout l = {1, 1, 1, 1, 0, 0, PLAN_RECOMPUTE_NONE, B, T, 1};
    return plan_layer_elem_bytes(&cfg, &l, PLAN_ACT_LLMSCALE, 4) / t / 1e9;
}

/* Several ranks measuring together: each kernel starts at the same moment on
 * all of them (as in training, where the ranks run the same phases in step),
 * and the slowest rank's rate is the one kept. */
static void sync_ranks(LsComm *c) {
    if (c) ls_comm_barrier(c);
}
static double slowest(LsComm *c, double rate) { return c ? -ls_comm_allreduce_max_double(c, -rate) : rate; }

void plan_calib_measure(PlanHw *hw, int threads, LsComm *ranks) {
    memset(hw, 0, sizeof *hw);
    int R = ranks ? ranks->size : 1;
    snprintf(hw->name, sizeof hw->name, "cpu-local");
    snprintf(hw->desc, sizeof hw->desc, "this machine: %.50s, %d x %d threads (llmscale fp32)",
             ls_cpu_model_name(), R, threads);
    double peak = ls_peak_gflops_cached(threads, 0);
    /* GEMM: llmscale's linear layers at GPT-2-small shapes on 256 tokens
     * (B=4 x T=64); the shape knee is the documented constant */
    const int n_tokens = 256;
    /* Rounds of all the measurements, keeping each one's best, until two
     * consecutive rounds agree within 5% on the GEMM rate (at most 5): a
     * burst of another job's work can slow one round but rarely two apart.
     * Ranks measuring together run the same number of rounds (nobody measures
     * alone while the others have stopped). */
    double rate = 0, bw = 0, attn = 0, eb = 0, zb = 0, nb = 0, prev = 0;
    for (int round = 0; round < 5; round++) {
        double v[6];
        sync_ranks(ranks), v[0] = suite_gflops(n_tokens);
        sync_ranks(ranks), v[1] = stream_update_gbs(threads);
        sync_ranks(ranks), v[2] = attention_gflops();
        sync_ranks(ranks), v[3] = elementwise_gbs();
        sync_ranks(ranks), v[4] = zero_gbs();
        sync_ranks(ranks), v[5] = norm_gbs();
        for (int k = 0; k < 6; k++) v[k] = slowest(ranks, v[k]);
        if (v[5] > nb) nb = v[5];
        if (v[3] > eb) eb = v[3];
        if (v[4] > zb) zb = v[4];
        if (v[0] > rate) rate = v[0];
        if (v[1] > bw) bw = v[1];
        if (v[2] > attn) attn = v[2];
        if (round > 0 && fabs(v[0] - prev) <= 0.05 * fmax(v[0], prev)) break;
        prev = v[0];
    }
    hw->gemm_d0 = PLAN_CPU_GEMM_D0;
    hw->peak32_tflops = peak / 1e3;
    hw->peak16_tflops = hw->peak32_tflops; /* fp32 only: no 16-bit path on the CPU trainer */
    hw->gemm_eff = rate / suite_g(n_tokens, hw->gemm_d0, NULL) / peak;
    hw->hbm_gbs = bw;
    hw->mem_eff = 1.0;
    hw->attn_gflops = attn;
    hw->elem_gbs = eb;
    hw->zero_gbs = zb;
    hw->norm_gbs = nb;
    hw->node_cores = omp_get_num_procs();
    /* the host's aggregate bandwidth: every core streaming (one process), or
     * what the R ranks reached together */
    hw->node_gbs = ranks ? R * bw : fmax(bw, stream_update_gbs((int)hw->node_cores));
    hw->mem_gb = (double)sysconf(_SC_PHYS_PAGES) * (double)sysconf(_SC_PAGE_SIZE) / 1e9;
    hw->intra_gbs = hw->inter_gbs = PLAN_CPU_DEFAULT_COMM_GBS;
    hw->intra_lat_us = hw->inter_lat_us = PLAN_CPU_DEFAULT_COMM_LAT_US;
    hw->comm_eff = 1.0;
    hw->comm_on_cores = 1;
    hw->clip_fused = hw->norm_fused = 1;
    hw->gpus_per_node = 1 << 16; /* every process on this host */
    hw->fp32_only = 1;
}

void plan_calib_share(PlanHw *hw, int ranks, int threads) {
    if (ranks <= 1) return;
    double cores = hw->node_cores > 0 ? hw->node_cores : omp_get_num_procs();
    double cpu = fmin(1.0, cores / ((double)ranks * threads)); /* share of its cores */
    double mem = cpu;
    if (hw->node_gbs > 0) mem = fmin(mem, hw->node_gbs / (ranks * hw->hbm_gbs));
    hw->gemm_eff *= cpu;
    hw->attn_gflops *= cpu;
    hw->hbm_gbs *= mem;
    hw->elem_gbs *= mem;
    hw->zero_gbs *= mem;
    hw->norm_gbs *= fmin(cpu, mem);
    snprintf(hw->desc, sizeof hw->desc, "this machine: %.50s, %d x %d threads (shared from 1 x %d)",
             ls_cpu_model_name(), ranks, threads, threads);
}

int plan_calib_save(const PlanHw *hw, int ranks, int threads, const char *path) {
    if (!path[0]) return -1;
    char *text = NULL;
    size_t len = 0;
    FILE *mem = open_memstream(&text, &len);
    if (!mem) return -1;
    fprintf(mem, "# llmscale cpu-local calibration, written by `llmscale bench`; see src/plan/calib.h\n");
    if (ranks > 1)
        fprintf(mem, "# %d processes measured together (mpirun -np %d llmscale bench), with their collectives\n",
                ranks, ranks);
    else
        fprintf(mem, "# one process (collective figures: defaults; `mpirun -np R llmscale bench` measures them)\n");
    fprintf(mem, "cpu = %s\nthreads = %d\n", ls_cpu_model_name(), threads);
    plan_hw_write(hw, mem);
    fclose(mem);
    LsAtomicFile af;
    ls_atomic_open(&af, path);
    ls_atomic_write(&af, text, len);
    ls_atomic_commit(&af);
    free(text);
    return 0;
}

/* Read a calibration file into *hw; 0 if there is none. */
static int calib_load(PlanHw *hw, const char *path, int threads) {
    if (!path[0] || ls_file_size(path) <= 0) return 0;
    memset(hw, 0, sizeof *hw);
    int t = threads;
    hw->comm_on_cores = hw->clip_fused = hw->norm_fused = 1; /* files written before the keys existed */
    plan_hw_parse_file(hw, path, &t);
    if (hw->peak32_tflops <= 0 || hw->hbm_gbs <= 0 || hw->gemm_eff <= 0 || hw->attn_gflops <= 0)
        ls_fatal("calibration file '%s' lacks peak32_tflops/hbm_gbs/gemm_eff/attn_gflops "
                 "(delete it and run llmscale bench)", path);
    snprintf(hw->name, sizeof hw->name, "cpu-local");
    hw->fp32_only = 1;
    return 1;
}

void plan_calib_get(PlanHw *hw, int ranks, int threads) {
    if (threads < 1) threads = ls_cpu_threads();
    if (ranks < 1) ranks = 1;
    char path[4200];
    if (ranks > 1 && calib_load(hw, plan_calib_path(path, sizeof path, ranks, threads), threads)) return;
    if (!calib_load(hw, plan_calib_path(path, sizeof path, 1, threads), threads)) {
        ls_info("no cpu-local calibration for %d threads yet: measuring this machine (~10 s; "
                "`llmscale bench` does the same)", threads);
        plan_calib_measure(hw, threads, NULL);
        if (path[0] && plan_calib_save(hw, 1, threads, path) == 0) ls_info("saved %s", path);
    }
    if (ranks > 1) {
        ls_info("no calibration of %d processes x %d threads: sharing the one-process figures among them, "
                "default collectives (`mpirun -np %d llmscale bench --threads %d` measures them)",
                ranks, threads, ranks, threads);
        plan_calib_share(hw, ranks, threads);
    }
}
