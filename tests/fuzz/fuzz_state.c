/* fuzz_state.c - the checkpoint state reader (src/train/checkpoint.c):
 * ckpt_verify (what --resume auto uses to pick a checkpoint) and ckpt_load,
 * on a run directory whose model file is valid and whose state file is the
 * input. Each input runs twice: as given, and with its checksums made right
 * (the trailing CRC-32, and the record's model CRC), so that the fuzzer gets
 * past the checksum to the record's fields and the AdamW moments. Seeds: the
 * state file of a real checkpoint of a tiny model. Whatever ckpt_verify
 * accepts (what --resume auto would continue from), ckpt_load must load. */
#include <stddef.h>
#include <stdlib.h>
#include <string.h>

#include "core/fileio.h"
#include "fuzz_common.h"
#include "train/checkpoint.h"

#define STEP 5
static char g_run[4096], g_state[4096];
static GptConfig g_cfg = {.max_seq_len = 3, .vocab_size = 5, .padded_vocab_size = 8,
                          .num_layers = 1, .num_heads = 2, .channels = 4};
static Gpt g_m;
static AdamW g_opt;
static uint32_t g_model_crc;

/* A real checkpoint of step STEP in dir. */
static void make_checkpoint(const char *dir) {
    gpt_create(&g_m, &g_cfg, 0, g_cfg.num_layers, 1, 0);
    gpt_init_random(&g_m, 3);
    adamw_init(&g_opt, g_m.lay.total);
    for (size_t i = 0; i < g_opt.n; i++) g_opt.m[i] = 0.01f * (float)i, g_opt.v[i] = 1e-4f * (float)i;
    g_opt.t = STEP;
    TrainState st;
    memset(&st, 0, sizeof st);
    st.step = STEP;
    st.next_seq = 40;
    st.B = 2, st.T = 3, st.grad_accum = 4, st.shuffle = 1, st.data_seed = 1337, st.dp = 1;
    st.data_tokens = 1000, st.data_epoch = 0, st.data_windows = 333;
    st.adam_t = g_opt.t;
    LsGrid one;
    ls_grid_init_single(&one);
    CkptPart part = {&g_m.lay, g_m.params, g_opt.m, g_opt.v, 0, g_m.lay.total, 0};
    ckpt_save(dir, &part, 1, &st, &one.world_comm, 0);
    snprintf(g_state, sizeof g_state, "%s/ckpt_%08d/state.bin", dir, STEP);
    char mpath[4096];
    ckpt_model_path(mpath, dir, STEP);
    size_t n;
    uint8_t *b = fuzz_read(mpath, &n);
    g_model_crc = ls_crc32(0, b, n);
    free(b);
}

void fuzz_setup(void) {
    fuzz_path(g_run, "run");
    make_checkpoint(g_run);
}

void fuzz_seeds(const char *dir) {
    char run[4096];
    make_checkpoint(fuzz_path(run, "run"));
    size_t n;
    uint8_t *b = fuzz_read(g_state, &n);
    fuzz_write_seed(dir, "state_v2", b, n);
    /* a version-1 record: shorter, no data fields, its own CRC */
    size_t v1 = offsetof(TrainState, data_tokens), cut = sizeof(TrainState) - v1;
    memmove(b + 8 + v1, b + 8 + sizeof(TrainState), n - 8 - sizeof(TrainState));
    n -= cut;
    b[4] = 1;
    uint32_t crc = ls_crc32(0, b, n - 4);
    memcpy(b + n - 4, &crc, 4);
    fuzz_write_seed(dir, "state_v1", b, n);
    free(b);
}

static void run_once(const uint8_t *data, size_t size) {
    fuzz_write(g_state, data, size);
    char why[256] = "";
    int ok = -1;
    if (setjmp(fuzz_trap.env) == 0) {
        ls_trap_arm(&fuzz_trap);
        ok = ckpt_verify(g_run, STEP, &g_cfg, why, sizeof why);
        ls_trap_disarm();
        fuzz_accepted();
    } else {
        fuzz_rejected();
    }
    if (ok != 0 && (!why[0] || strchr(why, '\n'))) fuzz_fail("ckpt_verify failed without a clear reason");
    TrainState st;
    int loaded = 0;
    if (setjmp(fuzz_trap.env) == 0) {
        ls_trap_arm(&fuzz_trap);
        ckpt_load(g_run, STEP, &g_m, &g_opt, &st);
        ls_trap_disarm();
        fuzz_accepted();
        loaded = 1;
        if (st.step != STEP || g_opt.t != st.adam_t) fuzz_fail("ckpt_load accepted a wrong step");
    } else {
        fuzz_rejected();
    }
    /* --resume auto picks what ckpt_verify accepts: it must then load */
    if (ok == 0 && !loaded) fuzz_fail("ckpt_verify accepted a checkpoint that ckpt_load refuses");
}

void fuzz_one(const uint8_t *data, size_t size) {
    run_once(data, size);
    if (size < 4) return;
    /* the same with the checksums made right */
    uint8_t *b = malloc(size);
    memcpy(b, data, size);
    size_t at = 8 + offsetof(TrainState, model_crc);
    if (size >= at + 4 + 4) memcpy(b + at, &g_model_crc, 4);
    uint32_t crc = ls_crc32(0, b, size - 4);
    memcpy(b + size - 4, &crc, 4);
    if (memcmp(b, data, size) != 0) run_once(b, size);
    free(b);
    }
