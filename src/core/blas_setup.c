/* blas_setup.c - see blas_setup.h. */
#include "blas_setup.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include "cpu.h"
#include "error.h"

/* Exported by libopenblas (also declared in OpenBLAS's cblas.h, with the
 * same prototypes; declared here so this file does not need cblas.h). */
extern char *openblas_get_corename(void);
extern char *openblas_get_config(void);
extern void openblas_set_num_threads(int num_threads);

#define LS_CORETYPE_CHOSEN "SkylakeX"
/* log2 of the cycles an idle OpenBLAS worker spins before it sleeps; 4 is the
 * smallest value OpenBLAS accepts (its default is 28, ~0.1 s) */
#define LS_TIMEOUT_VALUE "4"
#define LS_TIMEOUT_SETTING "OPENBLAS_THREAD_TIMEOUT=" LS_TIMEOUT_VALUE
/* libgomp's spin count (iterations of a pause loop, ~0.5 ms here) before an
 * idle OpenMP thread sleeps, used when our own GEMM runs the products */
#define LS_SPIN_VALUE "10000"

/* AVX-512 as OpenBLAS's SkylakeX kernels need it: Foundation plus the byte/
 * word, vector-length and doubleword/quadword extensions (every AVX-512 CPU
 * from Skylake-SP on has all four; Xeon Phi has only F, hence the check). */
static int has_skylakex_isa(void) {
#if (defined(__x86_64__) || defined(__i386__)) && defined(__GNUC__)
    __builtin_cpu_init();
    return __builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512bw") &&
           __builtin_cpu_supports("avx512vl") && __builtin_cpu_supports("avx512dq");
#else
    return 0;
#endif
}

/* Core names (as openblas_get_corename() reports them) whose kernels use
 * AVX-512. Compared case-insensitively. */
static int core_is_avx512(const char *core) {
    static const char *const names[] = {"SkylakeX", "Cooperlake", "SapphireRapids"};
    if (core == NULL) return 0;
    for (size_t i = 0; i < sizeof names / sizeof names[0]; i++)
        if (strncasecmp(core, names[i], strlen(names[i])) == 0) return 1;
    return 0;
}

/* Rebuild argv from /proc/self/cmdline (NUL-separated arguments) for callers
 * that have no argv at hand. Returns NULL on failure. The memory is
 * deliberately never freed: it is only used right before execv(). */
static char **argv_from_proc(void) {
    FILE *f = fopen("/proc/self/cmdline", "rb");
    if (!f) return NULL;
    size_t cap = 4096, len = 0;
    char *buf = malloc(cap + 1);
    if (!buf) { fclose(f); return NULL; }
    size_t got;
    while ((got = fread(buf + len, 1, cap - len, f)) > 0) {
        len += got;
        if (len == cap) {
            char *nb = realloc(buf, 2 * cap + 1);
            if (!nb) { free(buf); fclose(f); return NULL; }
            buf = nb;
            cap *= 2;
        }
    }
    fclose(f);
    if (len == 0) { free(buf); return NULL; }
    if (buf[len - 1] != '\0') buf[len++] = '\0'; /* the +1 in the allocations */
    size_t n = 0;
    for (size_t i = 0; i < len; i++) n += buf[i] == '\0';
    char **av = calloc(n + 1, sizeof *av);
    if (!av) { free(buf); return NULL; }
    size_t k = 0;
    for (size_t i = 0; i < len && k < n; k++) {
        av[k] = buf + i;
        i += strlen(buf + i) + 1;
    }
    av[k] = NULL;
    return av;
}

/* 1 when LLMSCALE_BLAS_REEXEC (the list of variables a re-exec set) names
 * `var`. */
static int set_by_us(const char *var) {
    const char *re = getenv("LLMSCALE_BLAS_REEXEC");
    size_t n = strlen(var);
    for (const char *p = re; p != NULL && *p != '\0';) {
        p += strspn(p, " ");
        size_t w = strcspn(p, " ");
        if (w == n && strncmp(p, var, n) == 0) return 1;
        p += w;
    }
    return 0;
}

void ls_blas_setup(int argc, char **argv) {
    (void)argc;
    if (getenv("LLMSCALE_BLAS_REEXEC") != NULL) return; /* done, or disabled */

    /* 1. OpenBLAS kernels. The library is loaded and its constructor has run,
     * so we can see what it chose. If it already uses AVX-512 kernels, keep
     * them (forcing SkylakeX could downgrade Cooperlake or SapphireRapids,
     * whose sgemm is the same but whose bf16 routines are not). */
    int want_core = getenv("OPENBLAS_CORETYPE") == NULL && has_skylakex_isa() &&
                    !core_is_avx512(openblas_get_corename());
    /* 2. OpenMP wait policy (see the header): only when the user chose
     * neither OMP_WAIT_POLICY nor libgomp's finer GOMP_SPINCOUNT. A short
     * spin where our AVX-512 GEMM runs the products (OpenMP threads), else
     * passive (OpenBLAS's threads run them). */
    int want_wait = getenv("OMP_WAIT_POLICY") == NULL && getenv("GOMP_SPINCOUNT") == NULL;
    int spin = ls_cpu_has_avx512();
    const char *wait_setting = spin ? "GOMP_SPINCOUNT=" LS_SPIN_VALUE : "OMP_WAIT_POLICY=passive";
    /* 3. OpenBLAS's own idle workers (see the header): unless the user chose. */
    int want_timeout = getenv("OPENBLAS_THREAD_TIMEOUT") == NULL;
    if (!want_core && !want_wait && !want_timeout) return;

    char **av = (argv != NULL && argv[0] != NULL) ? argv : argv_from_proc();
    if (av == NULL) {
        ls_warn("cannot read this program's arguments to restart it with better OpenBLAS/"
                "OpenMP settings; set %s, " LS_TIMEOUT_SETTING "%s yourself for faster training",
                wait_setting, want_core ? " and OPENBLAS_CORETYPE=SkylakeX" : "");
        return;
    }
    char list[96] = "";
    int ok = 1;
    if (want_core) {
        ok = ok && setenv("OPENBLAS_CORETYPE", LS_CORETYPE_CHOSEN, 1) == 0;
        strcat(list, "OPENBLAS_CORETYPE");
    }
    const char *wait_var = spin ? "GOMP_SPINCOUNT" : "OMP_WAIT_POLICY";
    if (want_wait) {
        ok = ok && setenv(wait_var, spin ? LS_SPIN_VALUE : "passive", 1) == 0;
        strcat(list, list[0] ? " " : "");
        strcat(list, wait_var);
    }
    if (want_timeout) {
        ok = ok && setenv("OPENBLAS_THREAD_TIMEOUT", LS_TIMEOUT_VALUE, 1) == 0;
        strcat(list, list[0] ? " OPENBLAS_THREAD_TIMEOUT" : "OPENBLAS_THREAD_TIMEOUT");
    }
    ok = ok && setenv("LLMSCALE_BLAS_REEXEC", list, 1) == 0;
    if (ok) {
        /* Nothing should be buffered yet, but never lose output across exec. */
        fflush(stdout);
        fflush(stderr);
        /* /proc/self/exe is the running binary even when argv[0] is a
         * relative name found through PATH or a symlink; argv[0] itself is
         * passed on unchanged, so the program still sees the name it was
         * started as. The process keeps its pid, open descriptors and
         * environment. The link's target is exec'd rather than the link, so
         * the process keeps its name (ps, top, pgrep show "llmscale", not
         * "exe"); the link itself is the fallback. */
        char self[4096];
        ssize_t n = readlink("/proc/self/exe", self, sizeof self - 1);
        if (n > 0) {
            self[n] = '\0';
            execv(self, av);
        }
        execv("/proc/self/exe", av);
    }

    /* Only reached when something failed: undo, so that ls_blas_describe()
     * does not claim settings the already-loaded libraries never saw. */
    int e = errno;
    if (want_core) unsetenv("OPENBLAS_CORETYPE");
    if (want_wait) unsetenv(wait_var);
    if (want_timeout) unsetenv("OPENBLAS_THREAD_TIMEOUT");
    unsetenv("LLMSCALE_BLAS_REEXEC");
    ls_warn("cannot restart with %s set (exec /proc/self/exe: %s); set them yourself before "
            "starting llmscale for faster training (OPENBLAS_CORETYPE=SkylakeX, %s, "
            LS_TIMEOUT_SETTING ")",
            list, strerror(e), wait_setting);
}

const char *ls_blas_describe(void) {
    static char out[512];
    /* Library name and version: the first two words of the config string,
     * e.g. "OpenBLAS 0.3.21 DYNAMIC_ARCH NO_AFFINITY SkylakeX MAX_THREADS=64". */
    char lib[128] = "OpenBLAS";
    const char *cfg = openblas_get_config();
    if (cfg != NULL && strncmp(cfg, "OpenBLAS ", 9) == 0) {
        const char *v = cfg + 9;
        size_t n = strcspn(v, " \t\n");
        if (n > 0 && n < sizeof lib - 10) snprintf(lib, sizeof lib, "OpenBLAS %.*s", (int)n, v);
    }
    const char *core = openblas_get_corename();
    if (core == NULL || core[0] == '\0') core = "unknown";

    const char *ct = getenv("OPENBLAS_CORETYPE");
    const char *why;
    if (ct != NULL && set_by_us("OPENBLAS_CORETYPE"))
        why = "chosen by llmscale: AVX-512 detected";
    else if (ct != NULL)
        why = "set by OPENBLAS_CORETYPE";
    else
        why = "OpenBLAS default";
    /* The OpenMP wait policy matters as much as the kernels (see header). */
    char wait[160];
    const char *wp = getenv("OMP_WAIT_POLICY"), *sc = getenv("GOMP_SPINCOUNT");
    if (wp != NULL)
        snprintf(wait, sizeof wait, "OMP_WAIT_POLICY=%.40s%s", wp,
                 set_by_us("OMP_WAIT_POLICY") ? " (set by llmscale)" : "");
    else if (sc != NULL)
        snprintf(wait, sizeof wait, "GOMP_SPINCOUNT=%.40s%s", sc,
                 set_by_us("GOMP_SPINCOUNT") ? " (set by llmscale)" : "");
    else
        snprintf(wait, sizeof wait, "OpenMP default wait policy");
    const char *to = getenv("OPENBLAS_THREAD_TIMEOUT");
    char idle[96] = "";
    if (to != NULL)
        snprintf(idle, sizeof idle, "; OPENBLAS_THREAD_TIMEOUT=%.20s%s", to,
                 set_by_us("OPENBLAS_THREAD_TIMEOUT") ? " (set by llmscale)" : "");
    /* core is trimmed of trailing blanks some builds append */
    size_t cn = strcspn(core, " \t\n");
    snprintf(out, sizeof out, "%s, core %.*s (%s); %s%s", lib, (int)cn, core, why, wait, idle);
    return out;
}

void ls_blas_set_threads(int n) { openblas_set_num_threads(n < 1 ? 1 : n); }
