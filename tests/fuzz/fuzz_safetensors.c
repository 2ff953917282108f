/* fuzz_safetensors.c - shim/core/safetensors.c's validation of a whole file image
 * (safetensors_open_memory), then a walk over every tensor it accepted.
 *
 * An accepted file must keep the header's promises: every tensor's bytes lie
 * inside the data section (they are all read, so ASan sees a stray pointer),
 * nbytes is numel times the dtype's size, no two tensors overlap, and each is
 * found again by its name. A refused file gets a message naming it. */
#include "fuzz.h"
#include "safetensors.h"

#define LABEL "fuzz.safetensors"

/* The checks that compare every pair of tensors stop being worth their time
 * beyond this many. */
#define MAX_PAIRWISE 256

static uint64_t header_length(const uint8_t *data)
{
    uint64_t n = 0;
    for (int i = 7; i >= 0; i--)
        n = n << 8 | data[i];
    return n;
}

static void check_tensor(const safetensors_file *file, const safetensors_tensor *t,
                         const uint8_t *data_begin, const uint8_t *data_end, unsigned *sum)
{
    FUZZ_ASSERT(t->name != NULL, "a tensor without a name");
    FUZZ_ASSERT(safetensors_find(file, t->name) == t, "'%s' is not found by its name", t->name);
    FUZZ_ASSERT(safetensors_dtype_name(t->dtype) != NULL, "dtype %d has no name", (int)t->dtype);
    FUZZ_ASSERT(t->ndim >= 0 && t->ndim <= SAFETENSORS_MAX_DIMS, "'%s' has %d dims", t->name,
                t->ndim);
    int64_t numel = safetensors_numel(t);
    FUZZ_ASSERT(numel >= 0 && (uint64_t)numel * safetensors_dtype_size(t->dtype) == t->nbytes,
                "'%s': %lld elements of %zu bytes in %zu bytes", t->name, (long long)numel,
                safetensors_dtype_size(t->dtype), t->nbytes);
    const uint8_t *p = t->data;
    FUZZ_ASSERT(t->nbytes == 0 || (p >= data_begin && p <= data_end &&
                                   t->nbytes <= (size_t)(data_end - p)),
                "'%s' lies outside the data section", t->name);
    for (size_t i = 0; i < t->nbytes; i++)
        *sum += p[i];
}

static void check_no_overlap(const safetensors_file *file)
{
    size_t n = safetensors_count(file);
    if (n > MAX_PAIRWISE)
        return;
    for (size_t i = 0; i < n; i++) {
        const safetensors_tensor *a = safetensors_at(file, i);
        for (size_t j = i + 1; j < n; j++) {
            const safetensors_tensor *b = safetensors_at(file, j);
            if (a->nbytes == 0 || b->nbytes == 0)
                continue;
            const uint8_t *pa = a->data, *pb = b->data;
            FUZZ_ASSERT(pa + a->nbytes <= pb || pb + b->nbytes <= pa, "'%s' and '%s' overlap",
                        a->name, b->name);
        }
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    safetensors_file *file = NULL;
    char err[512] = "";
    if (safetensors_open_memory(data, size, LABEL, &file, err, sizeof err) != 0) {
        FUZZ_ASSERT(file == NULL, "refused but *out was set");
        FUZZ_ASSERT(fuzz_message_ok(err, sizeof err) && strncmp(err, LABEL, strlen(LABEL)) == 0,
                    "the message does not name the file: '%s'", err);
        return 0;
    }
    FUZZ_ASSERT(size >= 8 && header_length(data) <= size - 8, "accepted a header past the end");
    const uint8_t *data_begin = data + 8 + header_length(data), *data_end = data + size;

    unsigned sum = 0;
    size_t n = safetensors_count(file);
    for (size_t i = 0; i < n; i++)
        check_tensor(file, safetensors_at(file, i), data_begin, data_end, &sum);
    check_no_overlap(file);
    FUZZ_ASSERT(safetensors_at(file, n) == NULL, "safetensors_at(count) is not NULL");
    FUZZ_ASSERT(safetensors_find(file, "\x01no such tensor") == NULL, "found a tensor never named");
    const char *format = safetensors_metadata(file, "format");
    if (format)
        sum += (unsigned)strlen(format);
    safetensors_close(file);
    /* Keeps the reads above from being optimised away. */
    volatile unsigned sink = sum;
    (void)sink;
    return 0;
}
