/* error.c - see error.h. */
#include "error.h"

#include <stdarg.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "error_trap.h"

#define LS_HUGE_PAGE ((size_t)2 << 20)
#define LS_HUGE_MIN ((size_t)4 << 20) /* buffers from 4 MiB on */

static int g_quiet = 0;
static void (*g_abort_hook)(int) = NULL;
static int g_rank = -1;

void ls_set_rank_tag(int rank) { g_rank = rank; }

void ls_set_quiet(int quiet) { g_quiet = quiet; }
void ls_set_abort_hook(void (*hook)(int code)) { g_abort_hook = hook; }

/* The message as ONE line: control characters that a file name, a flag value
 * or a file's bytes may carry into it are written as \n, \t, \xNN. */
static void format_line(char *out, size_t cap, const char *fmt, va_list ap) {
    char raw[LS_TRAP_MSG_BYTES];
    vsnprintf(raw, sizeof raw, fmt, ap);
    size_t o = 0;
    for (const unsigned char *p = (const unsigned char *)raw; *p && o + 5 < cap; p++) {
        if (*p >= 0x20 && *p != 0x7f) out[o++] = (char)*p;
        else if (*p == '\n') out[o++] = '\\', out[o++] = 'n';
        else if (*p == '\t') out[o++] = '\\', out[o++] = 't';
        else o += (size_t)snprintf(out + o, cap - o, "\\x%02x", *p);
    }
    out[o] = '\0';
}

/* "llmscale: <kind>: [rank r] <line>\n" in ONE write: under mpirun a rank's
 * stderr reaches the terminal through a pipe, and a line written in pieces
 * could be cut by another process's output (Open MPI's MPI_Abort banner was
 * seen between the prefix and the message). */
static void emit(const char *kind, int tagged, const char *line) {
    char out[LS_TRAP_MSG_BYTES + 64], tag[32] = "";
    if (tagged && g_rank >= 0) snprintf(tag, sizeof tag, "[rank %d] ", g_rank);
    int n = snprintf(out, sizeof out, "llmscale: %s: %s%s\n", kind, tag, line);
    if (n < 0) return;
    if ((size_t)n >= sizeof out) n = (int)sizeof out - 1, out[n - 1] = '\n';
    fflush(stderr);
    for (const char *p = out; n > 0;) {
        ssize_t w = write(STDERR_FILENO, p, (size_t)n);
        if (w <= 0) break;
        p += w, n -= (int)w;
    }
}

void ls_fatal(const char *fmt, ...) {
    char line[LS_TRAP_MSG_BYTES];
    va_list ap;
    va_start(ap, fmt);
    format_line(line, sizeof line, fmt, ap);
    va_end(ap);
    if (ls_trap_active) ls_trap_fire(line); /* a fuzz harness: recover instead of exiting */
    fflush(stdout);
    /* An error every rank detects (a bad flag, a missing file) should read as
     * one line: ranks other than 0 give rank 0 a moment to report and abort
     * the job first; an error only this rank sees still prints after it. */
    if (g_rank > 0 && g_abort_hook) sleep(2);
    emit("error", 1, line);
    if (g_abort_hook) g_abort_hook(1);
    exit(1);
}

void ls_warn(const char *fmt, ...) {
    if (g_rank > 0) return;
    char line[LS_TRAP_MSG_BYTES];
    va_list ap;
    va_start(ap, fmt);
    format_line(line, sizeof line, fmt, ap);
    va_end(ap);
    if (ls_trap_active) {
        ls_trap_warn(line);
        return;
    }
    fflush(stdout);
    emit("warning", 0, line);
}

void ls_info(const char *fmt, ...) {
    if (g_quiet) return;
    va_list ap;
    va_start(ap, fmt);
    vfprintf(stdout, fmt, ap);
    va_end(ap);
    fputc('\n', stdout);
    fflush(stdout);
}

void *ls_calloc(size_t n, size_t size, const char *what) {
    if (n == 0 || size == 0) n = 1, size = 1;
    if (n > SIZE_MAX / size)
        ls_fatal("allocation of %s overflows (%zu x %zu bytes)", what, n, size);
    size_t bytes = n * size;
    size_t rounded = (bytes + 63) & ~(size_t)63;
    /* Large buffers (weights, gradients, AdamW's moments, activations) on
     * 2 MiB-aligned whole huge pages, and asked for as transparent huge pages
     * (Linux's THP is often "madvise" only): one TLB entry per 2 MiB instead
     * of per 4 KiB, for kernels that stream them or stride across rows. */
    size_t align = 64;
    if (rounded >= LS_HUGE_MIN) {
        align = LS_HUGE_PAGE;
        rounded = (rounded + LS_HUGE_PAGE - 1) & ~(size_t)(LS_HUGE_PAGE - 1);
    }
    void *p = aligned_alloc(align, rounded);
#ifdef MADV_HUGEPAGE
    if (p && align == LS_HUGE_PAGE && !getenv("LLMSCALE_NO_HUGEPAGES")) madvise(p, rounded, MADV_HUGEPAGE);
#endif
    if (!p)
        ls_fatal("out of memory allocating %s (%.1f MiB); use a smaller model or batch",
                 what, (double)bytes / (1 << 20));
    memset(p, 0, rounded);
    if (ls_trap_active) ls_trap_track(p, LS_TRAP_MEM, 0);
    return p;
}

void ls_free(void *p) {
    if (ls_trap_active) ls_trap_forget(p);
    free(p);
}

void *ls_grow(void *old, size_t n_old, size_t n_new, size_t elem, const char *what) {
    void *p = ls_calloc(n_new, elem, what);
    if (n_old) memcpy(p, old, n_old * elem);
    ls_free(old);
    return p;
}
