/* mpi_backend.h - the MPI side of comm.h, private to src/parallel.
 *
 * comm.c handles one-rank groups and the byte accounting, and calls these
 * only for groups of two or more ranks. Every MPI call's error code is
 * checked (communicators use MPI_ERRORS_RETURN); a failure is a fatal error
 * naming the operation and the group, and ls_fatal's abort hook (MPI_Abort)
 * ends the whole job, so no rank is left waiting in a collective.
 * Built from mpi_backend.c when mpicc exists (LS_HAVE_MPI); otherwise every
 * entry point reports that this build has no MPI. */
#ifndef LS_MPI_BACKEND_H
#define LS_MPI_BACKEND_H
#include "comm.h"

int ls_mpi_available(void);
/* MPI_Init (with good defaults for Open MPI on one node, see the .c file),
 * errors returned instead of aborting, ls_fatal hooked to MPI_Abort. */
void ls_mpi_init(int *rank, int *size);
void ls_mpi_world(LsComm *c, const char *name);
/* MPI_Comm_split of `parent` by color, ordered by key. */
void ls_mpi_split(const LsComm *parent, LsComm *out, const char *name, int color, int key);
void ls_mpi_finalize(void);
/* End the whole job now (MPI_Abort on the world; any thread). */
void ls_mpi_abort(int code);
/* The world rank of rank r of the group (-1 for a one-rank group). */
int ls_mpi_world_rank(const LsComm *c, int r);
/* Bytes of the group's shared-memory window (0: MPI's own collectives). */
size_t ls_mpi_shm_bytes(const LsComm *c);

void ls_mpi_allreduce_f(LsComm *c, float *buf, size_t n);
void ls_mpi_allreduce_max_f(LsComm *c, float *buf, size_t n);
double ls_mpi_allreduce_d(LsComm *c, double x, int max);
void ls_mpi_allreduce_dv(LsComm *c, double *buf, size_t n);
void ls_mpi_barrier(LsComm *c);
void ls_mpi_bcast(LsComm *c, void *buf, size_t bytes, int root);
void ls_mpi_iallreduce_f(LsComm *c, float *buf, size_t n, LsRequest *req);
void ls_mpi_ireduce_scatter_f(LsComm *c, const float *send, float *recv, const int *counts,
                              LsRequest *req);
void ls_mpi_iallgatherv_f(LsComm *c, float *buf, const int *counts, const int *displs,
                          LsRequest *req);
/* Point-to-point; receives check that exactly n floats arrived. */
void ls_mpi_send_f(LsComm *c, const float *buf, size_t n, int peer, int tag);
void ls_mpi_recv_f(LsComm *c, float *buf, size_t n, int peer, int tag);
void ls_mpi_isend_f(LsComm *c, const float *buf, size_t n, int peer, int tag, LsRequest *req);
void ls_mpi_irecv_f(LsComm *c, float *buf, size_t n, int peer, int tag, LsRequest *req);
void ls_mpi_wait(LsRequest *req);
int ls_mpi_test(LsRequest *req);

#endif
