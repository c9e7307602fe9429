/* check.h - the assertion counter shared by the C unit tests: CHECK(cond,
 * fmt, ...) counts a pass or prints the failure with its location; main ends
 * with `return check_summary();`, which prints "N passed, N failed". */
#ifndef LS_TEST_CHECK_H
#define LS_TEST_CHECK_H
#include <stdio.h>

static int g_pass = 0, g_fail = 0;

#define CHECK(cond, ...)                                              \
    do {                                                              \
        if (cond) {                                                   \
            g_pass++;                                                 \
        } else {                                                      \
            g_fail++;                                                 \
            printf("FAIL %s:%d: %s: ", __FILE__, __LINE__, #cond);    \
            printf(__VA_ARGS__);                                      \
            printf("\n");                                             \
        }                                                             \
    } while (0)

static inline int check_summary(void) {
    printf("%d passed, %d failed\n", g_pass, g_fail);
    return g_fail ? 1 : 0;
}

#endif
