/* weight_type.c - jen1_weight_type's names (jen1.h), plain C so that the
 * worker's configuration, jen1-gen and the benchmarks read and print one
 * spelling. */
#include <string.h>

#include "jen1.h"

static const char *const names[] = {
    [JEN1_WEIGHTS_F32] = "f32", [JEN1_WEIGHTS_BF16] = "bf16", [JEN1_WEIGHTS_INT8] = "int8"};

const char *jen1_weight_type_name(jen1_weight_type type)
{
    return (unsigned)type < sizeof names / sizeof *names ? names[type] : "unknown";
}

int jen1_weight_type_parse(const char *name, jen1_weight_type *out)
{
    for (unsigned i = 0; name && i < sizeof names / sizeof *names; i++)
        if (strcmp(name, names[i]) == 0) {
            *out = (jen1_weight_type)i;
            return 0;
        }
    return -1;
}
