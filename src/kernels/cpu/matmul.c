/* matmul.c - the linear layer y = x W^T + b through OpenBLAS (CBLAS).
 *
 * x is (N, C), W is (OC, C) (torch.nn.Linear's layout, and llm.c's), y (N, OC).
 * Backward of y = x W^T:
 *     dx = dy W        (N,OC)(OC,C)
 *     dW += dy^T x     (OC,N)(N,C)
 *     db += sum_rows dy
 * These three products are ~2/3 of a training step's FLOPs; BLAS runs them
 * multi-threaded. The bias sum is parallelised over output columns so each
 * column's sum runs in row order. */
#include <cblas.h>
#include <omp.h>
#include <string.h>

#include "kernels.h"

void matmul_forward(float *out, const float *x, const float *W, const float *bias, int N, int C,
                    int OC) {
    float beta = 0.0f;
    if (bias) {
#pragma omp parallel for schedule(static)
        for (int i = 0; i < N; i++) memcpy(out + (long)i * OC, bias, sizeof(float) * OC);
        beta = 1.0f;
    }
    cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, N, OC, C, 1.0f, x, C, W, C, beta, out, OC);
}

void matmul_backward(float *dx, float *dW, float *dbias, const float *dout, const float *x,
                     const float *W, int N, int C, int OC) {
    if (dx)
        cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, N, C, OC, 1.0f, dout, OC, W, C,
                    0.0f, dx, C);
    cblas_sgemm(CblasRowMajor, CblasTrans, CblasNoTrans, OC, C, N, 1.0f, dout, OC, x, C, 1.0f, dW,
                C);
    if (dbias) {
#pragma omp parallel
        {
            int nth = omp_get_num_threads(), id = omp_get_thread_num();
            int o0 = (int)((long)OC * id / nth), o1 = (int)((long)OC * (id + 1) / nth);
            for (int i = 0; i < N; i++) {
                const float *d = dout + (long)i * OC;
                for (int o = o0; o < o1; o++) dbias[o] += d[o];
            }
        }
    }
}
