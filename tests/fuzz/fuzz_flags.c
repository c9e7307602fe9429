/* fuzz_flags.c - the flag parser (src/cli/args.c) through `llmscale train`'s
 * flags (train_parse_flags in src/cli/cmd_train.c, model_flags.c,
 * dtype_flag.c) up to the point where train would open files, then the
 * model a fresh run would build (model_flags_resolve). The input is the
 * argument list, NUL-separated. Nothing is trained and no file is touched.
 * Seeds: typical command lines, valid and not. */
#include <string.h>

#include "cli/train_flags.h"
#include "fuzz_common.h"
#include "kernels/cpu/kernels.h"

#define MAX_ARGS 64

void fuzz_setup(void) {}

void fuzz_seeds(const char *dir) {
    /* '|' separates the arguments here; the files hold NULs */
    static const char *lines[] = {
        "--data|d|--model|micro|--seq|16|--batch|2|--steps|2|--lr|3e-4",
        "--data=d|--layers=2|--dim=64|--heads=4|--vocab=300|--global-batch=8|--zero=1|--dtype=bf16",
        "--data|d|--resume|auto|--out|r|--lr-schedule|constant|--warmup|10|--shuffle|on",
        "--data|d|--model|tiny|--pp|2|--pp-schedule|interleaved|--virtual-stages|2|--recompute|full",
        "--data|d|--init|m.bin|--steps|1e3|--grad-clip|0|--seed|-1|--bucket-mb|0.5|--max-seq|8",
    };
    for (int k = 0; k < 5; k++) {
        char name[16], line[256];
        size_t n = strlen(lines[k]);
        for (size_t i = 0; i < n; i++) line[i] = lines[k][i] == '|' ? '\0' : lines[k][i];
        snprintf(name, sizeof name, "argv%d", k);
        fuzz_write_seed(dir, name, line, n);
    }
}

void fuzz_one(const uint8_t *data, size_t size) {
    /* argv: the NUL-separated pieces, each a NUL-terminated copy */
    static char buf[1 << 16];
    char *argv[MAX_ARGS + 1];
    int argc = 0;
    if (size >= sizeof buf) return;
    memcpy(buf, data, size);
    buf[size] = '\0';
    for (size_t i = 0; i <= size && argc < MAX_ARGS;) {
        argv[argc++] = buf + i;
        i += strlen(buf + i) + 1;
    }
    if (size == 0) argc = 0;
    argv[argc] = NULL;
    TrainOpts o;
    ModelFlags mf;
    int threads;
    if (setjmp(fuzz_trap.env) == 0) {
        ls_trap_arm(&fuzz_trap);
        train_parse_flags(argc, argv, &o, &mf, &threads);
        if (!o.init && !o.resume) {
            GptConfig c;
            model_flags_resolve(&mf, 0, &c);
        }
        ls_trap_disarm();
        fuzz_accepted();
    } else {
        fuzz_rejected();
    }
    matmul_set_dtype(LS_DTYPE_F32); /* --dtype bf16 is process-wide */
    }
