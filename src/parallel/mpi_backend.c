/* mpi_backend.c - comm.h over MPI (see mpi_backend.h). */
#include "mpi_backend.h"

#include "../core/error.h"

#ifdef LS_HAVE_MPI
#include <mpi.h>
#include <stdlib.h>
#include <string.h>
#include <sys/statvfs.h>

_Static_assert(sizeof(MPI_Request) <= sizeof(((LsRequest *)0)->opaque), "LsRequest too small");

/* A group of two or more ranks: its communicator, and when all its ranks
 * share one node, a shared-memory window for the fast path below. */
typedef struct {
    MPI_Comm comm;
    MPI_Win win;       /* MPI_WIN_NULL: no shared-memory path */
    float **in, **out; /* every rank's two regions of the window, cap floats each */
    size_t cap;
    int *world_rank;   /* world rank of each group rank (for messages) */
} MpiGroup;

#define GROUP(c) ((MpiGroup *)(c)->impl)
#define COMM(c) (GROUP(c)->comm)
#define REQ(r) ((MPI_Request *)(r)->opaque)

static void check(int rc, const char *op, const LsComm *c) {
    if (rc == MPI_SUCCESS) return;
    char msg[MPI_MAX_ERROR_STRING];
    int len = 0;
    MPI_Error_string(rc, msg, &len);
    msg[len] = 0;
    ls_fatal("MPI %s on the %s group failed: %s (another rank may have died; see its message "
             "above)", op, c ? c->name : "world", msg);
}

static void abort_job(int code) { MPI_Abort(MPI_COMM_WORLD, code); }

void ls_mpi_abort(int code) { abort_job(code); }

int ls_mpi_available(void) { return 1; }

void ls_mpi_init(int *rank, int *size) {
    /* Open MPI on one node: its default single-copy mechanism for large
     * shared-memory messages (CMA, process_vm_readv) measured 3-5x slower here
     * than the plain copy-in/copy-out path, so turn it off unless the user
     * chose otherwise. Read by MPI_Init from the environment. */
    setenv("OMPI_MCA_btl_vader_single_copy_mechanism", "none", 0);
    int provided = 0;
    if (MPI_Init_thread(NULL, NULL, MPI_THREAD_FUNNELED, &provided) != MPI_SUCCESS)
        ls_fatal("MPI_Init failed");
    MPI_Comm_set_errhandler(MPI_COMM_WORLD, MPI_ERRORS_RETURN);
    MPI_Comm_rank(MPI_COMM_WORLD, rank);
    MPI_Comm_size(MPI_COMM_WORLD, size);
    ls_set_abort_hook(abort_job);
    ls_set_rank_tag(*rank);
}

static MpiGroup *new_group(MPI_Comm comm) {
    MpiGroup *g = calloc(1, sizeof *g);
    int n = 0;
    MPI_Comm_size(comm, &n);
    int *mine = malloc(sizeof(int) * (size_t)n);
    if (g) g->world_rank = malloc(sizeof(int) * (size_t)n);
    if (!g || !mine || !g->world_rank) ls_fatal("out of memory creating a communicator");
    g->comm = comm;
    g->win = MPI_WIN_NULL;
    MPI_Group grp, world;
    MPI_Comm_group(comm, &grp);
    MPI_Comm_group(MPI_COMM_WORLD, &world);
    for (int r = 0; r < n; r++) mine[r] = r;
    MPI_Group_translate_ranks(grp, n, mine, world, g->world_rank);
    MPI_Group_free(&grp);
    MPI_Group_free(&world);
    free(mine);
    return g;
}

int ls_mpi_world_rank(const LsComm *c, int r) {
    return c->impl && r >= 0 && r < c->size ? GROUP(c)->world_rank[r] : -1;
}

/* ---- the shared-memory path for groups inside one node
 *
 * Open MPI's own large-message collectives measured 1.2-3 GB/s here (page
 * faults on temporary buffers, then a pipelined ring through its shared
 * memory transport). When every rank of a group is on this node, the
 * collectives below go through one MPI-3 shared window (MPI_Win_allocate_
 * shared) instead: each rank owns two regions of `cap` floats, `in` and `out`.
 *
 *   all-reduce of a chunk:  every rank copies its chunk into its `in` region;
 *       barrier; rank r sums slice r of the chunk over all ranks' `in` regions
 *       (in rank order, so every run adds in the same order) into its `out`
 *       region; barrier; every rank copies every slice from its owner's `out`.
 *   reduce-scatter: the same, each rank summing only its own piece.
 *   all-gather (only with LLMSCALE_SHM=all): every rank copies its piece into
 *       `in`; barrier; every rank copies the others' pieces out; barrier.
 * Measured here, 2 ranks, 128 MB: all-reduce 34-39 ms through the window vs
 * ~112 ms through Open MPI (3x); all-gather was not faster than Open MPI's
 * single-copy pieces, so all-gathers stay with MPI by default.
 * Vectors longer than `cap` go chunk by chunk. Each rank moves about 3x the
 * vector through memory and the reduction is split W ways, with no temporary
 * allocations. The copies are CPU work, as MPI's are: on a CPU-only node no
 * collective can run "in the background" of compute on the same cores, so
 * these run to completion when started (the request they return is done).
 * LLMSCALE_SHM=0 turns the path off; LLMSCALE_SHM_MB sets cap (default 4 MiB
 * per region; chunks that stay in cache measured fastest). Barriers are MPI_Barrier with MPI_Win_sync on both sides (the
 * MPI-3 unified-memory idiom inside one passive-target epoch). */

static void shm_attach(LsComm *c) {
    const char *env = getenv("LLMSCALE_SHM");
    if (env && !strcmp(env, "0")) return;
    MpiGroup *g = GROUP(c);
    MPI_Comm node;
    if (MPI_Comm_split_type(g->comm, MPI_COMM_TYPE_SHARED, 0, MPI_INFO_NULL, &node) != MPI_SUCCESS) return;
    int nsize = 0;
    MPI_Comm_size(node, &nsize);
    if (nsize != c->size) { /* the group spans nodes: MPI's collectives */
        MPI_Comm_free(&node);
        return;
    }
    const char *mb = getenv("LLMSCALE_SHM_MB");
    size_t cap = (size_t)(mb && atoi(mb) > 0 ? atoi(mb) : 4) << 20;
    cap /= sizeof(float);
    /* The window lives in /dev/shm, which containers often keep small; a
     * tmpfs that runs out faults (SIGBUS) on first touch, so check the space
     * first, and decide together (the allocation is collective). */
    struct statvfs fs;
    int ok = statvfs("/dev/shm", &fs) == 0 &&
             (double)fs.f_bavail * fs.f_frsize > 4.0 * c->size * 2 * cap * sizeof(float);
    int all_ok = 0;
    MPI_Allreduce(&ok, &all_ok, 1, MPI_INT, MPI_MIN, node);
    if (!all_ok) {
        ls_warn("/dev/shm has too little free space for the %s group's shared-memory window; "
                "using MPI's collectives (set LLMSCALE_SHM_MB lower, or enlarge /dev/shm)", c->name);
        MPI_Comm_free(&node);
        return;
    }
    float *base = NULL;
    MPI_Info info;
    MPI_Info_create(&info);
    MPI_Info_set(info, "alloc_shared_noncontig", "true");
    int rc = MPI_Win_allocate_shared((MPI_Aint)(2 * cap * sizeof(float)), sizeof(float), info, node,
                                     &base, &g->win);
    MPI_Info_free(&info);
    if (rc != MPI_SUCCESS) {
        ls_warn("no shared-memory window for the %s group (%.0f MiB); using MPI's collectives",
                c->name, 2.0 * cap * sizeof(float) / 1048576.0);
        g->win = MPI_WIN_NULL;
        MPI_Comm_free(&node);
        return;
    }
    g->cap = cap;
    g->in = calloc((size_t)c->size, sizeof(float *));
    g->out = calloc((size_t)c->size, sizeof(float *));
    if (!g->in || !g->out) ls_fatal("out of memory creating a communicator");
    for (int q = 0; q < c->size; q++) {
        MPI_Aint size;
        int disp;
        float *p;
        check(MPI_Win_shared_query(g->win, q, &size, &disp, &p), "Win_shared_query", c);
        g->in[q] = p;
        g->out[q] = p + cap;
    }
    check(MPI_Win_lock_all(MPI_MODE_NOCHECK, g->win), "Win_lock_all", c);
    /* node ranks follow the group's ranks (split_type keeps the parent order) */
    MPI_Comm_free(&node);
}

size_t ls_mpi_shm_bytes(const LsComm *c) {
    const MpiGroup *g = c->impl ? GROUP(c) : NULL;
    return g && g->win != MPI_WIN_NULL ? 2 * g->cap * sizeof(float) : 0;
}

static void shm_barrier(const LsComm *c) {
    MpiGroup *g = GROUP(c);
    MPI_Win_sync(g->win);
    check(MPI_Barrier(g->comm), "Barrier (shared memory)", c);
    MPI_Win_sync(g->win);
}

/* [lo, hi) intersected with [a, b), empty as lo == hi */
static void clip(size_t *lo, size_t *hi, size_t a, size_t b) {
    if (*lo < a) *lo = a;
    if (*hi > b) *hi = b;
    if (*lo > *hi) *lo = *hi;
}

/* Sum over ranks of positions [lo, hi) of the chunk starting at a, into dst
 * and, if not NULL, dst2 too. One pass: each block of SHM_BLK positions is
 * summed in a stack buffer (rank 0's values, plus rank 1's, ... - the same
 * order for every element, so every rank's result is the same bits) and
 * written once, instead of copying rank 0's slice into dst and then reading
 * and writing dst again for each further rank. */
#define SHM_BLK 1024
static void shm_sum(const MpiGroup *g, int W, size_t a, size_t lo, size_t hi, float *dst, float *dst2) {
    float t[SHM_BLK];
    for (size_t b0 = lo; b0 < hi; b0 += SHM_BLK) {
        size_t m = hi - b0 < SHM_BLK ? hi - b0 : SHM_BLK;
        const float *s0 = g->in[0] + (b0 - a);
        for (size_t i = 0; i < m; i++) t[i] = s0[i];
        for (int q = 1; q < W; q++) {
            const float *sq = g->in[q] + (b0 - a);
            for (size_t i = 0; i < m; i++) t[i] += sq[i];
        }
        memcpy(dst + (b0 - lo), t, m * sizeof(float));
        if (dst2) memcpy(dst2 + (b0 - lo), t, m * sizeof(float));
    }
}

static void shm_allreduce(LsComm *c, float *buf, size_t n) {
    MpiGroup *g = GROUP(c);
    int W = c->size, me = c->rank;
    for (size_t a = 0; a < n; a += g->cap) {
        size_t len = n - a < g->cap ? n - a : g->cap;
        memcpy(g->in[me], buf + a, len * sizeof(float));
        shm_barrier(c);
        size_t lo = len * (size_t)me / W, hi = len * (size_t)(me + 1) / W;
        /* this rank's slice of the sum: for the others (out) and for itself (buf) */
        shm_sum(g, W, 0, lo, hi, g->out[me] + lo, buf + a + lo);
        shm_barrier(c);
        for (int q = 0; q < W; q++) {
            if (q == me) continue;
            size_t ql = len * (size_t)q / W, qh = len * (size_t)(q + 1) / W;
            memcpy(buf + a + ql, g->out[q] + ql, (qh - ql) * sizeof(float));
        }
    }
}

static void shm_reduce_scatter(LsComm *c, const float *send, float *recv, const int *counts) {
    MpiGroup *g = GROUP(c);
    int W = c->size, me = c->rank;
    size_t total = 0, mine = 0;
    for (int q = 0; q < W; q++) {
        if (q == me) mine = total;
        total += (size_t)counts[q];
    }
    for (size_t a = 0; a < total; a += g->cap) {
        size_t b = total - a < g->cap ? total : a + g->cap;
        memcpy(g->in[me], send + a, (b - a) * sizeof(float));
        shm_barrier(c);
        size_t lo = mine, hi = mine + (size_t)counts[me];
        clip(&lo, &hi, a, b);
        if (hi > lo) shm_sum(g, W, a, lo, hi, recv + (lo - mine), NULL);
        shm_barrier(c); /* nobody refills `in` while others still read it */
    }
}

static void shm_allgatherv(LsComm *c, float *buf, const int *counts, const int *displs) {
    MpiGroup *g = GROUP(c);
    int W = c->size, me = c->rank;
    size_t total = 0;
    for (int q = 0; q < W; q++)
        if ((size_t)displs[q] + (size_t)counts[q] > total) total = (size_t)displs[q] + (size_t)counts[q];
    for (size_t a = 0; a < total; a += g->cap) {
        size_t b = total - a < g->cap ? total : a + g->cap;
        size_t lo = (size_t)displs[me], hi = lo + (size_t)counts[me];
        clip(&lo, &hi, a, b);
        memcpy(g->in[me] + (lo - a), buf + lo, (hi - lo) * sizeof(float));
        shm_barrier(c);
        for (int q = 0; q < W; q++) {
            if (q == me) continue;
            size_t ql = (size_t)displs[q], qh = ql + (size_t)counts[q];
            clip(&ql, &qh, a, b);
            memcpy(buf + ql, g->in[q] + (ql - a), (qh - ql) * sizeof(float));
        }
        shm_barrier(c);
    }
}

static int has_shm(const LsComm *c) { return GROUP(c)->win != MPI_WIN_NULL; }

static int shm_all_ops(void) {
    const char *env = getenv("LLMSCALE_SHM");
    return env && !strcmp(env, "all");
}

void ls_mpi_world(LsComm *c, const char *name) {
    memset(c, 0, sizeof *c);
    c->name = name;
    c->impl = new_group(MPI_COMM_WORLD);
    MPI_Comm_rank(MPI_COMM_WORLD, &c->rank);
    MPI_Comm_size(MPI_COMM_WORLD, &c->size);
}

void ls_mpi_split(const LsComm *parent, LsComm *out, const char *name, int color, int key) {
    MPI_Comm comm;
    check(MPI_Comm_split(COMM(parent), color, key, &comm), "Comm_split", parent);
    memset(out, 0, sizeof *out);
    out->name = name;
    MPI_Comm_rank(comm, &out->rank);
    MPI_Comm_size(comm, &out->size);
    /* one-rank groups use the identity path of comm.c and never touch MPI */
    if (out->size == 1) {
        MPI_Comm_free(&comm);
        return;
    }
    MPI_Comm_set_errhandler(comm, MPI_ERRORS_RETURN);
    out->impl = new_group(comm);
    shm_attach(out);
}

void ls_mpi_finalize(void) { MPI_Finalize(); } /* frees the windows too */

void ls_mpi_allreduce_f(LsComm *c, float *buf, size_t n) {
    if (has_shm(c)) {
        shm_allreduce(c, buf, n);
        return;
    }
    check(MPI_Allreduce(MPI_IN_PLACE, buf, (int)n, MPI_FLOAT, MPI_SUM, COMM(c)), "Allreduce", c);
}

void ls_mpi_allreduce_max_f(LsComm *c, float *buf, size_t n) {
    check(MPI_Allreduce(MPI_IN_PLACE, buf, (int)n, MPI_FLOAT, MPI_MAX, COMM(c)), "Allreduce (max)", c);
}

double ls_mpi_allreduce_d(LsComm *c, double x, int max) {
    double y = 0;
    check(MPI_Allreduce(&x, &y, 1, MPI_DOUBLE, max ? MPI_MAX : MPI_SUM, COMM(c)), "Allreduce", c);
    return y;
}

void ls_mpi_allreduce_dv(LsComm *c, double *buf, size_t n) {
    check(MPI_Allreduce(MPI_IN_PLACE, buf, (int)n, MPI_DOUBLE, MPI_SUM, COMM(c)), "Allreduce", c);
}

void ls_mpi_barrier(LsComm *c) { check(MPI_Barrier(COMM(c)), "Barrier", c); }

void ls_mpi_bcast(LsComm *c, void *buf, size_t bytes, int root) {
    check(MPI_Bcast(buf, (int)bytes, MPI_BYTE, root, COMM(c)), "Bcast", c);
}

static void started(LsRequest *req, const LsComm *c, const char *what) {
    req->active = 1;
    req->comm = c;
    req->what = what;
}

void ls_mpi_iallreduce_f(LsComm *c, float *buf, size_t n, LsRequest *req) {
    if (has_shm(c)) {
        shm_allreduce(c, buf, n);
        return;
    }
    check(MPI_Iallreduce(MPI_IN_PLACE, buf, (int)n, MPI_FLOAT, MPI_SUM, COMM(c), REQ(req)),
          "Iallreduce", c);
    started(req, c, "Iallreduce");
}

void ls_mpi_ireduce_scatter_f(LsComm *c, const float *send, float *recv, const int *counts,
                              LsRequest *req) {
    if (has_shm(c)) {
        shm_reduce_scatter(c, send, recv, counts);
        return;
    }
    check(MPI_Ireduce_scatter(send, recv, counts, MPI_FLOAT, MPI_SUM, COMM(c), REQ(req)),
          "Ireduce_scatter", c);
    started(req, c, "Ireduce_scatter");
}

void ls_mpi_iallgatherv_f(LsComm *c, float *buf, const int *counts, const int *displs,
                          LsRequest *req) {
    /* all-gathers stay with MPI (one copy per piece, non-blocking, so ZeRO-3's
     * prefetch overlaps); LLMSCALE_SHM=all sends them through the window too */
    if (has_shm(c) && shm_all_ops()) {
        shm_allgatherv(c, buf, counts, displs);
        return;
    }
    check(MPI_Iallgatherv(MPI_IN_PLACE, 0, MPI_DATATYPE_NULL, buf, counts, displs, MPI_FLOAT,
                          COMM(c), REQ(req)),
          "Iallgatherv", c);
    started(req, c, "Iallgatherv");
}

/* ---- point-to-point. A receive posts exactly n floats: a longer message
 * is MPI's truncation error, a shorter one is caught from the status. */

static void check_count(const MPI_Status *st, size_t n, int peer, const char *op, const LsComm *c) {
    int got = 0;
    MPI_Get_count(st, MPI_FLOAT, &got);
    if ((size_t)got != n)
        ls_fatal("MPI %s on the %s group: rank %d sent %d floats, rank %d expected %zu (the two ranks "
                 "disagree on the tensor shape)", op, c->name, peer, got, c->rank, n);
}

void ls_mpi_send_f(LsComm *c, const float *buf, size_t n, int peer, int tag) {
    check(MPI_Ssend(buf, (int)n, MPI_FLOAT, peer, tag, COMM(c)), "Ssend", c);
}

void ls_mpi_recv_f(LsComm *c, float *buf, size_t n, int peer, int tag) {
    MPI_Status st;
    check(MPI_Recv(buf, (int)n, MPI_FLOAT, peer, tag, COMM(c), &st), "Recv", c);
    check_count(&st, n, peer, "Recv", c);
}

void ls_mpi_isend_f(LsComm *c, const float *buf, size_t n, int peer, int tag, LsRequest *req) {
    check(MPI_Isend(buf, (int)n, MPI_FLOAT, peer, tag, COMM(c), REQ(req)), "Isend", c);
    started(req, c, "Isend");
}

void ls_mpi_irecv_f(LsComm *c, float *buf, size_t n, int peer, int tag, LsRequest *req) {
    check(MPI_Irecv(buf, (int)n, MPI_FLOAT, peer, tag, COMM(c), REQ(req)), "Irecv", c);
    started(req, c, "Irecv");
    req->recv_count = n;
    req->peer = peer;
}

/* A completed request: a receive checks its count. */
static void finished(LsRequest *req, const MPI_Status *st) {
    if (req->recv_count) check_count(st, req->recv_count, req->peer, req->what, req->comm);
    req->active = 0;
    req->recv_count = 0;
}

void ls_mpi_wait(LsRequest *req) {
    MPI_Status st;
    check(MPI_Wait(REQ(req), &st), req->what, req->comm);
    finished(req, &st);
}

int ls_mpi_test(LsRequest *req) {
    int flag = 0;
    MPI_Status st;
    check(MPI_Test(REQ(req), &flag, &st), req->what, req->comm);
    if (flag) finished(req, &st);
    return flag;
}

#else /* built without MPI: only one-rank groups exist, which never get here */
#include <stdlib.h>

static LS_NORETURN void no_mpi(void) {
    ls_fatal("this llmscale was built without MPI (install libopenmpi-dev and rebuild)");
}
int ls_mpi_available(void) { return 0; }
size_t ls_mpi_shm_bytes(const LsComm *c) { (void)c; return 0; }
void ls_mpi_init(int *rank, int *size) { (void)rank, (void)size; no_mpi(); }
void ls_mpi_world(LsComm *c, const char *name) { (void)c, (void)name; no_mpi(); }
void ls_mpi_split(const LsComm *p, LsComm *o, const char *n, int c, int k) {
    (void)p, (void)o, (void)n, (void)c, (void)k;
    no_mpi();
}
void ls_mpi_finalize(void) {}
void ls_mpi_abort(int code) { exit(code); }
int ls_mpi_world_rank(const LsComm *c, int r) { (void)c; return r; }
void ls_mpi_allreduce_f(LsComm *c, float *b, size_t n) { (void)c, (void)b, (void)n; no_mpi(); }
void ls_mpi_allreduce_max_f(LsComm *c, float *b, size_t n) { (void)c, (void)b, (void)n; no_mpi(); }
double ls_mpi_allreduce_d(LsComm *c, double x, int m) { (void)c, (void)x, (void)m; no_mpi(); }
void ls_mpi_allreduce_dv(LsComm *c, double *b, size_t n) { (void)c, (void)b, (void)n; no_mpi(); }
void ls_mpi_barrier(LsComm *c) { (void)c; no_mpi(); }
void ls_mpi_bcast(LsComm *c, void *b, size_t n, int r) { (void)c, (void)b, (void)n, (void)r; no_mpi(); }
void ls_mpi_iallreduce_f(LsComm *c, float *b, size_t n, LsRequest *q) {
    (void)c, (void)b, (void)n, (void)q;
    no_mpi();
}
void ls_mpi_ireduce_scatter_f(LsComm *c, const float *s, float *r, const int *n, LsRequest *q) {
    (void)c, (void)s, (void)r, (void)n, (void)q;
    no_mpi();
}
void ls_mpi_iallgatherv_f(LsComm *c, float *b, const int *n, const int *d, LsRequest *q) {
    (void)c, (void)b, (void)n, (void)d, (void)q;
    no_mpi();
}
void ls_mpi_send_f(LsComm *c, const float *b, size_t n, int p, int t) {
    (void)c, (void)b, (void)n, (void)p, (void)t;
    no_mpi();
}
void ls_mpi_recv_f(LsComm *c, float *b, size_t n, int p, int t) {
    (void)c, (void)b, (void)n, (void)p, (void)t;
    no_mpi();
}
void ls_mpi_isend_f(LsComm *c, const float *b, size_t n, int p, int t, LsRequest *q) {
    (void)c, (void)b, (void)n, (void)p, (void)t, (void)q;
    no_mpi();
}
void ls_mpi_irecv_f(LsComm *c, float *b, size_t n, int p, int t, LsRequest *q) {
    (void)c, (void)b, (void)n, (void)p, (void)t, (void)q;
    no_mpi();
}
void ls_mpi_wait(LsRequest *q) { (void)q; no_mpi(); }
int ls_mpi_test(LsRequest *q) { (void)q; no_mpi(); }
#endif
