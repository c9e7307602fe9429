/* bpe_train.c - see bpe_train.h. */
#include "bpe_train.h"

#include <string.h>

#include "../core/error.h"
#include "../core/timer.h"
#include "hash.h"

/* ---- pair table: key (a << 16 | b) -> pair index ---- */
typedef struct {
    uint32_t *w; /* words that contained the pair when it was counted (may repeat / be stale) */
    uint32_t n, cap;
} WordList;

typedef struct {
    uint32_t *slot_key; /* key + 1; 0 empty */
    uint32_t *slot_p;
    size_t mask;
    uint32_t *key;      /* pair index -> key */
    int64_t *count;
    WordList *words;
    uint32_t *touched;  /* merge number that last raised the count (dedupes heap pushes) */
    size_t n, cap;
} Pairs;


static void pairs_rehash(Pairs *P, size_t slots) {
    ls_free(P->slot_key);
    ls_free(P->slot_p);
    P->slot_key = ls_calloc(slots, sizeof(uint32_t), "BPE pair table");
    P->slot_p = ls_calloc(slots, sizeof(uint32_t), "BPE pair table");
    P->mask = slots - 1;
    for (size_t p = 0; p < P->n; p++) {
        size_t s = ls_mix32(P->key[p] + 1) & P->mask;
        while (P->slot_key[s]) s = (s + 1) & P->mask;
        P->slot_key[s] = P->key[p] + 1;
        P->slot_p[s] = (uint32_t)p;
    }
}

/* index of pair key, created with count 0 if absent */
static uint32_t pair_get(Pairs *P, uint32_t key) {
    size_t s = ls_mix32(key + 1) & P->mask;
    for (; P->slot_key[s]; s = (s + 1) & P->mask)
        if (P->slot_key[s] == key + 1) return P->slot_p[s];
    if (P->n == P->cap) {
        size_t c = P->cap ? 2 * P->cap : 1024;
        P->key = ls_grow(P->key, P->n, c, sizeof(uint32_t), "BPE training");
        P->count = ls_grow(P->count, P->n, c, sizeof(int64_t), "BPE training");
        P->words = ls_grow(P->words, P->n, c, sizeof(WordList), "BPE training");
        P->touched = ls_grow(P->touched, P->n, c, sizeof(uint32_t), "BPE training");
        P->cap = c;
    }
    uint32_t p = (uint32_t)P->n++;
    P->key[p] = key;
    P->slot_key[s] = key + 1;
    P->slot_p[s] = p;
    if (2 * P->n > P->mask + 1) pairs_rehash(P, 2 * (P->mask + 1));
    return p;
}

static void list_add(WordList *l, uint32_t w) {
    if (l->n && l->w[l->n - 1] == w) return;
    if (l->n == l->cap) {
        uint32_t c = l->cap ? 2 * l->cap : 4;
        l->w = ls_grow(l->w, l->n, c, sizeof(uint32_t), "BPE training");
        l->cap = c;
    }
    l->w[l->n++] = w;
}

/* ---- max-heap of (count, key): higher count first, then smaller key ---- */
typedef struct {
    int64_t count;
    uint32_t key;
} Entry;

typedef struct {
    Entry *e;
    size_t n, cap;
} Heap;

static inline int above(Entry a, Entry b) {
    return a.count > b.count || (a.count == b.count && a.key < b.key);
}

static void heap_push(Heap *h, int64_t count, uint32_t key) {
    if (h->n == h->cap) {
        size_t c = h->cap ? 2 * h->cap : 4096;
        h->e = ls_grow(h->e, h->n, c, sizeof(Entry), "BPE training");
        h->cap = c;
    }
    Entry v = {count, key};
    size_t i = h->n++;
    while (i > 0) {
        size_t p = (i - 1) / 2;
        if (!above(v, h->e[p])) break;
        h->e[i] = h->e[p];
        i = p;
    }
    h->e[i] = v;
}

static Entry heap_pop(Heap *h) {
    Entry top = h->e[0], v = h->e[--h->n];
    size_t i = 0;
    for (;;) {
        size_t c = 2 * i + 1;
        if (c >= h->n) break;
        if (c + 1 < h->n && above(h->e[c + 1], h->e[c])) c++;
        if (!above(h->e[c], v)) break;
        h->e[i] = h->e[c];
        i = c;
    }
    if (h->n > 0) h->e[i] = v;
    return top;
}

/* ---- training state ---- */
typedef struct {
    Pairs P;
    Heap H;
    uint16_t *sym;     /* all words' symbols, word w at sym[off[w] .. off[w]+len[w]) */
    uint64_t *off;
    uint32_t *len;
    const uint64_t *wcount;
    uint32_t *up;      /* pairs whose count rose during the current merge */
    size_t nup, capup;
    uint32_t merge_no;
} Train;

static inline uint32_t key_of(uint32_t a, uint32_t b) { return a << 16 | b; }

static void dec(Train *t, uint32_t a, uint32_t b, int64_t c) {
    t->P.count[pair_get(&t->P, key_of(a, b))] -= c;
}

static void inc(Train *t, uint32_t a, uint32_t b, int64_t c, uint32_t w) {
    uint32_t p = pair_get(&t->P, key_of(a, b));
    t->P.count[p] += c;
    list_add(&t->P.words[p], w);
    if (t->P.touched[p] != t->merge_no) {
        t->P.touched[p] = t->merge_no;
        if (t->nup == t->capup) {
            size_t cnew = t->capup ? 2 * t->capup : 1024;
            t->up = ls_grow(t->up, t->nup, cnew, sizeof(uint32_t), "BPE training");
            t->capup = cnew;
        }
        t->up[t->nup++] = p;
    }
}

/* Replace (a, b) by x in word w, left to right, updating neighbour pair counts. */
static void merge_word(Train *t, uint32_t w, uint32_t a, uint32_t b, uint32_t x) {
    uint16_t *s = t->sym + t->off[w];
    uint32_t n = t->len[w], k = 0, i = 0;
    int64_t c = (int64_t)t->wcount[w];
    while (i < n) {
        if (i + 1 < n && s[i] == a && s[i + 1] == b) {
            if (k > 0) {
                dec(t, s[k - 1], a, c);
                inc(t, s[k - 1], x, c, w);
            }
            dec(t, a, b, c);
            if (i + 2 < n) {
                dec(t, b, s[i + 2], c);
                inc(t, x, s[i + 2], c, w);
            }
            s[k++] = (uint16_t)x;
            i += 2;
        } else {
            s[k++] = s[i++];
        }
    }
    t->len[w] = k;
}

void ls_bpe_train(const LsWordCounts *wc, int vocab_size, LsTokenizer *tk) {
    if (vocab_size < LS_MIN_VOCAB || vocab_size > LS_MAX_VOCAB)
        ls_fatal("BPE vocab size %d is out of range [%d, %d]: 256 byte tokens + <|endoftext|> at "
                 "least, and token ids must fit uint16", vocab_size, LS_MIN_VOCAB, LS_MAX_VOCAB);
    if (wc->nwords == 0) ls_fatal("BPE training got no text (all documents are empty)");
    if (wc->nwords > UINT32_MAX) ls_fatal("too many distinct words for BPE training");
    double t0 = ls_now_s();
    int want = vocab_size - LS_MIN_VOCAB;

    Train t;
    memset(&t, 0, sizeof t);
    size_t W = wc->nwords;
    t.wcount = wc->count;
    t.off = ls_calloc(W, sizeof(uint64_t), "BPE words");
    t.len = ls_calloc(W, sizeof(uint32_t), "BPE words");
    t.sym = ls_calloc(wc->nbytes + 1, sizeof(uint16_t), "BPE words");
    for (size_t w = 0; w < W; w++) {
        t.off[w] = wc->off[w];
        t.len[w] = wc->len[w];
        for (uint32_t i = 0; i < wc->len[w]; i++) t.sym[wc->off[w] + i] = wc->bytes[wc->off[w] + i];
    }
    pairs_rehash(&t.P, 4096);
    /* initial counts; t.up collects every pair once */
    t.merge_no = 1;
    for (size_t w = 0; w < W; w++) {
        const uint16_t *s = t.sym + t.off[w];
        for (uint32_t i = 0; i + 1 < t.len[w]; i++) inc(&t, s[i], s[i + 1], (int64_t)wc->count[w], (uint32_t)w);
    }
    for (size_t k = 0; k < t.nup; k++) heap_push(&t.H, t.P.count[t.up[k]], t.P.key[t.up[k]]);
    t.nup = 0;

    /* piece lengths and the merges */
    uint16_t plen[LS_MAX_VOCAB];
    for (int i = 0; i < 256; i++) plen[i] = 1;
    uint32_t *merges = ls_calloc((size_t)want * 3 + 3, sizeof(uint32_t), "merge list");
    int nm = 0;
    uint32_t *todo = NULL;
    size_t captodo = 0;
    while (nm < want && t.H.n > 0) {
        Entry e = heap_pop(&t.H);
        uint32_t p = pair_get(&t.P, e.key);
        int64_t cur = t.P.count[p];
        if (cur != e.count) {
            /* stale: re-queue a shrunk count; a grown one has a newer entry already */
            if (cur < e.count && cur > 0) heap_push(&t.H, cur, e.key);
            continue;
        }
        if (cur <= 0) continue;
        uint32_t a = e.key >> 16, b = e.key & 0xFFFF, x = 256u + (uint32_t)nm;
        if (plen[a] + plen[b] > 255) continue; /* never mergeable: drop for good */
        plen[x] = (uint16_t)(plen[a] + plen[b]);
        merges[3 * nm] = a, merges[3 * nm + 1] = b, merges[3 * nm + 2] = x;
        nm++;
        t.merge_no++;
        /* the word list of (a, b) is not appended to while merging (no merge
         * creates (a, b) again), but other lists may be reallocated: copy it */
        WordList *l = &t.P.words[p];
        if (l->n > captodo) {
            ls_free(todo);
            captodo = l->n;
            todo = ls_calloc(captodo, sizeof(uint32_t), "BPE words");
        }
        uint32_t nt = l->n;
        memcpy(todo, l->w, (size_t)nt * sizeof(uint32_t));
        ls_free(l->w);
        memset(l, 0, sizeof *l);
        for (uint32_t k = 0; k < nt; k++) merge_word(&t, todo[k], a, b, x);
        t.P.count[p] = 0; /* every occurrence was merged or destroyed */
        for (size_t k = 0; k < t.nup; k++) {
            uint32_t q = t.up[k];
            if (t.P.count[q] > 0) heap_push(&t.H, t.P.count[q], t.P.key[q]);
        }
        t.nup = 0;
    }
    if (nm < want)
        ls_warn("the corpus has only enough distinct pairs for %d merges: the vocabulary is %d "
                "tokens, not %d", nm, 257 + nm, vocab_size);

    /* the table: bytes, merged pieces, <|endoftext|> last */
    static const char eot_text[] = "<|endoftext|>";
    int V = 257 + nm;
    size_t total = 256 + sizeof eot_text;
    for (int i = 0; i < nm; i++) total += plen[256 + i];
    ls_tokenizer_alloc(tk, V, total);
    char *q = tk->blob;
    for (int i = 0; i < V; i++) {
        tk->piece[i] = q;
        if (i < 256) {
            q[0] = (char)i;
            tk->len[i] = 1;
        } else if (i < V - 1) {
            uint32_t a = merges[3 * (i - 256)], b = merges[3 * (i - 256) + 1];
            memcpy(q, tk->piece[a], tk->len[a]);
            memcpy(q + tk->len[a], tk->piece[b], tk->len[b]);
            tk->len[i] = (uint8_t)(tk->len[a] + tk->len[b]);
        } else {
            memcpy(q, eot_text, sizeof eot_text - 1);
            tk->len[i] = sizeof eot_text - 1;
        }
        q += tk->len[i] + 1;
    }
    tk->eot = V - 1;
    tk->has_merges = 1;
    tk->nmerges = nm;
    tk->merges = merges;
    for (int c = 0; c < 256; c++) tk->byte_id[c] = c;
    ls_info("trained BPE: %d merges on %zu distinct words in %.3f s (vocab %d, eot %d)", nm, W,
            ls_now_s() - t0, V, tk->eot);

    for (size_t p = 0; p < t.P.n; p++) ls_free(t.P.words[p].w);
    ls_free(t.P.words);
    ls_free(t.P.key);
    ls_free(t.P.count);
    ls_free(t.P.touched);
    ls_free(t.P.slot_key);
    ls_free(t.P.slot_p);
    ls_free(t.H.e);
    ls_free(t.up);
    ls_free(todo);
    ls_free(t.sym);
    ls_free(t.off);
    ls_free(t.len);
}
