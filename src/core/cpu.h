/* cpu.h - what CPU we are running on.
 *
 * Used to pick kernels at run time (a binary built for a generic x86-64 may
 * still run AVX-512 code paths on a machine that has them), to key the cache
 * of measured peak FLOP rates (see kernels/cpu/probe.h) and to describe the
 * machine in logs and benchmark reports. */
#ifndef LS_CPU_H
#define LS_CPU_H

/* The "model name" line of /proc/cpuinfo, e.g. "Intel(R) Xeon(R) Processor",
 * with surrounding white space removed; "unknown cpu" when it cannot be read.
 * The string is static and stays valid for the life of the process. */
const char *ls_cpu_model_name(void);

/* 1 when the CPU and the operating system support AVX-512 Foundation
 * (512-bit zmm registers and _mm512_fmadd_ps), else 0. */
int ls_cpu_has_avx512(void);
/* 1 when AVX512_BF16 (vcvtne2ps2bf16, vdpbf16ps) is usable: CPUID leaf 7
 * sub-leaf 1, EAX bit 5, on top of AVX-512 Foundation. */
int ls_cpu_has_avx512bf16(void);
/* 1 when AMX tiles with bf16 products (TDPBF16PS) are usable: CPUID leaf 7
 * EDX bits 22 and 24, and Linux granted this process the tile state
 * (arch_prctl; asked once, on the first call). */
int ls_cpu_enable_amx_bf16(void);
/* 1 when both AVX2 and FMA3 (256-bit fused multiply-add) are usable. */
int ls_cpu_has_avx2_fma(void);

/* Threads an OpenMP parallel region will use (omp_get_max_threads(): the
 * OMP_NUM_THREADS setting or the number of CPUs); 1 without OpenMP. */
int ls_cpu_threads(void);

#endif
