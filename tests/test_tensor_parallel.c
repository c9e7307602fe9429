/* test_tensor_parallel.c - the tensor-parallel building blocks against their
 * unsplit versions, forward and backward, with the tp ranks simulated in one
 * process (the all-reduces done by hand), on random inputs:
 *   - column-parallel product: the ranks' outputs side by side == x W^T;
 *     their weight gradients == the rows of dW; their input gradients summed
 *     (f's backward) == dx;
 *   - row-parallel product: the ranks' partial outputs summed (g) + bias ==
 *     x W^T + b; weight gradients == the columns of dW;
 *   - vocabulary-parallel embedding: sum over ranks + wpe == the lookup
 *     (exactly: the others contribute zeros); its gradients == the rows;
 *   - vocabulary-parallel cross-entropy: max, sums and target logit reduced
 *     by hand give the unsplit losses, and each rank's dlogits equals its
 *     columns of the unsplit dlogits;
 *   - sequence parallelism: the rank-major pieces of a (B, T, C) tensor hold
 *     rank r's tokens [r T/t, (r+1) T/t) of each sequence and go back
 *     exactly; a LayerNorm run on each rank's tokens gives the rows of the
 *     whole LayerNorm, and its weight gradients summed over the ranks give
 *     the whole gradient (why SP sums them over the tensor-parallel group).
 * Tolerance 1e-5 relative: float32 sums in a different order. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "../src/core/rng.h"
#include "../src/kernels/cpu/kernels.h"
#include "../src/model/gpt_layout.h"
#include "check.h"

static LsRng g_rng;

static float *rnd(size_t n, float scale) {
    float *p = malloc(n * sizeof(float));
    for (size_t i = 0; i < n; i++) p[i] = (float)(ls_rng_uniform(&g_rng) * 2.0 - 1.0) * scale;
    return p;
}
static float *zeros(size_t n) { return calloc(n, sizeof(float)); }

/* max |a - b| / max |b| */
static double rel(const float *a, const float *b, size_t n) {
    double d = 0, m = 1e-30;
    for (size_t i = 0; i < n; i++) {
        d = fmax(d, fabs((double)a[i] - b[i]));
        m = fmax(m, fabs((double)b[i]));
    }
    return d / m;
}

static void column_parallel(int N, int C, int OC, int tp) {
    float *x = rnd((size_t)N * C, 1), *W = rnd((size_t)OC * C, 0.5f), *b = rnd(OC, 0.1f);
    float *dout = rnd((size_t)N * OC, 1);
    float *y = zeros((size_t)N * OC), *dx = zeros((size_t)N * C), *dW = zeros((size_t)OC * C), *db = zeros(OC);
    matmul_forward(y, x, W, b, N, C, OC);
    matmul_backward(dx, dW, db, dout, x, W, N, C, OC);
    int OCl = OC / tp;
    float *dxsum = zeros((size_t)N * C);
    double ey = 0, edw = 0, edb = 0;
    for (int r = 0; r < tp; r++) {
        const float *Wr = W + (size_t)r * OCl * C, *br = b + r * OCl;
        float *yr = zeros((size_t)N * OCl), *doutr = zeros((size_t)N * OCl);
        float *dxr = zeros((size_t)N * C), *dWr = zeros((size_t)OCl * C), *dbr = zeros(OCl);
        matmul_forward(yr, x, Wr, br, N, C, OCl);
        for (int i = 0; i < N; i++) {
            ey = fmax(ey, rel(yr + (size_t)i * OCl, y + (size_t)i * OC + r * OCl, OCl));
            memcpy(doutr + (size_t)i * OCl, dout + (size_t)i * OC + r * OCl, sizeof(float) * OCl);
        }
        matmul_backward(dxr, dWr, dbr, doutr, x, Wr, N, C, OCl);
        for (size_t i = 0; i < (size_t)N * C; i++) dxsum[i] += dxr[i]; /* f's backward */
        edw = fmax(edw, rel(dWr, dW + (size_t)r * OCl * C, (size_t)OCl * C));
        edb = fmax(edb, rel(dbr, db + r * OCl, OCl));
        free(yr), free(doutr), free(dxr), free(dWr), free(dbr);
    }
    CHECK(ey < 1e-5, "column-parallel tp %d: output %.3g", tp, ey);
    CHECK(edw < 1e-5 && edb < 1e-5, "column-parallel tp %d: dW %.3g db %.3g", tp, edw, edb);
    CHECK(rel(dxsum, dx, (size_t)N * C) < 1e-5, "column-parallel tp %d: summed dx %.3g", tp,
          rel(dxsum, dx, (size_t)N * C));
    free(x), free(W), free(b), free(dout), free(y), free(dx), free(dW), free(db), free(dxsum);
}

static void row_parallel(int N, int C, int OC, int tp) {
    float *x = rnd((size_t)N * C, 1), *W = rnd((size_t)OC * C, 0.5f), *b = rnd(OC, 0.1f);
    float *dout = rnd((size_t)N * OC, 1);
    float *y = zeros((size_t)N * OC), *dx = zeros((size_t)N * C), *dW = zeros((size_t)OC * C), *db = zeros(OC);
    matmul_forward(y, x, W, b, N, C, OC);
    matmul_backward(dx, dW, db, dout, x, W, N, C, OC);
    int Cl = C / tp;
    float *ysum = zeros((size_t)N * OC);
    double edx = 0, edw = 0;
    for (int r = 0; r < tp; r++) {
        float *xr = zeros((size_t)N * Cl), *Wr = zeros((size_t)OC * Cl), *yr = zeros((size_t)N * OC);
        float *dxr = zeros((size_t)N * Cl), *dWr = zeros((size_t)OC * Cl), *dbr = zeros(OC);
        for (int i = 0; i < N; i++) memcpy(xr + (size_t)i * Cl, x + (size_t)i * C + r * Cl, sizeof(float) * Cl);
        for (int o = 0; o < OC; o++) memcpy(Wr + (size_t)o * Cl, W + (size_t)o * C + r * Cl, sizeof(float) * Cl);
        matmul_forward(yr, xr, Wr, NULL, N, Cl, OC);
        for (size_t i = 0; i < (size_t)N * OC; i++) ysum[i] += yr[i]; /* g */
        matmul_backward(dxr, dWr, dbr, dout, xr, Wr, N, Cl, OC);
        for (int i = 0; i < N; i++) edx = fmax(edx, rel(dxr + (size_t)i * Cl, dx + (size_t)i * C + r * Cl, Cl));
        for (int o = 0; o < OC; o++) edw = fmax(edw, rel(dWr + (size_t)o * Cl, dW + (size_t)o * C + r * Cl, Cl));
        CHECK(rel(dbr, db, OC) < 1e-6, "row-parallel tp %d: the replicated bias gradient", tp);
        free(xr), free(Wr), free(yr), free(dxr), free(dWr), free(dbr);
    }
    bias_add_rows(ysum, b, N, OC);
    CHECK(rel(ysum, y, (size_t)N * OC) < 1e-5, "row-parallel tp %d: summed output %.3g", tp,
          rel(ysum, y, (size_t)N * OC));
    CHECK(edx < 1e-5 && edw < 1e-5, "row-parallel tp %d: dx %.3g dW %.3g", tp, edx, edw);
    free(x), free(W), free(b), free(dout), free(y), free(dx), free(dW), free(db), free(ysum);
}

static void vocab_parallel(int B, int T, int C, int V, int Vp, int tp) {
    int N = B * T, Vl = Vp / tp;
    int32_t *tok = malloc(sizeof(int32_t) * N), *tgt = malloc(sizeof(int32_t) * N);
    for (int i = 0; i < N; i++) tok[i] = (int32_t)ls_rng_below(&g_rng, V), tgt[i] = (int32_t)ls_rng_below(&g_rng, V);
    float *wte = rnd((size_t)Vp * C, 1), *wpe = rnd((size_t)T * C, 1), *dout = rnd((size_t)N * C, 1);
    /* embedding */
    float *e = zeros((size_t)N * C), *esum = zeros((size_t)N * C);
    float *dwte = zeros((size_t)Vp * C), *dwpe = zeros((size_t)T * C);
    encoder_forward(e, tok, wte, wpe, B, T, C);
    encoder_backward(dwte, dwpe, dout, tok, B, T, C);
    float *dwte_vp = zeros((size_t)Vp * C);
    for (int r = 0; r < tp; r++) {
        float *er = zeros((size_t)N * C), *dwper = zeros((size_t)T * C);
        vp_encoder_forward(er, tok, wte + (size_t)r * Vl * C, r * Vl, Vl, N, C);
        for (size_t i = 0; i < (size_t)N * C; i++) esum[i] += er[i];
        vp_encoder_backward(dwte_vp + (size_t)r * Vl * C, dwper, dout, tok, r * Vl, Vl, B, T, C);
        CHECK(rel(dwper, dwpe, (size_t)T * C) == 0, "vocab-parallel embedding tp %d: dwpe", tp);
        free(er), free(dwper);
    }
    add_position_rows(esum, wpe, B, T, C);
    CHECK(rel(esum, e, (size_t)N * C) == 0, "vocab-parallel embedding tp %d: exact lookup", tp);
    CHECK(rel(dwte_vp, dwte, (size_t)Vp * C) == 0, "vocab-parallel embedding tp %d: dwte rows", tp);
    /* cross-entropy */
    float *logits = rnd((size_t)N * Vp, 4), *lg = malloc(sizeof(float) * N * Vp);
    memcpy(lg, logits, sizeof(float) * N * Vp);
    float *loss = zeros(N), *lse = zeros(N);
    crossentropy_forward(loss, lse, lg, tgt, N, V, Vp);
    crossentropy_backward(lg, lse, tgt, 0.37f, N, V, Vp);
    float *mx = zeros(N), *S = zeros(N), *zt = zeros(N), *tmp = zeros(N), *tmp2 = zeros(N);
    float **loc = malloc(sizeof(float *) * tp);
    for (int i = 0; i < N; i++) mx[i] = -1e30f;
    for (int r = 0; r < tp; r++) { /* local logits: columns [r Vl, (r+1) Vl) */
        loc[r] = malloc(sizeof(float) * N * Vl);
        for (int i = 0; i < N; i++) memcpy(loc[r] + (size_t)i * Vl, logits + (size_t)i * Vp + r * Vl, sizeof(float) * Vl);
        vp_ce_local_max(tmp, loc[r], N, r * Vl, Vl, V);
        for (int i = 0; i < N; i++) mx[i] = fmaxf(mx[i], tmp[i]); /* all-reduce max */
    }
    for (int r = 0; r < tp; r++) {
        vp_ce_local_sums(tmp, tmp2, loc[r], mx, tgt, N, r * Vl, Vl, V);
        for (int i = 0; i < N; i++) S[i] += tmp[i], zt[i] += tmp2[i]; /* all-reduce sums */
    }
    float *loss_vp = zeros(N), *lse_vp = zeros(N);
    vp_ce_finish(loss_vp, lse_vp, mx, S, zt, N);
    CHECK(rel(loss_vp, loss, N) < 1e-5, "vocab-parallel loss tp %d: %.3g", tp, rel(loss_vp, loss, N));
    double ed = 0;
    for (int r = 0; r < tp; r++) {
        vp_ce_backward(loc[r], lse_vp, tgt, 0.37f, N, r * Vl, Vl, V);
        for (int i = 0; i < N; i++) ed = fmax(ed, rel(loc[r] + (size_t)i * Vl, lg + (size_t)i * Vp + r * Vl, Vl));
        free(loc[r]);
    }
    CHECK(ed < 1e-4, "vocab-parallel dlogits tp %d: %.3g", tp, ed);
    free(loc), free(tok), free(tgt), free(wte), free(wpe), free(dout), free(e), free(esum), free(dwte);
    free(dwpe), free(dwte_vp), free(logits), free(lg), free(loss), free(lse), free(mx), free(S), free(zt);
    free(tmp), free(tmp2), free(loss_vp), free(lse_vp);
}

static void sequence_parallel(int B, int T, int C, int tp) {
    int Tl = T / tp, N = B * T, Nr = N / tp;
    float *x = rnd((size_t)N * C, 1.0f), *pieces = zeros((size_t)N * C), *back = zeros((size_t)N * C);
    for (size_t i = 0; i < (size_t)N * C; i++) pieces[i] = back[i] = NAN; /* poison */
    seq_to_rank_major(pieces, x, B, T, tp, C);
    int bad = 0;
    for (int r = 0; r < tp; r++)
        for (int b = 0; b < B; b++)
            for (int i = 0; i < Tl; i++)
                for (int c = 0; c < C; c++) /* piece r, row (b, i) = token b*T + r*Tl + i */
                    bad += pieces[(((size_t)r * B + b) * Tl + i) * C + c] !=
                           x[((size_t)b * T + (size_t)r * Tl + i) * C + c];
    seq_from_rank_major(back, pieces, B, T, tp, C);
    CHECK(bad == 0 && rel(back, x, (size_t)N * C) == 0,
          "sequence-parallel pieces tp %d: %d misplaced values, round trip exact", tp, bad);
    /* LayerNorm of the whole tensor vs of each rank's piece */
    float *w = rnd(C, 1.0f), *bias = rnd(C, 1.0f), *dy = rnd((size_t)N * C, 1.0f);
    float *y = zeros((size_t)N * C), *mean = zeros(N), *rstd = zeros(N), *dx = zeros((size_t)N * C);
    float *dw = zeros(C), *db = zeros(C);
    layernorm_forward(y, mean, rstd, x, w, bias, N, C);
    layernorm_backward(dx, dw, db, dy, x, w, mean, rstd, N, C);
    float *ypieces = zeros((size_t)N * C), *dypieces = zeros((size_t)N * C), *dxp = zeros((size_t)N * C);
    float *dwsum = zeros(C), *dbsum = zeros(C);
    seq_to_rank_major(dypieces, dy, B, T, tp, C);
    for (int r = 0; r < tp; r++) {
        size_t o = (size_t)r * Nr * C;
        float *dwr = zeros(C), *dbr = zeros(C);
        layernorm_forward(ypieces + o, mean, rstd, pieces + o, w, bias, Nr, C);
        layernorm_backward(dxp + o, dwr, dbr, dypieces + o, pieces + o, w, mean, rstd, Nr, C);
        for (int c = 0; c < C; c++) dwsum[c] += dwr[c], dbsum[c] += dbr[c];
        free(dwr), free(dbr);
    }
    seq_from_rank_major(back, ypieces, B, T, tp, C);
    CHECK(rel(back, y, (size_t)N * C) < 1e-6, "sequence-parallel LayerNorm tp %d: rows", tp);
    seq_from_rank_major(back, dxp, B, T, tp, C);
    CHECK(rel(back, dx, (size_t)N * C) < 1e-6, "sequence-parallel LayerNorm tp %d: dx", tp);
    CHECK(rel(dwsum, dw, C) < 1e-5 && rel(dbsum, db, C) < 1e-5,
          "sequence-parallel LayerNorm tp %d: weight gradients summed over ranks %.3g %.3g", tp,
          rel(dwsum, dw, C), rel(dbsum, db, C));
    free(x), free(pieces), free(back), free(w), free(bias), free(dy), free(y), free(mean), free(rstd);
    free(dx), free(dw), free(db), free(ypieces), free(dypieces), free(dxp), free(dwsum), free(dbsum);
}

/* Megatron's vocabulary padding: GPT-2's 50257 tokens become 50304 rows in
 * llm.c's file (a multiple of 128) and 50432 / 51200 rows at tp 2 / 8 (a
 * multiple of 128 x tp, the sizes Megatron-LM reports for GPT-2). */
static void vocab_padding(void) {
    GptConfig c = {0};
    c.vocab_size = 50257;
    c.padded_vocab_size = 50304;
    CHECK(gpt_vocab_rows(&c, 1) == 50304 && gpt_vocab_rows(&c, 2) * 2 == 50432 &&
              gpt_vocab_rows(&c, 8) * 8 == 51200 && gpt_vocab_rows(&c, 3) * 3 == 50304,
          "vocabulary rows per rank: tp 1 %d, 2 %d, 3 %d, 8 %d", gpt_vocab_rows(&c, 1),
          gpt_vocab_rows(&c, 2), gpt_vocab_rows(&c, 3), gpt_vocab_rows(&c, 8));
}

int main(void) {
    ls_rng_seed(&g_rng, 2024);
    vocab_padding();
    for (int tp = 2; tp <= 4; tp *= 2) {
        column_parallel(24, 64, 3 * 64, tp);
        row_parallel(24, 4 * 64, 64, tp);
        vocab_parallel(3, 8, 32, 250, 384, tp); /* the last rank's columns are mostly padding */
        sequence_parallel(3, 8, 48, tp);
    }
    /* a rank whose columns are all padding (V = 100, Vp = 384, tp = 4: ranks 1..3 hold none) */
    vocab_parallel(2, 8, 16, 90, 384, 4);
    return check_summary();
}
