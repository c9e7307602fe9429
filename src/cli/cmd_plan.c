/* cmd_plan.c - `llmscale plan`: memory, step time, TFLOP/s, MFU and days of a
 * model on a cluster for one layout, or the best layouts found by search.
 * The model behind the numbers: src/plan/ and docs/PLANNER.md. */
#include <omp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../core/blas_setup.h"
#include "../core/cpu.h"
#include "../core/error.h"
#include "../plan/calib.h"
#include "../plan/search.h"
#include "args.h"
#include "commands.h"
#include "model_flags.h"

static void usage(FILE *f) {
    fprintf(f,
            "usage: llmscale plan --model PRESET | --layers L --hidden H --heads A --vocab V [--seq S]\n"
            "                     --gpu NAME [--gpus N] [--global-batch B]\n"
            "                     [--tp T --pp P --interleave V --micro-batch b --zero Z --sp\n"
            "                      --recompute none|selective|full] [--tokens N] [--json]\n"
            "\n"
            "Predict, before running, what a training job costs: memory per device (weights,\n"
            "gradients, optimizer state, activations, buffers), time per step split into compute,\n"
            "exposed tensor/pipeline/data-parallel communication and pipeline bubble, TFLOP/s per\n"
            "device, MFU, tokens/s and days for --tokens. The model is analytic (docs/PLANNER.md):\n"
            "every GEMM at its shape, element-wise kernels as memory traffic, ring collectives,\n"
            "the 1F1B bubble (p-1)/(m*v), Korthikanti et al.'s activation memory, ZeRO sharding.\n"
            "\n"
            "With any of --tp --pp --interleave --micro-batch --zero --sp --recompute --dp, it\n"
            "evaluates that one layout (the others default to 1 / 0 / off / none). Without them,\n"
            "or with --search, it searches tp, pp, dp, micro-batch, interleaving, ZeRO, SP and\n"
            "recompute (given flags stay fixed), drops layouts that cannot exist or do not fit,\n"
            "and ranks the rest by step time, saying why the others lost.\n"
            "\n"
            "hardware:\n"
            "  --gpu NAME         %s (default cpu-local)\n"
            "                     cpu-local is this machine running llmscale's own fp32 trainer,\n"
            "                     calibrated by `llmscale bench` (measured on first use otherwise)\n"
            "  --gpus N           devices (processes for cpu-local) in the job (default 1)\n"
            "  --nodes-of G       devices per node (default: the catalog's, 8 for GPUs)\n"
            "  --hw-file FILE     override catalog fields from key = value lines\n"
            "                     (peak16_tflops hbm_gbs inter_gbs gemm_eff ...; docs/PLANNER.md)\n"
            "  --threads N        cpu-local: threads per process (default: OMP_NUM_THREADS / all)\n"
            "  --list-gpus        print the catalog and exit\n"
            "training:\n"
            "  --global-batch B   sequences per optimizer step (default: dp x micro-batch)\n"
            "  --tokens N         training tokens for the days estimate (e.g. 300e9)\n"
            "  --precision P      mixed (bf16/fp16 weights+grads, fp32 master + Adam: 2+2+12 bytes\n"
            "                     per parameter, the ZeRO paper's K=12) or fp32 (llmscale's CPU\n"
            "                     trainer: 4+4+8). Default: mixed on GPUs, fp32 on cpu-local\n"
            "  --activations M    megatron (Korthikanti et al. 2022, 16-bit) or llmscale (the CPU\n"
            "                     trainer's own buffers). Default: megatron on GPUs, llmscale on cpu-local\n"
            "layout (per flag; unset ones are searched with --search):\n"
            "  --tp T             tensor-parallel degree (divides heads)\n"
            "  --pp P             pipeline stages (divides layers)\n"
            "  --dp D             data-parallel degree (default: devices / (tp x pp))\n"
            "  --interleave V     virtual stages per pipeline rank (interleaved 1F1B; default 1)\n"
            "  --micro-batch b    sequences per micro-batch (default 1)\n"
            "  --zero Z           ZeRO stage 0-3 (1: optimizer state sharded over dp, 2: + gradients,\n"
            "                     3: + parameters)\n"
            "  --sp               sequence parallelism (with tp > 1)\n"
            "  --recompute R      activation recomputation: none, selective (attention core) or full\n"
            "output:\n"
            "  --search           search even though layout flags are given (they stay fixed)\n"
            "  --top K            layouts to list in search mode (default 5)\n"
            "  --mem-fraction F   usable fraction of device memory (default 0.95)\n"
            "  --json             one JSON object instead of the report\n"
            "model (--hidden is an alias of --dim):\n",
            plan_hw_names());
    model_flags_help(f);
}

typedef struct {
    int json, top;
    const char *gpu_name;
} Out;

static void print_layout(FILE *f, const PlanLayout *l) {
    fprintf(f, "dp %d x tp %d x pp %d", l->dp, l->tp, l->pp);
    if (l->vpp > 1) fprintf(f, " (interleave %d)", l->vpp);
    fprintf(f, ", micro-batch %d x %d micro-batches, ZeRO %d, SP %s, recompute %s", l->micro_batch,
            l->num_micro, l->zero, l->sp ? "on" : "off", plan_recompute_name(l->recompute));
}

static void json_layout(FILE *f, const PlanCandidate *c) {
    const PlanLayout *l = &c->l;
    const PlanCost *o = &c->cost;
    const PlanMemory *m = &c->mem;
    fprintf(f,
            "{\"dp\": %d, \"tp\": %d, \"pp\": %d, \"interleave\": %d, \"micro_batch\": %d, "
            "\"num_micro\": %d, \"zero\": %d, \"sp\": %s, \"recompute\": \"%s\", "
            "\"fits\": %s, \"memory_gb_per_gpu\": %.4f, \"memory_rank\": %d, "
            "\"memory_gb\": {\"params\": %.4f, \"grads\": %.4f, \"optimizer\": %.4f, \"activations\": %.4f, "
            "\"buffers\": %.4f}, \"step_time_s\": %.9g, \"compute_s\": %.9g, \"gemm_s\": %.9g, "
            "\"elementwise_s\": %.9g, \"tp_comm_s\": %.9g, \"pp_comm_s\": %.9g, \"dp_comm_s\": %.9g, "
            "\"dp_comm_total_s\": %.9g, \"bubble_s\": %.9g, \"optimizer_s\": %.9g, "
            "\"tflops_per_gpu\": %.9g, \"model_tflops_per_gpu\": %.9g, \"mfu\": %.9g, "
            "\"tokens_per_s\": %.9g, \"days\": %.9g}",
            l->dp, l->tp, l->pp, l->vpp, l->micro_batch, l->num_micro, l->zero, l->sp ? "true" : "false",
            plan_recompute_name(l->recompute), c->fits ? "true" : "false", m->total / 1e9, c->mem_rank,
            m->params / 1e9, m->grads / 1e9, m->optimizer / 1e9, m->activations / 1e9, m->buffers / 1e9,
            o->step_s, o->compute_s, o->gemm_s, o->elem_s, o->tp_comm_s, o->pp_comm_s, o->dp_comm_s,
            o->dp_comm_total_s, o->bubble_s, o->optimizer_s, o->tflops_per_gpu, o->model_tflops_per_gpu,
            o->mfu, o->tokens_per_s, o->days);
}

static void json_model(const GptConfig *c, int seq) {
    printf("\"model\": {\"layers\": %d, \"hidden\": %d, \"heads\": %d, \"vocab\": %d, \"seq\": %d, "
           "\"params\": %.6g}", c->num_layers, c->channels, c->num_heads, c->vocab_size, seq, gpt_num_params_d(c));
}

static void report(const PlanProblem *pb, const PlanCandidate *c) {
    const PlanCost *o = &c->cost;
    const PlanMemory *m = &c->mem;
    printf("layout: ");
    print_layout(stdout, &c->l);
    printf("; global batch %d\n", pb->global_batch);
    printf("memory per device (pp rank %d, the fullest): %.2f GB of %.2f GB usable%s\n", c->mem_rank,
           m->total / 1e9, pb->mem_capacity / 1e9, c->fits ? "" : "  ** DOES NOT FIT **");
    printf("  weights %.2f GB, gradients %.2f GB, optimizer %.2f GB, activations %.2f GB, buffers %.2f GB\n",
           m->params / 1e9, m->grads / 1e9, m->optimizer / 1e9, m->activations / 1e9, m->buffers / 1e9);
    double s = o->step_s;
#define LINE(name, v) printf("  %-28s %10.4g s  %5.1f%%\n", name, v, 100 * (v) / s)
    printf("time per step:\n");
    LINE(pb->hw->attn_gflops > 0 ? "compute: GEMMs + attention" : "compute: GEMMs", o->gemm_s);
    LINE("compute: element-wise", o->elem_s);
    LINE("TP communication (exposed)", o->tp_comm_s);
    LINE("PP send/recv (exposed)", o->pp_comm_s);
    LINE("DP communication (exposed)", o->dp_comm_s);
    LINE("pipeline bubble", o->bubble_s);
    LINE("optimizer", o->optimizer_s);
#undef LINE
    printf("  %-28s %10.4g s  (DP traffic %.4g s before overlap with backward)\n", "step", s,
           o->dp_comm_total_s);
    printf("throughput: %.4g TFLOP/s per device (hardware FLOPs: every GEMM executed, recompute\n"
           "  included; with full recompute this is Narayanan et al.'s 96Bslh^2(1+s/6h+V/16lh) count),\n"
           "  %.4g TFLOP/s model FLOPs (6N + 12*L*h*s per token), MFU %.1f%% of %.4g TFLOP/s peak,\n"
           "  %.4g tokens/s",
           o->tflops_per_gpu, o->model_tflops_per_gpu, 100 * o->mfu, o->peak_tflops, o->tokens_per_s);
    if (pb->tokens > 0) printf(", %.4g days for %.4g tokens", o->days, pb->tokens);
    printf("\n");
}

/* The component in which candidate c is slowest relative to the best. */
static const char *lost_on(const PlanCandidate *c, const PlanCandidate *best, double *by) {
    const char *names[] = {"compute", "TP communication", "PP send/recv", "DP communication",
                           "pipeline bubble", "optimizer"};
    double a[] = {c->cost.compute_s, c->cost.tp_comm_s, c->cost.pp_comm_s, c->cost.dp_comm_s,
                  c->cost.bubble_s, c->cost.optimizer_s};
    double b[] = {best->cost.compute_s, best->cost.tp_comm_s, best->cost.pp_comm_s,
                  best->cost.dp_comm_s, best->cost.bubble_s, best->cost.optimizer_s};
    int k = 0;
    for (int i = 1; i < 6; i++)
        if (a[i] - b[i] > a[k] - b[k]) k = i;
    *by = a[k] - b[k];
    return names[k];
}

static void search_report(const PlanProblem *pb, PlanCandidate *all, int n, const Out *out) {
    int nfit = 0, nbig = 0, nbad = 0;
    for (int i = 0; i < n; i++) {
        if (!all[i].valid) nbad++;
        else if (!all[i].fits) nbig++;
        else nfit++;
    }
    if (out->json) {
        printf("{\"mode\": \"search\", \"gpu\": \"%s\", \"gpus\": %d, \"global_batch\": %d, \"tokens\": %.6g, ",
               pb->hw->name, pb->gpus, pb->global_batch, pb->tokens);
        json_model(pb->cfg, n ? all[0].l.seq : pb->cfg->max_seq_len);
        printf(", \"considered\": %d, \"fit\": %d, \"too_big\": %d, \"impossible\": %d, \"best\": ", n, nfit,
               nbig, nbad);
        if (nfit) json_layout(stdout, &all[0]);
        else printf("null");
        if (nfit) {
            /* the headline fields of the chosen layout at the top level too */
            const PlanCost *o = &all[0].cost;
            printf(", \"step_time_s\": %.9g, \"tflops_per_gpu\": %.9g, \"mfu\": %.9g, "
                   "\"memory_gb_per_gpu\": %.4f, \"tokens_per_s\": %.9g, \"days\": %.9g",
                   o->step_s, o->tflops_per_gpu, o->mfu, all[0].mem.total / 1e9, o->tokens_per_s, o->days);
        }
        printf(", \"ranked\": [");
        for (int i = 0; i < nfit && i < out->top; i++) {
            if (i) printf(", ");
            json_layout(stdout, &all[i]);
        }
        printf("]}\n");
        return;
    }
    printf("searched %d layouts: %d fit, %d do not fit in memory, %d impossible\n", n, nfit, nbig, nbad);
    if (!nfit) {
        if (nbig) {
            printf("nothing fits; the smallest needs %.2f GB per device (%.2f GB usable): ",
                   all[0].mem.total / 1e9, pb->mem_capacity / 1e9);
            print_layout(stdout, &all[0].l);
            printf("\n");
        }
        for (int i = nbig; i < n && i < nbig + 5; i++) printf("  impossible: %s\n", all[i].why);
        ls_fatal("no layout of this model fits on %d x %s", pb->gpus, pb->hw->name);
    }
    printf("\nbest layout:\n");
    report(pb, &all[0]);
    printf("\nranked by step time (the best %d):\n", out->top);
    printf("   #   step s  TFLOP/s  MFU%%   mem GB  layout / why slower than #1\n");
    for (int i = 0; i < nfit && i < out->top; i++) {
        const PlanCandidate *c = &all[i];
        printf("  %2d %8.4g %8.4g %5.1f %8.2f  ", i + 1, c->cost.step_s, c->cost.tflops_per_gpu,
               100 * c->cost.mfu, c->mem.total / 1e9);
        print_layout(stdout, &c->l);
        if (i) {
            double by;
            const char *what = lost_on(c, &all[0], &by);
            printf("\n%37s +%.1f%%: most from %s (+%.3g s)", "", 100 * (c->cost.step_s / all[0].cost.step_s - 1),
                   what, by);
        }
        printf("\n");
    }
    /* why the others lost: memory, and impossibility reasons (grouped by their first words) */
    if (nbig) {
        printf("\n%d layouts do not fit, e.g. ", nbig);
        print_layout(stdout, &all[nfit].l);
        printf(": %s\n", all[nfit].why);
    }
    if (nbad) {
        printf("\n%d layouts are impossible:\n", nbad);
        int shown = 0;
        for (int i = nfit + nbig; i < n && shown < 6; i++) {
            int seen = 0;
            for (int j = nfit + nbig; j < i && !seen; j++) seen = !strncmp(all[j].why, all[i].why, 12);
            if (seen) continue;
            int cnt = 0;
            for (int j = nfit + nbig; j < n; j++) cnt += !strncmp(all[j].why, all[i].why, 12);
            printf("  %5d like: %s\n", cnt, all[i].why);
            shown++;
        }
    }
}

int cmd_plan(int argc, char **argv) {
    if (ls_wants_help(argc, argv)) {
        usage(stdout);
        return 0;
    }
    ModelFlags mf = {0};
    const char *gpu = "cpu-local", *hw_file = NULL, *prec_name = NULL, *act_name = NULL;
    int gpus = 1, nodes_of = 0, global_batch = 0, threads = 0, search = 0, json = 0, top = 5;
    int any_layout = 0;
    PlanPins pins = {-1, -1, -1, -1, -1, -1, -1, -1};
    double tokens = 0, mem_fraction = 0.95;
    for (int i = 0; i < argc; i++) {
        const char *a = argv[i];
        if (ls_flag(a, "--hidden")) mf.dim = (int)ls_int_arg(argc, argv, &i, 1, 1 << 17);
        else if (model_flags_parse(&mf, argc, argv, &i)) continue;
        else if (ls_flag(a, "--gpu")) gpu = ls_str_arg(argc, argv, &i);
        else if (ls_flag(a, "--gpus")) gpus = (int)ls_int_arg(argc, argv, &i, 1, 1 << 24);
        else if (ls_flag(a, "--nodes-of")) nodes_of = (int)ls_int_arg(argc, argv, &i, 1, 1 << 16);
        else if (ls_flag(a, "--hw-file")) hw_file = ls_str_arg(argc, argv, &i);
        else if (ls_flag(a, "--threads")) threads = (int)ls_int_arg(argc, argv, &i, 1, 4096);
        else if (ls_flag(a, "--list-gpus")) {
            plan_hw_list(stdout);
            printf("cpu-local  this machine, calibrated by `llmscale bench`\n");
            return 0;
        } else if (ls_flag(a, "--global-batch")) global_batch = (int)ls_int_arg(argc, argv, &i, 1, 1 << 24);
        else if (ls_flag(a, "--tokens")) tokens = ls_double_arg(argc, argv, &i, 0, 1e18);
        else if (ls_flag(a, "--precision")) prec_name = ls_str_arg(argc, argv, &i);
        else if (ls_flag(a, "--activations")) act_name = ls_str_arg(argc, argv, &i);
        else if (ls_flag(a, "--tp")) pins.tp = (int)ls_int_arg(argc, argv, &i, 1, 1 << 16), any_layout = 1;
        else if (ls_flag(a, "--pp")) pins.pp = (int)ls_int_arg(argc, argv, &i, 1, 1 << 16), any_layout = 1;
        else if (ls_flag(a, "--dp")) pins.dp = (int)ls_int_arg(argc, argv, &i, 1, 1 << 24), any_layout = 1;
        else if (ls_flag(a, "--interleave")) pins.vpp = (int)ls_int_arg(argc, argv, &i, 1, 1024), any_layout = 1;
        else if (ls_flag(a, "--micro-batch")) pins.micro = (int)ls_int_arg(argc, argv, &i, 1, 1 << 20), any_layout = 1;
        else if (ls_flag(a, "--zero")) pins.zero = (int)ls_int_arg(argc, argv, &i, 0, 3), any_layout = 1;
        else if (ls_flag(a, "--sp")) pins.sp = 1, any_layout = 1;
        else if (ls_flag(a, "--recompute")) {
            const char *r = ls_str_arg(argc, argv, &i);
            if ((pins.recompute = gpt_recompute_parse(r)) < 0)
                ls_fatal("--recompute must be none, selective or full (got '%s')", r);
            any_layout = 1;
        } else if (ls_flag(a, "--search")) search = 1;
        else if (ls_flag(a, "--top")) top = (int)ls_int_arg(argc, argv, &i, 1, 1000);
        else if (ls_flag(a, "--mem-fraction")) mem_fraction = ls_double_arg(argc, argv, &i, 0.01, 1);
        else if (ls_flag(a, "--json")) json = 1;
        else ls_unknown_flag("plan", a);
    }
    if (!model_flags_any_shape(&mf)) ls_fatal("no model given: use --model PRESET or --layers/--hidden/--heads/--vocab (see --help)");
    GptConfig cfg;
    model_flags_resolve(&mf, 0, &cfg);
    int seq = mf.seq ? mf.seq : cfg.max_seq_len;
    PlanHw hw;
    if (!strcmp(gpu, "cpu-local")) {
        if (threads > 0) {
            omp_set_num_threads(threads);
            ls_blas_set_threads(threads);
        }
        ls_set_quiet(json); /* progress lines go to stdout; keep the JSON alone there */
        plan_calib_get(&hw, gpus, threads); /* --gpus processes on this host */
        ls_set_quiet(0);
    }
    else if (!plan_hw_lookup(gpu, &hw)) ls_fatal("unknown --gpu '%s' (known: %s)", gpu, plan_hw_names());
    if (hw_file) plan_hw_load_file(&hw, hw_file);
    if (nodes_of) hw.gpus_per_node = nodes_of;
    const PlanPrecision *prec = hw.fp32_only ? &PLAN_PREC_LLMSCALE_FP32 : &PLAN_PREC_MIXED;
    if (prec_name) {
        if (!strcmp(prec_name, "mixed")) prec = &PLAN_PREC_MIXED;
        else if (!strcmp(prec_name, "fp32")) prec = &PLAN_PREC_LLMSCALE_FP32;
        else ls_fatal("--precision must be mixed or fp32 (got '%s')", prec_name);
    }
    PlanActModel act = hw.fp32_only ? PLAN_ACT_LLMSCALE : PLAN_ACT_MEGATRON;
    if (act_name) {
        if (!strcmp(act_name, "megatron")) act = PLAN_ACT_MEGATRON;
        else if (!strcmp(act_name, "llmscale")) act = PLAN_ACT_LLMSCALE;
        else ls_fatal("--activations must be megatron or llmscale (got '%s')", act_name);
    }
    if (hw.fp32_only && prec == &PLAN_PREC_MIXED)
        ls_fatal("--gpu %s runs llmscale's fp32 trainer: --precision mixed does not apply", hw.name);
    PlanProblem pb = {&cfg, &hw, prec, act, gpus, global_batch, tokens, hw.mem_gb * 1e9 * mem_fraction};
    Out out = {json, top, gpu};
    if (!json) {
        printf("model: %d layers, hidden %d, %d heads, vocab %d (padded %d), seq %d: %.4g M parameters\n",
               cfg.num_layers, cfg.channels, cfg.num_heads, cfg.vocab_size, cfg.padded_vocab_size, seq,
               gpt_num_params_d(&cfg) / 1e6);
        printf("hardware: %d x ", gpus);
        plan_hw_print(&hw, stdout);
        printf("precision: %d+%d+%d bytes per parameter (weights, gradients, master + Adam), %d-byte "
               "activations (%s formulas)\n",
               prec->weight_bytes, prec->grad_bytes, prec->master_bytes + prec->optim_bytes,
               prec->act_bytes, act == PLAN_ACT_MEGATRON ? "Korthikanti et al." : "llmscale's own");
    }
    if (any_layout && !search) {
        PlanLayout l = {0, pins.tp > 0 ? pins.tp : 1, pins.pp > 0 ? pins.pp : 1, pins.vpp > 0 ? pins.vpp : 1,
                        pins.zero > 0 ? pins.zero : 0, pins.sp > 0, pins.recompute > 0 ? (PlanRecompute)pins.recompute : PLAN_RECOMPUTE_NONE,
                        pins.micro > 0 ? pins.micro : 1, seq, 1};
        if (l.tp * l.pp > gpus)
            ls_fatal("the layout needs tp %d x pp %d = %d devices, more than --gpus %d", l.tp, l.pp, l.tp * l.pp, gpus);
        l.dp = pins.dp > 0 ? pins.dp : gpus / (l.tp * l.pp);
        if ((long)l.dp * l.tp * l.pp != gpus)
            ls_fatal("--gpus %d is not dp %d x tp %d x pp %d = %ld: the layout %s", gpus, l.dp, l.tp, l.pp,
                     (long)l.dp * l.tp * l.pp,
                     (long)l.dp * l.tp * l.pp < gpus ? "leaves devices unused (give --dp or change --gpus)"
                                                     : "needs more devices than given");
        if (!pb.global_batch) pb.global_batch = l.dp * l.micro_batch;
        PlanCandidate c;
        plan_evaluate(&pb, l, &c);
        if (!c.valid) ls_fatal("impossible layout: %s", c.why);
        if (json) {
            printf("{\"mode\": \"layout\", \"gpu\": \"%s\", \"gpus\": %d, \"global_batch\": %d, \"tokens\": %.6g, ",
                   hw.name, gpus, pb.global_batch, tokens);
            json_model(&cfg, seq);
            printf(", \"layout\": ");
            json_layout(stdout, &c);
            printf(", \"step_time_s\": %.9g, \"tflops_per_gpu\": %.9g, \"mfu\": %.9g, \"memory_gb_per_gpu\": %.4f, "
                   "\"tokens_per_s\": %.9g, \"days\": %.9g}\n",
                   c.cost.step_s, c.cost.tflops_per_gpu, c.cost.mfu, c.mem.total / 1e9, c.cost.tokens_per_s,
                   c.cost.days);
        } else report(&pb, &c);
        return 0;
    }
    if (!pb.global_batch) ls_fatal("layout search needs --global-batch B (sequences per optimizer step)");
    PlanCandidate *all;
    int n = plan_search(&pb, &pins, seq, &all);
    search_report(&pb, all, n, &out);
    free(all);
    return 0;
}
