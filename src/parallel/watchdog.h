/* watchdog.h - a multi-rank job that stops making progress ends, with a
 * diagnostic, instead of hanging.
 *
 * A rank that dies is noticed by the MPI launcher, which ends the job. A rank
 * that hangs (a stopped or deadlocked process, a node that stops answering,
 * a peer whose death the launcher does not notice) would leave every other
 * rank waiting forever in its next collective or receive, as NCCL jobs do.
 * So every blocking operation of comm.h marks, in one per-process record,
 * what this rank is waiting for (the operation, the group, the peer of a
 * send/receive); the trainer marks the step, the pipeline the action and the
 * micro-batch. A background thread looks at the record every timeout/10 s
 * (at most 1 s): when the same wait is still open after `timeout` seconds,
 * it prints one line on stderr,
 *
 *   llmscale: error: [rank 2] no progress for 5 s in all-reduce of 2048 floats on the tp
 *   group (rank 0 of 2: world ranks 2 3) at step 3, pipeline forward of micro-batch 1; ...
 *
 * waits a short grace period (so that the other waiting ranks, whose
 * watchdogs fire at about the same time, print theirs too) and aborts the
 * job (MPI_Abort: the launcher kills every rank, a stopped one included).
 * The stopped rank prints nothing; the lines name its group or itself (a
 * rank still computing when the job ends prints nothing either).
 *
 * Cost on the hot path: ls_watch_begin/ls_watch_end are a handful of plain
 * stores (a sequence counter, C11 release order), no system call, no lock;
 * the thread sleeps between looks. The main thread is the only writer (MPI
 * runs FUNNELED); the thread only reads, and aborts through MPI_Abort, which
 * Open MPI and MPICH accept from any thread in practice (it asks the
 * launcher to kill the job).
 *
 * The timeout: LLMSCALE_TIMEOUT (seconds) in the environment, else
 * LS_WATCHDOG_DEFAULT_S; `train --timeout S` overrides it; 0 turns it off.
 * Anything that legitimately keeps the other ranks waiting longer than the
 * timeout (rank 0 writing a very large checkpoint to a slow file system)
 * needs a larger one. */
#ifndef LS_WATCHDOG_H
#define LS_WATCHDOG_H
#include <stddef.h>

#include "comm.h"

#define LS_WATCHDOG_DEFAULT_S 300.0

/* Start the thread (once per process, by ls_grid_init under an MPI launcher)
 * with the environment's timeout; world_rank names the rank in messages. */
void ls_watchdog_start(int world_rank);
/* Stop and join the thread (ls_grid_finalize). */
void ls_watchdog_stop(void);
/* Change the timeout (seconds; 0 = off). */
void ls_watchdog_set_timeout(double seconds);
double ls_watchdog_timeout(void);

/* The trainer's step `step` (1-based, as printed) begins. Also the fault-
 * injection point of LLMSCALE_FAULT_HANG=S:R (tests): world rank R stops
 * itself (SIGSTOP) when step S begins, a rank that stops participating. */
void ls_watchdog_step(long step);
/* What the rank is doing, for the message: e.g. ("forward", mb, chunk); mb
 * or chunk < 0 are left out; NULL clears it. `what` must stay valid (a
 * string literal). */
void ls_watchdog_phase(const char *what, int micro_batch, int chunk);

/* comm.c: a blocking wait begins / ends. op: "all-reduce", "receive", ...;
 * count: floats (0: not shown); peer: the group rank of a send/receive's
 * other end, or -1. */
void ls_watch_begin(const char *op, const LsComm *c, size_t count, int peer);
void ls_watch_end(void);

#endif
