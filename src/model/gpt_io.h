/* gpt_io.h - model files in llm.c's GPT-2 format, and canonical-order I/O of
 * any flat buffer (parameters, AdamW moments).
 *
 * Model file: int32 header[256] = {20240326 (magic), 3 (version: fp32),
 * maxT, V, L, NH, C, Vp, 0...}, then the float32 tensors in canonical order
 * wte (Vp,C), wpe (maxT,C), ln1w (L,C), ln1b (L,C), qkvw (L,3C,C), qkvb (L,3C),
 * attprojw (L,C,C), attprojb (L,C), ln2w (L,C), ln2b (L,C), fcw (L,4C,C),
 * fcb (L,4C), fcprojw (L,C,4C), fcprojb (L,C), lnfw (C), lnfb (C).
 * llm.c reads our files and we read its fp32 ones (gpt2_124M.bin). */
#ifndef LS_GPT_IO_H
#define LS_GPT_IO_H
#include <stdint.h>
#include <stdio.h>

#include "../core/fileio.h"
#include "gpt.h"

#define GPT_MODEL_MAGIC 20240326
#define GPT_MODEL_VERSION 3

/* Read only the header; fatal with a precise message if it is not a valid
 * fp32 llm.c model file of the right size. */
void gpt_read_config(const char *path, GptConfig *cfg);
/* Load parameters into a model created with the same config (fatal on mismatch). */
void gpt_load(Gpt *m, const char *path);
/* Write header + parameters atomically. */
void gpt_save(const Gpt *m, const char *path);
/* Write / read a flat buffer with this rank's layout in canonical order (all
 * tensors, as in the model file, without header). */
void gpt_write_canonical(const GptLayout *lay, const float *flat, LsAtomicFile *af);
void gpt_read_canonical(const GptLayout *lay, float *flat, FILE *f, const char *path,
                        const char *what);
/* Floats that precede tensor (kind, layer) in canonical order (layer -1 for
 * the non-layer tensors; kind T_NUM_KINDS: the total): where a rank writes its
 * slices of a model or optimizer-state file. */
size_t gpt_canonical_offset(const GptConfig *cfg, int kind, int layer);
/* The 1024-byte header of a model file of cfg. */
void gpt_model_header(const GptConfig *cfg, int32_t h[256]);
/* `llmscale info` for a model file */
void gpt_print_info(const char *path);

#endif
