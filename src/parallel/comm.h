/* comm.h - the communication interface every parallel algorithm uses.
 *
 * A communicator is a group of ranks (the data-, tensor- or pipeline-parallel
 * group of the grid). The collectives are the handful Megatron and ZeRO need;
 * on a group of one rank each is the identity, so the one-process trainer runs
 * the same code path with no-op collectives. The MPI and NCCL implementations
 * plug in behind this interface (their own issues). */
#ifndef LS_COMM_H
#define LS_COMM_H
#include <stddef.h>

typedef struct LsComm {
    int rank, size;
    const char *name; /* "dp", "tp", "pp", "world": used in messages */
    void *impl;       /* backend handle (NULL for the single-process backend) */
} LsComm;

/* The communicator of a one-process run: rank 0 of 1. */
void ls_comm_init_self(LsComm *c, const char *name);
/* In-place sum of n floats over the group. */
void ls_comm_allreduce_sum(LsComm *c, float *buf, size_t n);
/* Sum of one double over the group (loss sums, squared gradient norms). */
double ls_comm_allreduce_sum_double(LsComm *c, double x);
void ls_comm_barrier(LsComm *c);

/* The process grid, world = dp x pp x cp x tp with tp fastest (DESIGN.md). */
typedef struct {
    int world, rank;
    int dp, pp, cp, tp;
    int dp_rank, pp_rank, cp_rank, tp_rank;
    LsComm world_comm, dp_comm, pp_comm, cp_comm, tp_comm;
} LsGrid;

/* The 1 x 1 x 1 x 1 grid. */
void ls_grid_init_single(LsGrid *g);

#endif
