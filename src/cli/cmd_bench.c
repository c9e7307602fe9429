/* cmd_bench.c - `llmscale bench`: measure this machine and time training steps.
 *
 * Machine: fp32 FMA peak (the MFU denominator), OpenBLAS sgemm at transformer
 * shapes, DRAM bandwidth. Training: full steps (forward, backward, AdamW) of a
 * model on random tokens; reports the median step, tokens/s and MFU. */
#include <math.h>
#include <omp.h>
#include <stdlib.h>
#include <string.h>

#include "../core/blas_setup.h"
#include "../core/cpu.h"
#include "../core/error.h"
#include "../core/rng.h"
#include "../core/timer.h"
#include "../kernels/cpu/probe.h"
#include "../kernels/cpu/profile.h"
#include "../model/gpt.h"
#include "../parallel/comm.h"
#include "../parallel/tensor_parallel.h"
#include "../plan/calib.h"
#include "../plan/cost.h"
#include "../train/optimizer.h"
#include "args.h"
#include "dtype_flag.h"
#include "commands.h"
#include "model_flags.h"

static void usage(FILE *f) {
    fprintf(f,
            "usage: llmscale bench [--model PRESET ...] [--batch B] [--seq T] [--steps N] [--threads N]\n"
            "\n"
            "Measure this machine (fp32 FMA peak, sgemm GFLOP/s, memory bandwidth) and time N\n"
            "training steps (forward + backward + gradient norm and clipping + AdamW, which also\n"
            "clears the gradient for the next step, as the trainer) on random tokens; prints the\n"
            "median step, tokens/s and MFU (model FLOPs 6N + 12*L*C*T per token / measured fp32\n"
            "FMA peak; with --dtype bf16 the same fp32 denominator, so bf16 can exceed 100%%), and\n"
            "where the time goes: matmuls, attention, layernorm, GELU, classifier+loss, embedding,\n"
            "optimizer, communication (median ms per phase; timers are on only in this command),\n"
            "every matrix product of the step (y = x W^T, dx = dy W, dW += dy^T x, bias sums: shape,\n"
            "calls, ms, GFLOP/s, %% of peak, and the engine that ran it), and the\n"
            "CPU time per step: below ~85%% of threads x step, other processes are sharing the\n"
            "cores (or the threads idle) and an MFU over CPU time is printed as well.\n"
            "  --batch B     micro-batch (default 4)\n"
            "  --seq T       sequence length (default 64)\n"
            "  --steps N     timed steps after one warm-up step (default 5)\n"
            "  --threads N   OpenMP + OpenBLAS threads (default: all cores)\n"
            "  --no-probe    skip the machine measurements\n"
            "  --no-train    skip the training steps\n"
            "Under mpirun (mpirun -np R llmscale bench --threads t): calibrate instead for `plan --gpu\n"
            "cpu-local --gpus R --threads t`: the R ranks measure the kernels at the same time (the\n"
            "slowest rank's rates, sharing the cores and memory bandwidth as R training ranks do) and\n"
            "the all-reduce between them (latency at 4 KiB, bus bandwidth at 32 MiB); rank 0 saves\n"
            "plan-cpu-local-<R>x<t>t.txt beside the one-process file; no training steps.\n"
            "  --comm        instead: collective micro-benchmark (run under mpirun -np N): all-reduce,\n"
            "                reduce-scatter, all-gather, and send/recv (each rank to the next, as\n"
            "                pipeline stages do) of 4 KB .. --comm-max-mb MB (default 128),\n"
            "                algbw and busbw as nccl-tests define them; --iters K (default 5)\n"
            "  --dtype fp32|bf16  precision of the matrix products (default fp32; see 'train --help')\n"
            "model (default: --model gpt2, the GPT-2 124M shape):\n");
    model_flags_help(f);
}

static double median_sorted(const double *v, int n) {
    return n % 2 ? v[n / 2] : 0.5 * (v[n / 2 - 1] + v[n / 2]);
}

/* The linear layers' products one by one (profile.h's table, filled during
 * the timed steps): which engine ran each shape and how close it came to the
 * peak. The matmul and classifier+loss phases above are these plus the loss
 * and the glue between them. */
static void print_products(int steps, double peak) {
    int n;
    const LsProdRow *rows = ls_prof_products(&n);
    if (n == 0) return;
    LsProdRow r[LS_PROF_PRODUCTS_MAX]; /* grouped by kind, each group in order of first call */
    int m = 0;
    for (int k = 0; k < LS_MM_NKINDS; k++)
        for (int i = 0; i < n && m < LS_PROF_PRODUCTS_MAX; i++)
            if (rows[i].kind == (LsMmKind)k) r[m++] = rows[i];
    n = m;
    printf("matrix products (per step, mean over the %d timed steps; the LM head's are in classifier+loss):\n",
           steps);
    printf("  %-13s %-22s %6s %9s %9s %7s  %s\n", "product", "N x C -> OC", "calls", "ms", "GFLOP/s",
           "peak", "engine");
    double all_s = 0, all_f = 0;
    for (int i = 0; i < n; i++) {
        char shape[64];
        snprintf(shape, sizeof shape, "%d x %d -> %d", r[i].N, r[i].C, r[i].OC);
        double ms = r[i].sec * 1e3 / steps;
        all_s += r[i].sec;
        printf("  %-13s %-22s %6ld %9.2f", ls_prof_product_name(r[i].kind), shape, r[i].calls / steps, ms);
        if (r[i].kind == LS_MM_DBIAS) {
            printf(" %9s %7s  %s\n", "-", "-", "(column sums)");
            continue;
        }
        double f = 2.0 * r[i].N * r[i].C * r[i].OC * r[i].calls;
        all_f += f;
        double gf = r[i].sec > 0 ? f / r[i].sec / 1e9 : 0;
        printf(" %9.1f %6.1f%%  %s\n", gf, 100.0 * gf / peak, r[i].engine);
    }
    double gf = all_s > 0 ? all_f / all_s / 1e9 : 0;
    printf("  %-13s %-22s %6s %9.2f %9.1f %6.1f%%\n", "all", "", "", all_s * 1e3 / steps, gf,
           100.0 * gf / peak);
}

/* mpirun -np R llmscale bench: the R-process calibration of cpu-local. */
static int bench_calibrate_ranks(void) {
    LsGrid g;
    ls_grid_init(&g, 1, 1, 1);
    int nth = ls_cpu_threads();
    if (g.rank == 0)
        printf("calibrating cpu-local for %d processes x %d threads on this host (%s)\n", g.world, nth,
               ls_cpu_model_name());
    PlanHw hw;
    /* the data-parallel group is the whole world here (tp = pp = 1); unlike
     * the world communicator, groups get the shared-memory collectives the
     * trainer's gradient and tensor-parallel reductions use */
    if (ls_comm_buffer_bytes(&g.dp_comm) == 0)
        ls_warn("bench: the ranks share no shared-memory window (not all on this host, or LLMSCALE_SHM=0): "
                "cpu-local models processes on one host with llmscale's shared-memory collectives");
    plan_calib_measure(&hw, nth, &g.dp_comm);
    bench_comm_calibrate(&g.dp_comm, &hw);
    if (g.rank == 0) {
        char path[4200];
        plan_calib_path(path, sizeof path, g.world, nth);
        printf("per process (slowest rank): gemm_eff %.3f of %.1f GFLOP/s, update bandwidth %.1f GB/s, "
               "element-wise %.1f GB/s, zeroing %.1f GB/s, gradient norm %.1f GB/s, attention %.1f GFLOP/s\n"
               "all-reduce over %d ranks: %.2f GB/s bus bandwidth, %.1f us per step -> %s\n",
               hw.gemm_eff, hw.peak32_tflops * 1e3, hw.hbm_gbs, hw.elem_gbs, hw.zero_gbs, hw.norm_gbs, hw.attn_gflops,
               g.world, hw.intra_gbs, hw.intra_lat_us,
               plan_calib_save(&hw, g.world, nth, path) == 0 ? path : "(no cache directory)");
    }
    ls_grid_finalize(&g);
    return 0;
}

int cmd_bench(int argc, char **argv) {
    if (ls_wants_help(argc, argv)) {
        usage(stdout);
        return 0;
    }
    ModelFlags mf = {0};
    int B = 4, T = 64, steps = 5, threads = 0, probe = 1, train = 1, comm = 0, comm_mb = 128, iters = 5;
    for (int i = 0; i < argc; i++) {
        const char *a = argv[i];
        if (ls_flag(a, "--seq")) T = (int)ls_int_arg(argc, argv, &i, 1, 1 << 20), mf.seq = T;
        else if (model_flags_parse(&mf, argc, argv, &i)) continue;
        else if (ls_flag(a, "--batch")) B = (int)ls_int_arg(argc, argv, &i, 1, 1 << 20);
        else if (ls_flag(a, "--steps")) steps = (int)ls_int_arg(argc, argv, &i, 1, 100000);
        else if (ls_flag(a, "--threads")) threads = (int)ls_int_arg(argc, argv, &i, 1, 4096);
        else if (ls_flag(a, "--no-probe")) probe = 0;
        else if (ls_flag(a, "--no-train")) train = 0;
        else if (ls_flag(a, "--comm")) comm = 1;
        else if (ls_flag(a, "--comm-max-mb")) comm_mb = (int)ls_int_arg(argc, argv, &i, 1, 4096);
        else if (ls_flag(a, "--iters")) iters = (int)ls_int_arg(argc, argv, &i, 1, 10000);
        else if (ls_flag(a, "--dtype")) dtype_flag_apply(argc, argv, &i);
        else ls_unknown_flag("bench", a);
    }
    if (threads > 0) {
        omp_set_num_threads(threads);
        ls_blas_set_threads(threads);
    }
    if (comm) return bench_comm(comm_mb, iters);
    if (ls_mpi_launched()) return bench_calibrate_ranks();
    int nth = ls_cpu_threads();
    printf("cpu: %s, %d threads, %s\n", ls_cpu_model_name(), nth, ls_blas_describe());
    double peak = 0;
    PlanHw calib;
    int have_calib = 0;
    if (probe) {
        peak = ls_probe_fma_gflops(nth);
        printf("fp32 FMA peak (%s):   %8.1f GFLOP/s\n", ls_probe_fma_isa(), peak);
        printf("sgemm 768x2304x256:    %8.1f GFLOP/s\n", ls_probe_sgemm_gflops(256, 2304, 768));
        printf("sgemm 256x768x3072:    %8.1f GFLOP/s\n", ls_probe_sgemm_gflops(256, 768, 3072));
        printf("sgemm 1024x1024x1024:  %8.1f GFLOP/s\n", ls_probe_sgemm_gflops(1024, 1024, 1024));
        LsGemmType engines[] = {LS_GEMM_F32, LS_GEMM_BF16_AVX512, LS_GEMM_BF16_AMX};
        for (int e = 0; e < 3; e++)
            if (gemm_supported(engines[e]))
                printf("own gemm 256x2304x768: %8.1f GFLOP/s  (%s)\n",
                       ls_probe_gemm_gflops(engines[e], 256, 2304, 768), gemm_name(engines[e]));
        printf("memory bandwidth:      %8.1f GB/s\n", ls_probe_mem_gbs());
        /* the calibration `plan --gpu cpu-local` reads (src/plan/calib.h) */
        plan_calib_measure(&calib, nth, NULL);
        char path[4200];
        plan_calib_path(path, sizeof path, 1, nth);
        printf("plan calibration:      gemm_eff %.3f, gemm_d0 %.0f, update bandwidth %.1f GB/s, "
               "element-wise %.1f GB/s, zeroing %.1f GB/s, gradient norm %.1f GB/s, attention %.1f GFLOP/s -> %s\n",
               calib.gemm_eff, calib.gemm_d0, calib.hbm_gbs, calib.elem_gbs, calib.zero_gbs, calib.norm_gbs, calib.attn_gflops, plan_calib_save(&calib, 1, nth, path) == 0 ? path : "(no cache directory)");
        have_calib = 1;
    } else {
        peak = ls_peak_gflops_cached(nth, 0);
    }
    if (!train) return 0;
    if (!mf.preset && !mf.layers) mf.preset = "gpt2";
    if (!mf.seq) mf.seq = T;
    GptConfig cfg;
    model_flags_resolve(&mf, 0, &cfg);
    Gpt m;
    gpt_create(&m, &cfg, 0, cfg.num_layers, 1, 0);
    gpt_init_random(&m, 1);
    AdamW opt;
    adamw_init(&opt, m.lay.total);
    AdamWParams hp = {1e-4f, 0.9f, 0.95f, 1e-8f, 0.1f, 1.0f};
    int32_t *x = calloc((size_t)B * T, sizeof(int32_t)), *y = calloc((size_t)B * T, sizeof(int32_t));
    LsRng r;
    ls_rng_seed(&r, 7);
    for (int i = 0; i < B * T; i++) {
        x[i] = (int32_t)ls_rng_below(&r, (uint64_t)cfg.vocab_size);
        y[i] = (int32_t)ls_rng_below(&r, (uint64_t)cfg.vocab_size);
    }
    double *ms = calloc((size_t)steps, sizeof(double)), *cpu_ms = calloc((size_t)steps, sizeof(double));
    /* per step: forward, backward, gradient norm + clipping, optimizer, then
     * the kernel phases of profile.h */
    enum { NP = 4 + LS_PROF_NPHASES };
    double *phase = calloc((size_t)steps * NP, sizeof(double));
    printf("training: %d layers, dim %d, %d heads, vocab %d: %.1f M params, batch %d x %d, matmuls %s\n",
           cfg.num_layers, cfg.channels, cfg.num_heads, cfg.vocab_size, gpt_num_params(&cfg) / 1e6, B, T,
           matmul_describe());
    for (int s = -1; s < steps; s++) {
        ls_prof_reset();
        if (s == 0) ls_prof_products_reset(); /* the table covers the timed steps */
        ls_prof_on = 1;
        double t0 = ls_now_s(), c0 = ls_cpu_s();
        if (s < 0) gpt_zero_grad(&m); /* later steps: AdamW left the gradient zero */
        gpt_forward(&m, x, y, B, T);
        double t1 = ls_now_s();
        double sq = 0.0; /* the trainer's one-process step: the dW products sum their squares */
        m.grad_sq = &sq;
        gpt_backward(&m, 1.0f / (B * T));
        m.grad_sq = NULL;
        double t2 = ls_now_s();
        /* the trainer's step: the gradient norm, clipping at 1.0, AdamW */
        sq += gpt_grad_sq_rest(&m);
        hp.grad_scale = grad_clip_factor(sqrt(sq), 1.0f); /* applied inside AdamW */
        double t3 = ls_now_s();
        double to = ls_prof_begin();
        adamw_step_zero_grads(&opt, &m.lay, 0, m.lay.total, m.params, m.grads, &hp, gpt_overwritten_kinds());
        ls_prof_end(LS_PROF_OPTIMIZER, to);
        double t4 = ls_now_s(), c4 = ls_cpu_s();
        ls_prof_on = 0;
        if (s >= 0) {
            ms[s] = (t4 - t0) * 1e3;
            cpu_ms[s] = (c4 - c0) * 1e3;
            phase[s] = (t1 - t0) * 1e3;
            phase[steps + s] = (t2 - t1) * 1e3;
            phase[2 * steps + s] = (t3 - t2) * 1e3;
            phase[3 * steps + s] = (t4 - t3) * 1e3;
            for (int k = 0; k < LS_PROF_NPHASES; k++) phase[(4 + k) * steps + s] = ls_prof_sec[k] * 1e3;
        }
    }
    ls_sort_times(ms, (size_t)steps);
    ls_sort_times(cpu_ms, (size_t)steps);
    for (int k = 0; k < NP; k++) ls_sort_times(phase + (size_t)k * steps, (size_t)steps);
    double med = median_sorted(ms, steps);
    double tok_s = B * T / (med / 1e3);
    double gflops = gpt_flops_per_token(&cfg, T) * tok_s / 1e9;
    printf("step: median %.1f ms (min %.1f, max %.1f over %d steps) | %.0f tokens/s | %.1f GFLOP/s | "
           "MFU %.1f%% of %.1f GFLOP/s (the fp32 FMA peak)\n", med, ms[0], ms[steps - 1], steps, tok_s,
           gflops, 100.0 * gflops / peak, peak);
    /* CPU time tells a shared machine apart: with the cores to ourselves the
     * threads are busy nearly all of the step (idle OpenMP threads sleep). */
    double cpu_med = median_sorted(cpu_ms, steps), share = cpu_med / (med * nth);
    printf("cpu time: median %.1f ms per step = %.0f%% of %d cores x the step", cpu_med, 100.0 * share, nth);
    if (share < 0.85) /* the MFU the same work would give at full speed, roughly */
        printf(" (threads idle, or other processes share the cores and the times above are "
               "inflated; then MFU over CPU time / %d, roughly an idle machine's: %.1f%%)", nth,
               100.0 * gflops * med / (cpu_med / nth) / peak);
    printf("\n");
    printf("steps (ms, sorted):");
    for (int k = 0; k < steps; k++) printf(" %.1f", ms[k]);
    printf("\n");
    printf("phases (median ms): forward %.1f, backward %.1f, gradient norm + clipping %.1f, "
           "AdamW (and gradient zeroing) %.1f\n", median_sorted(phase, steps),
           median_sorted(phase + steps, steps), median_sorted(phase + 2 * steps, steps),
           median_sorted(phase + 3 * steps, steps));
    printf("where the time goes (median ms per step, %% of the median step):\n");
    double accounted = 0;
    for (int k = 0; k < LS_PROF_NPHASES; k++) {
        double v = median_sorted(phase + (size_t)(4 + k) * steps, steps);
        accounted += v;
        printf("  %-18s %8.1f  %5.1f%%%s\n", ls_prof_name((LsProfPhase)k), v, 100.0 * v / med,
               k == LS_PROF_COMM ? "  (one process: no communication)" : "");
    }
    printf("  %-18s %8.1f  %5.1f%%  (gradient norm + clipping, loss sum, untimed glue)\n", "other",
           med - accounted,
           100.0 * (med - accounted) / med);
    print_products(steps, peak);
    /* what `llmscale plan --gpu cpu-local` predicts for this run (plan models
     * the fp32 trainer: its GEMM rate is the fp32 one) */
    if (matmul_dtype() != LS_DTYPE_F32) {
        printf("plan (cpu-local) models the fp32 path only: no prediction for --dtype bf16\n");
        goto done;
    }
    if (!have_calib) plan_calib_get(&calib, 1, nth);
    PlanLayout lay = {1, 1, 1, 1, 0, 0, PLAN_RECOMPUTE_NONE, B, T, 1};
    PlanCost pc;
    plan_cost(&cfg, &lay, &calib, &PLAN_PREC_LLMSCALE_FP32, PLAN_ACT_LLMSCALE, 0, &pc);
    printf("plan (cpu-local) predicts %.1f ms per step: error %+.1f%% against the median step, "
           "%+.1f%% against the fastest\n", pc.step_s * 1e3, 100.0 * (pc.step_s * 1e3 / med - 1),
           100.0 * (pc.step_s * 1e3 / ms[0] - 1));
done:
    free(phase);
    free(ms);
    free(cpu_ms);
    free(x);
    free(y);
    adamw_free(&opt);
    gpt_destroy(&m);
    return 0;
}
