/* test_loader_ranks.c - the distributed loader contract, with ranks simulated
 * in one process using the trainer's formula (trainer.h):
 *     micro-batch j of step s on data-parallel rank r reads sequences
 *     s*G + j*B*dp + r*B .. +B-1,   G = B * A * dp.
 * Data: two shards (3001 + 2000 tokens) whose token at stream position p is p,
 * so every x row tells exactly which tokens it holds. For dp = 1, 2, 4 (same
 * G) and shuffle on/off:
 *   - the union over ranks of each step's rows, ordered by sequence index, is
 *     the one-process step's rows (same tokens, same order);
 *   - shuffle on: every epoch (W sequences) uses each of the first W*T
 *     tokens as an input exactly once; shuffle off: every N consecutive input
 *     tokens hold each stream token exactly once;
 *   - resume: a fresh loader started from a checkpoint record written at step
 *     k (ckpt_bind_data / ckpt_check_data) hands out exactly the batches of
 *     the uninterrupted run from step k on.
 * Prints "N passed, N failed". */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "core/error.h"
#include "data/loader.h"
#include "data/shard.h"
#include "train/checkpoint.h"

#include "check.h"

enum { N0 = 3001, N1 = 2000, N = N0 + N1, T = 16, B = 2, G = 8, STEPS = 200 };

/* rows[seq][t] of the whole run, filled by rank-simulated loaders */
static void run_layout(const char *dir, int shuffle, int dp, int32_t *rows, int from_step,
                       const TrainState *resume) {
    LsLoader ld;
    ls_loader_init(&ld, dir, "train", T, shuffle, 99);
    if (resume) ckpt_check_data(resume, &ld, dir);
    int A = G / (B * dp);
    int32_t x[B * T], y[B * T];
    for (int s = from_step; s < STEPS; s++)
        for (int r = 0; r < dp; r++) /* each rank on its own */
            for (int j = 0; j < A; j++) {
                uint64_t seq = (uint64_t)s * G + (uint64_t)j * B * dp + (uint64_t)r * B;
                ls_loader_get(&ld, seq, B, x, y);
                memcpy(rows + seq * T, x, sizeof x);
            }
    ls_loader_free(&ld);
}

int main(void) {
    ls_set_quiet(1);
    char dir[] = "/tmp/llmscale_test_ranks_XXXXXX", p0[64], p1[64];
    if (!mkdtemp(dir)) return 1;
    uint16_t *tok = malloc(N * sizeof(uint16_t));
    for (int i = 0; i < N; i++) tok[i] = (uint16_t)i;
    snprintf(p0, sizeof p0, "%s/train_000000.bin", dir);
    snprintf(p1, sizeof p1, "%s/train_000001.bin", dir);
    ls_shard_write(p0, tok, N0);
    ls_shard_write(p1, tok + N0, N1);

    size_t nrows = (size_t)STEPS * G;
    int32_t *one = calloc(nrows * T, sizeof(int32_t)), *many = calloc(nrows * T, sizeof(int32_t));
    for (int shuffle = 0; shuffle <= 1; shuffle++) {
        run_layout(dir, shuffle, 1, one, 0, NULL);
        for (int dp = 2; dp <= 4; dp *= 2) {
            memset(many, 0xff, nrows * T * sizeof(int32_t));
            run_layout(dir, shuffle, dp, many, 0, NULL);
            CHECK(memcmp(one, many, nrows * T * sizeof(int32_t)) == 0,
                  "shuffle %d: dp=%d ranks together == one process, step by step", shuffle, dp);
        }
        if (shuffle) {
            const int W = (N - 1) / T; /* 312 windows */
            int epochs = (int)(nrows / W), ok = 1;
            int *seen = calloc(W * T, sizeof(int));
            for (int e = 0; e < epochs; e++) {
                memset(seen, 0, W * T * sizeof(int));
                for (int i = 0; i < W * T; i++) {
                    int v = one[(size_t)e * W * T + i];
                    if (v < 0 || v >= W * T) ok = 0;
                    else seen[v]++;
                }
                for (int i = 0; i < W * T; i++) ok &= seen[i] == 1;
            }
            CHECK(ok && epochs >= 4, "shuffle: each of %d epochs inputs every token of [0, W*T) once", epochs);
            free(seen);
        } else {
            int ok = 1, epochs = (int)(nrows * T / N);
            int *seen = calloc(N, sizeof(int));
            for (int e = 0; e < epochs; e++) {
                memset(seen, 0, N * sizeof(int));
                for (int i = 0; i < N; i++) seen[one[(size_t)e * N + i]]++;
                for (int i = 0; i < N; i++) ok &= seen[i] == 1;
            }
            CHECK(ok && epochs >= 4, "no shuffle: each of %d N-token epochs inputs every token once", epochs);
            free(seen);
        }
        /* resume at step k with a different layout (dp 4 -> 2) */
        for (int k = 1; k < STEPS; k += 37) {
            LsLoader ld;
            ls_loader_init(&ld, dir, "train", T, shuffle, 99);
            TrainState st;
            memset(&st, 0, sizeof st);
            st.next_seq = (int64_t)k * G;
            ckpt_bind_data(&st, &ld);
            ls_loader_free(&ld);
            CHECK(st.data_tokens == N && st.data_epoch == (shuffle ? (uint64_t)(k * G) / ((N - 1) / T)
                                                                    : (uint64_t)k * G * T / N),
                  "checkpoint records N and the epoch at step %d", k);
            memset(many, 0xff, nrows * T * sizeof(int32_t));
            run_layout(dir, shuffle, 2, many, k, &st);
            CHECK(memcmp(one + (size_t)k * G * T, many + (size_t)k * G * T,
                         (nrows - (size_t)k * G) * T * sizeof(int32_t)) == 0,
                  "shuffle %d: resumed at step %d continues the same batches", shuffle, k);
        }
    }
    free(one), free(many), free(tok);
    unlink(p0), unlink(p1), rmdir(dir);
    return check_summary();
}
