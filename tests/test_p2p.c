/* test_p2p.c - point-to-point messages of comm.h over MPI (run by
 * tests/test_p2p.sh under mpirun).
 *   test_p2p ring TP PP   the grid tp=TP x pp=PP (x dp): around each pipeline
 *       group's ring, every rank sends random arrays (1, 1000 and 300000
 *       floats: the last far above Open MPI's eager limit) to the next rank
 *       and receives the previous rank's, blocking (even ranks send first,
 *       odd ranks receive first, as a blocking ring must) and non-blocking
 *       (Irecv, Isend, test until done), plus two tagged messages received in
 *       the opposite order they were sent. Receive buffers are poisoned with
 *       NaN; each array is regenerated from the sender's seed and compared
 *       bit for bit. bytes_sent and calls[LS_OP_P2P] are checked, and the
 *       embedding group (first + last stage of each pipeline) by a sum.
 *   test_p2p pipeline P KIND:m:V ...   pp = P = world size: every rank runs its
 *       pipeline_schedule.h action list with real messages, for each listed
 *       schedule: the LS_PIPE_BLOCKING lists with blocking synchronous sends
 *       and with Isend (completed at the end of the step) + Irecv and wait,
 *       and the LS_PIPE_ISEND lists with Isend. A stand-in model:
 *       stage s adds s+1 to its input forward and 2(s+1) to the gradient
 *       backward, so the last stage and the first can check, element by
 *       element, that every micro-batch went through every stage in order.
 *   test_p2p long | short   rank 0 sends one float more / less than rank 1
 *       expects: a fatal error naming the group, not a silent truncation.
 *   test_p2p self          a send to one's own rank: a fatal error.
 *   test_p2p one           (no mpirun) a send on a one-rank group: a fatal error. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "../src/core/error.h"
#include "../src/core/rng.h"
#include "../src/parallel/comm.h"
#include "../src/parallel/pipeline_schedule.h"
#include "check.h"

/* The array rank `from` of a ring sends in round k (every rank of the ring
 * can regenerate it). `ring` tells the rings of one grid apart. */
static void fill(float *x, size_t n, int ring, int from, int k) {
    LsRng rng;
    ls_rng_seed(&rng, 1000003ull * (unsigned long long)(ring + 1) + 1009ull * (unsigned long long)from + (unsigned long long)k);
    for (size_t i = 0; i < n; i++) x[i] = (float)(ls_rng_uniform(&rng) * 2.0 - 1.0);
}

static void poison(float *x, size_t n) {
    for (size_t i = 0; i < n; i++) x[i] = NAN;
}

static int same(const float *a, const float *b, size_t n) { return memcmp(a, b, n * sizeof(float)) == 0; }

static void ring_test(int tp, int pp) {
    LsGrid g;
    ls_grid_init(&g, tp, pp, 1);
    LsComm *c = &g.pp_comm;
    int W = c->size, me = c->rank, next = (me + 1) % W, prev = (me + W - 1) % W;
    int ring = g.dp_rank * tp + g.tp_rank; /* which pipeline group */
    const size_t sizes[] = {1, 1000, 300000};
    float *out = malloc(300000 * sizeof(float)), *in = malloc(300000 * sizeof(float)),
          *want = malloc(300000 * sizeof(float));
    double sent = 0;
    long calls = 0;
    for (int k = 0; k < 3; k++) {
        size_t n = sizes[k];
        /* blocking, in the order a ring of synchronous sends needs */
        fill(out, n, ring, me, k);
        fill(want, n, ring, prev, k);
        poison(in, n);
        if (me % 2 == 0) {
            ls_comm_send(c, out, n, next, k);
            ls_comm_recv(c, in, n, prev, k);
        } else {
            ls_comm_recv(c, in, n, prev, k);
            ls_comm_send(c, out, n, next, k);
        }
        sent += 4.0 * n, calls += 2;
        CHECK(same(in, want, n), "world rank %d: blocking message %d (%zu floats) from pp rank %d differs", g.rank, k,
              n, prev);
        /* non-blocking: everyone posts both at once */
        fill(out, n, ring, me, 10 + k);
        fill(want, n, ring, prev, 10 + k);
        poison(in, n);
        LsRequest rr, sr;
        ls_comm_irecv(c, in, n, prev, 100 + k, &rr);
        ls_comm_isend(c, out, n, next, 100 + k, &sr);
        while (!ls_comm_test(&rr)) {
        }
        ls_comm_wait(&sr);
        sent += 4.0 * n, calls += 2;
        CHECK(same(in, want, n), "world rank %d: non-blocking message %d (%zu floats) from pp rank %d differs",
              g.rank, k, n, prev);
    }
    /* tags pick the message: two sent as (tag 7, tag 8), received 8 first */
    float a[64], b[64], ra[64], rb[64], wa[64], wb[64];
    fill(a, 64, ring, me, 7), fill(b, 64, ring, me, 8);
    fill(wa, 64, ring, prev, 7), fill(wb, 64, ring, prev, 8);
    poison(ra, 64), poison(rb, 64);
    LsRequest s1, s2, r2;
    ls_comm_isend(c, a, 64, next, 7, &s1);
    ls_comm_isend(c, b, 64, next, 8, &s2);
    ls_comm_irecv(c, rb, 64, prev, 8, &r2);
    ls_comm_recv(c, ra, 64, prev, 7);
    ls_comm_wait(&r2);
    ls_comm_wait(&s1);
    ls_comm_wait(&s2);
    sent += 2 * 4.0 * 64, calls += 4;
    CHECK(same(ra, wa, 64) && same(rb, wb, 64), "world rank %d: tagged messages mixed up", g.rank);
    CHECK(c->bytes_sent == sent, "world rank %d: bytes_sent %.0f, expected %.0f", g.rank, c->bytes_sent, sent);
    CHECK(c->calls[LS_OP_P2P] == calls, "world rank %d: %ld p2p calls counted, expected %ld", g.rank,
          c->calls[LS_OP_P2P], calls);
    /* the embedding group: the two ends of each pipeline (sum of their world ranks) */
    ls_grid_describe(&g);
    int end = g.pp_rank == 0 || g.pp_rank == pp - 1, want_size = pp > 1 && end ? 2 : 1;
    double want_sum = want_size == 1 ? g.rank
                    : (double)(g.dp_rank * pp * tp + g.tp_rank) + (double)((g.dp_rank * pp + pp - 1) * tp + g.tp_rank);
    double got_sum = ls_comm_allreduce_sum_double(&g.embed_comm, g.rank);
    CHECK(g.embed_comm.size == want_size && got_sum == want_sum,
          "world rank %d: embedding group of %d ranks summing to %g, expected %d and %g", g.rank, g.embed_comm.size,
          got_sum, want_size, want_sum);
    printf("world rank %d (pp rank %d of %d, ring %d): ", g.rank, me, W, ring);
    free(out), free(in), free(want);
    ls_grid_finalize(&g);
}

/* One step of a pipeline schedule with real messages of n floats (see the
 * top of the file). Returns the number of wrong elements seen. */
static long run_schedule(LsComm *c, const LsPipeConfig *cfg, int nonblocking, size_t n) {
    int P = cfg->stages, V = cfg->chunks, m = cfg->micro_batches, S = P * V, r = c->rank;
    LsPipeSchedule sch;
    char err[256];
    if (ls_pipe_build(cfg, r, &sch, err, sizeof err)) ls_fatal("%s", err);
    size_t units = (size_t)m * V;
    float *in = malloc(units * n * sizeof(float)), *out = malloc(units * n * sizeof(float));
    float *gout = malloc(units * n * sizeof(float)), *gin = malloc(units * n * sizeof(float));
    LsRequest *reqs = calloc((size_t)sch.n, sizeof(LsRequest));
    poison(in, units * n), poison(gout, units * n);
    long bad = 0, fwd = 0, bwd = 0;
    double base = S * (S + 1) / 2.0;
    for (int i = 0; i < sch.n; i++) {
        const LsPipeAction *a = &sch.a[i];
        size_t u = ((size_t)a->mb * V + a->chunk) * n;
        int s = a->chunk * P + r;
        switch (a->op) {
        case LS_PIPE_FORWARD:
            for (size_t k = 0; k < n; k++) {
                float x = s == 0 ? (float)(a->mb * 1000 + (int)k) : in[u + k];
                out[u + k] = x + (float)(s + 1);
                if (s == S - 1) { /* the "loss": check, and start the backward */
                    bad += out[u + k] != (float)(a->mb * 1000 + (double)k + base);
                    gout[u + k] = out[u + k];
                }
            }
            fwd++;
            break;
        case LS_PIPE_BACKWARD:
            for (size_t k = 0; k < n; k++) {
                gin[u + k] = gout[u + k] + (float)(2 * (s + 1));
                if (s == 0) bad += gin[u + k] != (float)(a->mb * 1000 + (double)k + 3 * base);
            }
            bwd++;
            break;
        case LS_PIPE_SEND_ACT:
        case LS_PIPE_SEND_GRAD: {
            const float *src = (a->op == LS_PIPE_SEND_ACT ? out : gin) + u;
            if (nonblocking)
                ls_comm_isend(c, src, n, a->peer, a->tag, &reqs[i]);
            else
                ls_comm_send(c, src, n, a->peer, a->tag);
            break;
        }
        case LS_PIPE_RECV_ACT:
        case LS_PIPE_RECV_GRAD: {
            float *dst = (a->op == LS_PIPE_RECV_ACT ? in : gout) + u;
            if (nonblocking) {
                ls_comm_irecv(c, dst, n, a->peer, a->tag, &reqs[i]);
                ls_comm_wait(&reqs[i]);
            } else {
                ls_comm_recv(c, dst, n, a->peer, a->tag);
            }
            break;
        }
        }
    }
    for (int i = 0; i < sch.n; i++) ls_comm_wait(&reqs[i]);
    bad += (fwd != (long)units) + (bwd != (long)units);
    free(in), free(out), free(gout), free(gin), free(reqs);
    ls_pipe_free(&sch);
    return bad;
}

static void pipeline_test(int argc, char **argv) {
    LsGrid g;
    ls_grid_init(&g, 1, argc > 0 ? atoi(argv[0]) : 2, 1);
    LsComm *c = &g.pp_comm;
    for (int i = 1; i < argc; i++) {
        char kind[32];
        int m = 0, V = 1;
        if (sscanf(argv[i], "%31[^:]:%d:%d", kind, &m, &V) < 2) ls_fatal("bad schedule spec '%s'", argv[i]);
        /* the blocking lists with Ssend and with Isend, the Isend lists with Isend */
        for (int mode = 0; mode < 3; mode++) {
            LsPipeConfig cfg = {(LsPipeKind)ls_pipe_kind_parse(kind), c->size, m, V,
                                mode == 2 ? LS_PIPE_ISEND : LS_PIPE_BLOCKING};
            long bad = run_schedule(c, &cfg, mode > 0, 50000);
            CHECK(bad == 0, "pp rank %d, %s P=%d m=%d V=%d mode %d: %ld wrong values", c->rank, kind, c->size, m, V,
                  mode, bad);
        }
    }
    printf("pp rank %d of %d: ", c->rank, c->size);
    ls_grid_finalize(&g);
}

int main(int argc, char **argv) {
    const char *mode = argc > 1 ? argv[1] : "ring";
    if (!strcmp(mode, "ring")) {
        ring_test(argc > 2 ? atoi(argv[2]) : 1, argc > 3 ? atoi(argv[3]) : 2);
        return check_summary();
    }
    if (!strcmp(mode, "pipeline")) {
        pipeline_test(argc - 2, argv + 2);
        return check_summary();
    }
    LsGrid g;
    float x[9] = {0};
    if (!strcmp(mode, "one")) {
        ls_grid_init_single(&g);
        ls_comm_send(&g.pp_comm, x, 4, 0, 0);
        return 0; /* not reached */
    }
    ls_grid_init(&g, 1, 2, 1);
    LsComm *c = &g.pp_comm;
    if (!strcmp(mode, "self")) {
        ls_comm_send(c, x, 4, c->rank, 0);
    } else { /* long / short: rank 1 expects 8 floats */
        if (c->rank == 0)
            ls_comm_send(c, x, !strcmp(mode, "long") ? 9 : 7, 1, 0);
        else
            ls_comm_recv(c, x, 8, 0, 0);
    }
    ls_grid_finalize(&g);
    return 0; /* not reached for a wrong size on rank 1 */
}
