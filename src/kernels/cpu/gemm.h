/* gemm.h - our own blocked matrix product C (+)= A B (+ bias), in fp32 or with
 * bf16 operands and fp32 accumulation, for the linear layers.
 *
 * Operands are strided views, so the three products of a linear layer need no
 * transposed copies: element (i, k) of A is A[i*rsa + k*csa], element (k, j)
 * of B is B[k*rsb + j*csb]; C is row-major with leading dimension ldc.
 *   accumulate = 0: C  = A B (+ bias[j] on every row, if bias is not NULL)
 *   accumulate = 1: C += A B (bias must be NULL)
 *   accumulate = LS_GEMM_STREAM (2): C = A B, and C is not read again soon
 *     (a weight gradient): where K fits one k slice, whole 64-byte-aligned
 *     tiles go to memory with streaming stores, without reading C's lines
 *     first (the fp32 and vdpbf16ps engines; AMX stores as for 0)
 * C must not overlap A or B: the fp32 engine reads A in place while it
 * writes C (the model never aliases them).
 * The bf16 engines round both operands to bfloat16 (round to nearest even)
 * while packing them; every product is exact in fp32 and every sum is fp32.
 *   LS_GEMM_F32          AVX-512 FMA (vfmadd231ps)
 *   LS_GEMM_BF16_AVX512  AVX512_BF16 dot products (vdpbf16ps)
 *   LS_GEMM_BF16_AMX     AMX tiles (tdpbf16ps)
 *   LS_GEMM_BF16         the fastest bf16 engine this CPU has (AMX, else AVX512_BF16)
 * Results do not depend on the thread count. */
#ifndef LS_GEMM_H
#define LS_GEMM_H

typedef enum { LS_GEMM_F32, LS_GEMM_BF16, LS_GEMM_BF16_AVX512, LS_GEMM_BF16_AMX } LsGemmType;
#define LS_GEMM_STREAM 2

/* 1 when this CPU (and OS) can run the engine; LS_GEMM_BF16 when either can */
int gemm_supported(LsGemmType type);
/* the engine LS_GEMM_BF16 resolves to (others are returned unchanged) */
LsGemmType gemm_resolve(LsGemmType type);
const char *gemm_name(LsGemmType type);
void gemm(LsGemmType type, int M, int N, int K, const float *A, long rsa, long csa,
          const float *B, long rsb, long csb, float *C, long ldc, int accumulate,
          const float *bias);
/* The same product, also returning the sum of the squares of C's elements
 * as the product leaves them (accumulation and bias included): each tile's
 * sum is taken while the tile is still in registers, in float, and the
 * tiles' sums are added in a fixed order in double (split-k products, whose
 * elements are final only after the ranges are added: row by row in double
 * in that pass), so it does not depend on the thread count either. The
 * weight gradients' share of the gradient norm comes from here instead of a
 * second read of 0.5 GB (matmul.h). */
double gemm_sumsq(LsGemmType type, int M, int N, int K, const float *A, long rsa, long csa,
                  const float *B, long rsb, long csb, float *C, long ldc, int accumulate,
                  const float *bias);

/* Micro-kernels (gemm_avx512.c). Each multiplies one packed micro-panel of A
 * (MR rows) by one packed micro-panel of B (NR columns) over a slice of k
 * and stores the MR x NR tile in `out` (row-major, leading dimension NR).
 * Packed layouts, element (row or column i, k):
 *   fp32 (MR 8, NR 48)        k-major:          [k][i]
 *   vdpbf16ps (MR 8, NR 48)   k-major in pairs: [k/2][i][k%2]
 *   AMX A (MR 32)             rows of 32 k:     [k/32][i][k%32]
 *   AMX B (NR 32)             k-major in pairs: [k/2][i][k%2]
 * The kernels' k arguments count steps: k, pairs of k, blocks of 32 k.
 * The fp32 kernel also reads A where it lies: element (r, k) at
 * A[r*sar + k*sak] (packed: sar 1, sak 8; rows of a row-major matrix: sar
 * its row stride, sak 1). It and the vdpbf16ps kernel write their 8 x 48
 * result straight into a
 * row-major C (leading dimension ldc): C += tile (accumulate), else
 * C = tile + bias[j] (bias of the tile's 48 columns, or NULL); gemm.c gives
 * it a scratch tile (ldc 48, no bias) for ragged edges; accumulate 2:
 * C = tile with streaming stores (C 64-byte aligned). Either way the sums
 * are the same, in the same order, as tile-then-add. If sq is not NULL it
 * also stores the sum of the squares of the 384 values it wrote there. */
void gemm_kernel_f32(int kc, const float *A, long sar, long sak, const float *Bp, float *C, long ldc,
                     int accumulate, const float *bias, float *sq);
void gemm_kernel_bf16(int kc2, const unsigned short *Ap, const unsigned short *Bp, float *C, long ldc,
                      int accumulate, const float *bias, float *sq);
void gemm_kernel_amx(int kc32, const unsigned short *Ap, const unsigned short *Bp, float *out);
/* Vector packers for the bf16 layouts (gemm_avx512.c; need AVX512_BF16). */
void gemm_pack_row32(unsigned short *d, int W, int kc, int kpad, const float *src, long ls, int valid);
/* np panels, pstride elements apart; `valid` lines in all */
void gemm_pack_pair(unsigned short *d, int W, int np, long pstride, int kc, int kpad,
                    const float *src, long ks, int valid);
/* fp32 panel [k][i] of W (8 or a multiple of 16) lines whose k values are
 * contiguous (line i, element k at src[i*ls + k]), by 16 x 16 register
 * transposes (AVX-512F only). */
void gemm_pack_f32_t(float *d, int W, int kc, const float *src, long ls, int valid);
/* bf16 pair panel [k/2][i][k%2] of W (8 or a multiple of 16) lines whose k values
 * are contiguous, by the same transposes (AVX512_BF16). */
void gemm_pack_pair_t(unsigned short *d, int W, int kc, int kpad, const float *src, long ls, int valid);

#endif
