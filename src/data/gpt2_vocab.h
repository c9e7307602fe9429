/* gpt2_vocab.h - GPT-2's own tokenizer files: encoder.json + vocab.bpe.
 *
 * encoder.json maps each token, written in GPT-2's "bytes_to_unicode"
 * alphabet, to its id; vocab.bpe lists the merges in rank order, one
 * "LEFT RIGHT" pair per line after a "#version" line. GPT-2's alphabet maps
 * the 188 printable bytes ('!'..'~', 0xA1..0xAC, 0xAE..0xFF) to the code
 * points of the same value and the other 68 bytes, in increasing order, to
 * U+0100, U+0101, ... (so ' ' is 'Ġ' U+0120 and '\n' is 'Ċ' U+010A). We map
 * every token back to its bytes and every merge to (left id, right id,
 * result id), giving an LsTokenizer with GPT-2's ids whose encoding
 * (bpe_encode.h) is GPT-2's. <|endoftext|> is GPT-2's EOT (50256).
 *
 * A user with the files (they ship with GPT-2's release and with Hugging
 * Face's "gpt2" model as vocab.json + merges.txt, the same content) points
 * `--tokenizer gpt2:DIR` at the directory holding them; vocab.json and
 * merges.txt are accepted as the names too. */
#ifndef LS_GPT2_VOCAB_H
#define LS_GPT2_VOCAB_H

#include "tokenizer.h"

/* Load DIR/encoder.json (or vocab.json) and DIR/vocab.bpe (or merges.txt). */
void ls_gpt2_load(LsTokenizer *tk, const char *dir);
/* GPT-2's bytes_to_unicode: the code point byte b is written as. */
unsigned ls_gpt2_byte_to_unicode(unsigned b);

#endif
