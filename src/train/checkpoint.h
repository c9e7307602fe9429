/* checkpoint.h - layout-free training checkpoints.
 *
 * A checkpoint of step S is a directory RUNDIR/ckpt_<S> (8 digits) holding
 *     model.bin   the model in llm.c's GPT-2 format (loads in llm.c)
 *     state.bin   everything else needed to continue exactly:
 *         uint32 magic 0x4C535354 ("LSST"), version 2, then a TrainState
 *         record, the AdamW moments m and v in canonical tensor order,
 *         and a CRC-32 of everything before it.
 *     Version 1 files (written before the data fields existed: the record
 *     stops after `reserved`) still load; their data position is the
 *     sequence index alone, without the data-size check.
 * plus RUNDIR/latest, a one-line text file naming the newest complete step.
 * Both files hold whole tensors whatever the layout (dp, tp, pp, ZeRO) that
 * wrote them; every rank writes its own slices (checkpoint_write.c) into
 * RUNDIR/ckpt_<S>.tmp, which is renamed into place only when complete, synced
 * and checksummed; `latest` is updated after that, so a crash at any moment
 * leaves the previous checkpoint valid. The state file records the CRC-32 of
 * its model file; a pair that does not match is rejected on resume.
 * Checkpoints written before the directory layout (RUNDIR/ckpt_<S>_model.bin
 * and ckpt_<S>_state.bin) still load. */
#ifndef LS_CHECKPOINT_H
#define LS_CHECKPOINT_H
#include <stdint.h>

#include "../model/gpt.h"
#include "../parallel/comm.h"
#include "optimizer.h"

typedef struct {
    int64_t step;          /* optimizer steps completed */
    int64_t next_seq;      /* data loader position: next sequence index */
    int64_t adam_t;        /* AdamW update count */
    int32_t B, T, grad_accum, shuffle;
    uint64_t data_seed;
    uint32_t model_crc;    /* CRC-32 of the paired model file */
    uint32_t dp;           /* data-parallel ranks of the run that wrote it (0 = 1: older files);
                              its global batch is B * grad_accum * dp */
    /* version 2: the loader position in data terms (see loader.h). The next
     * sample is fully determined by (next_seq, data_seed, shuffle, T) and the
     * data; these record which data, so a resume on other data is an error. */
    uint64_t data_tokens;  /* N: tokens of the training stream */
    uint64_t data_epoch;   /* epoch of next_seq */
    uint64_t data_windows; /* W = (N-1)/T, sequences per shuffled epoch */
} TrainState;

#define CKPT_STATE_MAGIC 0x4C535354u
#define CKPT_STATE_VERSION 2u
#define CKPT_STATE_HEADER_BYTES (8 + (int64_t)sizeof(TrainState))

/* What one rank contributes to a checkpoint, per model chunk it holds: the
 * chunk's layout and flat buffers, and the part [lo, hi) of the flat buffer
 * this rank writes (its ZeRO slice, or its share of a replicated buffer).
 * m and v hold the flat range from opt_base (the ZeRO slice's start, or 0). */
typedef struct {
    const GptLayout *lay;
    const float *params, *m, *v;
    size_t lo, hi, opt_base;
} CkptPart;

/* Collective over `world` (every rank calls it): write the checkpoint of
 * st->step into rundir (see checkpoint_write.c), point `latest` at it and
 * keep the `keep` newest checkpoints (0: all). Rank 0 fills st->model_crc. */
void ckpt_save(const char *rundir, const CkptPart *parts, int nparts, TrainState *st,
               LsComm *world, int keep);
/* RUNDIR/ckpt_<step> (buffer of >= 4096). */
void ckpt_dir_path(char *buf, const char *rundir, int64_t step);
/* Remove a checkpoint directory and the files in it (no error if absent). */
void ckpt_remove_dir(const char *path);
/* Remove all but the `keep` newest checkpoint directories of rundir. */
void ckpt_prune(const char *rundir, int keep);
/* Newest complete step in rundir, or -1 if none. */
int64_t ckpt_latest(const char *rundir);
/* Path of the model file of step `step` (buffer of >= 4096). */
void ckpt_model_path(char *buf, const char *rundir, int64_t step);
/* Load model + optimizer + state of `step`; verifies magic, sizes, CRCs. */
void ckpt_load(const char *rundir, int64_t step, Gpt *m, AdamW *opt, TrainState *st);

/* 0 if the checkpoint of `step` is complete and verified for a model of
 * `cfg` (both files present with their sizes, the state's checksum, the pair's
 * CRC link); else -1 and the reason in why. Reads both files. */
int ckpt_verify(const char *rundir, int64_t step, const GptConfig *cfg, char *why, size_t nwhy);
/* The newest checkpoint in rundir that verifies (warning about each newer one
 * that does not), or -1: what `--resume auto` continues from. */
int64_t ckpt_find_resumable(const char *rundir, const GptConfig *cfg);

struct LsLoader;
/* Record the training data's size and next_seq's epoch in st (before saving). */
void ckpt_bind_data(TrainState *st, const struct LsLoader *ld);
/* On resume: fatal if the data differs from what the checkpoint was trained on. */
void ckpt_check_data(const TrainState *st, const struct LsLoader *ld, const char *rundir);

#endif
