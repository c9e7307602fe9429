/* fuzz_jsonl.c - the text input reader of `prepare` (src/data/text_source.c)
 * and its JSON parser (src/data/json.c): the input file read as jsonl (one
 * {"text": ...} object per line), as lines and as text. Every document a
 * pass reports must be non-empty, with offsets that never go backwards and
 * stay within the file; text mode must return the file's bytes exactly.
 * Each document is also pre-split as GPT-2 does (src/data/pretokenize.c):
 * the pre-tokens must be non-empty and cover it exactly.
 * Seeds: a few jsonl lines with escapes, surrogate pairs, nesting, blanks. */
#include <string.h>

#include "data/pretokenize.h"
#include "data/text_source.h"
#include "fuzz_common.h"

static char g_path[4096];

typedef struct {
    const uint8_t *data;
    size_t size, got, docs;
    uint64_t last_off;
    int in_doc;
} Sink;

static void on_word(void *ctx, const uint8_t *w, size_t n) {
    if (n == 0) fuzz_fail("empty pre-token");
    *(size_t *)ctx += n;
    (void)w;
}

static void on_begin(void *ctx, uint64_t off) {
    Sink *s = ctx;
    if (s->in_doc || off < s->last_off || off > s->size) fuzz_fail("document begins at %llu", (unsigned long long)off);
    s->in_doc = 1;
    s->last_off = off;
}
static void on_text(void *ctx, const uint8_t *t, size_t n, uint64_t off) {
    Sink *s = ctx;
    if (!s->in_doc || n == 0 || off < s->last_off || off > s->size) fuzz_fail("bad text piece");
    /* GPT-2 pre-splitting (what prepare does next) must cover the piece exactly */
    size_t covered = 0;
    ls_pretokenize(t, n, on_word, &covered);
    if (covered != n) fuzz_fail("pre-tokens cover %zu of %zu bytes", covered, n);
    s->got += n;
    s->last_off = off;
}
static void on_end(void *ctx) {
    Sink *s = ctx;
    if (!s->in_doc) fuzz_fail("document ends twice");
    s->in_doc = 0;
    s->docs++;
}

void fuzz_setup(void) { fuzz_path(g_path, "input.jsonl"); }

void fuzz_seeds(const char *dir) {
    static const char a[] = "{\"text\": \"Hello \\\"world\\\"\\n\", \"id\": 1}\n"
                            "\n"
                            "  {\"meta\": {\"a\": [1, 2.5e3, true, null, \"x\"]}, \"text\": \"caf\\u00e9 \\ud83d\\ude00\"}\r\n"
                            "{\"text\": \"lone \\udc00 surrogate\\t\\/\\\\\"}";
    static const char b[] = "{\"text\": \"\"}\n{\"text\": 42}\n";
    fuzz_write_seed(dir, "mixed", a, sizeof a - 1);
    fuzz_write_seed(dir, "empty_and_number", b, sizeof b - 1);
}

static void pass(LsTextFormat fmt, size_t size, const uint8_t *data) {
    LsInputs in = {0};
    Sink s = {data, size, 0, 0, 0, 0};
    static const LsDocSink sink = {on_begin, on_text, on_end};
    if (setjmp(fuzz_trap.env) == 0) {
        ls_trap_arm(&fuzz_trap);
        ls_inputs_add(&in, g_path);
        uint64_t n = ls_read_documents(&in, fmt, &sink, &s);
        ls_trap_disarm();
        ls_inputs_free(&in);
        if (n != s.docs || s.in_doc) fuzz_fail("%llu documents reported, %zu seen", (unsigned long long)n, s.docs);
        if (fmt == LS_FMT_TEXT && s.got != size) fuzz_fail("text mode read %zu of %zu bytes", s.got, size);
        if (fmt == LS_FMT_LINES && s.got > size) fuzz_fail("lines mode read more than the file");
        fuzz_accepted();
    } else {
        fuzz_rejected();
    }
}

void fuzz_one(const uint8_t *data, size_t size) {
    fuzz_write(g_path, data, size);
    pass(LS_FMT_JSONL, size, data);
    pass(LS_FMT_LINES, size, data);
    pass(LS_FMT_TEXT, size, data);
    }
