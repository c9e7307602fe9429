/* gpt_config.c - presets and validation. */
#include "gpt_config.h"

#include <string.h>

#include "../core/error.h"

typedef struct {
    const char *name;
    int L, C, NH, T, V;
    const char *note;
} Preset;

/* GPT-2 sizes (Radford et al. 2019), the ALCF Megatron-DeepSpeed MODEL_SIZE_KEY
 * sizes (GPT-3 family shapes, Brown et al. 2020), and tiny models for tests.
 * T and V are defaults: --seq and --vocab override them. */
static const Preset PRESETS[] = {
    {"micro", 2, 32, 4, 16, 257, "tests: 2 layers, byte vocab"},
    {"tiny", 4, 128, 4, 128, 257, "demo: ~0.9M params, byte vocab"},
    {"small", 6, 256, 8, 256, 257, "~4.8M params, byte vocab"},
    {"gpt2", 12, 768, 12, 1024, 50257, "GPT-2 124M"},
    {"gpt2-medium", 24, 1024, 16, 1024, 50257, "GPT-2 350M"},
    {"gpt2-large", 36, 1280, 20, 1024, 50257, "GPT-2 774M"},
    {"gpt2-xl", 48, 1600, 25, 1024, 50257, "GPT-2 1558M"},
    {"GPT125M", 12, 768, 16, 2048, 50257, "ALCF / GPT-3 Small"},
    {"GPT350M", 24, 1024, 16, 2048, 50257, "GPT-3 Medium"},
    {"GPT760M", 24, 1536, 16, 2048, 50257, "GPT-3 XL-ish"},
    {"GPT1_5B", 48, 1536, 24, 2048, 50257, "ALCF 1.5B"},
    {"GPT2_7B", 32, 2560, 32, 2048, 50257, "GPT-3 2.7B"},
    {"GPT6_7B", 32, 4096, 32, 2048, 50257, "GPT-3 6.7B"},
    {"GPT13B", 40, 5120, 64, 2048, 50257, "ALCF 13B"},
    {"GPT25B", 64, 6144, 64, 2048, 50257, "ALCF 25B"},
    {"GPT30B", 64, 6144, 64, 2048, 50257, "ALCF 30B"},
    {"GPT33B", 80, 6144, 64, 2048, 50257, "ALCF 33B"},
    {"GPT145B", 80, 12288, 96, 2048, 50257, "ALCF 145B"},
    {"GPT175B", 96, 12288, 96, 2048, 50257, "GPT-3 175B"},
};
#define NPRESETS ((int)(sizeof PRESETS / sizeof PRESETS[0]))

int gpt_pad_vocab(int V, int multiple) { return ((V + multiple - 1) / multiple) * multiple; }

int gpt_preset(const char *name, GptConfig *cfg) {
    for (int i = 0; i < NPRESETS; i++) {
        if (strcmp(PRESETS[i].name, name) == 0) {
            const Preset *p = &PRESETS[i];
            cfg->num_layers = p->L;
            cfg->channels = p->C;
            cfg->num_heads = p->NH;
            cfg->max_seq_len = p->T;
            cfg->vocab_size = p->V;
            cfg->padded_vocab_size = gpt_pad_vocab(p->V, 128);
            return 1;
        }
    }
    return 0;
}

const char *gpt_preset_names(void) {
    static char names[1024];
    if (!names[0])
        for (int i = 0; i < NPRESETS; i++) {
            if (i) strcat(names, ", ");
            strcat(names, PRESETS[i].name);
        }
    return names;
}

void gpt_print_presets(FILE *f) {
    fprintf(f, "  presets (--model NAME): layers/dim/heads, default seq, vocab\n");
    for (int i = 0; i < NPRESETS; i++) {
        const Preset *p = &PRESETS[i];
        GptConfig c = {p->T, p->V, gpt_pad_vocab(p->V, 128), p->L, p->NH, p->C};
        double n = (double)gpt_num_params(&c);
        fprintf(f, "    %-12s %3d/%5d/%3d  seq %4d  vocab %5d  %8.3gM params  %s\n", p->name, p->L,
                p->C, p->NH, p->T, p->V, n / 1e6, p->note);
    }
}

const char *gpt_config_problem(const GptConfig *c, char *buf, size_t n) {
    if (c->num_layers < 1 || c->num_layers > 4096)
        snprintf(buf, n, "layers must be in [1, 4096], got %d", c->num_layers);
    else if (c->channels < 1 || c->channels > 1 << 17)
        snprintf(buf, n, "dim (channels) must be in [1, 131072], got %d", c->channels);
    else if (c->num_heads < 1) snprintf(buf, n, "heads must be >= 1, got %d", c->num_heads);
    else if (c->channels % c->num_heads != 0)
        snprintf(buf, n, "heads (%d) must divide dim (%d)", c->num_heads, c->channels);
    else if (c->max_seq_len < 1 || c->max_seq_len > 1 << 20)
        snprintf(buf, n, "max sequence length must be in [1, 1048576], got %d", c->max_seq_len);
    else if (c->vocab_size < 2 || c->vocab_size > 1 << 24)
        snprintf(buf, n, "vocab must be in [2, 16777216], got %d", c->vocab_size);
    else if (c->padded_vocab_size < c->vocab_size)
        snprintf(buf, n, "padded vocab (%d) is smaller than vocab (%d)", c->padded_vocab_size,
                 c->vocab_size);
    else return NULL;
    return buf;
}

void gpt_config_validate(const GptConfig *c) {
    char why[160];
    if (gpt_config_problem(c, why, sizeof why)) ls_fatal("%s", why);
    if (c->vocab_size > 65536)
        ls_warn("vocab %d exceeds what uint16 token shards can address (65536)", c->vocab_size);
}

double gpt_num_params_d(const GptConfig *c) {
    double L = c->num_layers, C = c->channels, Vp = c->padded_vocab_size, T = c->max_seq_len;
    /* per layer: ln1 2C, qkv 3C*C + 3C, attproj C*C + C, ln2 2C, fc 4C*C + 4C, fcproj 4C*C + C */
    double per_layer = 12.0 * C * C + 13.0 * C;
    return Vp * C + T * C + L * per_layer + 2.0 * C;
}

size_t gpt_num_params(const GptConfig *c) { return (size_t)gpt_num_params_d(c); }

double gpt_flops_per_token(const GptConfig *c, int T) {
    double N = (double)gpt_num_params(c) - (double)c->max_seq_len * c->channels;
    return 6.0 * N + 12.0 * c->num_layers * (double)c->channels * T;
}
