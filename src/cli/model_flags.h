/* model_flags.h - the model-shape flags shared by train and bench:
 * --model PRESET, --layers, --dim, --heads, --seq, --max-seq, --vocab, and
 * their resolution into a GptConfig. */
#ifndef LS_MODEL_FLAGS_H
#define LS_MODEL_FLAGS_H
#include <stdio.h>

#include "../model/gpt_config.h"

typedef struct {
    const char *preset;
    int layers, dim, heads, seq, max_seq, vocab; /* 0 = not given */
} ModelFlags;

/* If argv[*i] is a model flag, consume it (and its value) and return 1. */
int model_flags_parse(ModelFlags *mf, int argc, char **argv, int *i);
int model_flags_any_shape(const ModelFlags *mf);
/* Build the config: preset (if any), then explicit flags on top. vocab_hint is
 * used when neither the preset nor --vocab gives a vocabulary (0 = none). */
void model_flags_resolve(const ModelFlags *mf, int vocab_hint, GptConfig *cfg);
void model_flags_help(FILE *f);
/* With --init/--resume the file defines the model; shape flags given anyway
 * (e.g. the first run's command line) must describe the same model. */
void model_flags_check_against(const ModelFlags *mf, const GptConfig *have, const char *source);
/* Megatron-DeepSpeed-style environment defaults: MODEL_SIZE_KEY, SEQ_LEN. */
void model_flags_from_env(ModelFlags *mf);

#endif
