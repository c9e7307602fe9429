/* fuzz_gpt2.c - the reader of GPT-2's own tokenizer files
 * (src/data/gpt2_vocab.c, `--tokenizer gpt2:DIR`): encoder.json (token ->
 * id, JSON) and vocab.bpe (the merge list, one "LEFT RIGHT" per line). The
 * input is encoder.json, a NUL byte, then vocab.bpe. An accepted pair must
 * BPE-encode a sample text and decode it back (src/data/bpe_encode.c).
 * Seeds: a complete small vocabulary (the 256 bytes in GPT-2's alphabet, a
 * few merges, <|endoftext|>), with and without the "#version" line. */
#include <stdlib.h>
#include <string.h>

#include "core/fileio.h"
#include "data/gpt2_vocab.h"
#include "data/json.h"
#include "fuzz_common.h"

static char g_dir[4096], g_enc[4096], g_bpe[4096];

void fuzz_setup(void) {
    fuzz_path(g_dir, "gpt2");
    snprintf(g_enc, sizeof g_enc, "%s/encoder.json", g_dir);
    snprintf(g_bpe, sizeof g_bpe, "%s/vocab.bpe", g_dir);
    ls_mkdirs(g_dir);
}

/* GPT-2's alphabet spelling of bytes s[0..n) as UTF-8, appended to b */
static void spell(LsBuf *b, const char *s, size_t n) {
    for (size_t i = 0; i < n; i++) {
        unsigned cp = ls_gpt2_byte_to_unicode((unsigned char)s[i]);
        ls_buf_reserve(b, 2);
        if (cp < 0x80) b->p[b->n++] = (uint8_t)cp;
        else b->p[b->n++] = (uint8_t)(0xC0 | cp >> 6), b->p[b->n++] = (uint8_t)(0x80 | (cp & 0x3F));
    }
}

static void put(LsBuf *b, const char *s) {
    size_t n = strlen(s);
    ls_buf_reserve(b, n);
    memcpy(b->p + b->n, s, n);
    b->n += n;
}

void fuzz_seeds(const char *dir) {
    /* merges: " t" "he" " the" "qu" ... each result must be a token too */
    static const char *merges[][2] = {{" ", "t"}, {"h", "e"}, {" t", "he"}, {"q", "u"},
                                      {"o", "x"}, {" f", "ox"}, {" ", "f"}, {"e", "\n"}};
    LsBuf b = {0};
    char num[32];
    put(&b, "{");
    int id = 0;
    for (int c = 0; c < 256; c++) {
        char ch = (char)c;
        put(&b, c ? ", \"" : "\"");
        if (ch == '"' || ch == '\\') put(&b, "\\");
        spell(&b, &ch, 1);
        snprintf(num, sizeof num, "\": %d", id++);
        put(&b, num);
    }
    for (int k = 0; k < 8; k++) {
        char joined[16];
        snprintf(joined, sizeof joined, "%s%s", merges[k][0], merges[k][1]);
        put(&b, ", \"");
        spell(&b, joined, strlen(joined));
        snprintf(num, sizeof num, "\": %d", id++);
        put(&b, num);
    }
    snprintf(num, sizeof num, ", \"<|endoftext|>\": %d}", id++);
    put(&b, num);
    ls_buf_reserve(&b, 1);
    b.p[b.n++] = 0;
    size_t json_end = b.n;
    for (int v = 0; v < 2; v++) {
        b.n = json_end;
        if (v == 0) put(&b, "#version: 0.2\n");
        for (int k = 0; k < 8; k++) {
            spell(&b, merges[k][0], strlen(merges[k][0]));
            put(&b, " ");
            spell(&b, merges[k][1], strlen(merges[k][1]));
            put(&b, v ? "\r\n" : "\n");
        }
        fuzz_write_seed(dir, v ? "no_version_crlf" : "with_version", b.p, b.n);
    }
    ls_buf_free(&b);
}

void fuzz_one(const uint8_t *data, size_t size) {
    const uint8_t *nul = memchr(data, 0, size);
    size_t nj = nul ? (size_t)(nul - data) : size;
    fuzz_write(g_enc, data, nj);
    fuzz_write(g_bpe, nul ? nul + 1 : data + size, nul ? size - nj - 1 : 0);
    LsTokenizer tk;
    if (setjmp(fuzz_trap.env) == 0) {
        ls_trap_arm(&fuzz_trap);
        ls_gpt2_load(&tk, g_dir);
        ls_trap_disarm();
        fuzz_accepted();
    } else {
        fuzz_rejected();
        return;
    }
    fuzz_bpe_roundtrip(&tk);
    ls_tokenizer_free(&tk);
    }
