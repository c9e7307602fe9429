/* text_source.h - documents from input files, streamed in bounded memory.
 *
 * Inputs are files or directories (a directory means its regular files,
 * sorted by name, not recursive). Formats:
 *   text   each file is one document, read in 1 MiB chunks (any size);
 *   lines  each non-empty line is one document (the '\n' is not part of it);
 *   jsonl  each non-blank line is a JSON object whose "text" string is one
 *          document (other fields ignored).
 * A line is held in memory whole, so lines/jsonl documents are limited to
 * LS_MAX_LINE_BYTES (a longer line is an error naming the file and line).
 * Empty documents are skipped. Bytes are passed through unchanged: no
 * Unicode normalisation, invalid UTF-8 kept as is. */
#ifndef LS_TEXT_SOURCE_H
#define LS_TEXT_SOURCE_H
#include <stddef.h>
#include <stdint.h>

#define LS_READ_CHUNK (1u << 20)
#define LS_MAX_LINE_BYTES (256u << 20)

typedef enum { LS_FMT_TEXT, LS_FMT_LINES, LS_FMT_JSONL } LsTextFormat;

typedef struct {
    char **path;
    int64_t *bytes;
    int n, cap;
    uint64_t total_bytes;
} LsInputs;

/* Add a file, or a directory's regular files (sorted); fatal if the path does
 * not exist or a directory has no regular files. */
void ls_inputs_add(LsInputs *in, const char *path);
void ls_inputs_free(LsInputs *in);
/* "text" | "lines" | "jsonl" -> format; fatal otherwise */
LsTextFormat ls_text_format_parse(const char *s);

/* What a pass over the documents calls. `text` may come in several pieces per
 * document; `offset` is the input position (bytes of all files so far) after
 * the piece, for progress and for the train/val split. */
typedef struct {
    void (*begin)(void *ctx, uint64_t offset);
    void (*text)(void *ctx, const uint8_t *s, size_t n, uint64_t offset);
    void (*end)(void *ctx);
} LsDocSink;

/* One pass over every document of every input; returns the document count. */
uint64_t ls_read_documents(const LsInputs *in, LsTextFormat fmt, const LsDocSink *sink, void *ctx);

#endif
