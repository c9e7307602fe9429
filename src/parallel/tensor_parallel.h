/* tensor_parallel.h - Megatron-style tensor parallelism over the grid's tp group.
 *
 * The model (gpt.c) splits each layer's products over the tp ranks and asks
 * for its all-reduces through a callback (GptTp in gpt.h); this module wires
 * that callback to the tp communicator and handles what lies outside one
 * forward/backward:
 *   - the global gradient norm: sharded tensors (QKV, fc, their biases, the
 *     output projections' weights, wte rows) are summed over the tp group;
 *     replicated ones (LayerNorms, the row-parallel products' biases, wpe)
 *     hold identical gradients on every tp rank and count once;
 *   - layout-free checkpoints: each tp rank writes its shard's runs
 *     (gpt_shard_runs) at their places in the whole tensors of the file
 *     (src/train/checkpoint_write.c); reading extracts each rank's shard
 *     from the whole tensors (gpt_read_canonical does that).
 * Collectives per layer and micro-batch (counted by the test): 2 all-reduces
 * forward (after the attention and MLP output projections) and 2 backward
 * (the input gradients of QKV and fc); the embedding adds 1 forward, the loss
 * 3 (max, sum of exps, target logit) and the head's input gradient 1. */
#ifndef LS_TENSOR_PARALLEL_H
#define LS_TENSOR_PARALLEL_H
#include "../model/gpt.h"
#include "comm.h"

/* Route the model's tensor-parallel collectives through `tp` (size 1: none);
 * sp: sequence parallelism (tp > 1). Before the first forward. */
void tp_attach(Gpt *m, LsComm *tp, int sp);
/* Sum of squared gradients of the flat range [lo, hi) (g[0] is offset lo),
 * split into the tensors split across tp ranks and the replicated ones. The
 * last pipeline stage's tied copy of wte (a layout with the head but not the
 * embedding) is left out: the first stage counts wte. */
void tp_grad_sq_parts(const GptLayout *lay, const float *g, size_t lo, size_t hi, double *sharded,
                      double *replicated);

#endif
