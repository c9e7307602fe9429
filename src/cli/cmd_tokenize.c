/* cmd_tokenize.c - `llmscale tokenize`: look at what a tokenizer does.
 *   --text "..."   prints the token ids, comma-separated, on one line
 *   --file PATH    the same for a file's bytes (for scripts and binary text)
 *   --decode 1,2,3 prints the bytes the ids decode to (raw, no newline added)
 *   --split        prints GPT-2's pre-tokens (the words BPE never merges across)
 * Encoding is the same code path prepare uses (pre-splitting + BPE), without
 * the <|endoftext|> that prepare puts before each document. */
#include <stdlib.h>
#include <string.h>

#include "../core/error.h"
#include "../core/fileio.h"
#include "../core/timer.h"
#include "../data/bpe_encode.h"
#include "../data/pretokenize.h"
#include "args.h"
#include "tokenizer_spec.h"

static void usage(void) {
    printf(
        "usage: llmscale tokenize --tokenizer SPEC (--text STR | --file PATH | --decode IDS)\n"
        "\n"
        "Encodes text to token ids, or decodes ids to text, with a tokenizer.\n"
        "\n"
        "  --tokenizer SPEC   FILE (a tokenizer.bin from prepare), gpt2:DIR (GPT-2's\n"
        "                     encoder.json + vocab.bpe) or byte (required)\n"
        "  --text STR         encode STR; prints ids as 1,2,3\n"
        "  --file PATH        encode the bytes of a file; prints ids as 1,2,3\n"
        "  --decode IDS       decode comma-separated ids; prints the raw bytes\n"
        "  --pieces           with --text/--file: print one token per line as\n"
        "                     ID<TAB>\"piece\" (C escapes) instead of the id list\n"
        "  --time N           with --file: encode the file N times (a fresh word cache each\n"
        "                     time) and print the median speed in MB/s on one core instead\n"
        "                     of the ids (make bench uses this)\n"
        "  --split            with --text/--file: print GPT-2's pre-tokens instead, one per\n"
        "                     line in quotes (C escapes: \\n \\t \\\\ \\\" \\xNN)\n");
}

/* encode `runs` times, each with a fresh encoder (empty word cache) */
static void time_encode(const LsTokenizer *tk, const uint8_t *s, size_t n, int runs) {
    int32_t *ids = ls_calloc(n + 1, sizeof(int32_t), "token ids");
    double *sec = ls_calloc((size_t)runs, sizeof(double), "timings");
    size_t m = 0;
    double hit = 0;
    for (int r = 0; r < runs; r++) {
        LsBpe bpe;
        ls_bpe_init(&bpe, tk);
        double t0 = ls_now_s();
        m = ls_bpe_encode(&bpe, s, n, ids);
        sec[r] = ls_now_s() - t0;
        hit = bpe.words ? (double)bpe.hits / (double)bpe.words : 0;
        ls_bpe_free(&bpe);
    }
    ls_sort_times(sec, (size_t)runs);
    double med = sec[runs / 2];
    printf("encode: %.2f MB -> %zu tokens (%.3f bytes/token) in %.3f s (median of %d): %.1f MB/s "
           "on one core, word cache hit rate %.1f%%\n", n / 1e6, m, (double)n / (double)m, med,
           runs, n / 1e6 / med, 100 * hit);
    ls_free(ids);
    ls_free(sec);
}

int cmd_tokenize(int argc, char **argv) {
    if (ls_wants_help(argc, argv)) {
        usage();
        return 0;
    }
    const char *spec = NULL, *text = NULL, *file = NULL, *decode = NULL;
    int pieces = 0, split = 0, time_runs = 0;
    for (int i = 0; i < argc; i++) {
        const char *a = argv[i];
        if (ls_flag(a, "--tokenizer")) spec = ls_str_arg(argc, argv, &i);
        else if (ls_flag(a, "--text")) text = ls_str_arg(argc, argv, &i);
        else if (ls_flag(a, "--file")) file = ls_str_arg(argc, argv, &i);
        else if (ls_flag(a, "--decode")) decode = ls_str_arg(argc, argv, &i);
        else if (!strcmp(a, "--pieces")) pieces = 1;
        else if (!strcmp(a, "--split")) split = 1;
        else if (ls_flag(a, "--time")) time_runs = (int)ls_int_arg(argc, argv, &i, 1, 1000);
        else ls_unknown_flag("tokenize", a);
    }
    if (!spec) ls_fatal("tokenize needs --tokenizer FILE|gpt2:DIR|byte (see llmscale tokenize --help)");
    if (!!text + !!file + !!decode != 1)
        ls_fatal("tokenize needs exactly one of --text, --file, --decode");
    LsTokenizer tk;
    ls_tokenizer_from_spec(&tk, spec);

    if (decode) {
        const char *p = decode;
        while (*p) {
            char *end;
            long id = strtol(p, &end, 10);
            if (end == p || (*end && *end != ','))
                ls_fatal("--decode: '%s' is not a comma-separated list of ids", decode);
            int n;
            const char *s = ls_tokenizer_decode(&tk, (int)id, &n);
            if (!s || id < 0 || id > 0x7fffffffL)
                ls_fatal("--decode: id %ld is outside the vocabulary [0, %d)", id, tk.vocab_size);
            fwrite(s, 1, (size_t)n, stdout);
            p = *end ? end + 1 : end;
        }
        ls_tokenizer_free(&tk);
        return 0;
    }

    size_t n;
    char *buf = NULL;
    if (file) {
        int64_t size = ls_file_size(file);
        if (size < 0) ls_fatal("--file '%s' does not exist or is not a regular file", file);
        FILE *f = ls_fopen(file, "rb", "input file");
        buf = ls_calloc((size_t)size + 1, 1, "input text");
        ls_fread_exact(buf, (size_t)size, f, file, "input file");
        fclose(f);
        n = (size_t)size;
    } else {
        n = strlen(text);
    }
    const uint8_t *s = file ? (const uint8_t *)buf : (const uint8_t *)text;
    if (split) {
        for (size_t i = 0; i < n;) {
            size_t k = ls_pretoken_len(s + i, n - i);
            ls_print_piece((const char *)s + i, (int)k);
            putchar('\n');
            i += k;
        }
        ls_free(buf);
        ls_tokenizer_free(&tk);
        return 0;
    }
    if (time_runs) {
        if (!file) ls_fatal("--time needs --file");
        time_encode(&tk, s, n, time_runs);
        ls_free(buf);
        ls_tokenizer_free(&tk);
        return 0;
    }
    LsBpe bpe;
    ls_bpe_init(&bpe, &tk);
    int32_t *ids = ls_calloc(n + 1, sizeof(int32_t), "token ids");
    size_t m = ls_bpe_encode(&bpe, s, n, ids);
    for (size_t k = 0; k < m; k++) {
        if (pieces) {
            int len;
            const char *piece = ls_tokenizer_decode(&tk, ids[k], &len);
            printf("%d\t", ids[k]);
            ls_print_piece(piece, len);
            putchar('\n');
        } else {
            printf(k ? ",%d" : "%d", ids[k]);
        }
    }
    if (!pieces) putchar('\n');
    ls_free(ids);
    ls_free(buf);
    ls_bpe_free(&bpe);
    ls_tokenizer_free(&tk);
    return 0;
}
