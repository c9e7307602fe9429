/* trace.h - a timeline of training steps in Chrome's trace-event format
 * (the JSON that chrome://tracing and https://ui.perfetto.dev open).
 *
 * Each rank records "complete" events (phase "X": a name, a category, a start
 * and a duration) into its own buffer while it trains; no communication
 * happens while recording. In the file:
 *   pid  = the world rank (one horizontal lane group per rank),
 *   tid  = a lane inside it chosen by the caller (e.g. 0 compute, 1 messages),
 *   ts   = microseconds since the rank's origin t0, dur = microseconds,
 *   cat  = "forward", "backward", "send", "recv", "optimizer", ...
 * plus metadata events that name each rank's lane group and lanes.
 *
 * Time origin: every rank passes t0 = ls_now_s() taken right after a barrier
 * of the world, so lanes line up to within the barrier's skew (CLOCK_MONOTONIC
 * is one clock on one node; across nodes the barrier is the only alignment).
 *
 * Merging, without any collective of text: each rank writes its events to
 * "<path>.rank<R>" (atomically, one JSON object per line), the caller runs a
 * barrier, and rank 0 concatenates the parts in rank order into <path> (again
 * atomically, so a crash never leaves a half trace) and removes them. The
 * parts must be visible to rank 0: one node, or a shared file system. */
#ifndef LS_TRACE_H
#define LS_TRACE_H
#include <stddef.h>

#include "error.h"

typedef struct {
    char name[48];
    const char *cat; /* a string literal: kept by pointer */
    int tid;
    double ts_us, dur_us;
} LsTraceEvent;

#define LS_TRACE_LANES 4

typedef struct {
    int pid;
    double t0;                         /* ls_now_s() at the origin */
    char label[64];                    /* the rank's lane group name */
    char lane[LS_TRACE_LANES][24];     /* names of tids 0..3 ("" unnamed) */
    LsTraceEvent *ev;
    size_t n, cap;
} LsTrace;

/* Start an empty trace for `rank`, times measured from t0 (seconds, as
 * ls_now_s), its lane group called `label` (NULL: "rank R"). */
void ls_trace_init(LsTrace *t, int rank, double t0, const char *label);
/* Name lane `tid` (0..3), e.g. "compute", "p2p". */
void ls_trace_name_lane(LsTrace *t, int tid, const char *name);
/* Record one event that ran from start_s to end_s (ls_now_s() values); the
 * name is printf-formatted and cut to 47 bytes. */
void ls_trace_add(LsTrace *t, const char *cat, int tid, double start_s, double end_s, const char *fmt, ...)
    LS_PRINTF(6, 7);
void ls_trace_free(LsTrace *t);

/* Write this rank's events to "<path>.rank<R>". */
void ls_trace_write_part(const LsTrace *t, const char *path);
/* Rank 0, after all `nranks` ranks wrote their part: join the parts into one
 * JSON object {"traceEvents": [...], "displayTimeUnit": "ms"} at <path> and
 * delete them. A missing part is a fatal error naming it. */
void ls_trace_merge(const char *path, int nranks);

#endif
