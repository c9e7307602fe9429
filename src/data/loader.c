/* loader.c - see loader.h. */
#include "loader.h"

#include <dirent.h>
#include <glob.h>
#include <stdlib.h>
#include <string.h>

#include "../core/error.h"
#include "../core/fileio.h"
#include "../core/rng.h"

/* ---- a growable list of paths, sorted by byte order (not locale) ---- */
typedef struct {
    char **p;
    int n, cap;
} PathList;

static void paths_add(PathList *l, const char *path) {
    if (l->n == l->cap) {
        int cap = l->cap ? 2 * l->cap : 16;
        char **p = ls_calloc((size_t)cap, sizeof(char *), "shard list");
        if (l->n) memcpy(p, l->p, (size_t)l->n * sizeof(char *));
        ls_free(l->p);
        l->p = p;
        l->cap = cap;
    }
    char *copy = ls_calloc(strlen(path) + 1, 1, "shard path");
    strcpy(copy, path);
    l->p[l->n++] = copy;
}

static int cmp_str(const void *a, const void *b) {
    return strcmp(*(char *const *)a, *(char *const *)b);
}

static void paths_free(PathList *l) {
    for (int i = 0; i < l->n; i++) ls_free(l->p[i]);
    ls_free(l->p);
}

static int ends_with(const char *s, const char *suffix) {
    size_t n = strlen(s), m = strlen(suffix);
    return n >= m && strcmp(s + n - m, suffix) == 0;
}

/* DIR/ *role*.bin, read with readdir so that glob characters in DIR are harmless. */
static void list_dir(PathList *l, const char *dir, const char *role) {
    DIR *d = opendir(dir);
    if (!d) ls_fatal("cannot read data directory '%s'", dir);
    struct dirent *e;
    char path[4096];
    while ((e = readdir(d)) != NULL) {
        if (!strstr(e->d_name, role) || !ends_with(e->d_name, ".bin")) continue;
        snprintf(path, sizeof path, "%s/%s", dir, e->d_name);
        if (ls_file_size(path) >= 0) paths_add(l, path);
    }
    closedir(d);
}

void ls_shardset_open(LsShardSet *set, const char *spec, const char *role) {
    memset(set, 0, sizeof *set);
    PathList l = {0};
    if (ls_is_dir(spec)) {
        if (!role) ls_fatal("data directory '%s' given where a shard file is expected", spec);
        list_dir(&l, spec, role);
        if (l.n == 0)
            ls_fatal("data directory '%s' has no *%s*.bin shards (run llmscale prepare --out %s)",
                     spec, role, spec);
    } else if (ls_file_size(spec) >= 0) {
        paths_add(&l, spec);
    } else if (strpbrk(spec, "*?[")) {
        glob_t g;
        int rc = glob(spec, 0, NULL, &g);
        if (rc == GLOB_NOMATCH) ls_fatal("no files match '%s'", spec);
        if (rc != 0) ls_fatal("cannot expand pattern '%s'", spec);
        for (size_t i = 0; i < g.gl_pathc; i++)
            if (!ls_is_dir(g.gl_pathv[i])) paths_add(&l, g.gl_pathv[i]);
        globfree(&g);
        if (l.n == 0) ls_fatal("no files match '%s' (only directories)", spec);
    } else {
        ls_fatal("data path '%s' does not exist (give a directory, a shard or a pattern)", spec);
    }
    qsort(l.p, (size_t)l.n, sizeof(char *), cmp_str);

    set->nshards = l.n;
    set->shards = ls_calloc((size_t)l.n, sizeof(LsShard), "shard table");
    set->start = ls_calloc((size_t)l.n + 1, sizeof(uint64_t), "shard offsets");
    for (int k = 0; k < l.n; k++) {
        ls_shard_open(&set->shards[k], l.p[k]);
        set->start[k + 1] = set->start[k] + set->shards[k].ntokens;
    }
    set->ntokens = set->start[l.n];
    char *copy = ls_calloc(strlen(spec) + 1, 1, "data spec");
    strcpy(copy, spec);
    set->spec = copy;
    paths_free(&l);
}

void ls_shardset_close(LsShardSet *set) {
    for (int k = 0; k < set->nshards; k++) ls_shard_close(&set->shards[k]);
    ls_free(set->shards);
    ls_free(set->start);
    ls_free((void *)set->spec);
    memset(set, 0, sizeof *set);
}

/* The shard holding global index pos < N: the last k with start[k] <= pos. */
static int find_shard(const LsShardSet *set, uint64_t pos) {
    int lo = 0, hi = set->nshards - 1;
    while (lo < hi) {
        int mid = (lo + hi + 1) / 2;
        if (set->start[mid] <= pos) lo = mid;
        else hi = mid - 1;
    }
    return lo;
}

void ls_shardset_read(const LsShardSet *set, uint64_t pos, size_t n, int32_t *out) {
    uint64_t N = set->ntokens;
    pos %= N;
    int k = find_shard(set, pos);
    /* copy contiguous runs, moving to the next shard (and wrapping to 0) */
    while (n > 0) {
        const LsShard *sh = &set->shards[k];
        uint64_t off = pos - set->start[k];
        size_t run = (size_t)(sh->ntokens - off);
        if (run > n) run = n;
        const uint16_t *src = sh->tokens + off;
        for (size_t i = 0; i < run; i++) out[i] = src[i];
        out += run;
        n -= run;
        pos += run;
        if (pos == set->start[k + 1]) {
            k++;
            if (k == set->nshards) k = 0, pos = 0;
        }
    }
}

void ls_loader_init(LsLoader *ld, const char *spec, const char *role, int T, int shuffle,
                    uint64_t seed) {
    memset(ld, 0, sizeof *ld);
    if (T < 1) ls_fatal("sequence length must be >= 1, got %d", T);
    ls_shardset_open(&ld->set, spec, role);
    ld->T = T;
    ld->shuffle = shuffle;
    ld->seed = seed;
    ld->perm_epoch = -1;
    uint64_t N = ld->set.ntokens;
    if (N < (uint64_t)T + 1)
        ls_fatal("data '%s' has %llu tokens; sequence length %d needs at least %d (T+1) tokens "
                 "(use a shorter sequence length or more data)", spec, (unsigned long long)N, T, T + 1);
    ld->nwindows = (N - 1) / (uint64_t)T;

    int hi = 0;
    for (int k = 0; k < ld->set.nshards; k++) {
        const LsShard *sh = &ld->set.shards[k];
        for (size_t i = 0; i < sh->ntokens; i++)
            if (sh->tokens[i] > hi) hi = sh->tokens[i];
    }
    ld->max_token = hi;
}

void ls_loader_free(LsLoader *ld) {
    ls_shardset_close(&ld->set);
    ls_free(ld->perm);
    memset(ld, 0, sizeof *ld);
}

/* Build perm_e (see loader.h for the exact recipe; it is part of the spec). */
static void build_perm(LsLoader *ld, uint64_t e) {
    uint64_t W = ld->nwindows;
    if (!ld->perm) ld->perm = ls_calloc((size_t)W, sizeof(uint64_t), "epoch permutation");
    LsRng rng;
    ls_rng_seed(&rng, ld->seed ^ (e * 0x9E3779B97F4A7C15ull));
    for (uint64_t i = 0; i < W; i++) ld->perm[i] = i;
    for (uint64_t i = W - 1; i > 0; i--) {
        uint64_t j = ls_rng_below(&rng, i + 1);
        uint64_t t = ld->perm[i];
        ld->perm[i] = ld->perm[j];
        ld->perm[j] = t;
    }
    ld->perm_epoch = (int64_t)e;
}

void ls_loader_get(LsLoader *ld, uint64_t seq_index, int nseq, int32_t *x, int32_t *y) {
    uint64_t N = ld->set.ntokens, T = (uint64_t)ld->T;
    for (int j = 0; j < nseq; j++) {
        uint64_t s = seq_index + (uint64_t)j, pos;
        if (ld->shuffle) {
            uint64_t W = ld->nwindows, e = s / W;
            if ((int64_t)e != ld->perm_epoch) build_perm(ld, e);
            pos = ld->perm[s % W] * T;
        } else {
            /* (s*T) mod N without overflow for any N*T < 2^64 */
            pos = ((s % N) * T) % N;
        }
        int32_t *xj = x + (size_t)j * T, *yj = y + (size_t)j * T;
        /* x = stream[pos .. pos+T), y = x shifted by one plus stream[pos+T] */
        ls_shardset_read(&ld->set, pos, (size_t)T, xj);
        memcpy(yj, xj + 1, (size_t)(T - 1) * sizeof(int32_t));
        ls_shardset_read(&ld->set, pos + T, 1, yj + T - 1);
    }
}

int ls_loader_max_token(const LsLoader *ld) { return ld->max_token; }
uint64_t ls_loader_ntokens(const LsLoader *ld) { return ld->set.ntokens; }

uint64_t ls_loader_epoch(const LsLoader *ld, uint64_t s) {
    if (ld->shuffle) return s / ld->nwindows;
    /* floor(s*T / N) without overflowing s*T */
    uint64_t N = ld->set.ntokens, T = (uint64_t)ld->T;
    return (s / N) * T + ((s % N) * T) / N;
}
