/* fuzz_tokenizer.c - the tokenizer file reader (src/data/tokenizer.c): the
 * llm.c decode table and our BPE merge section, then `info`, decoding every
 * id, and (with merges) BPE-encoding a sample text with the loaded merges
 * (src/data/bpe_encode.c). Each input runs twice: as given, and with the
 * merge section's CRC-32 made right, so the fuzzer reaches the merge checks.
 * Seeds: the byte-level table, a trained BPE table, an llm.c version-1 one. */
#include <stdlib.h>
#include <string.h>

#include "core/fileio.h"
#include "data/bpe_train.h"
#include "data/tokenizer.h"
#include "data/word_counts.h"
#include "fuzz_common.h"

static char g_path[4096];

void fuzz_setup(void) { fuzz_path(g_path, "tokenizer.bin"); }

void fuzz_seeds(const char *dir) {
    char p[4096];
    LsTokenizer tk;
    ls_tokenizer_byte_level(&tk);
    snprintf(p, sizeof p, "%s/byte_level", dir);
    ls_tokenizer_save(&tk, p);
    ls_tokenizer_free(&tk);

    LsWordCounts wc;
    ls_wordcounts_init(&wc, 1000);
    const char *words[] = {"the", " the", " quick", " brown", " fox", "ing", " jumps", " over"};
    for (int i = 0; i < 8; i++) ls_wordcounts_add(&wc, (const uint8_t *)words[i], strlen(words[i]), 10 + i);
    ls_bpe_train(&wc, 256 + 12 + 1, &tk);
    ls_wordcounts_free(&wc);
    snprintf(p, sizeof p, "%s/bpe", dir);
    ls_tokenizer_save(&tk, p);
    ls_tokenizer_free(&tk);

    /* llm.c's version 1: no EOT field, no merges (decode only) */
    size_t n;
    uint8_t *b = fuzz_read(p, &n);
    b[4] = 1;
    memset(b + 12, 0, 4);
    fuzz_write_seed(dir, "llmc_v1_with_merges", b, n);
    free(b);
}

static void run_once(const uint8_t *data, size_t size) {
    fuzz_write(g_path, data, size);
    LsTokenizer tk;
    if (setjmp(fuzz_trap.env) == 0) {
        ls_trap_arm(&fuzz_trap);
        ls_tokenizer_load(&tk, g_path);
        ls_tokenizer_print_info(g_path);
        ls_trap_disarm();
        fuzz_accepted();
    } else {
        fuzz_rejected();
        return;
    }
    for (int i = 0; i < tk.vocab_size; i++) {
        int len;
        const char *s = ls_tokenizer_decode(&tk, i, &len);
        if (!s || len < 1 || len > 255 || s[len] != '\0') fuzz_fail("token %d decodes badly", i);
    }
    if (tk.eot >= tk.vocab_size) fuzz_fail("EOT %d outside the vocabulary", tk.eot);
    if (ls_tokenizer_can_encode(&tk)) fuzz_bpe_roundtrip(&tk);
    ls_tokenizer_free(&tk);
}

/* Offset of the merge section (after the last piece), or 0 if none. */
static size_t merge_section(const uint8_t *b, size_t n) {
    if (n < 1024) return 0;
    uint32_t vocab;
    memcpy(&vocab, b + 8, 4);
    size_t pos = 1024;
    for (uint32_t i = 0; i < vocab && pos < n; i++) pos += 1 + b[pos];
    return pos + 4 < n ? pos : 0;
}

void fuzz_one(const uint8_t *data, size_t size) {
    run_once(data, size);
    size_t at = merge_section(data, size);
    if (!at) return;
    uint8_t *b = malloc(size);
    memcpy(b, data, size);
    uint32_t crc = ls_crc32(0, b + at, size - at - 4);
    memcpy(b + size - 4, &crc, 4);
    if (memcmp(b, data, size) != 0) run_once(b, size);
    free(b);
    }
