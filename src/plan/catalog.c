/* catalog.c - the hardware table, key=value overrides, and cpu-local's
 * calibration file. Sources for every number: docs/PLANNER.md. */
#include <math.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../core/error.h"
#include "../core/fileio.h"
#include "calib.h"
#include "catalog.h"

/* Dense peaks and memory from vendor datasheets (published-runs.md's table);
 * links per device, one direction. Efficiencies: A100 0.87 and H100 0.80 are
 * the measured best bf16 GEMMs quoted in published-runs.md; the others are
 * stated assumptions (docs/PLANNER.md). */
static const PlanHw CATALOG[] = {
    /* name       desc                                   bf16   fp32  mem   hbm   intra lat  inter lat gpn eff   d0   mem  comm */
    {"v100", "NVIDIA V100 SXM2 32GB (DGX-1: 4x100Gb/s IB per 8 GPUs)",
     125, 15.7, 32, 900, 150, 3, 6.25, 8, 8, 0.80, 128, 0.80, 0.80, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0},
    {"a100-40g", "NVIDIA A100 SXM 40GB (DGX A100: 8x200Gb/s HDR IB)",
     312, 19.5, 40, 1555, 300, 3, 25, 8, 8, 0.87, 128, 0.80, 0.80, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0},
    {"a100-80g", "NVIDIA A100 SXM 80GB (DGX A100: 8x200Gb/s HDR IB)",
     312, 19.5, 80, 2039, 300, 3, 25, 8, 8, 0.87, 128, 0.80, 0.80, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0},
    {"h100", "NVIDIA H100 SXM 80GB (DGX H100: 8x400Gb/s NDR IB)",
     989, 67, 80, 3350, 450, 3, 50, 8, 8, 0.80, 128, 0.80, 0.80, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0},
    {"h200", "NVIDIA H200 SXM 141GB (HGX H200: 8x400Gb/s NDR IB)",
     989, 67, 141, 4800, 450, 3, 50, 8, 8, 0.80, 128, 0.80, 0.80, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0},
    {"b200", "NVIDIA B200 180GB (DGX B200: 8x400Gb/s)",
     2250, 75, 180, 8000, 900, 3, 50, 8, 8, 0.80, 128, 0.80, 0.80, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0},
    {"mi250x", "AMD MI250X, one GCD (Frontier node: 8 GCDs, 4x200Gb/s Slingshot)",
     191.5, 47.9, 64, 1638, 50, 5, 12.5, 10, 8, 0.70, 128, 0.80, 0.80, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0},
};
#define NHW ((int)(sizeof CATALOG / sizeof CATALOG[0]))

const char *plan_hw_names(void) {
    static char names[256];
    if (!names[0]) {
        for (int i = 0; i < NHW; i++) {
            strcat(names, CATALOG[i].name);
            strcat(names, ", ");
        }
        strcat(names, "cpu-local");
    }
    return names;
}

int plan_hw_lookup(const char *name, PlanHw *hw) {
    if (!strcmp(name, "cpu-local")) {
        plan_calib_get(hw, 1, 0);
        return 1;
    }
    for (int i = 0; i < NHW; i++)
        if (!strcmp(CATALOG[i].name, name)) {
            *hw = CATALOG[i];
            return 1;
        }
    return 0;
}

double plan_parse_number(const char *what, const char *s, double min, double max) {
    char *end;
    double v = strtod(s, &end);
    if (end == s || *end || !isfinite(v) || v < min || v > max)
        ls_fatal("%s: '%s' is not a number in [%g, %g]", what, s, min, max);
    return v;
}

/* One table for parsing and printing: every overridable field by name. */
typedef struct { const char *key; size_t off; } Field;
#define F(k) {#k, offsetof(PlanHw, k)}
static const Field FIELDS[] = {F(peak16_tflops), F(peak32_tflops), F(mem_gb), F(hbm_gbs),
                               F(intra_gbs), F(intra_lat_us), F(inter_gbs), F(inter_lat_us),
                               F(gemm_eff), F(gemm_d0), F(mem_eff), F(comm_eff), F(attn_gflops), F(elem_gbs), F(zero_gbs),
                               F(node_cores), F(node_gbs), F(norm_gbs)};
#undef F
#define NFIELDS ((int)(sizeof FIELDS / sizeof FIELDS[0]))

static int set_field(PlanHw *hw, const char *key, const char *value, const char *what) {
    for (int i = 0; i < NFIELDS; i++)
        if (!strcmp(FIELDS[i].key, key)) {
            *(double *)((char *)hw + FIELDS[i].off) = plan_parse_number(what, value, 0, 1e9);
            return 1;
        }
    if (!strcmp(key, "gpus_per_node")) hw->gpus_per_node = (int)plan_parse_number(what, value, 1, 1 << 20);
    else if (!strcmp(key, "fp32_only")) hw->fp32_only = (int)plan_parse_number(what, value, 0, 1);
    else if (!strcmp(key, "comm_on_cores")) hw->comm_on_cores = (int)plan_parse_number(what, value, 0, 1);
    else if (!strcmp(key, "clip_fused")) hw->clip_fused = (int)plan_parse_number(what, value, 0, 1);
    else if (!strcmp(key, "norm_fused")) hw->norm_fused = (int)plan_parse_number(what, value, 0, 1);
    else if (!strcmp(key, "name")) snprintf(hw->name, sizeof hw->name, "%s", value);
    else if (!strcmp(key, "desc")) snprintf(hw->desc, sizeof hw->desc, "%s", value);
    else return 0;
    return 1;
}

int plan_hw_set(PlanHw *hw, const char *key, const char *value) { return set_field(hw, key, value, key); }

/* Trim leading/trailing blanks in place. */
static char *trim(char *s) {
    while (*s == ' ' || *s == '\t') s++;
    size_t n = strlen(s);
    while (n && (s[n - 1] == ' ' || s[n - 1] == '\t' || s[n - 1] == '\n' || s[n - 1] == '\r')) s[--n] = 0;
    return s;
}

/* Parse key=value lines into hw; "threads"/"cpu" (calibration metadata) are
 * returned through *threads when not NULL. Fatal on malformed lines. */
void plan_hw_parse_file(PlanHw *hw, const char *path, int *threads) {
    FILE *f = ls_fopen(path, "r", "hardware file");
    char line[512], what[4400];
    int lineno = 0;
    while (fgets(line, sizeof line, f)) {
        lineno++;
        char *hash = strchr(line, '#');
        if (hash) *hash = 0;
        char *s = trim(line);
        if (!*s) continue;
        char *eq = strchr(s, '=');
        if (!eq) {
            fclose(f);
            ls_fatal("%s:%d: expected key = value, got '%s'", path, lineno, s);
        }
        *eq = 0;
        char *key = trim(s), *val = trim(eq + 1);
        if (!strcmp(key, "threads")) {
            snprintf(what, sizeof what, "%s:%d: threads", path, lineno);
            int t = (int)plan_parse_number(what, val, 1, 1 << 16);
            if (threads) *threads = t;
        } else if (!strcmp(key, "cpu")) {
            /* informational */
        } else if (snprintf(what, sizeof what, "%s:%d: %s", path, lineno, key),
                   !set_field(hw, key, val, what)) {
            fclose(f);
            ls_fatal("%s:%d: unknown key '%s' (keys: peak16_tflops peak32_tflops mem_gb hbm_gbs "
                     "intra_gbs intra_lat_us inter_gbs inter_lat_us gpus_per_node gemm_eff gemm_d0 "
                     "mem_eff comm_eff attn_gflops elem_gbs zero_gbs node_cores node_gbs norm_gbs fp32_only comm_on_cores clip_fused norm_fused name desc)", path, lineno, key);
        }
    }
    fclose(f);
}

void plan_hw_load_file(PlanHw *hw, const char *path) { plan_hw_parse_file(hw, path, NULL); }

void plan_hw_write(const PlanHw *hw, FILE *f) {
    fprintf(f, "name = %s\ndesc = %s\n", hw->name, hw->desc);
    for (int i = 0; i < NFIELDS; i++)
        fprintf(f, "%s = %.6g\n", FIELDS[i].key, *(const double *)((const char *)hw + FIELDS[i].off));
    fprintf(f, "gpus_per_node = %d\nfp32_only = %d\ncomm_on_cores = %d\nclip_fused = %d\nnorm_fused = %d\n",
            hw->gpus_per_node, hw->fp32_only, hw->comm_on_cores, hw->clip_fused, hw->norm_fused);
}

void plan_hw_print(const PlanHw *hw, FILE *f) {
    fprintf(f, "%-10s %s\n", hw->name, hw->desc);
    if (hw->fp32_only) /* cpu-local: processes on one host */
        fprintf(f, "           peak %.4g TFLOP/s fp32 (FMA), GEMMs at %.0f%% of it, %.4g GB at %.4g GB/s, "
                   "attention %.4g GFLOP/s; collectives %.4g GB/s, %.3g us per step\n",
                hw->peak32_tflops, 100 * hw->gemm_eff, hw->mem_gb, hw->hbm_gbs, hw->attn_gflops,
                hw->intra_gbs, hw->intra_lat_us);
    else
        fprintf(f, "           peak %.4g TFLOP/s bf16, %.4g TFLOP/s fp32, %.4g GB at %.4g GB/s; "
                   "%d per node, %.4g GB/s (%.3g us) intra-node, %.4g GB/s (%.3g us) inter-node\n",
                hw->peak16_tflops, hw->peak32_tflops, hw->mem_gb, hw->hbm_gbs, hw->gpus_per_node,
                hw->intra_gbs, hw->intra_lat_us, hw->inter_gbs, hw->inter_lat_us);
}

void plan_hw_list(FILE *f) {
    for (int i = 0; i < NHW; i++) plan_hw_print(&CATALOG[i], f);
}
