/* shard.h - one file of training tokens, in llm.c's token shard format.
 *
 * File format (little-endian):
 *     int32 header[256]
 *         header[0] = 20240520   magic
 *         header[1] = 1          version
 *         header[2] = ntokens    (>= 2 for a readable shard)
 *         rest      = 0
 *     uint16 tokens[ntokens]
 * so the file is exactly 1024 + 2*ntokens bytes. Token ids are < 65536.
 *
 * Readers memory-map the file read-only: opening a multi-GB shard costs
 * nothing until its pages are touched, and all ranks on a node share the
 * page cache. */
#ifndef LS_SHARD_H
#define LS_SHARD_H
#include <stddef.h>
#include <stdint.h>

#define LS_SHARD_MAGIC 20240520
#define LS_SHARD_VERSION 1
#define LS_SHARD_HEADER_BYTES 1024

typedef struct {
    const char *path;       /* owned copy */
    void *map;              /* the whole file, PROT_READ */
    size_t map_bytes;
    const uint16_t *tokens; /* map + 1024 bytes */
    size_t ntokens;
} LsShard;

/* Write n tokens to `path` atomically. Fatal if n does not fit the int32 count. */
void ls_shard_write(const char *path, const uint16_t *tok, size_t n);
/* Map and validate a shard; a missing, truncated or foreign file is a
 * one-line fatal error naming it. */
void ls_shard_open(LsShard *sh, const char *path);
void ls_shard_close(LsShard *sh);

/* `llmscale info` for a shard: token count, min/max id, first tokens. */
void ls_shard_print_info(const char *path);

#endif
