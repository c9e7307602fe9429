/* shard_writer.c - see shard_writer.h. */
#include "shard_writer.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "../core/error.h"
#include "shard.h"

/* ---- files waiting to be renamed (deleted if we exit first) ---- */
typedef struct {
    char tmp[4200], final[4096];
} Pending;
static Pending *g_pending;
static int g_npending, g_cappending, g_hooked;

static void remove_pending(void) {
    for (int i = 0; i < g_npending; i++) unlink(g_pending[i].tmp);
    g_npending = 0;
}

/* Ctrl-C / a scheduler's SIGTERM: delete the temporaries (unlink is
 * async-signal-safe), then die of the same signal. */
static void on_signal(int sig) {
    remove_pending();
    signal(sig, SIG_DFL);
    raise(sig);
}

void ls_pending_add(const char *tmp, const char *final) {
    if (!g_hooked) {
        atexit(remove_pending);
        signal(SIGINT, on_signal);
        signal(SIGTERM, on_signal);
        signal(SIGHUP, on_signal);
        g_hooked = 1;
    }
    if (g_npending == g_cappending) {
        int cap = g_cappending ? 2 * g_cappending : 16;
        Pending *p = ls_calloc((size_t)cap, sizeof(Pending), "pending files");
        if (g_npending) memcpy(p, g_pending, (size_t)g_npending * sizeof(Pending));
        ls_free(g_pending);
        g_pending = p;
        g_cappending = cap;
    }
    snprintf(g_pending[g_npending].tmp, sizeof g_pending->tmp, "%s", tmp);
    snprintf(g_pending[g_npending].final, sizeof g_pending->final, "%s", final);
    g_npending++;
}

static const char *split_name(int s) { return s == 0 ? "train" : "val"; }

void ls_shard_writer_init(LsShardWriter *w, const char *dir, uint64_t cap) {
    memset(w, 0, sizeof *w);
    w->dir = dir;
    w->cap = cap;
}

static void put_header(FILE *f, const char *path, uint64_t count) {
    int32_t header[256] = {0};
    header[0] = LS_SHARD_MAGIC;
    header[1] = LS_SHARD_VERSION;
    header[2] = (int32_t)count;
    if (fseek(f, 0, SEEK_SET) != 0 || fwrite(header, sizeof header, 1, f) != 1)
        ls_fatal("write to '%s' failed: %s (disk full?)", path, strerror(errno));
}

static void shard_close(LsShardWriter *w, int split) {
    LsSplitOut *o = &w->s[split];
    char tmp[4200];
    snprintf(tmp, sizeof tmp, "%s.tmp.%ld", o->path, (long)getpid());
    put_header(o->f, tmp, o->count);
    int ok = fflush(o->f) == 0 && fsync(fileno(o->f)) == 0;
    ok = fclose(o->f) == 0 && ok;
    if (!ok) ls_fatal("could not finish writing '%s': %s", tmp, strerror(errno));
    o->f = NULL;
    o->nshards++;
    ls_info("finished %s (%llu tokens; renamed into place when all are done)", o->path,
            (unsigned long long)o->count);
}

static void shard_open(LsShardWriter *w, int split) {
    LsSplitOut *o = &w->s[split];
    snprintf(o->path, sizeof o->path, "%s/%s_%06llu.bin", w->dir, split_name(split),
             (unsigned long long)o->nshards);
    char tmp[4200];
    snprintf(tmp, sizeof tmp, "%s.tmp.%ld", o->path, (long)getpid());
    ls_pending_add(tmp, o->path); /* registered before creation: removed on any exit */
    o->f = fopen(tmp, "wb+");
    if (!o->f) ls_fatal("cannot write '%s': %s", tmp, strerror(errno));
    put_header(o->f, tmp, 0);
    o->count = 0;
}

/* append tokens to the split's shards, opening new ones at the cap */
static void emit(LsShardWriter *w, int split, const uint16_t *tok, size_t n) {
    LsSplitOut *o = &w->s[split];
    while (n > 0) {
        if (o->f && o->count == w->cap) shard_close(w, split);
        if (!o->f) shard_open(w, split);
        size_t run = (size_t)(w->cap - o->count);
        if (run > n) run = n;
        if (fwrite(tok, sizeof(uint16_t), run, o->f) != run)
            ls_fatal("write to '%s' failed: %s (disk full?)", o->path, strerror(errno));
        o->count += run;
        o->last = tok[run - 1];
        tok += run, n -= run;
    }
}

void ls_shard_writer_put(LsShardWriter *w, int split, const uint16_t *tok, size_t n) {
    if (n == 0) return;
    LsSplitOut *o = &w->s[split];
    if (w->cap > INT32_MAX) ls_fatal("shard size %llu exceeds the int32 count", (unsigned long long)w->cap);
    if (o->has_held) emit(w, split, &o->held, 1);
    emit(w, split, tok, n - 1);
    o->held = tok[n - 1];
    o->has_held = 1;
    o->tokens += n;
}

static void split_close(LsShardWriter *w, int split) {
    LsSplitOut *o = &w->s[split];
    if (!o->has_held) return;
    if (o->f && o->count == w->cap) {
        /* the held token alone would make a 1-token shard: move the full
         * shard's last token over to join it */
        uint16_t pair[2] = {o->last, o->held};
        if (fflush(o->f) != 0 || ftruncate(fileno(o->f), (off_t)(LS_SHARD_HEADER_BYTES + 2 * (o->count - 1))) != 0)
            ls_fatal("cannot shorten '%s': %s", o->path, strerror(errno));
        o->count--;
        shard_close(w, split);
        shard_open(w, split);
        if (fwrite(pair, sizeof pair, 1, o->f) != 1)
            ls_fatal("write to '%s' failed: %s (disk full?)", o->path, strerror(errno));
        o->count = 2;
    } else if (o->f) {
        emit(w, split, &o->held, 1);
    }
    o->has_held = 0;
    if (o->f) shard_close(w, split);
}

void ls_shard_writer_close(LsShardWriter *w) {
    if (w->s[0].tokens < 2 || w->s[1].tokens == 1)
        ls_fatal("too little data: %llu training and %llu validation tokens (each split needs at "
                 "least 2; add input or lower --val-fraction)",
                 (unsigned long long)w->s[0].tokens, (unsigned long long)w->s[1].tokens);
    split_close(w, 0);
    split_close(w, 1);
}

/* Remove DIR/<split>_NNNNNN.bin with NNNNNN >= keep (left from an earlier,
 * larger prepare; they would otherwise join the new data). */
static void remove_stale(const char *dir, const char *split, uint64_t keep) {
    DIR *d = opendir(dir);
    if (!d) return;
    struct dirent *e;
    size_t plen = strlen(split);
    char full[4096];
    while ((e = readdir(d)) != NULL) {
        const char *s = e->d_name;
        if (strncmp(s, split, plen) != 0 || s[plen] != '_' || strlen(s) != plen + 11 ||
            strcmp(s + plen + 7, ".bin") != 0 || strspn(s + plen + 1, "0123456789") != 6)
            continue;
        if (strtoull(s + plen + 1, NULL, 10) < keep) continue;
        snprintf(full, sizeof full, "%s/%s", dir, s);
        if (unlink(full) == 0) ls_info("removed stale %s", full);
        else ls_warn("could not remove stale shard '%s'", full);
    }
    closedir(d);
}

void ls_shard_writer_commit(LsShardWriter *w) {
    for (int i = 0; i < g_npending; i++)
        if (rename(g_pending[i].tmp, g_pending[i].final) != 0)
            ls_fatal("cannot rename '%s' to '%s': %s", g_pending[i].tmp, g_pending[i].final,
                     strerror(errno));
    ls_info("published %llu train and %llu val shard%s in %s", (unsigned long long)w->s[0].nshards,
            (unsigned long long)w->s[1].nshards, w->s[0].nshards + w->s[1].nshards == 1 ? "" : "s",
            w->dir);
    g_npending = 0;
    int fd = open(w->dir, O_RDONLY);
    if (fd >= 0) fsync(fd), close(fd);
    remove_stale(w->dir, "train", w->s[0].nshards);
    remove_stale(w->dir, "val", w->s[1].nshards);
}
