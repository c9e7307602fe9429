/* word_counts.c - see word_counts.h. */
#include "word_counts.h"

#include <string.h>

#include "../core/error.h"
#include "hash.h"

static void rehash(LsWordCounts *wc, size_t slots) {
    ls_free(wc->hash);
    ls_free(wc->slot_w);
    wc->hash = ls_calloc(slots, sizeof(uint64_t), "word table");
    wc->slot_w = ls_calloc(slots, sizeof(uint32_t), "word table");
    wc->mask = slots - 1;
    for (size_t w = 0; w < wc->nwords; w++) {
        uint64_t h = ls_hash_bytes(wc->bytes + wc->off[w], wc->len[w]);
        size_t s = h & wc->mask;
        while (wc->hash[s]) s = (s + 1) & wc->mask;
        wc->hash[s] = h;
        wc->slot_w[s] = (uint32_t)w;
    }
}

void ls_wordcounts_init(LsWordCounts *wc, size_t max_words) {
    memset(wc, 0, sizeof *wc);
    if (max_words < 16) max_words = 16;
    wc->max_words = max_words;
    wc->cap_words = 1024;
    wc->count = ls_calloc(wc->cap_words, sizeof(uint64_t), "word table");
    wc->off = ls_calloc(wc->cap_words, sizeof(uint64_t), "word table");
    wc->len = ls_calloc(wc->cap_words, sizeof(uint32_t), "word table");
    wc->cap_bytes = 1 << 16;
    wc->bytes = ls_calloc(wc->cap_bytes, 1, "word table");
    rehash(wc, 2048);
}

/* Drop the rarest words (see word_counts.h) and compact. */
static void prune(LsWordCounts *wc) {
    uint64_t below = 2;
    for (;;) {
        size_t keep = 0;
        for (size_t w = 0; w < wc->nwords; w++) keep += wc->count[w] >= below;
        if (keep <= wc->max_words / 2 || below >= (1ull << 62)) break;
        below *= 2;
    }
    size_t k = 0, nb = 0;
    for (size_t w = 0; w < wc->nwords; w++) {
        if (wc->count[w] < below) continue;
        memmove(wc->bytes + nb, wc->bytes + wc->off[w], wc->len[w]);
        wc->count[k] = wc->count[w];
        wc->len[k] = wc->len[w];
        wc->off[k] = nb;
        nb += wc->len[w];
        k++;
    }
    if (wc->prunes == 0)
        ls_warn("BPE word table reached %zu distinct words: dropping the rarest (this time those "
                "seen fewer than %llu times; raise --bpe-max-words for exact counts)", wc->nwords,
                (unsigned long long)below);
    wc->nwords = k;
    wc->nbytes = nb;
    wc->prunes++;
    wc->pruned_below = below;
    rehash(wc, wc->mask + 1);
}

void ls_wordcounts_add(LsWordCounts *wc, const uint8_t *w, size_t n, uint64_t count) {
    uint64_t h = ls_hash_bytes(w, n);
    size_t s = h & wc->mask;
    for (; wc->hash[s]; s = (s + 1) & wc->mask) {
        if (wc->hash[s] != h) continue;
        uint32_t i = wc->slot_w[s];
        if (wc->len[i] == n && memcmp(wc->bytes + wc->off[i], w, n) == 0) {
            wc->count[i] += count;
            return;
        }
    }
    if (wc->nwords >= wc->max_words) {
        prune(wc);
        ls_wordcounts_add(wc, w, n, count);
        return;
    }
    if (wc->nwords == wc->cap_words) {
        size_t c = 2 * wc->cap_words;
        wc->count = ls_grow(wc->count, wc->nwords, c, sizeof(uint64_t), "word table");
        wc->off = ls_grow(wc->off, wc->nwords, c, sizeof(uint64_t), "word table");
        wc->len = ls_grow(wc->len, wc->nwords, c, sizeof(uint32_t), "word table");
        wc->cap_words = c;
    }
    if (wc->nbytes + n > wc->cap_bytes) {
        size_t c = 2 * wc->cap_bytes;
        while (c < wc->nbytes + n) c *= 2;
        wc->bytes = ls_grow(wc->bytes, wc->nbytes, c, 1, "word table");
        wc->cap_bytes = c;
    }
    size_t i = wc->nwords++;
    memcpy(wc->bytes + wc->nbytes, w, n);
    wc->off[i] = wc->nbytes;
    wc->len[i] = (uint32_t)n;
    wc->count[i] = count;
    wc->nbytes += n;
    wc->hash[s] = h;
    wc->slot_w[s] = (uint32_t)i;
    if (2 * wc->nwords > wc->mask + 1) rehash(wc, 2 * (wc->mask + 1));
}

void ls_wordcounts_free(LsWordCounts *wc) {
    ls_free(wc->hash);
    ls_free(wc->slot_w);
    ls_free(wc->count);
    ls_free(wc->off);
    ls_free(wc->len);
    ls_free(wc->bytes);
    memset(wc, 0, sizeof *wc);
}

size_t ls_wordcounts_bytes(const LsWordCounts *wc) {
    return (wc->mask + 1) * 12 + wc->cap_words * 20 + wc->cap_bytes;
}
