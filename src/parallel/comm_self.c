/* comm_self.c - the single-process backend of comm.h: every group has one
 * rank, so a sum over the group is the value itself. */
#include "comm.h"

#include "../core/error.h"

void ls_comm_init_self(LsComm *c, const char *name) {
    c->rank = 0;
    c->size = 1;
    c->name = name;
    c->impl = NULL;
}

void ls_comm_allreduce_sum(LsComm *c, float *buf, size_t n) {
    (void)buf;
    (void)n;
    if (c->size != 1) ls_fatal("internal: communicator '%s' of %d ranks has no backend", c->name, c->size);
}

double ls_comm_allreduce_sum_double(LsComm *c, double x) {
    if (c->size != 1) ls_fatal("internal: communicator '%s' of %d ranks has no backend", c->name, c->size);
    return x;
}

void ls_comm_barrier(LsComm *c) { (void)c; }

void ls_grid_init_single(LsGrid *g) {
    g->world = 1;
    g->rank = 0;
    g->dp = g->pp = g->cp = g->tp = 1;
    g->dp_rank = g->pp_rank = g->cp_rank = g->tp_rank = 0;
    ls_comm_init_self(&g->world_comm, "world");
    ls_comm_init_self(&g->dp_comm, "dp");
    ls_comm_init_self(&g->pp_comm, "pp");
    ls_comm_init_self(&g->cp_comm, "cp");
    ls_comm_init_self(&g->tp_comm, "tp");
}
