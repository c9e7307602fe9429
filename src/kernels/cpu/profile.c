/* profile.c - see profile.h. */
#include "profile.h"

#include <string.h>

int ls_prof_on = 0, ls_prof_depth = 0;
double ls_prof_sec[LS_PROF_NPHASES];

void ls_prof_reset(void) { memset(ls_prof_sec, 0, sizeof ls_prof_sec); }

const char *ls_prof_name(LsProfPhase p) {
    static const char *names[LS_PROF_NPHASES] = {"matmul",     "attention", "layernorm",
                                                 "gelu+elementwise", "classifier+loss",
                                                 "embedding",  "optimizer", "communication"};
    return (unsigned)p < LS_PROF_NPHASES ? names[p] : "?";
}
