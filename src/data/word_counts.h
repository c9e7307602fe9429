/* word_counts.h - how often each distinct pre-token ("word") occurs in a
 * corpus: the input of BPE training.
 *
 * Memory is bounded by `max_words` distinct words (about 40 bytes each plus
 * the word's bytes). When an add would exceed it, the table is pruned: words
 * seen fewer than k times are dropped, for k = 2, 4, 8, ... until at most half
 * the table is in use, and later words of those counts are still counted
 * from then on. Pruning is deterministic (it depends only on the input) and
 * is reported; it only ever drops the rarest words, whose pairs rarely reach
 * the top of the merge order. Without pruning the counts are exact. */
#ifndef LS_WORD_COUNTS_H
#define LS_WORD_COUNTS_H
#include <stddef.h>
#include <stdint.h>

typedef struct {
    uint64_t *hash;   /* slot -> hash (0 empty) */
    uint32_t *slot_w; /* slot -> word index */
    size_t mask;
    /* words in insertion order */
    uint64_t *count;
    uint64_t *off;    /* offset of the word's bytes in `bytes` */
    uint32_t *len;
    size_t nwords, cap_words, max_words;
    uint8_t *bytes;
    size_t nbytes, cap_bytes;
    int prunes;       /* how many times the table was pruned */
    uint64_t pruned_below; /* words with count < this were dropped at the last prune */
} LsWordCounts;

void ls_wordcounts_init(LsWordCounts *wc, size_t max_words);
void ls_wordcounts_add(LsWordCounts *wc, const uint8_t *w, size_t n, uint64_t count);
void ls_wordcounts_free(LsWordCounts *wc);
/* approximate bytes in use */
size_t ls_wordcounts_bytes(const LsWordCounts *wc);

#endif
