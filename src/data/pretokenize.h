/* pretokenize.h - GPT-2's pre-splitting of text into "words", by hand.
 *
 * GPT-2 cuts text with the regex
 *     's|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+
 * and BPE merges never cross the pieces. ls_pretoken_len reproduces the regex's
 * leftmost-first matching at one position, alternative by alternative:
 *   1. the ASCII contractions 's 't 're 've 'm 'll 'd (case-sensitive);
 *   2. an optional ' ' (U+0020 only) then a maximal run of letters;
 *   3. an optional ' ' then a maximal run of numbers;
 *   4. an optional ' ' then a maximal run of "other" characters (neither
 *      whitespace, letter nor number);
 *   5. a whitespace run that is not followed by a non-space: the maximal run
 *      if it reaches the end of the text, else the run minus its last
 *      character (regex backtracking), if that leaves at least one character;
 *   6. otherwise the maximal whitespace run.
 * So "Hello  world" -> "Hello", " ", " world"; "it's" -> "it", "'s".
 * Character classes come from utf8_class.h (all of Unicode; invalid UTF-8
 * bytes count as "other", one byte each). */
#ifndef LS_PRETOKENIZE_H
#define LS_PRETOKENIZE_H
#include <stddef.h>
#include <stdint.h>

/* Length in bytes of the pre-token starting at s[0], for the text s[0..n),
 * n >= 1. The result depends on at most one character after the pre-token. */
size_t ls_pretoken_len(const uint8_t *s, size_t n);

/* Streaming pre-tokenizer over text that arrives in chunks (a document read
 * from a file 1 MiB at a time). Pre-tokens are delivered to `emit` only when
 * the text after them is known, so chunk boundaries never change the split;
 * the unfinished tail is carried over. A single pre-token longer than
 * LS_PRETOK_MAX_CARRY bytes (a megabyte of letters without a space) is cut
 * there: memory stays bounded, and the split differs from GPT-2's only for
 * such pathological input. */
#define LS_PRETOK_MAX_CARRY (1u << 20)

typedef void (*LsPretokEmit)(void *ctx, const uint8_t *word, size_t n);

typedef struct {
    uint8_t *carry; /* LS_PRETOK_MAX_CARRY + chunk bytes while feeding */
    size_t ncarry, cap;
    LsPretokEmit emit;
    void *ctx;
} LsPretokStream;

void ls_pretok_stream_init(LsPretokStream *ps, LsPretokEmit emit, void *ctx);
/* Feed the next n bytes of the current document. */
void ls_pretok_stream_feed(LsPretokStream *ps, const uint8_t *text, size_t n);
/* End of document: flush the remaining pre-tokens. */
void ls_pretok_stream_end(LsPretokStream *ps);
void ls_pretok_stream_free(LsPretokStream *ps);

/* Split a complete text (one document in memory) and emit every pre-token. */
void ls_pretokenize(const uint8_t *s, size_t n, LsPretokEmit emit, void *ctx);

#endif
