/* progress.h - progress of a long pass over input bytes.
 *
 * On a terminal (isatty(stderr)) a bar is redrawn in place on stderr, at most
 * 10 times a second:
 *     encode  [#########.........]  47.1%  512.0/1087.3 MB  38.2 MB/s  ETA 15 s
 * Otherwise (logs, pipes, batch jobs) a plain line goes to stdout every 10
 * seconds, so logs stay readable and stderr stays free for errors. */
#ifndef LS_PROGRESS_H
#define LS_PROGRESS_H
#include <stdint.h>

typedef struct {
    const char *label;
    uint64_t total, done;
    double t0, last;
    int tty, drawn;
} LsProgress;

void ls_progress_start(LsProgress *p, const char *label, uint64_t total_bytes);
void ls_progress_update(LsProgress *p, uint64_t done_bytes);
/* final line: bytes, seconds, MB/s */
void ls_progress_finish(LsProgress *p);

#endif
