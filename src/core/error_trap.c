/* error_trap.c - see error_trap.h.
 *
 * The tracked resources are a hash set of pointers (open addressing, linear
 * probing, deletion by backward shift), so that a reader allocating and
 * freeing many small buffers under a trap stays O(1) per call. Its own table
 * is plain malloc memory, never tracked. */
#include "error_trap.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>

LsErrorTrap *ls_trap_active = NULL;

typedef struct {
    void *p;      /* NULL: empty slot */
    int kind;     /* LS_TRAP_MEM (ls_calloc), LS_TRAP_FILE (ls_fopen), LS_TRAP_MAP (mmap) */
    size_t bytes; /* of a mapping */
} Slot;

static Slot *g_slot;
static size_t g_cap, g_count; /* g_cap: a power of two, or 0 */

static size_t slot_of(const void *p) {
    return (size_t)(((uintptr_t)p >> 4) * 0x9E3779B97F4A7C15ull >> 20) & (g_cap - 1);
}

static void insert(Slot s) {
    size_t h = slot_of(s.p);
    while (g_slot[h].p) h = (h + 1) & (g_cap - 1);
    g_slot[h] = s;
    g_count++;
}

void ls_trap_track(void *p, int kind, size_t bytes) {
    if (!ls_trap_active || !p) return;
    if (2 * (g_count + 1) > g_cap) { /* keep the load at most 1/2 */
        Slot *old = g_slot;
        size_t old_cap = g_cap;
        g_cap = g_cap ? 2 * g_cap : 1024;
        g_slot = calloc(g_cap, sizeof *g_slot);
        if (!g_slot) {
            fputs("llmscale: error: out of memory in the error trap\n", stderr);
            abort();
        }
        g_count = 0;
        for (size_t i = 0; i < old_cap; i++)
            if (old[i].p) insert(old[i]);
        free(old);
    }
    insert((Slot){p, kind, bytes});
}

void ls_trap_forget(void *p) {
    if (!ls_trap_active || !p || !g_cap) return;
    size_t h = slot_of(p);
    while (g_slot[h].p != p) {
        if (!g_slot[h].p) return; /* allocated before the trap was armed */
        h = (h + 1) & (g_cap - 1);
    }
    /* backward-shift deletion: move later entries of the probe run into the hole */
    size_t hole = h;
    for (size_t j = (h + 1) & (g_cap - 1); g_slot[j].p; j = (j + 1) & (g_cap - 1)) {
        size_t home = slot_of(g_slot[j].p);
        /* j's entry may fill the hole if its home is not cyclically in (hole, j] */
        if (((j - home) & (g_cap - 1)) >= ((j - hole) & (g_cap - 1))) {
            g_slot[hole] = g_slot[j];
            hole = j;
        }
    }
    g_slot[hole].p = NULL;
    g_count--;
}

static void clear(void) {
    if (g_cap) memset(g_slot, 0, g_cap * sizeof *g_slot);
    g_count = 0;
}

void ls_trap_arm(LsErrorTrap *t) {
    t->msg[0] = '\0';
    t->warning[0] = '\0';
    t->nwarnings = 0;
    clear();
    ls_trap_active = t;
}

void ls_trap_disarm(void) {
    ls_trap_active = NULL;
    clear();
}

size_t ls_trap_tracked(void) { return g_count; }

void ls_trap_fire(const char *line) {
    LsErrorTrap *t = ls_trap_active;
    ls_trap_active = NULL; /* the fclose wrapper below must not touch the table */
    snprintf(t->msg, sizeof t->msg, "%s", line);
    for (size_t i = 0; i < g_cap; i++) {
        if (!g_slot[i].p) continue;
        if (g_slot[i].kind == LS_TRAP_FILE) fclose(g_slot[i].p);
        else if (g_slot[i].kind == LS_TRAP_MAP) munmap(g_slot[i].p, g_slot[i].bytes);
        else free(g_slot[i].p);
    }
    clear();
    longjmp(t->env, 1);
}

void ls_trap_warn(const char *line) {
    LsErrorTrap *t = ls_trap_active;
    snprintf(t->warning, sizeof t->warning, "%s", line);
    t->nwarnings++;
}
