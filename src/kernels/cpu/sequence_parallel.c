/* sequence_parallel.c - moving rows between the sequence order of a
 * micro-batch and the rank order of a sequence-parallel collective.
 *
 * With sequence parallelism over t ranks (Korthikanti et al. 2022), rank r
 * holds tokens [r*Tl, (r+1)*Tl) of every sequence, Tl = T/t: its N/t rows are
 * ordered (b, i) for the token b*T + r*Tl + i. An all-gather or a
 * reduce-scatter works on rank-major buffers, piece r (rank r's N/t rows)
 * after piece r-1, while the column-parallel products and attention want the
 * whole micro-batch in sequence order (B, T, C). Both directions below are
 * B*t contiguous block copies of Tl*C floats: memory-bound, a small fraction
 * of the products they sit between. (Megatron stores activations as (T, B, C),
 * where a split of T is already contiguous; llmscale keeps llm.c's (B, T, C).) */
#include <string.h>

#include "kernels.h"
#include "profile.h"

/* One routine for both directions: to_pieces = 1 copies full -> pieces. */
static void move_rows(float *pieces, float *full, int B, int T, int tp, int C, int to_pieces) {
    double t0_ = ls_prof_begin();
    int Tl = T / tp;
    size_t blk = (size_t)Tl * C;
#pragma omp parallel for collapse(2) schedule(static)
    for (int r = 0; r < tp; r++)
        for (int b = 0; b < B; b++) {
            float *p = pieces + ((size_t)r * B + b) * blk, *f = full + ((size_t)b * T + (size_t)r * Tl) * C;
            if (to_pieces) memcpy(p, f, blk * sizeof(float));
            else memcpy(f, p, blk * sizeof(float));
        }
    ls_prof_end(LS_PROF_COMM, t0_);
}

void seq_to_rank_major(float *pieces, const float *full, int B, int T, int tp, int C) {
    move_rows(pieces, (float *)full, B, T, tp, C, 1);
}

void seq_from_rank_major(float *full, const float *pieces, int B, int T, int tp, int C) {
    move_rows((float *)pieces, full, B, T, tp, C, 0);
}
