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
 * Bytes after the last piece are ignored on load (reserved for a merge list
 * for BPE encoding; llm.c files end after the pieces).
 *
 * The tokenizer `prepare` builds is byte-level: ids 0..255 are the single
 * bytes 0x00..0xFF and id 256 is "<|endoftext|>" (vocab_size 257). Encoding
 * text with it is the identity on bytes; GPT-2's BPE tables load and decode
 * here but encoding with them needs the BPE tokenizer (not yet written). */
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
} LsTokenizer;

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
/* 1 if ids 0..255 are exactly the single bytes 0..255. */
int ls_tokenizer_is_byte_level(const LsTokenizer *tk);
/* Byte-level encoding: out[i] = (unsigned char)text[i]; returns n. Fatal if
 * the tokenizer is not byte-level. `out` holds n ids. */
int ls_tokenizer_encode_bytes(const LsTokenizer *tk, const char *text, size_t n, int32_t *out);

/* `llmscale info` for a tokenizer file (loads and validates it). */
void ls_tokenizer_print_info(const char *path);

#endif
