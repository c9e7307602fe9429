/* utf8_class.c - see utf8_class.h. */
#include "utf8_class.h"

/* ASCII classes, the common case, without the binary search. */
static const uint8_t ascii_class[128] = {
    ['\t'] = LS_CC_SPACE, ['\n'] = LS_CC_SPACE, ['\v'] = LS_CC_SPACE, ['\f'] = LS_CC_SPACE,
    ['\r'] = LS_CC_SPACE, [' '] = LS_CC_SPACE,
    ['0'] = LS_CC_NUMBER, ['1'] = LS_CC_NUMBER, ['2'] = LS_CC_NUMBER, ['3'] = LS_CC_NUMBER,
    ['4'] = LS_CC_NUMBER, ['5'] = LS_CC_NUMBER, ['6'] = LS_CC_NUMBER, ['7'] = LS_CC_NUMBER,
    ['8'] = LS_CC_NUMBER, ['9'] = LS_CC_NUMBER,
#define L2(a, b) [a] = LS_CC_LETTER, [b] = LS_CC_LETTER
    L2('A', 'a'), L2('B', 'b'), L2('C', 'c'), L2('D', 'd'), L2('E', 'e'), L2('F', 'f'),
    L2('G', 'g'), L2('H', 'h'), L2('I', 'i'), L2('J', 'j'), L2('K', 'k'), L2('L', 'l'),
    L2('M', 'm'), L2('N', 'n'), L2('O', 'o'), L2('P', 'p'), L2('Q', 'q'), L2('R', 'r'),
    L2('S', 's'), L2('T', 't'), L2('U', 'u'), L2('V', 'v'), L2('W', 'w'), L2('X', 'x'),
    L2('Y', 'y'), L2('Z', 'z'),
#undef L2
};

int ls_codepoint_class(uint32_t cp) {
    if (cp < 128) return ascii_class[cp];
    int lo = 0, hi = ls_unicode_nranges - 1;
    while (lo <= hi) {
        int mid = (lo + hi) / 2;
        if (cp < ls_unicode_ranges[mid].first) hi = mid - 1;
        else if (cp > ls_unicode_ranges[mid].last) lo = mid + 1;
        else return ls_unicode_ranges[mid].cls;
    }
    return LS_CC_OTHER;
}

int ls_utf8_class(const uint8_t *s, size_t n, int *len) {
    uint8_t c = s[0];
    *len = 1;
    if (c < 0x80) return ascii_class[c];
    /* lead byte -> sequence length and the smallest code point it may encode
     * (anything smaller is an overlong, invalid form) */
    int k;
    uint32_t cp, min;
    if (c >= 0xC2 && c <= 0xDF) k = 2, cp = c & 0x1F, min = 0x80;
    else if (c >= 0xE0 && c <= 0xEF) k = 3, cp = c & 0x0F, min = 0x800;
    else if (c >= 0xF0 && c <= 0xF4) k = 4, cp = c & 0x07, min = 0x10000;
    else return LS_CC_OTHER;
    if ((size_t)k > n) return LS_CC_OTHER;
    for (int i = 1; i < k; i++) {
        if ((s[i] & 0xC0) != 0x80) return LS_CC_OTHER;
        cp = cp << 6 | (s[i] & 0x3F);
    }
    if (cp < min || cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF)) return LS_CC_OTHER;
    *len = k;
    return ls_codepoint_class(cp);
}
