/* dtype_flag.c - see dtype_flag.h. */
#include "dtype_flag.h"

#include <string.h>

#include "../core/error.h"
#include "args.h"

LsDtype dtype_flag_apply(int argc, char **argv, int *i) {
    const char *s = ls_str_arg(argc, argv, i);
    LsDtype t;
    if (!strcmp(s, "fp32")) t = LS_DTYPE_F32;
    else if (!strcmp(s, "bf16")) t = LS_DTYPE_BF16;
    else ls_fatal("--dtype: '%s' must be fp32 or bf16", s);
    matmul_set_dtype(t);
    if (t == LS_DTYPE_BF16) ls_info("matrix products in bf16 (fp32 sums): %s", matmul_describe());
    return t;
}
