/* fileio.c - see fileio.h. */
#define _POSIX_C_SOURCE 200809L
#include "fileio.h"

#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "error.h"
#include "error_trap.h"

FILE *ls_fopen(const char *path, const char *mode, const char *what) {
    FILE *f = fopen(path, mode);
    if (!f) ls_fatal("cannot open %s '%s': %s", what, path, strerror(errno));
    if (ls_trap_active) ls_trap_track(f, LS_TRAP_FILE, 0);
    return f;
}

void ls_fread_exact(void *dst, size_t n, FILE *f, const char *path, const char *what) {
    size_t got = fread(dst, 1, n, f);
    if (got != n)
        ls_fatal("%s '%s' is truncated: needed %zu more bytes, got %zu (re-create the file)", what,
                 path, n, got);
}

int64_t ls_file_size(const char *path) {
    struct stat st;
    if (stat(path, &st) != 0 || !S_ISREG(st.st_mode)) return -1;
    return (int64_t)st.st_size;
}

int ls_is_dir(const char *path) {
    struct stat st;
    return stat(path, &st) == 0 && S_ISDIR(st.st_mode);
}

void ls_mkdirs(const char *path) {
    char buf[4096];
    size_t n = strlen(path);
    if (n == 0 || n >= sizeof buf) ls_fatal("bad directory path '%s'", path);
    memcpy(buf, path, n + 1);
    for (size_t i = 1; i <= n; i++) {
        if (buf[i] == '/' || buf[i] == '\0') {
            char c = buf[i];
            buf[i] = '\0';
            if (mkdir(buf, 0777) != 0 && errno != EEXIST)
                ls_fatal("cannot create directory '%s': %s", buf, strerror(errno));
            buf[i] = c;
        }
    }
    if (!ls_is_dir(path)) ls_fatal("'%s' exists and is not a directory", path);
}

void ls_atomic_open(LsAtomicFile *af, const char *path) {
    memset(af, 0, sizeof *af);
    if (strlen(path) >= sizeof af->path) ls_fatal("path too long: '%s'", path);
    strcpy(af->path, path);
    snprintf(af->tmp, sizeof af->tmp, "%s.tmp.%ld", path, (long)getpid());
    af->f = fopen(af->tmp, "wb");
    if (!af->f) ls_fatal("cannot write '%s': %s", af->tmp, strerror(errno));
}

void ls_atomic_write(LsAtomicFile *af, const void *data, size_t n) {
    if (n == 0) return;
    if (fwrite(data, 1, n, af->f) != n) {
        int e = errno;
        fclose(af->f);
        unlink(af->tmp);
        ls_fatal("write to '%s' failed: %s (disk full?)", af->tmp, strerror(e));
    }
    af->crc = ls_crc32(af->crc, data, n);
    af->bytes += n;
}

void ls_atomic_commit(LsAtomicFile *af) {
    int ok = fflush(af->f) == 0 && fsync(fileno(af->f)) == 0;
    int e = errno;
    ok = (fclose(af->f) == 0) && ok;
    if (!ok || rename(af->tmp, af->path) != 0) {
        if (ok) e = errno;
        unlink(af->tmp);
        ls_fatal("could not finish writing '%s': %s", af->path, strerror(e));
    }
    /* fsync the directory so the rename itself is durable */
    char dir[4096];
    strcpy(dir, af->path);
    char *slash = strrchr(dir, '/');
    if (slash) *slash = '\0'; else strcpy(dir, ".");
    int fd = open(dir, O_RDONLY);
    if (fd >= 0) { fsync(fd); close(fd); }
    af->f = NULL;
}

uint32_t ls_crc32(uint32_t crc, const void *data, size_t n) {
    static uint32_t table[256];
    static int ready = 0;
    if (!ready) {
        for (uint32_t i = 0; i < 256; i++) {
            uint32_t c = i;
            for (int k = 0; k < 8; k++) c = (c & 1) ? 0xEDB88320u ^ (c >> 1) : c >> 1;
            table[i] = c;
        }
        ready = 1;
    }
    const unsigned char *p = data;
    crc = ~crc;
    for (size_t i = 0; i < n; i++) crc = table[(crc ^ p[i]) & 0xFF] ^ (crc >> 8);
    return ~crc;
}
