/* eval.c - see eval.h. */
#include "eval.h"

#include "../core/error.h"

static double model_forward(void *ctx, const int32_t *x, const int32_t *y, int B, int T) {
    return gpt_forward(ctx, x, y, B, T);
}

double eval_loss(Gpt *m, LsLoader *ld, int B, int T, int nbatches) {
    return eval_loss_with(model_forward, m, ld, B, T, nbatches);
}

double eval_loss_with(EvalForward fwd, void *ctx, LsLoader *ld, int B, int T, int nbatches) {
    int32_t *x = ls_calloc((size_t)B * T, sizeof(int32_t), "eval inputs");
    int32_t *y = ls_calloc((size_t)B * T, sizeof(int32_t), "eval targets");
    double sum = 0.0;
    for (int i = 0; i < nbatches; i++) {
        ls_loader_get(ld, (uint64_t)i * B, B, x, y);
        sum += fwd(ctx, x, y, B, T);
    }
    ls_free(x);
    ls_free(y);
    return sum / nbatches;
}
