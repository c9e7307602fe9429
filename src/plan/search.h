/* search.h - evaluate one layout, or search all layouts of a model on N
 * devices: tp, pp, dp, micro-batch, interleaving, ZeRO stage, sequence
 * parallelism, recompute. Layouts that cannot exist are skipped with the
 * reason; layouts that do not fit in device memory are kept, marked, with
 * the bytes they would need; the rest are ranked by step time. */
#ifndef LS_PLAN_SEARCH_H
#define LS_PLAN_SEARCH_H

#include "cost.h"

typedef struct {
    PlanLayout l;
    PlanCost cost;
    PlanMemory mem;       /* the pipeline rank that needs the most memory */
    int mem_rank;         /* which one */
    int valid;            /* 0: impossible layout, see why */
    int fits;             /* mem.total <= capacity */
    char why[160];
} PlanCandidate;

/* What the search holds fixed: -1 = search this dimension. */
typedef struct { int tp, pp, dp, micro, vpp, zero, sp, recompute; } PlanPins;

typedef struct {
    const GptConfig *cfg;
    const PlanHw *hw;
    const PlanPrecision *prec;
    PlanActModel act;
    int gpus, global_batch;
    double tokens;
    double mem_capacity; /* bytes usable per device */
} PlanProblem;

/* Evaluate layout l (dp, tp, pp, vpp, micro_batch, seq, zero, sp, recompute
 * set; num_micro derived from global_batch). Never fatal: an impossible
 * layout comes back with valid = 0 and the reason. */
void plan_evaluate(const PlanProblem *pb, PlanLayout l, PlanCandidate *out);

/* Every combination allowed by pins; returns the count, *out (caller frees)
 * holds them, valid-and-fitting first by step time, then not fitting by
 * memory, then invalid. */
int plan_search(const PlanProblem *pb, const PlanPins *pins, int seq, PlanCandidate **out);

const char *plan_recompute_name(PlanRecompute r);

#endif
