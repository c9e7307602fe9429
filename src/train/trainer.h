/* trainer.h - the training loop: data -> forward/backward over micro-batches
 * -> gradient norm + clipping -> AdamW -> metrics, validation, checkpoints.
 *
 * Batch bookkeeping (the same for every later parallel layout):
 *   B  micro-batch, sequences per forward/backward on one data-parallel rank
 *   G  global batch, sequences per optimizer step
 *   A  = G / (B * dp) gradient-accumulation micro-batches per step
 * Step s uses sequences [s*G, (s+1)*G) of the loader (see loader.h); micro-
 * batch round j covers [s*G + j*B*dp, s*G + (j+1)*B*dp), of which data-parallel
 * rank r takes the r-th B (so the trajectory does not depend on dp). The loss of a step is
 * the mean over all G*T tokens. */
#ifndef LS_TRAINER_H
#define LS_TRAINER_H
#include <stdint.h>

#include "../model/gpt_config.h"
#include "../parallel/comm.h"
#include "optimizer.h"

typedef struct {
    GptConfig cfg;
    const char *data, *val_data, *out, *init, *resume;
    LsGrid *grid;       /* the process grid (NULL: one process) */
    int B, T, grad_accum;
    long global_batch;  /* G; 0: B * grad_accum * dp */
    int zero;           /* ZeRO stage 0..3 over the data-parallel group */
    int sp;             /* sequence parallelism over the tensor-parallel group */
    int recompute;      /* GPT_RECOMPUTE_* (gpt.h) */
    int pp_schedule;    /* LsPipeKind (pipeline_schedule.h), with grid->pp > 1 */
    int virtual_stages; /* V: model chunks per pipeline rank (interleaved schedule) */
    int max_skips;
    int64_t resume_step; /* checkpoint step to resume (-1: the one `latest` names) */      /* stop after this many non-finite steps in a row */
    const char *trace;  /* Chrome trace-event file of the steps (NULL: none) */
    double bucket_mb;   /* gradient bucket size, MiB */
    int memory_report;  /* print every rank's memory, measured and predicted */
    long steps;
    long stop_at;       /* stop after this step (checkpointed), 0 = run all steps */
    float lr, lr_min, beta1, beta2, eps, weight_decay, grad_clip;
    int warmup;
    LrSchedule schedule;
    int val_every, val_batches;
    int shuffle;
    uint64_t seed;
    int save_every;
    int keep;           /* checkpoints kept (0 = all) */
    double peak_gflops; /* 0: measured probe (cached) */
    int print_every;    /* human line every k steps (JSONL always) */
} TrainOpts;

void train_opts_defaults(TrainOpts *o);
/* Run training as configured; returns 0 (errors are fatal). */
int trainer_run(const TrainOpts *o);

#endif
