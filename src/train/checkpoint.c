/* checkpoint.c - see checkpoint.h. */
#include "checkpoint.h"

#include <dirent.h>
#include <stddef.h>
#include <errno.h>
#include <inttypes.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "../core/error.h"
#include "../core/fileio.h"
#include "../data/loader.h"
#include "../model/gpt_io.h"

#define STATE_MAGIC CKPT_STATE_MAGIC
#define STATE_VERSION CKPT_STATE_VERSION
/* version 1 records end after `dp` (a reserved zero in files written before data parallelism) */
#define STATE_V1_BYTES offsetof(TrainState, data_tokens)

void ckpt_dir_path(char *buf, const char *rundir, int64_t step) {
    snprintf(buf, 4096, "%s/ckpt_%08" PRId64, rundir, step);
}

/* RUNDIR/ckpt_<S>/<name>.bin, or the flat file of the layout before
 * directories (RUNDIR/ckpt_<S>_<name>.bin) when only that one exists. */
static void ckpt_file_path(char *buf, const char *rundir, int64_t step, const char *name) {
    snprintf(buf, 4096, "%s/ckpt_%08" PRId64 "_%s.bin", rundir, step, name);
    if (ls_file_size(buf) >= 0) return;
    snprintf(buf, 4096, "%s/ckpt_%08" PRId64 "/%s.bin", rundir, step, name);
}

void ckpt_model_path(char *buf, const char *rundir, int64_t step) {
    ckpt_file_path(buf, rundir, step, "model");
}

static void state_path(char *buf, const char *rundir, int64_t step) {
    ckpt_file_path(buf, rundir, step, "state");
}

void ckpt_remove_dir(const char *path) {
    DIR *d = opendir(path);
    if (!d) return;
    struct dirent *e;
    while ((e = readdir(d)) != NULL) {
        if (!strcmp(e->d_name, ".") || !strcmp(e->d_name, "..")) continue;
        char p[4352];
        snprintf(p, sizeof p, "%s/%s", path, e->d_name);
        unlink(p);
    }
    closedir(d);
    rmdir(path);
}

/* Steps of the complete-looking checkpoints in rundir (directories
 * ckpt_<8 digits>, and flat state files of the old layout), up to max;
 * `tmp` (if not NULL) counts the .tmp directories of interrupted writes. */
static int list_steps(const char *rundir, int64_t *steps, int max, int *tmp) {
    DIR *d = opendir(rundir);
    if (!d) return 0;
    int n = 0;
    struct dirent *e;
    while ((e = readdir(d)) != NULL) {
        long long s;
        int len = 0;
        if (sscanf(e->d_name, "ckpt_%lld%n", &s, &len) != 1 || s < 0) continue;
        const char *rest = e->d_name + len;
        if (!strcmp(rest, "") || !strcmp(rest, "_state.bin")) {
            int dup = 0;
            for (int i = 0; i < n; i++) dup |= steps[i] == s;
            if (!dup && n < max) steps[n++] = s;
        } else if (!strcmp(rest, ".tmp") && tmp) {
            (*tmp)++;
        }
    }
    closedir(d);
    return n;
}

static int cmp_step_desc(const void *a, const void *b) {
    int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;
    return x < y ? 1 : x > y ? -1 : 0;
}

void ckpt_prune(const char *rundir, int keep) {
    int64_t steps[4096];
    int n = list_steps(rundir, steps, 4096, NULL);
    qsort(steps, (size_t)n, sizeof *steps, cmp_step_desc);
    for (int i = keep; i < n; i++) {
        char p[4096];
        ckpt_dir_path(p, rundir, steps[i]);
        ckpt_remove_dir(p);
        for (int k = 0; k < 2; k++) { /* the old flat layout's files */
            ckpt_file_path(p, rundir, steps[i], k ? "state" : "model");
            unlink(p);
        }
    }
}

int64_t ckpt_latest(const char *rundir) {
    char path[4096];
    snprintf(path, sizeof path, "%s/latest", rundir);
    FILE *f = fopen(path, "r");
    if (!f) return -1;
    long long step = -1;
    if (fscanf(f, "%lld", &step) != 1 || step < 0) {
        fclose(f);
        ls_fatal("'%s' is corrupt: expected a step number (delete it to start over)", path);
    }
    fclose(f);
    return step;
}

/* The checks a checksummed record must still pass: its step is the one asked
 * for, the data position and AdamW count are possible. ckpt_load and
 * ckpt_verify agree on them, so --resume auto never picks what load refuses. */
static int record_consistent(const TrainState *st, int64_t step) {
    return st->step == step && st->next_seq >= 0 && st->adam_t >= 0 && st->adam_t <= st->step;
}

/* 1 if the n floats at p (unaligned bytes) are all finite */
static int floats_finite(const unsigned char *p, size_t n) {
    for (size_t i = 0; i < n; i++) {
        float x;
        memcpy(&x, p + 4 * i, 4);
        if (!isfinite(x)) return 0;
    }
    return 1;
}

/* Every check a checkpoint must pass before anything is taken from it, for
 * ckpt_verify (--resume auto: skip what fails) and ckpt_load (stop on it) alike,
 * so that auto-resume never picks what load refuses: the state file's magic,
 * version (1 or current) and size for a model of n parameters, its CRC, the
 * record against the step asked for, and the model file's CRC against the one
 * the record holds. With check_finite the AdamW moments and the parameters
 * must also be finite (ckpt_load leaves that to its readers, which name the
 * tensor). Reads the state file once and the model file once. Fills *st
 * (version 1 records: zeros past their end); on failure returns -1 with the
 * reason in why. */
static int check_checkpoint(const char *mpath, const char *spath, int64_t step, size_t n, int check_finite,
                            TrainState *st, char *why, size_t nwhy) {
    int64_t ssize = ls_file_size(spath), msize = ls_file_size(mpath);
    int64_t mexpect = 1024 + (int64_t)(n * sizeof(float));
    if (msize != mexpect) {
        snprintf(why, nwhy, "model file %s: '%s' (%lld bytes, expected %lld)",
                 msize < 0 ? "missing" : "has the wrong size", mpath, (long long)msize, (long long)mexpect);
        return -1;
    }
    if (ssize < 8) {
        snprintf(why, nwhy, "state file %s: '%s'", ssize < 0 ? "missing" : "has the wrong size", spath);
        return -1;
    }
    /* the header decides the record size, hence the file's */
    uint32_t head[2] = {0, 0}, stored;
    FILE *f = fopen(spath, "rb");
    size_t got = f ? fread(head, 1, sizeof head, f) : 0;
    if (f) fclose(f);
    size_t rec = head[1] == 1 ? STATE_V1_BYTES : sizeof *st;
    int64_t sexpect = (int64_t)(8 + rec + 2 * n * sizeof(float) + 4);
    if (got != sizeof head || head[0] != STATE_MAGIC || (head[1] != 1 && head[1] != STATE_VERSION)) {
        snprintf(why, nwhy, "'%s' is not an llmscale state file this build reads (magic %08x version %u; "
                 "expected %08x version 1 or %u)", spath, head[0], head[1], STATE_MAGIC, STATE_VERSION);
        return -1;
    }
    if (ssize != sexpect) {
        snprintf(why, nwhy, "state file has the wrong size: '%s' has %lld bytes, expected %lld for this model: "
                 "it is %s", spath, (long long)ssize, (long long)sexpect, ssize < sexpect ? "truncated" : "corrupt");
        return -1;
    }
    f = fopen(spath, "rb");
    unsigned char *buf = ls_calloc((size_t)ssize, 1, "checkpoint state buffer");
    got = f ? fread(buf, 1, (size_t)ssize, f) : 0;
    if (f) fclose(f);
    int rc = -1;
    if (got != (size_t)ssize) {
        snprintf(why, nwhy, "state file '%s' could not be read", spath);
    } else if (memcpy(&stored, buf + ssize - 4, 4), ls_crc32(0, buf, (size_t)ssize - 4) != stored) {
        snprintf(why, nwhy, "state file '%s' fails its checksum: corrupt", spath);
    } else {
        memset(st, 0, sizeof *st);
        memcpy(st, buf + 8, rec);
        if (!record_consistent(st, step))
            snprintf(why, nwhy, "state file '%s' is inconsistent (step %lld, expected %lld; AdamW count %lld, "
                     "data position %lld): corrupt or mixed checkpoints", spath, (long long)st->step,
                     (long long)step, (long long)st->adam_t, (long long)st->next_seq);
        else if (check_finite && !floats_finite(buf + 8 + rec, 2 * n))
            snprintf(why, nwhy, "AdamW moments in '%s' hold NaN or Inf", spath);
        else
            rc = 0;
    }
    ls_free(buf);
    if (rc) return rc;
    /* the model file: its CRC links it to this state; its parameters */
    f = fopen(mpath, "rb");
    buf = ls_calloc((size_t)msize, 1, "checkpoint model buffer");
    got = f ? fread(buf, 1, (size_t)msize, f) : 0;
    if (f) fclose(f);
    rc = -1;
    if (got != (size_t)msize || ls_crc32(0, buf, (size_t)msize) != st->model_crc)
        snprintf(why, nwhy, "model file '%s' does not match its state file (CRC differs): corrupt or "
                 "mixed checkpoints", mpath);
    else if (check_finite && !floats_finite(buf + 1024, n))
        snprintf(why, nwhy, "model parameters in '%s' hold NaN or Inf", mpath);
    else
        rc = 0;
    ls_free(buf);
    return rc;
}

void ckpt_load(const char *rundir, int64_t step, Gpt *m, AdamW *opt, TrainState *st) {
    char mpath[4096], spath[4096], why[512];
    ckpt_model_path(mpath, rundir, step);
    state_path(spath, rundir, step);
    gpt_load(m, mpath); /* its header against the model, and the parameters */
    /* the file holds whole tensors of every layer, whatever this rank's shard */
    if (check_checkpoint(mpath, spath, step, gpt_canonical_offset(&m->cfg, T_NUM_KINDS, -1), 0, st, why,
                         sizeof why))
        ls_fatal("checkpoint of step %lld in '%s': %s", (long long)step, rundir, why);
    FILE *f = ls_fopen(spath, "rb", "checkpoint state");
    uint32_t head[2];
    ls_fread_exact(head, sizeof head, f, spath, "checkpoint state");
    if (fseek(f, (long)(head[1] == 1 ? STATE_V1_BYTES : sizeof *st), SEEK_CUR) != 0)
        ls_fatal("cannot seek in checkpoint state '%s'", spath);
    gpt_read_canonical(&m->lay, opt->m, f, spath, "checkpoint state");
    gpt_read_canonical(&m->lay, opt->v, f, spath, "checkpoint state");
    fclose(f);
    opt->t = st->adam_t;
}

int ckpt_verify(const char *rundir, int64_t step, const GptConfig *cfg, char *why, size_t nwhy) {
    char mpath[4096], spath[4096];
    ckpt_model_path(mpath, rundir, step);
    state_path(spath, rundir, step);
    TrainState st;
    return check_checkpoint(mpath, spath, step, gpt_canonical_offset(cfg, T_NUM_KINDS, -1), 1, &st, why, nwhy);
}

int64_t ckpt_find_resumable(const char *rundir, const GptConfig *cfg) {
    int64_t steps[4096];
    int tmp = 0;
    int n = list_steps(rundir, steps, 4096, &tmp);
    if (tmp > 0)
        ls_warn("'%s' holds %d checkpoint director%s left by an interrupted write (*.tmp): ignored",
                rundir, tmp, tmp == 1 ? "y" : "ies");
    qsort(steps, (size_t)n, sizeof *steps, cmp_step_desc);
    for (int i = 0; i < n; i++) { /* newest first */
        char why[256];
        if (ckpt_verify(rundir, steps[i], cfg, why, sizeof why) == 0) return steps[i];
        ls_warn("checkpoint of step %lld in '%s' is incomplete or corrupt (%s): ignored",
                (long long)steps[i], rundir, why);
    }
    return -1;
}

void ckpt_bind_data(TrainState *st, const LsLoader *ld) {
    st->data_tokens = ls_loader_ntokens(ld);
    st->data_windows = ld->nwindows;
    st->data_epoch = ls_loader_epoch(ld, (uint64_t)st->next_seq);
}

void ckpt_check_data(const TrainState *st, const LsLoader *ld, const char *rundir) {
    if (st->data_tokens == 0) {
        ls_warn("checkpoint in '%s' predates data tracking (state version 1): resuming at sequence "
                "%lld without checking that the data is the same", rundir, (long long)st->next_seq);
        return;
    }
    if (st->data_tokens != ls_loader_ntokens(ld))
        ls_fatal("checkpoint in '%s' was trained on data of %llu tokens, but '%s' has %llu: resume "
                 "with the same data (the data position would point elsewhere)", rundir,
                 (unsigned long long)st->data_tokens, ld->set.spec,
                 (unsigned long long)ls_loader_ntokens(ld));
    if (st->data_epoch != ls_loader_epoch(ld, (uint64_t)st->next_seq) ||
        st->data_windows != ld->nwindows)
        ls_fatal("checkpoint state in '%s' is inconsistent: epoch %llu of %llu windows does not "
                 "match sequence %lld", rundir, (unsigned long long)st->data_epoch,
                 (unsigned long long)st->data_windows, (long long)st->next_seq);
}
