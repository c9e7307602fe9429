/* matmul.c - the linear layer y = x W^T + b: fp32 through our AVX-512 GEMM
 * (gemm.h) or OpenBLAS (CBLAS), whichever was faster at the shape (see
 * own_dw below), or, with matmul_set_dtype(LS_DTYPE_BF16), through our bf16
 * GEMM (operands rounded to bf16, products and sums in fp32; the fp32
 * weights stay the master copy and are rounded as they are packed).
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

/* fp32: our engine needs AVX-512; without it every product goes to OpenBLAS.
 * Nor is it used for fewer than 32 tokens (KV-cache decoding runs one token
 * at a time: a matrix-vector product, which gains nothing from packing). */
static int own_f32(int N) {
    static int have = -1;
    if (have < 0) have = gemm_supported(LS_GEMM_F32);
    return have && N >= 32;
}

/* The measured rule for fp32 (2-core AVX-512 VM, GPT-2 124M shapes, 256 and
 * 1024 tokens, both engines alternated in one harness run, CPU time because
 * other jobs loaded the machine):
 *   y = x W^T and dx = dy W: our engine, 10-40% less time than OpenBLAS
 *     sgemm at every shape (C written once per 768-long k slice, vector
 *     transposing packer);
 *   dW += dy^T x: ours is 5-20% ahead when the weight has no more rows than
 *     columns (OC <= C: attention and MLP output projections) or with >= 512
 *     tokens, except the LM head; OpenBLAS is ~10% ahead for OC > C with few
 *     tokens (QKV and MLP input at 256 tokens) and for the LM head (OC =
 *     50304), so those stay on OpenBLAS.
 * In a whole training step the gain is smaller: one thread, 7.5% less CPU
 * per step (T=64); two threads, the same wall-clock step within noise (T=256:
 * block linears 1892 vs 1852 ms, LM head 830 vs 870 ms). Either way the
 * products are correctly rounded fp32 sums; only the order of the additions
 * differs. */
static int own_dw(int N, int C, int OC) {
    if (!own_f32(N)) return 0;
    if (OC <= C) return 1;
    return N >= 512 && OC < 8 * C;
}

static double *dw_sumsq; /* matmul_set_dw_sumsq */
void matmul_set_dw_sumsq(double *sink) { dw_sumsq = sink; }

void matmul_set_dtype(LsDtype t) {
    if (t == LS_DTYPE_BF16 && !gemm_supported(LS_GEMM_BF16))
        ls_fatal("--dtype bf16 needs a CPU with AVX512_BF16 or AMX-BF16 (this one, %s, has neither)",
                 ls_cpu_model_name());
    matmul_type = t;
}

LsDtype matmul_dtype(void) { return matmul_type; }

const char *matmul_describe(void) {
    if (matmul_type == LS_DTYPE_BF16) return gemm_name(LS_GEMM_BF16);
    return own_f32(1 << 30) ? "fp32: own AVX-512 GEMM, OpenBLAS sgemm for some weight gradients"
                     : "fp32 OpenBLAS sgemm";
}

/* bench's table of the products one by one (profile.h): the engine that ran
 * each and its wall time, while the profile is on */
static const char ENG_OWN[] = "own fp32 AVX-512", ENG_BLAS[] = "OpenBLAS sgemm";
static double prod_begin(void) { return ls_prof_on ? ls_now_s() : 0.0; }
static void prod_end(LsMmKind kind, int N, int C, int OC, const char *engine, double t0) {
    if (ls_prof_on) ls_prof_product(kind, N, C, OC, engine, ls_now_s() - t0);
}

void matmul_forward(float *out, const float *x, const float *W, const float *bias, int N, int C,
                    int OC) {
    double t0_ = ls_prof_begin(), tp = prod_begin();
    const char *engine;
    if (matmul_type == LS_DTYPE_BF16) { /* x (N,C) row-major times W^T: W read along its rows */
        gemm(LS_GEMM_BF16, N, OC, C, x, C, 1, W, 1, C, out, OC, 0, bias);
        engine = gemm_name(LS_GEMM_BF16);
    } else if (own_f32(N)) {
        gemm(LS_GEMM_F32, N, OC, C, x, C, 1, W, 1, C, out, OC, 0, bias);
        engine = ENG_OWN;
    } else {
        float beta = 0.0f;
        if (bias) {
#pragma omp parallel for schedule(static)
            for (int i = 0; i < N; i++) memcpy(out + (long)i * OC, bias, sizeof(float) * OC);
            beta = 1.0f;
        }
        cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, N, OC, C, 1.0f, x, C, W, C, beta, out, OC);
        engine = ENG_BLAS;
    }
    prod_end(LS_MM_FWD, N, C, OC, engine, tp);
    ls_prof_end(LS_PROF_MATMUL, t0_);
}

void matmul_backward(float *dx, float *dW, float *dbias, const float *dout, const float *x,
                     const float *W, int N, int C, int OC) {
    double t0_ = ls_prof_begin(), tp = prod_begin();
    if (matmul_type == LS_DTYPE_BF16) { /* dW += dout^T x: dout read down its columns */
        const char *engine = gemm_name(LS_GEMM_BF16);
        if (dx) {
            gemm(LS_GEMM_BF16, N, C, OC, dout, OC, 1, W, C, 1, dx, C, 0, NULL);
            prod_end(LS_MM_DX, N, C, OC, engine, tp);
            tp = prod_begin();
        }
        if (dW) {
            if (dw_sumsq) /* written, not added to (kernels.h) */
                *dw_sumsq += gemm_sumsq(LS_GEMM_BF16, OC, C, N, dout, 1, OC, x, C, 1, dW, C, LS_GEMM_STREAM, NULL);
            else gemm(LS_GEMM_BF16, OC, C, N, dout, 1, OC, x, C, 1, dW, C, 1, NULL);
            prod_end(LS_MM_DW, N, C, OC, engine, tp);
        }
    } else {
        if (dx) {
            int own = own_f32(N);
            if (own) gemm(LS_GEMM_F32, N, C, OC, dout, OC, 1, W, C, 1, dx, C, 0, NULL);
            else
                cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, N, C, OC, 1.0f, dout, OC, W, C,
                            0.0f, dx, C);
            prod_end(LS_MM_DX, N, C, OC, own ? ENG_OWN : ENG_BLAS, tp);
            tp = prod_begin();
        }
        if (dW) {
            /* With a sink, ours for every weight, so that its epilogue takes the
             * squares, and dW is written with streaming stores instead of read
             * and written back. Measured, T=64, 3 alternating rounds: step
             * 620-629 -> 613-622 ms with the epilogue alone (gradient norm 15.7
             * -> 1.3 ms; the LM head's product then on OpenBLAS, 49-50 ms against
             * ours 61-62, and a pass over it); streaming stores: 613-647 ->
             * 605-613 ms, and the LM head's 54-56 ms on ours against 58-60 on
             * OpenBLAS with its pass, so ours runs it too. */
            int own = own_dw(N, C, OC) || (dw_sumsq && own_f32(N));
            if (own && dw_sumsq) /* written with streaming stores (kernels.h) */
                *dw_sumsq += gemm_sumsq(LS_GEMM_F32, OC, C, N, dout, 1, OC, x, C, 1, dW, C, LS_GEMM_STREAM, NULL);
            else if (own)
                gemm(LS_GEMM_F32, OC, C, N, dout, 1, OC, x, C, 1, dW, C, 1, NULL);
            else /* with a sink, beta 0: dW is written, as by ours */
                cblas_sgemm(CblasRowMajor, CblasTrans, CblasNoTrans, OC, C, N, 1.0f, dout, OC, x, C,
                            dw_sumsq ? 0.0f : 1.0f, dW, C);
            if (!own && dw_sumsq) *dw_sumsq += sum_squares(dW, (size_t)OC * C);
            prod_end(LS_MM_DW, N, C, OC, own ? ENG_OWN : ENG_BLAS, tp);
        }
    }
    if (dW && dbias) {
        tp = prod_begin();
#pragma omp parallel
        {
            int nth = omp_get_num_threads(), id = omp_get_thread_num();
            int o0 = (int)((long)OC * id / nth), o1 = (int)((long)OC * (id + 1) / nth);
            for (int i = 0; i < N; i++) {
                const float *d = dout + (long)i * OC;
                for (int o = o0; o < o1; o++) dbias[o] += d[o];
            }
        }
        prod_end(LS_MM_DBIAS, N, C, OC, "-", tp);
    }
    ls_prof_end(LS_PROF_MATMUL, t0_);
}
