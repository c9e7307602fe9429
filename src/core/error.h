/* error.h - fatal errors and warnings.
 *
 * llmscale is a command-line tool: an error a user can fix (bad flag, missing
 * or corrupt file, shape mismatch) is reported as ONE line on stderr,
 *     llmscale: error: <what is wrong> (<what to do>)
 * followed by exit status 1. Library code calls ls_fatal() instead of
 * returning error codes through every layer; a parallel build installs an
 * abort hook (e.g. MPI_Abort) so that one rank's error ends the whole job
 * instead of leaving the others hanging in a collective. */
#ifndef LS_ERROR_H
#define LS_ERROR_H
#include <stddef.h>
#include <stdio.h>

#if defined(__GNUC__)
#define LS_PRINTF(a, b) __attribute__((format(printf, a, b)))
#define LS_NORETURN __attribute__((noreturn))
#else
#define LS_PRINTF(a, b)
#define LS_NORETURN
#endif

/* Print "llmscale: error: ..." and terminate (exit 1, or the abort hook). */
LS_NORETURN void ls_fatal(const char *fmt, ...) LS_PRINTF(1, 2);
/* Print "llmscale: warning: ..." and continue. */
void ls_warn(const char *fmt, ...) LS_PRINTF(1, 2);
/* Print an informational line to stdout unless quiet mode is on. */
void ls_info(const char *fmt, ...) LS_PRINTF(1, 2);
void ls_set_quiet(int quiet);
/* In a multi-rank job: errors read "llmscale: error: [rank R] ...", and
 * warnings are printed by rank 0 only (every rank sees the same ones). */
void ls_set_rank_tag(int rank);
/* Called by ls_fatal after printing, instead of exit(1), when set. */
void ls_set_abort_hook(void (*hook)(int code));

/* Checked allocation: 64-byte aligned, zero-filled, fatal on failure.
 * `what` names the buffer in the error message. */
void *ls_calloc(size_t n, size_t size, const char *what);
void ls_free(void *p);
/* Grow an ls_calloc'd array of n_old elements to n_new (the first n_old kept,
 * the rest zero); frees the old one. */
void *ls_grow(void *old, size_t n_old, size_t n_new, size_t elem, const char *what);

#endif
