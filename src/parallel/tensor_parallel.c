/* tensor_parallel.c - see tensor_parallel.h. */
#include "tensor_parallel.h"

#include <limits.h>
#include <stdlib.h>
#include <string.h>

#include "../core/error.h"
#include "../kernels/cpu/kernels.h"

/* A collective in flight: MPI needs its counts until it completes. */
typedef struct {
    LsRequest req;
    int *counts, *displs;
} TpPending;

static void tp_wait(void *ctx, void *handle);

/* LLMSCALE_TP_OVERLAP=0 completes every collective as soon as it starts (to
 * measure what the overlap buys: bench/dp.sh) */
static int overlap_off(void) {
    static int v = -1;
    if (v < 0) {
        const char *e = getenv("LLMSCALE_TP_OVERLAP");
        v = e && !strcmp(e, "0");
    }
    return v;
}

static void *tp_start_async(LsComm *c, GptTpOp op, float *buf, float *out, size_t n);

static void *tp_start(void *ctx, GptTpOp op, float *buf, float *out, size_t n) {
    void *h = tp_start_async(ctx, op, buf, out, n);
    if (h && overlap_off()) {
        tp_wait(ctx, h);
        h = NULL;
    }
    return h;
}

static void *tp_start_async(LsComm *c, GptTpOp op, float *buf, float *out, size_t n) {
    if (op == GPT_TP_MAX) { /* only the loss uses it, on N floats: blocking */
        ls_comm_allreduce_max(c, buf, n);
        return NULL;
    }
    if (n * (size_t)c->size > INT_MAX)
        ls_fatal("a tensor-parallel collective of %zu floats is too large for MPI counts "
                 "(reduce --batch or --seq)", n * (size_t)c->size);
    TpPending *p = ls_calloc(1, sizeof *p, "tensor-parallel request");
    if (op == GPT_TP_SUM) {
        ls_comm_iallreduce_sum(c, buf, n, &p->req);
        return p;
    }
    p->counts = ls_calloc((size_t)c->size, sizeof(int), "counts");
    p->displs = ls_calloc((size_t)c->size, sizeof(int), "displs");
    for (int r = 0; r < c->size; r++) p->counts[r] = (int)n, p->displs[r] = (int)(n * (size_t)r);
    if (op == GPT_TP_GATHER) ls_comm_iallgatherv(c, buf, p->counts, p->displs, &p->req);
    else ls_comm_ireduce_scatter_sum(c, buf, out, p->counts, &p->req);
    return p;
}

static void tp_wait(void *ctx, void *handle) {
    (void)ctx;
    TpPending *p = handle;
    ls_comm_wait(&p->req);
    ls_free(p->counts);
    ls_free(p->displs);
    ls_free(p);
}

void tp_attach(Gpt *m, LsComm *tp, int sp) {
    if (tp->size != m->lay.tp)
        ls_fatal("internal: model built for tp %d on a tensor-parallel group of %d", m->lay.tp, tp->size);
    if (m->B) ls_fatal("internal: tp_attach after the activations were allocated");
    m->tp.size = tp->size;
    m->tp.rank = tp->rank;
    m->tp.sp = sp && tp->size > 1;
    m->tp.ctx = tp;
    m->tp.start = tp_start;
    m->tp.wait = tp_wait;
}

void tp_grad_sq_parts(const GptLayout *lay, const float *g, size_t lo, size_t hi, double *sharded,
                      double *replicated) {
    double s[2] = {0.0, 0.0};
    for (int i = 0; i < lay->ntensors; i++) {
        const GptTensor *t = &lay->tensors[i];
        if (t->kind == T_WTE && !lay->has_embed) continue; /* counted on the first stage */
        size_t a = t->offset, b = t->offset + (size_t)t->rows * t->cols;
        if (a < lo) a = lo;
        if (b > hi) b = hi;
        if (a >= b) continue;
        s[lay->tp > 1 && gpt_kind_is_replicated(t->kind)] += sum_squares(g + (a - lo), b - a);
    }
    *sharded = s[0];
    *replicated = s[1];
}
