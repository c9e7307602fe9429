/* test_probe.c - CPU detection, OpenBLAS setup and machine probes.
 *
 * Checks: the CPU model name is read; feature flags are consistent; the FMA
 * peak probe gives a plausible number; cblas_sgemm computes the right product
 * (so the OpenBLAS core chosen by ls_blas_setup is usable) and the sgemm
 * probe gives a positive rate; the peak cache file is written, parsed and
 * reused; ls_peak_override and LLMSCALE_PEAK_GFLOPS take precedence. The
 * cache is redirected (XDG_CACHE_HOME) to a fresh temporary directory so the
 * user's real cache is never touched. Prints "N passed, N failed". */
#include <cblas.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "core/blas_setup.h"
#include "core/cpu.h"
#include "core/error.h"
#include "core/timer.h"
#include "kernels/cpu/probe.h"

#include "check.h"

static void test_cpu(void) {
    const char *name = ls_cpu_model_name();
    CHECK(name && name[0], "empty cpu model name");
    CHECK(ls_cpu_model_name() == name, "model name not cached");
    int a512 = ls_cpu_has_avx512(), bf16 = ls_cpu_has_avx512bf16(), avx2 = ls_cpu_has_avx2_fma();
    CHECK(!bf16 || a512, "avx512bf16 without avx512f");
    CHECK(!a512 || avx2, "avx512f without avx2+fma");
    CHECK(ls_cpu_threads() >= 1, "threads %d", ls_cpu_threads());
    printf("cpu: %s; avx512f %d, avx512_bf16 %d, avx2+fma %d; %d threads\n", name, a512, bf16,
           avx2, ls_cpu_threads());
    const char *d = ls_blas_describe();
    CHECK(d && strstr(d, "core "), "describe '%s'", d ? d : "(null)");
    /* main() called ls_blas_setup: unless the user chose a wait policy or
     * disabled the re-exec, we now run re-executed with a short spin (AVX-512:
     * our GEMM on OpenMP's threads) or passive waiting (OpenBLAS's threads). */
    const char *re = getenv("LLMSCALE_BLAS_REEXEC");
    if (re && strstr(re, "OMP_WAIT_POLICY")) {
        const char *wp = getenv("OMP_WAIT_POLICY");
        CHECK(!a512, "passive waiting chosen on an AVX-512 CPU");
        CHECK(wp && strcmp(wp, "passive") == 0, "OMP_WAIT_POLICY '%s'", wp ? wp : "(unset)");
        CHECK(strstr(d, "OMP_WAIT_POLICY=passive (set by llmscale)") != NULL, "describe '%s'", d);
    }
    if (re && strstr(re, "GOMP_SPINCOUNT")) {
        const char *sc = getenv("GOMP_SPINCOUNT");
        CHECK(a512, "a spin count chosen on a CPU without AVX-512");
        CHECK(sc && strcmp(sc, "10000") == 0, "GOMP_SPINCOUNT '%s'", sc ? sc : "(unset)");
        CHECK(strstr(d, "GOMP_SPINCOUNT=10000 (set by llmscale)") != NULL, "describe '%s'", d);
    }
    if (re && strstr(re, "OPENBLAS_CORETYPE"))
        CHECK(strstr(d, "core SkylakeX (chosen by llmscale") != NULL, "describe '%s'", d);
    printf("LLMSCALE_BLAS_REEXEC=%s\n", re ? re : "(unset)");
    printf("blas: %s\n", d);
}

static void test_fma(void) {
    int t = ls_cpu_threads();
    double t0 = ls_now_s();
    double g = ls_probe_fma_gflops(t);
    double took = ls_now_s() - t0;
    printf("fma peak (%s, %d threads): %.1f GFLOP/s (%.2f s)\n", ls_probe_fma_isa(), t, g, took);
    CHECK(g > 1.0 && g < 1e5, "fma peak %.3g GFLOP/s out of range", g);
    CHECK(took < 10.0, "fma probe took %.1f s", took);
}

static void test_sgemm(void) {
    /* Odd sizes, both plain and transposed-B layouts, against a naive
     * double-precision loop. */
    enum { M = 37, N = 29, K = 53 };
    static float A[M * K], B[K * N], Bt[N * K], C[M * N];
    unsigned x = 7;
    for (int i = 0; i < M * K; i++) { x = x * 1103515245u + 12345u; A[i] = (float)((x >> 16) % 200) / 100.0f - 1.0f; }
    for (int i = 0; i < K * N; i++) { x = x * 1103515245u + 12345u; B[i] = (float)((x >> 16) % 200) / 100.0f - 1.0f; }
    for (int k = 0; k < K; k++)
        for (int n = 0; n < N; n++) Bt[n * K + k] = B[k * N + n];
    for (int pass = 0; pass < 2; pass++) {
        if (pass == 0)
            cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, M, N, K, 1.0f, A, K, B, N, 0.0f, C, N);
        else
            cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, M, N, K, 1.0f, A, K, Bt, K, 0.0f, C, N);
        double maxerr = 0.0;
        for (int m = 0; m < M; m++)
            for (int n = 0; n < N; n++) {
                double ref = 0.0;
                for (int k = 0; k < K; k++) ref += (double)A[m * K + k] * B[k * N + n];
                double e = fabs(ref - C[m * N + n]);
                if (e > maxerr) maxerr = e;
            }
        CHECK(maxerr < 1e-4, "sgemm (%s) max error %.3g", pass ? "B^T" : "plain", maxerr);
    }
    double g = ls_probe_sgemm_gflops(256, 256, 256);
    printf("sgemm 256^3: %.1f GFLOP/s\n", g);
    CHECK(g > 0.0 && g < 1e6, "sgemm rate %.3g", g);
    double g2 = ls_probe_sgemm_gflops_ex(64, 96, 80, 1, 1);
    CHECK(g2 > 0.0 && g2 < 1e6, "sgemm rate (transposed) %.3g", g2);
}

static void test_cache(void) {
    char tmpl[] = "/tmp/llmscale_test_probe_XXXXXX";
    char *dir = mkdtemp(tmpl);
    CHECK(dir != NULL, "mkdtemp failed");
    if (!dir) return;
    setenv("XDG_CACHE_HOME", dir, 1);
    unsetenv("LLMSCALE_PEAK_GFLOPS");
    ls_peak_override(0);
    char path[512];
    snprintf(path, sizeof path, "%s/llmscale/peak.txt", dir);

    /* First call measures (the directory is created) and writes the file. */
    double g1 = ls_peak_gflops_cached(2, 1);
    CHECK(g1 > 1.0 && g1 < 1e5, "measured peak %.3g", g1);
    FILE *f = fopen(path, "r");
    CHECK(f != NULL, "cache file %s not written", path);
    if (f) {
        char line[1024] = "";
        CHECK(fgets(line, sizeof line, f) != NULL, "cache file empty");
        int t = 0;
        double g = 0;
        char model[512] = "";
        int n = sscanf(line, "%d %lf %511[^\n]", &t, &g, model);
        CHECK(n == 3 && t == 2 && g == g1 && strcmp(model, ls_cpu_model_name()) == 0,
              "cache line '%s'", line);
        fclose(f);
    }
    /* Second call reads it back: same number, no measurement. */
    double t0 = ls_now_s();
    double g2 = ls_peak_gflops_cached(2, 1);
    double took = ls_now_s() - t0;
    CHECK(g2 == g1, "re-read %.17g != measured %.17g", g2, g1);
    CHECK(took < 0.1, "re-read took %.3f s (measured again?)", took);

    /* The file is really what is used: rewrite it with another value, keep
     * an entry for another CPU, add junk; a line for 1 thread is separate. */
    f = fopen(path, "w");
    CHECK(f != NULL, "cannot rewrite cache file");
    if (f) {
        fprintf(f, "2 999.5 Some Other CPU\nthis line is junk\n2 123.25 %s\n",
                ls_cpu_model_name());
        fclose(f);
    }
    CHECK(ls_peak_gflops_cached(2, 0) == 123.25, "edited cache value not used");
    double g1t = ls_peak_gflops_cached(1, 1); /* measures 1 thread, appends */
    CHECK(g1t > 1.0 && g1t < 1e5, "1-thread peak %.3g", g1t);
    CHECK(ls_peak_gflops_cached(2, 0) == 123.25, "2-thread entry lost after adding 1-thread");
    CHECK(ls_peak_gflops_cached(1, 0) == g1t, "1-thread entry not re-read");
    f = fopen(path, "r");
    int other = 0, junk = 0;
    if (f) {
        char line[1024];
        while (fgets(line, sizeof line, f)) {
            other += strstr(line, "Some Other CPU") != NULL;
            junk += strstr(line, "junk") != NULL;
        }
        fclose(f);
    }
    CHECK(other == 1 && junk == 0, "other-cpu lines %d (want 1), junk lines %d (want 0)", other,
          junk);

    /* Overrides. */
    ls_peak_override(1234.5);
    CHECK(ls_peak_gflops_cached(2, 1) == 1234.5, "ls_peak_override ignored");
    setenv("LLMSCALE_PEAK_GFLOPS", "777", 1);
    CHECK(ls_peak_gflops_cached(2, 0) == 1234.5, "override must beat the environment");
    ls_peak_override(0);
    CHECK(ls_peak_gflops_cached(2, 1) == 777.0, "LLMSCALE_PEAK_GFLOPS ignored");
    unsetenv("LLMSCALE_PEAK_GFLOPS");
    CHECK(ls_peak_gflops_cached(2, 0) == 123.25, "cache not used after override removed");

    /* No writable cache directory: still returns a measurement. */
    setenv("XDG_CACHE_HOME", "/proc/llmscale-no-such-dir", 1);
    double g3 = ls_peak_gflops_cached(2, 1);
    CHECK(g3 > 1.0 && g3 < 1e5, "peak without cache dir %.3g", g3);

    unlink(path);
    snprintf(path, sizeof path, "%s/llmscale", dir);
    rmdir(path);
    rmdir(dir);
}

int main(int argc, char **argv) {
    ls_blas_setup(argc, argv);
    test_cpu();
    test_fma();
    test_sgemm();
    test_cache();
    return check_summary();
}
