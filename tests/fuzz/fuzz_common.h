/* fuzz_common.h - what every libFuzzer harness in tests/fuzz/ shares.
 *
 * A harness defines
 *     void fuzz_one(const uint8_t *data, size_t size)   one input
 *     void fuzz_setup(void)              fixtures made once per process
 *     void fuzz_seeds(const char *dir)   write a small seed corpus into dir
 * and runs each reader under the error trap (src/core/error_trap.h):
 *     if (setjmp(fuzz_trap.env) == 0) { ls_trap_arm(&fuzz_trap); READ; ls_trap_disarm(); ... }
 *     else fuzz_rejected();
 * fuzz_rejected() aborts (a fuzzer finding) unless the rejection left a clear
 * error: a non-empty message on one line, and nothing allocated or opened.
 * After each input, no file descriptor may be left open.
 *
 * Running a harness with LS_FUZZ_SEEDS=DIR writes the seeds and exits. */
#ifndef LS_FUZZ_COMMON_H
#define LS_FUZZ_COMMON_H
#include <setjmp.h>
#include <stddef.h>
#include <stdint.h>

#include "core/error_trap.h"
#include "data/tokenizer.h"

extern LsErrorTrap fuzz_trap;

void fuzz_one(const uint8_t *data, size_t size);
void fuzz_setup(void);
void fuzz_seeds(const char *dir);

/* This process's scratch directory (removed at exit). */
const char *fuzz_dir(void);
/* fuzz_dir()/name into buf (4096 bytes); returns buf. */
char *fuzz_path(char *buf, const char *name);
/* Write n bytes to path (plain stdio; fatal for the harness on failure). */
void fuzz_write(const char *path, const void *data, size_t n);
/* dir/name <- data (for seeds) */
void fuzz_write_seed(const char *dir, const char *name, const void *data, size_t n);
/* Bytes of a file (malloc'd) and its size; the harness frees it. */
uint8_t *fuzz_read(const char *path, size_t *n);

/* After a trapped error: check it and count it. */
void fuzz_rejected(void);
/* After an accepted input: warnings were one line each, nothing left tracked,
 * no file descriptor leaked. */
void fuzz_accepted(void);
/* BPE-encode a sample text with tk and check it decodes back (a finding if
 * not); a table ls_bpe_init refuses must be refused clearly. */
void fuzz_bpe_roundtrip(const LsTokenizer *tk);
/* Abort with a message (a finding). */
void fuzz_fail(const char *fmt, ...) __attribute__((noreturn, format(printf, 1, 2)));

#endif
