/* test_gemm.c - our blocked GEMM (kernels/cpu/gemm.c) against a float64
 * triple loop, for random operands in every stride layout the linear layers
 * use (x W^T, dy W, dy^T x), ragged shapes (not multiples of the 8 x 48 tile,
 * odd K, K across several k slices; whole 8-row panels, which the fp32 engine
 * reads in place without packing), with and without bias and accumulation.
 *
 * Tolerances, per element, with S = sum_k |a_ik b_kj|:
 *   fp32: the blocked sum differs from the exact one by rounding only:
 *         |err| <= K * 2^-24 * S (the standard bound for a length-K sum).
 *   bf16: each operand is rounded to 8 significant bits (7 stored + the
 *         implicit one), relative error at most the unit roundoff u = 2^-8
 *         (half an ulp: 1 + 2^-8 is a tie between 1 and 1 + 2^-7), so each
 *         product is off by at most (2u + u^2)|a b| and the sum by that times
 *         S plus the fp32 summation error above:
 *         |err| <= (2^-7 + 2^-16 + K * 2^-24) * S.
 *         Checked also against the exact product of the bf16-ROUNDED operands,
 *         which must match to the fp32 summation bound alone: this catches a
 *         kernel that rounds wrongly (truncation) or drops the odd k.
 * The thread-count check runs 1 and 3 threads: with split-k (gemm.c's dx
 * with few tokens: the threads split k in two fixed ranges) 3 threads also
 * cut each range's columns into blocks, 1 thread runs both ranges in turn.
 * C is poisoned with NaN before non-accumulating calls, so an element the
 * kernel fails to write cannot pass. LS_GEMM_STREAM (streaming stores) must
 * give the same C as 0. The transposing bf16 packer (gemm_pack_pair_t) is
 * also checked alone, element by element, at every panel width it serves.
 * gemm_sumsq is checked on every case:
 * the same C, the sum of squares of its elements, and no dependence on the
 * thread count. */
#include <math.h>
#include <omp.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include "core/cpu.h"
#include "core/error.h"
#include "core/rng.h"
#include "kernels/cpu/gemm.h"

#include "check.h"

static float bf16_round(float f) { /* round to nearest even, as gemm.c packs */
    uint32_t u;
    memcpy(&u, &f, 4);
    u += 0x7FFFu + ((u >> 16) & 1u);
    u &= 0xFFFF0000u;
    memcpy(&f, &u, 4);
    return f;
}

/* layout 0: A (M,K) row-major, B given as W (N,K) (x W^T)
 * layout 1: A (M,K) row-major, B (K,N) row-major (dy W)
 * layout 2: A given as (K,M) row-major (dy^T x), B (K,N) row-major */
static void one_case(LsGemmType type, int layout, int M, int N, int K, int accumulate, int with_bias,
                     uint64_t seed) {
    LsRng r;
    ls_rng_seed(&r, seed);
    float *A = ls_calloc((size_t)M * K, 4, "A"), *B = ls_calloc((size_t)K * N, 4, "B");
    float *C = ls_calloc((size_t)M * N, 4, "C"), *C0 = ls_calloc((size_t)M * N, 4, "C0");
    float *bias = ls_calloc((size_t)N, 4, "bias");
    for (long i = 0; i < (long)M * K; i++) A[i] = ls_rng_normal(&r);
    for (long i = 0; i < (long)K * N; i++) B[i] = ls_rng_normal(&r);
    for (int j = 0; j < N; j++) bias[j] = ls_rng_normal(&r);
    for (long i = 0; i < (long)M * N; i++) C0[i] = accumulate ? ls_rng_normal(&r) : NAN;
    memcpy(C, C0, sizeof(float) * M * N);
    long rsa = layout == 2 ? 1 : K, csa = layout == 2 ? M : 1;
    long rsb = layout == 0 ? 1 : N, csb = layout == 0 ? K : 1;
    gemm(type, M, N, K, A, rsa, csa, B, rsb, csb, C, N, accumulate, with_bias ? bias : NULL);
    double worst = 0, worst_r = 0;
    int bad = 0;
    for (int i = 0; i < M; i++)
        for (int j = 0; j < N; j++) {
            double exact = 0, rounded = 0, S = 0;
            for (int k = 0; k < K; k++) {
                float a = A[i * rsa + k * csa], b = B[k * rsb + j * csb];
                exact += (double)a * b;
                rounded += (double)bf16_round(a) * bf16_round(b);
                S += fabs((double)a * b);
            }
            double base = accumulate ? C0[(long)i * N + j] : with_bias ? bias[j] : 0.0;
            double got = C[(long)i * N + j] - base;
            double sum_tol = (K + 2) * ldexp(1.0, -24) * (S + fabs(base)) + 1e-30;
            double tol = type == LS_GEMM_F32 ? sum_tol : (ldexp(1.0, -7) + ldexp(1.0, -16)) * S + sum_tol;
            double e = fabs(got - exact) / tol;
            if (!(e <= 1.0)) bad++;
            if (e > worst || isnan(e)) worst = e;
            if (type != LS_GEMM_F32) {
                double er = fabs(got - rounded) / sum_tol;
                if (!(er <= 1.0)) bad++;
                if (er > worst_r || isnan(er)) worst_r = er;
            }
        }
    CHECK(bad == 0, "%s layout %d M=%d N=%d K=%d acc=%d bias=%d: %d elements out of bound "
          "(worst error/bound %.3g, vs rounded operands %.3g)", gemm_name(type),
          layout, M, N, K, accumulate, with_bias, bad, worst, worst_r);
    /* gemm_sumsq: the same C bit for bit, and the sum of squares of it. Each
     * tile (at most 32 x 32 = 1024 elements) is summed in float, relative
     * error <= 1024 * 2^-24 for positive terms, the tiles in double; and the
     * same bits with 1 and 3 threads as with the default. */
    float *C2 = ls_calloc((size_t)M * N, 4, "C2");
    double exact_sq = 0;
    for (long i = 0; i < (long)M * N; i++) exact_sq += (double)C[i] * C[i];
    int nth0 = omp_get_max_threads(), threads[] = {nth0, 1, 3};
    double sq[3];
    for (int v = 0; v < 3; v++) {
        omp_set_num_threads(threads[v]);
        memcpy(C2, C0, sizeof(float) * M * N);
        sq[v] = gemm_sumsq(type, M, N, K, A, rsa, csa, B, rsb, csb, C2, N, accumulate, with_bias ? bias : NULL);
        CHECK(memcmp(C2, C, sizeof(float) * M * N) == 0, "%s layout %d M=%d N=%d K=%d: gemm_sumsq's C "
              "differs from gemm's (%d threads)", gemm_name(type), layout, M, N, K, threads[v]);
    }
    omp_set_num_threads(nth0);
    if (!accumulate) { /* LS_GEMM_STREAM: the same C, written with streaming stores where possible */
        for (long i = 0; i < (long)M * N; i++) C2[i] = NAN;
        gemm(type, M, N, K, A, rsa, csa, B, rsb, csb, C2, N, LS_GEMM_STREAM, with_bias ? bias : NULL);
        CHECK(memcmp(C2, C, sizeof(float) * M * N) == 0, "%s layout %d M=%d N=%d K=%d: LS_GEMM_STREAM's C "
              "differs from gemm's", gemm_name(type), layout, M, N, K);
    }
    CHECK(fabs(sq[0] - exact_sq) <= 1026 * ldexp(1.0, -24) * exact_sq + 1e-30,
          "%s layout %d M=%d N=%d K=%d acc=%d bias=%d: sum of squares %.9g, of C's elements %.9g",
          gemm_name(type), layout, M, N, K, accumulate, with_bias, sq[0], exact_sq);
    CHECK(sq[1] == sq[0] && sq[2] == sq[0], "%s layout %d M=%d N=%d K=%d: sum of squares depends on the "
          "thread count (%.17g, %.17g, %.17g)", gemm_name(type), layout, M, N, K, sq[0], sq[1], sq[2]);
    ls_free(A), ls_free(B), ls_free(C), ls_free(C0), ls_free(C2), ls_free(bias);
}

/* gemm_pack_pair_t (lines along k -> [k/2][i][k%2] pairs, through 16 x 16
 * register transposes) against the layout written out element by element:
 * every panel width it serves (8 and 48 for vdpbf16ps's A and B, 16, 32 for
 * AMX's B), odd and ragged k, missing lines, and a k tail padded with zeros.
 * The output is poisoned first, so an element the packer skips cannot pass. */
static void pack_pair_t_cases(void) {
    LsRng r;
    ls_rng_seed(&r, 77);
    int widths[] = {8, 16, 32, 48}, kcs[] = {1, 2, 37, 64, 100};
    for (int wi = 0; wi < 4; wi++)
        for (int ki = 0; ki < 5; ki++) {
            int W = widths[wi], kc = kcs[ki], kpad = (kc + 1) / 2 * 2 + (ki == 2 ? 32 : 0);
            int valids[] = {W, W - 5, 3};
            for (int vi = 0; vi < 3; vi++) {
                int valid = valids[vi];
                long ls = kc + 3; /* lines further apart than their length */
                float *src = ls_calloc((size_t)W * ls, 4, "src");
                for (long i = 0; i < (long)W * ls; i++) src[i] = ls_rng_normal(&r);
                unsigned short *d = ls_calloc((size_t)W * kpad, 2, "packed");
                memset(d, 0xFF, (size_t)W * kpad * 2);
                gemm_pack_pair_t(d, W, kc, kpad, src, ls, valid);
                int bad = 0;
                for (int k = 0; k < kpad; k++)
                    for (int i = 0; i < W; i++) {
                        float want = i < valid && k < kc ? bf16_round(src[(long)i * ls + k]) : 0.0f;
                        uint32_t u = (uint32_t)d[((long)(k / 2) * W + i) * 2 + k % 2] << 16;
                        float got;
                        memcpy(&got, &u, 4);
                        bad += memcmp(&got, &want, 4) != 0;
                    }
                CHECK(bad == 0, "gemm_pack_pair_t W=%d kc=%d kpad=%d valid=%d: %d elements differ from the "
                      "pair layout", W, kc, kpad, valid, bad);
                ls_free(src), ls_free(d);
            }
        }
}

int main(void) {
    /* engine availability follows the CPU's features (on any machine) */
    CHECK(gemm_supported(LS_GEMM_F32) == ls_cpu_has_avx512(), "fp32 engine <=> AVX-512");
    CHECK(gemm_supported(LS_GEMM_BF16_AVX512) == ls_cpu_has_avx512bf16(), "vdpbf16ps engine <=> AVX512_BF16");
    CHECK(gemm_supported(LS_GEMM_BF16) == (gemm_supported(LS_GEMM_BF16_AVX512) || gemm_supported(LS_GEMM_BF16_AMX)),
          "bf16 = the best available engine");
    CHECK(gemm_resolve(LS_GEMM_BF16) != LS_GEMM_BF16, "bf16 resolves to an engine");
    if (ls_cpu_has_avx512bf16()) pack_pair_t_cases();
    else printf("skipping gemm_pack_pair_t: this CPU lacks AVX512_BF16\n");
    LsGemmType types[] = {LS_GEMM_F32, LS_GEMM_BF16_AVX512, LS_GEMM_BF16_AMX};
    for (int t = 0; t < 3; t++) {
        LsGemmType type = types[t];
        if (!gemm_supported(type)) {
            printf("skipping %s: this CPU lacks the instructions\n", gemm_name(type));
            continue;
        }
        uint64_t seed = 1;
        for (int layout = 0; layout < 3; layout++) {
            one_case(type, layout, 16, 96, 64, 0, 0, seed++);          /* whole tiles */
            one_case(type, layout, 13, 50, 37, 0, 1, seed++);          /* ragged, odd K, bias */
            one_case(type, layout, 35, 1000, 600, 1, 0, seed++);       /* several k slices and B blocks */
            one_case(type, layout, 1, 7, 1, 0, 1, seed++);             /* degenerate */
            one_case(type, layout, 70, 130, 1030, 0, 1, seed++);       /* several slices, odd tail */
            /* rows a multiple of 8: fp32 reads x / dy (layouts 0, 1) in place, unpacked */
            one_case(type, layout, 40, 1000, 1030, 1, 0, seed++);      /* slices, blocks, accumulate */
            one_case(type, layout, 24, 130, 800, 0, 1, seed++);        /* ragged columns, bias */
            /* more rows than columns: split over the columns all the same when A is
             * read in place and >= 384 columns per thread; else over the rows */
            one_case(type, layout, 1032, 790, 100, 1, 0, seed++);
            one_case(type, layout, 1030, 100, 100, 0, 1, seed++);
            /* whole aligned tiles, one k slice, no bias: LS_GEMM_STREAM's streaming stores */
            one_case(type, layout, 40, 960, 256, 0, 0, seed++);
            /* dy W with a small C and K >= 512 (layout 1; fp32, vdpbf16ps): split-k, two fixed
             * ranges of k, one partial product each, added in order; ragged panels
             * and bias, then several slices per range with accumulation */
            one_case(type, layout, 48, 200, 1500, 0, 1, seed++);
            one_case(type, layout, 16, 768, 2304, 1, 0, seed++);
        }
    }
    return check_summary();
}
