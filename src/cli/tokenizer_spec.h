/* tokenizer_spec.h - the --tokenizer SPEC forms shared by prepare and tokenize:
 *     byte       the 257-token byte-level table
 *     gpt2:DIR   GPT-2's encoder.json + vocab.bpe in DIR (gpt2_vocab.h)
 *     FILE       a tokenizer.bin (llm.c table + our merge section)
 * (`bpe`, training a new one, exists only in prepare.) */
#ifndef LS_TOKENIZER_SPEC_H
#define LS_TOKENIZER_SPEC_H
#include "../data/tokenizer.h"

void ls_tokenizer_from_spec(LsTokenizer *tk, const char *spec);

#endif
