/* json.h - the little JSON reading the data pipeline needs: JSONL documents
 * ({"text": "...", ...} per line) and GPT-2's encoder.json ({"token": id, ...}).
 *
 * Strings are unescaped to UTF-8: \" \\ \/ \b \f \n \r \t and \uXXXX,
 * including surrogate pairs; a lone surrogate becomes U+FFFD (as Python's
 * json does not allow in UTF-8 output either). Other values are skipped
 * structurally (nested objects/arrays, numbers, true/false/null). Every
 * function returns NULL on malformed input, and the caller reports where. */
#ifndef LS_JSON_H
#define LS_JSON_H
#include <stddef.h>
#include <stdint.h>

typedef struct {
    uint8_t *p;
    size_t n, cap;
} LsBuf;

void ls_buf_reserve(LsBuf *b, size_t extra);
void ls_buf_free(LsBuf *b);

/* p .. end: skip spaces, tabs, CR, LF */
const char *ls_json_ws(const char *p, const char *end);
/* p at '"': append the unescaped string to out; returns the char after the
 * closing quote, or NULL if malformed. */
const char *ls_json_string(const char *p, const char *end, LsBuf *out);
/* skip one value of any type; NULL if malformed (or nested deeper than
 * LS_JSON_MAX_DEPTH arrays/objects: the skip is recursive) */
#define LS_JSON_MAX_DEPTH 512
const char *ls_json_skip(const char *p, const char *end);

/* Walk the members of the object at p: for each, the key (unescaped, in
 * `key`) and the span of its value are passed to fn; fn returns 0 to go on.
 * Returns the char after the object's '}', or NULL if malformed. */
typedef int (*LsJsonMember)(void *ctx, const LsBuf *key, const char *val, const char *val_end);
const char *ls_json_object(const char *p, const char *end, LsJsonMember fn, void *ctx);

#endif
