/* progress.c - see progress.h. */
#include "progress.h"

#include <stdio.h>
#include <unistd.h>

#include "error.h"
#include "timer.h"

void ls_progress_start(LsProgress *p, const char *label, uint64_t total_bytes) {
    p->label = label;
    p->total = total_bytes;
    p->done = 0;
    p->t0 = p->last = ls_now_s();
    p->tty = isatty(2);
    p->drawn = 0;
}

static void draw(LsProgress *p, double now) {
    double dt = now - p->t0, mb = p->done / 1e6, rate = dt > 0 ? mb / dt : 0;
    double frac = p->total ? (double)p->done / (double)p->total : 1.0;
    if (frac > 1) frac = 1;
    double eta = rate > 0 ? (p->total / 1e6 - mb) / rate : 0;
    if (eta < 0) eta = 0;
    if (p->tty) {
        char bar[31];
        int fill = (int)(frac * 30);
        for (int i = 0; i < 30; i++) bar[i] = i < fill ? '#' : '.';
        bar[30] = 0;
        fprintf(stderr, "\r%-8s [%s] %5.1f%%  %.1f/%.1f MB  %.1f MB/s  ETA %.0f s   ", p->label, bar,
                100 * frac, mb, p->total / 1e6, rate, eta);
        fflush(stderr);
        p->drawn = 1;
    } else {
        ls_info("%s: %.1f%%, %.1f of %.1f MB, %.1f MB/s, ETA %.0f s", p->label, 100 * frac, mb,
                p->total / 1e6, rate, eta);
    }
}

void ls_progress_update(LsProgress *p, uint64_t done_bytes) {
    p->done = done_bytes;
    double now = ls_now_s();
    if (now - p->last < (p->tty ? 0.1 : 10.0)) return;
    p->last = now;
    draw(p, now);
}

void ls_progress_finish(LsProgress *p) {
    double dt = ls_now_s() - p->t0;
    if (p->tty && p->drawn) fprintf(stderr, "\r%*s\r", 100, "");
    ls_info("%s: %.1f MB in %.2f s (%.1f MB/s)", p->label, p->done / 1e6, dt,
            dt > 0 ? p->done / 1e6 / dt : 0.0);
}
