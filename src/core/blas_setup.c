/* blas_setup.c - see blas_setup.h. */
#include "blas_setup.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include "error.h"

/* Exported by libopenblas (also declared in OpenBLAS's cblas.h, with the
 * same prototypes; declared here so this file does not need cblas.h). */
extern char *openblas_get_corename(void);
extern char *openblas_get_config(void);
extern void openblas_set_num_threads(int num_threads);

#define LS_CORETYPE_CHOSEN "SkylakeX"

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

void ls_blas_setup(int argc, char **argv) {
    (void)argc;
    if (getenv("OPENBLAS_CORETYPE") != NULL) return;    /* the user decided */
    if (getenv("LLMSCALE_BLAS_REEXEC") != NULL) return; /* done, or disabled */
    if (!has_skylakex_isa()) return; /* OpenBLAS's own choice is right */
    /* The library is loaded and its constructor has run, so we can see what
     * it chose. If it already uses AVX-512 kernels, keep them (re-executing
     * would cost a few milliseconds and could downgrade Cooperlake or
     * SapphireRapids, whose sgemm is the same but bf16 routines are not). */
    if (core_is_avx512(openblas_get_corename())) return;

    char **av = (argv != NULL && argv[0] != NULL) ? argv : argv_from_proc();
    if (av == NULL) {
        ls_warn("cannot read this program's arguments to restart it with "
                "OPENBLAS_CORETYPE=SkylakeX; matrix products use OpenBLAS's default kernels "
                "(set OPENBLAS_CORETYPE=SkylakeX yourself for up to 2x faster sgemm)");
        return;
    }
    if (setenv("OPENBLAS_CORETYPE", LS_CORETYPE_CHOSEN, 1) != 0 ||
        setenv("LLMSCALE_BLAS_REEXEC", "1", 1) != 0) {
        unsetenv("OPENBLAS_CORETYPE");
        unsetenv("LLMSCALE_BLAS_REEXEC");
        return;
    }
    /* Nothing should be buffered yet, but never lose output across exec. */
    fflush(stdout);
    fflush(stderr);
    /* /proc/self/exe is the running binary even when argv[0] is a relative
     * name found through PATH or a symlink; argv[0] itself is passed on
     * unchanged, so the program still sees the name it was started as. */
    execv("/proc/self/exe", av);

    /* Only reached when exec failed: undo, so that ls_blas_describe() does
     * not claim a core type that the already-loaded library never saw. */
    int e = errno;
    unsetenv("OPENBLAS_CORETYPE");
    unsetenv("LLMSCALE_BLAS_REEXEC");
    ls_warn("cannot restart with OPENBLAS_CORETYPE=SkylakeX (exec /proc/self/exe: %s); "
            "matrix products use OpenBLAS's default kernels (set OPENBLAS_CORETYPE=SkylakeX "
            "before starting llmscale for up to 2x faster sgemm)",
            strerror(e));
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
    const char *re = getenv("LLMSCALE_BLAS_REEXEC");
    const char *why;
    if (ct != NULL && re != NULL && strcmp(re, "1") == 0 && strcmp(ct, LS_CORETYPE_CHOSEN) == 0)
        why = "chosen by llmscale: AVX-512 detected";
    else if (ct != NULL)
        why = "set by OPENBLAS_CORETYPE";
    else
        why = "OpenBLAS default";
    /* core is trimmed of trailing blanks some builds append */
    size_t cn = strcspn(core, " \t\n");
    snprintf(out, sizeof out, "%s, core %.*s (%s)", lib, (int)cn, core, why);
    return out;
}

void ls_blas_set_threads(int n) { openblas_set_num_threads(n < 1 ? 1 : n); }
