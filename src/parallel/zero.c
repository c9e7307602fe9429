/* zero.c - see zero.h. */
#include "zero.h"

#include <string.h>

#include "../core/error.h"
#include "../core/timer.h"
#include "tensor_parallel.h"

size_t zero_shard_len(size_t n, int W) {
    if (W <= 1) return n;
    size_t s = (n + (size_t)W - 1) / (size_t)W;
    return (s + 15) & ~(size_t)15;
}

int zero_model_ownership(int stage) {
    return stage >= 3 ? 0 : stage == 2 ? GPT_OWN_PARAMS : GPT_OWN_ALL;
}

/* The part of flat range [a, b) owned by rank r. */
static ZRange piece(const ZeroEngine *z, size_t a, size_t b, int r) {
    size_t s0 = (size_t)r * z->S, s1 = s0 + z->S;
    if (s1 > z->n) s1 = z->n;
    ZRange p = {a > s0 ? a : s0, b < s1 ? b : s1};
    if (p.lo >= p.hi) p.lo = p.hi = 0;
    return p;
}

/* counts/displs of every rank's piece of [a, b), displacements relative to a */
static void pieces(ZeroEngine *z, size_t a, size_t b) {
    for (int r = 0; r < z->W; r++) {
        ZRange p = piece(z, a, b, r);
        z->counts[r] = (int)(p.hi - p.lo);
        z->displs[r] = p.hi > p.lo ? (int)(p.lo - a) : 0;
    }
}

static void wait_req(ZeroEngine *z, LsRequest *req) {
    if (!req->active) return;
    double t0 = ls_now_s();
    ls_comm_wait(req);
    z->wait_s += ls_now_s() - t0;
}

/* ---- gradients */

/* A bucket's reduction finished: stages 2/3 add the received piece to the slice. */
static void retire(ZeroEngine *z, ZBucket *bk) {
    if (!bk->pending) return;
    wait_req(z, &bk->req);
    bk->pending = 0;
    if (z->stage >= 2) {
        ZRange p = piece(z, bk->r.lo, bk->r.hi, z->rank);
        for (size_t i = p.lo; i < p.hi; i++) z->gshard[i - z->lo] += z->gtmp[i - z->lo];
    }
}

static void poll_buckets(ZeroEngine *z) {
    for (int k = 0; k < z->nbuckets; k++) {
        if (!z->bucket[k].pending) continue;
        double t0 = ls_now_s();
        int done = ls_comm_test(&z->bucket[k].req);
        z->wait_s += ls_now_s() - t0; /* retire() times its own wait */
        if (done) retire(z, &z->bucket[k]);
    }
}

static void start_reduction(ZeroEngine *z, ZBucket *bk) {
    double t0 = ls_now_s();
    size_t a = bk->r.lo, b = bk->r.hi;
    if (z->stage == 0) {
        ls_comm_iallreduce_sum(z->dp, z->m->grads + a, b - a, &bk->req);
    } else {
        pieces(z, a, b);
        ZRange p = piece(z, a, b, z->rank);
        const float *src = z->stage == 1 ? z->m->grads + a : bk->stage;
        float *dst = (z->stage == 1 ? z->gshard : z->gtmp) + (p.hi > p.lo ? p.lo - z->lo : 0);
        ls_comm_ireduce_scatter_sum(z->dp, src, dst, z->counts, &bk->req);
    }
    bk->pending = 1;
    z->wait_s += ls_now_s() - t0;
    if (z->dp->size == 1) retire(z, bk); /* the identity "reduction" is already done */
}

/* stage >= 2: point the bucket's gradient views at a zeroed staging buffer */
static void stage_bucket(ZeroEngine *z, int k) {
    ZBucket *bk = &z->bucket[k];
    if (bk->first_unit == z->embed_unit) {
        bk->stage = z->gembed;
    } else {
        int slot = k % 2;
        for (int j = k - 2; j >= 0; j -= 2) /* the bucket that used this buffer before */
            if (z->bucket[j].stage == z->gstage[slot]) {
                retire(z, &z->bucket[j]);
                break;
            }
        bk->stage = z->gstage[slot];
    }
    memset(bk->stage, 0, sizeof(float) * (bk->r.hi - bk->r.lo));
    gpt_tensors_rebind(&z->m->g, &z->m->lay, bk->stage, bk->r.lo, bk->r.hi);
}

/* ---- ZeRO-3 weights */

static void start_gather(ZeroEngine *z, int u, float *buf, LsRequest *req) {
    double t0 = ls_now_s();
    ZRange ur = z->unit[u];
    ZRange mine = piece(z, ur.lo, ur.hi, z->rank);
    if (mine.hi > mine.lo)
        memcpy(buf + (mine.lo - ur.lo), z->pshard + (mine.lo - z->lo), sizeof(float) * (mine.hi - mine.lo));
    pieces(z, ur.lo, ur.hi);
    ls_comm_iallgatherv(z->dp, buf, z->counts, z->displs, req);
    z->wait_s += ls_now_s() - t0;
}

/* the slot holding (or about to hold) unit u, or -1 */
static int slot_of(const ZeroEngine *z, int u) {
    for (int s = 0; s < 2; s++)
        if (z->pslot_unit[s] == u) return s;
    return -1;
}

static void prefetch(ZeroEngine *z, int u, int busy_unit) {
    if (u < 0 || u >= z->nunits || u == z->embed_unit || slot_of(z, u) >= 0) return;
    int s = z->pslot_unit[0] == busy_unit ? 1 : 0;
    wait_req(z, &z->preq[s]);
    z->pslot_unit[s] = u;
    start_gather(z, u, z->pstage[s], &z->preq[s]);
}

static void ensure_weights(ZeroEngine *z, int u) {
    ZRange ur = z->unit[u];
    if (u == z->embed_unit) {
        if (!z->pembed_ready) {
            start_gather(z, u, z->pembed, &z->pembed_req);
            z->pembed_ready = 1;
        }
        wait_req(z, &z->pembed_req);
        gpt_tensors_rebind(&z->m->p, &z->m->lay, z->pembed, ur.lo, ur.hi);
        return;
    }
    int s = slot_of(z, u);
    if (s < 0) {
        prefetch(z, u, -2);
        s = slot_of(z, u);
    }
    wait_req(z, &z->preq[s]);
    gpt_tensors_rebind(&z->m->p, &z->m->lay, z->pstage[s], ur.lo, ur.hi);
}

static void drop_weights(ZeroEngine *z, int u) {
    if (u == z->embed_unit) {
        z->pembed_ready = 0;
        return;
    }
    int s = slot_of(z, u);
    if (s >= 0) z->pslot_unit[s] = -1;
}

/* ---- the model hook */

static void on_unit(void *ctx, GptHookEvent ev, int gpt_unit) {
    ZeroEngine *z = ctx;
    /* model units: GPT_UNIT_EMBED, layers 0..nl-1, nl = head; ours: flat order */
    int u = gpt_unit == GPT_UNIT_EMBED ? z->embed_unit
          : z->embed_unit >= 0 ? gpt_unit + 1 : gpt_unit;
    int has_embed = z->embed_unit >= 0, has_head = z->head_unit >= 0;
    switch (ev) {
    case GPT_PRE_FORWARD:
        if (z->stage == 3) {
            ensure_weights(z, u);
            prefetch(z, u + 1, u);
        }
        break;
    case GPT_POST_FORWARD:
        if (z->stage == 3) {
            if (u != z->embed_unit) drop_weights(z, u);
            /* the tied embedding is used again by the head's logits */
            if ((u == z->head_unit && has_embed) || (u == z->embed_unit && !has_head))
                drop_weights(z, z->embed_unit);
        }
        break;
    case GPT_PRE_BACKWARD:
        if (z->stage == 3) {
            if (u == z->nunits - 1 && has_embed) ensure_weights(z, z->embed_unit);
            ensure_weights(z, u);
            prefetch(z, u - 1, u);
        }
        if (z->stage >= 2) {
            /* the first unit of the backward: the embedding's staging buffer
             * must be ready, since the head writes the tied wte's gradient */
            if (u == z->nunits - 1 && has_embed && u != z->embed_unit)
                stage_bucket(z, z->unit_bucket[z->embed_unit]);
            int k = z->unit_bucket[u];
            if (u == z->bucket[k].last_unit && u != z->embed_unit) stage_bucket(z, k);
        }
        break;
    case GPT_POST_BACKWARD: {
        if (z->stage == 3) drop_weights(z, u);
        int k = z->unit_bucket[u];
        if (u == z->bucket[k].first_unit && (z->last_micro || z->stage >= 2))
            start_reduction(z, &z->bucket[k]);
        poll_buckets(z);
        break;
    }
    }
}

/* ---- set-up */

/* Units (flat order: [embed] layers [head], each a contiguous range) and
 * gradient buckets (backward order, the embedding alone) of a layout, and the
 * staging sizes they imply. No communication; `plan` uses it too. */
static void plan_units(ZeroEngine *z, const GptLayout *lay, size_t bucket_floats) {
    int nl = lay->layer_end - lay->layer_begin;
    /* units in flat order: [embed] layers [head], each a contiguous range; a
     * last pipeline stage without the embedding keeps its tied wte copy in
     * the head unit */
    z->nunits = nl + lay->has_embed + lay->has_head;
    z->unit = ls_calloc((size_t)z->nunits, sizeof(ZRange), "ZeRO units");
    z->embed_unit = lay->has_embed ? 0 : -1;
    z->head_unit = lay->has_head ? z->nunits - 1 : -1;
    for (int u = 0; u < z->nunits; u++) z->unit[u].lo = (size_t)-1;
    for (int i = 0; i < lay->ntensors; i++) {
        const GptTensor *t = &lay->tensors[i];
        int u = t->layer >= 0 ? t->layer - lay->layer_begin + lay->has_embed
              : t->kind == T_WPE || (t->kind == T_WTE && lay->has_embed) ? z->embed_unit
                                                                        : z->head_unit;
        size_t end = t->offset + (size_t)t->rows * t->cols;
        if (t->offset < z->unit[u].lo) z->unit[u].lo = t->offset;
        if (end > z->unit[u].hi) z->unit[u].hi = end;
    }

    /* buckets in backward order; the embedding alone */
    z->bucket = ls_calloc((size_t)z->nunits, sizeof(ZBucket), "ZeRO buckets");
    z->unit_bucket = ls_calloc((size_t)z->nunits, sizeof(int), "ZeRO buckets");
    for (int u = z->nunits - 1; u >= 0; u--) {
        ZBucket *cur = z->nbuckets ? &z->bucket[z->nbuckets - 1] : NULL;
        int fresh = !cur || u == z->embed_unit || cur->first_unit == z->embed_unit ||
                    cur->r.hi - cur->r.lo >= bucket_floats;
        if (fresh) {
            cur = &z->bucket[z->nbuckets++];
            cur->last_unit = u;
            cur->r.hi = z->unit[u].hi;
        }
        cur->first_unit = u;
        cur->r.lo = z->unit[u].lo;
        z->unit_bucket[u] = (int)(cur - z->bucket);
    }
    for (int k = 0; k < z->nbuckets; k++) {
        size_t len = z->bucket[k].r.hi - z->bucket[k].r.lo;
        if (z->bucket[k].first_unit != z->embed_unit && len > z->gstage_len) z->gstage_len = len;
    }
    for (int u = 0; u < z->nunits; u++) {
        size_t len = z->unit[u].hi - z->unit[u].lo;
        if (u != z->embed_unit && len > z->pstage_len) z->pstage_len = len;
    }

}

void zero_init(ZeroEngine *z, Gpt *m, LsComm *dp, int stage, size_t bucket_floats) {
    memset(z, 0, sizeof *z);
    if (stage < 0 || stage > 3) ls_fatal("--zero %d: the ZeRO stage must be 0, 1, 2 or 3", stage);
    z->m = m;
    z->dp = dp;
    z->stage = stage;
    z->W = dp->size;
    z->rank = dp->rank;
    const GptLayout *lay = &m->lay;
    z->n = lay->total;
    z->S = zero_shard_len(z->n, z->W);
    ZRange mine = piece(z, 0, z->n, z->rank);
    z->lo = mine.hi > mine.lo ? mine.lo : z->n;
    z->hi = mine.hi > mine.lo ? mine.hi : z->n;
    z->counts = ls_calloc((size_t)z->W, sizeof(int), "ZeRO counts");
    z->displs = ls_calloc((size_t)z->W, sizeof(int), "ZeRO displacements");

    plan_units(z, lay, bucket_floats);
    for (int k = 0; k < z->nbuckets; k++)
        if (z->bucket[k].r.hi - z->bucket[k].r.lo > (size_t)1 << 30)
            ls_fatal("a ZeRO bucket of %zu floats is too large for MPI counts",
                     z->bucket[k].r.hi - z->bucket[k].r.lo);

    size_t slice = z->S; /* every rank allocates S (the last slice's tail is padding) */
    if (stage >= 1) z->gshard = ls_calloc(slice, sizeof(float), "gradient slice");
    if (stage >= 2) {
        z->gtmp = ls_calloc(slice, sizeof(float), "gradient receive slice");
        for (int s = 0; s < 2; s++) z->gstage[s] = ls_calloc(z->gstage_len, sizeof(float), "gradient staging");
        if (lay->has_embed) {
            ZRange e = z->unit[z->embed_unit];
            z->gembed = ls_calloc(e.hi - e.lo, sizeof(float), "embedding gradient staging");
        }
    }
    if (stage == 3) {
        z->pshard = ls_calloc(slice, sizeof(float), "parameter slice");
        for (int s = 0; s < 2; s++) z->pstage[s] = ls_calloc(z->pstage_len, sizeof(float), "weight staging");
        z->pslot_unit[0] = z->pslot_unit[1] = -1;
        if (lay->has_embed) {
            ZRange e = z->unit[z->embed_unit];
            z->pembed = ls_calloc(e.hi - e.lo, sizeof(float), "embedding weight staging");
        }
    }
    if ((stage >= 2 && m->grads) || (stage == 3 && m->params) || (stage < 2 && !m->grads))
        ls_fatal("internal: model buffers do not match ZeRO stage %d", stage);
    m->hook = on_unit;
    m->hook_ctx = z;
}

void zero_free(ZeroEngine *z) {
    if (z->m) z->m->hook = NULL;
    ls_free(z->counts);
    ls_free(z->displs);
    ls_free(z->unit);
    ls_free(z->bucket);
    ls_free(z->unit_bucket);
    ls_free(z->gshard);
    ls_free(z->gtmp);
    ls_free(z->pshard);
    ls_free(z->gembed);
    ls_free(z->pembed);
    for (int s = 0; s < 2; s++) {
        ls_free(z->gstage[s]);
        ls_free(z->pstage[s]);
    }
    memset(z, 0, sizeof *z);
}

size_t zero_optimizer_len(const ZeroEngine *z) { return z->stage == 0 ? z->n : z->S; }

/* ---- the step */

void zero_begin_step(ZeroEngine *z) {
    z->wait_s = 0;
    if (!z->grads_zero) gpt_zero_grad(z->m);
    z->grads_zero = 0;
    if (z->gshard) memset(z->gshard, 0, sizeof(float) * (z->hi - z->lo));
}

void zero_begin_micro(ZeroEngine *z, int last_micro) { z->last_micro = last_micro; }

void zero_reduce_now(ZeroEngine *z) {
    if (z->stage >= 2) ls_fatal("internal: zero_reduce_now with ZeRO stage %d", z->stage);
    for (int k = 0; k < z->nbuckets; k++) start_reduction(z, &z->bucket[k]);
    zero_end_backward(z);
}

void zero_end_backward(ZeroEngine *z) {
    for (int k = 0; k < z->nbuckets; k++) retire(z, &z->bucket[k]);
}

double zero_grad_sq_sum(ZeroEngine *z, LsComm *tp) {
    const float *g = z->stage == 0 ? z->m->grads : z->gshard;
    size_t lo = z->stage == 0 ? 0 : z->lo, hi = z->stage == 0 ? z->n : z->hi;
    double sharded, replicated;
    tp_grad_sq_parts(&z->m->lay, g, lo, hi, &sharded, &replicated);
    /* stage 0: every dp rank holds the whole reduced gradient already */
    if (z->stage > 0) {
        sharded = ls_comm_allreduce_sum_double(z->dp, sharded);
        replicated = ls_comm_allreduce_sum_double(z->dp, replicated);
    }
    /* tensor-parallel shards add up; replicated tensors count once */
    return ls_comm_allreduce_sum_double(tp, sharded) + replicated;
}

ZeroSlice zero_update_slice(ZeroEngine *z) {
    ZeroSlice s;
    if (z->stage == 0) {
        s.lo = 0, s.hi = z->n, s.params = z->m->params, s.grads = z->m->grads;
    } else {
        s.lo = z->lo, s.hi = z->hi, s.grads = z->gshard;
        s.params = z->stage == 3 ? z->pshard : z->m->params + z->lo;
    }
    return s;
}

void zero_end_step(ZeroEngine *z) {
    if (z->stage != 1 && z->stage != 2) return;
    /* every rank updated its slice in place in the full buffer: gather them */
    LsRequest req;
    double t0 = ls_now_s();
    pieces(z, 0, z->n);
    ls_comm_iallgatherv(z->dp, z->m->params, z->counts, z->displs, &req);
    z->wait_s += ls_now_s() - t0;
    wait_req(z, &req);
}

/* ---- full buffers for init / load / save */

float *zero_params_full(ZeroEngine *z, int gather) {
    if (z->stage < 3) return z->m->params;
    z->full = ls_calloc(z->n, sizeof(float), "full parameters (ZeRO-3 init/save)");
    if (gather) zero_gather_slices(z, z->pshard, z->full);
    z->m->params = z->full;
    gpt_tensors_rebind(&z->m->p, &z->m->lay, z->full, 0, z->n);
    return z->full;
}

void zero_params_release(ZeroEngine *z, int scatter) {
    if (z->stage < 3) return;
    if (scatter) zero_take_slice(z, z->full, z->pshard);
    ls_free(z->full);
    z->full = NULL;
    z->m->params = NULL;
}

void zero_gather_slices(ZeroEngine *z, const float *slice, float *full) {
    if (z->stage == 0) {
        if (full != slice) memcpy(full, slice, sizeof(float) * z->n);
        return;
    }
    memcpy(full + z->lo, slice, sizeof(float) * (z->hi - z->lo));
    LsRequest req;
    pieces(z, 0, z->n);
    ls_comm_iallgatherv(z->dp, full, z->counts, z->displs, &req);
    wait_req(z, &req);
}

void zero_take_slice(const ZeroEngine *z, const float *full, float *slice) {
    if (z->stage == 0) {
        if (full != slice) memcpy(slice, full, sizeof(float) * z->n);
        return;
    }
    memcpy(slice, full + z->lo, sizeof(float) * (z->hi - z->lo));
}

/* ---- memory */

/* Floats of communication staging a stage allocates (see zero_init). */
static double staging_floats(const ZeroEngine *z) {
    double S = (double)z->S, e = z->embed_unit >= 0 ? (double)(z->unit[0].hi - z->unit[0].lo) : 0;
    double f = 0;
    if (z->stage == 1) f += S;                            /* reduce-scatter receive slice */
    if (z->stage >= 2) f += S + 2.0 * z->gstage_len + e;  /* receive slice, gradient staging */
    if (z->stage == 3) f += 2.0 * z->pstage_len + e;      /* gathered weights */
    return f;
}

void zero_memory(const ZeroEngine *z, ZeroMemory *meas) {
    double n = (double)z->n, S = (double)z->S;
    meas->params = 4.0 * (z->stage == 3 ? S : n);
    meas->grads = 4.0 * (z->stage < 2 ? n : S);
    meas->optimizer = 8.0 * (z->stage == 0 ? n : S);
    meas->buffers = 4.0 * staging_floats(z);
    meas->window = (double)ls_comm_buffer_bytes(z->dp);
}

double zero_staging_bytes(const GptLayout *lay, int stage, int dp, size_t bucket_floats) {
    ZeroEngine z;
    memset(&z, 0, sizeof z);
    z.stage = stage;
    z.n = lay->total;
    z.S = zero_shard_len(z.n, dp);
    plan_units(&z, lay, bucket_floats);
    double bytes = 4.0 * staging_floats(&z);
    ls_free(z.unit);
    ls_free(z.bucket);
    ls_free(z.unit_bucket);
    return bytes;
}
