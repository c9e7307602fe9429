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
 *       bit for bit. bytes_sent and calls[LS_OP_P2P] are checked.
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
    printf("world rank %d (pp rank %d of %d, ring %d): ", g.rank, me, W, ring);
    free(out), free(in), free(want);
    ls_grid_finalize(&g);
}

int main(int argc, char **argv) {
    const char *mode = argc > 1 ? argv[1] : "ring";
    if (!strcmp(mode, "ring")) {
        ring_test(argc > 2 ? atoi(argv[2]) : 1, argc > 3 ? atoi(argv[3]) : 2);
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
