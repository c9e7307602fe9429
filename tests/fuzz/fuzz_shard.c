/* fuzz_shard.c - the token shard reader (src/data/shard.c) and the loader on
 * top of it (src/data/loader.c): ls_shard_open, `info`, then a shuffled and
 * an in-order loader over the shard, reading a few sequences (token ids go
 * to int32 x/y; every id must come back < 65536). Seeds: small shards. */
#include <stdlib.h>
#include <string.h>

#include "data/loader.h"
#include "data/shard.h"
#include "fuzz_common.h"

static char g_path[4096];

void fuzz_setup(void) { fuzz_path(g_path, "data_train.bin"); }

void fuzz_seeds(const char *dir) {
    uint16_t tok[40];
    for (int i = 0; i < 40; i++) tok[i] = (uint16_t)(i * 977 % 65536);
    char p[4096];
    snprintf(p, sizeof p, "%s/shard40", dir);
    ls_shard_write(p, tok, 40);
    snprintf(p, sizeof p, "%s/shard2", dir);
    ls_shard_write(p, tok, 2);
}

static void load(int T, int shuffle) {
    LsLoader ld;
    int32_t x[3 * 8], y[3 * 8];
    if (setjmp(fuzz_trap.env) == 0) {
        ls_trap_arm(&fuzz_trap);
        ls_loader_init(&ld, g_path, NULL, T, shuffle, 42);
        for (uint64_t s = 0; s < 9; s += 3) ls_loader_get(&ld, s, 3, x, y);
        ls_trap_disarm();
        for (int i = 0; i < 3 * T; i++)
            if (x[i] < 0 || x[i] > 65535 || y[i] < 0 || y[i] > 65535) fuzz_fail("loader gave id %d", x[i]);
        ls_loader_free(&ld);
        fuzz_accepted();
    } else {
        fuzz_rejected();
    }
}

void fuzz_one(const uint8_t *data, size_t size) {
    fuzz_write(g_path, data, size);
    LsShard sh;
    if (setjmp(fuzz_trap.env) == 0) {
        ls_trap_arm(&fuzz_trap);
        ls_shard_open(&sh, g_path);
        ls_trap_disarm();
        if (sh.ntokens * 2 + 1024 != size) fuzz_fail("shard of %zu bytes holds %zu tokens", size, sh.ntokens);
        ls_shard_close(&sh);
        ls_trap_arm(&fuzz_trap);
        ls_shard_print_info(g_path);
        ls_trap_disarm();
        fuzz_accepted();
    } else {
        fuzz_rejected();
        return;
    }
    load(8, 0);
    load(5, 1);
    }
