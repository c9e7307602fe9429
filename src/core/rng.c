/* rng.c - xoshiro256** (Blackman & Vigna), seeded with splitmix64. */
#include "rng.h"

#include <math.h>

static uint64_t splitmix64(uint64_t *x) {
    uint64_t z = (*x += 0x9E3779B97F4A7C15ull);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    return z ^ (z >> 31);
}

void ls_rng_seed(LsRng *r, uint64_t seed) {
    for (int i = 0; i < 4; i++) r->s[i] = splitmix64(&seed);
}

static inline uint64_t rotl(uint64_t x, int k) { return (x << k) | (x >> (64 - k)); }

uint64_t ls_rng_u64(LsRng *r) {
    uint64_t *s = r->s;
    uint64_t result = rotl(s[1] * 5, 7) * 9;
    uint64_t t = s[1] << 17;
    s[2] ^= s[0];
    s[3] ^= s[1];
    s[1] ^= s[2];
    s[0] ^= s[3];
    s[2] ^= t;
    s[3] = rotl(s[3], 45);
    return result;
}

float ls_rng_uniform(LsRng *r) { return (float)(ls_rng_u64(r) >> 40) / 16777216.0f; }

float ls_rng_normal(LsRng *r) {
    /* Box-Muller on (0,1] x [0,1): u1 never 0 so log() is finite. */
    double u1 = ((double)(ls_rng_u64(r) >> 11) + 1.0) / 9007199254740992.0;
    double u2 = (double)(ls_rng_u64(r) >> 11) / 9007199254740992.0;
    return (float)(sqrt(-2.0 * log(u1)) * cos(2.0 * M_PI * u2));
}

uint64_t ls_rng_below(LsRng *r, uint64_t n) {
    if (n <= 1) return 0;
    uint64_t limit = UINT64_MAX - UINT64_MAX % n;
    uint64_t x;
    do x = ls_rng_u64(r); while (x >= limit);
    return x % n;
}
