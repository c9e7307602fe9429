/* json.c - see json.h. */
#include "json.h"

#include <string.h>

#include "../core/error.h"

void ls_buf_reserve(LsBuf *b, size_t extra) {
    if (b->n + extra <= b->cap) return;
    size_t cap = b->cap ? 2 * b->cap : 256;
    while (cap < b->n + extra) cap *= 2;
    uint8_t *p = ls_calloc(cap, 1, "text buffer");
    if (b->n) memcpy(p, b->p, b->n);
    ls_free(b->p);
    b->p = p;
    b->cap = cap;
}

void ls_buf_free(LsBuf *b) {
    ls_free(b->p);
    memset(b, 0, sizeof *b);
}

const char *ls_json_ws(const char *p, const char *end) {
    while (p < end && (*p == ' ' || *p == '\t' || *p == '\r' || *p == '\n')) p++;
    return p;
}

static int hex4(const char *p, const char *end, uint32_t *v) {
    if (end - p < 4) return 0;
    *v = 0;
    for (int i = 0; i < 4; i++) {
        char c = p[i];
        int d = c >= '0' && c <= '9' ? c - '0' : c >= 'a' && c <= 'f' ? c - 'a' + 10
              : c >= 'A' && c <= 'F' ? c - 'A' + 10 : -1;
        if (d < 0) return 0;
        *v = *v << 4 | (uint32_t)d;
    }
    return 1;
}

static void put_utf8(LsBuf *b, uint32_t cp) {
    ls_buf_reserve(b, 4);
    uint8_t *o = b->p + b->n;
    if (cp < 0x80) o[0] = (uint8_t)cp, b->n += 1;
    else if (cp < 0x800) o[0] = (uint8_t)(0xC0 | cp >> 6), o[1] = (uint8_t)(0x80 | (cp & 0x3F)), b->n += 2;
    else if (cp < 0x10000)
        o[0] = (uint8_t)(0xE0 | cp >> 12), o[1] = (uint8_t)(0x80 | (cp >> 6 & 0x3F)),
        o[2] = (uint8_t)(0x80 | (cp & 0x3F)), b->n += 3;
    else
        o[0] = (uint8_t)(0xF0 | cp >> 18), o[1] = (uint8_t)(0x80 | (cp >> 12 & 0x3F)),
        o[2] = (uint8_t)(0x80 | (cp >> 6 & 0x3F)), o[3] = (uint8_t)(0x80 | (cp & 0x3F)), b->n += 4;
}

const char *ls_json_string(const char *p, const char *end, LsBuf *out) {
    if (p >= end || *p != '"') return NULL;
    p++;
    for (;;) {
        /* copy the run of plain bytes */
        const char *q = p;
        while (q < end && *q != '"' && *q != '\\' && (unsigned char)*q >= 0x20) q++;
        ls_buf_reserve(out, (size_t)(q - p));
        if (q > p) memcpy(out->p + out->n, p, (size_t)(q - p));
        out->n += (size_t)(q - p);
        p = q;
        if (p >= end || (unsigned char)*p < 0x20) return NULL;
        if (*p == '"') return p + 1;
        /* escape */
        if (end - p < 2) return NULL;
        char c = p[1];
        p += 2;
        static const char esc[] = "\"\\/bfnrt", map[] = "\"\\/\b\f\n\r\t";
        const char *simple = c ? strchr(esc, c) : NULL;
        if (simple) {
            ls_buf_reserve(out, 1);
            out->p[out->n++] = (uint8_t)map[simple - esc];
            continue;
        }
        if (c != 'u') return NULL;
        uint32_t cp, lo;
        if (!hex4(p, end, &cp)) return NULL;
        p += 4;
        if (cp >= 0xD800 && cp <= 0xDBFF && end - p >= 6 && p[0] == '\\' && p[1] == 'u' &&
            hex4(p + 2, end, &lo) && lo >= 0xDC00 && lo <= 0xDFFF) {
            cp = 0x10000 + ((cp - 0xD800) << 10) + (lo - 0xDC00);
            p += 6;
        } else if (cp >= 0xD800 && cp <= 0xDFFF) {
            cp = 0xFFFD;
        }
        put_utf8(out, cp);
    }
}

/* depth: containers around p; deeper than LS_JSON_MAX_DEPTH is malformed, so
 * that a line of a million '[' cannot overflow the stack */
static const char *skip(const char *p, const char *end, int depth) {
    p = ls_json_ws(p, end);
    if (p >= end) return NULL;
    if (*p == '"') {
        for (p++; p < end; p++) {
            if (*p == '\\') p++;
            else if (*p == '"') return p + 1;
        }
        return NULL;
    }
    if (*p == '{' || *p == '[') {
        if (depth >= LS_JSON_MAX_DEPTH) return NULL;
        char close = *p == '{' ? '}' : ']';
        p = ls_json_ws(p + 1, end);
        if (p < end && *p == close) return p + 1;
        for (;;) {
            if (close == '}') {
                p = skip(p, end, depth + 1); /* key */
                if (!p) return NULL;
                p = ls_json_ws(p, end);
                if (p >= end || *p != ':') return NULL;
                p++;
            }
            p = skip(p, end, depth + 1);
            if (!p) return NULL;
            p = ls_json_ws(p, end);
            if (p >= end) return NULL;
            if (*p == close) return p + 1;
            if (*p != ',') return NULL;
            p++;
        }
    }
    /* number or literal: a run of its characters */
    const char *q = p;
    while (q < end && strchr("0123456789+-.eEtruefalsn", *q) && *q) q++;
    return q > p ? q : NULL;
}

const char *ls_json_skip(const char *p, const char *end) { return skip(p, end, 0); }

const char *ls_json_object(const char *p, const char *end, LsJsonMember fn, void *ctx) {
    p = ls_json_ws(p, end);
    if (p >= end || *p != '{') return NULL;
    p = ls_json_ws(p + 1, end);
    if (p < end && *p == '}') return p + 1;
    LsBuf key = {0};
    for (;;) {
        key.n = 0;
        p = ls_json_string(ls_json_ws(p, end), end, &key);
        if (!p) break;
        p = ls_json_ws(p, end);
        if (p >= end || *p != ':') { p = NULL; break; }
        const char *v = ls_json_ws(p + 1, end), *ve = ls_json_skip(v, end);
        if (!ve) { p = NULL; break; }
        if (fn(ctx, &key, v, ve)) { p = ve; break; }
        p = ls_json_ws(ve, end);
        if (p < end && *p == '}') { p++; break; }
        if (p >= end || *p != ',') { p = NULL; break; }
        p++;
    }
    ls_buf_free(&key);
    return p;
}
