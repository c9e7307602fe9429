/* metrics.h - per-step reporting: a human line on stdout and a JSON record per
 * step in RUNDIR/metrics.jsonl.
 *
 * Throughput is reported per rank as model FLOPs (PaLM's MFU definition, see
 * gpt_flops_per_token): achieved = flops_per_token * tokens / seconds, and
 * MFU = achieved / peak, the peak being this machine's measured fp32 FMA rate
 * (probe.h) or --peak-gflops. */
#ifndef LS_METRICS_H
#define LS_METRICS_H
#include <stdio.h>

typedef struct {
    long step, total_steps;
    double loss, lr, grad_norm, ms, tokens_per_s, gflops, mfu;
    double val_loss; /* < 0: not evaluated this step */
    double mem_mib;
    int ranks;            /* world size; > 1 adds the communication fields to the line */
    double comm_bytes;    /* bytes this rank sent in the step (ring volumes, comm.h) */
    double comm_wait_ms;  /* time this rank spent inside communication calls */
    long tp_allreduces;   /* tensor-parallel all-reduces this rank made in the step */
    long tp_allgathers, tp_reduce_scatters; /* the same for sequence parallelism's */
    long skipped;           /* steps skipped so far for a non-finite loss or gradient */
    double pp_bubble;       /* pipeline: (longest walk - busiest stage's compute) / that compute (-1: none) */
    double pp_bubble_theory; /* (P-1)/m */
    double pp_balance;      /* pipeline: slowest stage's compute / the mean stage's (1 = balanced) */
    double tp_bytes;      /* bytes this rank sent in them (ring volumes) */
} StepMetrics;

/* Resident memory of this process in MiB. */
double metrics_rss_mib(void);
void metrics_print_line(const StepMetrics *s);
void metrics_write_json(FILE *f, const StepMetrics *s);

#endif
