/* checkpoint_write.c - the collective checkpoint writer (see checkpoint.h).
 *
 * Every rank writes the floats it owns straight to their place in the two
 * files of one layout-free checkpoint; nobody gathers the model.
 *
 *   1. rank 0 creates RUNDIR/ckpt_<S>.tmp/ with model.bin and state.bin at
 *      their final sizes (holes);                                  barrier
 *   2. each rank pwrite()s its runs (below) into both files, fsyncs; barrier
 *   3. rank 0 writes the model header, reads the model file back for its
 *      CRC-32, writes the state header and TrainState record (which hold that
 *      CRC), reads the state file back for its own CRC and appends it,
 *      fsyncs both, checks both sizes, renames the directory to ckpt_<S>,
 *      fsyncs RUNDIR, rewrites `latest` atomically and prunes to --keep; barrier
 *
 * A crash (any rank, any moment) before the rename leaves only a .tmp
 * directory, which readers ignore; after it, a complete verified checkpoint.
 * The directory must be on a file system every rank sees (as Megatron's and
 * DeepSpeed's distributed checkpoints need).
 *
 * Who writes what. A float of the whole model is written by exactly one rank:
 *   - pipeline: the stage (and chunk) that holds its layer; the last stage's
 *     copy of the tied embedding is skipped (the first stage writes wte);
 *   - tensor parallel: each rank its shard's runs (gpt_shard_runs); tensors
 *     every tp rank holds whole are written by tp rank 0;
 *   - data parallel: the rank's part [lo, hi) of the flat buffer: its ZeRO
 *     slice (whose AdamW moments only it has), or with ZeRO 0 an even split.
 * The model file gets the parameters, the state file m then v, each at
 * header + 4 x (canonical offset of the tensor + offset in the tensor). */
#include "checkpoint.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "../core/error.h"
#include "../core/fileio.h"
#include "../model/gpt_io.h"

/* One tensor's runs clipped to the owned flat range, written to both files. */
typedef struct {
    const CkptPart *p;
    const GptTensor *t;
    int fm, fs;          /* model and state file descriptors */
    size_t canon;        /* canonical offset of the tensor, floats */
    size_t total;        /* floats of the whole model (distance from m to v) */
    const char *mpath, *spath;
} RunCtx;

static void pwrite_all(int fd, const void *buf, size_t n, off_t off, const char *path) {
    const char *p = buf;
    while (n > 0) {
        ssize_t w = pwrite(fd, p, n, off);
        if (w < 0 && errno == EINTR) continue;
        if (w <= 0)
            ls_fatal("cannot write checkpoint file '%s': %s (is the disk full?)", path,
                     w < 0 ? strerror(errno) : "no progress");
        p += w, off += w, n -= (size_t)w;
    }
}

static void write_run(void *ctx, size_t shard_off, size_t full_off, size_t n) {
    RunCtx *c = ctx;
    size_t a = c->t->offset + shard_off, b = a + n; /* flat range of the run */
    if (a < c->p->lo) a = c->p->lo;
    if (b > c->p->hi) b = c->p->hi;
    if (a >= b) return;
    size_t file_el = c->canon + full_off + (a - c->t->offset - shard_off);
    size_t bytes = sizeof(float) * (b - a);
    pwrite_all(c->fm, c->p->params + a, bytes, (off_t)(1024 + sizeof(float) * file_el), c->mpath);
    off_t sbase = (off_t)CKPT_STATE_HEADER_BYTES;
    pwrite_all(c->fs, c->p->m + (a - c->p->opt_base), bytes, sbase + (off_t)(sizeof(float) * file_el),
               c->spath);
    pwrite_all(c->fs, c->p->v + (a - c->p->opt_base), bytes,
               sbase + (off_t)(sizeof(float) * (c->total + file_el)), c->spath);
}

static void write_part(const CkptPart *p, int fm, int fs, const char *mpath, const char *spath) {
    const GptLayout *lay = p->lay;
    size_t total = gpt_canonical_offset(&lay->cfg, T_NUM_KINDS, -1);
    for (int i = 0; i < lay->ntensors; i++) {
        const GptTensor *t = &lay->tensors[i];
        if (t->kind == T_WTE && !lay->has_embed) continue;           /* the tied copy */
        if (gpt_kind_is_replicated(t->kind) && lay->tp_rank != 0) continue;
        RunCtx c = {p, t, fm, fs, gpt_canonical_offset(&lay->cfg, t->kind, t->layer), total,
                    mpath, spath};
        gpt_shard_runs(lay, t, write_run, &c);
    }
}

static int open_rw(const char *path) {
    int fd = open(path, O_RDWR);
    if (fd < 0) ls_fatal("cannot open checkpoint file '%s': %s", path, strerror(errno));
    return fd;
}

static void fsync_or_die(int fd, const char *path) {
    if (fsync(fd) != 0) ls_fatal("cannot fsync '%s': %s", path, strerror(errno));
}

static void fsync_dir(const char *path) {
    int fd = open(path, O_RDONLY | O_DIRECTORY);
    if (fd < 0) return;
    fsync(fd); /* some file systems refuse to fsync directories: best effort */
    close(fd);
}

/* CRC-32 of the first n bytes of an open file. */
static uint32_t crc_prefix(int fd, int64_t n, const char *path) {
    static unsigned char buf[1 << 16];
    uint32_t crc = 0;
    for (int64_t off = 0; off < n;) {
        size_t want = (size_t)(n - off < (int64_t)sizeof buf ? n - off : (int64_t)sizeof buf);
        ssize_t r = pread(fd, buf, want, (off_t)off);
        if (r <= 0) ls_fatal("cannot read back checkpoint file '%s': %s", path, r < 0 ? strerror(errno) : "short file");
        crc = ls_crc32(crc, buf, (size_t)r);
        off += r;
    }
    return crc;
}

/* LLMSCALE_FAULT_KILL_SAVE=S[:R]: rank R (default 0) kills itself with
 * SIGKILL in the middle of writing the checkpoint of step S, after its own
 * slices are written and before the commit: the tests' crash while writing. */
static void fault_kill_in_save(int64_t step, int rank) {
    const char *e = getenv("LLMSCALE_FAULT_KILL_SAVE");
    if (!e) return;
    long long s = -1;
    int r = 0;
    if (sscanf(e, "%lld:%d", &s, &r) < 1) return;
    if (s == step && r == rank) raise(SIGKILL);
}

static void make_sized(const char *path, int64_t size) {
    int fd = open(path, O_RDWR | O_CREAT | O_TRUNC, 0644);
    if (fd < 0) ls_fatal("cannot create checkpoint file '%s': %s", path, strerror(errno));
    if (ftruncate(fd, (off_t)size) != 0)
        ls_fatal("cannot size checkpoint file '%s' to %lld bytes: %s", path, (long long)size,
                 strerror(errno));
    close(fd);
}

void ckpt_save(const char *rundir, const CkptPart *parts, int nparts, TrainState *st,
               LsComm *world, int keep) {
    char tmp[4096], final[4096], mpath[4200], spath[4200];
    ckpt_dir_path(final, rundir, st->step);
    snprintf(tmp, sizeof tmp, "%s.tmp", final);
    snprintf(mpath, sizeof mpath, "%s/model.bin", tmp);
    snprintf(spath, sizeof spath, "%s/state.bin", tmp);
    const GptConfig *cfg = &parts[0].lay->cfg;
    size_t total = gpt_canonical_offset(cfg, T_NUM_KINDS, -1);
    int64_t msize = 1024 + (int64_t)(total * sizeof(float));
    int64_t ssize = CKPT_STATE_HEADER_BYTES + (int64_t)(2 * total * sizeof(float)) + 4;

    if (world->rank == 0) {
        ls_mkdirs(rundir);
        ckpt_remove_dir(tmp); /* left by a crash while writing this step before */
        if (mkdir(tmp, 0755) != 0)
            ls_fatal("cannot create checkpoint directory '%s': %s", tmp, strerror(errno));
        make_sized(mpath, msize);
        make_sized(spath, ssize);
    }
    ls_comm_barrier(world);

    int fm = open_rw(mpath), fs = open_rw(spath);
    for (int i = 0; i < nparts; i++) write_part(&parts[i], fm, fs, mpath, spath);
    fsync_or_die(fm, mpath);
    fsync_or_die(fs, spath);
    fault_kill_in_save(st->step, world->rank);
    ls_comm_barrier(world);

    if (world->rank == 0) {
        int32_t h[256];
        gpt_model_header(cfg, h);
        pwrite_all(fm, h, sizeof h, 0, mpath);
        fsync_or_die(fm, mpath);
        if (ls_file_size(mpath) != msize || ls_file_size(spath) != ssize)
            ls_fatal("checkpoint files in '%s' have the wrong size after writing (%lld, %lld bytes; "
                     "expected %lld, %lld): not committed", tmp, (long long)ls_file_size(mpath),
                     (long long)ls_file_size(spath), (long long)msize, (long long)ssize);
        st->model_crc = crc_prefix(fm, msize, mpath);
        uint32_t head[2] = {CKPT_STATE_MAGIC, CKPT_STATE_VERSION};
        pwrite_all(fs, head, sizeof head, 0, spath);
        pwrite_all(fs, st, sizeof *st, sizeof head, spath);
        uint32_t crc = crc_prefix(fs, ssize - 4, spath);
        pwrite_all(fs, &crc, sizeof crc, (off_t)(ssize - 4), spath);
        fsync_or_die(fs, spath);
    }
    close(fm);
    close(fs);

    if (world->rank == 0) {
        fsync_dir(tmp);
        /* a checkpoint of this step may exist (a run resumed before it and
         * saved again): move it aside, then put the new one in place */
        char old[4200];
        snprintf(old, sizeof old, "%s.old", final);
        ckpt_remove_dir(old);
        if (ls_is_dir(final) && rename(final, old) != 0)
            ls_fatal("cannot move '%s' aside: %s", final, strerror(errno));
        if (rename(tmp, final) != 0)
            ls_fatal("cannot rename '%s' to '%s': %s", tmp, final, strerror(errno));
        fsync_dir(rundir);
        ckpt_remove_dir(old);

        char line[64], lpath[4096];
        int n = snprintf(line, sizeof line, "%" PRId64 "\n", st->step);
        snprintf(lpath, sizeof lpath, "%s/latest", rundir);
        LsAtomicFile af;
        ls_atomic_open(&af, lpath);
        ls_atomic_write(&af, line, (size_t)n);
        ls_atomic_commit(&af);
        if (keep > 0) ckpt_prune(rundir, keep);
    }
    ls_comm_barrier(world); /* nobody reads `latest` before it exists */
}
