/* tokenizer.c - see tokenizer.h. */
#include "tokenizer.h"

#include <limits.h>
#include <string.h>

#include "../core/error.h"
#include "../core/fileio.h"

#define HEADER_WORDS 256
#define HEADER_BYTES (HEADER_WORDS * 4)
#define LLMC_V1_EOT 50256

/* Allocate the tables for `vocab` pieces whose lengths total `bytes`; each
 * piece gets a trailing NUL in the blob. */
static void alloc_tables(LsTokenizer *tk, int vocab, size_t bytes) {
    memset(tk, 0, sizeof *tk);
    tk->vocab_size = vocab;
    tk->piece = ls_calloc((size_t)vocab, sizeof(char *), "tokenizer piece table");
    tk->len = ls_calloc((size_t)vocab, 1, "tokenizer length table");
    tk->blob = ls_calloc(bytes + (size_t)vocab, 1, "tokenizer pieces");
}

void ls_tokenizer_alloc(LsTokenizer *tk, int vocab, size_t bytes) {
    alloc_tables(tk, vocab, bytes);
    tk->eot = -1;
    tk->version = 2;
}

void ls_tokenizer_byte_level(LsTokenizer *tk) {
    static const char eot_text[] = "<|endoftext|>";
    size_t eot_len = sizeof eot_text - 1;
    alloc_tables(tk, LS_BYTE_LEVEL_VOCAB, 256 + eot_len);
    tk->eot = LS_BYTE_LEVEL_EOT;
    tk->version = 2;
    char *p = tk->blob;
    for (int i = 0; i < 256; i++) {
        tk->piece[i] = p;
        tk->len[i] = 1;
        p[0] = (char)i;
        p += 2;
    }
    tk->piece[LS_BYTE_LEVEL_EOT] = p;
    tk->len[LS_BYTE_LEVEL_EOT] = (uint8_t)eot_len;
    memcpy(p, eot_text, eot_len);
}

static uint32_t rd_u32(const unsigned char *b) {
    return (uint32_t)b[0] | (uint32_t)b[1] << 8 | (uint32_t)b[2] << 16 | (uint32_t)b[3] << 24;
}

/* The merge section (see tokenizer.h) in b[0..n). */
static void load_merges(LsTokenizer *tk, const unsigned char *b, size_t n, const char *path) {
    if (n < 16 + 1024 + 4 || rd_u32(b) != LS_MERGES_MAGIC)
        ls_fatal("tokenizer '%s' is corrupt: %zu unexpected bytes after the last token", path, n);
    uint32_t version = rd_u32(b + 4), nm = rd_u32(b + 8), pretok = rd_u32(b + 12);
    if (version != LS_MERGES_VERSION)
        ls_fatal("tokenizer '%s' has merge section version %u (this build reads %u)", path,
                 version, LS_MERGES_VERSION);
    if (pretok != LS_PRETOK_GPT2)
        ls_fatal("tokenizer '%s' asks for pre-splitting rule %u (this build knows %u, GPT-2's)",
                 path, pretok, LS_PRETOK_GPT2);
    if (nm > (uint32_t)tk->vocab_size || n != 16 + 1024 + (size_t)nm * 12 + 4)
        ls_fatal("tokenizer '%s' merge section is truncated or corrupt (%u merges, %zu bytes)",
                 path, nm, n);
    uint32_t crc = ls_crc32(0, b, n - 4);
    if (crc != rd_u32(b + n - 4))
        ls_fatal("tokenizer '%s' merge section fails its checksum (stored %08x, computed %08x): "
                 "corrupt", path, rd_u32(b + n - 4), crc);
    uint32_t V = (uint32_t)tk->vocab_size;
    for (int c = 0; c < 256; c++) {
        uint32_t id = rd_u32(b + 16 + 4 * c);
        if (id >= V || tk->len[id] != 1 || (unsigned char)tk->piece[id][0] != c)
            ls_fatal("tokenizer '%s' is corrupt: byte 0x%02x maps to token %u, which is not that "
                     "byte", path, c, id);
        tk->byte_id[c] = (int32_t)id;
    }
    tk->merges = ls_calloc((size_t)nm * 3 + 1, sizeof(uint32_t), "merge list");
    for (uint32_t i = 0; i < nm; i++) {
        const unsigned char *m = b + 16 + 1024 + (size_t)i * 12;
        uint32_t l = rd_u32(m), r = rd_u32(m + 4), x = rd_u32(m + 8);
        if (l >= V || r >= V || x >= V || (unsigned)tk->len[l] + tk->len[r] != tk->len[x] ||
            memcmp(tk->piece[x], tk->piece[l], tk->len[l]) != 0 ||
            memcmp(tk->piece[x] + tk->len[l], tk->piece[r], tk->len[r]) != 0)
            ls_fatal("tokenizer '%s' is corrupt: merge %u (%u + %u -> %u) does not join the two "
                     "pieces", path, i, l, r, x);
        tk->merges[3 * i] = l, tk->merges[3 * i + 1] = r, tk->merges[3 * i + 2] = x;
    }
    tk->nmerges = (int)nm;
    tk->has_merges = 1;
}

void ls_tokenizer_load(LsTokenizer *tk, const char *path) {
    memset(tk, 0, sizeof *tk);
    int64_t size = ls_file_size(path);
    if (size < 0) {
        if (ls_is_dir(path)) ls_fatal("tokenizer '%s' is a directory, not a file", path);
        ls_fatal("tokenizer file '%s' does not exist (run llmscale prepare to make one)", path);
    }
    if (size < HEADER_BYTES)
        ls_fatal("tokenizer '%s' is truncated: %lld bytes, smaller than the %d-byte header", path,
                 (long long)size, HEADER_BYTES);

    /* Read the whole file: at most 2^20 pieces of <= 256 bytes. */
    FILE *f = ls_fopen(path, "rb", "tokenizer");
    unsigned char *buf = ls_calloc((size_t)size, 1, "tokenizer file");
    ls_fread_exact(buf, (size_t)size, f, path, "tokenizer");
    fclose(f);

    uint32_t magic = rd_u32(buf), version = rd_u32(buf + 4), vocab = rd_u32(buf + 8);
    if (magic != LS_TOKENIZER_MAGIC) {
        if (magic == 20240520) ls_fatal("'%s' is a token shard, not a tokenizer file", path);
        if (magic == 20240326) ls_fatal("'%s' is a model checkpoint, not a tokenizer file", path);
        ls_fatal("'%s' is not a tokenizer file (magic %u, expected %d)", path, magic,
                 LS_TOKENIZER_MAGIC);
    }
    if (version != 1 && version != 2)
        ls_fatal("tokenizer '%s' has unsupported version %u (expected 1 or 2)", path, version);
    if (vocab < 1 || vocab > LS_TOKENIZER_MAX_VOCAB)
        ls_fatal("tokenizer '%s' has vocab size %u, outside [1, %d] (corrupt file?)", path, vocab,
                 LS_TOKENIZER_MAX_VOCAB);
    /* Version 1 (GPT-2's first export) has no EOT field; llm.c assumes 50256. */
    int64_t eot = version == 2 ? (int64_t)rd_u32(buf + 12) : LLMC_V1_EOT;
    if (version == 2 && eot >= vocab)
        ls_fatal("tokenizer '%s' names EOT token %lld but has only %u tokens", path,
                 (long long)eot, vocab);
    if (version == 1 && eot >= vocab) eot = -1;

    /* First pass: check every length byte and that the pieces fit. */
    size_t pos = HEADER_BYTES, total = 0;
    for (uint32_t i = 0; i < vocab; i++) {
        if (pos >= (size_t)size)
            ls_fatal("tokenizer '%s' is truncated: it ends before token %u of %u", path, i, vocab);
        unsigned n = buf[pos];
        if (n == 0) ls_fatal("tokenizer '%s' is corrupt: token %u has length 0", path, i);
        if ((size_t)size - pos - 1 < n)
            ls_fatal("tokenizer '%s' is truncated: token %u needs %u bytes, file has %zu left",
                     path, i, n, (size_t)size - pos - 1);
        pos += 1 + n;
        total += n;
    }

    alloc_tables(tk, (int)vocab, total);
    tk->eot = (int)eot;
    tk->version = (int)version;
    char *p = tk->blob;
    pos = HEADER_BYTES;
    for (uint32_t i = 0; i < vocab; i++) {
        unsigned n = buf[pos];
        tk->len[i] = (uint8_t)n;
        tk->piece[i] = p;
        memcpy(p, buf + pos + 1, n);
        p += n + 1;
        pos += 1 + n;
    }
    if (pos < (size_t)size) load_merges(tk, buf + pos, (size_t)size - pos, path);
    ls_free(buf);
}

void ls_tokenizer_save(const LsTokenizer *tk, const char *path) {
    uint32_t header[HEADER_WORDS] = {0};
    header[0] = LS_TOKENIZER_MAGIC;
    header[1] = 2;
    header[2] = (uint32_t)tk->vocab_size;
    header[3] = (uint32_t)tk->eot;
    LsAtomicFile af;
    ls_atomic_open(&af, path);
    ls_atomic_write(&af, header, sizeof header);
    for (int i = 0; i < tk->vocab_size; i++) {
        uint8_t n = tk->len[i];
        ls_atomic_write(&af, &n, 1);
        ls_atomic_write(&af, tk->piece[i], n);
    }
    if (tk->has_merges) {
        uint32_t head[4] = {LS_MERGES_MAGIC, LS_MERGES_VERSION,
                                           (uint32_t)tk->nmerges, LS_PRETOK_GPT2};
        uint32_t ids[256];
        for (int c = 0; c < 256; c++) ids[c] = (uint32_t)tk->byte_id[c];
        /* the section's CRC: restart the running CRC at the section start */
        af.crc = 0;
        ls_atomic_write(&af, head, sizeof head);
        ls_atomic_write(&af, ids, sizeof ids);
        ls_atomic_write(&af, tk->merges, (size_t)tk->nmerges * 12);
        uint32_t crc = af.crc;
        ls_atomic_write(&af, &crc, 4);
    }
    ls_atomic_commit(&af);
}

void ls_tokenizer_free(LsTokenizer *tk) {
    ls_free(tk->piece);
    ls_free(tk->len);
    ls_free(tk->blob);
    ls_free(tk->merges);
    memset(tk, 0, sizeof *tk);
}

const char *ls_tokenizer_decode(const LsTokenizer *tk, int id, int *len) {
    if (id < 0 || id >= tk->vocab_size) {
        if (len) *len = 0;
        return NULL;
    }
    if (len) *len = tk->len[id];
    return tk->piece[id];
}

int ls_tokenizer_can_encode(const LsTokenizer *tk) {
    return tk->has_merges || ls_tokenizer_is_byte_level(tk);
}

int ls_tokenizer_is_byte_level(const LsTokenizer *tk) {
    if (tk->vocab_size < 256) return 0;
    for (int i = 0; i < 256; i++)
        if (tk->len[i] != 1 || (unsigned char)tk->piece[i][0] != i) return 0;
    return 1;
}

int ls_tokenizer_encode_bytes(const LsTokenizer *tk, const char *text, size_t n, int32_t *out) {
    if (!ls_tokenizer_is_byte_level(tk))
        ls_fatal("this tokenizer is not byte-level (vocab %d); encode with bpe_encode.h",
                 tk->vocab_size);
    if (n > INT_MAX) ls_fatal("cannot encode %zu bytes in one call (at most %d)", n, INT_MAX);
    const unsigned char *b = (const unsigned char *)text;
    for (size_t i = 0; i < n; i++) out[i] = b[i];
    return (int)n;
}

void ls_print_piece(const char *s, int n) {
    putchar('"');
    for (int i = 0; i < n; i++) {
        unsigned char c = (unsigned char)s[i];
        if (c == '"' || c == '\\') printf("\\%c", c);
        else if (c == '\n') fputs("\\n", stdout);
        else if (c == '\t') fputs("\\t", stdout);
        else if (c >= 0x20 && c < 0x7f) putchar(c);
        else printf("\\x%02x", c);
    }
    putchar('"');
}

void ls_tokenizer_print_info(const char *path) {
    LsTokenizer tk;
    ls_tokenizer_load(&tk, path);
    int byte_level = ls_tokenizer_is_byte_level(&tk);
    size_t total = 0;
    int longest = 0;
    for (int i = 0; i < tk.vocab_size; i++) {
        total += tk.len[i];
        if (tk.len[i] > tk.len[longest]) longest = i;
    }
    printf("tokenizer %s\n", path);
    printf("  format      llm.c tokenizer, magic %d, version %d\n", LS_TOKENIZER_MAGIC,
           tk.version);
    printf("  vocab size  %d\n", tk.vocab_size);
    if (tk.eot >= 0) {
        printf("  eot         %d ", tk.eot);
        ls_print_piece(tk.piece[tk.eot], tk.len[tk.eot]);
        putchar('\n');
    } else {
        printf("  eot         none\n");
    }
    if (tk.has_merges)
        printf("  kind        byte-level BPE, %d merges, GPT-2 pre-splitting%s\n", tk.nmerges,
               byte_level ? "" : " (GPT-2 byte order)");
    else
        printf("  kind        %s\n", byte_level ? "byte-level (ids 0..255 are the bytes)"
                                                : "BPE table without merges (decode only)");
    printf("  piece bytes %zu total, longest is token %d (%d bytes)\n", total, longest,
           tk.len[longest]);
    /* Examples: a few printable ASCII bytes, then the tail of the vocabulary
     * where merged pieces (if any) live. */
    int cand[8] = {'A', 'a', ' ', '\n'}, ids[8], n = 0;
    for (int k = 0; k < 4; k++) cand[4 + k] = tk.vocab_size - 4 + k;
    for (int k = 0; k < 8; k++) {
        int dup = cand[k] < 0 || cand[k] >= tk.vocab_size;
        for (int j = 0; j < n; j++) dup |= ids[j] == cand[k];
        if (!dup) ids[n++] = cand[k];
    }
    printf("  examples   ");
    for (int k = 0; k < n; k++) {
        printf(" %d=", ids[k]);
        ls_print_piece(tk.piece[ids[k]], tk.len[ids[k]]);
    }
    putchar('\n');
    ls_tokenizer_free(&tk);
}
