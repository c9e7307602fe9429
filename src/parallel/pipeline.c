/* pipeline.c - see pipeline.h. */
#include "pipeline.h"

#include <string.h>

#include "../core/error.h"
#include "../core/timer.h"
#include "watchdog.h"

void pipe_stage_layers(int L, int S, int s, int *lo, int *hi) {
    *lo = (int)((long)L * s / S);
    *hi = (int)((long)L * (s + 1) / S);
}

void pipe_init(Pipeline *p, LsGrid *g, Gpt **m, int nchunks, LsPipeKind kind, int micro_batches,
               int B, int T) {
    memset(p, 0, sizeof *p);
    p->grid = g;
    p->nchunks = nchunks;
    LsPipeConfig pc = {kind, g->pp, micro_batches, nchunks, LS_PIPE_BLOCKING};
    char err[256];
    if (ls_pipe_build(&pc, g->pp_rank, &p->sch, err, sizeof err)) ls_fatal("%s", err);
    /* each chunk gets the rank's bound (a chunk never holds more; with V > 1
     * that over-allocates: a chunk's own bound is smaller) */
    for (int c = 0; c < nchunks; c++) {
        p->m[c] = m[c];
        gpt_set_act_slots(m[c], ls_pipe_max_in_flight(&pc, g->pp_rank));
        gpt_ensure_acts(m[c], B, T); /* a receive may come before the first forward */
    }
}

void pipe_free(Pipeline *p) { ls_pipe_free(&p->sch); }

/* Micro-batches retire in the order they entered (every schedule runs the
 * backwards of a chunk in micro-batch order), and at most nslots are alive,
 * so micro-batch mb can use set mb mod nslots of its chunk. */
static Gpt *use_slot(Pipeline *p, const LsPipeAction *a) {
    Gpt *m = p->m[a->chunk];
    gpt_select_acts(m, a->mb % m->nslots);
    return m;
}

/* floats of the residual stream crossing a stage boundary */
static size_t boundary_floats(const Gpt *m) {
    size_t N = (size_t)m->B * m->T;
    if (m->tp.sp) N /= (size_t)m->tp.size;
    return N * (size_t)m->cfg.channels;
}

/* the watchdog's words for an action (indexed by LsPipeOp) */
static const char *const ACTION[] = {"pipeline forward", "pipeline backward",
                                     "pipeline send of activations", "pipeline receive of activations",
                                     "pipeline send of gradients", "pipeline receive of gradients"};

double pipe_step(Pipeline *p, PipeBatchFn batch, void *ctx, float dloss) {
    LsComm *pc = &p->grid->pp_comm;
    double loss_sum = 0.0, t_start = ls_now_s();
    p->compute_s = 0;
    for (int i = 0; i < p->sch.n; i++) {
        const LsPipeAction *a = &p->sch.a[i];
        Gpt *m = use_slot(p, a);
        int nl = m->lay.layer_end - m->lay.layer_begin, last = m->lay.has_head;
        size_t n = boundary_floats(m);
        double t0 = ls_now_s();
        const char *cat = "forward";
        ls_watchdog_phase(ACTION[a->op], a->mb, p->nchunks > 1 ? a->chunk : -1);
        switch (a->op) {
        case LS_PIPE_RECV_ACT: /* the previous stage's output is this stage's input */
            ls_comm_recv(pc, m->a.input, n, a->peer, a->tag);
            cat = "recv";
            break;
        case LS_PIPE_FORWARD: {
            const int32_t *x, *y;
            batch(ctx, a->mb, &x, &y);
            float l = gpt_forward(m, x, last ? y : NULL, m->B, m->T);
            if (last) loss_sum += (double)l * m->B * m->T;
            break;
        }
        case LS_PIPE_SEND_ACT:
            ls_comm_send(pc, m->a.res3[nl - 1], n, a->peer, a->tag);
            cat = "send";
            break;
        case LS_PIPE_RECV_GRAD: /* the gradient of this stage's output */
            ls_comm_recv(pc, m->a.dres, n, a->peer, a->tag);
            cat = "recv";
            break;
        case LS_PIPE_BACKWARD:
            gpt_backward(m, dloss); /* leaves the input's gradient in a.dres */
            cat = "backward";
            break;
        case LS_PIPE_SEND_GRAD:
            ls_comm_send(pc, m->a.dres, n, a->peer, a->tag);
            cat = "send";
            break;
        }
        double t1 = ls_now_s();
        int compute = a->op == LS_PIPE_FORWARD || a->op == LS_PIPE_BACKWARD;
        if (compute) p->compute_s += t1 - t0;
        if (p->trace)
            ls_trace_add(p->trace, cat, compute ? 0 : 1, t0, t1, "%s mb %d chunk %d",
                         ls_pipe_op_name(a->op), a->mb, a->chunk);
    }
    ls_watchdog_phase(NULL, -1, -1);
    p->step_s = ls_now_s() - t_start;
    return loss_sum;
}

double pipe_forward_loss(Pipeline *p, const int32_t *tokens, const int32_t *targets) {
    LsGrid *g = p->grid;
    int P = g->pp, r = g->pp_rank, S = P * p->nchunks, tag = 0x7ffe;
    double loss = 0.0;
    /* model stages in order; stage s = c P + r' runs on rank r' */
    for (int s = r; s < S; s += P) {
        Gpt *m = p->m[s / P];
        int nl = m->lay.layer_end - m->lay.layer_begin;
        size_t n = boundary_floats(m);
        gpt_select_acts(m, 0); /* between steps: every set is free */
        ls_watchdog_phase("validation forward through the pipeline", -1, p->nchunks > 1 ? s / P : -1);
        if (s > 0) ls_comm_recv(&g->pp_comm, m->a.input, n, (s - 1) % P, tag);
        float l = gpt_forward(m, tokens, m->lay.has_head ? targets : NULL, m->B, m->T);
        if (m->lay.has_head) loss = l;
        else ls_comm_send(&g->pp_comm, m->a.res3[nl - 1], n, (s + 1) % P, tag);
    }
    ls_watchdog_phase(NULL, -1, -1);
    return ls_comm_allreduce_sum_double(&g->pp_comm, loss);
}

/* The first and the last stage each hold wte (the embedding and the LM head
 * share it) and each computed part of its gradient: both need the sum, an
 * all-reduce over the grid's embedding group (Megatron's: first and last
 * stage of this pipeline, the same tensor-parallel shard on both). */
void pipe_tie_embedding_grads(Pipeline *p) {
    LsGrid *g = p->grid;
    if (g->pp == 1 || (g->pp_rank != 0 && g->pp_rank != g->pp - 1)) return;
    Gpt *m = p->m[g->pp_rank == 0 ? 0 : p->nchunks - 1]; /* model stage 0, or S - 1 */
    const GptTensor *t = gpt_layout_find(&m->lay, T_WTE, -1);
    ls_comm_allreduce_sum(&g->embed_comm, m->g.wte, (size_t)t->rows * t->cols);
}
