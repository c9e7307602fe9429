/* test_model.c - unit tests of the model's plumbing: parameter layout and
 * tensor-parallel sharding, KV-cache inference against the full forward,
 * learning-rate schedule, model-file round trip, determinism, the gradient
 * norm summed during the backward. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "core/error.h"
#include "core/rng.h"
#include "kernels/cpu/gemm.h"
#include "kernels/cpu/kernels.h"
#include "model/gpt.h"
#include "model/gpt_infer.h"
#include "model/gpt_io.h"
#include "train/optimizer.h"

#include "check.h"

static GptConfig micro(void) {
    GptConfig c;
    gpt_preset("micro", &c);
    return c;
}

static void test_layout(void) {
    GptConfig c = micro();
    GptLayout lay;
    gpt_layout_build(&lay, &c, 0, c.num_layers, 1, 0);
    CHECK(lay.total == gpt_num_params(&c), "layout total %zu != %zu", lay.total, gpt_num_params(&c));
    size_t sum = 0;
    for (int i = 0; i < lay.ntensors; i++) sum += (size_t)lay.tensors[i].rows * lay.tensors[i].cols;
    CHECK(sum == lay.total, "tensor sizes do not add up");
    CHECK(gpt_layout_find(&lay, T_QKVW, 1)->layer == 1, "find per-layer tensor");
    gpt_layout_free(&lay);
    /* a pipeline stage holds only its layers (and the tied embedding on both ends) */
    gpt_layout_build(&lay, &c, 1, 2, 1, 0);
    CHECK(!lay.has_embed && lay.has_head && gpt_layout_find(&lay, T_QKVW, 0) == NULL &&
              gpt_layout_find(&lay, T_WTE, -1) != NULL && gpt_layout_find(&lay, T_WPE, -1) == NULL,
          "last stage layout");
    gpt_layout_free(&lay);
}

/* tp = 2: each rank's shards, inserted back, rebuild every full tensor */
static void test_shards(void) {
    GptConfig c = micro();
    LsRng r;
    ls_rng_seed(&r, 5);
    for (int kind = 0; kind < T_NUM_KINDS; kind++) {
        int fr, fc;
        gpt_full_shape(&c, kind, &fr, &fc);
        size_t n = (size_t)fr * fc;
        float *full = malloc(n * 4), *back = calloc(n, 4), *sh = malloc(2 * n * 4);
        for (size_t i = 0; i < n; i++) full[i] = ls_rng_normal(&r);
        size_t shard_total = 0;
        for (int rank = 0; rank < 2; rank++) {
            GptLayout lay;
            gpt_layout_build(&lay, &c, 0, c.num_layers, 2, rank);
            const GptTensor *t = gpt_layout_find(&lay, kind, 0);
            for (size_t i = 0; i < 2 * n; i++) sh[i] = NAN; /* poison */
            gpt_shard_extract(&lay, t, full, sh);
            if (kind == T_WTE) { /* rows past the file's padded vocabulary are zeros */
                long pad0 = fr - (long)rank * t->rows, bad = 0;
                for (long i = pad0 < 0 ? 0 : pad0; i < t->rows; i++)
                    for (int j = 0; j < fc; j++) bad += sh[i * fc + j] != 0.0f;
                CHECK(bad == 0, "wte shard %d: %ld padding values are not zero", rank, bad);
            }
            gpt_shard_insert(&lay, t, sh, back);
            shard_total += (size_t)t->rows * t->cols;
            gpt_layout_free(&lay);
        }
        CHECK(memcmp(full, back, n * 4) == 0, "tp=2 shards of %s do not rebuild it", GPT_TENSOR_NAMES[kind]);
        int split = kind == T_WTE || kind == T_QKVW || kind == T_QKVB || kind == T_ATTPROJW ||
                    kind == T_FCW || kind == T_FCB || kind == T_FCPROJW;
        /* wte: the vocabulary padded to a multiple of 128 x 2 rows (zeros past the file's) */
        size_t want = kind == T_WTE ? (size_t)(fr + 255) / 256 * 256 * fc : split ? n : 2 * n;
        CHECK(shard_total == want, "%s shard sizes", GPT_TENSOR_NAMES[kind]);
        free(full), free(back), free(sh);
    }
}

/* sampling's one-position-at-a-time forward equals the full causal forward */
static void test_kv_cache(void) {
    GptConfig c = micro();
    Gpt m;
    gpt_create(&m, &c, 0, c.num_layers, 1, 0);
    gpt_init_random(&m, 11);
    /* non-trivial biases/LN so every parameter matters */
    LsRng r;
    ls_rng_seed(&r, 3);
    for (size_t i = 0; i < m.lay.total; i++) m.params[i] += 0.05f * ls_rng_normal(&r);
    int T = c.max_seq_len;
    int32_t tok[64];
    for (int t = 0; t < T; t++) tok[t] = (int32_t)ls_rng_below(&r, (uint64_t)c.vocab_size);
    gpt_forward(&m, tok, NULL, 1, T);
    GptKV kv;
    gpt_kv_init(&kv, &m);
    double worst = 0, maxabs = 0;
    for (int t = 0; t < T; t++) {
        const float *a = gpt_infer_step(&m, &kv, tok[t], t), *b = gpt_logits(&m, 0, t);
        for (int v = 0; v < c.vocab_size; v++) {
            worst = fmax(worst, fabs(a[v] - b[v]));
            maxabs = fmax(maxabs, fabs(b[v]));
        }
    }
    CHECK(worst <= 1e-5 * maxabs, "KV-cache logits differ from full forward: %g (max %g)", worst, maxabs);
    gpt_kv_free(&kv);
    gpt_destroy(&m);
}

static void test_lr(void) {
    CHECK(fabsf(lr_at(LR_COSINE, 1.0f, 0.1f, 4, 0, 20) - 0.25f) < 1e-7, "warmup step 0");
    CHECK(fabsf(lr_at(LR_COSINE, 1.0f, 0.1f, 4, 3, 20) - 1.0f) < 1e-7, "warmup end");
    CHECK(fabsf(lr_at(LR_COSINE, 1.0f, 0.1f, 4, 4, 20) - 1.0f) < 1e-6, "cosine start");
    CHECK(fabsf(lr_at(LR_COSINE, 1.0f, 0.1f, 4, 19, 20) - 0.1f) < 1e-6, "cosine end = lr_min");
    CHECK(fabsf(lr_at(LR_COSINE, 1.0f, 0.0f, 0, 5, 11) - 0.5f) < 1e-6, "cosine midpoint");
    CHECK(lr_at(LR_CONSTANT, 0.3f, 0.0f, 0, 17, 20) == 0.3f, "constant");
}

static void test_file_roundtrip(void) {
    GptConfig c = micro();
    Gpt a, b;
    gpt_create(&a, &c, 0, c.num_layers, 1, 0);
    gpt_create(&b, &c, 0, c.num_layers, 1, 0);
    gpt_init_random(&a, 9);
    char path[256];
    snprintf(path, sizeof path, "/tmp/llmscale_test_model_%d.bin", (int)getpid());
    gpt_save(&a, path);
    gpt_load(&b, path);
    CHECK(memcmp(a.params, b.params, a.lay.total * 4) == 0, "model file round trip");
    FILE *f = fopen(path, "rb");
    int32_t h[8];
    CHECK(fread(h, 4, 8, f) == 8 && h[0] == 20240326 && h[1] == 3 && h[2] == c.max_seq_len &&
              h[3] == c.vocab_size && h[4] == c.num_layers && h[5] == c.num_heads &&
              h[6] == c.channels && h[7] == c.padded_vocab_size, "llm.c header fields");
    fclose(f);
    unlink(path);
    /* init is GPT-2's: padded wte rows zero, LN weights one */
    CHECK(a.p.wte[(size_t)c.vocab_size * c.channels] == 0.0f && a.p.layer[0].ln1w[0] == 1.0f, "init");
    gpt_destroy(&a);
    gpt_destroy(&b);
}

static void test_determinism(void) {
    GptConfig c = micro();
    Gpt m;
    gpt_create(&m, &c, 0, c.num_layers, 1, 0);
    gpt_init_random(&m, 2);
    int B = 2, T = 16;
    int32_t x[32], y[32];
    for (int i = 0; i < 32; i++) x[i] = (i * 7) % 257, y[i] = (i * 13) % 257;
    float *g1 = malloc(m.lay.total * 4);
    gpt_zero_grad(&m);
    float l1 = gpt_forward(&m, x, y, B, T);
    gpt_backward(&m, 1.0f / (B * T));
    memcpy(g1, m.grads, m.lay.total * 4);
    gpt_zero_grad(&m);
    float l2 = gpt_forward(&m, x, y, B, T);
    gpt_backward(&m, 1.0f / (B * T));
    CHECK(l1 == l2 && memcmp(g1, m.grads, m.lay.total * 4) == 0, "forward/backward is not bit-reproducible");
    CHECK(fabsf(l1 - logf(257.0f)) < 0.1f, "initial loss %f should be near ln(257)", l1);
    free(g1);
    gpt_destroy(&m);
}

/* The gradient norm summed by the backward (Gpt.grad_sq: the dW products'
 * epilogues, wte corrected for the embedding's scatter-add after the LM
 * head's product) plus gpt_grad_sq_rest, against a plain pass over the
 * whole gradient; the gradient itself must not change, and the weight
 * gradients must be overwritten, not added to. Tokens repeat, so a row
 * counted twice or a missed correction shows. */
static void test_fused_norm(void) {
    GptConfig c = micro();
    Gpt m;
    gpt_create(&m, &c, 0, c.num_layers, 1, 0);
    gpt_init_random(&m, 5);
    int32_t x[64], y[64];
    for (int i = 0; i < 64; i++) x[i] = (i * 7) % 13, y[i] = (i * 11) % 257;
    float *g1 = malloc(m.lay.total * 4);
    /* 64 tokens: our GEMM; 16: OpenBLAS (beta 0) and a pass; fp32 and bf16 */
    for (int run = 0; run < 4; run++) {
        int B = run < 2 ? 4 : 1, T = 16, N = B * T, dt = run & 1;
        if (dt == 1 && !gemm_supported(LS_GEMM_BF16)) continue;
        matmul_set_dtype(dt ? LS_DTYPE_BF16 : LS_DTYPE_F32);
        gpt_zero_grad(&m);
        gpt_forward(&m, x, y, B, T);
        gpt_backward(&m, 1.0f / N);
        memcpy(g1, m.grads, m.lay.total * 4);
        double pass = 0.0;
        for (size_t i = 0; i < m.lay.total; i++) pass += (double)m.grads[i] * m.grads[i];
        double sq = 0.0;
        gpt_zero_grad(&m);
        gpt_forward(&m, x, y, B, T);
        m.grad_sq = &sq;
        gpt_backward(&m, 1.0f / N);
        m.grad_sq = NULL;
        double fused = sq + gpt_grad_sq_rest(&m);
        CHECK(memcmp(g1, m.grads, m.lay.total * 4) == 0, "%s: summing the norm in the backward changed "
              "the gradient", dt ? "bf16" : "fp32");
        /* with grad_sq the products overwrite: NaN left in the overwritten kinds must not show */
        unsigned keep = gpt_overwritten_kinds();
        gpt_zero_grad(&m);
        for (int k = 0; k < m.lay.ntensors; k++) {
            const GptTensor *tt = &m.lay.tensors[k];
            if (keep >> tt->kind & 1u)
                for (size_t i = 0; i < (size_t)tt->rows * tt->cols; i++) m.grads[tt->offset + i] = NAN;
        }
        double sq2 = 0.0;
        gpt_forward(&m, x, y, B, T);
        m.grad_sq = &sq2;
        gpt_backward(&m, 1.0f / N);
        m.grad_sq = NULL;
        CHECK(memcmp(g1, m.grads, m.lay.total * 4) == 0 && sq2 == sq, "%s: the backward with grad_sq did not "
              "overwrite the weight gradients (NaN left before it)", dt ? "bf16" : "fp32");
        /* tiles of at most 1024 squares summed in float (test_gemm.c's bound) */
        CHECK(pass > 0 && fabs(fused - pass) <= 1026 * ldexp(1.0, -24) * pass, "%s: squared gradient norm %.9g from the "
              "backward, %.9g from a pass", dt ? "bf16" : "fp32", fused, pass);
    }
    matmul_set_dtype(LS_DTYPE_F32);
    free(g1);
    gpt_destroy(&m);
}

int main(void) {
    test_fused_norm();
    test_layout();
    test_shards();
    test_kv_cache();
    test_lr();
    test_file_roundtrip();
    test_determinism();
    return check_summary();
}
