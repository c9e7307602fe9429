/* trainer.c - see trainer.h. */
#include "trainer.h"

#include <math.h>
#include <signal.h>
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
    o->warmup = 0;
    o->schedule = LR_COSINE;
    o->val_every = 0;
    o->val_batches = 8;
    o->shuffle = 0;
    o->seed = 1337;
    o->save_every = 0;
    o->print_every = 1;
}

int trainer_run(const TrainOpts *o) {
    LsGrid grid;
    ls_grid_init_single(&grid);
    const GptConfig *cfg = &o->cfg;
    int B = o->B, T = o->T, A = o->grad_accum;
    long G = (long)B * A * grid.dp; /* global batch in sequences */

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
    Gpt m;
    gpt_create(&m, cfg, 0, cfg->num_layers, grid.tp, grid.tp_rank);
    AdamW opt;
    adamw_init(&opt, m.lay.total);
    TrainState st;
    memset(&st, 0, sizeof st);
    long start = 0;
    if (o->resume) {
        int64_t s = ckpt_latest(o->resume);
        if (s < 0) ls_fatal("nothing to resume in '%s': no 'latest' checkpoint pointer", o->resume);
        ckpt_load(o->resume, s, &m, &opt, &st);
        ckpt_check_data(&st, &train, o->resume);
        if (st.B != B || st.T != T || st.grad_accum != A || st.shuffle != o->shuffle ||
            st.data_seed != o->seed)
            ls_fatal("checkpoint in '%s' was trained with --batch %d --seq %d --grad-accum %d "
                     "--shuffle %s --seed %llu; resume with the same values",
                     o->resume, st.B, st.T, st.grad_accum, st.shuffle ? "on" : "off",
                     (unsigned long long)st.data_seed);
        start = (long)st.step;
        if (start >= o->steps)
            ls_warn("the checkpoint in '%s' is already at step %ld >= --steps %ld: nothing to train "
                    "(raise --steps to continue)", o->resume, start, o->steps);
        ls_info("resuming from %s at step %ld (data position: sequence %lld)", o->resume, start,
                (long long)st.next_seq);
    } else if (o->init) {
        gpt_load(&m, o->init);
    } else {
        gpt_init_random(&m, o->seed);
    }
    st.B = B;
    st.T = T;
    st.grad_accum = A;
    st.shuffle = o->shuffle;
    st.data_seed = o->seed;

    /* ---- start-up report */
    double flops_tok = gpt_flops_per_token(cfg, T);
    double peak = o->peak_gflops > 0 ? o->peak_gflops : ls_peak_gflops_cached(ls_cpu_threads(), 1);
    gpt_ensure_acts(&m, B, T);
    ls_info("model: %d layers, dim %d, %d heads, max seq %d, vocab %d (padded %d): %.3f M parameters",
            cfg->num_layers, cfg->channels, cfg->num_heads, cfg->max_seq_len, cfg->vocab_size,
            cfg->padded_vocab_size, gpt_num_params(cfg) / 1e6);
    ls_info("grid: world %d = dp %d x pp %d x cp %d x tp %d (one process)", grid.world, grid.dp,
            grid.pp, grid.cp, grid.tp);
    ls_info("batch: %d x %d tokens per micro-batch, %d micro-batches per step: global batch %ld "
            "sequences = %ld tokens", B, T, A, G, G * T);
    ls_info("data: %s (%llu tokens, shuffle %s)%s%s", o->data,
            (unsigned long long)ls_loader_ntokens(&train), o->shuffle ? "on" : "off",
            have_val ? ", val: " : "", have_val ? o->val_data : "");
    ls_info("memory: params %.1f MiB, grads %.1f MiB, AdamW %.1f MiB, activations %.1f MiB",
            m.lay.total * 4.0 / (1 << 20), m.lay.total * 4.0 / (1 << 20),
            m.lay.total * 8.0 / (1 << 20), m.a.bytes / 1048576.0);
    ls_info("cpu: %s, %d threads, %s", ls_cpu_model_name(), ls_cpu_threads(), ls_blas_describe());
    ls_info("MFU: model FLOPs 6N + 12*L*C*T = %.3g per token (PaLM), peak %.1f GFLOP/s (%s)",
            flops_tok, peak, o->peak_gflops > 0 ? "--peak-gflops" : "measured fp32 FMA probe");

    FILE *jsonl = NULL;
    if (o->out) {
        ls_mkdirs(o->out);
        char path[4096];
        snprintf(path, sizeof path, "%s/metrics.jsonl", o->out);
        if (o->resume) truncate_metrics(path, start);
        jsonl = fopen(path, o->resume ? "a" : "w");
        if (!jsonl) ls_fatal("cannot write metrics file '%s'", path);
    }

    int32_t *x = ls_calloc((size_t)B * T, sizeof(int32_t), "batch inputs");
    int32_t *y = ls_calloc((size_t)B * T, sizeof(int32_t), "batch targets");
    AdamWParams hp = {0, o->beta1, o->beta2, o->eps, o->weight_decay};
    float dloss = 1.0f / ((float)G * T); /* d(mean over the global batch)/d(token loss) */
    long last_saved = o->resume ? start : -1;
    long end = (o->stop_at > 0 && o->stop_at < o->steps) ? o->stop_at : o->steps;
    signal(SIGINT, on_stop_signal);
    signal(SIGTERM, on_stop_signal);
    for (long step = start; step < end; step++) {
        double t0 = ls_now_s();
        gpt_zero_grad(&m);
        double loss_sum = 0.0;
        for (int j = 0; j < A; j++) {
            /* micro-batch round j of the step's G sequences; data-parallel rank r
             * takes the r-th B of each round (B*dp sequences per round) */
            uint64_t seq = (uint64_t)step * G + (uint64_t)j * B * grid.dp + (uint64_t)grid.dp_rank * B;
            ls_loader_get(&train, seq, B, x, y);
            float l = gpt_forward(&m, x, y, B, T);
            loss_sum += (double)l * B * T; /* sum of token losses */
            gpt_backward(&m, dloss);
        }
        double loss = ls_comm_allreduce_sum_double(&grid.dp_comm, loss_sum) / ((double)G * T);
        double norm = sqrt(ls_comm_allreduce_sum_double(&grid.world_comm,
                                                        grad_sq_sum(m.grads, m.lay.total)));
        if (!isfinite(loss) || !isfinite(norm))
        {
            char saved[64] = "no checkpoint was written";
            if (last_saved >= 0) snprintf(saved, sizeof saved, "last checkpoint: step %ld", last_saved);
            ls_fatal("step %ld: loss %g, gradient norm %g is not finite; stopping without saving it "
                     "(%s; lower --lr or use --grad-clip)", step + 1, loss, norm, saved);
        }
        grad_clip_scale(m.grads, m.lay.total, norm, o->grad_clip);
        hp.lr = lr_at(o->schedule, o->lr, o->lr_min, o->warmup, step, o->steps);
        adamw_step(&opt, &m.lay, m.params, m.grads, &hp);
        double dt = ls_now_s() - t0;

        StepMetrics sm = {0};
        sm.step = step;
        sm.total_steps = o->steps;
        sm.loss = loss;
        sm.lr = hp.lr;
        sm.grad_norm = norm;
        sm.ms = dt * 1e3;
        sm.tokens_per_s = (double)G * T / dt;
        sm.gflops = flops_tok * G * T / dt / 1e9;
        sm.mfu = sm.gflops / peak;
        sm.val_loss = -1.0;
        sm.mem_mib = metrics_rss_mib();
        if (have_val && ((step + 1) % o->val_every == 0 || step + 1 == o->steps))
            sm.val_loss = eval_loss(&m, &val, B, T, o->val_batches);
        if (o->print_every > 0 && ((step + 1) % o->print_every == 0 || step == start ||
                                   step + 1 == o->steps || sm.val_loss >= 0))
            metrics_print_line(&sm);
        metrics_write_json(jsonl, &sm);

        st.step = step + 1;
        st.next_seq = (int64_t)(step + 1) * G;
        ckpt_bind_data(&st, &train);
        if (o->out && o->save_every > 0 && (step + 1) % o->save_every == 0) {
            ckpt_save(o->out, &m, &opt, &st);
            last_saved = step + 1;
        }
        if (g_stop_signal) {
            end = step + 1;
            ls_info("%s received: stopping after step %ld", g_stop_signal == SIGINT ? "SIGINT" : "SIGTERM", end);
            break;
        }
    }
    signal(SIGINT, SIG_DFL);
    signal(SIGTERM, SIG_DFL);
    if (o->out && last_saved != end && end > start) {
        ckpt_save(o->out, &m, &opt, &st);
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
    if (jsonl) fclose(jsonl);
    ls_free(x);
    ls_free(y);
    adamw_free(&opt);
    gpt_destroy(&m);
    if (have_val) ls_loader_free(&val);
    ls_loader_free(&train);
    return 0;
}
