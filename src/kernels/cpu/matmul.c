/* matmul.c - the linear layer y = x W^T + b: fp32 through OpenBLAS (CBLAS),
 * or, with matmul_set_dtype(LS_DTYPE_BF16), through our bf16 GEMM (gemm.h:
 * operands rounded to bf16, products and sums in fp32; the fp32 weights stay
 * the master copy and are rounded as they are packed).
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

#include "../../core/cpu.h"
#include "../../core/error.h"
#include "gemm.h"
#include "kernels.h"
#include "profile.h"

static LsDtype matmul_type = LS_DTYPE_F32;

void matmul_set_dtype(LsDtype t) {
    if (t == LS_DTYPE_BF16 && !gemm_supported(LS_GEMM_BF16))
        ls_fatal("--dtype bf16 needs a CPU with AVX512_BF16 or AMX-BF16 (this one, %s, has neither)",
                 ls_cpu_model_name());
    matmul_type = t;
}

LsDtype matmul_dtype(void) { return matmul_type; }

const char *matmul_describe(void) {
    return matmul_type == LS_DTYPE_BF16 ? gemm_name(LS_GEMM_BF16) : "fp32 OpenBLAS sgemm";
}

void matmul_forward(float *out, const float *x, const float *W, const float *bias, int N, int C,
                    int OC) {
    double t0_ = ls_prof_begin();
    if (matmul_type == LS_DTYPE_BF16) { /* x (N,C) row-major times W^T: W read along its rows */
        gemm(LS_GEMM_BF16, N, OC, C, x, C, 1, W, 1, C, out, OC, 0, bias);
        ls_prof_end(LS_PROF_MATMUL, t0_);
        return;
    }
    float beta = 0.0f;
    if (bias) {
#pragma omp parallel for schedule(static)
        for (int i = 0; i < N; i++) memcpy(out + (long)i * OC, bias, sizeof(float) * OC);
        beta = 1.0f;
    }
    cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, N, OC, C, 1.0f, x, C, W, C, beta, out, OC);
    ls_prof_end(LS_PROF_MATMUL, t0_);
}

void matmul_backward(float *dx, float *dW, float *dbias, const float *dout, const float *x,
                     const float *W, int N, int C, int OC) {
    double t0_ = ls_prof_begin();
    if (matmul_type == LS_DTYPE_BF16) { /* dW += dout^T x: dout read down its columns */
        if (dx) gemm(LS_GEMM_BF16, N, C, OC, dout, OC, 1, W, C, 1, dx, C, 0, NULL);
        if (dW) gemm(LS_GEMM_BF16, OC, C, N, dout, 1, OC, x, C, 1, dW, C, 1, NULL);
    } else {
        if (dx)
            cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, N, C, OC, 1.0f, dout, OC, W, C,
                        0.0f, dx, C);
        if (dW)
            cblas_sgemm(CblasRowMajor, CblasTrans, CblasNoTrans, OC, C, N, 1.0f, dout, OC, x, C,
                        1.0f, dW, C);
    }
    if (dW && dbias) {
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
    ls_prof_end(LS_PROF_MATMUL, t0_);
}
