/* tokenizer.h - the token <-> bytes table, in llm.c's tokenizer file format.
 *
 * File format (all integers little-endian, as llm.c writes them):
 *     uint32 header[256]
 *         header[0] = 20240328   magic
 *         header[1] = 1 or 2     version (1 has no EOT field; llm.c then uses 50256)
 *         header[2] = vocab_size in [1, 2^20]
 *         header[3] = eot        id of "<|endoftext|>" (version 2 only)
 *         rest      = 0
 *     then for each token id 0..vocab_size-1:
 *         uint8 length (>= 1), then `length` bytes: the text the token decodes to.
 * llm.c's own files end here; llm.c stops reading after the pieces, so the
 * optional section below keeps our files loadable by llm.c.
 *
 * Merge section (ours, optional, right after the last piece), version 1:
 *     uint32 magic    0x4D45504C ("LPEM" in file byte order)
 *     uint32 version  1
 *     uint32 nmerges
 *     uint32 pretok   1 = GPT-2 regex pre-splitting (the only one so far)
 *     uint32 byte_id[256]          token of each single byte
 *     uint32 merge[nmerges][3]     left, right, result; rank = index
 *     uint32 crc32                 CRC-32 of the section's bytes before it
 * Checked on load: magic, version, size, checksum, every id < vocab_size,
 * piece(byte_id[b]) == the byte b, piece(result) == piece(left) piece(right).
 * Anything else after the pieces is rejected as corrupt.
 *
 * Kinds of tables:
 *   byte-level   ids 0..255 are the bytes, id 256 "<|endoftext|>" (vocab 257);
 *                encodes as the identity on bytes (no merge section needed);
 *   trained BPE  `prepare --tokenizer bpe`: bytes 0..255, merge i makes id
 *                256+i, EOT last (vocab_size-1);
 *   GPT-2        from encoder.json + vocab.bpe (gpt2_vocab.h): GPT-2's ids;
 *   decode-only  llm.c's gpt2_tokenizer.bin: no merges, so it cannot encode. */
#ifndef LS_TOKENIZER_H
#define LS_TOKENIZER_H
#include <stddef.h>
#include <stdint.h>

#define LS_TOKENIZER_MAGIC 20240328
#define LS_TOKENIZER_MAX_VOCAB (1 << 20)
#define LS_BYTE_LEVEL_VOCAB 257
#define LS_BYTE_LEVEL_EOT 256

typedef struct {
    int vocab_size;
    int eot;        /* id of <|endoftext|>, or -1 if the table has none */
    int version;    /* file version it was loaded from (2 for built ones) */
    char **piece;   /* piece[i]: the len[i] bytes of token i, NUL-terminated */
    uint8_t *len;   /* len[i] in [1, 255] */
    char *blob;     /* storage all pieces point into */
    /* BPE merge list (has_merges), see the merge section above */
    int has_merges;
    int nmerges;
    uint32_t *merges;     /* 3*nmerges: left, right, result */
    int32_t byte_id[256]; /* token of each byte */
} LsTokenizer;

#define LS_MERGES_MAGIC 0x4D45504Cu
#define LS_MERGES_VERSION 1u
#define LS_PRETOK_GPT2 1u

/* The 257-token byte-level table. */
void ls_tokenizer_byte_level(LsTokenizer *tk);
/* Load and validate a tokenizer file; any problem is a one-line fatal error
 * naming the file. */
void ls_tokenizer_load(LsTokenizer *tk, const char *path);
/* Write in format version 2 (atomically). */
void ls_tokenizer_save(const LsTokenizer *tk, const char *path);
void ls_tokenizer_free(LsTokenizer *tk);

/* The bytes of token `id` (not NUL-terminated as far as *len goes; it is in
 * fact NUL-terminated), or NULL for an id outside [0, vocab_size). */
const char *ls_tokenizer_decode(const LsTokenizer *tk, int id, int *len);
/* Allocate a table of `vocab` pieces of total length `bytes` (pieces are set
 * by the caller: tk->piece[i] points into tk->blob, NUL-terminated). */
void ls_tokenizer_alloc(LsTokenizer *tk, int vocab, size_t bytes);
/* 1 if the table can encode: it has merges, or it is byte-level. */
int ls_tokenizer_can_encode(const LsTokenizer *tk);
/* 1 if ids 0..255 are exactly the single bytes 0..255. */
int ls_tokenizer_is_byte_level(const LsTokenizer *tk);
/* Byte-level encoding: out[i] = (unsigned char)text[i]; returns n. Fatal if
 * the tokenizer is not byte-level. `out` holds n ids. */
int ls_tokenizer_encode_bytes(const LsTokenizer *tk, const char *text, size_t n, int32_t *out);

/* Print n bytes in double quotes on stdout, C-style: \" \\ \n \t, other bytes
 * outside 0x20..0x7e as \xNN. */
void ls_print_piece(const char *s, int n);

/* `llmscale info` for a tokenizer file (loads and validates it). */
void ls_tokenizer_print_info(const char *path);

#endif
