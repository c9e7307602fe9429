/* v16.h - 16 floats as one vector (GCC's vector extension: a zmm register
 * with AVX-512, split into narrower ones otherwise), for the kernels that
 * write their inner loops over vectors (attention, LayerNorm). Loads and
 * stores go through memcpy, so any alignment works. */
#ifndef LS_V16_H
#define LS_V16_H
#include <string.h>

typedef float v16 __attribute__((vector_size(64)));
typedef int vi16 __attribute__((vector_size(64)));

static inline v16 load16(const float *p) {
    v16 v;
    memcpy(&v, p, sizeof v);
    return v;
}
static inline void store16(float *p, v16 v) { memcpy(p, &v, sizeof v); }

#endif
