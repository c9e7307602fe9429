/* classifier.c - the LM head: logits = lnf wte^T (tied embedding), then the
 * softmax cross-entropy, forward and backward, as one kernel.
 *
 * Forward writes the (N, Vp) logits once (the GEMM) and reads them once (the
 * loss). Backward turns them, in place, into dlogits = dloss (softmax - onehot)
 * and feeds that straight to the two products dlnf = dlogits wte and
 * dwte += dlogits^T lnf: the logits matrix is never copied. */
#include "kernels.h"
#include "profile.h"

void classifier_forward(float *logits, float *losses, float *lse, const float *lnf,
                        const float *wte, const int32_t *targets, int N, int C, int V, int Vp) {
    double t0_ = ls_prof_begin();
    matmul_forward(logits, lnf, wte, NULL, N, C, Vp);
    if (targets) crossentropy_forward(losses, lse, logits, targets, N, V, Vp);
    ls_prof_end(LS_PROF_CLASSIFIER, t0_);
}

void classifier_backward(float *dlnf, float *dwte, float *logits, const float *lse,
                         const float *lnf, const float *wte, const int32_t *targets, float dloss,
                         int N, int C, int V, int Vp) {
    double t0_ = ls_prof_begin();
    crossentropy_backward(logits, lse, targets, dloss, N, V, Vp);
    matmul_backward(dlnf, dwte, NULL, logits, lnf, wte, N, C, Vp);
    ls_prof_end(LS_PROF_CLASSIFIER, t0_);
}
