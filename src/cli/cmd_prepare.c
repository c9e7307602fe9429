/* cmd_prepare.c - `llmscale prepare`: text -> tokenizer + train/val token shards.
 *
 * Data flow:
 *   inputs (text | lines | jsonl) --text_source--> documents
 *     [bpe only] pass 1: pre-split every document, count distinct words,
 *                train the merges (bpe_train.h)
 *     pass 2: per document: <|endoftext|>, then the document's tokens
 *             (pre-split + BPE with a word cache) --shard_writer--> shards
 * The stream of all tokens is split by input position: tokens from the last
 * --val-fraction of the input bytes (cut at a pre-token boundary; the whole
 * line for lines/jsonl) form the validation split. Every output file is written
 * under a temporary name and renamed only after all of them are complete.
 *
 * Memory: a 1 MiB read buffer, the pre-splitter's carry (<= 2 MiB), one
 * line for lines/jsonl (<= 256 MiB), the encoder's word cache (~40 MiB), and
 * for BPE training the word table: --bpe-max-words distinct words (~60 bytes
 * each) plus the training structures built from it (~3x that). Independent
 * of the corpus size. */
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "../core/error.h"
#include "../core/fileio.h"
#include "../core/progress.h"
#include "../data/bpe_encode.h"
#include "../data/bpe_train.h"
#include "../data/pretokenize.h"
#include "../data/shard_writer.h"
#include "../data/text_source.h"
#include "../data/tokenizer.h"
#include "../data/word_counts.h"
#include "args.h"
#include "tokenizer_spec.h"

static void usage(void) {
    printf(
        "usage: llmscale prepare --input FILE_OR_DIR... [--out DIR] [--tokenizer SPEC] [options]\n"
        "\n"
        "Turns text into a tokenizer and llm.c-format token shards (uint16 ids, magic\n"
        "20240520) for `llmscale train`. Every document is preceded by <|endoftext|>.\n"
        "\n"
        "  --input PATH...       files, or directories (their regular files, sorted); may be\n"
        "                        repeated (required)\n"
        "  --format F            text: each file is one document (default)\n"
        "                        lines: each non-empty line is one document\n"
        "                        jsonl: each line is a JSON object; its \"text\" is a document\n"
        "  --out DIR             output directory (default: data)\n"
        "  --tokenizer SPEC      byte      256 byte tokens + <|endoftext|> (default)\n"
        "                        bpe       train a byte-level BPE tokenizer on the input\n"
        "                                  (GPT-2 pre-splitting; --vocab-size tokens)\n"
        "                        FILE      reuse a tokenizer.bin written by prepare\n"
        "                        gpt2:DIR  GPT-2's encoder.json + vocab.bpe in DIR: encode\n"
        "                                  exactly as GPT-2 does (vocab 50257)\n"
        "  --vocab-size N        BPE vocabulary incl. 256 bytes and <|endoftext|>, in\n"
        "                        [257, 65536] (uint16 ids) (default: 8192)\n"
        "  --bpe-max-words N     distinct words BPE training keeps in memory; beyond it the\n"
        "                        rarest are dropped, with a warning (default: 4000000,\n"
        "                        ~250 MiB of word table + ~3x that while training)\n"
        "  --val-fraction F      tokens of the last F of the input bytes become val_*.bin,\n"
        "                        F in [0, 0.9]; 0 writes no validation split (default: 0.1)\n"
        "  --shard-tokens N      tokens per shard file, at most (default: 100000000)\n"
        "\n"
        "Writes DIR/tokenizer.bin, DIR/train_000000.bin ... and DIR/val_000000.bin ...\n"
        "(older train_/val_ shards beyond the new ones are removed). Inputs of any size\n"
        "are streamed: memory is bounded (about 50 MiB, plus the BPE word table when\n"
        "training, plus one line for lines/jsonl, at most 256 MiB), not proportional to\n"
        "the input. Progress: a bar on a terminal, plain lines every 10 s otherwise.\n");
}

/* ---- pass 1: word counts for BPE training ---- */
typedef struct {
    LsPretokStream ps;
    LsWordCounts wc;
    LsProgress prog;
} CountPass;

static void count_word(void *ctx, const uint8_t *w, size_t n) {
    ls_wordcounts_add(&((CountPass *)ctx)->wc, w, n, 1);
}
static void count_begin(void *ctx, uint64_t offset) { (void)ctx, (void)offset; }
static void count_text(void *ctx, const uint8_t *s, size_t n, uint64_t offset) {
    CountPass *c = ctx;
    ls_pretok_stream_feed(&c->ps, s, n);
    ls_progress_update(&c->prog, offset);
}
static void count_end(void *ctx) { ls_pretok_stream_end(&((CountPass *)ctx)->ps); }

/* ---- pass 2: encode into shards ---- */
typedef struct {
    LsBpe bpe;
    LsPretokStream ps;
    LsShardWriter w;
    LsProgress prog;
    uint64_t threshold; /* input position where the val split starts */
    uint64_t pos;       /* input position of the next word */
    int split;
    uint16_t eot;
    int32_t *ids;       /* scratch for one word's tokens */
    uint16_t *tok;
    size_t cap;
} EncodePass;

static void put_ids(EncodePass *e, const int32_t *ids, size_t m) {
    for (size_t k = 0; k < m; k++) e->tok[k] = (uint16_t)ids[k];
    ls_shard_writer_put(&e->w, e->split, e->tok, m);
}

static void ensure_cap(EncodePass *e, size_t n) {
    if (n <= e->cap) return;
    ls_free(e->ids), ls_free(e->tok);
    e->cap = n;
    e->ids = ls_calloc(n, sizeof(int32_t), "token buffer");
    e->tok = ls_calloc(n, sizeof(uint16_t), "token buffer");
}

static void encode_word(void *ctx, const uint8_t *w, size_t n) {
    EncodePass *e = ctx;
    if (e->pos >= e->threshold) e->split = 1;
    ensure_cap(e, n);
    put_ids(e, e->ids, ls_bpe_encode_word(&e->bpe, w, n, e->ids));
    e->pos += n;
}

static void encode_begin(void *ctx, uint64_t offset) {
    EncodePass *e = ctx;
    e->pos = offset;
    if (e->pos >= e->threshold) e->split = 1;
    ls_shard_writer_put(&e->w, e->split, &e->eot, 1);
}

static void encode_text(void *ctx, const uint8_t *s, size_t n, uint64_t offset) {
    EncodePass *e = ctx;
    if (e->bpe.identity) {
        /* byte-level: no pre-splitting needed, the split is exact to the byte */
        size_t cut = n;
        if (e->split == 0 && e->pos + n > e->threshold)
            cut = e->threshold > e->pos ? (size_t)(e->threshold - e->pos) : 0;
        ensure_cap(e, n);
        size_t m = ls_bpe_encode(&e->bpe, s, n, e->ids);
        put_ids(e, e->ids, cut);
        if (cut < m) {
            e->split = 1;
            put_ids(e, e->ids + cut, m - cut);
        }
        e->pos += n;
    } else {
        ls_pretok_stream_feed(&e->ps, s, n);
    }
    ls_progress_update(&e->prog, offset);
}

static void encode_end(void *ctx) {
    EncodePass *e = ctx;
    if (!e->bpe.identity) ls_pretok_stream_end(&e->ps);
}

int cmd_prepare(int argc, char **argv) {
    if (ls_wants_help(argc, argv)) {
        usage();
        return 0;
    }
    LsInputs in = {0};
    const char *out = "data", *tok_spec = "byte";
    double val_fraction = 0.1;
    long long shard_tokens = 100000000, vocab_size = 8192, max_words = 4000000;
    int saw_input = 0, saw_vocab = 0;
    LsTextFormat fmt = LS_FMT_TEXT;
    for (int i = 0; i < argc; i++) {
        const char *a = argv[i];
        if (ls_flag(a, "--input")) {
            saw_input = 1;
            const char *eq = strchr(a, '=');
            int n0 = in.n;
            if (eq) ls_inputs_add(&in, eq + 1);
            while (i + 1 < argc && argv[i + 1][0] != '-') ls_inputs_add(&in, argv[++i]);
            if (!eq && in.n == n0) ls_fatal("flag --input needs one or more files");
        } else if (ls_flag(a, "--out")) {
            out = ls_str_arg(argc, argv, &i);
        } else if (ls_flag(a, "--tokenizer")) {
            tok_spec = ls_str_arg(argc, argv, &i);
        } else if (ls_flag(a, "--vocab-size")) {
            vocab_size = ls_int_arg(argc, argv, &i, LS_MIN_VOCAB, LS_MAX_VOCAB);
            saw_vocab = 1;
        } else if (ls_flag(a, "--bpe-max-words")) {
            max_words = ls_int_arg(argc, argv, &i, 1000, 1LL << 31);
        } else if (ls_flag(a, "--format")) {
            fmt = ls_text_format_parse(ls_str_arg(argc, argv, &i));
        } else if (ls_flag(a, "--val-fraction")) {
            val_fraction = ls_double_arg(argc, argv, &i, 0.0, 0.9);
        } else if (ls_flag(a, "--shard-tokens")) {
            shard_tokens = ls_int_arg(argc, argv, &i, 16, INT32_MAX);
        } else {
            ls_unknown_flag("prepare", a);
        }
    }
    if (!saw_input) ls_fatal("prepare needs --input FILE... (see llmscale prepare --help)");
    int train_bpe = !strcmp(tok_spec, "bpe");
    if (saw_vocab && !train_bpe)
        ls_fatal("--vocab-size applies to --tokenizer bpe only (the '%s' tokenizer has its own "
                 "vocabulary)", tok_spec);
    if (in.total_bytes == 0)
        ls_fatal(in.n == 1 ? "the input file '%s' is empty; nothing to tokenize"
                           : "all input files are empty ('%s', ...); nothing to tokenize",
                 in.path[0]);
    if (ls_file_size(out) >= 0) ls_fatal("--out '%s' is a file, not a directory", out);

    /* ---- the tokenizer */
    LsTokenizer tk;
    if (train_bpe) {
        CountPass c;
        memset(&c, 0, sizeof c);
        ls_wordcounts_init(&c.wc, (size_t)max_words);
        ls_pretok_stream_init(&c.ps, count_word, &c);
        ls_progress_start(&c.prog, "count", in.total_bytes);
        LsDocSink sink = {count_begin, count_text, count_end};
        ls_read_documents(&in, fmt, &sink, &c);
        ls_progress_finish(&c.prog);
        if (c.wc.nwords == 0) ls_fatal("the input has no text (every document is empty)");
        ls_info("BPE word table: %zu distinct words, %.1f MiB%s", c.wc.nwords,
                ls_wordcounts_bytes(&c.wc) / 1048576.0,
                c.wc.prunes ? " (pruned of its rarest words; counts are approximate)" : "");
        ls_bpe_train(&c.wc, (int)vocab_size, &tk);
        ls_wordcounts_free(&c.wc);
        ls_pretok_stream_free(&c.ps);
    } else {
        ls_tokenizer_from_spec(&tk, tok_spec);
    }
    if (tk.eot < 0)
        ls_fatal("tokenizer '%s' has no <|endoftext|> token to separate documents", tok_spec);

    /* ---- encode into shards */
    ls_mkdirs(out);
    EncodePass e;
    memset(&e, 0, sizeof e);
    ls_bpe_init(&e.bpe, &tk);
    e.eot = (uint16_t)tk.eot;
    e.threshold = val_fraction > 0 ? (uint64_t)llround((double)in.total_bytes * (1.0 - val_fraction))
                                   : UINT64_MAX;
    ls_pretok_stream_init(&e.ps, encode_word, &e);
    ls_shard_writer_init(&e.w, out, (uint64_t)shard_tokens);
    char tkpath[4096], tktmp[4200];
    snprintf(tkpath, sizeof tkpath, "%s/tokenizer.bin", out);
    snprintf(tktmp, sizeof tktmp, "%s/tokenizer.bin.pending.%ld", out, (long)getpid());
    ls_pending_add(tktmp, tkpath);
    ls_tokenizer_save(&tk, tktmp);
    ls_progress_start(&e.prog, "encode", in.total_bytes);
    LsDocSink sink = {encode_begin, encode_text, encode_end};
    uint64_t ndocs = ls_read_documents(&in, fmt, &sink, &e);
    ls_progress_finish(&e.prog);
    if (ndocs == 0) ls_fatal("the input has no text (every document is empty)");
    if (val_fraction > 0 && e.w.s[1].tokens == 0)
        ls_fatal("too little data: no tokens fall in the last %.3g of the input for validation "
                 "(add input or use --val-fraction 0)", val_fraction);
    ls_shard_writer_close(&e.w);
    ls_shard_writer_commit(&e.w);
    ls_info("wrote %s (%s, vocab %d, eot %d)", tkpath, tk.has_merges ? "BPE" : "byte-level",
            tk.vocab_size, tk.eot);

    uint64_t ntrain = e.w.s[0].tokens, nval = e.w.s[1].tokens;
    ls_info("prepared %llu document%s, %llu bytes -> %llu tokens (%.3f bytes/token): train %llu "
            "tokens in %llu shard%s, val %llu tokens in %llu shard%s",
            (unsigned long long)ndocs, ndocs == 1 ? "" : "s", (unsigned long long)in.total_bytes,
            (unsigned long long)(ntrain + nval), (double)in.total_bytes / (double)(ntrain + nval),
            (unsigned long long)ntrain, (unsigned long long)e.w.s[0].nshards,
            e.w.s[0].nshards == 1 ? "" : "s", (unsigned long long)nval,
            (unsigned long long)e.w.s[1].nshards, e.w.s[1].nshards == 1 ? "" : "s");
    if (e.bpe.words > 0)
        ls_info("word cache: %.1f%% of %llu words hit", 100.0 * e.bpe.hits / e.bpe.words,
                (unsigned long long)e.bpe.words);

    ls_free(e.ids);
    ls_free(e.tok);
    ls_pretok_stream_free(&e.ps);
    ls_bpe_free(&e.bpe);
    ls_tokenizer_free(&tk);
    ls_inputs_free(&in);
    return 0;
}
