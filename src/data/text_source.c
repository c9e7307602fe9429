/* text_source.c - see text_source.h. */
#include "text_source.h"

#include <dirent.h>
#include <stdlib.h>
#include <string.h>

#include "../core/error.h"
#include "../core/fileio.h"
#include "json.h"

static void inputs_push(LsInputs *in, const char *path, int64_t bytes) {
    if (in->n == in->cap) {
        int cap = in->cap ? 2 * in->cap : 64;
        char **p = ls_calloc((size_t)cap, sizeof(char *), "input list");
        int64_t *b = ls_calloc((size_t)cap, sizeof(int64_t), "input list");
        if (in->n) {
            memcpy(p, in->path, (size_t)in->n * sizeof(char *));
            memcpy(b, in->bytes, (size_t)in->n * sizeof(int64_t));
        }
        ls_free(in->path);
        ls_free(in->bytes);
        in->path = p, in->bytes = b, in->cap = cap;
    }
    char *copy = ls_calloc(strlen(path) + 1, 1, "input path");
    strcpy(copy, path);
    in->path[in->n] = copy;
    in->bytes[in->n++] = bytes;
    in->total_bytes += (uint64_t)bytes;
}

static int cmp_str(const void *a, const void *b) {
    return strcmp(*(char *const *)a, *(char *const *)b);
}

void ls_inputs_add(LsInputs *in, const char *path) {
    int64_t size = ls_file_size(path);
    if (size >= 0) {
        inputs_push(in, path, size);
        return;
    }
    if (!ls_is_dir(path)) ls_fatal("input '%s' does not exist or is not a regular file", path);
    DIR *dir = opendir(path);
    if (!dir) ls_fatal("cannot read input directory '%s'", path);
    LsInputs tmp = {0};
    struct dirent *e;
    char full[4096];
    while ((e = readdir(dir)) != NULL) {
        if (snprintf(full, sizeof full, "%s/%s", path, e->d_name) >= (int)sizeof full)
            ls_fatal("path too long in input directory '%s'", path);
        int64_t s = ls_file_size(full);
        if (s >= 0) inputs_push(&tmp, full, s);
    }
    closedir(dir);
    if (tmp.n == 0) ls_fatal("input directory '%s' has no regular files", path);
    /* sort names (sizes follow their paths) */
    qsort(tmp.path, (size_t)tmp.n, sizeof(char *), cmp_str);
    for (int i = 0; i < tmp.n; i++) inputs_push(in, tmp.path[i], ls_file_size(tmp.path[i]));
    ls_inputs_free(&tmp);
}

void ls_inputs_free(LsInputs *in) {
    for (int i = 0; i < in->n; i++) ls_free(in->path[i]);
    ls_free(in->path);
    ls_free(in->bytes);
    memset(in, 0, sizeof *in);
}

LsTextFormat ls_text_format_parse(const char *s) {
    if (!strcmp(s, "text")) return LS_FMT_TEXT;
    if (!strcmp(s, "lines")) return LS_FMT_LINES;
    if (!strcmp(s, "jsonl")) return LS_FMT_JSONL;
    ls_fatal("--format: '%s' is not one of text, lines, jsonl", s);
}

/* ---- jsonl: the "text" member ---- */
typedef struct {
    LsBuf *out;
    int found;
    const char *bad;
} TextField;

static int on_member(void *ctx, const LsBuf *key, const char *v, const char *ve) {
    TextField *t = ctx;
    if (key->n != 4 || memcmp(key->p, "text", 4) != 0) return 0;
    t->out->n = 0;
    const char *e = ls_json_string(v, ve, t->out);
    if (!e) t->bad = *v == '"' ? "a malformed string" : "not a string";
    else t->found = 1;
    return 1;
}

static void jsonl_doc(const char *path, long line, const char *s, size_t n, LsBuf *doc) {
    TextField t = {doc, 0, NULL};
    const char *end = ls_json_object(s, s + n, on_member, &t);
    if (t.bad) ls_fatal("%s:%ld: the \"text\" field is %s", path, line, t.bad);
    if (!end) ls_fatal("%s:%ld: not a JSON object (jsonl wants one {\"text\": ...} per line)", path, line);
    if (!t.found) ls_fatal("%s:%ld: JSON object without a \"text\" field", path, line);
}

uint64_t ls_read_documents(const LsInputs *in, LsTextFormat fmt, const LsDocSink *sink, void *ctx) {
    /* chunks of LS_READ_CHUNK, or less if every file is smaller (+1: a file
     * that grew while being read still shows) */
    uint64_t biggest = 0;
    for (int k = 0; k < in->n; k++)
        if ((uint64_t)in->bytes[k] > biggest) biggest = (uint64_t)in->bytes[k];
    size_t chunk = biggest < LS_READ_CHUNK ? (size_t)biggest + 1 : LS_READ_CHUNK;
    uint8_t *buf = ls_calloc(chunk, 1, "read buffer");
    LsBuf line = {0}, doc = {0};
    uint64_t base = 0, ndocs = 0;
    for (int k = 0; k < in->n; k++) {
        const char *path = in->path[k];
        FILE *f = ls_fopen(path, "rb", "input file");
        uint64_t got = 0;
        long lineno = 0;
        int in_doc = 0;
        size_t n;
        line.n = 0;
        for (;;) {
            n = fread(buf, 1, chunk, f);
            got += n;
            if (got > (uint64_t)in->bytes[k]) break;
            if (fmt == LS_FMT_TEXT) {
                if (n == 0) break;
                if (!in_doc) sink->begin(ctx, base + got - n), in_doc = 1, ndocs++;
                sink->text(ctx, buf, n, base + got);
                continue;
            }
            /* lines / jsonl: cut at '\n' (a last line without one counts too) */
            size_t i = 0;
            while (i < n || (n == 0 && line.n > 0)) {
                uint8_t *nl = n ? memchr(buf + i, '\n', n - i) : NULL;
                size_t take = nl ? (size_t)(nl - (buf + i)) : n - i;
                if (line.n + take > LS_MAX_LINE_BYTES)
                    ls_fatal("%s:%ld: line longer than %u MiB (use --format text for big "
                             "documents)", path, lineno + 1, LS_MAX_LINE_BYTES >> 20);
                ls_buf_reserve(&line, take);
                if (take) memcpy(line.p + line.n, buf + i, take);
                line.n += take;
                i += take + (nl ? 1 : 0);
                if (!nl && n > 0) break; /* line continues in the next chunk */
                lineno++;
                const uint8_t *d = line.p;
                size_t dn = line.n;
                if (fmt == LS_FMT_JSONL) {
                    size_t a = 0;
                    while (a < dn && (d[a] == ' ' || d[a] == '\t' || d[a] == '\r')) a++;
                    if (a < dn) {
                        jsonl_doc(path, lineno, (const char *)d, dn, &doc);
                        d = doc.p, dn = doc.n;
                    } else {
                        dn = 0;
                    }
                }
                if (dn > 0) {
                    uint64_t off = base + got - (n - i);
                    sink->begin(ctx, off);
                    sink->text(ctx, d, dn, off);
                    sink->end(ctx);
                    ndocs++;
                }
                line.n = 0;
            }
            if (n == 0) break;
        }
        int err = ferror(f);
        fclose(f);
        if (err) ls_fatal("error reading input file '%s'", path);
        if (got != (uint64_t)in->bytes[k])
            ls_fatal("input file '%s' changed size while being read (was %lld bytes)", path,
                     (long long)in->bytes[k]);
        if (in_doc) sink->end(ctx);
        base += got;
    }
    ls_free(buf);
    ls_buf_free(&line);
    ls_buf_free(&doc);
    return ndocs;
}
