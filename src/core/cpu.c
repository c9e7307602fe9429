/* cpu.c - see cpu.h. */
#include "cpu.h"

#ifdef __linux__
#include <sys/syscall.h>
#include <unistd.h>
#endif

#include <stdio.h>
#include <string.h>

#if defined(__x86_64__) || defined(__i386__)
#include <cpuid.h>
#define LS_X86 1
#else
#define LS_X86 0
#endif

#ifdef _OPENMP
#include <omp.h>
#endif

const char *ls_cpu_model_name(void) {
    /* Read once; later calls return the same buffer. Not guarded by a lock:
     * the first call happens on the main thread during start-up, and a
     * racing second reader would only write the same bytes again. */
    static char name[256];
    static int ready = 0;
    if (ready) return name;
    strcpy(name, "unknown cpu");
    FILE *f = fopen("/proc/cpuinfo", "r");
    if (f) {
        char line[1024];
        while (fgets(line, sizeof line, f)) {
            if (strncmp(line, "model name", 10) != 0) continue;
            char *p = strchr(line, ':');
            if (!p) continue;
            p++;
            while (*p == ' ' || *p == '\t') p++;
            size_t n = strlen(p);
            while (n > 0 && (p[n - 1] == '\n' || p[n - 1] == '\r' || p[n - 1] == ' ' ||
                             p[n - 1] == '\t'))
                p[--n] = '\0';
            if (n > 0) {
                if (n >= sizeof name) n = sizeof name - 1;
                memcpy(name, p, n);
                name[n] = '\0';
            }
            break; /* all CPUs of one machine report the same model */
        }
        fclose(f);
    }
    ready = 1;
    return name;
}

int ls_cpu_has_avx512(void) {
#if LS_X86 && defined(__GNUC__)
    /* __builtin_cpu_supports also checks (via XGETBV) that the OS saves the
     * zmm/opmask state, so a "yes" means the instructions can really run. */
    __builtin_cpu_init();
    return __builtin_cpu_supports("avx512f") ? 1 : 0;
#else
    return 0;
#endif
}

int ls_cpu_has_avx512bf16(void) {
#if LS_X86
    if (!ls_cpu_has_avx512()) return 0;
    unsigned int eax = 0, ebx = 0, ecx = 0, edx = 0;
    /* __get_cpuid_count returns 0 when leaf 7 is beyond the maximum leaf. */
    if (!__get_cpuid_count(7, 1, &eax, &ebx, &ecx, &edx)) return 0;
    return (eax >> 5) & 1u;
#else
    return 0;
#endif
}

int ls_cpu_enable_amx_bf16(void) {
    static int state = -1; /* -1 not asked yet, else the answer */
    if (state >= 0) return state;
    state = 0;
#if LS_X86 && defined(__linux__)
    unsigned int eax = 0, ebx = 0, ecx = 0, edx = 0;
    if (!__get_cpuid_count(7, 0, &eax, &ebx, &ecx, &edx)) return state;
    if (!((edx >> 22) & 1u) || !((edx >> 24) & 1u)) return state; /* AMX-BF16, AMX-TILE */
    /* Linux enables the 8 KiB tile data state per process, on request
     * (ARCH_REQ_XCOMP_PERM = 0x1023 for XFEATURE_XTILEDATA = 18); a kernel
     * or hypervisor that refuses leaves us on the AVX-512 path. */
    state = syscall(SYS_arch_prctl, 0x1023, 18) == 0;
#endif
    return state;
}

int ls_cpu_has_avx2_fma(void) {
#if LS_X86 && defined(__GNUC__)
    __builtin_cpu_init();
    return (__builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma")) ? 1 : 0;
#else
    return 0;
#endif
}

int ls_cpu_threads(void) {
#ifdef _OPENMP
    int n = omp_get_max_threads();
    return n > 0 ? n : 1;
#else
    return 1;
#endif
}
