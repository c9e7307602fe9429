/* bench_comm.c - `llmscale bench --comm`: the collective micro-benchmark.
 *
 * Under mpirun, times all-reduce, reduce-scatter and all-gather of float
 * vectors from 4 KB to 128 MB over all ranks, and a point-to-point ring
 * shift (every rank sends S bytes to the next rank with the synchronous
 * ls_comm_send into a posted ls_comm_irecv: a pipeline stage's message),
 * through the same comm.h calls the trainer uses, and prints the bandwidths
 * as nccl-tests define them:
 *     algbw = S / t                         (S = bytes of the full vector)
 *     busbw = algbw * 2 (n-1)/n             all-reduce
 *     busbw = algbw * (n-1)/n               reduce-scatter, all-gather
 *     busbw = algbw                         send/recv
 * busbw is comparable with the link bandwidth whatever the rank count. Each
 * time is the median over iterations of the slowest rank's time. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "../core/error.h"
#include "../core/timer.h"
#include "../parallel/comm.h"
#include "../plan/calib.h"
#include "commands.h"

/* one timed collective of `bytes` on `c` (all ranks call it together) */
static double time_op(LsComm *c, int op, float *buf, size_t bytes, int *counts, int *displs) {
    size_t n = bytes / sizeof(float);
    int W = c->size;
    for (int r = 0; r < W; r++) {
        counts[r] = (int)(n / (size_t)W);
        displs[r] = r * counts[r];
    }
    LsRequest req;
    ls_comm_barrier(c);
    double t0 = ls_now_s();
    if (op == 0) ls_comm_iallreduce_sum(c, buf, n, &req);
    else if (op == 1) ls_comm_ireduce_scatter_sum(c, buf, buf + n, counts, &req);
    else if (op == 2) ls_comm_iallgatherv(c, buf, counts, displs, &req);
    else { /* ring shift: the receive is posted first, so the synchronous sends all complete */
        ls_comm_irecv(c, buf + n, n, (c->rank + W - 1) % W, 0, &req);
        ls_comm_send(c, buf, n, (c->rank + 1) % W, 0);
    }
    ls_comm_wait(&req);
    return ls_comm_allreduce_max_double(c, ls_now_s() - t0);
}

/* iters times of one collective (slowest rank), sorted, after a warm-up;
 * returns the median. */
static double median_op(LsComm *c, int op, float *buf, size_t bytes, int *counts, int *displs, int iters,
                        double *t) {
    time_op(c, op, buf, bytes, counts, displs); /* warm-up: page faults, connections */
    for (int i = 0; i < iters; i++) t[i] = time_op(c, op, buf, bytes, counts, displs);
    ls_sort_times(t, (size_t)iters);
    return t[iters / 2];
}

/* The all-reduce of the cost model, 2 (W-1)/W V / B + 2 (W-1) lat, measured
 * where each term dominates: lat from a 4 KiB all-reduce (all latency), B
 * (bus bandwidth) from a 32 MiB one, the size of a gradient bucket
 * (--bucket-mb 25 rounds up to whole tensors). Medians, where the kernel
 * rates are the fastest runs: a step holds many collectives, each a meeting
 * point of all ranks, so it pays their typical time (with another job on the
 * cores, a rank descheduled at a barrier stalls the others), while the
 * kernels' best run is the machine's capability. */
void bench_comm_calibrate(LsComm *c, PlanHw *hw) {
    int W = c->size;
    if (W < 2) return;
    const size_t small = 4096, big = (size_t)32 << 20;
    float *buf = ls_calloc(big / sizeof(float), sizeof(float), "benchmark buffer");
    for (size_t i = 0; i < big / sizeof(float); i++) buf[i] = 1e-3f * (float)(i % 1000);
    int *counts = ls_calloc((size_t)W, sizeof(int), "counts"), *displs = ls_calloc((size_t)W, sizeof(int), "displs");
    double t[15];
    double ts = median_op(c, 0, buf, small, counts, displs, 15, t);
    double tb = median_op(c, 0, buf, big, counts, displs, 7, t);
    double lat = ts / (2.0 * (W - 1));
    double busbw = 2.0 * (W - 1) / W * big / fmax(tb - 2.0 * (W - 1) * lat, 1e-9) / 1e9;
    hw->intra_gbs = hw->inter_gbs = busbw;
    hw->intra_lat_us = hw->inter_lat_us = lat * 1e6;
    ls_free(buf);
    ls_free(counts);
    ls_free(displs);
}

int bench_comm(int max_mb, int iters) {
    LsGrid g;
    ls_grid_init(&g, 1, 1, 1);
    LsComm *c = &g.dp_comm; /* the whole world here; groups get the shared-memory path */
    if (g.world < 2)
        ls_info("bench --comm: one process (no MPI launcher): run it as 'mpirun -np N llmscale "
                "bench --comm' to measure collectives; the times below are the identity");
    size_t max_bytes = (size_t)max_mb << 20;
    /* the reduce-scatter output (and the received message) goes after the input, so 2x */
    float *buf = ls_calloc(2 * max_bytes / sizeof(float) + 64, sizeof(float), "benchmark buffer");
    for (size_t i = 0; i < 2 * max_bytes / sizeof(float); i++) buf[i] = 1e-3f * (float)(i % 1000);
    int *counts = ls_calloc((size_t)g.world, sizeof(int), "counts");
    int *displs = ls_calloc((size_t)g.world, sizeof(int), "displs");
    double *t = ls_calloc((size_t)iters, sizeof(double), "times");
    const char *names[] = {"all-reduce", "reduce-scatter", "all-gather", "send/recv"};
    double nfac[] = {2.0 * (g.world - 1) / g.world, (double)(g.world - 1) / g.world,
                     (double)(g.world - 1) / g.world, 1.0};
    int nops = g.world > 1 ? 4 : 3; /* one process has nobody to send to */
    ls_info("collectives over %d ranks (median of %d, slowest rank; nccl-tests algbw/busbw)",
            g.world, iters);
    ls_info("%10s  %-15s %11s %11s %11s", "size", "operation", "time us", "algbw GB/s", "busbw GB/s");
    for (size_t bytes = 4096; bytes <= max_bytes; bytes *= 2) {
        for (int op = 0; op < nops; op++) {
            double med = median_op(c, op, buf, bytes, counts, displs, iters, t), alg = bytes / med / 1e9;
            char size[32];
            if (bytes >= (1 << 20)) snprintf(size, sizeof size, "%zu MB", bytes >> 20);
            else snprintf(size, sizeof size, "%zu KB", bytes >> 10);
            ls_info("%10s  %-15s %11.1f %11.2f %11.2f", size, names[op], med * 1e6, alg, alg * nfac[op]);
        }
    }
    ls_free(buf);
    ls_free(counts);
    ls_free(displs);
    ls_free(t);
    ls_grid_finalize(&g);
    return 0;
}
