/* profile.h - per-phase wall-clock accounting of a training step.
 *
 * `llmscale bench` switches it on; everywhere else it is off and each kernel
 * pays one predictable branch on entry and exit. Kernels are called from the
 * serial part of the program (they open their own OpenMP regions), so the
 * accumulators need no atomics. Phases are disjoint: a fused kernel is
 * charged to the phase named for it, never twice. */
#ifndef LS_PROFILE_H
#define LS_PROFILE_H
#include "../../core/timer.h"

typedef enum {
    LS_PROF_MATMUL,     /* the block's four linear layers, forward and backward */
    LS_PROF_ATTENTION,  /* causal softmax attention */
    LS_PROF_LAYERNORM,  /* layernorms (with the residual adds fused into them) */
    LS_PROF_GELU,       /* GELU and the remaining elementwise passes */
    LS_PROF_CLASSIFIER, /* logits = lnf wte^T, softmax cross-entropy, their backward */
    LS_PROF_EMBED,      /* token + position embeddings */
    LS_PROF_OPTIMIZER,  /* AdamW (and the bf16 weight refresh) */
    LS_PROF_COMM,       /* gradient/weight communication (0 on one process) */
    LS_PROF_NPHASES
} LsProfPhase;

extern int ls_prof_on, ls_prof_depth;
extern double ls_prof_sec[LS_PROF_NPHASES];

/* Only the outermost timed kernel counts: a fused kernel that calls another
 * timed kernel (the classifier calling the matmul) is charged once, to itself. */
static inline double ls_prof_begin(void) {
    if (!ls_prof_on) return 0.0;
    return ls_prof_depth++ ? -1.0 : ls_now_s();
}
static inline void ls_prof_end(LsProfPhase p, double t0) {
    if (!ls_prof_on) return;
    ls_prof_depth--;
    if (t0 >= 0.0) ls_prof_sec[p] += ls_now_s() - t0;
}
void ls_prof_reset(void);
const char *ls_prof_name(LsProfPhase p);

/* The matrix products one by one, for bench's table of where the matmul time
 * goes: each call of the linear layer's products (matmul.c) is added to the
 * row of its kind and shape (N rows, C in, OC out) while ls_prof_on is set,
 * whatever the phase it is charged to (the LM head's are the classifier's).
 * Rows accumulate until ls_prof_products_reset(); at most
 * LS_PROF_PRODUCTS_MAX distinct rows are kept (GPT-2 needs 19). */
#define LS_PROF_PRODUCTS_MAX 64
typedef enum {
    LS_MM_FWD,   /* y = x W^T (+ b)   2 N C OC FLOPs */
    LS_MM_DX,    /* dx = dy W         2 N C OC */
    LS_MM_DW,    /* dW += dy^T x      2 N C OC */
    LS_MM_DBIAS, /* db += sum_rows dy   N OC adds (not counted as FLOPs) */
    LS_MM_NKINDS
} LsMmKind;
typedef struct {
    LsMmKind kind;
    int N, C, OC;
    const char *engine; /* "own fp32", "OpenBLAS", a bf16 engine's name, "-" */
    long calls;
    double sec;
} LsProdRow;
void ls_prof_product(LsMmKind kind, int N, int C, int OC, const char *engine, double sec);
void ls_prof_products_reset(void);
/* the rows in order of their first call; *n is set to their number */
const LsProdRow *ls_prof_products(int *n);
const char *ls_prof_product_name(LsMmKind kind);

#endif
