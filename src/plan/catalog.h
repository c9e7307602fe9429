/* catalog.h - the hardware `plan` models: one accelerator (or this CPU) and
 * the links between them.
 *
 * Every number is per device (per GPU, per MI250X GCD, or per CPU process for
 * cpu-local). Link bandwidths are UNIDIRECTIONAL bytes/s one device can push
 * (vendor sheets quote NVLink bidirectional: 600 GB/s on A100 = 300 each way).
 * inter_gbs is one device's share of its node's network injection bandwidth
 * (DGX A100: 8 x 200 Gb/s HDR for 8 GPUs = 25 GB/s each).
 *
 * The efficiency constants are the whole calibration of the model; they are
 * per chip, never per run (docs/PLANNER.md says where each comes from):
 *   gemm_eff   best dense GEMM rate / peak (large square shapes)
 *   gemm_d0    shape knee: a GEMM of dims (M, N, K) reaches
 *              gemm_eff * g(M) g(N) g(K), g(d) = d / (d + gemm_d0)
 *   mem_eff    achieved / peak bandwidth of memory-bound element-wise kernels
 *   comm_eff   achieved / link bandwidth of large collectives (NCCL bus bw)
 * cpu-local is this machine: its numbers come from `llmscale bench`'s
 * calibration file (plan_calib_load), not from a datasheet. */
#ifndef LS_PLAN_CATALOG_H
#define LS_PLAN_CATALOG_H
#include <stdio.h>

typedef struct {
    char name[32];
    char desc[96];
    double peak16_tflops;   /* dense bf16/fp16 matrix peak (TFLOP/s) */
    double peak32_tflops;   /* dense fp32 peak (non-tensor-core; the CPU's FMA peak) */
    double mem_gb;          /* device memory (GB = 1e9 bytes) */
    double hbm_gbs;         /* device memory bandwidth (GB/s) */
    double intra_gbs, intra_lat_us; /* within a node, per device, one direction */
    double inter_gbs, inter_lat_us; /* across nodes, per device's share of the NICs */
    int gpus_per_node;
    double gemm_eff, gemm_d0, mem_eff, comm_eff;
    /* > 0: attention is llmscale's own loop kernel running at this measured
     * GFLOP/s (cpu-local); 0: attention scores/values are batched GEMMs */
    double attn_gflops;
    int fp32_only;          /* llmscale's CPU trainer: fp32 everything */
    /* > 0: element-wise kernels' measured bandwidth in GB/s (cpu-local:
     * llmscale's LayerNorm/GELU/residual kernels); 0: hbm_gbs * mem_eff */
    double elem_gbs;
    /* > 0: bandwidth of zeroing the gradient buffer (cpu-local: the model's
     * one-threaded memset); 0: hbm_gbs * mem_eff */
    double zero_gbs;
    /* cpu-local: the host's cores and the memory bandwidth all of them reach
     * together (in-place updates, GB/s): what ranks sharing the host divide */
    double node_cores, node_gbs;
    /* > 0: bytes/s of the gradient-norm pass (cpu-local: llmscale's own
     * sum of squares, tp_grad_sq_parts, as measured); 0: hbm_gbs * mem_eff */
    double norm_gbs;
    /* 1: collectives are copies run by the compute cores themselves (llmscale
     * on one CPU host): they overlap nothing, every second of them is exposed */
    int comm_on_cores;
    /* 1: gradient clipping is applied inside the optimizer's own pass
     * (llmscale's AdamW); 0: a separate read + write of the gradients
     * (Megatron's multi-tensor scale) */
    int clip_fused;
    /* 1: with one process and one micro-batch the weight-gradient products sum
     * their squares as they write them (llmscale), so the gradient norm reads
     * none of the weight matrices again; 0: the norm reads every gradient */
    int norm_fused;
} PlanHw;

/* Look a chip up by name (a100-80g, a100-40g, h100, h200, v100, b200, mi250x,
 * cpu-local). cpu-local is filled from the calibration file (or documented
 * defaults with a warning when `llmscale bench` has not written one).
 * Returns 0 if the name is unknown. */
int plan_hw_lookup(const char *name, PlanHw *hw);
/* "a100-80g, a100-40g, ..." (static storage) */
const char *plan_hw_names(void);
/* Override fields from a key=value file (one per line, '#' comments; keys are
 * the field names above, e.g. "inter_gbs = 50"). Fatal on unknown keys or bad
 * numbers, naming file and line. */
void plan_hw_load_file(PlanHw *hw, const char *path);
/* The same for one "key=value" string; returns 0 if the key is unknown. */
int plan_hw_set(PlanHw *hw, const char *key, const char *value);
void plan_hw_print(const PlanHw *hw, FILE *f);

/* Parse key=value lines of `path` into hw (as plan_hw_load_file); a
 * "threads" key is stored in *threads when threads is not NULL, "cpu" is
 * informational. */
void plan_hw_parse_file(PlanHw *hw, const char *path, int *threads);
/* Write every field as key = value lines (the format the loaders read). */
void plan_hw_write(const PlanHw *hw, FILE *f);
/* Print the built-in table (cpu-local excluded). */
void plan_hw_list(FILE *f);
/* Strict number: the whole string, within [min, max], else fatal naming `what`. */
double plan_parse_number(const char *what, const char *s, double min, double max);

#endif
