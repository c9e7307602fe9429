/* cmd_eval.c - `llmscale eval`: mean loss of a model over the first K batches. */
#include <stdlib.h>
#include <string.h>

#include "../core/error.h"
#include "../data/loader.h"
#include "../model/gpt_io.h"
#include "../train/eval.h"
#include "args.h"
#include "commands.h"

static void usage(FILE *f) {
    fprintf(f,
            "usage: llmscale eval --init FILE|RUNDIR --data PATH [--batch B] [--seq T] [--batches K]\n"
            "\n"
            "Print the mean token loss over the first K consecutive batches of the data:\n"
            "batch i holds sequences i*B .. i*B+B-1, sequence s being x = tokens[s*T, s*T+T) and\n"
            "y = the same window shifted by one (no shuffling), as in training with --shuffle off.\n"
            "  --init FILE|RUNDIR  llm.c fp32 model file, or a run directory (newest checkpoint)\n"
            "  --data PATH         directory from 'llmscale prepare' (its train shards), a shard, or a glob\n"
            "  --split train|val   which shards of a prepared directory (default train)\n"
            "  --batch B           sequences per batch (default 4)\n"
            "  --seq T             sequence length (default: the model's max)\n"
            "  --batches K         number of batches (default 10)\n"
            "(models come from files; to train one of these presets see llmscale train --help)\n");
    gpt_print_presets(f);
}

int cmd_eval(int argc, char **argv) {
    if (ls_wants_help(argc, argv)) {
        usage(stdout);
        return 0;
    }
    const char *init = NULL, *data = NULL, *split = NULL;
    int B = 4, T = 0, K = 10;
    for (int i = 0; i < argc; i++) {
        const char *a = argv[i];
        if (ls_flag(a, "--init")) init = ls_str_arg(argc, argv, &i);
        else if (ls_flag(a, "--data")) data = ls_str_arg(argc, argv, &i);
        else if (ls_flag(a, "--split")) split = ls_str_arg(argc, argv, &i);
        else if (ls_flag(a, "--batch")) B = (int)ls_int_arg(argc, argv, &i, 1, 1 << 20);
        else if (ls_flag(a, "--seq")) T = (int)ls_int_arg(argc, argv, &i, 1, 1 << 20);
        else if (ls_flag(a, "--batches")) K = (int)ls_int_arg(argc, argv, &i, 1, 1 << 30);
        else ls_unknown_flag("eval", a);
    }
    if (!init) ls_fatal("eval needs --init FILE|RUNDIR (the model to evaluate)");
    if (!data) ls_fatal("eval needs --data PATH");
    if (split && strcmp(split, "train") && strcmp(split, "val"))
        ls_fatal("--split: '%s' must be train or val", split);
    char mpath[4096], tok[4096];
    cli_resolve_model(init, mpath, tok);
    GptConfig cfg;
    gpt_read_config(mpath, &cfg);
    if (T == 0) T = cfg.max_seq_len;
    if (T > cfg.max_seq_len)
        ls_fatal("--seq %d exceeds the model's max sequence length %d", T, cfg.max_seq_len);
    LsLoader ld;
    ls_loader_init(&ld, data, split ? split : "train", T, 0, 0);
    if (ls_loader_max_token(&ld) >= cfg.vocab_size)
        ls_fatal("data '%s' contains token id %d but the model's vocab is %d", data,
                 ls_loader_max_token(&ld), cfg.vocab_size);
    Gpt m;
    gpt_create(&m, &cfg, 0, cfg.num_layers, 1, 0);
    gpt_load(&m, mpath);
    double loss = eval_loss(&m, &ld, B, T, K);
    printf("eval: %s on %s: mean loss %.6f over %d batches of %d x %d tokens\n", mpath, data, loss,
           K, B, T);
    gpt_destroy(&m);
    ls_loader_free(&ld);
    return 0;
}
