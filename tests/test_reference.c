/* test_reference.c - the one-process trainer against PyTorch.
 *
 * usage: test_reference MODEL BATCH REF STEPS GRAD_ACCUM GRAD_CLIP LR BETA1 BETA2 EPS WD
 * MODEL/BATCH/REF come from tests/reference/gpt_ref.py (make-model, make-batch,
 * run), which builds the same GPT-2 in PyTorch from the llm.c-format file,
 * computes in float64, and writes logits, loss, gradient norm and every
 * gradient of step 0, the losses of STEPS AdamW steps and the final parameters.
 * This program runs exactly the same steps through the trainer's code (model,
 * kernels, clipping, AdamW) and compares.
 *
 * Tolerances (float32 against a float64 reference; unit round-off 6e-8, sums
 * over at most a few hundred terms):
 *   loss, each step's loss       1e-5 relative
 *   logits                       1e-5 of the largest |logit|
 *   gradients                    1e-5 of each tensor's largest |gradient| (the issue
 *                                asks for 1e-4; measured worst ~1e-6, so 1e-5 keeps a
 *                                10x margin and still catches any wrong term)
 *   final parameters             1e-4 of each tensor's largest |parameter|, except the
 *                                key-bias slice of qkvb: its true gradient is exactly 0
 *                                (softmax is shift-invariant), so Adam turns float32
 *                                round-off of ~1e-9 into full-size updates; it is
 *                                checked only to be bounded by lr * steps. The same
 *                                amplification hits any gradient entry at float32
 *                                noise level when eps is tiny (1e-8), so the runs
 *                                with grad-accum use eps 1e-6 (test_reference.sh),
 *                                where every parameter matches to ~1e-5.
 * A poisoned-output self-check makes sure the comparison can fail.
 *
 * With LLMSCALE_TEST_DTYPE=bf16 the linear layers and the head run with bf16
 * operands (fp32 sums), and the same float64 truth is compared with looser,
 * reasoned tolerances. Rounding an operand to bf16 costs a relative 2^-8 at
 * most (8 significant bits), so one product term is off by <= 2^-7 |a b|;
 * summed over random-sign terms the error of an output is ~2^-8 of its size
 * (1/256 = 0.4%), and a forward pass chains ~4 products per layer plus the
 * head, each adding its own. Gradients pass through about twice as many.
 *   logits                 2e-2 of the largest |logit|      (a few x 0.4% x depth)
 *   step-0 loss            1e-3 relative (a mean over tokens: errors average out)
 *   gradients              5e-2 of each tensor's largest |gradient|
 *   gradient norm          1e-2 relative
 *   losses of all steps    2e-3 relative
 * Final parameters are not compared: Adam divides by sqrt(v), so gradient
 * entries near zero turn bf16-sized differences into full-size updates. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/error.h"
#include "core/fileio.h"
#include "kernels/cpu/kernels.h"
#include "model/gpt.h"
#include "model/gpt_io.h"
#include "parallel/tensor_parallel.h"
#include "train/optimizer.h"

static int failures = 0, passes = 0;

static void check(int ok, const char *what, double got, double tol) {
    printf("  %-44s %.3e (tol %.0e) %s\n", what, got, tol, ok ? "ok" : "FAIL");
    if (ok) passes++; else failures++;
}

/* gather a flat buffer into canonical (file) order */
static void to_canonical(const GptLayout *lay, const float *flat, float *out) {
    size_t off = 0;
    for (int k = 0; k < T_NUM_KINDS; k++) {
        int per = gpt_kind_is_per_layer(k);
        for (int l = per ? 0 : -1; l < (per ? lay->cfg.num_layers : 0); l++) {
            const GptTensor *t = gpt_layout_find(lay, k, l);
            size_t n = (size_t)t->rows * t->cols;
            memcpy(out + off, flat + t->offset, n * sizeof(float));
            off += n;
        }
    }
}

/* worst |a-b| / max|b| over each canonical tensor; skip_kbias masks the key bias */
static double worst_tensor_rel(const GptConfig *c, const float *a, const float *b, int skip_kbias,
                               char *worst_name) {
    double worst = 0.0;
    size_t off = 0;
    for (int k = 0; k < T_NUM_KINDS; k++) {
        int per = gpt_kind_is_per_layer(k), nl = per ? c->num_layers : 1;
        int r, cols;
        gpt_full_shape(c, k, &r, &cols);
        size_t n = (size_t)r * cols;
        for (int l = 0; l < nl; l++, off += n) {
            double maxref = 0.0, maxdiff = 0.0;
            for (size_t i = 0; i < n; i++) {
                if (skip_kbias && k == T_QKVB && i >= (size_t)c->channels && i < 2 * (size_t)c->channels)
                    continue;
                maxref = fmax(maxref, fabs(b[off + i]));
                maxdiff = fmax(maxdiff, fabs((double)a[off + i] - b[off + i]));
            }
            double rel = maxref > 0 ? maxdiff / maxref : maxdiff;
            if (rel > worst) {
                worst = rel;
                sprintf(worst_name, "%s[%d]", GPT_TENSOR_NAMES[k], per ? l : 0);
            }
        }
    }
    return worst;
}

int main(int argc, char **argv) {
    if (argc != 12) {
        fprintf(stderr, "usage: %s MODEL BATCH REF STEPS A CLIP LR B1 B2 EPS WD\n", argv[0]);
        return 2;
    }
    const char *model = argv[1], *batch = argv[2], *ref = argv[3];
    int steps = atoi(argv[4]), A = atoi(argv[5]);
    float clip = (float)atof(argv[6]);
    AdamWParams hp = {(float)atof(argv[7]), (float)atof(argv[8]), (float)atof(argv[9]),
                      (float)atof(argv[10]), (float)atof(argv[11]), 1.0f};

    const char *dt = getenv("LLMSCALE_TEST_DTYPE");
    int bf16 = dt && !strcmp(dt, "bf16");
    if (bf16) matmul_set_dtype(LS_DTYPE_BF16);
    double tol_logits = bf16 ? 2e-2 : 1e-5, tol_loss = bf16 ? 1e-3 : 1e-5, tol_norm = bf16 ? 1e-2 : 1e-5;
    double tol_grad = bf16 ? 5e-2 : 1e-5, tol_losses = bf16 ? 2e-3 : 1e-5;

    GptConfig cfg;
    gpt_read_config(model, &cfg);
    Gpt m;
    gpt_create(&m, &cfg, 0, cfg.num_layers, 1, 0);
    gpt_load(&m, model);
    size_t P = m.lay.total;

    FILE *f = ls_fopen(batch, "rb", "batch");
    int32_t bh[3];
    ls_fread_exact(bh, sizeof bh, f, batch, "batch");
    int B = bh[0], T = bh[1], nmicro = bh[2];
    size_t BT = (size_t)B * T;
    int32_t *toks = ls_calloc((size_t)nmicro * 2 * BT, sizeof(int32_t), "batches");
    ls_fread_exact(toks, sizeof(int32_t) * 2 * BT * nmicro, f, batch, "batch");
    fclose(f);

    f = ls_fopen(ref, "rb", "reference");
    int32_t rh[8];
    ls_fread_exact(rh, sizeof rh, f, ref, "reference");
    if (rh[0] != 20261123 || rh[1] != B || rh[2] != T || rh[3] != cfg.padded_vocab_size ||
        (size_t)rh[4] != P || rh[5] != steps || rh[6] != A)
        ls_fatal("reference file '%s' does not match this run", ref);
    size_t nlog = BT * cfg.padded_vocab_size;
    float *ref_logits = ls_calloc(nlog, 4, "ref"), ref_loss, ref_norm;
    float *ref_grads = ls_calloc(P, 4, "ref"), *ref_losses = ls_calloc((size_t)steps, 4, "ref");
    float *ref_params = ls_calloc(P, 4, "ref");
    ls_fread_exact(ref_logits, nlog * 4, f, ref, "reference");
    ls_fread_exact(&ref_loss, 4, f, ref, "reference");
    ls_fread_exact(&ref_norm, 4, f, ref, "reference");
    ls_fread_exact(ref_grads, P * 4, f, ref, "reference");
    ls_fread_exact(ref_losses, (size_t)steps * 4, f, ref, "reference");
    ls_fread_exact(ref_params, P * 4, f, ref, "reference");
    fclose(f);

    AdamW opt;
    adamw_init(&opt, P);
    float *logits0 = ls_calloc(nlog, 4, "logits"), *grads0 = ls_calloc(P, 4, "grads");
    float *losses = ls_calloc((size_t)steps, 4, "losses");
    double norm0 = 0;
    for (int s = 0; s < steps; s++) {
        gpt_zero_grad(&m);
        double sum = 0;
        for (int j = 0; j < A; j++) {
            int mi = (s * A + j) % nmicro;
            const int32_t *x = toks + (size_t)mi * 2 * BT, *y = x + BT;
            sum += gpt_forward(&m, x, y, B, T);
            if (s == 0 && j == 0) memcpy(logits0, m.a.logits, nlog * 4);
            gpt_backward(&m, 1.0f / ((float)BT * A));
        }
        losses[s] = (float)(sum / A);
        double sq, rep; /* the trainer's own sum of squares (one process: no tied copy) */
        tp_grad_sq_parts(&m.lay, m.grads, 0, P, &sq, &rep);
        double norm = sqrt(sq + rep);
        if (s == 0) {
            norm0 = norm;
            to_canonical(&m.lay, m.grads, grads0);
        }
        hp.grad_scale = grad_clip_factor(norm, clip);
        adamw_step(&opt, &m.lay, m.params, m.grads, &hp);
    }
    float *params = ls_calloc(P, 4, "params");
    to_canonical(&m.lay, m.params, params);

    printf("reference comparison: L=%d C=%d NH=%d V=%d, B=%d T=%d, %d steps, grad-accum %d, clip %g\n",
           cfg.num_layers, cfg.channels, cfg.num_heads, cfg.vocab_size, B, T, steps, A, clip);
    double maxref = 0, maxdiff = 0;
    for (size_t i = 0; i < nlog; i++) {
        maxref = fmax(maxref, fabs(ref_logits[i]));
        maxdiff = fmax(maxdiff, fabs((double)logits0[i] - ref_logits[i]));
    }
    check(maxdiff / maxref <= tol_logits, "logits (max diff / max |logit|)", maxdiff / maxref, tol_logits);
    double lrel = fabs(losses[0] - ref_loss) / fabs(ref_loss);
    check(lrel <= tol_loss, "step-0 loss (relative)", lrel, tol_loss);
    double nrel = fabs(norm0 - ref_norm) / ref_norm;
    check(nrel <= tol_norm, "step-0 gradient norm (relative)", nrel, tol_norm);
    char name[64] = "-";
    double g = worst_tensor_rel(&cfg, grads0, ref_grads, 0, name);
    char label[128];
    snprintf(label, sizeof label, "gradients, worst tensor %s", name);
    check(g <= tol_grad, label, g, tol_grad);
    double worst_loss = 0;
    for (int s = 0; s < steps; s++)
        worst_loss = fmax(worst_loss, fabs(losses[s] - ref_losses[s]) / fabs(ref_losses[s]));
    check(worst_loss <= tol_losses, "losses of all steps (worst relative)", worst_loss, tol_losses);
    if (bf16) { /* bf16 must differ from fp32 at all (the products really ran in bf16) */
        check(maxdiff / maxref > 1e-6, "bf16 engaged: logits differ from fp32-exact", maxdiff / maxref, 1e-6);
        grads0[P / 2] += 1.0f;
        double poisoned = worst_tensor_rel(&cfg, grads0, ref_grads, 0, name);
        check(poisoned > tol_grad, "self-check: poisoned gradient is detected", poisoned, tol_grad);
        printf("%d passed, %d failed\n", passes, failures);
        return failures ? 1 : 0;
    }
    double p = worst_tensor_rel(&cfg, params, ref_params, 1, name);
    snprintf(label, sizeof label, "final parameters, worst tensor %s", name);
    check(p <= 1e-4, label, p, 1e-4);
    /* the key-bias slice: bounded by the total step size, lr per step */
    double kb = 0;
    size_t qkvb_off = 0;
    for (int k = 0; k < T_QKVB; k++) {
        int r, c;
        gpt_full_shape(&cfg, k, &r, &c);
        qkvb_off += (size_t)r * c * (gpt_kind_is_per_layer(k) ? cfg.num_layers : 1);
    }
    for (int l = 0; l < cfg.num_layers; l++)
        for (int i = cfg.channels; i < 2 * cfg.channels; i++) {
            size_t at = qkvb_off + (size_t)l * 3 * cfg.channels + i;
            kb = fmax(kb, fabs((double)params[at] - ref_params[at]));
        }
    check(kb <= 2.0 * hp.lr * steps + 1e-6, "key-bias drift (abs, bound 2*lr*steps)", kb, 2.0 * hp.lr * steps);

    /* self-check: a poisoned gradient must be caught by the same comparison */
    grads0[P / 2] += 1.0f;
    double poisoned = worst_tensor_rel(&cfg, grads0, ref_grads, 0, name);
    check(poisoned > 1e-5, "self-check: poisoned gradient is detected", poisoned, 1e-4);

    printf("%d passed, %d failed\n", passes, failures);
    return failures ? 1 : 0;
}
