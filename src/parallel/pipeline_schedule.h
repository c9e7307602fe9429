/* pipeline_schedule.h - what each pipeline stage does, in which order, during
 * one training step: GPipe, 1F1B and interleaved 1F1B.
 *
 * The model's L layers are cut into S = P*V consecutive model stages. Rank r
 * of the P-rank pipeline group holds V of them, its "chunks": chunk c of rank
 * r is model stage s = c*P + r (V = 1 except for the interleaved schedule).
 * One step pushes m micro-batches through every model stage forward, then
 * backward. The schedule is, per rank, an ordered list of actions:
 *
 *   FORWARD(mb, c)    run chunk c forward on micro-batch mb (keep its activations)
 *   BACKWARD(mb, c)   run chunk c backward on micro-batch mb (free them)
 *   RECV_ACT(mb, c)   receive the input activations of (mb, c) from `peer`
 *   SEND_ACT(mb, c)   send the output activations of (mb, c) to `peer`
 *   RECV_GRAD(mb, c)  receive the gradient of (mb, c)'s output from `peer`
 *   SEND_GRAD(mb, c)  send the gradient of (mb, c)'s input to `peer`
 *
 * Messages: model stage s sends its activations (b x s x h floats) to stage
 * s+1, which sends the gradient of that tensor back. Between ranks r and r+1
 * that is chunk c -> chunk c; from the last rank to the first (interleaved
 * only) chunk c of rank P-1 feeds chunk c+1 of rank 0. For P = 1 consecutive
 * chunks live on the same rank and hand over in memory: no message actions.
 *
 * Communication semantics, chosen by LsPipeConfig.comm:
 *   LS_PIPE_BLOCKING: the lists are safe for BLOCKING, RENDEZVOUS sends and
 *     receives (ls_comm_send = MPI_Ssend, ls_comm_recv: a send returns only
 *     once the receiver has arrived), the strictest point-to-point semantics;
 *     hence also for buffered or eager sends. Each message is a SEND in the
 *     sender's list and a RECV in the receiver's, in the same relative order
 *     on every pair of ranks. Messages may sit a little before their consumer
 *     (a receive) or after their producer (a send).
 *   LS_PIPE_ISEND: each SEND right after the compute that produced it, each
 *     RECV right before the compute that needs it. Safe only when sends do
 *     not block: ls_comm_isend, its request completed later (before the buffer
 *     is reused, or at the end of the step); receives may block. This is the
 *     order that wastes no time when backward and forward times differ.
 * See pipeline_schedule.c for why neither can deadlock under its semantics,
 * and docs/PIPELINE.md for the schedules themselves. */
#ifndef LS_PIPELINE_SCHEDULE_H
#define LS_PIPELINE_SCHEDULE_H
#include <stddef.h>

typedef enum { LS_PIPE_GPIPE, LS_PIPE_1F1B, LS_PIPE_INTERLEAVED } LsPipeKind;

typedef enum {
    LS_PIPE_FORWARD,
    LS_PIPE_BACKWARD,
    LS_PIPE_SEND_ACT,
    LS_PIPE_RECV_ACT,
    LS_PIPE_SEND_GRAD,
    LS_PIPE_RECV_GRAD,
} LsPipeOp;

typedef struct {
    LsPipeOp op;
    int mb;    /* micro-batch, 0..m-1 */
    int chunk; /* this rank's chunk the action belongs to, 0..V-1: the chunk
                  that computes, sends its output / input gradient, or
                  consumes what is received */
    int peer;  /* pipeline rank at the other end of a message; -1 for compute */
    int tag;   /* message tag, the same at both ends and unique between the
                  two ranks within a step (ls_pipe_tag); -1 for compute */
} LsPipeAction;

typedef enum { LS_PIPE_BLOCKING, LS_PIPE_ISEND } LsPipeComm;

typedef struct {
    LsPipeKind kind;
    int stages;        /* P, pipeline-parallel ranks */
    int micro_batches; /* m, per step (global batch / (micro-batch x dp)) */
    int chunks;        /* V, model chunks per rank (>= 2 interleaved, else 1) */
    LsPipeComm comm;   /* how sends behave (above); 0 = LS_PIPE_BLOCKING */
} LsPipeConfig;

typedef struct {
    LsPipeConfig cfg;
    int rank;
    int warmup;          /* forwards before the first backward (see the .c) */
    int n;               /* number of actions */
    LsPipeAction *a;
} LsPipeSchedule;

/* "gpipe", "1f1b", "interleaved" -> kind; -1 for anything else. */
int ls_pipe_kind_parse(const char *name);
const char *ls_pipe_kind_name(LsPipeKind kind);

/* 0 when the configuration is supported; otherwise -1 and one sentence in
 * err (err may be NULL). Supported: P >= 1, m >= 1; GPipe and 1F1B with
 * V = 1 and any m (m < P simply leaves the pipeline partly idle); interleaved
 * with V >= 2 and m a multiple of P (Megatron-LM's requirement: micro-batches
 * enter in groups of P, one group per chunk round). */
int ls_pipe_validate(const LsPipeConfig *cfg, char *err, size_t errlen);

/* The actions of pipeline rank `rank` for one step. Returns 0, or -1 with the
 * reason in err when the configuration is not supported. Free with
 * ls_pipe_free. */
int ls_pipe_build(const LsPipeConfig *cfg, int rank, LsPipeSchedule *out, char *err, size_t errlen);
/* All P ranks' schedules at once (out[0..P-1]), e.g. to simulate them. */
int ls_pipe_build_all(const LsPipeConfig *cfg, LsPipeSchedule *out, char *err, size_t errlen);
void ls_pipe_free(LsPipeSchedule *s);

/* The MPI tag of a message: (mb * V + recv_chunk) * 2 + is_grad, where
 * recv_chunk is the receiving rank's chunk. Between one sender and one
 * receiver that names the message uniquely within a step: activations go from
 * stage s to s+1 and gradients from s to s-1, so a pair of ranks carries
 * activations into one chunk from one chunk, and gradients both ways only
 * when P = 2, told apart by is_grad. Tags run up to 2 m V - 1 (MPI
 * guarantees 32767, hence m V <= 16383). */
int ls_pipe_tag(const LsPipeConfig *cfg, int is_grad, int mb, int recv_chunk);

/* Theoretical bubble fraction: idle time / useful compute time per rank,
 * (P-1)/m for GPipe and 1F1B and (P-1)/(m V) interleaved (Narayanan et al.
 * 2021, sec. 2.2), when every chunk's forward and backward take the same time
 * on every rank and messages are free. */
double ls_pipe_bubble_fraction(const LsPipeConfig *cfg);

/* The largest number of (micro-batch, chunk) activation sets rank `rank`
 * holds at once (forwarded, not yet backwarded): m for GPipe, min(P-r, m) for
 * 1F1B, min(warm-up + 1, m V) interleaved, where each set is one chunk's
 * layers (1/V of the rank's layers). */
int ls_pipe_max_in_flight(const LsPipeConfig *cfg, int rank);

/* "F", "B", "send-act", ... for messages and traces. */
const char *ls_pipe_op_name(LsPipeOp op);

#endif
