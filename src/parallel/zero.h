/* zero.h - data parallelism and ZeRO stages 0-3 over the data-parallel group.
 *
 * Every data-parallel rank runs the same model on different sequences; after
 * the backward pass the gradients are summed over the group (the trainer's
 * loss scaling 1/(G*T) makes the sum the gradient of the global-batch mean
 * loss). The flat buffer of n floats (gpt_layout.h) is cut into W slices of
 * S = zero_shard_len(n, W) floats; rank r owns [r*S, min((r+1)*S, n)).
 *
 *   stage 0  plain data parallelism: full parameters, gradients, AdamW state
 *            on every rank; gradients all-reduced (2 Psi bytes sent per step);
 *   stage 1  AdamW moments sharded: gradients reduce-scattered, each rank
 *            updates its slice, parameters all-gathered (Psi + Psi = 2 Psi);
 *   stage 2  + only the gradient slice is kept: gradients go through two
 *            bucket-sized staging buffers and are reduce-scattered after every
 *            micro-batch (as DeepSpeed does; Psi per micro-batch + Psi);
 *   stage 3  + parameters sharded: each unit's (layer's) weights are
 *            all-gathered just before its forward and again before its
 *            backward, into two rotating buffers, and dropped after use
 *            (3 Psi per micro-batch). The tied embedding stays gathered from
 *            the embedding's forward to the head's forward, and from the
 *            head's backward to the embedding's backward.
 * (Psi = bytes of the rank's parameters; volumes as ring algorithms send
 * them, (W-1)/W of the above; see comm.h.)
 *
 * Overlap: gradient buckets are contiguous flat ranges of whole units, formed
 * in backward order (head, last layer, ..., first layer; the embedding always
 * alone and last, since the tied wte's gradient is complete only after the
 * embedding's backward). A bucket's non-blocking reduction starts from the
 * model hook as soon as its last unit's backward is done; later units compute
 * while it runs. Progress is driven by polling every pending request after
 * each unit's backward; zero_end_backward waits for what is left. ZeRO-3
 * prefetches the next unit's weights while the current unit computes.
 * Stages 0 and 1 skip the reduction on all but the last micro-batch of a step. */
#ifndef LS_ZERO_H
#define LS_ZERO_H
#include <stddef.h>

#include "../model/gpt.h"
#include "comm.h"

/* Slice length of a flat buffer of n floats over W ranks: ceil(n/W) rounded
 * up to 16 floats (64-byte aligned slices). `plan` uses the same function. */
size_t zero_shard_len(size_t n, int W);
/* Which flat buffers the model allocates itself for a stage (gpt_create_ex). */
int zero_model_ownership(int stage);

typedef struct { size_t lo, hi; } ZRange;

typedef struct {
    ZRange r;
    int first_unit, last_unit; /* units [first, last] in flat order */
    float *stage;              /* stage >= 2: staging buffer of this micro-batch */
    LsRequest req;
    int pending;
} ZBucket;

/* Bytes held on this rank, by kind (the memory report): buffers = staging
 * for communication (receive slices, gradient staging, gathered weights);
 * window = the communicator's shared-memory window. */
typedef struct { double params, grads, optimizer, buffers, window; } ZeroMemory;

typedef struct {
    Gpt *m;
    LsComm *dp;
    int stage, W, rank;
    size_t n, S, lo, hi;         /* flat size, slice length, this rank's slice */
    int nunits, embed_unit, head_unit;
    ZRange *unit;                /* flat order */
    int *unit_bucket;
    int nbuckets;
    ZBucket *bucket;             /* backward order: bucket 0 is reduced first */
    float *gshard, *gtmp;        /* stage >= 1: reduced gradient slice; stage >= 2 receive area */
    float *pshard;               /* stage 3: parameter slice */
    float *gstage[2], *gembed;   /* stage >= 2: gradient staging */
    size_t gstage_len;
    float *pstage[2], *pembed;   /* stage 3: gathered weights */
    size_t pstage_len;
    int pslot_unit[2], pembed_ready;
    LsRequest preq[2], pembed_req;
    float *full;                 /* stage 3: temporary full parameters (init, load, save) */
    int *counts, *displs;        /* scratch, W each */
    int last_micro;              /* reduce during this backward (set by zero_begin_micro) */
    double wait_s;               /* seconds inside communication calls (start, poll, wait;
                                    the shared-memory path does its copies in start)
                                    since zero_begin_step */
    int grads_zero;              /* the optimizer left the model's gradient ready for the
                                    next backward (stage 0: adamw_step_zero_grads; zero,
                                    but for the kinds a backward that sums the norm
                                    overwrites), so zero_begin_step skips its clearing pass */
} ZeroEngine;

/* Set up the engine for model m (created with gpt_create_ex(...,
 * zero_model_ownership(stage))) over the data-parallel group `dp`. Buckets
 * hold at least bucket_floats floats. Installs the model hooks. */
void zero_init(ZeroEngine *z, Gpt *m, LsComm *dp, int stage, size_t bucket_floats);
void zero_free(ZeroEngine *z);

/* Floats of AdamW state this rank keeps (n for stage 0, its slice otherwise). */
size_t zero_optimizer_len(const ZeroEngine *z);

/* A step: zero the gradients; then per micro-batch zero_begin_micro(last),
 * forward, backward, zero_end_backward; then the update of the slice below;
 * then zero_end_step (stages 1, 2: all-gather the updated parameters). */
void zero_begin_step(ZeroEngine *z);
void zero_begin_micro(ZeroEngine *z, int last_micro);
void zero_end_backward(ZeroEngine *z);
/* Stages 0/1 under pipeline parallelism: the hooks reduced nothing (every
 * micro-batch ran with last_micro = 0); reduce all buckets now, after the
 * tied embedding's gradient was summed between the first and last stage. */
void zero_reduce_now(ZeroEngine *z);
/* Sum of squared reduced gradients over the whole stage (identical on every
 * rank of its dp x tp): slices summed over dp, tensor-parallel shards over
 * `tp`, replicated tensors counted once, the last pipeline stage's tied copy
 * of wte left out (tp_grad_sq_parts). */
double zero_grad_sq_sum(ZeroEngine *z, LsComm *tp);
/* The part this rank updates: flat range [lo, hi), its parameters and its
 * reduced gradients (index 0 = flat offset lo). */
typedef struct { size_t lo, hi; float *params, *grads; } ZeroSlice;
ZeroSlice zero_update_slice(ZeroEngine *z);
void zero_end_step(ZeroEngine *z);

/* Full parameters for init / load / save: stage 0-2 return m->params; stage 3
 * allocates a full buffer, binds the model to it and, if `gather`, fills it
 * from every rank's slice. zero_params_release(scatter) takes this rank's
 * slice back from it (if `scatter`) and frees it. */
float *zero_params_full(ZeroEngine *z, int gather);
void zero_params_release(ZeroEngine *z, int scatter);
/* All-gather a slice-shaped buffer (e.g. AdamW m or v) into a full one
 * (stage 0: copy), and the reverse: take this rank's slice of a full one. */
void zero_gather_slices(ZeroEngine *z, const float *slice, float *full);
void zero_take_slice(const ZeroEngine *z, const float *full, float *slice);

/* What this rank holds, from its allocations. Slices are S floats on every
 * rank (zero_shard_len; the last one's tail is padding). */
void zero_memory(const ZeroEngine *z, ZeroMemory *measured);
/* Staging bytes (ZeroMemory.buffers) a stage allocates for a layout, without
 * building anything: what `plan` predicts for llmscale's own runs. */
double zero_staging_bytes(const GptLayout *lay, int stage, int dp, size_t bucket_floats);
/* The trainer's default --bucket-mb. */
#define ZERO_DEFAULT_BUCKET_MB 25.0

#endif
