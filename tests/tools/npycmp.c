/* npycmp - compares two .npy files for the CLI tests:
 *
 *   npycmp A.npy B.npy [--atol X]
 *
 * Exit 0 when both hold the same dtype and the same elements in the same
 * order (dimensions of size 1 are ignored, so a golden [1, B, K, F] matches a
 * [B, K, F] dump and [B, 1, S] matches [B, S]) and every float differs by at most X (default 0:
 * exact); 1 otherwise, saying where they differ; 2 on a usage or read error. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "npy.h"

/* Shape without its dimensions of size 1, for comparison. */
static int squeeze(const npy_array *a, int64_t *shape)
{
    int n = 0;
    for (int i = 0; i < a->ndim; i++)
        if (a->shape[i] != 1) shape[n++] = a->shape[i];
    return n;
}

int main(int argc, char **argv)
{
    double atol = 0;
    if (argc == 5 && strcmp(argv[3], "--atol") == 0) atol = atof(argv[4]);
    else if (argc != 3) {
        fprintf(stderr, "usage: npycmp A.npy B.npy [--atol X]\n");
        return 2;
    }
    npy_array a = {0}, b = {0};
    char err[512];
    if (npy_read(argv[1], &a, err, sizeof err) || npy_read(argv[2], &b, err, sizeof err)) {
        fprintf(stderr, "npycmp: %s\n", err);
        npy_free(&a);
        return 2;
    }
    int64_t sa[NPY_MAX_DIMS], sb[NPY_MAX_DIMS];
    int na = squeeze(&a, sa), nb = squeeze(&b, sb);
    int rc = 0;
    if (a.dtype != b.dtype || na != nb || memcmp(sa, sb, sizeof(int64_t) * na) != 0) {
        fprintf(stderr, "npycmp: %s and %s differ in dtype or shape\n", argv[1], argv[2]);
        rc = 1;
        goto out;
    }
    int64_t n = npy_numel(&a), where = -1;
    double worst = 0;
    for (int64_t i = 0; i < n; i++) {
        double d = a.dtype == NPY_I64 ? (((int64_t *)a.data)[i] != ((int64_t *)b.data)[i] ? INFINITY : 0)
                                      : fabs((double)((float *)a.data)[i] - (double)((float *)b.data)[i]);
        if (isnan(d)) d = INFINITY;
        if (d > worst) {
            worst = d;
            where = i;
        }
    }
    printf("npycmp: %lld elements, max abs diff %.3g%s\n", (long long)n, worst,
           worst > atol ? " (too large)" : "");
    if (worst > atol) {
        fprintf(stderr, "npycmp: first worst difference at flat index %lld\n", (long long)where);
        rc = 1;
    }
out:
    npy_free(&a);
    npy_free(&b);
    return rc;
}
