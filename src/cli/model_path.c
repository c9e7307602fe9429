/* model_path.c - `--init` accepts a model file or a run directory (whose
 * newest checkpoint is used); a tokenizer is looked for beside it. */
#include <libgen.h>
#include <string.h>

#include "../core/error.h"
#include "../core/fileio.h"
#include "../train/checkpoint.h"
#include "commands.h"

void cli_resolve_model(const char *init, char *model_path, char *tok_path) {
    char dir[4096];
    if (ls_is_dir(init)) {
        int64_t s = ckpt_latest(init);
        if (s < 0) ls_fatal("'%s' is a directory without checkpoints (no 'latest' file)", init);
        ckpt_model_path(model_path, init, s);
        snprintf(dir, sizeof dir, "%s", init);
    } else {
        snprintf(model_path, 4096, "%s", init);
        char tmp[4096];
        snprintf(tmp, sizeof tmp, "%s", init);
        snprintf(dir, sizeof dir, "%s", dirname(tmp));
    }
    snprintf(tok_path, 4096, "%s/tokenizer.bin", dir);
    if (ls_file_size(tok_path) <= 0) tok_path[0] = '\0';
}
