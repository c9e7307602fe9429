/* gpt_infer.h - one-token-at-a-time inference with a KV cache (sampling).
 *
 * Generating token t+1 needs the keys and values of positions 0..t of every
 * layer. Recomputing them costs O(t) per token; the cache keeps them, so each
 * new token runs the model on ONE position: its own q, k, v, attention of its
 * query over the cached keys, and the MLP. */
#ifndef LS_GPT_INFER_H
#define LS_GPT_INFER_H
#include "gpt.h"

typedef struct {
    int maxT;
    float *k, *v;   /* (L, maxT, C) cached keys and values */
    float *x, *ln, *qkv, *atty, *tmp, *fch, *fchg, *att, *logits, *mean, *rstd;
} GptKV;

void gpt_kv_init(GptKV *kv, const Gpt *m);
void gpt_kv_free(GptKV *kv);
/* Feed `token` at position `pos` (0 <= pos < max_seq_len; positions must come
 * in order 0, 1, 2, ...). Returns the Vp logits predicting position pos+1. */
const float *gpt_infer_step(const Gpt *m, GptKV *kv, int token, int pos);

#endif
