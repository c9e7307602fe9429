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
        "  --split            with --text/--file: print GPT-2's pre-tokens instead, one per\n"
        "                     line in quotes (bytes < 0x20, >= 0x7f, \\ and \" escaped)\n");
}

static void print_escaped(const char *s, int n) {
    putchar('"');
    for (int i = 0; i < n; i++) {
        unsigned char c = (unsigned char)s[i];
        if (c == '"' || c == '\\') printf("\\%c", c);
        else if (c == '\n') fputs("\\n", stdout);
        else if (c >= 0x20 && c < 0x7f) putchar(c);
        else printf("\\x%02x", c);
    }
    putchar('"');
}

int cmd_tokenize(int argc, char **argv) {
    if (ls_wants_help(argc, argv)) {
        usage();
        return 0;
    }
    const char *spec = NULL, *text = NULL, *file = NULL, *decode = NULL;
    int pieces = 0, split = 0;
    for (int i = 0; i < argc; i++) {
        const char *a = argv[i];
        if (ls_flag(a, "--tokenizer")) spec = ls_str_arg(argc, argv, &i);
        else if (ls_flag(a, "--text")) text = ls_str_arg(argc, argv, &i);
        else if (ls_flag(a, "--file")) file = ls_str_arg(argc, argv, &i);
        else if (ls_flag(a, "--decode")) decode = ls_str_arg(argc, argv, &i);
        else if (!strcmp(a, "--pieces")) pieces = 1;
        else if (!strcmp(a, "--split")) split = 1;
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
            print_escaped((const char *)s + i, (int)k);
            putchar('\n');
            i += k;
        }
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
            print_escaped(piece, len);
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
