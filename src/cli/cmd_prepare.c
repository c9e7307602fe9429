/* cmd_prepare.c - `llmscale prepare`: text files -> tokenizer + token shards.
 *
 * Each input file is one document. With the byte-level tokenizer a document
 * becomes EOT followed by its bytes as token ids (GPT-2 style: EOT *before*
 * each document), so the stream of all documents has
 *     N = documents + total bytes
 * tokens. The last round(N * val_fraction) tokens (at least 2 when the
 * fraction is > 0) are the validation split, the rest the training split.
 * Each split is cut into shards of at most --shard-tokens tokens:
 *     OUT/tokenizer.bin, OUT/train_000000.bin, ..., OUT/val_000000.bin, ...
 *
 * Because N and every shard's size are known from the file sizes before any
 * byte is read, each shard's header is written first and its tokens are
 * streamed after it: memory stays at one 1 MiB read buffer whatever the input
 * size. (A file that changes size while being read is an error.) */
#include <dirent.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "../core/error.h"
#include "../core/fileio.h"
#include "../data/shard.h"
#include "../data/tokenizer.h"
#include "args.h"

#define CHUNK_BYTES (1 << 20)

static void usage(void) {
    printf(
        "usage: llmscale prepare --input FILE... [--out DIR] [options]\n"
        "\n"
        "Tokenizes text files (byte-level: 256 byte tokens + <|endoftext|>) into\n"
        "llm.c-format token shards for `llmscale train`.\n"
        "\n"
        "  --input FILE...       text files; each file is one document, a directory means\n"
        "                        every regular file in it (sorted). May be repeated. (required)\n"
        "  --out DIR             output directory (default: data)\n"
        "  --val-fraction F      last fraction of the tokens that becomes val_*.bin, in [0, 0.9];\n"
        "                        0 writes no validation split (default: 0.1)\n"
        "  --shard-tokens N      tokens per shard file, at most (default: 100000000)\n"
        "\n"
        "Writes DIR/tokenizer.bin, DIR/train_000000.bin ... and DIR/val_000000.bin ...\n"
        "(older train_/val_ shards in DIR beyond the new ones are removed).\n");
}

/* ---- the list of input documents ---- */
typedef struct {
    char **path;
    int64_t *bytes;
    int n, cap;
} Docs;

static void docs_add(Docs *d, const char *path, int64_t bytes) {
    if (d->n == d->cap) {
        int cap = d->cap ? 2 * d->cap : 64;
        char **p = ls_calloc((size_t)cap, sizeof(char *), "input list");
        int64_t *b = ls_calloc((size_t)cap, sizeof(int64_t), "input list");
        if (d->n) {
            memcpy(p, d->path, (size_t)d->n * sizeof(char *));
            memcpy(b, d->bytes, (size_t)d->n * sizeof(int64_t));
        }
        ls_free(d->path);
        ls_free(d->bytes);
        d->path = p, d->bytes = b, d->cap = cap;
    }
    char *copy = ls_calloc(strlen(path) + 1, 1, "input path");
    strcpy(copy, path);
    d->path[d->n] = copy;
    d->bytes[d->n++] = bytes;
}

static int cmp_str(const void *a, const void *b) {
    return strcmp(*(char *const *)a, *(char *const *)b);
}

/* A file adds one document; a directory adds its regular files, sorted. */
static void add_input(Docs *d, const char *path) {
    int64_t size = ls_file_size(path);
    if (size >= 0) {
        docs_add(d, path, size);
        return;
    }
    if (!ls_is_dir(path)) ls_fatal("input '%s' does not exist or is not a regular file", path);
    DIR *dir = opendir(path);
    if (!dir) ls_fatal("cannot read input directory '%s'", path);
    Docs tmp = {0};
    struct dirent *e;
    char full[4096];
    while ((e = readdir(dir)) != NULL) {
        if (snprintf(full, sizeof full, "%s/%s", path, e->d_name) >= (int)sizeof full)
            ls_fatal("path too long in input directory '%s'", path);
        int64_t s = ls_file_size(full);
        if (s >= 0) docs_add(&tmp, full, s);
    }
    closedir(dir);
    if (tmp.n == 0) ls_fatal("input directory '%s' has no regular files", path);
    qsort(tmp.path, (size_t)tmp.n, sizeof(char *), cmp_str);
    for (int i = 0; i < tmp.n; i++) {
        docs_add(d, tmp.path[i], ls_file_size(tmp.path[i]));
        ls_free(tmp.path[i]);
    }
    ls_free(tmp.path);
    ls_free(tmp.bytes);
}

/* ---- shard sizes of one split ----
 * n tokens cut into pieces of cap tokens, the last one smaller. A reader
 * rejects 1-token shards, so a 1-token tail borrows one token from the
 * piece before it (cap-1, 2 instead of cap, 1). */
static uint64_t split_nshards(uint64_t n, uint64_t cap) { return (n + cap - 1) / cap; }

static uint64_t split_shard_size(uint64_t n, uint64_t cap, uint64_t k) {
    uint64_t count = split_nshards(n, cap), last = n - (count - 1) * cap;
    if (k + 1 < count) return (last == 1 && k + 2 == count) ? cap - 1 : cap;
    return (last == 1 && count > 1) ? 2 : last;
}

/* ---- streaming shard writer over both splits ---- */
typedef struct {
    const char *dir;
    uint64_t split_tokens[2]; /* train, val */
    uint64_t cap;
    int split;                /* current split: 0 train, 1 val */
    uint64_t shard;           /* index of the open shard within the split */
    uint64_t left;            /* tokens still to write into the open shard */
    int open;
    LsAtomicFile af;
    char path[4096];
    uint64_t written[2];      /* shards finished per split */
} Writer;

static const char *split_name(int s) { return s == 0 ? "train" : "val"; }

static void writer_open_next(Writer *w) {
    while (w->split < 2 && w->shard >= split_nshards(w->split_tokens[w->split], w->cap))
        w->split++, w->shard = 0;
    if (w->split >= 2) ls_fatal("internal error: more tokens than counted");
    uint64_t n = split_shard_size(w->split_tokens[w->split], w->cap, w->shard);
    snprintf(w->path, sizeof w->path, "%s/%s_%06llu.bin", w->dir, split_name(w->split),
             (unsigned long long)w->shard);
    int32_t header[256] = {0};
    header[0] = LS_SHARD_MAGIC;
    header[1] = LS_SHARD_VERSION;
    header[2] = (int32_t)n;
    ls_atomic_open(&w->af, w->path);
    ls_atomic_write(&w->af, header, sizeof header);
    w->left = n;
    w->open = 1;
}

static void writer_close(Writer *w) {
    ls_atomic_commit(&w->af);
    ls_info("wrote %s (%llu tokens)", w->path,
            (unsigned long long)((w->af.bytes - LS_SHARD_HEADER_BYTES) / 2));
    w->written[w->split]++;
    w->shard++;
    w->open = 0;
}

static void writer_put(Writer *w, const uint16_t *tok, size_t n) {
    while (n > 0) {
        if (!w->open) writer_open_next(w);
        size_t run = n < w->left ? n : (size_t)w->left;
        ls_atomic_write(&w->af, tok, run * sizeof(uint16_t));
        tok += run, n -= run, w->left -= run;
        if (w->left == 0) writer_close(w);
    }
}

/* Remove OUT/<split>_NNNNNN.bin with NNNNNN >= keep: left over from an
 * earlier, larger prepare, they would otherwise join the new data. */
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

int cmd_prepare(int argc, char **argv) {
    if (ls_wants_help(argc, argv)) {
        usage();
        return 0;
    }
    Docs docs = {0};
    const char *out = "data";
    double val_fraction = 0.1;
    long long shard_tokens = 100000000;
    int saw_input = 0;
    for (int i = 0; i < argc; i++) {
        const char *a = argv[i];
        if (ls_flag(a, "--input")) {
            saw_input = 1;
            const char *eq = strchr(a, '=');
            int n0 = docs.n;
            if (eq) add_input(&docs, eq + 1);
            while (i + 1 < argc && argv[i + 1][0] != '-') add_input(&docs, argv[++i]);
            if (!eq && docs.n == n0) ls_fatal("flag --input needs one or more files");
        } else if (ls_flag(a, "--out")) {
            out = ls_str_arg(argc, argv, &i);
        } else if (ls_flag(a, "--val-fraction")) {
            val_fraction = ls_double_arg(argc, argv, &i, 0.0, 0.9);
        } else if (ls_flag(a, "--shard-tokens")) {
            shard_tokens = ls_int_arg(argc, argv, &i, 16, INT32_MAX);
        } else {
            ls_unknown_flag("prepare", a);
        }
    }
    if (!saw_input) ls_fatal("prepare needs --input FILE... (see llmscale prepare --help)");

    uint64_t total_bytes = 0;
    for (int k = 0; k < docs.n; k++) total_bytes += (uint64_t)docs.bytes[k];
    if (total_bytes == 0)
        ls_fatal(docs.n == 1 ? "the input file '%s' is empty; nothing to tokenize"
                             : "all input files are empty ('%s', ...); nothing to tokenize",
                 docs.path[0]);
    uint64_t N = (uint64_t)docs.n + total_bytes;
    uint64_t nval = 0;
    if (val_fraction > 0) {
        nval = (uint64_t)llround((double)N * val_fraction);
        if (nval < 2) nval = 2;
    }
    if (nval > N || N - nval < 2)
        ls_fatal("too little data: %llu tokens leave %llu for training (need >= 2); add input or "
                 "lower --val-fraction", (unsigned long long)N,
                 (unsigned long long)(nval > N ? 0 : N - nval));

    ls_mkdirs(out);
    LsTokenizer tk;
    ls_tokenizer_byte_level(&tk);
    char tkpath[4096];
    snprintf(tkpath, sizeof tkpath, "%s/tokenizer.bin", out);
    ls_tokenizer_save(&tk, tkpath);
    ls_info("wrote %s (byte-level, vocab %d, eot %d)", tkpath, tk.vocab_size, tk.eot);

    Writer w = {0};
    w.dir = out;
    w.cap = (uint64_t)shard_tokens;
    w.split_tokens[0] = N - nval;
    w.split_tokens[1] = nval;

    char *buf = ls_calloc(CHUNK_BYTES, 1, "read buffer");
    int32_t *ids = ls_calloc(CHUNK_BYTES, sizeof(int32_t), "token buffer");
    uint16_t *tok = ls_calloc(CHUNK_BYTES, sizeof(uint16_t), "token buffer");
    for (int k = 0; k < docs.n; k++) {
        uint16_t eot = (uint16_t)tk.eot;
        writer_put(&w, &eot, 1);
        FILE *f = ls_fopen(docs.path[k], "rb", "input file");
        uint64_t got = 0;
        size_t n;
        while ((n = fread(buf, 1, CHUNK_BYTES, f)) > 0) {
            if (got + n > (uint64_t)docs.bytes[k]) break;
            ls_tokenizer_encode_bytes(&tk, buf, n, ids);
            for (size_t i = 0; i < n; i++) tok[i] = (uint16_t)ids[i];
            writer_put(&w, tok, n);
            got += n;
        }
        int err = ferror(f);
        fclose(f);
        if (err) ls_fatal("error reading input file '%s'", docs.path[k]);
        if (got != (uint64_t)docs.bytes[k])
            ls_fatal("input file '%s' changed size while being read (was %lld bytes)",
                     docs.path[k], (long long)docs.bytes[k]);
    }
    if (w.open) ls_fatal("internal error: shard '%s' not filled", w.path);
    remove_stale(out, "train", w.written[0]);
    remove_stale(out, "val", w.written[1]);

    ls_info("prepared %d document%s, %llu bytes -> %llu tokens: train %llu tokens in %llu "
            "shard%s, val %llu tokens in %llu shard%s",
            docs.n, docs.n == 1 ? "" : "s", (unsigned long long)total_bytes,
            (unsigned long long)N, (unsigned long long)w.split_tokens[0],
            (unsigned long long)w.written[0], w.written[0] == 1 ? "" : "s",
            (unsigned long long)nval, (unsigned long long)w.written[1],
            w.written[1] == 1 ? "" : "s");

    ls_free(buf);
    ls_free(ids);
    ls_free(tok);
    for (int k = 0; k < docs.n; k++) ls_free(docs.path[k]);
    ls_free(docs.path);
    ls_free(docs.bytes);
    ls_tokenizer_free(&tk);
    return 0;
}
