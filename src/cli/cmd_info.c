/* cmd_info.c - `llmscale info FILE...`: what a model, shard or tokenizer file
 * holds, recognised by its magic number. */
#include <string.h>

#include "../core/error.h"
#include "../core/fileio.h"
#include "../data/shard.h"
#include "../data/tokenizer.h"
#include "../model/gpt_io.h"
#include "args.h"
#include "commands.h"

int cmd_info(int argc, char **argv) {
    if (argc == 0) ls_fatal("info needs at least one FILE (see llmscale info --help)");
    if (ls_wants_help(argc, argv)) {
        printf("usage: llmscale info FILE...\n\n"
               "Describe llm.c-format files: model (magic 20240326), token shard (20240520),\n"
               "tokenizer (20240328). A run directory shows its newest checkpoint.\n");
        return 0;
    }
    for (int i = 0; i < argc; i++) {
        const char *path = argv[i];
        if (path[0] == '-') ls_unknown_flag("info", path);
        char mpath[4096], tok[4096];
        if (ls_is_dir(path)) {
            cli_resolve_model(path, mpath, tok);
            path = mpath;
        }
        int64_t size = ls_file_size(path);
        if (size < 0) ls_fatal("'%s' does not exist or is not a regular file", path);
        if (size < 4) ls_fatal("'%s' has %lld bytes: too short to be a model, shard or tokenizer file", path, (long long)size);
        FILE *f = ls_fopen(path, "rb", "file");
        int32_t magic = 0;
        ls_fread_exact(&magic, 4, f, path, "file");
        fclose(f);
        if (magic == GPT_MODEL_MAGIC) gpt_print_info(path);
        else if (magic == 20240520) ls_shard_print_info(path);
        else if (magic == 20240328) ls_tokenizer_print_info(path);
        else
            ls_fatal("'%s' is not an llm.c model, shard or tokenizer file (magic %d, expected "
                     "20240326, 20240520 or 20240328)", path, magic);
    }
    return 0;
}
