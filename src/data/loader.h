/* loader.h - token shards read as one stream, and the deterministic batch loader.
 *
 * SHARD SET. A spec names the shards:
 *   - a directory: DIR/ *<role>*.bin (role "train" or "val"), sorted by name;
 *   - one shard file;
 *   - a glob(3) pattern ("data/train_*.bin"), sorted by name.
 * The tokens of the shards, in that order, form ONE virtual stream of N tokens
 * with global indices 0..N-1 (shard k covers [start[k], start[k+1])).
 *
 * LOADER. The trainer numbers sequences with a global counter s that is never
 * reset (step `step` of a run with G sequences per global batch asks for
 * s = step*G + j, j = 0..G-1), so which tokens a sequence holds depends only on
 * (data, T, shuffle, seed, s) - not on the layout, the rank, or a resume.
 *
 *   shuffle off: sequence s is
 *       x[t] = stream[(s*T + t)     mod N],  t = 0..T-1
 *       y[t] = stream[(s*T + t + 1) mod N]
 *     i.e. consecutive windows that wrap around at the end. Needs N >= T+1.
 *
 *   shuffle on: the stream is cut into W = floor((N-1)/T) windows; window w
 *     covers x = stream[w*T, w*T+T), y = stream[w*T+1, w*T+T+1) (never wraps;
 *     the last N-1-W*T tokens are unused). Epoch e = s / W uses permutation
 *     perm_e of 0..W-1 built by Fisher-Yates with LsRng seeded by
 *         seed ^ (e * 0x9E3779B97F4A7C15)     (uint64 wrap-around multiply)
 *     as: perm[i] = i; for i = W-1 down to 1: j = ls_rng_below(rng, i+1),
 *     swap(perm[i], perm[j]). Sequence s reads window perm_e[s mod W].
 *     Needs W >= 1, i.e. N >= T+1.
 *
 * EPOCHS AND COVERAGE (what tests/test_tokenizer.c checks, for dp = 1, 2, 4):
 *   shuffle on:  epoch e is sequences [e*W, (e+1)*W); its windows are a
 *     permutation of 0..W-1, so each of the first W*T tokens of the stream is
 *     an input token exactly once per epoch (and a target once, shifted by
 *     one); the (N-1) mod T tail tokens, fewer than T, are never inputs, as
 *     in llm.c's loader.
 *   shuffle off: the inputs of sequences 0, 1, 2, ... are the stream repeated
 *     cyclically, so any N consecutive input tokens (epoch e = tokens
 *     [e*N, (e+1)*N) of that sequence) hold every token exactly once.
 *   Ranks: sequence s goes to exactly one (step, micro-batch, rank) by the
 *   trainer's formula (trainer.h), so the ranks' sequences of a step are
 *   disjoint and together are the one-process step's sequences in order.
 *   Resume: the loader has no hidden state (the permutation is a cache of a
 *   pure function of (seed, e)), so the checkpoint's next sequence index and
 *   seed reproduce the exact next sample; the checkpoint also records N and
 *   the epoch so that resuming on different data is an error.
 *
 * Token ids are uint16 in the files and int32 in x/y. */
#ifndef LS_LOADER_H
#define LS_LOADER_H
#include <stddef.h>
#include <stdint.h>

#include "shard.h"

typedef struct {
    int nshards;
    LsShard *shards;
    uint64_t *start; /* nshards+1 prefix sums: shard k holds stream[start[k], start[k+1]) */
    uint64_t ntokens;
    const char *spec; /* owned copy, for messages */
} LsShardSet;

/* Open the shards named by `spec` (see above); `role` picks files in a
 * directory and may be NULL for a file or a pattern. Fatal if none. */
void ls_shardset_open(LsShardSet *set, const char *spec, const char *role);
void ls_shardset_close(LsShardSet *set);
/* out[i] = stream[(pos + i) mod N] for i in [0, n). */
void ls_shardset_read(const LsShardSet *set, uint64_t pos, size_t n, int32_t *out);

typedef struct LsLoader {
    LsShardSet set;
    int T;
    int shuffle;
    uint64_t seed;
    uint64_t nwindows;  /* W (shuffle on) */
    uint64_t *perm;     /* perm_e for e = perm_epoch, W entries */
    int64_t perm_epoch; /* -1: none built yet */
    int max_token;      /* largest token id in the data */
} LsLoader;

void ls_loader_init(LsLoader *ld, const char *spec, const char *role, int T, int shuffle,
                    uint64_t seed);
void ls_loader_free(LsLoader *ld);
/* Sequences seq_index .. seq_index+nseq-1 into x and y, each nseq*T ids
 * (row j is sequence seq_index + j). */
void ls_loader_get(LsLoader *ld, uint64_t seq_index, int nseq, int32_t *x, int32_t *y);
int ls_loader_max_token(const LsLoader *ld);
/* Epoch of sequence s: s / W with shuffle, floor(s*T / N) without. */
uint64_t ls_loader_epoch(const LsLoader *ld, uint64_t s);
uint64_t ls_loader_ntokens(const LsLoader *ld);

#endif
