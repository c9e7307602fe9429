/* encoder.c - token and position embeddings.
 * Forward: out[b,t,:] = wte[tok[b,t],:] + wpe[t,:].
 * Backward scatters dout back into the rows that were read. Several positions
 * may share a token, so the scatter is parallelised over channel ranges
 * (each thread owns a slice of every row): race-free and in a fixed order. */
#include <omp.h>

#include "kernels.h"
#include "profile.h"

void encoder_forward(float *out, const int32_t *tok, const float *wte, const float *wpe, int B,
                     int T, int C) {
    double t0_ = ls_prof_begin();
#pragma omp parallel for collapse(2) schedule(static)
    for (int b = 0; b < B; b++)
        for (int t = 0; t < T; t++) {
            float *o = out + ((long)b * T + t) * C;
            const float *e = wte + (long)tok[b * T + t] * C;
            const float *p = wpe + (long)t * C;
            for (int c = 0; c < C; c++) o[c] = e[c] + p[c];
        }
    ls_prof_end(LS_PROF_EMBED, t0_);
}

void encoder_backward(float *dwte, float *dwpe, const float *dout, const int32_t *tok, int B,
                      int T, int C) {
    double t0_ = ls_prof_begin();
#pragma omp parallel
    {
        int nth = omp_get_num_threads(), id = omp_get_thread_num();
        int c0 = (int)((long)C * id / nth), c1 = (int)((long)C * (id + 1) / nth);
        for (int b = 0; b < B; b++)
            for (int t = 0; t < T; t++) {
                const float *d = dout + ((long)b * T + t) * C;
                float *e = dwte + (long)tok[b * T + t] * C;
                float *p = dwpe + (long)t * C;
                for (int c = c0; c < c1; c++) {
                    e[c] += d[c];
                    p[c] += d[c];
                }
            }
    }
    ls_prof_end(LS_PROF_EMBED, t0_);
}
