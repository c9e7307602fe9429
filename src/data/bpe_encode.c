/* bpe_encode.c - see bpe_encode.h. */
#include "bpe_encode.h"

#include <string.h>

#include "../core/error.h"
#include "hash.h"
#include "pretokenize.h"

static size_t pow2_at_least(size_t n) {
    size_t c = 16;
    while (c < n) c <<= 1;
    return c;
}


/* rank of merge (l, r) or -1 */
static inline int64_t merge_rank(const LsBpe *b, uint32_t l, uint32_t r) {
    uint32_t key = (l << 16 | r) + 1; /* ids < 65536; +1 keeps 0 free for "empty" */
    for (size_t h = ls_mix32(key) & b->mmask;; h = (h + 1) & b->mmask) {
        if (b->mkey[h] == key) return b->mrank[h];
        if (b->mkey[h] == 0) return -1;
    }
}

void ls_bpe_init(LsBpe *b, const LsTokenizer *tk) {
    memset(b, 0, sizeof *b);
    b->tk = tk;
    if (tk->vocab_size > 65536)
        ls_fatal("tokenizer has %d tokens; token shards store uint16 ids, so at most 65536",
                 tk->vocab_size);
    if (!ls_tokenizer_can_encode(tk))
        ls_fatal("this tokenizer (vocab %d) has no merge list, so it can decode but not encode "
                 "(llm.c's gpt2_tokenizer.bin is such a table: use --tokenizer gpt2:DIR with "
                 "GPT-2's encoder.json and vocab.bpe instead)", tk->vocab_size);
    b->identity = !tk->has_merges;
    size_t cap = pow2_at_least(2 * (size_t)tk->nmerges + 2);
    b->mmask = cap - 1;
    b->mkey = ls_calloc(cap, sizeof(uint32_t), "merge table");
    b->mrank = ls_calloc(cap, sizeof(uint32_t), "merge table");
    for (int i = 0; i < tk->nmerges; i++) {
        uint32_t key = (tk->merges[3 * i] << 16 | tk->merges[3 * i + 1]) + 1;
        size_t h = ls_mix32(key) & b->mmask;
        while (b->mkey[h] != 0 && b->mkey[h] != key) h = (h + 1) & b->mmask;
        /* a repeated pair takes its LAST rank, as GPT-2's dict(zip(merges, ranks)) does */
        b->mkey[h] = key;
        b->mrank[h] = (uint32_t)i;
    }
    b->cmask = pow2_at_least(2 * LS_BPE_CACHE_ENTRIES) - 1;
    b->chash = ls_calloc(b->cmask + 1, sizeof(uint64_t), "word cache");
    b->coff = ls_calloc(b->cmask + 1, sizeof(uint32_t), "word cache");
    b->cdata_cap = (size_t)LS_BPE_CACHE_ENTRIES * 24;
    b->cdata = ls_calloc(b->cdata_cap, 1, "word cache");
}

void ls_bpe_free(LsBpe *b) {
    ls_free(b->mkey);
    ls_free(b->mrank);
    ls_free(b->chash);
    ls_free(b->coff);
    ls_free(b->cdata);
    ls_free(b->sym);
    ls_free(b->next);
    ls_free(b->prev);
    ls_free(b->heap);
    memset(b, 0, sizeof *b);
}

/* ---- the merge loop on one word ---- */
static void heap_push(uint64_t *h, size_t *n, uint64_t v) {
    size_t i = (*n)++;
    while (i > 0) {
        size_t p = (i - 1) / 2;
        if (h[p] <= v) break;
        h[i] = h[p];
        i = p;
    }
    h[i] = v;
}

static uint64_t heap_pop(uint64_t *h, size_t *n) {
    uint64_t top = h[0], v = h[--(*n)];
    size_t i = 0;
    for (;;) {
        size_t c = 2 * i + 1;
        if (c >= *n) break;
        if (c + 1 < *n && h[c + 1] < h[c]) c++;
        if (v <= h[c]) break;
        h[i] = h[c];
        i = c;
    }
    if (*n > 0) h[i] = v;
    return top;
}

static void ensure_scratch(LsBpe *b, size_t n) {
    if (n <= b->scap) return;
    size_t cap = pow2_at_least(n);
    ls_free(b->sym), ls_free(b->next), ls_free(b->prev), ls_free(b->heap);
    b->sym = ls_calloc(cap, sizeof(int32_t), "BPE word");
    b->next = ls_calloc(cap, sizeof(int32_t), "BPE word");
    b->prev = ls_calloc(cap, sizeof(int32_t), "BPE word");
    b->heap = ls_calloc(3 * cap, sizeof(uint64_t), "BPE word");
    b->scap = cap;
}

/* push the pair starting at symbol i, if it has a rank */
static inline void push_pair(LsBpe *b, size_t *nh, int32_t i) {
    if (i < 0 || b->next[i] < 0) return;
    int64_t r = merge_rank(b, (uint32_t)b->sym[i], (uint32_t)b->sym[b->next[i]]);
    if (r >= 0) heap_push(b->heap, nh, (uint64_t)r << 32 | (uint32_t)i);
}

static size_t bpe_word(LsBpe *b, const uint8_t *w, size_t n, int32_t *out) {
    const LsTokenizer *tk = b->tk;
    ensure_scratch(b, n);
    int32_t *sym = b->sym, *next = b->next, *prev = b->prev;
    for (size_t i = 0; i < n; i++) {
        sym[i] = tk->byte_id[w[i]];
        next[i] = i + 1 < n ? (int32_t)(i + 1) : -1;
        prev[i] = (int32_t)i - 1;
    }
    size_t nh = 0;
    for (size_t i = 0; i + 1 < n; i++) push_pair(b, &nh, (int32_t)i);
    /* positions merged in the current round (reuse `out` as scratch: the
     * word has n symbols, so at most n/2 merges per round) */
    while (nh > 0) {
        uint32_t rank = (uint32_t)(b->heap[0] >> 32);
        uint32_t l = tk->merges[3 * rank], r = tk->merges[3 * rank + 1], x = tk->merges[3 * rank + 2];
        size_t nm = 0;
        /* every candidate of this rank, in position order */
        while (nh > 0 && (uint32_t)(b->heap[0] >> 32) == rank) {
            int32_t i = (int32_t)(uint32_t)heap_pop(b->heap, &nh);
            int32_t j = next[i];
            /* stale: i was absorbed (sym -1), its right neighbour changed, or it changed */
            if (sym[i] != (int32_t)l || j < 0 || sym[j] != (int32_t)r) continue;
            sym[i] = (int32_t)x;
            sym[j] = -1;
            next[i] = next[j];
            if (next[j] >= 0) prev[next[j]] = i;
            out[nm++] = i;
        }
        for (size_t k = 0; k < nm; k++) {
            push_pair(b, &nh, prev[out[k]]);
            push_pair(b, &nh, out[k]);
        }
    }
    size_t m = 0;
    for (int32_t i = 0; i >= 0; i = next[i]) out[m++] = sym[i];
    return m;
}

/* ---- the word cache ---- */
static void cache_clear(LsBpe *b) {
    memset(b->chash, 0, (b->cmask + 1) * sizeof(uint64_t));
    b->centries = 0;
    b->cdata_used = 0;
}

size_t ls_bpe_encode_word(LsBpe *b, const uint8_t *w, size_t n, int32_t *out) {
    if (n == 0) return 0;
    if (b->identity) {
        for (size_t i = 0; i < n; i++) out[i] = w[i];
        return n;
    }
    if (n == 1) {
        out[0] = b->tk->byte_id[w[0]];
        return 1;
    }
    b->words++;
    if (n > LS_BPE_CACHE_WORD) return bpe_word(b, w, n, out);
    uint64_t h = ls_hash_bytes(w, n);
    size_t slot = h & b->cmask;
    for (; b->chash[slot] != 0; slot = (slot + 1) & b->cmask) {
        if (b->chash[slot] != h) continue;
        const uint8_t *e = b->cdata + b->coff[slot];
        if (e[0] != n || memcmp(e + 2, w, n) != 0) continue;
        size_t m = e[1];
        const uint8_t *ids = e + 2 + n;
        for (size_t k = 0; k < m; k++) {
            uint16_t v;
            memcpy(&v, ids + 2 * k, 2);
            out[k] = v;
        }
        b->hits++;
        return m;
    }
    size_t m = bpe_word(b, w, n, out);
    size_t need = 2 + n + 2 * m;
    if (b->centries >= LS_BPE_CACHE_ENTRIES || b->cdata_used + need > b->cdata_cap) {
        cache_clear(b);
        for (slot = h & b->cmask; b->chash[slot] != 0; slot = (slot + 1) & b->cmask) {}
    }
    uint8_t *e = b->cdata + b->cdata_used;
    e[0] = (uint8_t)n;
    e[1] = (uint8_t)m;
    memcpy(e + 2, w, n);
    for (size_t k = 0; k < m; k++) {
        uint16_t v = (uint16_t)out[k];
        memcpy(e + 2 + n + 2 * k, &v, 2);
    }
    b->chash[slot] = h;
    b->coff[slot] = (uint32_t)b->cdata_used;
    b->cdata_used += need;
    b->centries++;
    return m;
}

size_t ls_bpe_encode(LsBpe *b, const uint8_t *text, size_t n, int32_t *out) {
    if (b->identity) return ls_bpe_encode_word(b, text, n, out);
    size_t i = 0, m = 0;
    while (i < n) {
        size_t k = ls_pretoken_len(text + i, n - i);
        m += ls_bpe_encode_word(b, text + i, k, out + m);
        i += k;
    }
    return m;
}
