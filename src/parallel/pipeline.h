/* pipeline.h - running one pipeline stage of a training step (Megatron-core's
 * pipeline_parallel: the schedule of pipeline_schedule.h, executed).
 *
 * Pipeline rank r of P holds layers [r L/P, (r+1) L/P) (the model's stage:
 * gpt_create_ex with that range); the first stage also the embedding, the last
 * the final LayerNorm, the head and the loss; both hold the tied wte. A step
 * walks the rank's action list: FORWARD/BACKWARD run the stage on one
 * micro-batch in the activation set (gpt_select_acts) of that micro-batch,
 * SEND/RECV move the b x s x h activations (b x s x h / t with sequence
 * parallelism: the residual stream is what crosses stages) and their
 * gradients with the neighbours, as blocking rendezvous messages on the
 * pipeline group (the lists are deadlock-free for them).
 *
 * Micro-batch mb of a step is the one-process run's gradient-accumulation
 * micro-batch mb, so the losses and gradients equal it. After the walk, the
 * tied embedding's gradient is summed between the first and the last stage
 * (the same tensor parallel shard on both), which must precede the data-
 * parallel reduction: with pp > 1 that reduction runs after the walk. */
#ifndef LS_PIPELINE_H
#define LS_PIPELINE_H
#include "../core/trace.h"
#include "../model/gpt.h"
#include "comm.h"
#include "pipeline_schedule.h"

#define PIPE_MAX_CHUNKS 16

typedef struct {
    LsGrid *grid;
    int nchunks;        /* V: model chunks on this rank (interleaved: >= 2) */
    Gpt *m[PIPE_MAX_CHUNKS]; /* chunk c = model stage c*P + r */
    LsPipeSchedule sch;
    double compute_s;   /* this step: seconds in forward/backward actions */
    double step_s;      /* this step: seconds of the walk */
    LsTrace *trace;     /* NULL: none */
} Pipeline;

/* The micro-batch's tokens and targets (B*T each), from the trainer's loader. */
typedef void (*PipeBatchFn)(void *ctx, int mb, const int32_t **tokens, const int32_t **targets);

/* Layers of model stage s of S for an L-layer model: [*lo, *hi). Chunk c of
 * pipeline rank r is model stage c*P + r of S = P*V. */
void pipe_stage_layers(int L, int S, int s, int *lo, int *hi);
/* Build the rank's schedule for m micro-batches over its V chunks (models
 * m[0..V-1], V = 1 except interleaved) and size each chunk's activation sets
 * (one per micro-batch in flight). Errors (unsupported schedule) are fatal
 * with one sentence. */
void pipe_init(Pipeline *p, LsGrid *g, Gpt **m, int nchunks, LsPipeKind kind, int micro_batches,
               int B, int T);
void pipe_free(Pipeline *p);
/* One step's forward and backward passes: returns the sum of the token losses
 * of this rank's micro-batches (the last stage; 0 elsewhere). Gradients are
 * accumulated; dloss is the weight of each token's loss (gpt.h). */
double pipe_step(Pipeline *p, PipeBatchFn batch, void *ctx, float dloss);
/* Forward only, outside the schedule (validation): the micro-batch goes
 * through the stages one after the other; the mean token loss, on every rank
 * of the pipeline. */
double pipe_forward_loss(Pipeline *p, const int32_t *tokens, const int32_t *targets);
/* Sum the tied wte's gradient between the first and the last stage (P > 1). */
void pipe_tie_embedding_grads(Pipeline *p);

#endif
