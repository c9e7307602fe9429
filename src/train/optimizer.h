/* optimizer.h - AdamW over the flat parameter buffer, learning-rate schedule,
 * global gradient-norm clipping.
 *
 * AdamW (Loshchilov & Hutter), as torch.optim.AdamW, step t = 1, 2, ...:
 *     p <- p - lr * wd * p                  (decoupled decay; 2-D weights only)
 *     m <- b1 m + (1 - b1) g,   v <- b2 v + (1 - b2) g^2
 *     p <- p - lr * (m / (1 - b1^t)) / (sqrt(v / (1 - b2^t)) + eps)
 * m and v have the flat layout of the parameters, so ZeRO can shard all three
 * identically. */
#ifndef LS_OPTIMIZER_H
#define LS_OPTIMIZER_H
#include <stddef.h>

#include "../model/gpt_layout.h"

typedef struct {
    float lr, beta1, beta2, eps, weight_decay;
    float grad_scale; /* g is multiplied by it as it is read: global-norm clipping
                         (grad_clip_factor) in the update's own pass; 1 = none */
} AdamWParams;

typedef struct {
    float *m, *v;     /* flat, like the parameters */
    size_t n;
    long t;           /* updates done so far */
} AdamW;

void adamw_init(AdamW *o, size_t n);
void adamw_free(AdamW *o);
/* One update of params[0..n) with grads, using the layout's decay flags. */
void adamw_step(AdamW *o, const GptLayout *lay, float *params, const float *grads, const AdamWParams *hp);
/* The same for the flat range [lo, hi) only (a ZeRO slice): params, grads and
 * the moments hold exactly that range, index 0 being flat offset lo. */
void adamw_step_range(AdamW *o, const GptLayout *lay, size_t lo, size_t hi, float *params,
                      const float *grads, const AdamWParams *hp);
/* adamw_step_range that also leaves grads[0, hi - lo) zero, in the same pass
 * (bit-identical update). The step is memory-bound (28 bytes per parameter);
 * clearing the gradient while its cache line is at hand costs ~2 ms at
 * GPT-2 124M on the 2-core VM, a separate zeroing pass over the 0.5 GB
 * gradient ~25 ms. For a caller that owns the whole gradient buffer (one
 * process, or data parallel without ZeRO) and would zero it before the next
 * step anyway. Tensors whose kind (T_*) has its bit set in keep_kinds keep
 * their gradient: the next backward overwrites them (gpt.h,
 * gpt_overwritten_kinds), and not writing them saves 4 bytes per parameter. */
void adamw_step_zero_grads(AdamW *o, const GptLayout *lay, size_t lo, size_t hi, float *params,
                           float *grads, const AdamWParams *hp, unsigned keep_kinds);

/* Learning rate at step `step` (0-based) of `total`: linear warm-up over
 * `warmup` steps to lr_max, then constant, or cosine decay to lr_min at the
 * last step. */
typedef enum { LR_CONSTANT, LR_COSINE } LrSchedule;
float lr_at(LrSchedule s, float lr_max, float lr_min, int warmup, long step, long total);

/* Global-norm clipping: clip/norm when norm > clip > 0, else 1; the update
 * applies it (AdamWParams.grad_scale) instead of a separate pass over the
 * gradient (read + write 8 bytes per parameter: ~25 ms per GPT-2 124M step
 * on the 2-core VM). g * 1.0f is g exactly, so an unclipped step is the
 * same either way, and a clipped one rounds g * f as the pass did. */
float grad_clip_factor(double norm, float clip);

#endif
