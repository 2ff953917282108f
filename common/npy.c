/* npy.c - NumPy .npy files: magic "\x93NUMPY", version, header length
 * (u16 in 1.0, u32 in 2.0/3.0), a Python dict literal
 * {'descr': '<f4', 'fortran_order': False, 'shape': (3, 16), } padded with
 * spaces and a newline, then the raw C-order data. */
#include "npy.h"

#include "errbuf.h"
#include "util.h"

#include <ctype.h>
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#if defined(__BYTE_ORDER__) && __BYTE_ORDER__ != __ORDER_LITTLE_ENDIAN__
#error "npy.c copies little-endian data as is: a big-endian host needs byte swapping"
#endif

static const char MAGIC[6] = "\x93NUMPY";
#define PREAMBLE_V1 10            /* magic, 2 version bytes, u16 length */
#define PREAMBLE_V2 12            /* ... u32 length */
#define MAX_HEADER_LEN (1u << 20) /* real headers are ~100 bytes */
#define HEADER_ALIGNMENT 64


static size_t element_size(npy_dtype dtype)
{
    return dtype == NPY_F32 ? 4 : 8;
}

static const char *dtype_descr(npy_dtype dtype)
{
    return dtype == NPY_F32 ? "<f4" : "<i8";
}

int64_t npy_numel(const npy_array *a)
{
    return shape_numel(a->shape, a->ndim);
}

/* ------------------------------------------------------ the header dict */

typedef struct {
    const char *p, *end;
} cursor;

static void skip_space(cursor *c)
{
    while (c->p < c->end && isspace((unsigned char)*c->p))
        c->p++;
}

static int accept(cursor *c, char ch)
{
    skip_space(c);
    if (c->p < c->end && *c->p == ch) {
        c->p++;
        return 1;
    }
    return 0;
}

/* A quoted Python string ('...' or "...") without escapes, into buf. */
static int parse_string(cursor *c, char *buf, size_t len)
{
    skip_space(c);
    if (c->p >= c->end || (*c->p != '\'' && *c->p != '"'))
        return -1;
    char quote = *c->p++;
    size_t n = 0;
    while (c->p < c->end && *c->p != quote) {
        if (*c->p == '\\' || n + 1 >= len)
            return -1;
        buf[n++] = *c->p++;
    }
    if (c->p >= c->end)
        return -1;
    c->p++;
    buf[n] = '\0';
    return 0;
}

static int parse_bool(cursor *c, int *out)
{
    skip_space(c);
    size_t left = (size_t)(c->end - c->p);
    if (left >= 4 && memcmp(c->p, "True", 4) == 0) {
        c->p += 4;
        *out = 1;
        return 0;
    }
    if (left >= 5 && memcmp(c->p, "False", 5) == 0) {
        c->p += 5;
        *out = 0;
        return 0;
    }
    return -1;
}

static int parse_dim(cursor *c, int64_t *out)
{
    skip_space(c);
    int64_t v = 0;
    const char *start = c->p;
    while (c->p < c->end && isdigit((unsigned char)*c->p)) {
        int digit = *c->p - '0';
        if (v > (INT64_MAX - digit) / 10)
            return -1;
        v = v * 10 + digit;
        c->p++;
    }
    if (c->p == start)
        return -1;
    if (c->p < c->end && *c->p == 'L')   /* Python 2 long suffix */
        c->p++;
    *out = v;
    return 0;
}

/* "()", "(5,)", "(3, 16)", "(3, 16,)". */
static int parse_shape(cursor *c, npy_array *out, const char *path, char *err, size_t errlen)
{
    if (!accept(c, '(')) {
        errbuf_printf(err, errlen, "%s: header 'shape' is not a tuple", path);
        return -1;
    }
    out->ndim = 0;
    while (!accept(c, ')')) {
        if (out->ndim == NPY_MAX_DIMS) {
            errbuf_printf(err, errlen, "%s: shape has more than %d dimensions", path, NPY_MAX_DIMS);
            return -1;
        }
        if (parse_dim(c, &out->shape[out->ndim]) != 0) {
            errbuf_printf(err, errlen, "%s: shape entry %d is not a non-negative integer", path,
                    out->ndim);
            return -1;
        }
        out->ndim++;
        if (!accept(c, ',')) {
            if (!accept(c, ')')) {
                errbuf_printf(err, errlen, "%s: header 'shape' tuple is malformed", path);
                return -1;
            }
            break;
        }
    }
    return 0;
}

static int parse_descr(cursor *c, npy_array *out, const char *path, char *err, size_t errlen)
{
    char descr[32];
    if (parse_string(c, descr, sizeof descr) != 0) {
        errbuf_printf(err, errlen, "%s: header 'descr' is not a simple dtype string", path);
        return -1;
    }
    if (strcmp(descr, "<f4") == 0) {
        out->dtype = NPY_F32;
    } else if (strcmp(descr, "<i8") == 0) {
        out->dtype = NPY_I64;
    } else {
        errbuf_printf(err, errlen, "%s: unsupported dtype '%s' (only '<f4' and '<i8' are read)",
                path, descr);
        return -1;
    }
    return 0;
}

static int parse_header(const char *text, size_t len, npy_array *out, const char *path,
                        char *err, size_t errlen)
{
    cursor c = {text, text + len};
    int have_descr = 0, have_order = 0, have_shape = 0;
    if (!accept(&c, '{')) {
        errbuf_printf(err, errlen, "%s: header is not a dict", path);
        return -1;
    }
    while (!accept(&c, '}')) {
        char key[32];
        if (parse_string(&c, key, sizeof key) != 0 || !accept(&c, ':')) {
            errbuf_printf(err, errlen, "%s: header dict is malformed", path);
            return -1;
        }
        if (strcmp(key, "descr") == 0 && !have_descr) {
            if (parse_descr(&c, out, path, err, errlen) != 0)
                return -1;
            have_descr = 1;
        } else if (strcmp(key, "fortran_order") == 0 && !have_order) {
            int fortran;
            if (parse_bool(&c, &fortran) != 0) {
                errbuf_printf(err, errlen, "%s: header 'fortran_order' is not True or False", path);
                return -1;
            }
            if (fortran) {
                errbuf_printf(err, errlen, "%s: Fortran-order arrays are not supported", path);
                return -1;
            }
            have_order = 1;
        } else if (strcmp(key, "shape") == 0 && !have_shape) {
            if (parse_shape(&c, out, path, err, errlen) != 0)
                return -1;
            have_shape = 1;
        } else {
            errbuf_printf(err, errlen, "%s: unexpected or repeated header key '%s'", path, key);
            return -1;
        }
        if (!accept(&c, ',')) {
            if (!accept(&c, '}')) {
                errbuf_printf(err, errlen, "%s: header dict is malformed", path);
                return -1;
            }
            break;
        }
    }
    skip_space(&c);
    if (c.p != c.end) {
        errbuf_printf(err, errlen, "%s: unexpected text after the header dict", path);
        return -1;
    }
    if (!have_descr || !have_order || !have_shape) {
        errbuf_printf(err, errlen, "%s: header lacks '%s'", path,
                !have_descr ? "descr" : !have_order ? "fortran_order" : "shape");
        return -1;
    }
    return 0;
}

/* --------------------------------------------------------------- reading */

static int read_exact(FILE *f, void *buf, size_t len)
{
    return fread(buf, 1, len, f) == len ? 0 : -1;
}

/* The magic and version of the first PREAMBLE_V1 bytes: the preamble's
 * length (PREAMBLE_V1 for 1.0, PREAMBLE_V2 for 2.0 and 3.0), or 0. */
static size_t preamble_size(const unsigned char *pre, const char *path, char *err, size_t errlen)
{
    if (memcmp(pre, MAGIC, sizeof MAGIC) != 0) {
        errbuf_printf(err, errlen, "%s: not a .npy file (bad magic)", path);
        return 0;
    }
    unsigned major = pre[6], minor = pre[7];
    if (major == 1) return PREAMBLE_V1;
    if (major == 2 || major == 3) return PREAMBLE_V2;
    errbuf_printf(err, errlen, "%s: unsupported .npy format version %u.%u", path, major, minor);
    return 0;
}

/* The header length a whole preamble gives into *len. Returns 0, or -1
 * (with a message) when it is implausibly large. */
static int header_length(const unsigned char *pre, size_t preamble, size_t *len, const char *path, char *err,
                         size_t errlen)
{
    *len = (size_t)pre[8] | (size_t)pre[9] << 8;
    if (preamble == PREAMBLE_V2) *len |= (size_t)pre[10] << 16 | (size_t)pre[11] << 24;
    if (*len > MAX_HEADER_LEN) {
        errbuf_printf(err, errlen, "%s: header length %zu is implausibly large", path, *len);
        return -1;
    }
    return 0;
}

/* Reads the preamble and header dict; leaves f at the first data byte and
 * sets *data_start. */
static int read_header(FILE *f, const char *path, npy_array *out, long *data_start,
                       char *err, size_t errlen)
{
    unsigned char pre[PREAMBLE_V2];
    if (read_exact(f, pre, PREAMBLE_V1) != 0) {
        errbuf_printf(err, errlen, "%s: not a .npy file (bad magic)", path);
        return -1;
    }
    size_t preamble = preamble_size(pre, path, err, errlen);
    if (preamble == 0) return -1;
    if (preamble > PREAMBLE_V1 && read_exact(f, pre + PREAMBLE_V1, preamble - PREAMBLE_V1) != 0) {
        errbuf_printf(err, errlen, "%s: truncated .npy preamble", path);
        return -1;
    }
    size_t header_len;
    if (header_length(pre, preamble, &header_len, path, err, errlen) != 0) return -1;
    char *text = malloc(header_len + 1);
    if (!text) {
        errbuf_printf(err, errlen, "%s: out of memory", path);
        return -1;
    }
    if (read_exact(f, text, header_len) != 0) {
        errbuf_printf(err, errlen, "%s: truncated .npy header", path);
        free(text);
        return -1;
    }
    text[header_len] = '\0';
    int status = parse_header(text, header_len, out, path, err, errlen);
    free(text);
    *data_start = (long)(preamble + header_len);
    return status;
}

/* The data's size for a's header, checked against the `available` bytes
 * after the header: -1 (with a message) unless they match exactly. */
static int64_t data_size(const npy_array *a, int64_t available, const char *path, char *err, size_t errlen)
{
    int64_t nbytes = shape_bytes(a->shape, a->ndim, element_size(a->dtype));
    if (nbytes < 0) {
        errbuf_printf(err, errlen, "%s: shape is too large (size overflows)", path);
        return -1;
    }
    if (available < nbytes) {
        errbuf_printf(err, errlen, "%s: truncated: %s data needs %lld bytes, the file has %lld", path,
                dtype_descr(a->dtype), (long long)nbytes, (long long)(available < 0 ? 0 : available));
        return -1;
    }
    if (available > nbytes) {
        errbuf_printf(err, errlen, "%s: unexpected data after the array (%lld bytes)", path,
                (long long)(available - nbytes));
        return -1;
    }
    return nbytes;
}

int npy_read(const char *path, npy_array *out, char *err, size_t errlen)
{
    memset(out, 0, sizeof *out);
    FILE *f = fopen(path, "rb");
    if (!f) {
        errbuf_printf(err, errlen, "%s: cannot open: %s", path, strerror(errno));
        return -1;
    }
    npy_array a = {0};
    long data_start;
    struct stat st;
    if (read_header(f, path, &a, &data_start, err, errlen) != 0)
        goto fail;
    if (fstat(fileno(f), &st) != 0) {
        errbuf_printf(err, errlen, "%s: cannot stat: %s", path, strerror(errno));
        goto fail;
    }
    /* Compare with the file size before allocating what the header claims. */
    int64_t nbytes = data_size(&a, (int64_t)st.st_size - data_start, path, err, errlen);
    if (nbytes < 0)
        goto fail;
    a.data = malloc(nbytes ? (size_t)nbytes : 1);
    if (!a.data) {
        errbuf_printf(err, errlen, "%s: out of memory for %lld bytes", path, (long long)nbytes);
        goto fail;
    }
    if (read_exact(f, a.data, (size_t)nbytes) != 0) {
        errbuf_printf(err, errlen, "%s: read error: %s", path, ferror(f) ? strerror(errno) : "short read");
        goto fail;
    }
    fclose(f);
    *out = a;
    return 0;
fail:
    free(a.data);
    fclose(f);
    return -1;
}

int npy_decode(const void *bytes, size_t len, const char *name, npy_array *out, char *err, size_t errlen)
{
    memset(out, 0, sizeof *out);
    const unsigned char *p = bytes;
    if (len < PREAMBLE_V1) {
        errbuf_printf(err, errlen, "%s: not a .npy file (bad magic)", name);
        return -1;
    }
    size_t preamble = preamble_size(p, name, err, errlen);
    if (preamble == 0) return -1;
    if (len < preamble) {
        errbuf_printf(err, errlen, "%s: truncated .npy preamble", name);
        return -1;
    }
    size_t header_len;
    if (header_length(p, preamble, &header_len, name, err, errlen) != 0) return -1;
    if (len - preamble < header_len) {
        errbuf_printf(err, errlen, "%s: truncated .npy header", name);
        return -1;
    }
    npy_array a = {0};
    if (parse_header((const char *)p + preamble, header_len, &a, name, err, errlen) != 0) return -1;
    size_t start = preamble + header_len;
    int64_t nbytes = data_size(&a, (int64_t)(len - start), name, err, errlen);
    if (nbytes < 0) return -1;
    a.data = malloc(nbytes ? (size_t)nbytes : 1);
    if (!a.data) {
        errbuf_printf(err, errlen, "%s: out of memory for %lld bytes", name, (long long)nbytes);
        return -1;
    }
    memcpy(a.data, p + start, (size_t)nbytes);
    *out = a;
    return 0;
}

/* --------------------------------------------------------------- writing */

/* The dict padded with spaces and ended by '\n' so that the data starts at a
 * multiple of 64 bytes, as numpy does. Returns its length, or 0. */
static size_t format_header(const npy_array *a, char *buf, size_t len)
{
    size_t n = (size_t)snprintf(buf, len, "{'descr': '%s', 'fortran_order': False, 'shape': (",
                                dtype_descr(a->dtype));
    for (int i = 0; i < a->ndim && n < len; i++)
        n += (size_t)snprintf(buf + n, len - n, "%s%lld", i ? ", " : "", (long long)a->shape[i]);
    if (n < len)
        n += (size_t)snprintf(buf + n, len - n, "%s), }", a->ndim == 1 ? "," : "");
    size_t total = PREAMBLE_V1 + n + 1;
    size_t padded = (total + HEADER_ALIGNMENT - 1) / HEADER_ALIGNMENT * HEADER_ALIGNMENT;
    size_t header_len = padded - PREAMBLE_V1;
    if (header_len + 1 > len)
        return 0;
    memset(buf + n, ' ', header_len - n - 1);
    buf[header_len - 1] = '\n';
    buf[header_len] = '\0';
    return header_len;
}

/* Checks `a` and formats its preamble and header (into header, cap bytes)
 * and data size. Returns the header's length, or 0 with a message. */
static size_t prepare(const npy_array *a, const char *path, unsigned char pre[PREAMBLE_V1], char *header,
                      size_t cap, int64_t *nbytes, char *err, size_t errlen)
{
    if (a->dtype != NPY_F32 && a->dtype != NPY_I64) {
        errbuf_printf(err, errlen, "%s: invalid dtype %d", path, (int)a->dtype);
        return 0;
    }
    if (a->ndim < 0 || a->ndim > NPY_MAX_DIMS) {
        errbuf_printf(err, errlen, "%s: %d dimensions (0 to %d supported)", path, a->ndim,
                NPY_MAX_DIMS);
        return 0;
    }
    for (int i = 0; i < a->ndim; i++) {
        if (a->shape[i] < 0) {
            errbuf_printf(err, errlen, "%s: shape[%d] is negative", path, i);
            return 0;
        }
    }
    *nbytes = shape_bytes(a->shape, a->ndim, element_size(a->dtype));
    if (*nbytes < 0 || (*nbytes > 0 && !a->data)) {
        errbuf_printf(err, errlen, "%s: %s", path, *nbytes < 0 ? "shape is too large" : "no data");
        return 0;
    }
    size_t header_len = format_header(a, header, cap);
    if (header_len == 0 || header_len > 0xffff) {
        errbuf_printf(err, errlen, "%s: header does not fit", path);
        return 0;
    }
    memcpy(pre, MAGIC, sizeof MAGIC);
    pre[6] = 1;
    pre[7] = 0;
    pre[8] = (unsigned char)(header_len & 0xff);
    pre[9] = (unsigned char)(header_len >> 8);
    return header_len;
}

int npy_write(const char *path, const npy_array *a, char *err, size_t errlen)
{
    char header[512];
    unsigned char pre[PREAMBLE_V1];
    int64_t nbytes;
    size_t header_len = prepare(a, path, pre, header, sizeof header, &nbytes, err, errlen);
    if (header_len == 0)
        return -1;
    FILE *f = fopen(path, "wb");
    if (!f) {
        errbuf_printf(err, errlen, "%s: cannot create: %s", path, strerror(errno));
        return -1;
    }
    int ok = fwrite(pre, 1, sizeof pre, f) == sizeof pre &&
             fwrite(header, 1, header_len, f) == header_len &&
             (nbytes == 0 || fwrite(a->data, 1, (size_t)nbytes, f) == (size_t)nbytes);
    int saved_errno = errno;
    if (fclose(f) != 0 && ok) {
        ok = 0;
        saved_errno = errno;
    }
    if (!ok) {
        errbuf_printf(err, errlen, "%s: cannot write: %s", path, strerror(saved_errno));
        unlink(path);
        return -1;
    }
    return 0;
}

int npy_encode(const npy_array *a, const char *name, unsigned char **out, size_t *len, char *err,
               size_t errlen)
{
    *out = NULL;
    *len = 0;
    char header[512];
    unsigned char pre[PREAMBLE_V1];
    int64_t nbytes;
    size_t header_len = prepare(a, name, pre, header, sizeof header, &nbytes, err, errlen);
    if (header_len == 0)
        return -1;
    size_t total = sizeof pre + header_len + (size_t)nbytes;
    unsigned char *bytes = malloc(total);
    if (!bytes) {
        errbuf_printf(err, errlen, "%s: out of memory for %zu bytes", name, total);
        return -1;
    }
    memcpy(bytes, pre, sizeof pre);
    memcpy(bytes + sizeof pre, header, header_len);
    if (nbytes > 0)
        memcpy(bytes + sizeof pre + header_len, a->data, (size_t)nbytes);
    *out = bytes;
    *len = total;
    return 0;
}

void npy_free(npy_array *a)
{
    if (!a)
        return;
    free(a->data);
    memset(a, 0, sizeof *a);
}
