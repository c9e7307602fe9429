/* shard.c - see shard.h. */
#include "shard.h"

#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "../core/error.h"
#include "../core/error_trap.h"
#include "../core/fileio.h"

void ls_shard_write(const char *path, const uint16_t *tok, size_t n) {
    if (n > INT32_MAX)
        ls_fatal("shard '%s' would hold %zu tokens; the format's count is int32 (use smaller "
                 "shards)", path, n);
    int32_t header[256] = {0};
    header[0] = LS_SHARD_MAGIC;
    header[1] = LS_SHARD_VERSION;
    header[2] = (int32_t)n;
    LsAtomicFile af;
    ls_atomic_open(&af, path);
    ls_atomic_write(&af, header, sizeof header);
    ls_atomic_write(&af, tok, n * sizeof(uint16_t));
    ls_atomic_commit(&af);
}

void ls_shard_open(LsShard *sh, const char *path) {
    memset(sh, 0, sizeof *sh);
    /* the header is read and checked before the file is mapped, and the file
     * descriptor closed before any error, so an error holds nothing (which the
     * fuzzers' error trap relies on: src/core/error_trap.h) */
    int fd = open(path, O_RDONLY);
    if (fd < 0) {
        if (errno == ENOENT)
            ls_fatal("token shard '%s' does not exist (run llmscale prepare to make shards)", path);
        ls_fatal("cannot open token shard '%s': %s", path, strerror(errno));
    }
    struct stat st;
    int stat_ok = fstat(fd, &st) == 0, e = errno;
    size_t size = stat_ok ? (size_t)st.st_size : 0;
    int regular = stat_ok && S_ISREG(st.st_mode);
    int32_t header[3] = {0};
    int read_ok = regular && size >= LS_SHARD_HEADER_BYTES &&
                  pread(fd, header, sizeof header, 0) == (ssize_t)sizeof header;
    if (!read_ok) e = errno;
    size_t n = header[2] < 0 ? 0 : (size_t)header[2];
    size_t want = LS_SHARD_HEADER_BYTES + 2 * n;
    int valid = read_ok && header[0] == LS_SHARD_MAGIC && header[1] == LS_SHARD_VERSION &&
                header[2] >= 2 && size == want;
    void *map = valid ? mmap(NULL, size, PROT_READ, MAP_PRIVATE, fd, 0) : MAP_FAILED;
    if (valid && map == MAP_FAILED) e = errno;
    close(fd); /* a mapping keeps the file alive */

    if (!stat_ok) ls_fatal("cannot stat token shard '%s': %s", path, strerror(e));
    if (S_ISDIR(st.st_mode)) ls_fatal("token shard '%s' is a directory, not a file", path);
    if (!regular) ls_fatal("token shard '%s' is not a regular file", path);
    if (size < LS_SHARD_HEADER_BYTES)
        ls_fatal("token shard '%s' is truncated: %zu bytes, smaller than the %d-byte header", path,
                 size, LS_SHARD_HEADER_BYTES);
    if (!read_ok) ls_fatal("cannot read token shard '%s': %s", path, strerror(e));
    if (header[0] != LS_SHARD_MAGIC) {
        if (header[0] == 20240326) ls_fatal("'%s' is a model checkpoint, not a token shard", path);
        if (header[0] == 20240328) ls_fatal("'%s' is a tokenizer file, not a token shard", path);
        ls_fatal("'%s' is not a token shard (magic %d, expected %d)", path, header[0],
                 LS_SHARD_MAGIC);
    }
    if (header[1] != LS_SHARD_VERSION)
        ls_fatal("token shard '%s' has unsupported version %d (expected %d)", path, header[1],
                 LS_SHARD_VERSION);
    if (header[2] < 0) ls_fatal("token shard '%s' is corrupt: token count %d", path, header[2]);
    if (size != want)
        ls_fatal("token shard '%s' is %s: header says %zu tokens = %zu bytes, file has %zu bytes",
                 path, size < want ? "truncated" : "corrupt (trailing bytes)", n, want, size);
    if (n < 2)
        ls_fatal("token shard '%s' holds %zu token%s; a shard needs at least 2", path, n,
                 n == 1 ? "" : "s");
    if (map == MAP_FAILED) ls_fatal("cannot map token shard '%s': %s", path, strerror(e));
    if (ls_trap_active) ls_trap_track(map, LS_TRAP_MAP, size);

    char *copy = ls_calloc(strlen(path) + 1, 1, "shard path");
    strcpy(copy, path);
    sh->path = copy;
    sh->map = map;
    sh->map_bytes = size;
    sh->tokens = (const uint16_t *)((const char *)map + LS_SHARD_HEADER_BYTES);
    sh->ntokens = n;
}

void ls_shard_close(LsShard *sh) {
    if (sh->map) {
        if (ls_trap_active) ls_trap_forget(sh->map);
        munmap(sh->map, sh->map_bytes);
    }
    ls_free((void *)sh->path);
    memset(sh, 0, sizeof *sh);
}

void ls_shard_print_info(const char *path) {
    LsShard sh;
    ls_shard_open(&sh, path);
    unsigned lo = 65535, hi = 0;
    for (size_t i = 0; i < sh.ntokens; i++) {
        unsigned t = sh.tokens[i];
        if (t < lo) lo = t;
        if (t > hi) hi = t;
    }
    printf("token shard %s\n", path);
    printf("  format     llm.c shard, magic %d, version %d\n", LS_SHARD_MAGIC, LS_SHARD_VERSION);
    printf("  tokens     %zu (%zu bytes)\n", sh.ntokens, sh.map_bytes);
    printf("  token ids  min %u, max %u (a model needs vocab > %u)\n", lo, hi, hi);
    printf("  first     ");
    size_t show = sh.ntokens < 16 ? sh.ntokens : 16;
    for (size_t i = 0; i < show; i++) printf(" %u", sh.tokens[i]);
    if (show < sh.ntokens) printf(" ...");
    putchar('\n');
    ls_shard_close(&sh);
}
