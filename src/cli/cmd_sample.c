/* cmd_sample.c - `llmscale sample`: generate text with a KV cache.
 *
 * Sampling from the softmax of logits / temperature over the real vocabulary,
 * optionally restricted to the top-k logits; temperature 0 is greedy argmax. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "../core/error.h"
#include "../core/rng.h"
#include "../data/bpe_encode.h"
#include "../data/tokenizer.h"
#include "../model/gpt_infer.h"
#include "../model/gpt_io.h"
#include "args.h"
#include "commands.h"

static void usage(FILE *f) {
    fprintf(f,
            "usage: llmscale sample --init FILE|RUNDIR [--prompt TEXT] [--tokens N] [options]\n"
            "\n"
            "Generate text from a model, one token at a time with a KV cache.\n"
            "  --init FILE|RUNDIR   llm.c fp32 model file or a run directory (newest checkpoint)\n"
            "  --tokenizer FILE     llm.c tokenizer (default: tokenizer.bin beside the model)\n"
            "  --prompt TEXT        start text (encoded with the tokenizer); default: end-of-text token\n"
            "  --prompt-tokens LIST comma-separated token ids instead of --prompt\n"
            "  --tokens N           tokens to generate (default 256); past the model's max sequence\n"
            "                       the context is cropped to its newest max/2 tokens\n"
            "  --temperature X      softmax temperature; 0 = greedy (default 1.0)\n"
            "  --top-k K            sample among the K most likely tokens; 0 = all (default 0)\n"
            "  --seed N             random seed (default 42)\n"
            "(models come from files; to train one of these presets see llmscale train --help)\n");
    gpt_print_presets(f);
}

static int sample_token(const float *logits, int V, float temp, int top_k, LsRng *rng, float *probs) {
    int best = 0;
    for (int v = 1; v < V; v++)
        if (logits[v] > logits[best]) best = v;
    if (temp <= 0.0f) return best;
    float kth = -INFINITY; /* logits below the k-th largest are excluded */
    if (top_k > 0 && top_k < V) {
        for (int v = 0; v < V; v++) probs[v] = logits[v];
        /* partial selection of the k-th largest: O(V k) is fine at sampling rates */
        for (int k = 0; k < top_k; k++) {
            int arg = -1;
            for (int v = 0; v < V; v++)
                if (probs[v] != -INFINITY && (arg < 0 || probs[v] > probs[arg])) arg = v;
            kth = probs[arg];
            probs[arg] = -INFINITY;
        }
    }
    double sum = 0.0;
    for (int v = 0; v < V; v++) {
        float p = logits[v] >= kth ? expf((logits[v] - logits[best]) / temp) : 0.0f;
        probs[v] = p;
        sum += p;
    }
    double r = ls_rng_uniform(rng) * sum, acc = 0.0;
    for (int v = 0; v < V; v++) {
        acc += probs[v];
        if (r < acc) return v;
    }
    return best;
}

static void emit(const LsTokenizer *tk, int id) {
    if (!tk) {
        printf("%d ", id);
        return;
    }
    if (id == tk->eot) {
        printf("\n<|endoftext|>\n");
        return;
    }
    int len = 0;
    const char *s = ls_tokenizer_decode(tk, id, &len);
    if (s) fwrite(s, 1, (size_t)len, stdout);
}

int cmd_sample(int argc, char **argv) {
    if (ls_wants_help(argc, argv)) {
        usage(stdout);
        return 0;
    }
    const char *init = NULL, *tokfile = NULL, *prompt = NULL, *prompt_tokens = NULL;
    int ntok = 256, top_k = 0;
    float temp = 1.0f;
    uint64_t seed = 42;
    for (int i = 0; i < argc; i++) {
        const char *a = argv[i];
        if (ls_flag(a, "--init")) init = ls_str_arg(argc, argv, &i);
        else if (ls_flag(a, "--tokenizer")) tokfile = ls_str_arg(argc, argv, &i);
        else if (ls_flag(a, "--prompt")) prompt = ls_str_arg(argc, argv, &i);
        else if (ls_flag(a, "--prompt-tokens")) prompt_tokens = ls_str_arg(argc, argv, &i);
        else if (ls_flag(a, "--tokens")) ntok = (int)ls_int_arg(argc, argv, &i, 0, 1 << 20);
        else if (ls_flag(a, "--temperature")) temp = (float)ls_double_arg(argc, argv, &i, 0, 100);
        else if (ls_flag(a, "--top-k")) top_k = (int)ls_int_arg(argc, argv, &i, 0, 1 << 24);
        else if (ls_flag(a, "--seed")) seed = (uint64_t)ls_int_arg(argc, argv, &i, 0, 1LL << 62);
        else ls_unknown_flag("sample", a);
    }
    if (!init) ls_fatal("sample needs --init FILE|RUNDIR");
    if (prompt && prompt_tokens) ls_fatal("give --prompt or --prompt-tokens, not both");
    char mpath[4096], tpath[4096];
    cli_resolve_model(init, mpath, tpath);
    if (tokfile) snprintf(tpath, sizeof tpath, "%s", tokfile);
    GptConfig cfg;
    gpt_read_config(mpath, &cfg);
    LsTokenizer tk, *tkp = NULL;
    if (tpath[0]) {
        ls_tokenizer_load(&tk, tpath);
        if (tk.vocab_size > cfg.vocab_size)
            ls_fatal("tokenizer '%s' has %d tokens but the model's vocab is %d: they do not belong together",
                     tpath, tk.vocab_size, cfg.vocab_size);
        tkp = &tk;
    }

    /* prompt -> token ids */
    int cap = cfg.max_seq_len, n = 0, skip = 0;
    size_t plen = prompt ? strlen(prompt) : prompt_tokens ? strlen(prompt_tokens) : 0;
    int32_t *ids = calloc(plen + 2 + (size_t)ntok, sizeof(int32_t)); /* prompt, then generated */
    if (!ids) ls_fatal("out of memory");
    if (prompt) {
        if (!tkp) ls_fatal("--prompt needs a tokenizer (--tokenizer FILE); or use --prompt-tokens");
        size_t len = strlen(prompt);
        if (tkp->eot >= 0) ids[n++] = tkp->eot, skip = 1; /* documents start after end-of-text */
        LsBpe bpe; /* byte-level, trained BPE or GPT-2: the same encoder as prepare */
        ls_bpe_init(&bpe, tkp);
        n += (int)ls_bpe_encode(&bpe, (const uint8_t *)prompt, len, ids + n);
        ls_bpe_free(&bpe);
    } else if (prompt_tokens) {
        const char *s = prompt_tokens;
        while (*s) {
            char *end;
            long v = strtol(s, &end, 10);
            if (end == s || v < 0 || v >= cfg.vocab_size)
                ls_fatal("--prompt-tokens: bad token id list near '%s' (ids in [0, %d), comma-separated)", s, cfg.vocab_size);
            ids[n++] = (int32_t)v;
            s = end;
            if (*s == ',') s++;
        }
    } else {
        ids[n++] = tkp && tkp->eot >= 0 ? tkp->eot : 0;
        skip = 1;
    }
    if (n == 0) /* nothing to condition on: the first step would have no logits */
        ls_fatal("the prompt is empty: give at least one token (--prompt TEXT or --prompt-tokens LIST)");

    Gpt m;
    gpt_create(&m, &cfg, 0, cfg.num_layers, 1, 0);
    gpt_load(&m, mpath);
    GptKV kv;
    gpt_kv_init(&kv, &m);
    LsRng rng;
    ls_rng_seed(&rng, seed);
    float *probs = calloc((size_t)cfg.vocab_size, sizeof(float));
    if (!probs) ls_fatal("out of memory");
    for (int i = skip; i < n; i++) emit(tkp, ids[i]); /* echo the prompt, not our own start token */
    /* The model has learned positions 0..maxT-1 only. When the context is
     * full, keep its newest maxT/2 tokens and re-run them from position 0
     * (what cropping the context to the model's window means), then go on
     * one token at a time with the KV cache. */
    const float *logits = NULL;
    int pos = 0;
    int from = n > cap ? n - cap : 0;
    for (int i = from; i < n; i++) logits = gpt_infer_step(&m, &kv, ids[i], pos++);
    for (int k = 0; k < ntok; k++) {
        int next = sample_token(logits, cfg.vocab_size, temp, top_k, &rng, probs);
        ids[n++] = next;
        emit(tkp, next);
        fflush(stdout);
        if (k + 1 == ntok) break;
        if (pos == cap) {
            int keep = cap / 2 > 0 ? cap / 2 : 1;
            pos = 0;
            for (int i = n - keep; i < n; i++) logits = gpt_infer_step(&m, &kv, ids[i], pos++);
        } else {
            logits = gpt_infer_step(&m, &kv, next, pos++);
        }
    }
    printf("\n");
    free(probs);
    free(ids);
    gpt_kv_free(&kv);
    gpt_destroy(&m);
    if (tkp) ls_tokenizer_free(tkp);
    return 0;
}
