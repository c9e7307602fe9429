/* error_trap.h - recoverable errors, for the fuzz harnesses (tests/fuzz/) only.
 *
 * Readers report bad input with ls_fatal, which ends the process: right for
 * the CLI, but a fuzzer must run millions of inputs in one process. While a
 * trap is armed, ls_fatal instead formats its line into trap->msg, releases
 * what the code under the trap allocated with ls_calloc, the files it opened
 * with ls_fopen and the shards it mapped and did not release, and longjmps to
 * trap->env:
 *
 *     static LsErrorTrap trap;
 *     if (setjmp(trap.env) == 0) {
 *         ls_trap_arm(&trap);
 *         ls_tokenizer_load(&tk, path);  // may "fail" with a longjmp
 *         ls_trap_disarm();              // tk's tables are now the caller's
 *         ...
 *         ls_tokenizer_free(&tk);
 *     } else {
 *         use trap.msg;                  // disarmed; nothing left allocated
 *     }
 *
 * Warnings under a trap are counted and kept (last one in trap->warning), not
 * printed. Anything else a reader holds at its ls_fatal (a raw fopen, a file
 * descriptor, a DIR) must be released before calling ls_fatal.
 *
 * Files are forgotten by ls_trap_forget_file(), which the fuzz build calls
 * from its fclose wrapper (linked with -Wl,--wrap=fclose), so the readers keep
 * calling plain fclose. A program that arms a trap must be linked that way.
 *
 * When no trap is armed (the CLI, always) the only cost is one test of a
 * global pointer in ls_calloc, ls_free, ls_fopen and the shard map/unmap. Not thread-safe: arm it
 * around single-threaded code. */
#ifndef LS_ERROR_TRAP_H
#define LS_ERROR_TRAP_H
#include <setjmp.h>
#include <stdio.h>

#include "error.h"

#define LS_TRAP_MSG_BYTES 8192

typedef struct {
    jmp_buf env;
    char msg[LS_TRAP_MSG_BYTES];     /* the error, without "llmscale: error: " */
    char warning[LS_TRAP_MSG_BYTES]; /* the last warning, without "llmscale: warning: " */
    int nwarnings;
} LsErrorTrap;

/* The armed trap, or NULL. */
extern LsErrorTrap *ls_trap_active;

/* Arm `t` (call right after setjmp(t->env) returned 0): clears msg/warnings
 * and starts tracking allocations and opened files. */
void ls_trap_arm(LsErrorTrap *t);
/* Disarm: what was allocated or opened under the trap stays, now owned by
 * the caller as usual. */
void ls_trap_disarm(void);
/* Tracked resources still held (allocations, files): for the harnesses'
 * own checks. */
size_t ls_trap_tracked(void);

/* Hooks for error.c, fileio.c and shard.c: start/stop tracking a resource. */
enum { LS_TRAP_MEM, LS_TRAP_FILE, LS_TRAP_MAP };
void ls_trap_track(void *p, int kind, size_t bytes);
void ls_trap_forget(void *p);
static inline void ls_trap_forget_file(FILE *f) {
    if (ls_trap_active) ls_trap_forget(f);
}
LS_NORETURN void ls_trap_fire(const char *line);
void ls_trap_warn(const char *line);

#endif
