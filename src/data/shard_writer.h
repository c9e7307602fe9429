/* shard_writer.h - token shards written as a stream, published all at once.
 *
 * Tokens of two splits (0 = train, 1 = val) arrive in order; each split is cut
 * into shards DIR/<split>_NNNNNN.bin of at most `cap` tokens (llm.c format,
 * shard.h), whose token counts are only known at the end: each shard is
 * written to "<name>.tmp.<pid>" with a placeholder header that is filled in
 * when the shard is closed. No shard holds a single token (readers reject
 * those): the writer keeps one token back, and if a split's last shard would
 * get only that token, the previous shard gives it its last token.
 *
 * Nothing is visible under the final names until ls_shard_writer_commit
 * renames every file (shards and any extra file registered, such as the
 * tokenizer) and removes stale shards of an earlier, larger run. If the
 * process exits before that (an error, SIGINT, SIGTERM, SIGHUP), the
 * temporary files are deleted (only SIGKILL can leave them), so
 * an interrupted prepare never leaves output that looks complete. Memory: one
 * open file per split. */
#ifndef LS_SHARD_WRITER_H
#define LS_SHARD_WRITER_H
#include <stdint.h>
#include <stdio.h>

typedef struct {
    FILE *f;
    char path[4096];
    uint64_t count;   /* tokens in the open shard */
    uint16_t last;    /* its last token */
    int has_held;
    uint16_t held;    /* the token kept back */
    uint64_t tokens;  /* all tokens of the split, held one included */
    uint64_t nshards;
} LsSplitOut;

typedef struct {
    const char *dir;
    uint64_t cap;
    LsSplitOut s[2];
} LsShardWriter;

void ls_shard_writer_init(LsShardWriter *w, const char *dir, uint64_t cap);
void ls_shard_writer_put(LsShardWriter *w, int split, const uint16_t *tok, size_t n);
/* Close both splits (fatal if train has < 2 tokens, or val has 1). */
void ls_shard_writer_close(LsShardWriter *w);
/* Register a finished temporary file to be renamed to `final` at commit. */
void ls_pending_add(const char *tmp, const char *final);
/* Rename everything registered; remove stale <split>_NNNNNN.bin beyond the new ones. */
void ls_shard_writer_commit(LsShardWriter *w);

#endif
