/* gpt_config.h - GPT-2 architecture hyper-parameters and named presets.
 *
 * The architecture is GPT-2's: learned position embeddings, pre-LayerNorm
 * blocks (LN -> causal multi-head attention -> residual, LN -> MLP 4C with
 * GELU-tanh -> residual), a final LayerNorm, and an LM head tied to the token
 * embedding. The vocabulary is padded to a multiple of 128 (llm.c's Vp) so the
 * classifier matrix has a GEMM-friendly shape; padded logits never enter the
 * softmax. */
#ifndef LS_GPT_CONFIG_H
#define LS_GPT_CONFIG_H
#include <stddef.h>
#include <stdio.h>

typedef struct {
    int max_seq_len;       /* maxT: rows of the position embedding */
    int vocab_size;        /* V: real vocabulary */
    int padded_vocab_size; /* Vp: V rounded up to a multiple of 128 */
    int num_layers;        /* L */
    int num_heads;         /* NH */
    int channels;          /* C */
} GptConfig;

/* Fill *cfg from a preset name ("gpt2", "GPT125M", "tiny", ...). Returns 0 if
 * the name is unknown. */
int gpt_preset(const char *name, GptConfig *cfg);
void gpt_print_presets(FILE *f);
/* "micro, tiny, ...": every preset name, comma-separated (static storage). */
const char *gpt_preset_names(void);
/* Round V up to a multiple of `multiple` (128 * tp). */
int gpt_pad_vocab(int V, int multiple);
/* Fatal one-line error on a nonsensical config (sizes <= 0, heads not dividing
 * channels, padded vocab too small, ...). */
void gpt_config_validate(const GptConfig *cfg);
/* The same checks without the error: NULL if cfg is usable, else buf holding
 * what is wrong (one line). */
const char *gpt_config_problem(const GptConfig *cfg, char *buf, size_t n);
/* Total parameters in the canonical (llm.c) layout, padded rows included. */
size_t gpt_num_params(const GptConfig *cfg);
/* The same count in double (exact below 2^53), safe to evaluate on an
 * unvalidated file header whose sizes could overflow size_t. */
double gpt_num_params_d(const GptConfig *cfg);
/* Model FLOPs per token at sequence length T (PaLM's MFU count):
 * 6*N + 12*L*C*T, where N counts every parameter that takes part in a matrix
 * product or elementwise op: all parameters except the position embedding
 * (a lookup), with the tied token embedding counted once (as the LM head). */
double gpt_flops_per_token(const GptConfig *cfg, int T);

#endif
