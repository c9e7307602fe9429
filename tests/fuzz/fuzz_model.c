/* fuzz_model.c - the llm.c GPT-2 model file reader (src/model/gpt_io.c):
 * gpt_read_config (header checks, `info`), then gpt_load into a model built
 * from that header, whole and as a later pipeline stage (which skips the
 * tensors of the layers it does not hold). Seeds: tiny valid model files. */
#include <stdlib.h>
#include <string.h>

#include "fuzz_common.h"
#include "model/gpt.h"
#include "model/gpt_io.h"

static char g_path[4096];

void fuzz_setup(void) { fuzz_path(g_path, "model.bin"); }

static void seed_model(const char *dir, const char *name, int L, int C, int NH, int V, int T) {
    GptConfig c = {.max_seq_len = T, .vocab_size = V, .padded_vocab_size = V + 3,
                   .num_layers = L, .num_heads = NH, .channels = C};
    Gpt m;
    gpt_create(&m, &c, 0, L, 1, 0);
    gpt_init_random(&m, 7);
    char p[4096];
    snprintf(p, sizeof p, "%s/%s", dir, name);
    gpt_save(&m, p);
    gpt_destroy(&m);
}

void fuzz_seeds(const char *dir) {
    seed_model(dir, "l1c4", 1, 4, 2, 5, 3);
    seed_model(dir, "l2c2", 2, 2, 1, 3, 2);
}

/* Load the file into a model holding layers [lo, L). */
static void load_stage(const GptConfig *c, int lo) {
    Gpt m;
    if (setjmp(fuzz_trap.env) == 0) {
        ls_trap_arm(&fuzz_trap);
        gpt_create(&m, c, lo, c->num_layers, 1, 0);
        gpt_load(&m, g_path);
        ls_trap_disarm();
        for (size_t i = 0; i < m.lay.total; i++)
            if (m.params[i] != m.params[i]) fuzz_fail("gpt_load accepted a NaN parameter");
        gpt_destroy(&m);
        fuzz_accepted();
    } else {
        fuzz_rejected();
    }
}

static void run_once(const uint8_t *data, size_t size) {
    fuzz_write(g_path, data, size);
    GptConfig c;
    if (setjmp(fuzz_trap.env) == 0) {
        ls_trap_arm(&fuzz_trap);
        gpt_read_config(g_path, &c);
        gpt_print_info(g_path);
        ls_trap_disarm();
        fuzz_accepted();
    } else {
        fuzz_rejected();
        return;
    }
    /* the file size matched the header, so the model is at most the input's size */
    load_stage(&c, 0);
    if (c.num_layers > 1) load_stage(&c, c.num_layers / 2);
}

void fuzz_one(const uint8_t *data, size_t size) {
    run_once(data, size);
    /* The same with the file cut or zero-padded to the size its header asks
     * for (if small), so that the fuzzer explores header values past the
     * size check, whose comparison is in double and not traced by libFuzzer. */
    if (size < 1024) return;
    int32_t h[8];
    memcpy(h, data, sizeof h);
    GptConfig c = {.max_seq_len = h[2], .vocab_size = h[3], .num_layers = h[4],
                   .num_heads = h[5], .channels = h[6], .padded_vocab_size = h[7] ? h[7] : h[3]};
    double want = 1024.0 + 4.0 * gpt_num_params_d(&c);
    if (want < 1024 || want > (1 << 20) || want == (double)size) return;
    size_t n = (size_t)want;
    uint8_t *b = calloc(n, 1);
    memcpy(b, data, size < n ? size : n);
    run_once(b, n);
    free(b);
}
