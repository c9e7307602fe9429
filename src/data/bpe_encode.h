/* bpe_encode.h - byte-level BPE encoding with a tokenizer's merge list.
 *
 * Text is cut into pre-tokens (pretokenize.h); each pre-token's bytes become
 * their byte tokens, then merges are applied exactly as GPT-2's `bpe()` does:
 * repeatedly take the adjacent pair with the lowest merge rank present in the
 * word and merge ALL its occurrences left to right (non-overlapping), until no
 * adjacent pair has a rank. Implementation: a doubly linked list of symbols
 * and a min-heap of (rank, position) candidates; each round pops every
 * candidate of the current lowest rank (in position order), applies the still
 * valid ones, then pushes the pairs the merges created - O(n log n) per word
 * instead of GPT-2's O(n^2), with the same result.
 *
 * A cache maps recently seen pre-tokens (<= LS_BPE_CACHE_WORD bytes) to their
 * tokens; it holds at most LS_BPE_CACHE_ENTRIES words and is emptied when
 * full, so its memory is bounded (about 40 MiB at most). */
#ifndef LS_BPE_ENCODE_H
#define LS_BPE_ENCODE_H
#include <stddef.h>
#include <stdint.h>

#include "tokenizer.h"

#define LS_BPE_CACHE_WORD 64
#define LS_BPE_CACHE_ENTRIES (1u << 19)

typedef struct {
    const LsTokenizer *tk;
    int identity;           /* byte-level table without merges: id = byte */
    /* merge lookup: key (left << 16 | right) + 1 -> rank; open addressing */
    uint32_t *mkey, *mrank;
    size_t mmask;
    /* word cache: open addressing over entries */
    uint64_t *chash;        /* 0 = empty */
    uint32_t *coff;         /* offset of the entry in cdata */
    size_t cmask, centries;
    uint8_t *cdata;         /* per entry: uint8 nbytes, uint8 ntok, bytes, uint16 ids */
    size_t cdata_used, cdata_cap;
    /* scratch for one word */
    int32_t *sym, *next, *prev;
    uint64_t *heap;
    size_t scap;
    uint64_t words, hits;   /* statistics */
} LsBpe;

/* Prepare to encode with tk (kept by reference). Fatal if tk cannot encode
 * (a decode-only table) or has more than 65536 tokens. */
void ls_bpe_init(LsBpe *b, const LsTokenizer *tk);
void ls_bpe_free(LsBpe *b);
/* Tokens of ONE pre-token w[0..n) into out (room for n ids); returns count. */
size_t ls_bpe_encode_word(LsBpe *b, const uint8_t *w, size_t n, int32_t *out);
/* Tokens of a whole text (pre-split, then each word); out has room for n
 * ids (a token is at least one byte). Returns the count. */
size_t ls_bpe_encode(LsBpe *b, const uint8_t *text, size_t n, int32_t *out);

#endif
