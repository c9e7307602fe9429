/* gpt_io.c - see gpt_io.h. */
#include "gpt_io.h"

#include <math.h>
#include <string.h>

#include "../core/error.h"

static const char *what_magic(int magic) {
    if (magic == 20240520) return " (this is a token shard, not a model file)";
    if (magic == 20240328) return " (this is a tokenizer file, not a model file)";
    return "";
}

void gpt_read_config(const char *path, GptConfig *cfg) {
    int64_t size = ls_file_size(path);
    if (size < 0) ls_fatal("model file '%s' does not exist or is not a regular file", path);
    if (size < 1024)
        ls_fatal("model file '%s' is truncated: %lld bytes, smaller than the 1024-byte header", path,
                 (long long)size);
    FILE *f = ls_fopen(path, "rb", "model file");
    int32_t h[256];
    ls_fread_exact(h, sizeof h, f, path, "model file");
    fclose(f);
    if (h[0] != GPT_MODEL_MAGIC)
        ls_fatal("'%s' is not an llm.c GPT-2 model file: magic %d, expected %d%s", path, h[0],
                 GPT_MODEL_MAGIC, what_magic(h[0]));
    if (h[1] == 5)
        ls_fatal("model file '%s' is llm.c's bf16 format (version 5); only fp32 (version 3) is "
                 "supported: export an fp32 checkpoint", path);
    if (h[1] != GPT_MODEL_VERSION)
        ls_fatal("model file '%s' has version %d; expected %d (fp32)", path, h[1], GPT_MODEL_VERSION);
    cfg->max_seq_len = h[2];
    cfg->vocab_size = h[3];
    cfg->num_layers = h[4];
    cfg->num_heads = h[5];
    cfg->channels = h[6];
    cfg->padded_vocab_size = h[7] ? h[7] : h[3];
    /* header sanity before trusting any size computed from it */
    if (h[2] <= 0 || h[3] <= 0 || h[4] <= 0 || h[5] <= 0 || h[6] <= 0 || cfg->padded_vocab_size <= 0)
        ls_fatal("model file '%s' has a corrupt header: maxT=%d V=%d L=%d NH=%d C=%d Vp=%d", path,
                 h[2], h[3], h[4], h[5], h[6], h[7]);
    if (cfg->channels % cfg->num_heads != 0)
        ls_fatal("model file '%s' has a corrupt header: heads %d do not divide dim %d", path, h[5],
                 h[6]);
    if (cfg->padded_vocab_size < cfg->vocab_size)
        ls_fatal("model file '%s' has a corrupt header: padded vocab %d < vocab %d", path,
                 cfg->padded_vocab_size, cfg->vocab_size);
    /* the size check comes before gpt_config_validate, so a bad file gets one error line and
     * not a warning first (e.g. vocab > 65536); in double, as the header is not yet bounded */
    double expect = 1024.0 + 4.0 * gpt_num_params_d(cfg);
    if ((double)size != expect)
        ls_fatal("model file '%s' has %lld bytes but its header (L=%d C=%d V=%d Vp=%d maxT=%d) "
                 "needs %.0f: the file is %s",
                 path, (long long)size, cfg->num_layers, cfg->channels, cfg->vocab_size,
                 cfg->padded_vocab_size, cfg->max_seq_len, expect,
                 (double)size < expect ? "truncated" : "too long (corrupt)");
    char why[160];
    if (gpt_config_problem(cfg, why, sizeof why))
        ls_fatal("model file '%s' has a header this build cannot use: %s", path, why);
    gpt_config_validate(cfg); /* the warnings */
}

/* Canonical order: for each kind, every layer (or the single tensor). */
#define FOR_CANONICAL(cfg, kind, layer)                                                    \
    for (int kind = 0; kind < T_NUM_KINDS; kind++)                                         \
        for (int layer = gpt_kind_is_per_layer(kind) ? 0 : -1;                             \
             layer < (gpt_kind_is_per_layer(kind) ? (cfg)->num_layers : 0); layer++)

void gpt_write_canonical(const GptLayout *lay, const float *flat, LsAtomicFile *af) {
    const GptConfig *c = &lay->cfg;
    if (!lay->has_embed || !lay->has_head || lay->tp != 1)
        ls_fatal("internal: writing a canonical file needs the whole model on this rank");
    FOR_CANONICAL(c, kind, layer) {
        const GptTensor *t = gpt_layout_find(lay, kind, layer);
        ls_atomic_write(af, flat + t->offset, sizeof(float) * (size_t)t->rows * t->cols);
    }
}

void gpt_read_canonical(const GptLayout *lay, float *flat, FILE *f, const char *path,
                        const char *what) {
    const GptConfig *c = &lay->cfg;
    size_t maxn = 0;
    FOR_CANONICAL(c, kind, layer) {
        int r, k;
        gpt_full_shape(c, kind, &r, &k);
        if ((size_t)r * k > maxn) maxn = (size_t)r * k;
    }
    float *full = ls_calloc(maxn, sizeof(float), "tensor read buffer");
    FOR_CANONICAL(c, kind, layer) {
        int r, k;
        gpt_full_shape(c, kind, &r, &k);
        const GptTensor *t = gpt_layout_find(lay, kind, layer);
        if (!t) { /* not on this rank: skip its bytes */
            if (fseek(f, (long)sizeof(float) * r * k, SEEK_CUR) != 0)
                ls_fatal("%s '%s' is truncated", what, path);
            continue;
        }
        ls_fread_exact(full, sizeof(float) * (size_t)r * k, f, path, what);
        /* A NaN or Inf can only come from corruption or a diverged run; training
         * from it would skip every step, so refuse the file here, by name. */
        for (size_t i = 0; i < (size_t)r * k; i++)
            if (!isfinite(full[i])) {
                if (layer >= 0)
                    ls_fatal("%s '%s': %s of layer %d holds a non-finite value (NaN or Inf) at "
                             "element %zu: the file is corrupt or was saved from a diverged run",
                             what, path, GPT_TENSOR_NAMES[kind], layer, i);
                ls_fatal("%s '%s': %s holds a non-finite value (NaN or Inf) at element %zu: the "
                         "file is corrupt or was saved from a diverged run",
                         what, path, GPT_TENSOR_NAMES[kind], i);
            }
        gpt_shard_extract(lay, t, full, flat + t->offset);
    }
    ls_free(full);
}

void gpt_load(Gpt *m, const char *path) {
    GptConfig fc;
    gpt_read_config(path, &fc);
    const GptConfig *c = &m->cfg;
    if (fc.num_layers != c->num_layers || fc.channels != c->channels ||
        fc.num_heads != c->num_heads || fc.vocab_size != c->vocab_size ||
        fc.padded_vocab_size != c->padded_vocab_size || fc.max_seq_len != c->max_seq_len)
        ls_fatal("model file '%s' (L=%d C=%d NH=%d V=%d Vp=%d maxT=%d) does not match the model "
                 "being built (L=%d C=%d NH=%d V=%d Vp=%d maxT=%d)",
                 path, fc.num_layers, fc.channels, fc.num_heads, fc.vocab_size,
                 fc.padded_vocab_size, fc.max_seq_len, c->num_layers, c->channels, c->num_heads,
                 c->vocab_size, c->padded_vocab_size, c->max_seq_len);
    FILE *f = ls_fopen(path, "rb", "model file");
    fseek(f, 1024, SEEK_SET);
    gpt_read_canonical(&m->lay, m->params, f, path, "model file");
    fclose(f);
}

size_t gpt_canonical_offset(const GptConfig *c, int kind, int layer) {
    size_t off = 0;
    FOR_CANONICAL(c, k, l) {
        if (k == kind && l == layer) return off;
        int r, n;
        gpt_full_shape(c, k, &r, &n);
        off += (size_t)r * n;
    }
    return off; /* kind = T_NUM_KINDS: the total */
}

void gpt_model_header(const GptConfig *c, int32_t h[256]) {
    memset(h, 0, 256 * sizeof(int32_t));
    h[0] = GPT_MODEL_MAGIC;
    h[1] = GPT_MODEL_VERSION;
    h[2] = c->max_seq_len;
    h[3] = c->vocab_size;
    h[4] = c->num_layers;
    h[5] = c->num_heads;
    h[6] = c->channels;
    h[7] = c->padded_vocab_size;
}

void gpt_save(const Gpt *m, const char *path) {
    int32_t h[256];
    gpt_model_header(&m->cfg, h);
    LsAtomicFile af;
    ls_atomic_open(&af, path);
    ls_atomic_write(&af, h, sizeof h);
    gpt_write_canonical(&m->lay, m->params, &af);
    ls_atomic_commit(&af);
}

void gpt_print_info(const char *path) {
    GptConfig c;
    gpt_read_config(path, &c);
    printf("%s: llm.c GPT-2 model file (magic %d, version %d, fp32)\n", path, GPT_MODEL_MAGIC,
           GPT_MODEL_VERSION);
    printf("  layers %d, dim %d, heads %d (head size %d), max seq %d, vocab %d (padded %d)\n",
           c.num_layers, c.channels, c.num_heads, c.channels / c.num_heads, c.max_seq_len,
           c.vocab_size, c.padded_vocab_size);
    printf("  parameters %zu (%.2f M, %.1f MiB)\n", gpt_num_params(&c), gpt_num_params(&c) / 1e6,
           gpt_num_params(&c) * 4.0 / (1 << 20));
}
