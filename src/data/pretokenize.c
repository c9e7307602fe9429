/* pretokenize.c - see pretokenize.h. */
#include "pretokenize.h"

#include <string.h>

#include "../core/error.h"
#include "utf8_class.h"

/* End of the maximal run of class `cls` starting at i. */
static size_t run_end(const uint8_t *s, size_t n, size_t i, int cls) {
    while (i < n) {
        int len, c = ls_utf8_class(s + i, n - i, &len);
        if (c != cls) break;
        i += (size_t)len;
    }
    return i;
}

size_t ls_pretoken_len(const uint8_t *s, size_t n) {
    /* 1. contractions */
    if (s[0] == '\'' && n >= 2) {
        uint8_t a = s[1], b = n >= 3 ? s[2] : 0;
        if (a == 's' || a == 't' || a == 'm' || a == 'd') return 2;
        if ((a == 'r' && b == 'e') || (a == 'v' && b == 'e') || (a == 'l' && b == 'l')) return 3;
    }
    /* 2-4. optional space, then a run of letters / numbers / others */
    size_t start = (s[0] == ' ' && n >= 2) ? 1 : 0;
    int len, cls = ls_utf8_class(s + start, n - start, &len);
    if (start == 1 && cls == LS_CC_SPACE) {
        start = 0; /* ' ' followed by whitespace: the optional space is not taken */
        cls = LS_CC_SPACE;
    }
    if (cls != LS_CC_SPACE) return run_end(s, n, start, cls);
    /* 5-6. whitespace */
    size_t end = run_end(s, n, 0, LS_CC_SPACE);
    if (end == n) return end;
    /* followed by a non-space: give back the last whitespace character */
    size_t last = end, i = 0;
    while (i < end) {
        last = i;
        ls_utf8_class(s + i, n - i, &len);
        i += (size_t)len;
    }
    return last > 0 ? last : end;
}

void ls_pretokenize(const uint8_t *s, size_t n, LsPretokEmit emit, void *ctx) {
    size_t i = 0;
    while (i < n) {
        size_t k = ls_pretoken_len(s + i, n - i);
        emit(ctx, s + i, k);
        i += k;
    }
}

void ls_pretok_stream_init(LsPretokStream *ps, LsPretokEmit emit, void *ctx) {
    memset(ps, 0, sizeof *ps);
    ps->emit = emit;
    ps->ctx = ctx;
}

/* A pre-token [i, i+k) of the buffered text is final when at least 8 more
 * bytes follow it: the regex decides a pre-token's end by looking at most at
 * the next two characters (a whitespace run gives back its last character,
 * <= 3 bytes, after seeing the character behind it, <= 4 bytes). */
void ls_pretok_stream_feed(LsPretokStream *ps, const uint8_t *text, size_t n) {
    if (ps->ncarry + n > ps->cap) {
        size_t cap = ps->ncarry + n;
        if (cap < 2 * ps->cap) cap = 2 * ps->cap;
        uint8_t *p = ls_calloc(cap, 1, "pre-tokenizer buffer");
        if (ps->ncarry) memcpy(p, ps->carry, ps->ncarry);
        ls_free(ps->carry);
        ps->carry = p;
        ps->cap = cap;
    }
    memcpy(ps->carry + ps->ncarry, text, n);
    size_t total = ps->ncarry + n, i = 0;
    while (i < total) {
        size_t k = ls_pretoken_len(ps->carry + i, total - i);
        if (i + k + 8 > total) {
            if (total - i <= LS_PRETOK_MAX_CARRY) break;
            k = total - i - 8; /* pathological: cut an over-long pre-token */
            if (k > LS_PRETOK_MAX_CARRY) k = LS_PRETOK_MAX_CARRY;
        }
        ps->emit(ps->ctx, ps->carry + i, k);
        i += k;
    }
    memmove(ps->carry, ps->carry + i, total - i);
    ps->ncarry = total - i;
}

void ls_pretok_stream_end(LsPretokStream *ps) {
    ls_pretokenize(ps->carry, ps->ncarry, ps->emit, ps->ctx);
    ps->ncarry = 0;
}

void ls_pretok_stream_free(LsPretokStream *ps) {
    ls_free(ps->carry);
    memset(ps, 0, sizeof *ps);
}
