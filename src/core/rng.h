/* rng.h - a small deterministic random number generator (xoshiro256**,
 * seeded through splitmix64). Every random choice in llmscale (weight init,
 * data shuffling, sampling) draws from one of these with an explicit seed, so
 * runs are reproducible and the generator state can be checkpointed. */
#ifndef LS_RNG_H
#define LS_RNG_H
#include <stdint.h>

typedef struct { uint64_t s[4]; } LsRng;

void ls_rng_seed(LsRng *r, uint64_t seed);
uint64_t ls_rng_u64(LsRng *r);
/* uniform in [0, 1) with 24 random bits (exactly representable in float) */
float ls_rng_uniform(LsRng *r);
/* standard normal via Box-Muller */
float ls_rng_normal(LsRng *r);
/* uniform integer in [0, n) without modulo bias */
uint64_t ls_rng_below(LsRng *r, uint64_t n);

#endif
