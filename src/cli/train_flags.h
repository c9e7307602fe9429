/* train_flags.h - the flags (and environment variables) of `llmscale train`,
 * parsed and checked without touching a file or starting MPI: cmd_train.c
 * then resolves the model and runs the trainer; tests/fuzz/fuzz_flags.c
 * fuzzes this step alone. */
#ifndef LS_TRAIN_FLAGS_H
#define LS_TRAIN_FLAGS_H
#include "../train/trainer.h"
#include "model_flags.h"

/* Defaults, then MICRO_BATCH/GAS/ZERO_STAGE/MODEL_SIZE_KEY/SEQ_LEN, then the
 * flags; a bad flag is a one-line fatal error. --tp/--pp values are checked
 * but read by the caller before MPI starts. o->grid is left NULL. */
void train_parse_flags(int argc, char **argv, TrainOpts *o, ModelFlags *mf, int *threads);

#endif
