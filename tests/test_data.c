/* test_data.c - tokenizer, shard and loader tests.
 *
 * Builds files under a fresh mkdtemp directory and checks the exact tokens
 * the loader hands out against the formulas in loader.h. Prints
 * "N passed, N failed" and exits non-zero on any failure. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "core/error.h"
#include "core/fileio.h"
#include "data/loader.h"
#include "data/shard.h"
#include "data/tokenizer.h"

#include "check.h"

static char g_dir[256];

static const char *tmp_path(const char *name) {
    static char buf[8][512];
    static int k = 0;
    k = (k + 1) % 8;
    snprintf(buf[k], sizeof buf[k], "%s/%s", g_dir, name);
    return buf[k];
}

static void test_tokenizer(void) {
    LsTokenizer a, b;
    ls_tokenizer_byte_level(&a);
    CHECK(a.vocab_size == 257 && a.eot == 256, "byte-level shape %d %d", a.vocab_size, a.eot);
    CHECK(ls_tokenizer_is_byte_level(&a), "byte-level detected");
    const char *path = tmp_path("tok.bin");
    ls_tokenizer_save(&a, path);
    /* llm.c-compatible size: header + 256*(1+1) + (1+13) */
    CHECK(ls_file_size(path) == 1024 + 512 + 14, "tokenizer file size %lld",
          (long long)ls_file_size(path));
    ls_tokenizer_load(&b, path);
    CHECK(b.vocab_size == 257 && b.eot == 256 && b.version == 2, "loaded header");
    int same = 1;
    for (int i = 0; i < 257; i++)
        same &= a.len[i] == b.len[i] && memcmp(a.piece[i], b.piece[i], a.len[i]) == 0;
    CHECK(same, "pieces round trip");
    int n = -1;
    const char *s = ls_tokenizer_decode(&b, 'h', &n);
    CHECK(s && n == 1 && s[0] == 'h', "decode 'h'");
    s = ls_tokenizer_decode(&b, 0, &n);
    CHECK(s && n == 1 && s[0] == 0, "decode byte 0");
    s = ls_tokenizer_decode(&b, 256, &n);
    CHECK(s && n == 13 && memcmp(s, "<|endoftext|>", 13) == 0, "decode eot");
    CHECK(ls_tokenizer_decode(&b, 257, &n) == NULL, "decode out of range high");
    CHECK(ls_tokenizer_decode(&b, -1, &n) == NULL, "decode out of range low");
    int32_t ids[4];
    int m = ls_tokenizer_encode_bytes(&b, "a\xff\0z", 4, ids);
    CHECK(m == 4 && ids[0] == 'a' && ids[1] == 255 && ids[2] == 0 && ids[3] == 'z',
          "encode bytes");

    /* a non-byte-level table: swap two pieces */
    char *t = b.piece[1];
    b.piece[1] = b.piece[2];
    b.piece[2] = t;
    CHECK(!ls_tokenizer_is_byte_level(&b), "swapped pieces are not byte-level");
    b.piece[2] = b.piece[1];
    b.piece[1] = t;
    ls_tokenizer_free(&a);
    ls_tokenizer_free(&b);

    /* version 1 file (no eot field): eot is 50256 as in llm.c, or none */
    uint32_t hdr[256] = {20240328, 1, 3, 7};
    FILE *f = fopen(tmp_path("tok_v1.bin"), "wb");
    fwrite(hdr, 4, 256, f);
    fwrite("\x01x\x02yz\x01w", 1, 7, f);
    fclose(f);
    ls_tokenizer_load(&a, tmp_path("tok_v1.bin"));
    CHECK(a.vocab_size == 3 && a.eot == -1 && a.version == 1, "v1 tokenizer eot none");
    s = ls_tokenizer_decode(&a, 1, &n);
    CHECK(n == 2 && memcmp(s, "yz", 2) == 0, "v1 decode");
    CHECK(!ls_tokenizer_is_byte_level(&a), "small table not byte-level");
    ls_tokenizer_free(&a);
}

static void test_shard(void) {
    uint16_t tok[1000];
    for (int i = 0; i < 1000; i++) tok[i] = (uint16_t)(i * 37 % 65536);
    tok[999] = 65535;
    const char *path = tmp_path("shard.bin");
    ls_shard_write(path, tok, 1000);
    CHECK(ls_file_size(path) == 1024 + 2000, "shard size");
    LsShard sh;
    ls_shard_open(&sh, path);
    CHECK(sh.ntokens == 1000, "ntokens %zu", sh.ntokens);
    CHECK(memcmp(sh.tokens, tok, sizeof tok) == 0, "shard tokens round trip");
    CHECK(strcmp(sh.path, path) == 0, "shard path");
    ls_shard_close(&sh);
}

/* Synthetic stream of N tokens: value(i) = (i * 7 + 3) % 1000, split over
 * three shards of sizes 10, 3, N-13, written out of name order. */
#define NTOK 40
static int value(uint64_t i) { return (int)((i * 7 + 3) % 1000); }

static void write_stream(const char *sub) {
    char d[512];
    snprintf(d, sizeof d, "%s/%s", g_dir, sub);
    ls_mkdirs(d);
    uint16_t tok[NTOK];
    for (int i = 0; i < NTOK; i++) tok[i] = (uint16_t)value((uint64_t)i);
    char p[600];
    snprintf(p, sizeof p, "%s/train_002.bin", d);
    ls_shard_write(p, tok + 13, NTOK - 13);
    snprintf(p, sizeof p, "%s/train_000.bin", d);
    ls_shard_write(p, tok, 10);
    snprintf(p, sizeof p, "%s/train_001.bin", d);
    ls_shard_write(p, tok + 10, 3);
    /* files that a directory spec with role "train" must skip */
    uint16_t other[2] = {999, 999};
    snprintf(p, sizeof p, "%s/val_000.bin", d);
    ls_shard_write(p, other, 2);
    snprintf(p, sizeof p, "%s/train_notes.txt", d);
    FILE *f = fopen(p, "w");
    fputs("not a shard", f);
    fclose(f);
}

static void test_loader_sequential(void) {
    write_stream("seq");
    char spec[600];
    snprintf(spec, sizeof spec, "%s/seq", g_dir);
    const int T = 7;
    LsLoader ld;
    ls_loader_init(&ld, spec, "train", T, 0, 1234);
    CHECK(ls_loader_ntokens(&ld) == NTOK, "ntokens %llu", (unsigned long long)ls_loader_ntokens(&ld));
    CHECK(ld.set.nshards == 3, "three train shards, got %d", ld.set.nshards);
    int maxv = 0;
    for (int i = 0; i < NTOK; i++) maxv = value((uint64_t)i) > maxv ? value((uint64_t)i) : maxv;
    CHECK(ls_loader_max_token(&ld) == maxv, "max token %d vs %d", ls_loader_max_token(&ld), maxv);

    /* sequences 0..19: s*T goes up to 133, wrapping around N=40 several times */
    int32_t x[20 * 7], y[20 * 7];
    ls_loader_get(&ld, 0, 20, x, y);
    int ok = 1;
    for (uint64_t s = 0; s < 20; s++)
        for (uint64_t t = 0; t < (uint64_t)T; t++) {
            ok &= x[s * T + t] == value((s * T + t) % NTOK);
            ok &= y[s * T + t] == value((s * T + t + 1) % NTOK);
        }
    CHECK(ok, "no-shuffle x/y follow stream[(s*T+t) mod N] incl. wrap");
    /* sequence 5 covers 35..41: x = 35..39,0,1 and y = 36..39,0,1,2 */
    CHECK(x[5 * T + 4] == value(39) && x[5 * T + 5] == value(0) && y[5 * T + 3] == value(39) &&
              y[5 * T + 4] == value(0) && y[5 * T + 6] == value(2),
          "explicit wrap at the end");
    /* asking for one sequence at a time gives the same rows */
    int32_t x1[7], y1[7];
    ls_loader_get(&ld, 13, 1, x1, y1);
    CHECK(memcmp(x1, x + 13 * T, sizeof x1) == 0 && memcmp(y1, y + 13 * T, sizeof y1) == 0,
          "single fetch equals batch row");
    /* a huge sequence index still maps by the formula */
    uint64_t big = 1000000007ull;
    ls_loader_get(&ld, big, 1, x1, y1);
    CHECK(x1[0] == value((big * T) % NTOK) && y1[6] == value((big * T + 7) % NTOK),
          "large sequence index");
    ls_loader_free(&ld);

    /* the same stream through a glob and through a single file */
    char pat[600];
    snprintf(pat, sizeof pat, "%s/seq/train_00[0-2].bin", g_dir);
    ls_loader_init(&ld, pat, NULL, T, 0, 0);
    CHECK(ls_loader_ntokens(&ld) == NTOK && ld.set.nshards == 3, "glob spec");
    ls_loader_get(&ld, 3, 1, x1, y1);
    CHECK(x1[0] == value(21) && y1[6] == value(28), "glob stream order");
    ls_loader_free(&ld);
    snprintf(pat, sizeof pat, "%s/seq/train_001.bin", g_dir);
    ls_loader_init(&ld, pat, "train", 2, 0, 0);
    CHECK(ls_loader_ntokens(&ld) == 3, "single file spec");
    ls_loader_get(&ld, 1, 1, x1, y1);
    /* tokens 10,11,12; s=1 -> x = [12,10], y = [10,11] */
    CHECK(x1[0] == value(12) && x1[1] == value(10) && y1[0] == value(10) && y1[1] == value(11),
          "single file wrap");
    ls_loader_free(&ld);
}

static void test_loader_shuffle(void) {
    char spec[600];
    snprintf(spec, sizeof spec, "%s/seq", g_dir);
    const int T = 6;
    const uint64_t W = (NTOK - 1) / T; /* 6 windows */
    LsLoader a, b, c;
    ls_loader_init(&a, spec, "train", T, 1, 42);
    ls_loader_init(&b, spec, "train", T, 1, 42);
    ls_loader_init(&c, spec, "train", T, 1, 43);
    CHECK(a.nwindows == W, "W = %llu", (unsigned long long)a.nwindows);

    enum { EPOCHS = 4 };
    int32_t xa[EPOCHS * 6 * 6], ya[EPOCHS * 6 * 6], xb[EPOCHS * 6 * 6], yb[EPOCHS * 6 * 6];
    ls_loader_get(&a, 0, (int)(EPOCHS * W), xa, ya);
    /* b fetches the same sequences one at a time, out of order */
    for (int s = (int)(EPOCHS * W) - 1; s >= 0; s--)
        ls_loader_get(&b, (uint64_t)s, 1, xb + s * T, yb + s * T);
    CHECK(memcmp(xa, xb, sizeof xa) == 0 && memcmp(ya, yb, sizeof ya) == 0,
          "same seed -> same sequences, in any fetch order");

    /* recover each sequence's window from its first token, check windows */
    int win[EPOCHS * 6], ok = 1;
    for (uint64_t s = 0; s < EPOCHS * W; s++) {
        win[s] = -1;
        for (uint64_t w = 0; w < W; w++)
            if (xa[s * T] == value(w * T)) win[s] = (int)w;
        ok &= win[s] >= 0;
        for (int t = 0; t < T && win[s] >= 0; t++) {
            ok &= xa[s * T + t] == value((uint64_t)win[s] * T + t);
            ok &= ya[s * T + t] == value((uint64_t)win[s] * T + t + 1);
        }
    }
    CHECK(ok, "every shuffled sequence is a whole window with y = x shifted by one");
    int perm_ok = 1, differ = 0;
    for (int e = 0; e < EPOCHS; e++) {
        int seen[6] = {0};
        for (uint64_t i = 0; i < W; i++) seen[win[e * W + i]]++;
        for (uint64_t w = 0; w < W; w++) perm_ok &= seen[w] == 1;
        if (e > 0) differ |= memcmp(win + e * W, win, W * sizeof(int)) != 0;
    }
    CHECK(perm_ok, "each epoch visits every window exactly once");
    CHECK(differ, "epochs use different orders");

    /* a different seed gives a different order (over 4 epochs of 6! orders) */
    int32_t xc[EPOCHS * 6 * 6], yc[EPOCHS * 6 * 6];
    ls_loader_get(&c, 0, (int)(EPOCHS * W), xc, yc);
    CHECK(memcmp(xa, xc, sizeof xa) != 0, "different seed -> different order");

    /* a longer stream: every epoch a permutation, and epoch e is independent
     * of what was fetched before (cache does not leak state) */
    ls_loader_free(&a);
    ls_loader_free(&b);
    ls_loader_free(&c);

    enum { BIGN = 5001 };
    uint16_t *tok = malloc(BIGN * sizeof(uint16_t));
    for (int i = 0; i < BIGN; i++) tok[i] = (uint16_t)i;
    ls_shard_write(tmp_path("big.bin"), tok, BIGN);
    free(tok);
    ls_loader_init(&a, tmp_path("big.bin"), NULL, 10, 1, 7);
    CHECK(a.nwindows == 500 && ls_loader_max_token(&a) == 5000, "big W and max");
    int32_t x[10], y[10];
    int all_ok = 1;
    for (int e = 0; e < 3; e++) {
        char seen[500] = {0};
        for (int i = 0; i < 500; i++) {
            ls_loader_get(&a, (uint64_t)(e * 500 + i), 1, x, y);
            int w = x[0] / 10;
            all_ok &= x[0] % 10 == 0 && y[9] == x[0] + 10 && !seen[w];
            seen[w] = 1;
        }
    }
    CHECK(all_ok, "500-window epochs are permutations");
    ls_loader_get(&a, 1234, 1, x, y);
    ls_loader_init(&b, tmp_path("big.bin"), NULL, 10, 1, 7);
    ls_loader_get(&b, 1234, 1, xb, yb);
    CHECK(memcmp(x, xb, sizeof x) == 0, "fresh loader agrees at a random index");
    ls_loader_free(&a);
    ls_loader_free(&b);
}

int main(void) {
    snprintf(g_dir, sizeof g_dir, "/tmp/llmscale_test_data_%ld_XXXXXX", (long)getpid());
    if (!mkdtemp(g_dir)) {
        perror("mkdtemp");
        return 1;
    }
    ls_set_quiet(1);
    test_tokenizer();
    test_shard();
    test_loader_sequential();
    test_loader_shuffle();
    int rc = check_summary();
    char cmd[600];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", g_dir);
    if (g_fail == 0 && system(cmd) != 0) printf("(could not remove %s)\n", g_dir);
    return rc;
}
