/* search.c - layout evaluation and search (see search.h). */
#include "search.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../core/error.h"

const char *plan_recompute_name(PlanRecompute r) { return gpt_recompute_name(r); }

void plan_evaluate(const PlanProblem *pb, PlanLayout l, PlanCandidate *o) {
    memset(o, 0, sizeof *o);
    const GptConfig *c = pb->cfg;
    long used = (long)l.dp * l.tp * l.pp;
    o->l = l;
    if (used != pb->gpus) {
        snprintf(o->why, sizeof o->why, "dp %d x tp %d x pp %d = %ld devices, not the %d given", l.dp,
                 l.tp, l.pp, used, pb->gpus);
        return;
    }
    if (l.dp < 1 || l.micro_batch < 1 || pb->global_batch % ((long)l.dp * l.micro_batch)) {
        snprintf(o->why, sizeof o->why, "global batch %d is not a multiple of dp %d x micro-batch %d",
                 pb->global_batch, l.dp, l.micro_batch);
        return;
    }
    l.num_micro = pb->global_batch / (l.dp * l.micro_batch);
    o->l = l;
    if (l.zero > 0 && l.dp == 1) {
        snprintf(o->why, sizeof o->why, "ZeRO-%d with dp 1 shards nothing", l.zero);
        return;
    }
    if (l.sp && l.tp == 1) {
        snprintf(o->why, sizeof o->why, "sequence parallelism needs tp > 1");
        return;
    }
    if (plan_layout_check(c, &l, o->why, sizeof o->why)) return;
    o->valid = 1;
    /* memory: the first, second and last pipeline ranks (the others equal the second) */
    int ranks[3] = {0, l.pp > 2 ? 1 : 0, l.pp - 1};
    for (int k = 0; k < 3; k++) {
        PlanMemory m;
        plan_memory(c, &l, pb->prec, pb->act, ranks[k], &m);
        if (m.total > o->mem.total) o->mem = m, o->mem_rank = ranks[k];
    }
    o->fits = o->mem.total <= pb->mem_capacity;
    if (!o->fits)
        snprintf(o->why, sizeof o->why, "needs %.1f GB on pp rank %d, %.1f GB usable", o->mem.total / 1e9,
                 o->mem_rank, pb->mem_capacity / 1e9);
    plan_cost(c, &l, pb->hw, pb->prec, pb->act, pb->tokens, &o->cost);
}

static int cmp_cand(const void *pa, const void *pb) {
    const PlanCandidate *a = pa, *b = pb;
    int ka = a->valid ? (a->fits ? 0 : 1) : 2, kb = b->valid ? (b->fits ? 0 : 1) : 2;
    if (ka != kb) return ka - kb;
    double x = ka == 0 ? a->cost.step_s : a->mem.total, y = kb == 0 ? b->cost.step_s : b->mem.total;
    return (x > y) - (x < y);
}

/* values of one dimension: the pin, or the list */
static int dim(int pin, const int *list, int n, int *out) {
    if (pin >= 0) {
        out[0] = pin;
        return 1;
    }
    memcpy(out, list, sizeof(int) * (size_t)n);
    return n;
}

int plan_search(const PlanProblem *pb, const PlanPins *pins, int seq, PlanCandidate **out) {
    const GptConfig *c = pb->cfg;
    int tps[16], pps[64], mbs[16], vps[4], zs[4], sps[2], rcs[3];
    int ntp = 0, npp = 0, nmb = 0;
    /* tp: powers of two up to the node size (TP needs the fast links) */
    for (int t = 1; t <= pb->gpus && t <= pb->hw->gpus_per_node && ntp < 16; t *= 2) tps[ntp++] = t;
    /* pp: divisors of the layer count that divide the device count */
    for (int p = 1; p <= c->num_layers && p <= pb->gpus && npp < 64; p++)
        if (c->num_layers % p == 0 && pb->gpus % p == 0) pps[npp++] = p;
    for (int b = 1; b <= pb->global_batch && nmb < 16; b *= 2) mbs[nmb++] = b;
    static const int V_ALL[] = {1, 2, 4}, Z_ALL[] = {0, 1, 2, 3}, S_ALL[] = {0, 1}, R_ALL[] = {0, 1, 2};
    if (pins->tp >= 0) tps[0] = pins->tp, ntp = 1;
    if (pins->pp >= 0) pps[0] = pins->pp, npp = 1;
    if (pins->micro >= 0) mbs[0] = pins->micro, nmb = 1;
    int nv = dim(pins->vpp, V_ALL, 3, vps), nz = dim(pins->zero, Z_ALL, 4, zs);
    int ns = dim(pins->sp, S_ALL, 2, sps), nr = dim(pins->recompute, R_ALL, 3, rcs);
    size_t cap = (size_t)ntp * npp * nmb * nv * nz * ns * nr, n = 0;
    PlanCandidate *all = ls_calloc(cap ? cap : 1, sizeof *all, "layout search");
    for (int i = 0; i < ntp; i++)
        for (int j = 0; j < npp; j++)
            for (int k = 0; k < nmb; k++)
                for (int v = 0; v < nv; v++)
                    for (int z = 0; z < nz; z++)
                        for (int s = 0; s < ns; s++)
                            for (int r = 0; r < nr; r++) {
                                int t = tps[i], p = pps[j];
                                if (pins->sp < 0 && sps[s] && t == 1) continue; /* not a choice */
                                if (pins->vpp < 0 && vps[v] > 1 && p == 1) continue;
                                int dp = pins->dp >= 0 ? pins->dp : pb->gpus / (t * p);
                                if (pins->zero < 0 && zs[z] > 0 && dp == 1) continue;
                                PlanLayout l = {dp, t, p, vps[v], zs[z], sps[s], (PlanRecompute)rcs[r],
                                                mbs[k], seq, 1};
                                plan_evaluate(pb, l, &all[n++]);
                            }
    qsort(all, n, sizeof *all, cmp_cand);
    *out = all;
    return (int)n;
}
