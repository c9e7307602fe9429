/* comm.h - the communication interface every parallel algorithm uses.
 *
 * A communicator is a group of ranks (the data-, tensor- or pipeline-parallel
 * group of the grid, or the whole world). The operations are the handful
 * Megatron and ZeRO need. Two backends sit behind it:
 *   - one process (impl == NULL): a group of one rank, where every collective
 *     is the identity, so the one-process trainer runs the same code path;
 *   - MPI (mpi_backend.c, built when mpicc exists): each group is an MPI
 *     sub-communicator; non-blocking collectives return an LsRequest.
 *
 * Progress of non-blocking collectives: Open MPI moves a non-blocking
 * collective forward only inside MPI calls (there is no progress thread by
 * default, and on 2 cores one would steal compute). Whoever starts requests
 * polls them with ls_comm_test at natural points of the computation (the
 * data-parallel engine does it after every layer's backward), and waits for
 * them with ls_comm_wait when the result is needed.
 *
 * Accounting: every operation adds to the communicator's `bytes_sent` the bytes
 * this rank sends in a bandwidth-optimal (ring) algorithm of the operation,
 * the volume the ZeRO paper counts, for a vector of V bytes over W ranks:
 *   all-reduce 2 (W-1)/W V,  reduce-scatter and all-gather (W-1)/W V,
 *   send: the message.   `calls` counts operations by kind (for point-to-
 *   point: sends and receives, each call once; bytes only for sends). */
#ifndef LS_COMM_H
#define LS_COMM_H
#include <stddef.h>

enum { LS_OP_ALLREDUCE, LS_OP_REDUCE_SCATTER, LS_OP_ALLGATHER, LS_OP_P2P, LS_OP_OTHER, LS_OP_KINDS };

typedef struct LsComm {
    int rank, size;
    const char *name; /* "dp", "tp", "pp", "cp", "world": used in messages */
    void *impl;       /* backend handle (NULL for a one-rank group) */
    double bytes_sent;
    long calls[LS_OP_KINDS];
} LsComm;

/* A pending non-blocking operation (opaque storage for the backend's handle). */
typedef struct {
    _Alignas(8) unsigned char opaque[16];
    int active;
    const LsComm *comm; /* for error messages */
    const char *what;
    const char *label;  /* "all-reduce", "send", ...: the watchdog's name for a wait on it */
    size_t count;       /* floats moved (the watchdog's message) */
    size_t recv_count;  /* a receive: the floats it must get (checked on completion) */
    int peer;           /* a send/receive: the other rank of the group; -1 for collectives */
} LsRequest;

/* A communicator of one rank. */
void ls_comm_init_self(LsComm *c, const char *name);

/* In-place sum of n floats over the group (blocking). */
void ls_comm_allreduce_sum(LsComm *c, float *buf, size_t n);
/* In-place element-wise max of n floats over the group (blocking). */
void ls_comm_allreduce_max(LsComm *c, float *buf, size_t n);
/* Sum / max of one double over the group (loss sums, norms, timings). */
double ls_comm_allreduce_sum_double(LsComm *c, double x);
double ls_comm_allreduce_max_double(LsComm *c, double x);
/* In-place sum of n doubles (reports gathered to every rank). */
void ls_comm_allreduce_sum_doubles(LsComm *c, double *buf, size_t n);
void ls_comm_barrier(LsComm *c);
/* Broadcast `bytes` bytes from rank `root`. */
void ls_comm_bcast(LsComm *c, void *buf, size_t bytes, int root);

/* Non-blocking in-place sum of n floats. */
void ls_comm_iallreduce_sum(LsComm *c, float *buf, size_t n, LsRequest *req);
/* Non-blocking reduce-scatter: sums `send` (sum of counts[] floats) over the
 * group; rank r receives its counts[r] floats (the r-th piece, in rank order)
 * in recv. */
void ls_comm_ireduce_scatter_sum(LsComm *c, const float *send, float *recv, const int *counts,
                                 LsRequest *req);
/* Non-blocking in-place all-gather: rank r's counts[r] floats already sit at
 * buf + displs[r]; afterwards every rank holds every piece. */
void ls_comm_iallgatherv(LsComm *c, float *buf, const int *counts, const int *displs,
                         LsRequest *req);
/* Point-to-point (pipeline stages), n floats to / from rank `peer` of the
 * group, matched by `tag` (0..32767, MPI's guaranteed range) and by order
 * between one pair of ranks. A receive must get exactly n floats: a shorter
 * or longer message is a fatal error naming the group and the peer.
 *   ls_comm_send is synchronous (MPI_Ssend): it returns once the receiver has
 *   started to take the message, never because the message happened to fit
 *   in a buffer, so a send order that could deadlock does deadlock in small
 *   tests as well as at scale (pipeline_schedule.h's lists never do).
 *   ls_comm_isend / ls_comm_irecv start the transfer; buf must stay untouched
 *   (send) / unread (receive) until ls_comm_wait or ls_comm_test completes it.
 * Calling these on a one-rank group, or with peer == own rank or outside the
 * group, is a fatal error (a caller's bug: there is nobody to talk to). */
void ls_comm_send(LsComm *c, const float *buf, size_t n, int peer, int tag);
void ls_comm_recv(LsComm *c, float *buf, size_t n, int peer, int tag);
void ls_comm_isend(LsComm *c, const float *buf, size_t n, int peer, int tag, LsRequest *req);
void ls_comm_irecv(LsComm *c, float *buf, size_t n, int peer, int tag, LsRequest *req);
/* Bytes the backend holds for this group (its shared-memory window). */
size_t ls_comm_buffer_bytes(const LsComm *c);
/* Wait for / poll a request (ls_comm_test returns 1 when done). Inactive
 * requests are done. */
void ls_comm_wait(LsRequest *req);
int ls_comm_test(LsRequest *req);

/* The process grid, world = dp x pp x cp x tp with tp fastest (DESIGN.md):
 *     rank = ((dp_i * pp + pp_i) * cp + cp_i) * tp + tp_i
 * embed_comm is Megatron's embedding group: the first and the last stage of
 * each pipeline, which both hold the tied token embedding and sum its
 * gradient over this group before the optimizer step. It has 2 ranks when
 * pp > 1 (the pp group itself when pp = 2) and is a one-rank group on the
 * middle stages and when pp = 1 (where one stage holds both ends). */
typedef struct {
    int world, rank;
    int dp, pp, cp, tp;
    int dp_rank, pp_rank, cp_rank, tp_rank;
    int launched;     /* 1 when running under an MPI launcher */
    LsComm world_comm, dp_comm, pp_comm, cp_comm, tp_comm, embed_comm;
} LsGrid;

/* The 1 x 1 x 1 x 1 grid. */
void ls_grid_init_single(LsGrid *g);
/* Start the grid: under an MPI launcher (mpirun, mpiexec, srun: detected from
 * their environment) initialise MPI and split the world into the groups; with
 * no launcher, the one-process grid (tp, pp, cp must then be 1). A world that
 * is not a multiple of tp*pp*cp is a clear error. */
void ls_grid_init(LsGrid *g, int tp, int pp, int cp);
/* Print the grid and every group's ranks (rank 0 only). */
void ls_grid_describe(const LsGrid *g);
/* Leave MPI cleanly (no-op for one process). */
void ls_grid_finalize(LsGrid *g);
/* 1 when an MPI launcher started this process. */
int ls_mpi_launched(void);

#endif
