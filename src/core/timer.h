/* timer.h - monotonic wall-clock time. */
#ifndef LS_TIMER_H
#define LS_TIMER_H
#include <time.h>
static inline double ls_now_s(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}
#endif
