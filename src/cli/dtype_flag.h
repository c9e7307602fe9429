/* dtype_flag.h - the --dtype flag of train and bench. */
#ifndef LS_DTYPE_FLAG_H
#define LS_DTYPE_FLAG_H
#include "../kernels/cpu/kernels.h"

#define DTYPE_FLAG_HELP                                                                           \
    "  --dtype fp32|bf16   precision of the matrix products (default fp32). bf16: weights and\n" \
    "                      activations rounded to bfloat16 as they enter each linear layer and\n" \
    "                      the LM head, products and sums in fp32 (AMX tiles, else AVX512_BF16);\n" \
    "                      fp32 master weights, gradients, optimizer, attention, norms, loss\n"

/* Parse the value after --dtype (fatal on anything else) and switch the
 * linear layers to it (fatal if the CPU lacks bf16 products). */
LsDtype dtype_flag_apply(int argc, char **argv, int *i);

#endif
