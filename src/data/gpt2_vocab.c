/* gpt2_vocab.c - see gpt2_vocab.h. */
#include "gpt2_vocab.h"

#include <stdlib.h>
#include <string.h>

#include "../core/error.h"
#include "../core/fileio.h"
#include "hash.h"
#include "json.h"

unsigned ls_gpt2_byte_to_unicode(unsigned b) {
    int printable = (b >= '!' && b <= '~') || (b >= 0xA1 && b <= 0xAC) || (b >= 0xAE && b <= 0xFF);
    if (printable) return b;
    unsigned n = 0; /* rank of b among the non-printable bytes */
    for (unsigned c = 0; c < b; c++)
        n += !((c >= '!' && c <= '~') || (c >= 0xA1 && c <= 0xAC) || (c >= 0xAE && c <= 0xFF));
    return 256 + n;
}

/* GPT-2 alphabet (UTF-8) -> bytes; 0 if some character is not in it */
static int unmap(const uint8_t *s, size_t n, LsBuf *out, const int16_t *inv) {
    out->n = 0;
    for (size_t i = 0; i < n;) {
        uint32_t cp;
        if (s[i] < 0x80) cp = s[i], i += 1;
        else if ((s[i] & 0xE0) == 0xC0 && i + 1 < n) cp = (uint32_t)(s[i] & 0x1F) << 6 | (s[i + 1] & 0x3F), i += 2;
        else return 0;
        if (cp >= 512 || inv[cp] < 0) return 0;
        ls_buf_reserve(out, 1);
        out->p[out->n++] = (uint8_t)inv[cp];
    }
    return 1;
}

static char *read_all(const char *path, size_t *n) {
    int64_t size = ls_file_size(path);
    if (size < 0) ls_fatal("GPT-2 tokenizer file '%s' does not exist", path);
    FILE *f = ls_fopen(path, "rb", "GPT-2 tokenizer file");
    char *buf = ls_calloc((size_t)size + 1, 1, "GPT-2 tokenizer file");
    ls_fread_exact(buf, (size_t)size, f, path, "GPT-2 tokenizer file");
    fclose(f);
    *n = (size_t)size;
    return buf;
}

static void pick(char *out, const char *dir, const char *a, const char *b) {
    snprintf(out, 4096, "%s/%s", dir, a);
    if (ls_file_size(out) >= 0) return;
    snprintf(out, 4096, "%s/%s", dir, b);
    if (ls_file_size(out) >= 0) return;
    ls_fatal("gpt2:%s has neither %s nor %s (GPT-2's tokenizer files; see README, 'GPT-2's "
             "tokenizer')", dir, a, b);
}

/* ---- encoder.json -> pieces ---- */
typedef struct {
    const int16_t *inv;
    const char *path;
    LsBuf tmp;
    uint8_t **piece; /* by id */
    uint8_t *plen;
    int maxid, cap, count;
} Enc;

static int on_member(void *ctx, const LsBuf *key, const char *v, const char *ve) {
    Enc *e = ctx;
    char num[32];
    size_t n = (size_t)(ve - v);
    if (n == 0 || n >= sizeof num) ls_fatal("'%s': token id is not an integer", e->path);
    memcpy(num, v, n);
    num[n] = 0;
    char *end;
    long id = strtol(num, &end, 10);
    if (*end || id < 0 || id >= (1 << 20))
        ls_fatal("'%s': token id '%s' is not an integer in [0, 2^20)", e->path, num);
    if (!unmap(key->p, key->n, &e->tmp, e->inv))
        ls_fatal("'%s': token %ld is not written in GPT-2's byte alphabet", e->path, id);
    if (e->tmp.n == 0 || e->tmp.n > 255)
        ls_fatal("'%s': token %ld has %zu bytes (must be 1..255)", e->path, id, e->tmp.n);
    if (id >= e->cap) {
        int cap = e->cap ? e->cap : 1024;
        while (cap <= id) cap *= 2;
        uint8_t **p = ls_calloc((size_t)cap, sizeof(uint8_t *), "GPT-2 vocab");
        uint8_t *l = ls_calloc((size_t)cap, 1, "GPT-2 vocab");
        if (e->cap) memcpy(p, e->piece, (size_t)e->cap * sizeof(uint8_t *)), memcpy(l, e->plen, (size_t)e->cap);
        ls_free(e->piece), ls_free(e->plen);
        e->piece = p, e->plen = l, e->cap = cap;
    }
    if (e->piece[id]) ls_fatal("'%s': token id %ld appears twice", e->path, id);
    e->piece[id] = ls_calloc(e->tmp.n, 1, "GPT-2 vocab");
    memcpy(e->piece[id], e->tmp.p, e->tmp.n);
    e->plen[id] = (uint8_t)e->tmp.n;
    if (id > e->maxid) e->maxid = (int)id;
    e->count++;
    return 0;
}

/* ---- bytes -> id lookup ---- */
typedef struct {
    int32_t *slot;
    size_t mask;
    const LsTokenizer *tk;
} Lookup;

static int lookup(const Lookup *L, const uint8_t *s, size_t n) {
    for (size_t h = ls_hash_bytes(s, n) & L->mask;; h = (h + 1) & L->mask) {
        int id = L->slot[h];
        if (id < 0) return -1;
        if (L->tk->len[id] == n && memcmp(L->tk->piece[id], s, n) == 0) return id;
    }
}

void ls_gpt2_load(LsTokenizer *tk, const char *dir) {
    char epath[4096], mpath[4096];
    if (!ls_is_dir(dir)) ls_fatal("gpt2:%s is not a directory (give the directory holding "
                                  "encoder.json and vocab.bpe)", dir);
    pick(epath, dir, "encoder.json", "vocab.json");
    pick(mpath, dir, "vocab.bpe", "merges.txt");
    int16_t inv[512];
    for (int i = 0; i < 512; i++) inv[i] = -1;
    for (unsigned b = 0; b < 256; b++) inv[ls_gpt2_byte_to_unicode(b)] = (int16_t)b;

    size_t n;
    char *json = read_all(epath, &n);
    Enc e = {inv, epath, {0}, NULL, NULL, -1, 0, 0};
    const char *end = ls_json_object(json, json + n, on_member, &e);
    if (!end || ls_json_ws(end, json + n) != json + n)
        ls_fatal("'%s' is not a JSON object of token -> id", epath);
    ls_free(json);
    if (e.count == 0) ls_fatal("'%s' has no tokens", epath);
    int V = e.maxid + 1;
    size_t total = 0;
    for (int i = 0; i < V; i++) {
        if (!e.piece[i]) ls_fatal("'%s' has no token with id %d (ids must be 0..%d)", epath, i, V - 1);
        total += e.plen[i];
    }
    ls_tokenizer_alloc(tk, V, total);
    char *q = tk->blob;
    for (int i = 0; i < V; i++) {
        tk->piece[i] = q;
        tk->len[i] = e.plen[i];
        memcpy(q, e.piece[i], e.plen[i]);
        q += e.plen[i] + 1;
        ls_free(e.piece[i]);
    }
    ls_free(e.piece);
    ls_free(e.plen);

    Lookup L;
    size_t cap = 16;
    while (cap < 2 * (size_t)V) cap *= 2;
    L.slot = ls_calloc(cap, sizeof(int32_t), "GPT-2 vocab");
    L.mask = cap - 1;
    L.tk = tk;
    for (size_t i = 0; i < cap; i++) L.slot[i] = -1;
    for (int i = 0; i < V; i++) {
        size_t h = ls_hash_bytes((const uint8_t *)tk->piece[i], tk->len[i]) & L.mask;
        while (L.slot[h] >= 0) h = (h + 1) & L.mask;
        L.slot[h] = i;
    }
    for (int c = 0; c < 256; c++) {
        uint8_t byte = (uint8_t)c;
        int id = lookup(&L, &byte, 1);
        if (id < 0) ls_fatal("'%s' has no token for the byte 0x%02x (GPT-2's has all 256)", epath, c);
        tk->byte_id[c] = id;
    }
    static const uint8_t eot[] = "<|endoftext|>";
    tk->eot = lookup(&L, eot, sizeof eot - 1);

    /* vocab.bpe: one merge per line */
    char *text = read_all(mpath, &n);
    size_t cap_m = 1024;
    uint32_t *merges = ls_calloc(cap_m * 3, sizeof(uint32_t), "merge list");
    int nm = 0;
    LsBuf a = {0}, b = {0};
    long line = 0;
    for (char *p = text, *tend = text + n; p < tend;) {
        char *nl = memchr(p, '\n', (size_t)(tend - p));
        char *le = nl ? nl : tend;
        line++;
        char *ls = p;
        p = nl ? nl + 1 : tend;
        if (le > ls && le[-1] == '\r') le--;
        if (le == ls || (line == 1 && le - ls >= 8 && !memcmp(ls, "#version", 8))) continue;
        char *sp = memchr(ls, ' ', (size_t)(le - ls));
        if (!sp || memchr(sp + 1, ' ', (size_t)(le - sp - 1)))
            ls_fatal("'%s' line %ld: expected two tokens separated by one space", mpath, line);
        if (!unmap((uint8_t *)ls, (size_t)(sp - ls), &a, inv) ||
            !unmap((uint8_t *)sp + 1, (size_t)(le - sp - 1), &b, inv) || !a.n || !b.n)
            ls_fatal("'%s' line %ld: not written in GPT-2's byte alphabet", mpath, line);
        int l = lookup(&L, a.p, a.n), r = lookup(&L, b.p, b.n);
        ls_buf_reserve(&a, b.n);
        memcpy(a.p + a.n, b.p, b.n);
        a.n += b.n;
        int x = a.n <= 255 ? lookup(&L, a.p, a.n) : -1;
        if (l < 0 || r < 0 || x < 0)
            ls_fatal("'%s' line %ld: merge of tokens missing from %s", mpath, line, epath);
        if ((size_t)nm == cap_m) {
            uint32_t *m2 = ls_calloc(cap_m * 6, sizeof(uint32_t), "merge list");
            memcpy(m2, merges, cap_m * 3 * sizeof(uint32_t));
            ls_free(merges);
            merges = m2;
            cap_m *= 2;
        }
        merges[3 * nm] = (uint32_t)l, merges[3 * nm + 1] = (uint32_t)r, merges[3 * nm + 2] = (uint32_t)x;
        nm++;
    }
    ls_free(text);
    ls_buf_free(&a);
    ls_buf_free(&b);
    ls_buf_free(&e.tmp);
    ls_free(L.slot);
    tk->merges = merges;
    tk->nmerges = nm;
    tk->has_merges = 1;
}
