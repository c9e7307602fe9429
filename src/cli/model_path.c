/* model_path.c - `--init` accepts a model file, a run directory (whose
 * newest checkpoint is used) or one checkpoint's directory; a tokenizer is
 * looked for beside the model file and in the run directory. */
#include <libgen.h>
#include <string.h>

#include "../core/error.h"
#include "../core/fileio.h"
#include "../train/checkpoint.h"
#include "commands.h"

void cli_resolve_model(const char *init, char *model_path, char *tok_path) {
    char dir[4096], tmp[4096];
    snprintf(model_path, 4096, "%s/model.bin", init);
    if (ls_is_dir(init) && ls_file_size(model_path) < 0) { /* a run directory */
        int64_t s = ckpt_latest(init);
        if (s < 0) ls_fatal("'%s' is a directory without checkpoints (no 'latest' file)", init);
        ckpt_model_path(model_path, init, s);
        snprintf(dir, sizeof dir, "%s", init);
    } else { /* a model file, or one checkpoint's directory RUNDIR/ckpt_<S> */
        if (!ls_is_dir(init)) snprintf(model_path, 4096, "%s", init);
        snprintf(tmp, sizeof tmp, "%s", model_path);
        snprintf(dir, sizeof dir, "%s", dirname(tmp));
    }
    /* the tokenizer beside the model, or in the run directory above a checkpoint's */
    snprintf(tok_path, 4096, "%s/tokenizer.bin", dir);
    if (ls_file_size(tok_path) <= 0) {
        snprintf(tmp, sizeof tmp, "%s", dir);
        snprintf(tok_path, 4096, "%s/tokenizer.bin", dirname(tmp));
    }
    if (ls_file_size(tok_path) <= 0) tok_path[0] = '\0';
}
