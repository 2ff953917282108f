/* fuzz_npy.c - common/npy.c's npy_read on arbitrary .npy files.
 *
 * npy_read takes a path, so each input is written to an in-memory file
 * (memfd) and read back through /proc/self/fd. An accepted array must have
 * a shape whose size matches the data that followed the header exactly.
 * npy_decode, on the same bytes in memory, must agree with npy_read. */
#include <sys/mman.h>
#include <unistd.h>

#include "fuzz.h"
#include "npy.h"

static int write_all(int fd, const uint8_t *data, size_t size)
{
    while (size > 0) {
        ssize_t n = write(fd, data, size);
        if (n <= 0)
            return -1;
        data += n;
        size -= (size_t)n;
    }
    return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    int fd = memfd_create("fuzz.npy", 0);
    FUZZ_ASSERT(fd >= 0, "memfd_create failed");
    FUZZ_ASSERT(write_all(fd, data, size) == 0, "cannot write the input");
    char path[64];
    snprintf(path, sizeof path, "/proc/self/fd/%d", fd);

    npy_array a, m;
    char err[512] = "", merr[512] = "";
    int decoded = npy_decode(data, size, "mem", &m, merr, sizeof merr) == 0;
    FUZZ_ASSERT(decoded || fuzz_message_ok(merr, sizeof merr), "bad message: '%s'", merr);
    if (npy_read(path, &a, err, sizeof err) != 0) {
        FUZZ_ASSERT(!decoded, "npy_decode accepted what npy_read refused: %s", err);
        FUZZ_ASSERT(fuzz_message_ok(err, sizeof err) && strstr(err, path),
                    "the message does not name the file: '%s'", err);
    } else {
        FUZZ_ASSERT(a.ndim >= 0 && a.ndim <= NPY_MAX_DIMS, "%d dims", a.ndim);
        int64_t numel = npy_numel(&a);
        size_t elsize = a.dtype == NPY_F32 ? 4 : 8;
        FUZZ_ASSERT(numel >= 0 && (uint64_t)numel * elsize <= size, "%lld elements in %zu bytes",
                    (long long)numel, size);
        /* The data was copied out: reading all of it must stay in bounds. */
        const uint8_t *p = a.data;
        unsigned sum = 0;
        for (size_t i = 0; i < (size_t)numel * elsize; i++)
            sum += p[i];
        volatile unsigned sink = sum;
        (void)sink;
        FUZZ_ASSERT(decoded && m.dtype == a.dtype && m.ndim == a.ndim &&
                        memcmp(m.shape, a.shape, sizeof a.shape) == 0 &&
                        memcmp(m.data, a.data, (size_t)numel * elsize) == 0,
                    "npy_decode disagrees with npy_read: %s", merr);
        npy_free(&a);
    }
    if (decoded) npy_free(&m);
    close(fd);
    return 0;
}
