/* gemm_avx512.c - the register-tile micro-kernels of gemm.c.
 *
 * One call computes an 8 x 48 tile of A B from micro-panels: 24 zmm
 * accumulators (8 rows x 3 vectors of 16 columns), 3 vector loads of B and 8
 * broadcasts of A per step of k. The accumulators never leave the registers
 * until the end, so the loop is bound by the FMA ports, not by memory.
 *
 * fp32:  acc[r][c] += A[r][k] * B[k][16c .. 16c+15]           (vfmadd231ps)
 * bf16:  acc[r][c] += A[r][k]   * B[k][..]  + A[r][k+1] * B[k+1][..]
 *        one vdpbf16ps per step of two k: the broadcast 32-bit word holds the
 *        bf16 pair (A[r][k], A[r][k+1]) and the B vector the 16 interleaved
 *        pairs (B[k][j], B[k+1][j]); products are exact in fp32 and summed in
 *        fp32, so bf16 only costs the rounding of the operands.
 * This file is compiled with -mavx512f -mavx512bf16 (Makefile); gemm.c calls
 * it only after checking the CPU at run time. */
#include <immintrin.h>
#include <stdint.h>

#include "gemm.h"
#include "vexp.h"

#define GEMM_MR 8 /* the AVX-512 kernels' register tile */
#define GEMM_NR 48

/* The end of a micro-kernel: the 8 x 48 tile in registers goes to C (row
 * stride ldc): added to C (accumulate 1), or stored with the bias of its 48
 * columns added (bias may be NULL), or stored with streaming stores
 * (accumulate 2); with the sum of the squares of what was written, if sq. */
static inline __attribute__((always_inline)) void tile_out(__m512 acc[GEMM_MR][3], float *C, long ldc,
                                                           int accumulate, const float *bias, float *sq) {
    /* C is read (accumulate) only now, after the k loop: gemm.c prefetched
     * its lines before the call, so the loads hit the cache */
    if (accumulate == 1) {
#pragma GCC unroll 8
        for (int r = 0; r < GEMM_MR; r++)
            for (int c = 0; c < 3; c++)
                acc[r][c] = _mm512_add_ps(_mm512_loadu_ps(C + r * ldc + 16 * c), acc[r][c]);
    } else if (bias) {
        __m512 b0 = _mm512_loadu_ps(bias), b1 = _mm512_loadu_ps(bias + 16), b2 = _mm512_loadu_ps(bias + 32);
#pragma GCC unroll 8
        for (int r = 0; r < GEMM_MR; r++) {
            acc[r][0] = _mm512_add_ps(acc[r][0], b0);
            acc[r][1] = _mm512_add_ps(acc[r][1], b1);
            acc[r][2] = _mm512_add_ps(acc[r][2], b2);
        }
    }
    if (sq) { /* sum of squares of the tile as stored: 4 independent chains of FMAs
               * (24 in all, against the k loop's 24 x kc), then one fixed reduction */
        __m512 s[4];
#pragma GCC unroll 4
        for (int i = 0; i < 4; i++) s[i] = _mm512_mul_ps(acc[i / 3][i % 3], acc[i / 3][i % 3]);
#pragma GCC unroll 20
        for (int i = 4; i < 3 * GEMM_MR; i++) s[i & 3] = _mm512_fmadd_ps(acc[i / 3][i % 3], acc[i / 3][i % 3], s[i & 3]);
        *sq = _mm512_reduce_add_ps(_mm512_add_ps(_mm512_add_ps(s[0], s[1]), _mm512_add_ps(s[2], s[3])));
    }
    if (accumulate == 2) { /* streaming stores: C's lines are written without being read */
#pragma GCC unroll 8
        for (int r = 0; r < GEMM_MR; r++)
            for (int c = 0; c < 3; c++) _mm512_stream_ps(C + r * ldc + 16 * c, acc[r][c]);
        return;
    }
#pragma GCC unroll 8
    for (int r = 0; r < GEMM_MR; r++)
        for (int c = 0; c < 3; c++) _mm512_storeu_ps(C + r * ldc + 16 * c, acc[r][c]);
}

/* A's element (r, k) is A[r * sar + k * sak]: a packed panel (sar 1, sak 8),
 * or 8 rows of a row-major matrix read where they lie (sar its row stride,
 * sak 1): each broadcast then comes from its own row, 8 streams that advance
 * one float per k and stay in L1 while the tile row is reused. */
void gemm_kernel_f32(int kc, const float *A, long sar, long sak, const float *Bp, float *C, long ldc,
                     int accumulate, const float *bias, float *sq) {
    __m512 acc[GEMM_MR][3];
#pragma GCC unroll 8
    for (int r = 0; r < GEMM_MR; r++)
        for (int c = 0; c < 3; c++) acc[r][c] = _mm512_setzero_ps();
    /* unrolled 4 times: the loop's pointer increments and branch then take
     * 3 integer uops per 96 FMAs instead of per 24, so they rarely steal an
     * issue slot from the FMA ports (0 and 5); the sums are unchanged.
     * Measured: 2-thread kernel 423 -> 454 GFLOP/s (pure FMA 467), products
     * of a GPT-2 T=64 step 600 -> 578 ms, 6 of 6 alternating rounds faster */
#pragma GCC unroll 4
    for (int k = 0; k < kc; k++) {
        __m512 b0 = _mm512_load_ps(Bp), b1 = _mm512_load_ps(Bp + 16), b2 = _mm512_load_ps(Bp + 32);
#pragma GCC unroll 8
        for (int r = 0; r < GEMM_MR; r++) {
            __m512 a = _mm512_set1_ps(A[r * sar]);
            acc[r][0] = _mm512_fmadd_ps(a, b0, acc[r][0]);
            acc[r][1] = _mm512_fmadd_ps(a, b1, acc[r][1]);
            acc[r][2] = _mm512_fmadd_ps(a, b2, acc[r][2]);
        }
        A += sak;
        Bp += GEMM_NR;
    }
    tile_out(acc, C, ldc, accumulate, bias, sq);
}

void gemm_kernel_bf16(int kc2, const unsigned short *Ap, const unsigned short *Bp, float *C, long ldc,
                      int accumulate, const float *bias, float *sq) {
    __m512 acc[GEMM_MR][3];
#pragma GCC unroll 8
    for (int r = 0; r < GEMM_MR; r++)
        for (int c = 0; c < 3; c++) acc[r][c] = _mm512_setzero_ps();
    const int32_t *A32 = (const int32_t *)Ap; /* one (k, k+1) pair per 32-bit word */
    for (int p = 0; p < kc2; p++) {
        __m512bh b0 = (__m512bh)_mm512_load_si512(Bp), b1 = (__m512bh)_mm512_load_si512(Bp + 32),
                 b2 = (__m512bh)_mm512_load_si512(Bp + 64);
#pragma GCC unroll 8
        for (int r = 0; r < GEMM_MR; r++) {
            __m512bh a = (__m512bh)_mm512_set1_epi32(A32[r]);
            acc[r][0] = _mm512_dpbf16_ps(acc[r][0], a, b0);
            acc[r][1] = _mm512_dpbf16_ps(acc[r][1], a, b1);
            acc[r][2] = _mm512_dpbf16_ps(acc[r][2], a, b2);
        }
        A32 += GEMM_MR;
        Bp += 2 * GEMM_NR;
    }
    tile_out(acc, C, ldc, accumulate, bias, sq);
}

/* AMX: 32 x 32 tile from four 16 x 16 fp32 tile registers (C00 C01 / C10 C11),
 * two A tiles (16 rows x 32 bf16 of k, row-major) and two B tiles (16 pairs
 * of k x 16 columns, pairs interleaved - the same layout as the vdpbf16ps
 * B panel, read with a 128-byte row stride). TDPBF16PS computes
 *     C[m][n] += sum_p A[m][2p] B[p][n][0] + A[m][2p+1] B[p][n][1]
 * in fp32, 16 x 16 x 32 products per instruction. The tile configuration is
 * per thread, loaded on a thread's first call. */
typedef struct {
    uint8_t palette, start_row, reserved[14];
    uint16_t colsb[16];
    uint8_t rows[16];
} __attribute__((packed)) AmxConfig;

static __thread int amx_configured;

void gemm_kernel_amx(int kc32, const unsigned short *Ap, const unsigned short *Bp, float *out) {
    if (!amx_configured) {
        AmxConfig cfg = {0};
        cfg.palette = 1;
        for (int t = 0; t < 8; t++) cfg.colsb[t] = 64, cfg.rows[t] = 16;
        _tile_loadconfig(&cfg);
        amx_configured = 1;
    }
    _tile_zero(0);
    _tile_zero(1);
    _tile_zero(2);
    _tile_zero(3);
    for (int kb = 0; kb < kc32; kb++) {
        const unsigned short *a = Ap + (long)kb * 32 * 32, *b = Bp + (long)kb * 16 * 64;
        _tile_loadd(4, a, 64);
        _tile_loadd(5, a + 16 * 32, 64);
        _tile_loadd(6, b, 128);
        _tile_loadd(7, b + 32, 128);
        _tile_dpbf16ps(0, 4, 6);
        _tile_dpbf16ps(1, 4, 7);
        _tile_dpbf16ps(2, 5, 6);
        _tile_dpbf16ps(3, 5, 7);
    }
    _tile_stored(0, out, 128);
    _tile_stored(1, out + 16, 128);
    _tile_stored(2, out + 16 * 32, 128);
    _tile_stored(3, out + 16 * 32 + 16, 128);
}

/* Packing with vector conversions (vcvtne2ps2bf16 rounds to nearest even,
 * like gemm.c's scalar to_bf16; it also flushes fp32 denormals, below 1.2e-38,
 * to zero). Two source shapes have a fast path:
 *   gemm_pack_row32: each line's k values are contiguous (AMX A operand);
 *   gemm_pack_pair:  the W lines are contiguous within each k (B operands).
 * Both zero the padding lines (>= valid) and the k tail up to kpad.
 * (And gemm_pack_pair_t, at the end of the file: lines along k, transposed.) */

/* 32 consecutive values of a line, the first n of them loaded (n <= 0: none,
 * no memory touched), rounded to bf16: [bf16(s[0..15]), bf16(s[16..31])],
 * i.e. 16 32-bit words of (k, k+1) pairs */
static inline __m512i bf16x32(const float *s, int n) {
    __m512 lo = _mm512_maskz_loadu_ps(ls_vtail(n > 0 ? n : 0), s);
    __m512 hi = _mm512_maskz_loadu_ps(ls_vtail(n > 16 ? n - 16 : 0), s + 16);
    return (__m512i)_mm512_cvtne2ps_pbh(hi, lo);
}

void gemm_pack_row32(unsigned short *d, int W, int kc, int kpad, const float *src, long ls,
                     int valid) {
    for (int i = 0; i < W; i++) {
        const float *s = src + (i < valid ? i : 0) * ls; /* padding lines load nothing */
        for (int k = 0; k < kpad; k += 32)
            _mm512_storeu_si512(d + (long)(k >> 5) * W * 32 + i * 32, bf16x32(s + k, i < valid ? kc - k : 0));
    }
}

void gemm_pack_pair(unsigned short *d, int W, int np, long pstride, int kc, int kpad,
                    const float *src, long ks, int valid) {
    /* v = [bf16(row k)[0..15], bf16(row k+1)[0..15]] -> pairs (k, k+1) per line.
     * Rows of the source are walked whole (all np panels of a pair of rows
     * before the next pair), so the reads stream. */
    const __m512i inter = _mm512_set_epi16(31, 15, 30, 14, 29, 13, 28, 12, 27, 11, 26, 10, 25, 9, 24, 8,
                                           23, 7, 22, 6, 21, 5, 20, 4, 19, 3, 18, 2, 17, 1, 16, 0);
    for (int k = 0; k < kpad; k += 2) {
        const float *r0 = src + (long)k * ks, *r1 = r0 + ks;
        if (k >= kc) r0 = src; /* nothing is loaded from either row */
        if (k + 1 >= kc) r1 = src;
        for (int q = 0; q < np; q++)
            for (int i = 0; i < W; i += 16) {
                int l = q * W + i, rem = valid - l;
                __mmask16 m = ls_vtail(rem > 0 ? rem : 0);
                __m512 x0 = _mm512_maskz_loadu_ps(k < kc ? m : 0, r0 + (rem > 0 ? l : 0));
                __m512 x1 = _mm512_maskz_loadu_ps(k + 1 < kc ? m : 0, r1 + (rem > 0 ? l : 0));
                __m512i v = (__m512i)_mm512_cvtne2ps_pbh(x1, x0);
                _mm512_storeu_si512(d + q * pstride + ((long)(k >> 1) * W + i) * 2,
                                    _mm512_permutexvar_epi16(inter, v));
            }
    }
}

/* fp32 packing of lines that run along k (x's rows, W's rows in x W^T): the
 * k-major panel [k][i] is the transpose of the source, built from 16 x 16
 * blocks (16 lines x 16 k) transposed in registers - four rounds of
 * shuffles, each swapping ever larger sub-blocks (1, 2, 4, 8 elements)
 * between pairs of rows - instead of one scalar copy per element. Lines
 * past `valid` and k past kc are loaded as zeros (masked loads read nothing
 * out of range); kc is the panel's full k extent (fp32 needs no k padding). */
static inline void transpose16(__m512 r[16]) {
    __m512 t[16];
    for (int i = 0; i < 16; i += 2) { /* 1 x 1 blocks: rows i, i+1 */
        t[i] = _mm512_unpacklo_ps(r[i], r[i + 1]);
        t[i + 1] = _mm512_unpackhi_ps(r[i], r[i + 1]);
    }
    for (int i = 0; i < 16; i += 4) /* 2 x 2 blocks: rows i..i+3 */
        for (int j = 0; j < 2; j++) { /* j = 0: columns 4l, 4l+1 of each lane l; j = 1: 4l+2, 4l+3 */
            r[i + 2 * j] = (__m512)_mm512_unpacklo_pd((__m512d)t[i + j], (__m512d)t[i + 2 + j]);
            r[i + 2 * j + 1] = (__m512)_mm512_unpackhi_pd((__m512d)t[i + j], (__m512d)t[i + 2 + j]);
        }
    for (int i = 0; i < 16; i += 8) /* 4 x 4 blocks (128-bit lanes): rows i..i+7 */
        for (int j = 0; j < 4; j++) {
            t[i + j] = _mm512_shuffle_f32x4(r[i + j], r[i + 4 + j], 0x88);
            t[i + 4 + j] = _mm512_shuffle_f32x4(r[i + j], r[i + 4 + j], 0xDD);
        }
    for (int j = 0; j < 8; j++) { /* 8 x 8 blocks: rows j, j+8 */
        r[j] = _mm512_shuffle_f32x4(t[j], t[j + 8], 0x88);
        r[j + 8] = _mm512_shuffle_f32x4(t[j], t[j + 8], 0xDD);
    }
}

void gemm_pack_f32_t(float *d, int W, int kc, const float *src, long ls, int valid) {
    for (int i0 = 0; i0 < W; i0 += 16) {
        int nl = W - i0 < 16 ? W - i0 : 16; /* lines in this block: 16, or 8 for W = 8 */
        for (int k0 = 0; k0 < kc; k0 += 16) {
            int rem = kc - k0 < 16 ? kc - k0 : 16;
            __mmask16 m = (__mmask16)((1u << rem) - 1);
            __m512 r[16];
            for (int i = 0; i < 16; i++)
                r[i] = i < nl && i0 + i < valid ? _mm512_maskz_loadu_ps(m, src + (long)(i0 + i) * ls + k0)
                                                : _mm512_setzero_ps();
            transpose16(r); /* r[k] = the 16 lines' values at k0 + k */
            float *o = d + (long)k0 * W + i0;
            if (nl == 16)
                for (int k = 0; k < rem; k++) _mm512_storeu_ps(o + (long)k * W, r[k]);
            else
                for (int k = 0; k < rem; k++) _mm256_storeu_ps(o + (long)k * W, _mm512_castps512_ps256(r[k]));
        }
    }
}

/* bf16 pairs [k/2][i][k%2] of lines that run along k (x's and W's rows in
 * x W^T, dy's in dy W): 32 values of a line become, rounded to bf16, 16 32-bit words of
 * (k, k+1) pairs; 16 lines' words are then transposed like fp32 values (the
 * shuffles only move bits), so that each pair's 16 lines are one store. */
void gemm_pack_pair_t(unsigned short *d, int W, int kc, int kpad, const float *src, long ls, int valid) {
    for (int i0 = 0; i0 < W; i0 += 16)
        for (int k0 = 0; k0 < kpad; k0 += 32) {
            int nl = W - i0 < 16 ? W - i0 : 16; /* lines in this block: 16, or 8 for W = 8 */
            int np = (kpad - k0) / 2 < 16 ? (kpad - k0) / 2 : 16; /* pairs stored */
            __m512 r[16];
            for (int i = 0; i < 16; i++) { /* word j of r[i]: pair (k0 + 2j, k0 + 2j + 1) of line i0 + i */
                int line = i < nl && i0 + i < valid;
                r[i] = (__m512)bf16x32(src + (line ? (long)(i0 + i) * ls + k0 : 0), line ? kc - k0 : 0);
            }
            transpose16(r); /* r[j] = the 16 lines' words of pair k0/2 + j */
            unsigned short *o = d + ((long)(k0 >> 1) * W + i0) * 2;
            if (nl == 16)
                for (int j = 0; j < np; j++) _mm512_storeu_ps((float *)(o + (long)j * W * 2), r[j]);
            else
                for (int j = 0; j < np; j++)
                    _mm256_storeu_ps((float *)(o + (long)j * W * 2), _mm512_castps512_ps256(r[j]));
        }
}
