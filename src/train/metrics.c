/* metrics.c - see metrics.h. */
#include "metrics.h"

#include <unistd.h>

double metrics_rss_mib(void) {
    FILE *f = fopen("/proc/self/statm", "r");
    long pages = 0, rss = 0;
    if (f) {
        if (fscanf(f, "%ld %ld", &pages, &rss) != 2) rss = 0;
        fclose(f);
    }
    return (double)rss * (double)sysconf(_SC_PAGESIZE) / (1024.0 * 1024.0);
}

void metrics_print_line(const StepMetrics *s) {
    printf("step %5ld/%ld | loss %.4f | lr %.2e | norm %7.4f | %8.1f ms | %8.0f tok/s | "
           "%7.1f GFLOP/s | MFU %5.1f%% | mem %.0f MiB",
           s->step + 1, s->total_steps, s->loss, s->lr, s->grad_norm, s->ms, s->tokens_per_s,
           s->gflops, 100.0 * s->mfu, s->mem_mib);
    if (s->ranks > 1) printf(" | comm %.1f MiB, %.1f ms", s->comm_bytes / 1048576.0, s->comm_wait_ms);
    if (s->pp_bubble >= 0)
        printf(" | bubble %.2f (theory %.2f, stage balance %.2f)", s->pp_bubble, s->pp_bubble_theory,
               s->pp_balance);
    if (s->val_loss >= 0) printf(" | val %.4f", s->val_loss);
    printf("\n");
    fflush(stdout);
}

void metrics_write_json(FILE *f, const StepMetrics *s) {
    if (!f) return;
    fprintf(f,
            "{\"step\": %ld, \"loss\": %.7g, \"lr\": %.7g, \"grad_norm\": %.7g, \"ms\": %.4f, "
            "\"tokens_per_s\": %.2f, \"tflops\": %.6g, \"mfu\": %.6g, \"mem_mib\": %.1f",
            s->step + 1, s->loss, s->lr, s->grad_norm, s->ms, s->tokens_per_s, s->gflops / 1e3,
            s->mfu, s->mem_mib);
    fprintf(f, ", \"comm_bytes\": %.0f, \"comm_wait_ms\": %.3f, \"tp_allreduces\": %ld, \"tp_allgathers\": %ld, "
               "\"tp_reduce_scatters\": %ld, \"tp_bytes\": %.0f",
            s->comm_bytes, s->comm_wait_ms, s->tp_allreduces, s->tp_allgathers, s->tp_reduce_scatters,
            s->tp_bytes);
    if (s->skipped > 0) fprintf(f, ", \"skipped\": %ld", s->skipped);
    if (s->pp_bubble >= 0)
        fprintf(f, ", \"pp_bubble\": %.4f, \"pp_bubble_theory\": %.4f, \"pp_balance\": %.4f", s->pp_bubble,
                s->pp_bubble_theory, s->pp_balance);
    if (s->val_loss >= 0) fprintf(f, ", \"val_loss\": %.7g", s->val_loss);
    fprintf(f, "}\n");
    fflush(f);
}
