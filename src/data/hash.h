/* hash.h - the hash functions of the tokenizer's open-addressing tables
 * (word counts, merge ranks, word cache, GPT-2 piece lookup). Never 0, so 0
 * can mark an empty slot. */
#ifndef LS_HASH_H
#define LS_HASH_H
#include <stddef.h>
#include <stdint.h>
#include <string.h>

/* 32-bit integer finaliser (a bijection; lowbias32 constants) */
static inline uint32_t ls_mix32(uint32_t x) {
    x ^= x >> 16;
    x *= 0x7feb352du;
    x ^= x >> 15;
    x *= 0x846ca68bu;
    x ^= x >> 16;
    return x;
}

/* 64-bit hash of a byte string, 8 bytes per multiply; never 0 */
static inline uint64_t ls_hash_bytes(const uint8_t *s, size_t n) {
    uint64_t h = 0x9E3779B97F4A7C15ull ^ n;
    size_t i = 0;
    for (; i + 8 <= n; i += 8) {
        uint64_t v;
        memcpy(&v, s + i, 8);
        h = (h ^ v) * 0xff51afd7ed558ccdull;
        h ^= h >> 32;
    }
    uint64_t v = 0;
    if (n > i) memcpy(&v, s + i, n - i);
    h = (h ^ v) * 0xc4ceb9fe1a85ec53ull;
    h ^= h >> 29;
    return h | 1;
}

#endif
