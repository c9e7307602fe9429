/* mpi_backend.c - comm.h over MPI (see mpi_backend.h). */
#include "mpi_backend.h"

#include "../core/error.h"

#ifdef LS_HAVE_MPI
#include <mpi.h>
#include <stdlib.h>
#include <string.h>

_Static_assert(sizeof(MPI_Request) <= sizeof(((LsRequest *)0)->opaque), "LsRequest too small");

#define COMM(c) (*(MPI_Comm *)(c)->impl)
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

static void *new_comm(MPI_Comm comm) {
    MPI_Comm *p = malloc(sizeof *p);
    if (!p) ls_fatal("out of memory creating a communicator");
    *p = comm;
    return p;
}

void ls_mpi_world(LsComm *c, const char *name) {
    memset(c, 0, sizeof *c);
    c->name = name;
    c->impl = new_comm(MPI_COMM_WORLD);
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
    out->impl = new_comm(comm);
}

void ls_mpi_finalize(void) { MPI_Finalize(); }

void ls_mpi_allreduce_f(LsComm *c, float *buf, size_t n) {
    check(MPI_Allreduce(MPI_IN_PLACE, buf, (int)n, MPI_FLOAT, MPI_SUM, COMM(c)), "Allreduce", c);
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
    check(MPI_Iallreduce(MPI_IN_PLACE, buf, (int)n, MPI_FLOAT, MPI_SUM, COMM(c), REQ(req)),
          "Iallreduce", c);
    started(req, c, "Iallreduce");
}

void ls_mpi_ireduce_scatter_f(LsComm *c, const float *send, float *recv, const int *counts,
                              LsRequest *req) {
    check(MPI_Ireduce_scatter(send, recv, counts, MPI_FLOAT, MPI_SUM, COMM(c), REQ(req)),
          "Ireduce_scatter", c);
    started(req, c, "Ireduce_scatter");
}

void ls_mpi_iallgatherv_f(LsComm *c, float *buf, const int *counts, const int *displs,
                          LsRequest *req) {
    check(MPI_Iallgatherv(MPI_IN_PLACE, 0, MPI_DATATYPE_NULL, buf, counts, displs, MPI_FLOAT,
                          COMM(c), REQ(req)),
          "Iallgatherv", c);
    started(req, c, "Iallgatherv");
}

void ls_mpi_wait(LsRequest *req) {
    check(MPI_Wait(REQ(req), MPI_STATUS_IGNORE), req->what, req->comm);
    req->active = 0;
}

int ls_mpi_test(LsRequest *req) {
    int flag = 0;
    check(MPI_Test(REQ(req), &flag, MPI_STATUS_IGNORE), req->what, req->comm);
    if (flag) req->active = 0;
    return flag;
}

#else /* built without MPI: only one-rank groups exist, which never get here */

static LS_NORETURN void no_mpi(void) {
    ls_fatal("this llmscale was built without MPI (install libopenmpi-dev and rebuild)");
}
int ls_mpi_available(void) { return 0; }
void ls_mpi_init(int *rank, int *size) { (void)rank, (void)size; no_mpi(); }
void ls_mpi_world(LsComm *c, const char *name) { (void)c, (void)name; no_mpi(); }
void ls_mpi_split(const LsComm *p, LsComm *o, const char *n, int c, int k) {
    (void)p, (void)o, (void)n, (void)c, (void)k;
    no_mpi();
}
void ls_mpi_finalize(void) {}
void ls_mpi_allreduce_f(LsComm *c, float *b, size_t n) { (void)c, (void)b, (void)n; no_mpi(); }
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
void ls_mpi_wait(LsRequest *q) { (void)q; no_mpi(); }
int ls_mpi_test(LsRequest *q) { (void)q; no_mpi(); }
#endif
