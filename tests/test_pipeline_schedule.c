/* test_pipeline_schedule.c - every pipeline schedule, executed without
 * compute by a simulator of blocking rendezvous point-to-point (a send and its
 * receive complete together, when both ranks have reached them; MPI_Ssend +
 * MPI_Recv), for every P <= 8, m <= 16, and V in 2..4 for interleaved (where
 * m % P == 0). The simulator knows nothing of how the lists were built: it
 * derives the data flow from the model itself (chunk c of rank r is model
 * stage c P + r; stage s feeds s+1 forward and s-1 backward) and checks that
 *   - all ranks finish: no deadlock;
 *   - every send meets a receive of the same kind (activation / gradient),
 *     micro-batch and tag, between consecutive model stages, and the sender
 *     has computed what it sends;
 *   - each (micro-batch, chunk) forward runs once, after its input arrived,
 *     and its backward once, after its forward and after its output gradient
 *     arrived; so every stage does exactly m forwards and m backwards per chunk;
 *   - on each chunk, forwards and backwards come in micro-batch order (so
 *     weight gradients accumulate in the one-process order);
 *   - the activation sets alive at once never exceed ls_pipe_max_in_flight,
 *     which is min(P-r, m) for 1F1B and m for GPipe, and reach it; for 1F1B
 *     and interleaved that peak is also what the planner's memory model
 *     (plan_inflight, src/plan/memory.c) assumes;
 *   - with every chunk's forward and backward taking one time unit and free
 *     messages, the step takes (1 + (P-1)/(m V)) times the useful compute:
 *     the bubble of Narayanan et al.; and with backward = 2 forward the same
 *     for GPipe and 1F1B, (m + P - 1)(tf + tb). For interleaved with
 *     backward = 2 forward the simulated bubble is larger than (P-1)/(m V)
 *     (printed, not asserted: a property of the schedule's compute order,
 *     the same with eager sends).
 * Every configuration runs under both semantics: rendezvous, and eager
 * (a send completes at once, a receive takes the oldest message of its
 * channel: MPI_Isend + MPI_Recv).
 * Negative cases prove the checker can fail: a 1F1B list reordered the naive
 * way (send activations before receiving the gradient) deadlocks, a backward
 * moved before its forward, and a send with the wrong micro-batch, are caught.
 * Unsupported configurations get a one-sentence error. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "../src/parallel/pipeline_schedule.h"
#include "../src/plan/memory.h"
#include "check.h"

typedef struct {
    int P, m, V;
    int *fwd, *bwd, *act_in, *grad_in; /* [P][m][V] counts */
} State;

#define AT(st, r, mb, c) ((((size_t)(r) * (st)->m) + (mb)) * (st)->V + (c))

static int is_comm(LsPipeOp op) { return op != LS_PIPE_FORWARD && op != LS_PIPE_BACKWARD; }
static int is_send(LsPipeOp op) { return op == LS_PIPE_SEND_ACT || op == LS_PIPE_SEND_GRAD; }

/* The sender has computed what it sends. */
static int sendable(const State *st, const LsPipeAction *snd, int sr, char *why, size_t wl) {
    int grad = snd->op == LS_PIPE_SEND_GRAD;
    size_t src = AT(st, sr, snd->mb, snd->chunk);
    if (grad ? st->bwd[src] : st->fwd[src]) return 0;
    snprintf(why, wl, "rank %d sends %s of (mb %d, chunk %d) before computing it", sr,
             grad ? "the gradient" : "activations", snd->mb, snd->chunk);
    return -1;
}

/* A send from rank sr meets a receive on rank rr: same kind, micro-batch and
 * tag, from model stage s to s+1 (activations) or s-1 (gradients), received
 * once. */
static int deliver(State *st, const LsPipeAction *snd, int sr, const LsPipeAction *rcv, int rr, char *why,
                   size_t wl) {
    int P = st->P, grad = snd->op == LS_PIPE_SEND_GRAD;
    int s_stage = snd->chunk * P + sr, r_stage = rcv->chunk * P + rr;
    size_t dst = AT(st, rr, rcv->mb, rcv->chunk);
    if (grad != (rcv->op == LS_PIPE_RECV_GRAD) || snd->mb != rcv->mb || snd->tag != rcv->tag ||
        r_stage != s_stage + (grad ? -1 : 1)) {
        snprintf(why, wl, "rank %d %s(mb %d, chunk %d, tag %d) meets rank %d %s(mb %d, chunk %d, tag %d)", sr,
                 ls_pipe_op_name(snd->op), snd->mb, snd->chunk, snd->tag, rr, ls_pipe_op_name(rcv->op), rcv->mb,
                 rcv->chunk, rcv->tag);
        return -1;
    }
    int *got = grad ? st->grad_in : st->act_in;
    if (got[dst]) {
        snprintf(why, wl, "rank %d receives %s of (mb %d, chunk %d) twice", rr, grad ? "the gradient" : "activations",
                 rcv->mb, rcv->chunk);
        return -1;
    }
    got[dst] = 1;
    return 0;
}

/* an eager channel: messages sent from one rank to another, oldest first */
typedef struct {
    const LsPipeAction **a;
    double *t;
    int head, tail;
} Chan;

/* Execute the P lists. Returns 0 when every check holds, else -1 with the
 * first problem in why. makespan: the finishing time of the slowest rank;
 * peak[r]: the most activation sets rank r held. */
static int simulate(const LsPipeConfig *cfg, const LsPipeSchedule *s, int eager, double tf, double tb,
                    double *makespan, int *peak, char *why, size_t wl) {
    State st = {cfg->stages, cfg->micro_batches, cfg->chunks, NULL, NULL, NULL, NULL};
    int P = st.P, S = P * st.V;
    size_t cells = (size_t)P * st.m * st.V;
    st.fwd = calloc(cells, sizeof(int));
    st.bwd = calloc(cells, sizeof(int));
    st.act_in = calloc(cells, sizeof(int));
    st.grad_in = calloc(cells, sizeof(int));
    int *pc = calloc((size_t)P, sizeof(int)), *alive = calloc((size_t)P, sizeof(int));
    double *clock = calloc((size_t)P, sizeof(double));
    Chan *chans = calloc((size_t)P * P, sizeof(Chan));
    for (int i = 0; i < P * P; i++) {
        chans[i].a = calloc((size_t)s[i / P].n + 1, sizeof(LsPipeAction *));
        chans[i].t = calloc((size_t)s[i / P].n + 1, sizeof(double));
    }
    int rc = 0, left = P;
    why[0] = 0;
    for (int r = 0; r < P; r++) {
        peak[r] = 0;
        if (s[r].n == 0) left--;
    }
    while (left > 0 && rc == 0) {
        int progress = 0;
        for (int r = 0; r < P && rc == 0; r++) {
            while (pc[r] < s[r].n && rc == 0) {
                const LsPipeAction *a = &s[r].a[pc[r]];
                if (a->mb < 0 || a->mb >= st.m || a->chunk < 0 || a->chunk >= st.V) {
                    snprintf(why, wl, "rank %d action %d: micro-batch %d / chunk %d out of range", r, pc[r],
                             a->mb, a->chunk);
                    rc = -1;
                    break;
                }
                int stage = a->chunk * P + r;
                size_t me = AT(&st, r, a->mb, a->chunk);
                if (!is_comm(a->op)) {
                    /* where this unit's input comes from: another rank's
                     * message, or (P = 1) the neighbouring chunk in memory */
                    int bwd = a->op == LS_PIPE_BACKWARD;
                    int from = bwd ? stage + 1 : stage - 1, have = 1;
                    if (from >= 0 && from < S) {
                        if (P > 1)
                            have = bwd ? st.grad_in[me] : st.act_in[me];
                        else
                            have = bwd ? st.bwd[AT(&st, r, a->mb, a->chunk + 1)] : st.fwd[AT(&st, r, a->mb, a->chunk - 1)];
                    }
                    if (!have) {
                        snprintf(why, wl, "rank %d: %s(mb %d, chunk %d) before its input arrived", r,
                                 ls_pipe_op_name(a->op), a->mb, a->chunk);
                        rc = -1;
                    } else if (bwd && !st.fwd[me]) {
                        snprintf(why, wl, "rank %d: backward(mb %d, chunk %d) before its forward", r, a->mb, a->chunk);
                        rc = -1;
                    } else if ((bwd ? st.bwd[me] : st.fwd[me]) != 0) {
                        snprintf(why, wl, "rank %d: %s(mb %d, chunk %d) twice", r, ls_pipe_op_name(a->op), a->mb,
                                 a->chunk);
                        rc = -1;
                    }
                    if (rc) break;
                    if (bwd) {
                        st.bwd[me] = 1, alive[r]--, clock[r] += tb;
                    } else {
                        st.fwd[me] = 1, alive[r]++, clock[r] += tf;
                        if (alive[r] > peak[r]) peak[r] = alive[r];
                    }
                } else {
                    int q = a->peer;
                    if (q < 0 || q >= P || q == r) {
                        snprintf(why, wl, "rank %d: message to/from bad peer %d", r, q);
                        rc = -1;
                        break;
                    }
                    if (is_send(a->op)) {
                        rc = sendable(&st, a, r, why, wl);
                        if (rc) break;
                    }
                    if (eager) {
                        /* a send leaves at once into the (r -> q) channel; a
                         * receive takes the oldest message of (q -> r) */
                        if (is_send(a->op)) {
                            Chan *ch = &chans[(size_t)r * P + q];
                            ch->a[ch->tail] = a, ch->t[ch->tail++] = clock[r];
                        } else {
                            Chan *ch = &chans[(size_t)q * P + r];
                            if (ch->head == ch->tail) break; /* nothing sent yet: wait */
                            rc = deliver(&st, ch->a[ch->head], q, a, r, why, wl);
                            if (rc) break;
                            if (ch->t[ch->head] > clock[r]) clock[r] = ch->t[ch->head];
                            ch->head++;
                        }
                    } else {
                        /* rendezvous: both must be at the two ends of one message */
                        if (pc[q] >= s[q].n) break; /* the peer is done: stuck */
                        const LsPipeAction *b = &s[q].a[pc[q]];
                        if (!is_comm(b->op) || b->peer != r || is_send(b->op) == is_send(a->op)) break;
                        if (is_send(b->op)) rc = sendable(&st, b, q, why, wl);
                        if (!rc) rc = is_send(a->op) ? deliver(&st, a, r, b, q, why, wl) : deliver(&st, b, q, a, r, why, wl);
                        if (rc) break;
                        double t = clock[r] > clock[q] ? clock[r] : clock[q];
                        clock[r] = clock[q] = t;
                        if (++pc[q] == s[q].n) left--;
                    }
                }
                if (++pc[r] == s[r].n) left--;
                progress = 1;
            }
        }
        if (!progress && rc == 0) {
            int len = snprintf(why, wl, "deadlock:");
            for (int r = 0; r < P && len < (int)wl - 48; r++)
                if (pc[r] < s[r].n)
                    len += snprintf(why + len, wl - len, " rank %d at %s(mb %d, peer %d);", r,
                                    ls_pipe_op_name(s[r].a[pc[r]].op), s[r].a[pc[r]].mb, s[r].a[pc[r]].peer);
            rc = -1;
        }
    }
    /* every unit forward and backward exactly once on every rank */
    for (size_t i = 0; i < cells && rc == 0; i++) {
        if (st.fwd[i] != 1 || st.bwd[i] != 1) {
            snprintf(why, wl, "rank %zu: (mb %zu, chunk %zu) ran %d forwards, %d backwards", i / (st.m * st.V),
                     i / st.V % st.m, i % st.V, st.fwd[i], st.bwd[i]);
            rc = -1;
        }
    }
    *makespan = 0;
    for (int r = 0; r < P; r++)
        if (clock[r] > *makespan) *makespan = clock[r];
    free(st.fwd), free(st.bwd), free(st.act_in), free(st.grad_in);
    for (int i = 0; i < P * P; i++) free(chans[i].a), free(chans[i].t);
    free(pc), free(alive), free(clock), free(chans);
    return rc;
}

static void free_all(LsPipeSchedule *s, int P) {
    for (int r = 0; r < P; r++) ls_pipe_free(&s[r]);
}

/* The three ways the lists are run: the rendezvous-safe lists under
 * rendezvous and under eager sends, the Isend lists under eager sends. */
static const struct {
    LsPipeComm comm;
    int eager;
    const char *name;
} g_runs[3] = {{LS_PIPE_BLOCKING, 0, "blocking lists, rendezvous"},
               {LS_PIPE_BLOCKING, 1, "blocking lists, eager"},
               {LS_PIPE_ISEND, 1, "isend lists, eager"}};

/* every supported (P, m, V): simulate, check bubble and memory bound */
static void test_all_configs(void) {
    const LsPipeKind kinds[] = {LS_PIPE_GPIPE, LS_PIPE_1F1B, LS_PIPE_INTERLEAVED};
    LsPipeSchedule s[8];
    int peak[8];
    char err[256], why[512];
    for (int ki = 0; ki < 3; ki++) {
        int configs = 0, failures = 0, checked_bounds = 0;
        double worst[3] = {0, 0, 0}; /* largest bubble above the formula with tb = 2 tf */
        for (int P = 1; P <= 8; P++) {
            for (int m = 1; m <= 16; m++) {
                int vlo = kinds[ki] == LS_PIPE_INTERLEAVED ? 2 : 1, vhi = kinds[ki] == LS_PIPE_INTERLEAVED ? 4 : 1;
                for (int V = vlo; V <= vhi; V++) {
                    LsPipeConfig cfg = {kinds[ki], P, m, V, LS_PIPE_BLOCKING};
                    const char *kn = ls_pipe_kind_name(cfg.kind);
                    if (kinds[ki] == LS_PIPE_INTERLEAVED && m % P != 0) {
                        CHECK(ls_pipe_build_all(&cfg, s, err, sizeof err) == -1 && strstr(err, "multiple"),
                              "interleaved P=%d m=%d should be rejected (got '%s')", P, m, err);
                        continue;
                    }
                    configs++;
                    for (int run = 0; run < 3; run++) {
                        const char *sem = g_runs[run].name;
                        cfg.comm = g_runs[run].comm;
                        if (ls_pipe_build_all(&cfg, s, err, sizeof err)) {
                            CHECK(0, "%s P=%d m=%d V=%d: %s", kn, P, m, V, err);
                            failures++;
                            continue;
                        }
                        /* per chunk, forwards and backwards in micro-batch
                         * order: gradients accumulate as in one process */
                        for (int r = 0; r < P; r++) {
                            int nextf[4] = {0}, nextb[4] = {0}, ordered = 1;
                            for (int i = 0; i < s[r].n; i++) {
                                const LsPipeAction *x = &s[r].a[i];
                                if (x->op == LS_PIPE_FORWARD) ordered &= x->mb == nextf[x->chunk]++;
                                if (x->op == LS_PIPE_BACKWARD) ordered &= x->mb == nextb[x->chunk]++;
                            }
                            if (!ordered) {
                                failures++;
                                CHECK(0, "%s P=%d m=%d V=%d rank %d: micro-batches out of order", kn, P, m, V, r);
                            }
                        }
                        double T1, T2;
                        if (simulate(&cfg, s, g_runs[run].eager, 1, 1, &T1, peak, why, sizeof why)) {
                            failures++;
                            CHECK(0, "%s P=%d m=%d V=%d, %s: %s", kn, P, m, V, sem, why);
                            free_all(s, P);
                            continue;
                        }
                        /* unit costs: step = useful m V (1 + 1) plus the bubble */
                        double ideal = 2.0 * m * V, bubble = (T1 - ideal) / ideal;
                        if (fabs(bubble - ls_pipe_bubble_fraction(&cfg)) > 1e-12) {
                            failures++;
                            CHECK(0, "%s P=%d m=%d V=%d, %s: simulated bubble %.4f, formula %.4f", kn, P, m, V, sem,
                                  bubble, ls_pipe_bubble_fraction(&cfg));
                        }
                        for (int r = 0; r < P; r++) {
                            int want = ls_pipe_max_in_flight(&cfg, r);
                            /* the published bounds */
                            int pub = cfg.kind == LS_PIPE_GPIPE  ? m
                                    : cfg.kind == LS_PIPE_1F1B ? (P - r < m ? P - r : m)
                                                               : want;
                            /* and the planner's memory model (plan_inflight,
                             * written apart from this file) counts the same,
                             * in layer-sets of L/P layers */
                            if (cfg.kind != LS_PIPE_GPIPE) {
                                PlanLayout lay = {.dp = 1, .tp = 1, .pp = P, .vpp = V, .num_micro = m, .micro_batch = 1};
                                double planned = plan_inflight(&lay, r) * V;
                                if (fabs(planned - peak[r]) > 1e-9) {
                                    failures++;
                                    CHECK(0, "%s P=%d m=%d V=%d rank %d: simulated %d sets alive, plan_inflight says %g",
                                          kn, P, m, V, r, peak[r], planned);
                                }
                            }
                            if (peak[r] != want || want != pub) {
                                failures++;
                                CHECK(0, "%s P=%d m=%d V=%d rank %d, %s: %d activation sets alive, bound %d, "
                                      "published %d", kn, P, m, V, r, sem, peak[r], want, pub);
                            }
                            checked_bounds++;
                        }
                        /* backward = 2 forward: the step is still (1 + bubble)
                         * times the useful work, except for the interleaved
                         * blocking lists (reported) */
                        simulate(&cfg, s, g_runs[run].eager, 1, 2, &T2, peak, why, sizeof why);
                        double b2 = (T2 - 3.0 * m * V) / (3.0 * m * V), excess = b2 - ls_pipe_bubble_fraction(&cfg);
                        if ((cfg.kind != LS_PIPE_INTERLEAVED || cfg.comm == LS_PIPE_ISEND) && fabs(excess) > 1e-12) {
                            failures++;
                            CHECK(0, "%s P=%d m=%d V=%d, %s, tb = 2 tf: bubble %.4f, formula %.4f", kn, P, m, V, sem,
                                  b2, ls_pipe_bubble_fraction(&cfg));
                        }
                        if (excess > worst[run]) worst[run] = excess;
                        free_all(s, P);
                    }
                }
            }
        }
        CHECK(failures == 0, "%s: %d failures over %d configurations", ls_pipe_kind_name(kinds[ki]), failures, configs);
        printf("%-12s %3d configurations x 3 runs simulated, %d rank bounds checked, %d failures\n",
               ls_pipe_kind_name(kinds[ki]), configs, checked_bounds, failures);
        printf("             tb = 2 tf, bubble above (P-1)/(mV) at most: %.3f (%s), %.3f (%s), %.3f (%s)\n", worst[0],
               g_runs[0].name, worst[1], g_runs[1].name, worst[2], g_runs[2].name);
    }
}

/* 1F1B: the shape of the published schedule on each rank */
static void test_1f1b_shape(void) {
    LsPipeConfig cfg = {LS_PIPE_1F1B, 4, 8, 1, LS_PIPE_BLOCKING};
    LsPipeSchedule s[4];
    char err[256];
    CHECK(ls_pipe_build_all(&cfg, s, err, sizeof err) == 0, "%s", err);
    for (int r = 0; r < 4; r++) {
        int fwd_before = 0, i = 0;
        while (i < s[r].n && s[r].a[i].op != LS_PIPE_BACKWARD) fwd_before += s[r].a[i++].op == LS_PIPE_FORWARD;
        /* warm-up P-r-1 forwards, then the first steady forward */
        CHECK(fwd_before == 4 - r, "rank %d: %d forwards before the first backward, want %d", r, fwd_before, 4 - r);
        CHECK(s[r].warmup == 3 - r, "rank %d warm-up %d", r, s[r].warmup);
        /* backwards in micro-batch order (gradient accumulation in the
         * one-process order) */
        int next_b = 0, in_order = 1;
        for (i = 0; i < s[r].n; i++)
            if (s[r].a[i].op == LS_PIPE_BACKWARD) in_order &= s[r].a[i].mb == next_b++;
        CHECK(in_order && next_b == 8, "rank %d backwards out of order", r);
    }
    /* Megatron's pairing in the steady state of rank 1: F, recv-grad, send-act, B */
    int found = 0;
    for (int i = 0; i + 3 < s[1].n; i++)
        if (s[1].a[i].op == LS_PIPE_FORWARD && s[1].a[i + 1].op == LS_PIPE_RECV_GRAD &&
            s[1].a[i + 2].op == LS_PIPE_SEND_ACT && s[1].a[i + 3].op == LS_PIPE_BACKWARD)
            found++;
    CHECK(found == 8 - 2, "rank 1: %d steady steps in Megatron's order, want %d", found, 8 - 2);
    free_all(s, 4);
}

/* Swap the first adjacent actions (x, y) of a list; 0 if there are none. */
static int swap_first(LsPipeSchedule *s, LsPipeOp x, LsPipeOp y) {
    for (int i = 0; i + 1 < s->n; i++)
        if (s->a[i].op == x && s->a[i + 1].op == y) {
            LsPipeAction t = s->a[i];
            s->a[i] = s->a[i + 1], s->a[i + 1] = t;
            return 1;
        }
    return 0;
}

/* Run broken lists under rendezvous: the simulator must fail, saying `needle`. */
static void expect_caught(const LsPipeConfig *cfg, LsPipeSchedule *s, const char *label, const char *needle) {
    char why[512];
    int peak[8];
    double T;
    CHECK(simulate(cfg, s, 0, 1, 1, &T, peak, why, sizeof why) == -1 && strstr(why, needle),
          "%s not caught: '%s'", label, why);
    printf("%-24s %s\n", label, why);
    free_all(s, cfg->stages);
}

/* the checker fails on broken orders */
static void test_negative(void) {
    LsPipeConfig cfg = {LS_PIPE_1F1B, 4, 8, 1, LS_PIPE_BLOCKING};
    LsPipeSchedule s[4];
    char err[256];

    /* naive 1F1B: rank 1 sends its activations before receiving the
     * gradient, as rank 2 sends that gradient before receiving them: both
     * block in their send */
    CHECK(ls_pipe_build_all(&cfg, s, err, sizeof err) == 0, "%s", err);
    CHECK(swap_first(&s[1], LS_PIPE_RECV_GRAD, LS_PIPE_SEND_ACT), "no recv-grad/send-act pair to swap");
    expect_caught(&cfg, s, "naive order:", "deadlock");

    /* the Isend lists (send right after the forward) need non-blocking
     * sends: under rendezvous they deadlock the same way */
    cfg.comm = LS_PIPE_ISEND;
    CHECK(ls_pipe_build_all(&cfg, s, err, sizeof err) == 0, "%s", err);
    expect_caught(&cfg, s, "isend lists, rendezvous:", "deadlock");
    cfg.comm = LS_PIPE_BLOCKING;

    /* a backward moved before its forward on the last stage */
    CHECK(ls_pipe_build_all(&cfg, s, err, sizeof err) == 0, "%s", err);
    CHECK(swap_first(&s[3], LS_PIPE_FORWARD, LS_PIPE_BACKWARD), "no forward/backward pair to swap");
    expect_caught(&cfg, s, "B before F:", "before its forward");

    /* a receive that expects the wrong micro-batch */
    CHECK(ls_pipe_build_all(&cfg, s, err, sizeof err) == 0, "%s", err);
    for (int i = 0; i < s[1].n; i++)
        if (s[1].a[i].op == LS_PIPE_RECV_ACT && s[1].a[i].mb == 2) {
            s[1].a[i].mb = 3;
            break;
        }
    expect_caught(&cfg, s, "wrong micro-batch:", "meets");

    /* interleaved: drop the wrap-around receive of rank 0 (its chunk 1 input) */
    LsPipeConfig icfg = {LS_PIPE_INTERLEAVED, 2, 4, 2, LS_PIPE_BLOCKING};
    CHECK(ls_pipe_build_all(&icfg, s, err, sizeof err) == 0, "%s", err);
    for (int i = 0; i < s[0].n; i++)
        if (s[0].a[i].op == LS_PIPE_RECV_ACT && s[0].a[i].chunk == 1) {
            memmove(&s[0].a[i], &s[0].a[i + 1], sizeof(LsPipeAction) * (size_t)(s[0].n - i - 1));
            s[0].n--;
            break;
        }
    expect_caught(&icfg, s, "missing receive:", "deadlock");
}

static void test_errors(void) {
    char err[256];
    struct {
        LsPipeConfig cfg;
        const char *want;
    } bad[] = {
        {{LS_PIPE_INTERLEAVED, 4, 6, 2, LS_PIPE_BLOCKING}, "multiple of the pipeline stages"},
        {{LS_PIPE_INTERLEAVED, 4, 8, 1, LS_PIPE_BLOCKING}, "--virtual-stages >= 2"},
        {{LS_PIPE_1F1B, 4, 8, 2, LS_PIPE_BLOCKING}, "needs --pp-schedule interleaved"},
        {{LS_PIPE_GPIPE, 0, 8, 1, LS_PIPE_BLOCKING}, "stages must be >= 1"},
        {{LS_PIPE_1F1B, 2, 0, 1, LS_PIPE_BLOCKING}, "at least one micro-batch"},
        {{LS_PIPE_INTERLEAVED, 8, 4096, 4, LS_PIPE_BLOCKING}, "tags"},
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        err[0] = 0;
        CHECK(ls_pipe_validate(&bad[i].cfg, err, sizeof err) == -1 && strstr(err, bad[i].want),
              "case %zu: '%s' should contain '%s'", i, err, bad[i].want);
        LsPipeSchedule s;
        CHECK(ls_pipe_build(&bad[i].cfg, 0, &s, err, sizeof err) == -1, "case %zu built", i);
    }
    LsPipeConfig ok = {LS_PIPE_1F1B, 2, 3, 1, LS_PIPE_BLOCKING};
    LsPipeSchedule s;
    CHECK(ls_pipe_build(&ok, 2, &s, err, sizeof err) == -1 && strstr(err, "outside"), "rank 2 of 2: '%s'", err);
    CHECK(ls_pipe_kind_parse("interleaved") == LS_PIPE_INTERLEAVED && ls_pipe_kind_parse("1f1b") == LS_PIPE_1F1B &&
              ls_pipe_kind_parse("gpipe") == LS_PIPE_GPIPE && ls_pipe_kind_parse("1F1B") == -1,
          "kind names");
    /* m < P is fine for 1F1B: the warm-up is clamped to m */
    CHECK(ls_pipe_build(&ok, 1, &s, err, sizeof err) == 0 && s.n > 0, "%s", err);
    ls_pipe_free(&s);
}

int main(void) {
    test_all_configs();
    test_1f1b_shape();
    test_negative();
    test_errors();
    return check_summary();
}
