/* main.c - `llmscale COMMAND [flags]`: git-style subcommands. */
#include <stdio.h>
#include <string.h>

#include "../core/blas_setup.h"
#include "../core/error.h"
#include "../model/gpt_config.h"
#include "commands.h"

static void usage(FILE *f) {
    fprintf(f,
            "llmscale - train GPT-style language models in C, from one core to many ranks\n"
            "\n"
            "usage: llmscale COMMAND [flags]     (llmscale COMMAND --help for its flags)\n"
            "\n"
            "commands:\n"
            "  prepare   text -> tokenizer (byte-level, trained BPE, GPT-2's) + train/val token shards\n"
            "  tokenize  encode text to token ids, or decode ids to text, with a tokenizer\n"
            "  train     train a GPT (AdamW, schedules, clipping, accumulation, checkpoints, metrics)\n"
            "  eval      mean loss of a model over the first K batches of a shard\n"
            "  sample    generate text from a model or run directory (KV cache, temperature, top-k)\n"
            "  info      describe a model, shard or tokenizer file\n"
            "  bench     measure this machine and time training steps (tokens/s, MFU)\n"
            "  plan      predict memory, step time, TFLOP/s, MFU of a model on a cluster; search layouts\n"
            "\n");
    gpt_print_presets(f);
}

int main(int argc, char **argv) {
    ls_blas_setup(argc, argv); /* may re-exec once to select OpenBLAS's AVX-512 kernels */
    if (argc < 2) {
        usage(stdout);
        ls_fatal("no command given (see the list above, or llmscale --help)");
    }
    const char *cmd = argv[1];
    int n = argc - 2;
    char **rest = argv + 2;
    if (!strcmp(cmd, "--help") || !strcmp(cmd, "-h") || !strcmp(cmd, "help")) {
        usage(stdout);
        return 0;
    }
    if (!strcmp(cmd, "prepare")) return cmd_prepare(n, rest);
    if (!strcmp(cmd, "train")) return cmd_train(n, rest);
    if (!strcmp(cmd, "eval")) return cmd_eval(n, rest);
    if (!strcmp(cmd, "sample")) return cmd_sample(n, rest);
    if (!strcmp(cmd, "info")) return cmd_info(n, rest);
    if (!strcmp(cmd, "bench")) return cmd_bench(n, rest);
    if (!strcmp(cmd, "tokenize")) return cmd_tokenize(n, rest);
    if (!strcmp(cmd, "plan")) return cmd_plan(n, rest);
    ls_fatal("unknown command '%s' (commands: prepare tokenize train eval sample info bench plan; see llmscale --help)", cmd);
}
