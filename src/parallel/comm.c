/* comm.c - the backend-independent half of comm.h: one-rank groups (every
 * collective is the identity), byte accounting, the watchdog's marks around
 * every operation that can block (watchdog.h), and the process grid. */
#include "comm.h"

#include <stdlib.h>
#include <string.h>

#include "../core/error.h"
#include "mpi_backend.h"
#include "watchdog.h"

void ls_comm_init_self(LsComm *c, const char *name) {
    memset(c, 0, sizeof *c);
    c->rank = 0;
    c->size = 1;
    c->name = name;
}

/* Ring-algorithm bytes this rank sends for an operation on a vector of
 * `bytes` bytes (see comm.h). */
static void account(LsComm *c, int kind, double bytes) {
    double w = c->size;
    double f = kind == LS_OP_ALLREDUCE ? 2.0 * (w - 1) / w
             : (kind == LS_OP_REDUCE_SCATTER || kind == LS_OP_ALLGATHER) ? (w - 1) / w
             : 1.0;
    c->bytes_sent += f * bytes;
    c->calls[kind]++;
}

static void done(LsRequest *req) { memset(req, 0, sizeof *req); }

/* A started non-blocking operation: how the watchdog names a wait on it. */
static void label(LsRequest *req, const char *op, size_t n, int peer) {
    req->label = op;
    req->count = n;
    req->peer = peer;
}

/* the blocking call `call`, marked for the watchdog as op (n values, peer) */
#define WATCHED(op, c, n, peer, call)        \
    do {                                     \
        ls_watch_begin(op, c, n, peer);      \
        call;                                \
        ls_watch_end();                      \
    } while (0)

void ls_comm_allreduce_sum(LsComm *c, float *buf, size_t n) {
    if (c->size == 1) return;
    account(c, LS_OP_ALLREDUCE, 4.0 * n);
    WATCHED("all-reduce", c, n, -1, ls_mpi_allreduce_f(c, buf, n));
}

void ls_comm_allreduce_max(LsComm *c, float *buf, size_t n) {
    if (c->size == 1) return;
    account(c, LS_OP_ALLREDUCE, 4.0 * n);
    WATCHED("all-reduce (max)", c, n, -1, ls_mpi_allreduce_max_f(c, buf, n));
}

double ls_comm_allreduce_sum_double(LsComm *c, double x) {
    if (c->size == 1) return x;
    c->calls[LS_OP_OTHER]++;
    WATCHED("all-reduce", c, 1, -1, x = ls_mpi_allreduce_d(c, x, 0));
    return x;
}

double ls_comm_allreduce_max_double(LsComm *c, double x) {
    if (c->size == 1) return x;
    c->calls[LS_OP_OTHER]++;
    WATCHED("all-reduce (max)", c, 1, -1, x = ls_mpi_allreduce_d(c, x, 1));
    return x;
}

void ls_comm_allreduce_sum_doubles(LsComm *c, double *buf, size_t n) {
    if (c->size == 1) return;
    c->calls[LS_OP_OTHER]++;
    WATCHED("all-reduce", c, n, -1, ls_mpi_allreduce_dv(c, buf, n));
}

void ls_comm_barrier(LsComm *c) {
    if (c->size > 1) WATCHED("barrier", c, 0, -1, ls_mpi_barrier(c));
}

void ls_comm_bcast(LsComm *c, void *buf, size_t bytes, int root) {
    if (c->size == 1) return;
    c->calls[LS_OP_OTHER]++;
    WATCHED("broadcast", c, 0, -1, ls_mpi_bcast(c, buf, bytes, root));
}

void ls_comm_iallreduce_sum(LsComm *c, float *buf, size_t n, LsRequest *req) {
    done(req);
    if (c->size == 1) return;
    account(c, LS_OP_ALLREDUCE, 4.0 * n);
    WATCHED("all-reduce", c, n, -1, ls_mpi_iallreduce_f(c, buf, n, req));
    label(req, "all-reduce", n, -1);
}

void ls_comm_ireduce_scatter_sum(LsComm *c, const float *send, float *recv, const int *counts,
                                 LsRequest *req) {
    done(req);
    if (c->size == 1) {
        if (recv != send) memmove(recv, send, sizeof(float) * (size_t)counts[0]);
        return;
    }
    double total = 0;
    for (int r = 0; r < c->size; r++) total += counts[r];
    account(c, LS_OP_REDUCE_SCATTER, 4.0 * total);
    WATCHED("reduce-scatter", c, (size_t)total, -1, ls_mpi_ireduce_scatter_f(c, send, recv, counts, req));
    label(req, "reduce-scatter", (size_t)total, -1);
}

void ls_comm_iallgatherv(LsComm *c, float *buf, const int *counts, const int *displs,
                         LsRequest *req) {
    done(req);
    if (c->size == 1) return;
    double total = 0;
    for (int r = 0; r < c->size; r++) total += counts[r];
    account(c, LS_OP_ALLGATHER, 4.0 * total);
    WATCHED("all-gather", c, (size_t)total, -1, ls_mpi_iallgatherv_f(c, buf, counts, displs, req));
    label(req, "all-gather", (size_t)total, -1);
}

/* ---- point-to-point */

static void check_p2p(const LsComm *c, const char *op, size_t n, int peer, int tag) {
    if (c->size == 1)
        ls_fatal("point-to-point %s on the one-rank %s group: there is no other rank to talk to", op,
                 c->name);
    if (peer < 0 || peer >= c->size || peer == c->rank)
        ls_fatal("point-to-point %s from rank %d to rank %d of the %s group (ranks 0..%d): the peer must "
                 "be another rank of the group", op, c->rank, peer, c->name, c->size - 1);
    if (tag < 0 || tag > 32767)
        ls_fatal("point-to-point %s on the %s group: tag %d is outside 0..32767", op, c->name, tag);
    if (n > 2147483647u)
        ls_fatal("point-to-point %s on the %s group: %zu floats is more than one message can carry", op,
                 c->name, n);
}

void ls_comm_send(LsComm *c, const float *buf, size_t n, int peer, int tag) {
    check_p2p(c, "send", n, peer, tag);
    account(c, LS_OP_P2P, 4.0 * n);
    WATCHED("send", c, n, peer, ls_mpi_send_f(c, buf, n, peer, tag));
}

void ls_comm_recv(LsComm *c, float *buf, size_t n, int peer, int tag) {
    check_p2p(c, "receive", n, peer, tag);
    c->calls[LS_OP_P2P]++;
    WATCHED("receive", c, n, peer, ls_mpi_recv_f(c, buf, n, peer, tag));
}

void ls_comm_isend(LsComm *c, const float *buf, size_t n, int peer, int tag, LsRequest *req) {
    done(req);
    check_p2p(c, "send", n, peer, tag);
    account(c, LS_OP_P2P, 4.0 * n);
    ls_mpi_isend_f(c, buf, n, peer, tag, req);
    label(req, "send", n, peer);
}

void ls_comm_irecv(LsComm *c, float *buf, size_t n, int peer, int tag, LsRequest *req) {
    done(req);
    check_p2p(c, "receive", n, peer, tag);
    c->calls[LS_OP_P2P]++;
    ls_mpi_irecv_f(c, buf, n, peer, tag, req);
    label(req, "receive", n, peer);
}

size_t ls_comm_buffer_bytes(const LsComm *c) { return c->size > 1 ? ls_mpi_shm_bytes(c) : 0; }

void ls_comm_wait(LsRequest *req) {
    if (req->active) WATCHED(req->label, req->comm, req->count, req->peer, ls_mpi_wait(req));
}

int ls_comm_test(LsRequest *req) { return req->active ? ls_mpi_test(req) : 1; }

/* ---- the grid */

void ls_grid_init_single(LsGrid *g) {
    memset(g, 0, sizeof *g);
    g->world = 1;
    g->dp = g->pp = g->cp = g->tp = 1;
    ls_comm_init_self(&g->world_comm, "world");
    ls_comm_init_self(&g->dp_comm, "dp");
    ls_comm_init_self(&g->pp_comm, "pp");
    ls_comm_init_self(&g->cp_comm, "cp");
    ls_comm_init_self(&g->tp_comm, "tp");
    ls_comm_init_self(&g->embed_comm, "embed");
}

int ls_mpi_launched(void) {
    /* Open MPI (mpirun/mpiexec), MPICH/Hydra and PMIx launchers, Slurm's srun */
    const char *vars[] = {"OMPI_COMM_WORLD_SIZE", "PMI_SIZE", "PMIX_RANK", "MPI_LOCALNRANKS"};
    for (size_t i = 0; i < sizeof vars / sizeof vars[0]; i++)
        if (getenv(vars[i])) return 1;
    const char *ntasks = getenv("SLURM_NTASKS");
    return getenv("SLURM_PROCID") && ntasks && atoi(ntasks) > 1;
}

void ls_grid_init(LsGrid *g, int tp, int pp, int cp) {
    if (tp < 1 || pp < 1 || cp < 1) ls_fatal("tp, pp and cp must be >= 1 (got %d, %d, %d)", tp, pp, cp);
    if (!ls_mpi_launched()) {
        if (tp * pp * cp != 1)
            ls_fatal("tp %d x pp %d x cp %d needs %d processes, but this is one process: launch "
                     "with mpirun -np N (N a multiple of %d)", tp, pp, cp, tp * pp * cp, tp * pp * cp);
        ls_grid_init_single(g);
        return;
    }
    if (!ls_mpi_available())
        ls_fatal("started by an MPI launcher, but this llmscale was built without MPI (install "
                 "libopenmpi-dev and rebuild: make clean all)");
    memset(g, 0, sizeof *g);
    g->launched = 1;
    ls_mpi_init(&g->rank, &g->world);
    if (g->rank != 0) ls_set_quiet(1);
    ls_watchdog_start(g->rank);
    int mp = tp * pp * cp;
    if (g->world % mp != 0)
        ls_fatal("world size %d is not a multiple of tp %d x pp %d x cp %d = %d: launch a multiple "
                 "of %d processes or change the layout", g->world, tp, pp, cp, mp, mp);
    g->tp = tp, g->pp = pp, g->cp = cp, g->dp = g->world / mp;
    int r = g->rank;
    g->tp_rank = r % tp;
    g->cp_rank = (r / tp) % cp;
    g->pp_rank = (r / (tp * cp)) % pp;
    g->dp_rank = r / mp;
    ls_mpi_world(&g->world_comm, "world");
    ls_watch_begin("creating the groups", &g->world_comm, 0, -1);
    /* each group: the ranks that share every other coordinate (color), ordered
     * by their own coordinate (key) */
    ls_mpi_split(&g->world_comm, &g->tp_comm, "tp", r / tp, g->tp_rank);
    ls_mpi_split(&g->world_comm, &g->cp_comm, "cp", g->dp_rank * pp * tp + g->pp_rank * tp + g->tp_rank,
                 g->cp_rank);
    ls_mpi_split(&g->world_comm, &g->pp_comm, "pp", g->dp_rank * cp * tp + g->cp_rank * tp + g->tp_rank,
                 g->pp_rank);
    ls_mpi_split(&g->world_comm, &g->dp_comm, "dp", r % mp, g->dp_rank);
    /* the embedding group: both ends of a pipeline share the pipeline's
     * color; every middle stage gets a color of its own (world + r) */
    int pipeline = g->dp_rank * cp * tp + g->cp_rank * tp + g->tp_rank;
    int end = g->pp_rank == 0 || g->pp_rank == pp - 1;
    ls_mpi_split(&g->world_comm, &g->embed_comm, "embed", end ? pipeline : g->world + r, g->pp_rank);
    ls_watch_end();
}

/* The world ranks of the group of `kind` that contains world rank `r`. */
static int group_ranks(const LsGrid *g, char kind, int r, int *out) {
    int tp = g->tp, cp = g->cp, pp = g->pp, mp = tp * cp * pp;
    int n = 0;
    for (int q = 0; q < g->world; q++) {
        int same;
        switch (kind) {
        case 't': same = q / tp == r / tp; break;
        case 'c': same = q / mp == r / mp && q % tp == r % tp && (q / (tp * cp)) % pp == (r / (tp * cp)) % pp; break;
        case 'p': same = q / mp == r / mp && q % (tp * cp) == r % (tp * cp); break;
        case 'e': { /* the two ends of r's pipeline, or r alone in the middle */
            int qs = (q / (tp * cp)) % pp, rs = (r / (tp * cp)) % pp;
            int qe = qs == 0 || qs == pp - 1, re = rs == 0 || rs == pp - 1;
            same = q == r || (qe && re && q / mp == r / mp && q % (tp * cp) == r % (tp * cp));
            break;
        }
        default: same = q % mp == r % mp; break;
        }
        if (same) out[n++] = q;
    }
    return n;
}

void ls_grid_describe(const LsGrid *g) {
    ls_info("grid: world %d = dp %d x pp %d x cp %d x tp %d%s", g->world, g->dp, g->pp, g->cp, g->tp,
            g->launched ? " (MPI)" : " (one process)");
    if (g->world == 1) return;
    /* the embedding groups only when they differ from the pp groups */
    const char kinds[] = {'d', 'p', 'c', 't', 'e'};
    const char *names[] = {"dp", "pp", "cp", "tp", "embed"};
    const int sizes[] = {g->dp, g->pp, g->cp, g->tp, g->pp > 2 ? 2 : 1};
    int *ranks = malloc(sizeof(int) * (size_t)g->world);
    char *seen = calloc((size_t)g->world, 1);
    if (!ranks || !seen) ls_fatal("out of memory describing the grid");
    for (int k = 0; k < 5; k++) {
        if (sizes[k] == 1) continue;
        memset(seen, 0, (size_t)g->world);
        char line[512];
        int len = snprintf(line, sizeof line, "  %s groups:", names[k]), shown = 0;
        for (int r = 0; r < g->world && len < (int)sizeof line - 64; r++) {
            if (seen[r]) continue;
            int n = group_ranks(g, kinds[k], r, ranks);
            if (n == 1) continue; /* a middle stage's one-rank embedding group */
            len += snprintf(line + len, sizeof line - len, " [");
            for (int i = 0; i < n; i++) {
                seen[ranks[i]] = 1;
                len += snprintf(line + len, sizeof line - len, i ? " %d" : "%d", ranks[i]);
            }
            len += snprintf(line + len, sizeof line - len, "]");
            shown++;
        }
        if (len >= (int)sizeof line - 64) snprintf(line + len, sizeof line - len, " ...");
        ls_info("%s", line);
    }
    free(ranks);
    free(seen);
}

void ls_grid_finalize(LsGrid *g) {
    if (g->launched) {
        WATCHED("MPI_Finalize", &g->world_comm, 0, -1, ls_mpi_finalize());
        ls_watchdog_stop();
    }
    g->launched = 0;
}
