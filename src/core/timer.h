/* timer.h - monotonic wall-clock time, process CPU time, and sorting timings
 * for medians. */
#ifndef LS_TIMER_H
#define LS_TIMER_H
#include <stdlib.h>
#include <time.h>
static inline double ls_now_s(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

/* CPU time used so far by all threads of this process (user + system). */
static inline double ls_cpu_s(void) {
    struct timespec ts;
    clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

static inline int ls_cmp_double_(const void *a, const void *b) {
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}
/* Sort n timings ascending (t[0] the fastest, t[n/2] the median). */
static inline void ls_sort_times(double *t, size_t n) { qsort(t, n, sizeof(double), ls_cmp_double_); }
#endif
