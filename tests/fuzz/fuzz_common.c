/* fuzz_common.c - see fuzz_common.h. */
#include "fuzz_common.h"

#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "core/error.h"
#include "data/bpe_encode.h"

LsErrorTrap fuzz_trap;
static char g_dir[4096];
static int g_lowest_fd; /* the fd an open() got before this input */

/* Every fclose in the program (linked with -Wl,--wrap=fclose) forgets the file
 * in the armed trap, so readers keep calling plain fclose. */
int __real_fclose(FILE *f);
int __wrap_fclose(FILE *f) {
    ls_trap_forget_file(f);
    return __real_fclose(f);
}

void fuzz_fail(const char *fmt, ...) {
    va_list ap;
    fputs("FUZZ FINDING: ", stderr);
    va_start(ap, fmt);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    fputc('\n', stderr);
    abort();
}

static void remove_dir(void) {
    if (!g_dir[0]) return;
    char cmd[4200];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", g_dir);
    if (system(cmd) != 0) fprintf(stderr, "fuzz: could not remove %s\n", g_dir);
}

const char *fuzz_dir(void) {
    if (!g_dir[0]) {
        const char *t = getenv("TMPDIR");
        snprintf(g_dir, sizeof g_dir, "%s/llmscale-fuzz.XXXXXX", t && *t ? t : "/tmp");
        if (!mkdtemp(g_dir)) fuzz_fail("cannot create a scratch directory in %s", g_dir);
        atexit(remove_dir);
    }
    return g_dir;
}

char *fuzz_path(char *buf, const char *name) {
    snprintf(buf, 4096, "%s/%s", fuzz_dir(), name);
    return buf;
}

void fuzz_write(const char *path, const void *data, size_t n) {
    FILE *f = fopen(path, "wb");
    if (!f || (n && fwrite(data, 1, n, f) != n) || fclose(f) != 0)
        fuzz_fail("cannot write %s", path);
}

void fuzz_write_seed(const char *dir, const char *name, const void *data, size_t n) {
    char p[4096];
    snprintf(p, sizeof p, "%s/%s", dir, name);
    fuzz_write(p, data, n);
}

uint8_t *fuzz_read(const char *path, size_t *n) {
    FILE *f = fopen(path, "rb");
    if (!f) fuzz_fail("cannot read %s", path);
    fseek(f, 0, SEEK_END);
    long size = ftell(f);
    fseek(f, 0, SEEK_SET);
    uint8_t *b = malloc((size_t)size + 1);
    if (!b || fread(b, 1, (size_t)size, f) != (size_t)size) fuzz_fail("cannot read %s", path);
    fclose(f);
    *n = (size_t)size;
    return b;
}

static void check_line(const char *kind, const char *s) {
    if (!s[0]) fuzz_fail("an input was rejected with an empty %s message", kind);
    if (strchr(s, '\n') || strchr(s, '\r'))
        fuzz_fail("%s message is not one line: \"%s\"", kind, s);
    if (strlen(s) < 12) fuzz_fail("%s message too short to be clear: \"%s\"", kind, s);
}

static int lowest_free_fd(void) {
    int fd = open("/dev/null", O_RDONLY);
    if (fd < 0) fuzz_fail("cannot open /dev/null");
    close(fd);
    return fd;
}

static void check_fds(void) {
    int fd = lowest_free_fd();
    if (fd != g_lowest_fd)
        fuzz_fail("a file descriptor leaked (lowest free fd is %d, was %d)", fd, g_lowest_fd);
}

void fuzz_rejected(void) {
    check_line("error", fuzz_trap.msg);
    if (fuzz_trap.nwarnings) check_line("warning", fuzz_trap.warning);
    if (ls_trap_tracked()) fuzz_fail("the trap left %zu resources tracked", ls_trap_tracked());
    if (getenv("LS_FUZZ_VERBOSE")) fprintf(stderr, "rejected: %s\n", fuzz_trap.msg);
    check_fds();
}

void fuzz_accepted(void) {
    if (fuzz_trap.nwarnings) check_line("warning", fuzz_trap.warning);
    check_fds();
}

/* BPE-encode a sample text with tk's merges (under the trap: ls_bpe_init may
 * refuse the table) and decode it back: byte-level BPE must be lossless. */
void fuzz_bpe_roundtrip(const LsTokenizer *tk) {
    static const char sample[] =
        "Hello world, it's 2024: the quick brown fox\n\tjumps \xc3\xa9t\xc3\xa9 \xff";
    LsBpe bpe;
    int32_t ids[sizeof sample];
    if (setjmp(fuzz_trap.env) != 0) {
        fuzz_rejected();
        return;
    }
    ls_trap_arm(&fuzz_trap);
    ls_bpe_init(&bpe, tk);
    size_t n = ls_bpe_encode(&bpe, (const uint8_t *)sample, sizeof sample - 1, ids);
    ls_trap_disarm();
    char back[sizeof sample * 2];
    size_t o = 0;
    for (size_t i = 0; i < n; i++) {
        int len;
        const char *s = ls_tokenizer_decode(tk, ids[i], &len);
        if (!s || o + (size_t)len > sizeof back) fuzz_fail("BPE produced id %d", ids[i]);
        memcpy(back + o, s, (size_t)len);
        o += (size_t)len;
    }
    if (o != sizeof sample - 1 || memcmp(back, sample, o) != 0)
        fuzz_fail("BPE encoding with the loaded merges does not decode back to the text");
    ls_bpe_free(&bpe);
    fuzz_accepted();
}

int LLVMFuzzerInitialize(int *argc, char ***argv) {
    (void)argc, (void)argv;
    ls_set_quiet(1);
    /* the `info` printers write to stdout; libFuzzer reports on stderr */
    if (!freopen("/dev/null", "w", stdout)) fuzz_fail("cannot redirect stdout");
    const char *seeds = getenv("LS_FUZZ_SEEDS");
    if (seeds && *seeds) {
        fuzz_seeds(seeds);
        exit(0);
    }
    fuzz_setup();
    return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    g_lowest_fd = lowest_free_fd();
    fuzz_one(data, size);
    check_fds();
    return 0;
}
