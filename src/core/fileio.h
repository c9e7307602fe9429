/* fileio.h - checked file input/output.
 *
 * Readers never trust a file: every read states how many bytes it needs and
 * fails with a message naming the file and what was missing. Writers are
 * atomic: data goes to "<path>.tmp.<pid>", is fsync'ed, then rename()d over
 * the destination, so a crash leaves either the old file or the new one,
 * never a half-written one. */
#ifndef LS_FILEIO_H
#define LS_FILEIO_H
#include <stdint.h>
#include <stdio.h>

/* fopen or fatal: "cannot open <what> '<path>': <strerror>" */
FILE *ls_fopen(const char *path, const char *mode, const char *what);
/* Read exactly n bytes or fatal: "<what> '<path>' is truncated ..." */
void ls_fread_exact(void *dst, size_t n, FILE *f, const char *path, const char *what);
/* Size of a regular file in bytes, or -1 if it does not exist / is not a file. */
int64_t ls_file_size(const char *path);
int ls_is_dir(const char *path);
/* mkdir -p; fatal on failure. */
void ls_mkdirs(const char *path);

/* Atomic writer. */
typedef struct {
    FILE *f;
    char path[4096];
    char tmp[4200];
    uint32_t crc; /* CRC-32 of everything written so far */
    uint64_t bytes;
} LsAtomicFile;
void ls_atomic_open(LsAtomicFile *af, const char *path);
void ls_atomic_write(LsAtomicFile *af, const void *data, size_t n);
/* flush + fsync + close + rename; fatal on any failure (the temp file is removed). */
void ls_atomic_commit(LsAtomicFile *af);

/* CRC-32 (IEEE 802.3, as zlib) continued from `crc` (start with 0). */
uint32_t ls_crc32(uint32_t crc, const void *data, size_t n);

#endif
