/* tokenizer_spec.c - see tokenizer_spec.h. */
#include "tokenizer_spec.h"

#include <string.h>

#include "../data/gpt2_vocab.h"

void ls_tokenizer_from_spec(LsTokenizer *tk, const char *spec) {
    if (!strcmp(spec, "byte")) ls_tokenizer_byte_level(tk);
    else if (!strncmp(spec, "gpt2:", 5)) ls_gpt2_load(tk, spec + 5);
    else ls_tokenizer_load(tk, spec);
}
