/* cmd_train.c - `llmscale train`: parse flags, resolve the model, run the trainer. */
#include <omp.h>
#include <stdlib.h>
#include <string.h>

#include "../core/blas_setup.h"
#include "../core/error.h"
#include "../core/fileio.h"
#include "../data/tokenizer.h"
#include "../model/gpt.h"
#include "../model/gpt_io.h"
#include "../parallel/comm.h"
#include "../parallel/pipeline_schedule.h"
#include "../parallel/watchdog.h"
#include "../train/checkpoint.h"
#include "../train/trainer.h"
#include "args.h"
#include "dtype_flag.h"
#include "commands.h"
#include "model_flags.h"
#include "train_flags.h"

static void usage(FILE *f) {
    fprintf(f,
            "usage: llmscale train --data PATH (--model PRESET | --layers L --dim C --heads H)\n"
            "                      [--seq T] [--batch B] [--steps N] [--out RUNDIR] [options]\n"
            "\n"
            "       mpirun -np N llmscale train ... [--zero 0|1|2|3]\n"
            "\n"
            "Train a GPT-2-architecture model: one process (OpenBLAS + OpenMP threads), or N\n"
            "data-parallel processes when started by mpirun / mpiexec / srun (see docs/PARALLEL.md).\n"
            "Ctrl-C or SIGTERM finishes the current step, writes a checkpoint and exits 0.\n"
            "\n"
            "data:\n"
            "  --data PATH         directory written by 'llmscale prepare' (its *train*.bin shards),\n"
            "                      one shard file, or a quoted glob such as 'dir/*_train.bin'\n"
            "  --val-data PATH     validation shards (default: the *val*.bin shards of a --data DIR)\n"
            "  --shuffle on|off    off (default): step i reads tokens [i*G*T, (i+1)*G*T) in order,\n"
            "                      wrapping at the end; on: seeded permutation of T-token windows\n"
            "  --seed N            seed for initialisation and shuffling (default 1337)\n"
            "\n");
    model_flags_help(f);
    fprintf(f,
            "\n"
            "batch and steps:\n"
            "  --batch B           micro-batch: sequences per forward/backward on one data-parallel\n"
            "                      rank (default 4; env MICRO_BATCH)\n"
            "  --grad-accum A      micro-batches per rank per optimizer step (default 1; env GAS)\n"
            "  --global-batch G    sequences per optimizer step; sets A = G / (B x dp) (must divide).\n"
            "                      The same G gives the same trajectory on any number of ranks\n"
            "  --steps N           optimizer steps (default 100); the lr schedule spans them\n"
            "  --stop-at S         stop (with a checkpoint) after step S of --steps, e.g. for a job\n"
            "                      time limit; --resume continues the same schedule\n"
            "\n"
            "optimizer (AdamW; weight decay on 2-D weights only):\n"
            "  --lr X              peak learning rate (default 3e-4)\n"
            "  --lr-min X          final learning rate of the cosine schedule (default 0)\n"
            "  --lr-schedule S     cosine (default) | constant\n"
            "  --warmup N          linear warm-up steps (default 0)\n"
            "  --beta1 X --beta2 X --eps X   (defaults 0.9, 0.95, 1e-8)\n"
            "  --weight-decay X    (default 0.1)\n"
            "  --grad-clip X       clip the global gradient norm to X; 0 = off (default 1.0)\n"
            "  --max-skips K       a step whose loss or gradient is not finite is skipped (no update,\n"
            "                      counted); K in a row stop the run, naming the tensor (default 3)\n"
            "\n"
            "model source (default: fresh GPT-2 initialisation):\n"
            "  --init FILE         start from an llm.c GPT-2 fp32 model file (magic 20240326)\n"
            "  --resume RUNDIR     continue the newest checkpoint in RUNDIR exactly where it stopped\n"
            "  --resume auto       continue --out RUNDIR from its newest complete, verified checkpoint\n"
            "                      (warning about any newer broken one), or start the run if it has none\n"
            "\n"
            "parallel layout (under mpirun; dp = processes / tp):\n"
            "  --tp T              tensor parallelism (Megatron): each layer split over T ranks (heads,\n"
            "                      fc columns, vocabulary rows); T must divide the heads and the padded\n"
            "                      vocabulary (default 1; env TP)\n"
            "  --sp                sequence parallelism (Korthikanti et al.) with --tp: LayerNorms, residual\n"
            "                      adds and their activations split along the sequence (--seq must divide\n"
            "                      by T); all-gather/reduce-scatter replace the all-reduces\n"
            "  --pp P              pipeline parallelism: the layers in P stages of L/P (env PP); the\n"
            "                      micro-batches of a step (global batch / (batch x dp)) flow through them\n"
            "  --pp-schedule S     gpipe (all forwards, then all backwards), 1f1b (default: one forward,\n"
            "                      one backward; at most P - r micro-batches in flight on stage r) or\n"
            "                      interleaved (Megatron's interleaved 1F1B: V chunks per rank, bubble\n"
            "                      (P-1)/(m V); micro-batches per step a multiple of P)\n"
            "  --virtual-stages V  model chunks per pipeline rank for interleaved (L %% (P V) == 0)\n"
            "  --trace FILE        Chrome trace-event timeline of every rank's steps (chrome://tracing,\n"
            "                      ui.perfetto.dev): forward, backward, send, recv, optimizer\n"
            "  --recompute R       activation recomputation: none (default); selective (the attention\n"
            "                      core: what llmscale's flash-style attention always does); full (keep\n"
            "                      each layer's input only, run the layer again in backward)\n"
            "  --zero S            ZeRO stage (default 0; env ZERO_STAGE): 0 all-reduce gradients;\n"
            "                      1 shard AdamW state; 2 also gradients; 3 also parameters\n"
            "  --bucket-mb X       gradient bucket size for the overlapped reduction (default 25)\n"
            "  --memory-report     print every rank's parameter/gradient/optimizer/activation/buffer\n"
            "                      bytes, measured and as the ZeRO paper's formulas predict\n"
            "  --timeout S         hang watchdog (multi-rank runs): a rank that waits S seconds in one\n"
            "                      collective or send/recv prints what it waits for (operation, group,\n"
            "                      peer, step, pipeline action) and the job exits 1 instead of hanging;\n"
            "                      0 = off (default 300; env LLMSCALE_TIMEOUT). Raise it when rank 0\n"
            "                      writes checkpoints slower than that (the others wait for it)\n"
            "\n"
            "output:\n"
            "  --out RUNDIR        checkpoints (llm.c model file + optimizer/data state), metrics.jsonl\n"
            "  --save-every K      also checkpoint every K steps (default: only at the end); each is a\n"
            "                      directory RUNDIR/ckpt_<step> every rank writes its slices into,\n"
            "                      renamed into place when complete and checksummed\n"
            "  --keep N            keep the N newest checkpoints (default 2; 0 = all)\n"
            "  --val-every K       validation loss every K steps (default 0 = off)\n"
            "  --val-batches K     batches per validation (default 8)\n"
            "  --print-every K     human progress line every K steps (default 1)\n"
            "  --threads N         OpenMP + OpenBLAS threads per process (default: all cores, divided\n"
            "                      among the ranks on a node; or OMP_NUM_THREADS)\n"
            "  --peak-gflops X     peak used for MFU (default: measured fp32 FMA probe, cached)\n"
            DTYPE_FLAG_HELP
            "\n"
            "Every step prints: loss, lr, gradient norm, time, tokens/s, achieved GFLOP/s and MFU\n"
            "(model FLOPs 6N + 12*L*C*T per token, PaLM's count), resident memory; and appends the\n"
            "same as JSON to RUNDIR/metrics.jsonl.\n");
}

static void env_int(const char *name, int *dst, int max) {
    const char *s = getenv(name);
    if (s && *s) *dst = (int)ls_parse_int(name, s, 1, max);
}

/* A grid degree from its flag (--tp 2 or --tp=2) or environment variable. */
static int prescan_degree(int argc, char **argv, const char *flag, const char *env) {
    int v = 1;
    const char *e = getenv(env);
    if (e && *e) v = (int)ls_parse_int(env, e, 1, 4096);
    size_t n = strlen(flag);
    for (int i = 0; i < argc; i++) {
        if (!strncmp(argv[i], flag, n) && argv[i][n] == '=') v = (int)ls_parse_int(flag, argv[i] + n + 1, 1, 4096);
        else if (!strcmp(argv[i], flag) && i + 1 < argc) v = (int)ls_parse_int(flag, argv[i + 1], 1, 4096);
    }
    return v;
}

void train_parse_flags(int argc, char **argv, TrainOpts *opts, ModelFlags *mflags, int *nthreads) {
    TrainOpts o;
    train_opts_defaults(&o);
    o.pp_schedule = LS_PIPE_1F1B;
    o.virtual_stages = 1;
    ModelFlags mf = {0};
    model_flags_from_env(&mf);
    env_int("MICRO_BATCH", &o.B, 1 << 20);
    env_int("GAS", &o.grad_accum, 1 << 20);
    {
        const char *zs = getenv("ZERO_STAGE");
        if (zs && *zs) o.zero = (int)ls_parse_int("ZERO_STAGE", zs, 0, 3);
    }
    long global_batch = 0;
    int threads = 0, val_every_set = 0;
    const char *sched = "cosine";
    for (int i = 0; i < argc; i++) {
        const char *a = argv[i];
        if (model_flags_parse(&mf, argc, argv, &i)) continue;
        if (ls_flag(a, "--data")) o.data = ls_str_arg(argc, argv, &i);
        else if (ls_flag(a, "--val-data")) o.val_data = ls_str_arg(argc, argv, &i);
        else if (ls_flag(a, "--out")) o.out = ls_str_arg(argc, argv, &i);
        else if (ls_flag(a, "--init")) o.init = ls_str_arg(argc, argv, &i);
        else if (ls_flag(a, "--resume")) o.resume = ls_str_arg(argc, argv, &i);
        else if (ls_flag(a, "--batch")) o.B = (int)ls_int_arg(argc, argv, &i, 1, 1 << 20);
        else if (ls_flag(a, "--grad-accum")) o.grad_accum = (int)ls_int_arg(argc, argv, &i, 1, 1 << 20);
        else if (ls_flag(a, "--global-batch")) global_batch = ls_int_arg(argc, argv, &i, 1, 1L << 40);
        else if (ls_flag(a, "--steps")) o.steps = ls_int_arg(argc, argv, &i, 0, 1L << 40);
        else if (ls_flag(a, "--stop-at")) o.stop_at = ls_int_arg(argc, argv, &i, 1, 1L << 40);
        else if (ls_flag(a, "--lr")) o.lr = (float)ls_double_arg(argc, argv, &i, 0, 10);
        else if (ls_flag(a, "--lr-min")) o.lr_min = (float)ls_double_arg(argc, argv, &i, 0, 10);
        else if (ls_flag(a, "--lr-schedule")) sched = ls_str_arg(argc, argv, &i);
        else if (ls_flag(a, "--warmup")) o.warmup = (int)ls_int_arg(argc, argv, &i, 0, 1 << 30);
        else if (ls_flag(a, "--beta1")) o.beta1 = (float)ls_double_arg(argc, argv, &i, 0, 0.999999);
        else if (ls_flag(a, "--beta2")) o.beta2 = (float)ls_double_arg(argc, argv, &i, 0, 0.999999);
        else if (ls_flag(a, "--eps")) o.eps = (float)ls_double_arg(argc, argv, &i, 1e-30, 1);
        else if (ls_flag(a, "--weight-decay")) o.weight_decay = (float)ls_double_arg(argc, argv, &i, 0, 10);
        else if (ls_flag(a, "--max-skips")) o.max_skips = (int)ls_int_arg(argc, argv, &i, 1, 1 << 30);
        else if (ls_flag(a, "--grad-clip")) o.grad_clip = (float)ls_double_arg(argc, argv, &i, 0, 1e30);
        else if (ls_flag(a, "--val-every")) o.val_every = (int)ls_int_arg(argc, argv, &i, 0, 1 << 30), val_every_set = 1;
        else if (ls_flag(a, "--val-batches")) o.val_batches = (int)ls_int_arg(argc, argv, &i, 1, 1 << 20);
        else if (ls_flag(a, "--shuffle")) o.shuffle = ls_bool_arg(argc, argv, &i);
        else if (ls_flag(a, "--seed")) o.seed = (uint64_t)ls_int_arg(argc, argv, &i, 0, (1LL << 62));
        else if (ls_flag(a, "--save-every")) o.save_every = (int)ls_int_arg(argc, argv, &i, 0, 1 << 30);
        else if (ls_flag(a, "--keep")) o.keep = (int)ls_int_arg(argc, argv, &i, 0, 1 << 30);
        else if (ls_flag(a, "--print-every")) o.print_every = (int)ls_int_arg(argc, argv, &i, 0, 1 << 30);
        else if (ls_flag(a, "--threads")) threads = (int)ls_int_arg(argc, argv, &i, 1, 4096);
        else if (ls_flag(a, "--peak-gflops")) o.peak_gflops = ls_double_arg(argc, argv, &i, 1e-3, 1e9);
        else if (ls_flag(a, "--zero")) o.zero = (int)ls_int_arg(argc, argv, &i, 0, 3);
        else if (ls_flag(a, "--tp")) (void)ls_int_arg(argc, argv, &i, 1, 4096); /* read above */
        else if (ls_flag(a, "--sp") || ls_flag(a, "--sequence-parallel")) o.sp = 1;
        else if (ls_flag(a, "--pp")) (void)ls_int_arg(argc, argv, &i, 1, 4096); /* read above */
        else if (ls_flag(a, "--pp-schedule")) {
            const char *k = ls_str_arg(argc, argv, &i);
            o.pp_schedule = ls_pipe_kind_parse(k);
            if (o.pp_schedule < 0) ls_fatal("--pp-schedule: '%s' must be gpipe, 1f1b or interleaved", k);
        } else if (ls_flag(a, "--virtual-stages")) o.virtual_stages = (int)ls_int_arg(argc, argv, &i, 1, 64);
        else if (ls_flag(a, "--trace")) o.trace = ls_str_arg(argc, argv, &i);
        else if (ls_flag(a, "--recompute")) {
            const char *r = ls_str_arg(argc, argv, &i);
            if ((o.recompute = gpt_recompute_parse(r)) < 0)
                ls_fatal("--recompute: '%s' must be none, selective or full", r);
        }
        else if (ls_flag(a, "--bucket-mb")) o.bucket_mb = ls_double_arg(argc, argv, &i, 1e-3, 4096);
        else if (ls_flag(a, "--memory-report")) o.memory_report = 1;
        else if (ls_flag(a, "--timeout")) ls_watchdog_set_timeout(ls_double_arg(argc, argv, &i, 0, 1e9));
        else if (ls_flag(a, "--dtype")) dtype_flag_apply(argc, argv, &i);
        else ls_unknown_flag("train", a);
    }
    (void)val_every_set;
    if (!strcmp(sched, "cosine")) o.schedule = LR_COSINE;
    else if (!strcmp(sched, "constant")) o.schedule = LR_CONSTANT;
    else ls_fatal("--lr-schedule: '%s' must be cosine or constant", sched);
    if (!o.data) ls_fatal("no training data: give --data DIR|FILE|GLOB (make some with 'llmscale prepare')");
    int resume_auto = o.resume && !strcmp(o.resume, "auto");
    if (o.init && o.resume && !resume_auto)
        ls_fatal("--init and --resume exclude each other (resume already has a model)");
    if (resume_auto && !o.out)
        ls_fatal("--resume auto continues the run in --out RUNDIR (or starts it): give --out");
    o.global_batch = global_batch; /* divided by B x dp in the trainer */
    if (o.warmup > o.steps && o.steps > 0)
        ls_warn("--warmup %d is longer than --steps %ld", o.warmup, o.steps);
    *opts = o;
    *mflags = mf;
    *nthreads = threads;
}

int cmd_train(int argc, char **argv) {
    if (ls_wants_help(argc, argv)) {
        usage(stdout);
        return 0;
    }
    /* under mpirun, start MPI first, so that every later error ends the whole
     * job; the grid's shape is the one flag read before it */
    int tp = prescan_degree(argc, argv, "--tp", "TP"), pp = prescan_degree(argc, argv, "--pp", "PP");
    static LsGrid grid;
    ls_grid_init(&grid, tp, pp, 1);
    TrainOpts o;
    ModelFlags mf;
    int threads;
    train_parse_flags(argc, argv, &o, &mf, &threads);
    o.grid = &grid;
    int resume_auto = o.resume && !strcmp(o.resume, "auto");
    /* several ranks on one node share its cores: by default each takes its
     * share (OMP_NUM_THREADS or --threads override) */
    const char *local = getenv("OMPI_COMM_WORLD_LOCAL_SIZE");
    if (!local) local = getenv("MPI_LOCALNRANKS");
    if (threads == 0 && grid.launched && local && atoi(local) > 1 && !getenv("OMP_NUM_THREADS")) {
        threads = omp_get_num_procs() / atoi(local);
        if (threads < 1) threads = 1;
    }
    if (threads > 0) {
        omp_set_num_threads(threads);
        ls_blas_set_threads(threads);
    }

    /* a prepared data directory carries its tokenizer and validation shards */
    int vocab_hint = 0, have_tok = 0;
    LsTokenizer tk;
    if (ls_is_dir(o.data)) {
        char tokpath[4096];
        snprintf(tokpath, sizeof tokpath, "%s/tokenizer.bin", o.data);
        if (ls_file_size(tokpath) > 0) {
            ls_tokenizer_load(&tk, tokpath);
            vocab_hint = tk.vocab_size;
            have_tok = 1;
        }
        if (!o.val_data && o.val_every > 0) o.val_data = o.data;
    }

    if (resume_auto) {
        /* the newest complete, verified checkpoint in --out for the model a
         * fresh run of this command would build; none: start that run */
        GptConfig c;
        ModelFlags mf2 = mf;
        if (o.init) gpt_read_config(o.init, &c);
        else model_flags_resolve(&mf2, vocab_hint, &c);
        /* rank 0 reads and verifies the candidates (each in full) and tells
         * the others, so every rank continues from the same step */
        int64_t step = grid.rank == 0 ? ckpt_find_resumable(o.out, &c) : -1;
        ls_comm_bcast(&grid.world_comm, &step, sizeof step, 0);
        o.resume_step = step;
        if (o.resume_step >= 0) {
            o.resume = o.out;
            o.init = NULL;
            if (grid.rank == 0)
                ls_info("--resume auto: continuing '%s' from its checkpoint of step %lld", o.out,
                        (long long)o.resume_step);
        } else {
            o.resume = NULL;
            if (grid.rank == 0)
                ls_info("--resume auto: no complete checkpoint in '%s': starting a new run", o.out);
        }
    }
    if (o.resume || o.init) {
        if (o.resume) {
            int64_t s = o.resume_step >= 0 ? o.resume_step : ckpt_latest(o.resume);
            if (s < 0) ls_fatal("nothing to resume in '%s': no checkpoint ('latest' is missing)", o.resume);
            char mpath[4096];
            ckpt_model_path(mpath, o.resume, s);
            gpt_read_config(mpath, &o.cfg);
            if (!o.out) o.out = o.resume;
        } else {
            gpt_read_config(o.init, &o.cfg);
        }
        if (model_flags_any_shape(&mf))
            model_flags_check_against(&mf, &o.cfg, o.resume ? "checkpoint's model" : "--init model");
        if (mf.seq > o.cfg.max_seq_len)
            ls_fatal("--seq %d exceeds the model's max sequence length %d", mf.seq, o.cfg.max_seq_len);
    } else {
        model_flags_resolve(&mf, vocab_hint, &o.cfg);
    }
    o.T = mf.seq ? mf.seq : o.cfg.max_seq_len;

    /* the run directory keeps the tokenizer, so `sample --init RUNDIR` can decode */
    if (have_tok) {
        if (o.out && grid.rank == 0) {
            ls_mkdirs(o.out);
            char dst[4096];
            snprintf(dst, sizeof dst, "%s/tokenizer.bin", o.out);
            ls_tokenizer_save(&tk, dst);
        }
        ls_tokenizer_free(&tk);
    }
    int rc = trainer_run(&o);
    ls_grid_finalize(&grid);
    return rc;
}
