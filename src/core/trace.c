/* trace.c - Chrome trace-event JSON (see trace.h). */
#define _POSIX_C_SOURCE 200809L
#include "trace.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "fileio.h"

void ls_trace_init(LsTrace *t, int rank, double t0, const char *label) {
    memset(t, 0, sizeof *t);
    t->pid = rank;
    t->t0 = t0;
    if (label)
        snprintf(t->label, sizeof t->label, "%s", label);
    else
        snprintf(t->label, sizeof t->label, "rank %d", rank);
}

void ls_trace_name_lane(LsTrace *t, int tid, const char *name) {
    if (tid < 0 || tid >= LS_TRACE_LANES) ls_fatal("trace lane %d is outside 0..%d", tid, LS_TRACE_LANES - 1);
    snprintf(t->lane[tid], sizeof t->lane[tid], "%s", name);
}

void ls_trace_add(LsTrace *t, const char *cat, int tid, double start_s, double end_s, const char *fmt, ...) {
    if (t->n == t->cap) {
        size_t cap = t->cap ? 2 * t->cap : 256;
        t->ev = ls_grow(t->ev, t->n, cap, sizeof *t->ev, "trace events");
        t->cap = cap;
    }
    LsTraceEvent *e = &t->ev[t->n++];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(e->name, sizeof e->name, fmt, ap);
    va_end(ap);
    e->cat = cat;
    e->tid = tid;
    e->ts_us = (start_s - t->t0) * 1e6;
    e->dur_us = end_s > start_s ? (end_s - start_s) * 1e6 : 0;
}

void ls_trace_free(LsTrace *t) {
    ls_free(t->ev);
    t->ev = NULL;
    t->n = t->cap = 0;
}

/* s as a JSON string (quotes, backslashes and control bytes escaped) */
static void put_string(char *out, size_t cap, const char *s) {
    size_t k = 0;
    out[k++] = '"';
    for (; *s && k + 8 < cap; s++) {
        unsigned char ch = (unsigned char)*s;
        if (ch == '"' || ch == '\\') {
            out[k++] = '\\';
            out[k++] = (char)ch;
        } else if (ch < 0x20) {
            k += (size_t)snprintf(out + k, cap - k, "\\u%04x", ch);
        } else {
            out[k++] = (char)ch;
        }
    }
    out[k++] = '"';
    out[k] = 0;
}

static void part_path(char *out, size_t cap, const char *path, int rank) {
    if ((size_t)snprintf(out, cap, "%s.rank%d", path, rank) >= cap) ls_fatal("trace path too long: '%s'", path);
}

static void write_line(LsAtomicFile *af, const char *line) {
    ls_atomic_write(af, line, strlen(line));
    ls_atomic_write(af, "\n", 1);
}

void ls_trace_write_part(const LsTrace *t, const char *path) {
    char part[4200], line[640], name[320], cat[80];
    part_path(part, sizeof part, path, t->pid);
    LsAtomicFile af;
    ls_atomic_open(&af, part);
    /* metadata: the lane group's name and its place (rank order) */
    put_string(name, sizeof name, t->label);
    snprintf(line, sizeof line, "{\"name\":\"process_name\",\"ph\":\"M\",\"pid\":%d,\"args\":{\"name\":%s}}", t->pid,
             name);
    write_line(&af, line);
    snprintf(line, sizeof line, "{\"name\":\"process_sort_index\",\"ph\":\"M\",\"pid\":%d,\"args\":{\"sort_index\":%d}}",
             t->pid, t->pid);
    write_line(&af, line);
    for (int tid = 0; tid < LS_TRACE_LANES; tid++) {
        if (!t->lane[tid][0]) continue;
        put_string(name, sizeof name, t->lane[tid]);
        snprintf(line, sizeof line,
                 "{\"name\":\"thread_name\",\"ph\":\"M\",\"pid\":%d,\"tid\":%d,\"args\":{\"name\":%s}}", t->pid, tid,
                 name);
        write_line(&af, line);
    }
    for (size_t i = 0; i < t->n; i++) {
        const LsTraceEvent *e = &t->ev[i];
        put_string(name, sizeof name, e->name);
        put_string(cat, sizeof cat, e->cat ? e->cat : "");
        snprintf(line, sizeof line, "{\"name\":%s,\"cat\":%s,\"ph\":\"X\",\"pid\":%d,\"tid\":%d,\"ts\":%.3f,\"dur\":%.3f}",
                 name, cat, t->pid, e->tid, e->ts_us, e->dur_us);
        write_line(&af, line);
    }
    ls_atomic_commit(&af);
}

void ls_trace_merge(const char *path, int nranks) {
    char part[4200];
    /* every part first: a missing one fails before anything is written */
    for (int r = 0; r < nranks; r++) {
        part_path(part, sizeof part, path, r);
        if (access(part, R_OK) != 0)
            ls_fatal("trace part '%s' is missing: rank %d did not write it (ranks on several nodes need "
                     "--trace on a shared file system)", part, r);
    }
    LsAtomicFile af;
    ls_atomic_open(&af, path);
    const char *head = "{\"traceEvents\":[\n";
    ls_atomic_write(&af, head, strlen(head));
    char *line = NULL;
    size_t cap = 0;
    int first = 1;
    for (int r = 0; r < nranks; r++) {
        part_path(part, sizeof part, path, r);
        FILE *f = ls_fopen(part, "rb", "trace part");
        ssize_t len;
        while ((len = getline(&line, &cap, f)) > 0) {
            while (len > 0 && (line[len - 1] == '\n' || line[len - 1] == '\r')) line[--len] = 0;
            if (len == 0) continue;
            if (!first) ls_atomic_write(&af, ",\n", 2);
            ls_atomic_write(&af, line, (size_t)len);
            first = 0;
        }
        fclose(f);
    }
    free(line);
    const char *tail = "\n],\"displayTimeUnit\":\"ms\"}\n";
    ls_atomic_write(&af, tail, strlen(tail));
    ls_atomic_commit(&af);
    for (int r = 0; r < nranks; r++) {
        part_path(part, sizeof part, path, r);
        if (unlink(part) != 0) ls_warn("could not remove trace part '%s': %s", part, strerror(errno));
    }
}
