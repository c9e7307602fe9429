/* eval.h - mean loss over consecutive batches (validation and `llmscale eval`). */
#ifndef LS_EVAL_H
#define LS_EVAL_H
#include "../data/loader.h"
#include "../model/gpt.h"

/* Mean token loss of batches 0..nbatches-1, batch i being the B sequences
 * starting at sequence i*B of the loader. */
double eval_loss(Gpt *m, LsLoader *ld, int B, int T, int nbatches);
/* The same through any forward (a pipeline's: pipe_forward_loss). */
typedef double (*EvalForward)(void *ctx, const int32_t *x, const int32_t *y, int B, int T);
double eval_loss_with(EvalForward fwd, void *ctx, LsLoader *ld, int B, int T, int nbatches);

#endif
