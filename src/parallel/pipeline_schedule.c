/* pipeline_schedule.c - GPipe, 1F1B and interleaved 1F1B action lists (see
 * pipeline_schedule.h and docs/PIPELINE.md).
 *
 * Building a schedule takes two steps.
 *
 * 1. The compute order of each rank: which (micro-batch, chunk) it runs
 *    forward or backward, in which order. Every schedule here has the same
 *    shape, and differs only in its warm-up w_r:
 *        F(0) .. F(w-1)                       warm-up: forwards only
 *        F(w+i), B(i)     for i = 0 .. T-w-1   steady state: one forward, one backward
 *        B(T-w) .. B(T-1)                     cool-down: backwards only
 *    where T = m V is the number of (micro-batch, chunk) units of the rank,
 *    F(k) is its k-th forward unit and B(k) its k-th backward unit.
 *      GPipe:       w = m: all forwards, then all backwards (Huang et al. 2019).
 *      1F1B:        w = min(P-r-1, m) (PipeDream-flush, Narayanan et al.
 *                   2021): stage r runs ahead of stage r+1 by exactly the
 *                   micro-batches needed to keep the pipeline full, so the
 *                   last stage starts backward right after its first forward
 *                   and stage r never holds more than P-r activation sets.
 *      interleaved: w = min(2(P-r-1) + (V-1)P, m V) (Megatron-LM): chunks are
 *                   visited round-robin in groups of P micro-batches,
 *                       F(k): micro-batch (k / PV) P + k % P, chunk (k / P) % V
 *                       B(k): the same micro-batch, chunk V-1 - (k / P) % V,
 *                   so a micro-batch goes round the ring of ranks V times
 *                   forward (stage c P + r -> c P + r + 1 -> ...) and V
 *                   times backward. The warm-up fills the (V-1)P stages of the
 *                   chunks after the first round plus the 2(P-r-1) forwards
 *                   that rank r is ahead of the last rank in one round.
 *    With unit-time chunks the idle time per rank is (P-1) forward + (P-1)
 *    backward slots of one chunk: 1F1B and GPipe take (m + P - 1)(tf + tb),
 *    the bubble fraction is (P-1)/m; interleaved chunks are V times shorter,
 *    so the same P-1 slots cost (P-1)/(m V) of the useful time.
 *
 * 2. Where the messages go in each list, for the two send semantics.
 *
 *    LS_PIPE_ISEND: a unit's input is received right before it runs, its
 *    output sent right after it ran. Sends never block, so a rank only ever
 *    waits for data its next compute needs: the execution is exactly the
 *    compute orders' dependency graph, which step 1's orders keep acyclic
 *    (checked by the model clock below), and its length is the ideal
 *    pipeline's for any forward and backward times. With blocking sends the
 *    same order deadlocks: in 1F1B's steady state rank r sends the
 *    activations of F(w+i) while rank r+1 sends the gradient of B(i), and
 *    both wait for the other to receive.
 *
 *    LS_PIPE_BLOCKING: we run all ranks' compute orders on a model clock
 *    (every forward and backward of a chunk takes 1 unit, a message 0): a
 *    unit starts when its rank is free and its input exists (the previous
 *    stage's forward output, or the next stage's input gradient). A message
 *    happens at the moment its consumer starts. Sorting all events (computes
 *    at their start, messages at their time, messages first on ties, then by
 *    receiving rank) gives one global sequence E; rank r's action list is E
 *    restricted to the events r takes part in (a message belongs to both its
 *    sender, as SEND, and its receiver, as RECV).
 *
 *    Why blocking rendezvous send/recv cannot deadlock: every rank's list is
 *    a subsequence of the single order E. Suppose an execution got stuck and
 *    let e be the earliest event of E not yet done. All events before e are
 *    done, so every participant of e has finished everything before e in its
 *    own list: e is the next action of each of its participants. A compute
 *    then runs; a message has its sender at the SEND and its receiver at the
 *    RECV, so the rendezvous completes. Either way e happens: contradiction.
 *    Sends come after their producer (the producer starts before it ends, no
 *    later than the message time) and receives right before their consumer
 *    (messages sort before computes at the same time), so data is always
 *    there when used. Because messages between a pair of ranks appear in the
 *    same order at both ends, plain in-order matching (one tag) would already
 *    pair them correctly; the tags make any mistake an error instead.
 *    With this model clock every event time is an integer and every compute
 *    lasts one unit, so a message never falls inside the sender's compute: a
 *    run with equal chunk times waits exactly as the idealised pipeline does.
 *    With unequal times a blocking send may wait for a receiver that is still
 *    computing: GPipe and 1F1B lose nothing (backward = 2 forward still gives
 *    (m + P - 1)(tf + tb), simulated), interleaved does (up to +0.22 of the
 *    useful time in the simulated range; LS_PIPE_ISEND loses nothing).
 *    For 1F1B the resulting order is Megatron's pairing
 *    (send_forward_recv_backward / send_backward_recv_forward): between r and
 *    r+1 in the steady state the upstream rank receives the gradient of B(i)
 *    and sends the activations of F(w+i), while the downstream rank sends that
 *    gradient and then receives those activations. */
#include "pipeline_schedule.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../core/error.h"

static const char *const kind_names[] = {"gpipe", "1f1b", "interleaved"};

int ls_pipe_kind_parse(const char *name) {
    for (int k = 0; k < 3; k++)
        if (!strcmp(name, kind_names[k])) return k;
    return -1;
}

const char *ls_pipe_kind_name(LsPipeKind kind) {
    return kind >= 0 && kind <= LS_PIPE_INTERLEAVED ? kind_names[kind] : "?";
}

const char *ls_pipe_op_name(LsPipeOp op) {
    static const char *const names[] = {"forward", "backward", "send-act", "recv-act", "send-grad", "recv-grad"};
    return op >= 0 && op <= LS_PIPE_RECV_GRAD ? names[op] : "?";
}

static int fail(char *err, size_t errlen, const char *fmt, ...) LS_PRINTF(3, 4);
static int fail(char *err, size_t errlen, const char *fmt, ...) {
    if (err && errlen) {
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(err, errlen, fmt, ap);
        va_end(ap);
    }
    return -1;
}

int ls_pipe_validate(const LsPipeConfig *c, char *err, size_t errlen) {
    if (c->kind < LS_PIPE_GPIPE || c->kind > LS_PIPE_INTERLEAVED)
        return fail(err, errlen, "unknown pipeline schedule %d (gpipe, 1f1b or interleaved)", (int)c->kind);
    if (c->comm != LS_PIPE_BLOCKING && c->comm != LS_PIPE_ISEND)
        return fail(err, errlen, "unknown pipeline communication mode %d", (int)c->comm);
    if (c->stages < 1) return fail(err, errlen, "pipeline stages must be >= 1 (got %d)", c->stages);
    if (c->micro_batches < 1)
        return fail(err, errlen, "the pipeline needs at least one micro-batch per step (got %d)", c->micro_batches);
    if (c->kind != LS_PIPE_INTERLEAVED && c->chunks != 1)
        return fail(err, errlen, "--virtual-stages %d needs --pp-schedule interleaved (%s runs one chunk per rank)",
                    c->chunks, ls_pipe_kind_name(c->kind));
    if (c->kind == LS_PIPE_INTERLEAVED) {
        if (c->chunks < 2)
            return fail(err, errlen, "the interleaved schedule needs --virtual-stages >= 2 (got %d; with one "
                        "chunk per rank use --pp-schedule 1f1b)", c->chunks);
        if (c->micro_batches % c->stages != 0)
            return fail(err, errlen, "the interleaved schedule needs the micro-batches per step (%d) to be a "
                        "multiple of the pipeline stages (%d), as in Megatron-LM: choose --global-batch "
                        "so that global-batch / (batch x dp) is a multiple of --pp", c->micro_batches, c->stages);
    }
    long units = (long)c->micro_batches * c->chunks;
    if (units * 2 > 32767)
        return fail(err, errlen, "%d micro-batches x %d chunks per step is more than the pipeline's message "
                    "tags can number (m V <= 16383)", c->micro_batches, c->chunks);
    return 0;
}

/* ---- step 1: compute order */

typedef struct {
    int bwd, mb, chunk;
} Unit;

static int warmup_of(const LsPipeConfig *c, int r) {
    int P = c->stages, m = c->micro_batches, V = c->chunks, T = m * V;
    int w;
    switch (c->kind) {
    case LS_PIPE_GPIPE: w = m; break;
    case LS_PIPE_1F1B: w = P - r - 1; break;
    default: w = 2 * (P - r - 1) + (V - 1) * P; break;
    }
    return w < T ? w : T;
}

/* The k-th forward (bwd = 0) or backward unit of a rank, in Megatron's
 * grouping: micro-batches in groups of P, each group visiting all chunks
 * (forward in chunk order, backward in reverse). For V = 1 it is simply
 * micro-batch k. */
static Unit unit_k(const LsPipeConfig *c, int bwd, int k) {
    int P = c->stages, V = c->chunks;
    Unit u;
    u.bwd = bwd;
    u.mb = (k / (P * V)) * P + k % P;
    u.chunk = (k / P) % V;
    if (bwd) u.chunk = V - 1 - u.chunk;
    return u;
}

static void compute_order(const LsPipeConfig *c, int r, Unit *out) {
    int T = c->micro_batches * c->chunks, w = warmup_of(c, r), n = 0;
    for (int k = 0; k < w; k++) out[n++] = unit_k(c, 0, k);
    for (int i = 0; i < T - w; i++) {
        out[n++] = unit_k(c, 0, w + i);
        out[n++] = unit_k(c, 1, i);
    }
    for (int k = T - w; k < T; k++) out[n++] = unit_k(c, 1, k);
}

/* ---- step 2: the model clock and the global event order */

typedef struct {
    int time;
    int cls;  /* 0 message, 1 compute: messages sort first on ties */
    int rank; /* compute: its rank; message: the receiving rank */
    int idx;  /* index of the compute (or of the message's consumer) in rank's order */
} Event;

static int cmp_event(const void *pa, const void *pb) {
    const Event *a = pa, *b = pb;
    if (a->time != b->time) return a->time < b->time ? -1 : 1;
    if (a->cls != b->cls) return a->cls - b->cls;
    if (a->rank != b->rank) return a->rank - b->rank;
    return a->idx - b->idx;
}

typedef struct {
    const LsPipeConfig *c;
    Unit *units; /* [P][2T] compute orders */
    int *pos;    /* [P][2][m][V] index of a unit in its rank's order */
    int *end;    /* [P][2T] model-clock end time, -1 until run */
} Clock;

#define ORDER_LEN(c) (2 * (c)->micro_batches * (c)->chunks)

static int pos_of(const Clock *k, int r, int bwd, int mb, int chunk) {
    const LsPipeConfig *c = k->c;
    return k->pos[(((size_t)r * 2 + bwd) * c->micro_batches + mb) * c->chunks + chunk];
}

/* The unit `step` model stages away from unit u of rank r, on the same
 * micro-batch and in the same direction (forward or backward): its rank and
 * unit. Returns 0 past either end of the model. */
static int neighbour(const LsPipeConfig *c, int r, Unit u, int step, int *nr, Unit *nu) {
    int P = c->stages, S = P * c->chunks, t = u.chunk * P + r + step;
    if (t < 0 || t >= S) return 0;
    *nr = t % P;
    nu->bwd = u.bwd, nu->mb = u.mb, nu->chunk = t / P;
    return 1;
}

/* Where unit u's input comes from: the previous stage's forward (for a
 * forward) or the next stage's backward (for a backward); 0 for the first
 * stage's forward and the last stage's backward. */
static int producer(const LsPipeConfig *c, int r, Unit u, int *pr, Unit *pu) {
    return neighbour(c, r, u, u.bwd ? 1 : -1, pr, pu);
}

/* Where unit u's output goes: the next stage's forward, or the previous
 * stage's backward. */
static int consumer(const LsPipeConfig *c, int r, Unit u, int *cr, Unit *cu) {
    return neighbour(c, r, u, u.bwd ? -1 : 1, cr, cu);
}

/* Run the compute orders on the model clock. Returns -1 if they cannot all
 * finish (a compute order that waits on itself: a bug, never a user error). */
static int run_clock(Clock *k) {
    const LsPipeConfig *c = k->c;
    int P = c->stages, N = ORDER_LEN(c);
    int *next = ls_calloc((size_t)P, sizeof(int), "pipeline schedule");
    int *clock = ls_calloc((size_t)P, sizeof(int), "pipeline schedule");
    int left = P * N, progress = 1;
    while (left > 0 && progress) {
        progress = 0;
        for (int r = 0; r < P; r++) {
            while (next[r] < N) {
                Unit u = k->units[(size_t)r * N + next[r]];
                int ready = 0, pr;
                Unit pu;
                if (u.bwd) { /* its own forward, earlier on this rank */
                    int e = k->end[(size_t)r * N + pos_of(k, r, 0, u.mb, u.chunk)];
                    if (e < 0) break;
                    ready = e;
                }
                if (producer(c, r, u, &pr, &pu)) {
                    int e = k->end[(size_t)pr * N + pos_of(k, pr, pu.bwd, pu.mb, pu.chunk)];
                    if (e < 0) break;
                    if (e > ready) ready = e;
                }
                int start = clock[r] > ready ? clock[r] : ready;
                clock[r] = start + 1;
                k->end[(size_t)r * N + next[r]] = start + 1;
                next[r]++, left--, progress = 1;
            }
        }
    }
    ls_free(next);
    ls_free(clock);
    return left == 0 ? 0 : -1;
}

static void push(LsPipeSchedule *s, LsPipeOp op, int mb, int chunk, int peer, int tag) {
    LsPipeAction *a = &s->a[s->n++];
    a->op = op, a->mb = mb, a->chunk = chunk, a->peer = peer, a->tag = tag;
}

int ls_pipe_tag(const LsPipeConfig *c, int is_grad, int mb, int recv_chunk) {
    return (mb * c->chunks + recv_chunk) * 2 + is_grad;
}

/* Messages for blocking rendezvous sends: the global event order of the
 * model clock (see the top of the file). */
static void place_rendezvous(const Clock *k, LsPipeSchedule *out) {
    const LsPipeConfig *c = k->c;
    int P = c->stages, N = ORDER_LEN(c);
    /* every compute is one event; every input that comes from another
     * rank is one message event at its consumer's start (end - 1) */
    Event *ev = ls_calloc((size_t)P * N * 2, sizeof(Event), "pipeline schedule");
    size_t ne = 0;
    for (int r = 0; r < P; r++) {
        for (int i = 0; i < N; i++) {
            int start = k->end[(size_t)r * N + i] - 1, pr;
            Unit pu;
            ev[ne++] = (Event){start, 1, r, i};
            if (producer(c, r, k->units[(size_t)r * N + i], &pr, &pu) && pr != r)
                ev[ne++] = (Event){start, 0, r, i};
        }
    }
    qsort(ev, ne, sizeof *ev, cmp_event);
    for (size_t e = 0; e < ne; e++) {
        int r = ev[e].rank;
        Unit u = k->units[(size_t)r * N + ev[e].idx];
        if (ev[e].cls == 1) {
            push(&out[r], u.bwd ? LS_PIPE_BACKWARD : LS_PIPE_FORWARD, u.mb, u.chunk, -1, -1);
            continue;
        }
        int pr = r;
        Unit pu = u;
        producer(c, r, u, &pr, &pu);
        int tag = ls_pipe_tag(c, u.bwd, u.mb, u.chunk);
        push(&out[pr], u.bwd ? LS_PIPE_SEND_GRAD : LS_PIPE_SEND_ACT, u.mb, pu.chunk, r, tag);
        push(&out[r], u.bwd ? LS_PIPE_RECV_GRAD : LS_PIPE_RECV_ACT, u.mb, u.chunk, pr, tag);
    }
    ls_free(ev);
}

/* Messages for non-blocking sends: each unit's input received right before
 * it runs, its output sent right after. */
static void place_isend(const Clock *k, LsPipeSchedule *out) {
    const LsPipeConfig *c = k->c;
    int P = c->stages, N = ORDER_LEN(c);
    for (int r = 0; r < P; r++) {
        for (int i = 0; i < N; i++) {
            Unit u = k->units[(size_t)r * N + i], nu;
            int q;
            if (producer(c, r, u, &q, &nu) && q != r)
                push(&out[r], u.bwd ? LS_PIPE_RECV_GRAD : LS_PIPE_RECV_ACT, u.mb, u.chunk, q,
                     ls_pipe_tag(c, u.bwd, u.mb, u.chunk));
            push(&out[r], u.bwd ? LS_PIPE_BACKWARD : LS_PIPE_FORWARD, u.mb, u.chunk, -1, -1);
            if (consumer(c, r, u, &q, &nu) && q != r) /* tagged by the receiving chunk */
                push(&out[r], u.bwd ? LS_PIPE_SEND_GRAD : LS_PIPE_SEND_ACT, u.mb, u.chunk, q,
                     ls_pipe_tag(c, u.bwd, u.mb, nu.chunk));
        }
    }
}

int ls_pipe_build_all(const LsPipeConfig *c, LsPipeSchedule *out, char *err, size_t errlen) {
    if (ls_pipe_validate(c, err, errlen)) return -1;
    int P = c->stages, N = ORDER_LEN(c);
    Clock k = {c, NULL, NULL, NULL};
    k.units = ls_calloc((size_t)P * N, sizeof(Unit), "pipeline schedule");
    k.pos = ls_calloc((size_t)P * N, sizeof(int), "pipeline schedule");
    k.end = ls_calloc((size_t)P * N, sizeof(int), "pipeline schedule");
    for (int r = 0; r < P; r++) {
        compute_order(c, r, k.units + (size_t)r * N);
        for (int i = 0; i < N; i++) {
            Unit u = k.units[(size_t)r * N + i];
            k.pos[(((size_t)r * 2 + u.bwd) * c->micro_batches + u.mb) * c->chunks + u.chunk] = i;
            k.end[(size_t)r * N + i] = -1;
        }
    }
    int rc = run_clock(&k);
    if (rc) {
        fail(err, errlen, "internal error: the %s compute order for P=%d, m=%d, V=%d cannot finish",
             ls_pipe_kind_name(c->kind), P, c->micro_batches, c->chunks);
    } else {
        for (int r = 0; r < P; r++) {
            memset(&out[r], 0, sizeof out[r]);
            out[r].cfg = *c;
            out[r].rank = r;
            out[r].warmup = warmup_of(c, r);
            /* per unit at most: its compute, the receive of its input,
             * the send of its output */
            out[r].a = ls_calloc((size_t)3 * N, sizeof(LsPipeAction), "pipeline schedule");
        }
        if (c->comm == LS_PIPE_ISEND)
            place_isend(&k, out);
        else
            place_rendezvous(&k, out);
    }
    ls_free(k.units);
    ls_free(k.pos);
    ls_free(k.end);
    return rc;
}

int ls_pipe_build(const LsPipeConfig *c, int rank, LsPipeSchedule *out, char *err, size_t errlen) {
    if (ls_pipe_validate(c, err, errlen)) return -1;
    if (rank < 0 || rank >= c->stages)
        return fail(err, errlen, "pipeline rank %d is outside 0..%d", rank, c->stages - 1);
    LsPipeSchedule *all = ls_calloc((size_t)c->stages, sizeof *all, "pipeline schedule");
    int rc = ls_pipe_build_all(c, all, err, errlen);
    if (rc == 0) {
        *out = all[rank];
        for (int r = 0; r < c->stages; r++)
            if (r != rank) ls_pipe_free(&all[r]);
    }
    ls_free(all);
    return rc;
}

void ls_pipe_free(LsPipeSchedule *s) {
    ls_free(s->a);
    s->a = NULL;
    s->n = 0;
}

double ls_pipe_bubble_fraction(const LsPipeConfig *c) {
    return (double)(c->stages - 1) / ((double)c->micro_batches * c->chunks);
}

/* Forwards run ahead of backwards by the warm-up; in the steady state one
 * more forward is alive before each backward frees one. */
int ls_pipe_max_in_flight(const LsPipeConfig *c, int rank) {
    int T = c->micro_batches * c->chunks, w = warmup_of(c, rank);
    return w + 1 < T ? w + 1 : T;
}
