/* test_tokenizer.c - property tests of the BPE tokenizer (seeded, repeatable):
 *   - decode(encode(x)) == x for random byte strings: arbitrary bytes
 *     (invalid UTF-8, NUL), random UTF-8 text, and very long lines (1 MiB
 *     without a space; 300 KiB of one letter), with a tokenizer trained here
 *     and with the byte-level one; every id < vocab;
 *   - the streaming pre-splitter gives the same words as the whole-text one
 *     for any chunking (random chunk sizes down to 1 byte);
 *   - the encoding equals BPE of each pre-token on its own (the cache and
 *     the heap-based merge loop agree with a simple O(n^2) GPT-2 loop);
 *   - save + load keeps the merges and the encodings.
 * Prints "N passed, N failed". */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "core/error.h"
#include "core/rng.h"
#include "data/bpe_encode.h"
#include "data/bpe_train.h"
#include "data/pretokenize.h"
#include "data/word_counts.h"

#include "check.h"

static LsRng g_rng;

/* random text of one of four kinds */
static size_t random_text(uint8_t *buf, size_t max, int kind) {
    static const char *pal[] = {"the", " the", "a", "b", " ", "  ", "\n", "\t", "'s", "'ll", "12",
                                "3", ",", ".", "!!", "\xc3\xa9", "\xe4\xb8\xad", "\xf0\x9f\x98\x80",
                                "\xe3\x80\x80", "aa", "ab", "ba"};
    size_t n = 1 + ls_rng_below(&g_rng, max - 8);
    size_t i = 0;
    if (kind == 0) { /* arbitrary bytes: NUL, invalid UTF-8, truncated sequences */
        for (; i < n; i++) buf[i] = (uint8_t)ls_rng_below(&g_rng, 256);
    } else if (kind == 1) { /* pieces of text */
        while (i < n) {
            const char *p = pal[ls_rng_below(&g_rng, sizeof pal / sizeof *pal)];
            size_t k = strlen(p);
            if (i + k > n) break;
            memcpy(buf + i, p, k), i += k;
        }
    } else if (kind == 2) { /* one very long word of random letters */
        for (; i < n; i++) buf[i] = (uint8_t)('a' + ls_rng_below(&g_rng, 3));
    } else { /* one letter repeated: the longest runs of one pair */
        memset(buf, 'a', n), i = n;
    }
    return i;
}

/* ---- a tokenizer trained on random text ---- */
static void count(void *ctx, const uint8_t *w, size_t n) { ls_wordcounts_add(ctx, w, n, 1); }

static void train(LsTokenizer *tk, int vocab) {
    LsWordCounts wc;
    ls_wordcounts_init(&wc, 1 << 20);
    uint8_t *buf = malloc(1 << 16);
    for (int d = 0; d < 60; d++) {
        size_t n = random_text(buf, 1 << 12, d % 2);
        ls_pretokenize(buf, n, count, &wc);
    }
    free(buf);
    ls_bpe_train(&wc, vocab, tk);
    ls_wordcounts_free(&wc);
}

/* GPT-2's O(n^2) loop on one word, straight from its description */
static size_t slow_bpe(const LsTokenizer *tk, const uint8_t *w, size_t n, int32_t *out) {
    size_t m = n;
    for (size_t i = 0; i < n; i++) out[i] = tk->byte_id[w[i]];
    for (;;) {
        int best = -1;
        for (size_t i = 0; i + 1 < m; i++)
            for (int r = 0; r < tk->nmerges && (best < 0 || r < best); r++)
                if ((int32_t)tk->merges[3 * r] == out[i] && (int32_t)tk->merges[3 * r + 1] == out[i + 1]) {
                    best = r;
                    break;
                }
        if (best < 0) return m;
        size_t k = 0;
        for (size_t i = 0; i < m;) {
            if (i + 1 < m && out[i] == (int32_t)tk->merges[3 * best] && out[i + 1] == (int32_t)tk->merges[3 * best + 1])
                out[k++] = (int32_t)tk->merges[3 * best + 2], i += 2;
            else
                out[k++] = out[i++];
        }
        m = k;
    }
}

typedef struct {
    const LsTokenizer *tk;
    LsBpe *bpe;
    int32_t *a, *b;
    int ok;
} WordCheck;

static void check_word(void *ctx, const uint8_t *w, size_t n) {
    WordCheck *c = ctx;
    if (n > 2000) return; /* the O(n^2) loop is too slow for giant words */
    size_t m1 = ls_bpe_encode_word(c->bpe, w, n, c->a), m2 = slow_bpe(c->tk, w, n, c->b);
    c->ok &= m1 == m2 && memcmp(c->a, c->b, m1 * sizeof(int32_t)) == 0;
}

static int roundtrip(LsBpe *bpe, const LsTokenizer *tk, const uint8_t *s, size_t n, int32_t *ids,
                     uint8_t *back) {
    size_t m = ls_bpe_encode(bpe, s, n, ids), k = 0;
    for (size_t i = 0; i < m; i++) {
        int len;
        const char *p = ls_tokenizer_decode(tk, ids[i], &len);
        if (!p || ids[i] == tk->eot) return 0;
        memcpy(back + k, p, (size_t)len);
        k += (size_t)len;
    }
    return k == n && memcmp(back, s, n) == 0;
}

/* ---- streaming pre-splitter ---- */
typedef struct {
    size_t *ends;
    size_t n, pos;
} Words;

static void collect(void *ctx, const uint8_t *w, size_t n) {
    Words *c = ctx;
    (void)w;
    c->pos += n;
    c->ends[c->n++] = c->pos;
}

int main(void) {
    ls_set_quiet(1);
    ls_rng_seed(&g_rng, 20240328);
    const size_t MAX = 1 << 20;
    uint8_t *s = malloc(MAX + 16), *back = malloc(MAX + 16);
    int32_t *ids = malloc((MAX + 16) * sizeof(int32_t)), *ids2 = malloc((MAX + 16) * sizeof(int32_t));

    LsTokenizer tk, bytes, loaded;
    train(&tk, 700);
    CHECK(tk.vocab_size > 400 && tk.eot == tk.vocab_size - 1, "trained vocab %d", tk.vocab_size);
    ls_tokenizer_byte_level(&bytes);
    LsBpe bpe, bbpe;
    ls_bpe_init(&bpe, &tk);
    ls_bpe_init(&bbpe, &bytes);

    int ok = 1, okb = 1, ok_ids = 1;
    for (int t = 0; t < 400; t++) {
        int kind = t % 4;
        size_t n = random_text(s, kind >= 2 && t % 50 < 4 ? MAX : 4096, kind);
        ok &= roundtrip(&bpe, &tk, s, n, ids, back);
        okb &= roundtrip(&bbpe, &bytes, s, n, ids, back);
        size_t m = ls_bpe_encode(&bpe, s, n, ids);
        for (size_t i = 0; i < m; i++) ok_ids &= ids[i] >= 0 && ids[i] < tk.vocab_size;
    }
    CHECK(ok, "BPE round trip on 400 random strings (bytes, text, 1 MiB words)");
    CHECK(okb, "byte-level round trip");
    CHECK(ok_ids, "ids within the vocabulary");
    const uint8_t nul[] = {'a', 0, 0, 'b', 0xff, 0xc3, 0};
    CHECK(roundtrip(&bpe, &tk, nul, sizeof nul, ids, back), "NUL and invalid bytes");

    /* fast encoder == slow GPT-2 loop, word by word */
    WordCheck wcx = {&tk, &bpe, ids, ids2, 1};
    for (int t = 0; t < 200; t++) {
        size_t n = random_text(s, 2048, t % 2);
        ls_pretokenize(s, n, check_word, &wcx);
    }
    CHECK(wcx.ok, "heap + cache encoder == O(n^2) GPT-2 loop on every word");

    /* streaming pre-splitter == whole-text pre-splitter for any chunking */
    size_t *e1 = malloc(70000 * sizeof(size_t)), *e2 = malloc(70000 * sizeof(size_t));
    int same = 1;
    for (int t = 0; t < 100; t++) {
        size_t n = random_text(s, 60000, t % 2);
        Words w1 = {e1, 0, 0}, w2 = {e2, 0, 0};
        ls_pretokenize(s, n, collect, &w1);
        LsPretokStream ps;
        ls_pretok_stream_init(&ps, collect, &w2);
        for (size_t i = 0; i < n;) {
            size_t k = 1 + ls_rng_below(&g_rng, t % 3 == 0 ? 7 : 5000);
            if (k > n - i) k = n - i;
            ls_pretok_stream_feed(&ps, s + i, k);
            i += k;
        }
        ls_pretok_stream_end(&ps);
        ls_pretok_stream_free(&ps);
        same &= w1.n == w2.n && memcmp(e1, e2, w1.n * sizeof(size_t)) == 0;
    }
    CHECK(same, "streamed pre-split == whole-text pre-split for random chunkings");
    free(e1), free(e2);

    /* save + load */
    char dir[] = "/tmp/llmscale_test_tok_XXXXXX", path[64];
    if (!mkdtemp(dir)) return 1;
    snprintf(path, sizeof path, "%s/tok.bin", dir);
    ls_tokenizer_save(&tk, path);
    ls_tokenizer_load(&loaded, path);
    CHECK(loaded.has_merges && loaded.nmerges == tk.nmerges &&
              memcmp(loaded.merges, tk.merges, (size_t)tk.nmerges * 12) == 0 &&
              loaded.eot == tk.eot,
          "merges survive save + load");
    LsBpe lb;
    ls_bpe_init(&lb, &loaded);
    size_t n = random_text(s, 4096, 1);
    size_t m1 = ls_bpe_encode(&bpe, s, n, ids), m2 = ls_bpe_encode(&lb, s, n, ids2);
    CHECK(m1 == m2 && memcmp(ids, ids2, m1 * sizeof(int32_t)) == 0, "loaded tokenizer encodes the same");
    unlink(path);
    rmdir(dir);

    ls_bpe_free(&lb);
    ls_bpe_free(&bpe);
    ls_bpe_free(&bbpe);
    ls_tokenizer_free(&loaded);
    ls_tokenizer_free(&tk);
    ls_tokenizer_free(&bytes);
    free(s), free(back), free(ids), free(ids2);
    return check_summary();
}
