/* bpe_train.h - training a byte-level BPE tokenizer from word counts.
 *
 * Start: every word is its bytes (tokens 0..255). Repeat vocab_size - 257
 * times: count every adjacent token pair over all words (a pair occurring k
 * times in a word seen c times counts k*c; "aaa" holds the pair (a,a) twice),
 * take the pair with the highest count, make it a new token (id 256, 257,
 * ... in order), and replace its occurrences in every word left to right,
 * non-overlapping ("aaa" -> "aa" "a"). The last id, vocab_size - 1, is
 * <|endoftext|>.
 *
 * Tie-breaking (deterministic): among pairs of equal count, the pair (a, b)
 * with the smallest a, then the smallest b, wins.
 * Pairs whose joined piece would exceed 255 bytes are never merged (llm.c's
 * decode table stores a piece's length in one byte).
 * If the corpus runs out of pairs first, training stops early and the
 * vocabulary is smaller than asked (a warning says so).
 *
 * Cost: pair counts are updated incrementally. An index maps each pair to the
 * words containing it; a merge visits only those words and, at each
 * occurrence, adjusts the counts of the neighbouring pairs it destroys and
 * creates. A max-heap holds (count, pair) entries: a pair whose count grew gets
 * a fresh entry, one whose count shrank is re-queued with its current count
 * when its stale entry reaches the top. No merge ever recounts the corpus. */
#ifndef LS_BPE_TRAIN_H
#define LS_BPE_TRAIN_H

#include "tokenizer.h"
#include "word_counts.h"

#define LS_MIN_VOCAB 257
#define LS_MAX_VOCAB 65536

/* Train on wc; fills tk (byte-level ids, merges, EOT last). Fatal if
 * vocab_size is outside [257, 65536] or wc is empty. */
void ls_bpe_train(const LsWordCounts *wc, int vocab_size, LsTokenizer *tk);

#endif
