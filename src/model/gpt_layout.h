/* gpt_layout.h - where every parameter lives in the flat buffers of one rank.
 *
 * A rank owns a contiguous range of layers (its pipeline stage) and, of each
 * weight, only its tensor-parallel shard. Its parameters, gradients and AdamW
 * moments each live in ONE flat float buffer with the same layout, so that
 * data parallelism can all-reduce it in buckets and ZeRO can cut it into
 * dp-contiguous slices.
 *
 * Flat (local) order, chosen so that each layer is one contiguous block (what
 * ZeRO-3 gathers and what backward-order gradient buckets cover):
 *     [wte wpe]                    on the first stage
 *     per layer l in [layer_begin, layer_end):
 *         ln1w ln1b qkvw qkvb attprojw attprojb ln2w ln2b fcw fcb fcprojw fcprojb
 *     [lnfw lnfb]                  on the last stage
 * The canonical order of checkpoints (llm.c's file: all layers' ln1w, then all
 * ln1b, ...) is different; gpt_io.c maps between the two.
 *
 * Shard shapes for tensor-parallel degree tp (Megatron): qkvw/fcw split by
 * output rows (column-parallel), attprojw/fcprojw split by input columns
 * (row-parallel; their biases are whole and added once after the reduction),
 * wte split by vocabulary rows; LayerNorms and wpe replicated. With tp = 1
 * every shard is the whole tensor. */
#ifndef LS_GPT_LAYOUT_H
#define LS_GPT_LAYOUT_H
#include <stddef.h>

#include "gpt_config.h"

enum {
    T_WTE, T_WPE, T_LN1W, T_LN1B, T_QKVW, T_QKVB, T_ATTPROJW, T_ATTPROJB,
    T_LN2W, T_LN2B, T_FCW, T_FCB, T_FCPROJW, T_FCPROJB, T_LNFW, T_LNFB, T_NUM_KINDS
};
extern const char *const GPT_TENSOR_NAMES[T_NUM_KINDS];
/* 1 for kinds that exist once per layer */
int gpt_kind_is_per_layer(int kind);

typedef struct {
    int kind;      /* T_* */
    int layer;     /* global layer index, -1 for non-layer tensors */
    size_t offset; /* in floats, into the rank's flat buffer */
    int rows, cols;/* local shard shape (cols = 1 for vectors) */
    int decay;     /* AdamW weight decay applies (2-D weights only) */
} GptTensor;

typedef struct {
    GptConfig cfg;
    int tp, tp_rank;              /* tensor-parallel degree and this rank's index */
    int layer_begin, layer_end;   /* this stage's layers */
    int has_embed, has_head;      /* first / last pipeline stage */
    int ntensors;
    GptTensor *tensors;           /* all tensors, in flat order */
    size_t total;                 /* floats in the flat buffer */
} GptLayout;

void gpt_layout_build(GptLayout *lay, const GptConfig *cfg, int layer_begin, int layer_end,
                      int tp, int tp_rank);
void gpt_layout_free(GptLayout *lay);
/* The tensor of `kind` (and layer, for per-layer kinds) or NULL if not on this rank. */
const GptTensor *gpt_layout_find(const GptLayout *lay, int kind, int layer);

/* Pointers to every tensor of one flat buffer (params, grads, m or v). */
typedef struct {
    float *ln1w, *ln1b, *qkvw, *qkvb, *attprojw, *attprojb;
    float *ln2w, *ln2b, *fcw, *fcb, *fcprojw, *fcprojb;
} GptLayerTensors;
typedef struct {
    float *wte, *wpe, *lnfw, *lnfb;
    GptLayerTensors *layer; /* indexed by local layer l - layer_begin */
    int nlayers;
} GptTensors;
void gpt_tensors_bind(GptTensors *v, const GptLayout *lay, float *flat);
/* Re-point the views of the tensors that start in flat range [lo, hi) at
 * `base`, which holds that range (tensor at offset o -> base + o - lo).
 * ZeRO uses it to run a unit on gathered weights / staged gradients. */
void gpt_tensors_rebind(GptTensors *v, const GptLayout *lay, float *base, size_t lo, size_t hi);
void gpt_tensors_free(GptTensors *v);

#endif

/* Vocabulary rows of wte per tensor-parallel rank: Megatron pads the vocabulary
 * to a multiple of 128 x tp so that every rank holds the same number of rows
 * (a multiple of 128); rank r holds rows [r Vl, (r+1) Vl), the ones at or past
 * the model file's padded_vocab_size being zero padding that no token looks up
 * and the loss ignores. tp = 1: padded_vocab_size itself. */
int gpt_vocab_rows(const GptConfig *cfg, int tp);

/* Full (unsharded) shape of a tensor kind, as stored in checkpoints. */
void gpt_full_shape(const GptConfig *cfg, int kind, int *rows, int *cols);
/* The shard of tensor t on this rank as runs of contiguous floats: each
 * fn(ctx, shard_off, full_off, n) says that n floats from shard_off in the
 * shard are the whole tensor's floats from full_off (row-major full shape).
 * Vocabulary padding rows that the whole tensor lacks are in no run. */
typedef void (*GptRunFn)(void *ctx, size_t shard_off, size_t full_off, size_t n);
void gpt_shard_runs(const GptLayout *lay, const GptTensor *t, GptRunFn fn, void *ctx);
/* 1 for kinds every tensor-parallel rank holds whole (LayerNorms, wpe, the
 * row-parallel products' biases) */
int gpt_kind_is_replicated(int kind);
/* Copy this rank's shard out of the full tensor (full -> shard) or back into it
 * (shard -> full). The Megatron split: qkvw/qkvb take rank r's rows of each of
 * q, k and v; fcw/fcb and wte a contiguous row range (wte's may run past the
 * file's rows: zeros on extract, dropped on insert); attprojw/fcprojw a
 * column range of every row; everything else is replicated (whole copy). */
void gpt_shard_extract(const GptLayout *lay, const GptTensor *t, const float *full, float *shard);
void gpt_shard_insert(const GptLayout *lay, const GptTensor *t, const float *shard, float *full);
