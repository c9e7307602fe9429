/* watchdog.c - see watchdog.h.
 *
 * The record is a seqlock with one writer (the main thread) and one reader
 * (the watchdog thread): the writer makes `seq` odd, stores the fields, makes
 * it even again; the reader takes a snapshot only if it saw the same even
 * `seq` before and after reading the fields. A wait is "the same wait" as
 * long as `seq` does not move; the thread times it from the first look that
 * saw it, so a report comes between timeout and timeout + one look after the
 * wait began, and the time it prints is a lower bound. */
#include "watchdog.h"

#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "../core/error.h"
#include "../core/timer.h"
#include "mpi_backend.h"

/* what the main thread is waiting for */
static struct {
    atomic_ulong seq;
    _Atomic(const char *) op; /* NULL: not waiting */
    _Atomic(const LsComm *) comm;
    atomic_size_t count;
    atomic_int peer;
} g_wait;

/* what it is doing (read only when reporting) */
static atomic_long g_step;
static _Atomic(const char *) g_phase;
static atomic_int g_phase_mb, g_phase_chunk;

static _Atomic double g_timeout;
static int g_rank;
static long g_hang_step = -1; /* LLMSCALE_FAULT_HANG */
static int g_hang_rank = -1;

static pthread_t g_thread;
static int g_running;
static pthread_mutex_t g_lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t g_wake;
static int g_stop;

/* ---- the hot path: a few relaxed stores between two release stores of seq */

static inline void record_open(void) {
    atomic_store_explicit(&g_wait.seq, atomic_load_explicit(&g_wait.seq, memory_order_relaxed) + 1,
                          memory_order_relaxed);
    atomic_thread_fence(memory_order_release);
}

static inline void record_close(void) {
    atomic_store_explicit(&g_wait.seq, atomic_load_explicit(&g_wait.seq, memory_order_relaxed) + 1,
                          memory_order_release);
}

void ls_watch_begin(const char *op, const LsComm *c, size_t count, int peer) {
    record_open();
    atomic_store_explicit(&g_wait.op, op, memory_order_relaxed);
    atomic_store_explicit(&g_wait.comm, c, memory_order_relaxed);
    atomic_store_explicit(&g_wait.count, count, memory_order_relaxed);
    atomic_store_explicit(&g_wait.peer, peer, memory_order_relaxed);
    record_close();
}

void ls_watch_end(void) {
    record_open();
    atomic_store_explicit(&g_wait.op, NULL, memory_order_relaxed);
    record_close();
}

void ls_watchdog_phase(const char *what, int micro_batch, int chunk) {
    atomic_store_explicit(&g_phase_mb, micro_batch, memory_order_relaxed);
    atomic_store_explicit(&g_phase_chunk, chunk, memory_order_relaxed);
    atomic_store_explicit(&g_phase, what, memory_order_relaxed);
}

void ls_watchdog_step(long step) {
    atomic_store_explicit(&g_step, step, memory_order_relaxed);
    if (step == g_hang_step && g_rank == g_hang_rank) {
        fprintf(stderr, "llmscale: [rank %d] LLMSCALE_FAULT_HANG: stopping at step %ld (SIGSTOP)\n",
                g_rank, step);
        fflush(stderr);
        raise(SIGSTOP);
    }
}

void ls_watchdog_set_timeout(double seconds) { atomic_store(&g_timeout, seconds > 0 ? seconds : 0); }
double ls_watchdog_timeout(void) { return atomic_load(&g_timeout); }

/* ---- the thread */

typedef struct {
    const char *op;
    const LsComm *comm;
    size_t count;
    int peer;
} Wait;

/* A consistent copy of the record; 0 while the writer is in the middle. */
static int snapshot(unsigned long *seq, Wait *w) {
    unsigned long s1 = atomic_load_explicit(&g_wait.seq, memory_order_acquire);
    if (s1 & 1) return 0;
    w->op = atomic_load_explicit(&g_wait.op, memory_order_relaxed);
    w->comm = atomic_load_explicit(&g_wait.comm, memory_order_relaxed);
    w->count = atomic_load_explicit(&g_wait.count, memory_order_relaxed);
    w->peer = atomic_load_explicit(&g_wait.peer, memory_order_relaxed);
    atomic_thread_fence(memory_order_acquire);
    *seq = s1;
    return atomic_load_explicit(&g_wait.seq, memory_order_relaxed) == s1;
}

#define CAT(...) (len += snprintf(msg + len, len < sizeof msg ? sizeof msg - len : 0, __VA_ARGS__))

/* The one diagnostic line: what, on which group (and which world ranks form
 * it), at which step and pipeline action. */
static void report(const Wait *w, double waited, double timeout) {
    char msg[1024];
    size_t len = 0;
    const LsComm *c = w->comm;
    CAT("llmscale: error: [rank %d] no progress for %.0f s in %s", g_rank, waited, w->op);
    if (w->count) CAT(" of %zu floats", w->count);
    if (w->peer >= 0) {
        CAT(" %s rank %d of the %s group (world rank %d)", strcmp(w->op, "send") ? "from" : "to",
            w->peer, c->name, ls_mpi_world_rank(c, w->peer));
    } else {
        CAT(" on the %s group (rank %d of %d: world ranks", c->name, c->rank, c->size);
        for (int r = 0; r < c->size && r < 8; r++) CAT(" %d", ls_mpi_world_rank(c, r));
        CAT("%s)", c->size > 8 ? " ..." : "");
    }
    long step = atomic_load(&g_step);
    if (step > 0) CAT(" at step %ld", step);
    else CAT(" before the first training step");
    const char *phase = atomic_load(&g_phase);
    if (phase) {
        int mb = atomic_load(&g_phase_mb), chunk = atomic_load(&g_phase_chunk);
        CAT(", %s", phase);
        if (mb >= 0) CAT(" of micro-batch %d", mb);
        if (chunk >= 0) CAT(" (model chunk %d)", chunk);
    }
    CAT("; %s died, stopped or is stuck: ending the job (--timeout %g s; raise it if a step "
        "legitimately waits longer)\n", w->peer >= 0 ? "that rank" : "a rank of that group", timeout);
    fputs(msg, stderr);
    fflush(stderr);
}

/* Sleep up to `s` seconds; 1 when asked to stop. */
static int nap(double s) {
    struct timespec until;
    clock_gettime(CLOCK_MONOTONIC, &until);
    long ns = until.tv_nsec + (long)(s * 1e9);
    until.tv_sec += ns / 1000000000L;
    until.tv_nsec = ns % 1000000000L;
    pthread_mutex_lock(&g_lock);
    while (!g_stop && pthread_cond_timedwait(&g_wake, &g_lock, &until) != ETIMEDOUT) {
    }
    int stop = g_stop;
    pthread_mutex_unlock(&g_lock);
    return stop;
}

static void *watch(void *arg) {
    (void)arg;
    unsigned long last = 1; /* odd: no wait seen yet */
    double since = 0;
    for (;;) {
        double timeout = ls_watchdog_timeout();
        double look = timeout > 0 ? timeout / 10 : 1.0;
        if (look > 1.0) look = 1.0;
        if (look < 0.02) look = 0.02;
        if (nap(look)) return NULL;
        unsigned long seq;
        Wait w;
        if (timeout <= 0 || !snapshot(&seq, &w) || !w.op) {
            last = 1;
            continue;
        }
        double now = ls_now_s();
        if (seq != last) { /* a new wait */
            last = seq;
            since = now;
            continue;
        }
        if (now - since < timeout) continue;
        report(&w, now - since, timeout);
        /* the other ranks stuck in the same exchange started waiting at
         * about the same time: give their watchdogs a moment to report */
        double grace = (timeout < 2.0 ? timeout : 2.0) + look;
        if (nap(grace)) return NULL;
        alarm(60); /* should the abort itself hang: SIGALRM ends this process */
        ls_mpi_abort(1);
        _exit(1); /* not reached */
    }
}

static void parse_fault_hang(void) {
    const char *e = getenv("LLMSCALE_FAULT_HANG");
    if (!e || !*e) return;
    char *end;
    long s = strtol(e, &end, 10);
    long r = *end == ':' ? strtol(end + 1, &end, 10) : -1;
    if (s < 1 || r < 0 || *end) ls_fatal("LLMSCALE_FAULT_HANG='%s' must be STEP:RANK (step >= 1)", e);
    g_hang_step = s;
    g_hang_rank = (int)r;
}

void ls_watchdog_start(int world_rank) {
    if (g_running) return;
    g_rank = world_rank;
    double t = LS_WATCHDOG_DEFAULT_S;
    const char *e = getenv("LLMSCALE_TIMEOUT");
    if (e && *e) {
        char *end;
        t = strtod(e, &end);
        if (*end || !(t >= 0 && t <= 1e9))
            ls_fatal("LLMSCALE_TIMEOUT='%s' must be a number of seconds (0 turns the watchdog off)", e);
    }
    ls_watchdog_set_timeout(t);
    parse_fault_hang();
    pthread_condattr_t ca;
    pthread_condattr_init(&ca);
    pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
    pthread_cond_init(&g_wake, &ca);
    pthread_condattr_destroy(&ca);
    /* signals (SIGINT/SIGTERM's stop-after-this-step) stay with the main thread */
    sigset_t all, old;
    sigfillset(&all);
    pthread_sigmask(SIG_SETMASK, &all, &old);
    int rc = pthread_create(&g_thread, NULL, watch, NULL);
    pthread_sigmask(SIG_SETMASK, &old, NULL);
    if (rc) ls_fatal("cannot start the watchdog thread: %s", strerror(rc));
    g_running = 1;
}

void ls_watchdog_stop(void) {
    if (!g_running) return;
    pthread_mutex_lock(&g_lock);
    g_stop = 1;
    pthread_cond_signal(&g_wake);
    pthread_mutex_unlock(&g_lock);
    pthread_join(g_thread, NULL);
    g_running = 0;
}
