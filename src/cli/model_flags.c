/* model_flags.c - see model_flags.h. */
#include "model_flags.h"

#include <stdlib.h>
#include <string.h>

#include "../core/error.h"
#include "args.h"

int model_flags_parse(ModelFlags *mf, int argc, char **argv, int *i) {
    const char *a = argv[*i];
    if (ls_flag(a, "--model")) mf->preset = ls_str_arg(argc, argv, i);
    else if (ls_flag(a, "--layers")) mf->layers = (int)ls_int_arg(argc, argv, i, 1, 4096);
    else if (ls_flag(a, "--dim")) mf->dim = (int)ls_int_arg(argc, argv, i, 1, 1 << 17);
    else if (ls_flag(a, "--heads")) mf->heads = (int)ls_int_arg(argc, argv, i, 1, 1 << 14);
    else if (ls_flag(a, "--seq")) mf->seq = (int)ls_int_arg(argc, argv, i, 1, 1 << 20);
    else if (ls_flag(a, "--max-seq")) mf->max_seq = (int)ls_int_arg(argc, argv, i, 1, 1 << 20);
    else if (ls_flag(a, "--vocab")) mf->vocab = (int)ls_int_arg(argc, argv, i, 2, 1 << 24);
    else return 0;
    return 1;
}

int model_flags_any_shape(const ModelFlags *mf) {
    return mf->preset || mf->layers || mf->dim || mf->heads || mf->max_seq || mf->vocab;
}

void model_flags_from_env(ModelFlags *mf) {
    const char *s = getenv("MODEL_SIZE_KEY");
    if (s && *s) mf->preset = s;
    s = getenv("SEQ_LEN");
    if (s && *s) mf->seq = (int)ls_parse_int("SEQ_LEN", s, 1, 1 << 20);
}

void model_flags_resolve(const ModelFlags *mf, int vocab_hint, GptConfig *cfg) {
    memset(cfg, 0, sizeof *cfg);
    int have_preset = 0;
    if (mf->preset) {
        if (!gpt_preset(mf->preset, cfg))
            ls_fatal("unknown model preset '%s' (presets: %s)", mf->preset, gpt_preset_names());
        have_preset = 1;
        if (vocab_hint > 0 && !mf->vocab) cfg->vocab_size = vocab_hint;
    } else {
        if (!mf->layers || !mf->dim || !mf->heads)
            ls_fatal("no model given: use --model PRESET (see --help) or all of --layers --dim --heads");
        cfg->vocab_size = vocab_hint > 0 ? vocab_hint : 0;
        cfg->max_seq_len = 0;
    }
    if (mf->layers) cfg->num_layers = mf->layers;
    if (mf->dim) cfg->channels = mf->dim;
    if (mf->heads) cfg->num_heads = mf->heads;
    if (mf->vocab) cfg->vocab_size = mf->vocab;
    if (cfg->vocab_size <= 0)
        ls_fatal("no vocabulary size: give --vocab V (or --data DIR with a tokenizer.bin)");
    if (mf->max_seq) cfg->max_seq_len = mf->max_seq;
    else if (!have_preset) cfg->max_seq_len = mf->seq ? mf->seq : 1024;
    cfg->padded_vocab_size = gpt_pad_vocab(cfg->vocab_size, 128);
    if (mf->seq && mf->seq > cfg->max_seq_len)
        ls_fatal("--seq %d exceeds the model's max sequence length %d (raise --max-seq)", mf->seq,
                 cfg->max_seq_len);
    gpt_config_validate(cfg);
}

void model_flags_check_against(const ModelFlags *mf, const GptConfig *have, const char *source) {
    GptConfig want = *have;
    if (mf->preset) {
        GptConfig p;
        if (!gpt_preset(mf->preset, &p))
            ls_fatal("unknown model preset '%s' (presets: %s)", mf->preset, gpt_preset_names());
        want.num_layers = p.num_layers;
        want.channels = p.channels;
        want.num_heads = p.num_heads;
        want.max_seq_len = p.max_seq_len;
    }
    if (mf->layers) want.num_layers = mf->layers;
    if (mf->dim) want.channels = mf->dim;
    if (mf->heads) want.num_heads = mf->heads;
    if (mf->vocab) want.vocab_size = mf->vocab;
    if (mf->max_seq) want.max_seq_len = mf->max_seq;
    if (want.num_layers != have->num_layers || want.channels != have->channels ||
        want.num_heads != have->num_heads || want.vocab_size != have->vocab_size ||
        want.max_seq_len != have->max_seq_len)
        ls_fatal("the model flags (L=%d C=%d NH=%d V=%d maxT=%d) differ from the %s "
                 "(L=%d C=%d NH=%d V=%d maxT=%d); drop them or make them match",
                 want.num_layers, want.channels, want.num_heads, want.vocab_size, want.max_seq_len,
                 source, have->num_layers, have->channels, have->num_heads, have->vocab_size,
                 have->max_seq_len);
}

void model_flags_help(FILE *f) {
    fprintf(f,
            "model:\n"
            "  --model NAME        preset (list below); the flags below override its fields\n"
            "  --layers L          transformer blocks\n"
            "  --dim C             channels (hidden size)\n"
            "  --heads H           attention heads (must divide C)\n"
            "  --seq T             training sequence length (default: the model's max)\n"
            "  --max-seq N         position-embedding rows (default: preset's, else --seq)\n"
            "  --vocab V           vocabulary (default: preset's, or the data's tokenizer);\n"
            "                      padded to a multiple of 128 for the LM head\n");
    gpt_print_presets(f);
}
