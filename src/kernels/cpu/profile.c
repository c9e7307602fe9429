/* profile.c - see profile.h. */
#include "profile.h"

#include <string.h>

int ls_prof_on = 0, ls_prof_depth = 0;
double ls_prof_sec[LS_PROF_NPHASES];

void ls_prof_reset(void) { memset(ls_prof_sec, 0, sizeof ls_prof_sec); }

const char *ls_prof_name(LsProfPhase p) {
    static const char *names[LS_PROF_NPHASES] = {"matmul",     "attention", "layernorm",
                                                 "gelu+elementwise", "classifier+loss",
                                                 "embedding",  "optimizer", "communication"};
    return (unsigned)p < LS_PROF_NPHASES ? names[p] : "?";
}

/* 4 kinds x a handful of shapes per model (GPT-2: 4 layer shapes + the LM
 * head); rows past the table's end are dropped, never overflowed. */
static LsProdRow prod_rows[LS_PROF_PRODUCTS_MAX];
static int prod_n;

void ls_prof_product(LsMmKind kind, int N, int C, int OC, const char *engine, double sec) {
    for (int i = 0; i < prod_n; i++) {
        LsProdRow *r = &prod_rows[i];
        if (r->kind == kind && r->N == N && r->C == C && r->OC == OC && strcmp(r->engine, engine) == 0) {
            r->calls++;
            r->sec += sec;
            return;
        }
    }
    if (prod_n < LS_PROF_PRODUCTS_MAX) prod_rows[prod_n++] = (LsProdRow){kind, N, C, OC, engine, 1, sec};
}

void ls_prof_products_reset(void) { prod_n = 0; }

const LsProdRow *ls_prof_products(int *n) {
    *n = prod_n;
    return prod_rows;
}

const char *ls_prof_product_name(LsMmKind kind) {
    static const char *names[LS_MM_NKINDS] = {"y = x W^T", "dx = dy W", "dW += dy^T x", "db += sum dy"};
    return (unsigned)kind < LS_MM_NKINDS ? names[kind] : "?";
}
