/* stedit - makes broken copies of a safetensors file, for the hostile-model
 * tests (tests/cli/test_hostile_models.sh):
 *
 *   stedit IN OUT EDIT...
 *
 *   retype NAME DTYPE       NAME keeps its shape but is stored as DTYPE (its
 *                           data zero-filled): a well-formed file whose tensor
 *                           has the wrong type. Written by safetensors_write.
 *   drop NAME               the header forgets NAME (its bytes stay)
 *   rename NAME NEW         the header calls NAME NEW
 *   set NAME KEY JSON       header[NAME][KEY] = JSON, whatever it says, e.g.
 *                           set t data_offsets '[0,99999999]'
 *   header-length N         the 8-byte length field says N (the header and
 *                           data stay where they were)
 *   header-text TEXT        the header is TEXT, not checked at all
 *
 * Retypes are applied first; the other edits then rewrite the header only,
 * keeping the data bytes as they were, so OUT can break any rule of the
 * format. Exit 0, or 1 with a message. */
#include <errno.h>
#include <inttypes.h>
#include <jansson.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "buf.h"
#include "safetensors.h"

static int fail(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/* Prints "stedit: MESSAGE" and returns 1, the exit status. */
static int fail(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    fprintf(stderr, "stedit: ");
    vfprintf(stderr, fmt, ap);
    fputc('\n', stderr);
    va_end(ap);
    return 1;
}

static int parse_dtype(const char *name, safetensors_dtype *out)
{
    for (int d = SAFETENSORS_F32; d <= SAFETENSORS_BOOL; d++) {
        if (strcmp(safetensors_dtype_name((safetensors_dtype)d), name) == 0) {
            *out = (safetensors_dtype)d;
            return 0;
        }
    }
    return -1;
}

/* How many words an edit takes after its name; -1 when unknown. */
static int edit_arity(const char *edit)
{
    static const struct { const char *name; int arity; } edits[] = {
        {"retype", 2}, {"drop", 1}, {"rename", 2}, {"set", 3}, {"header-length", 1}, {"header-text", 1},
    };
    for (size_t i = 0; i < sizeof edits / sizeof edits[0]; i++)
        if (strcmp(edits[i].name, edit) == 0) return edits[i].arity;
    return -1;
}

/* ---- retype: a valid file, written again ------------------------------------ */

static int retype(const char *in, const char *out, char **edits, int n_edits)
{
    char err[512];
    safetensors_file *f;
    if (safetensors_open(in, &f, err, sizeof err) != 0) return fail("%s", err);
    size_t n = safetensors_count(f);
    safetensors_tensor *ts = calloc(n ? n : 1, sizeof *ts);
    void **zeroed = calloc(n ? n : 1, sizeof *zeroed);
    int rc = ts && zeroed ? 0 : fail("out of memory");
    for (size_t i = 0; i < n && rc == 0; i++) ts[i] = *safetensors_at(f, i);
    for (int e = 0; e < n_edits && rc == 0; e += 1 + edit_arity(edits[e])) {
        if (strcmp(edits[e], "retype") != 0) continue;
        const char *name = edits[e + 1];
        safetensors_dtype dtype;
        if (parse_dtype(edits[e + 2], &dtype) != 0) {
            rc = fail("unknown dtype %s", edits[e + 2]);
            break;
        }
        size_t i = 0;
        while (i < n && strcmp(ts[i].name, name) != 0) i++;
        if (i == n) {
            rc = fail("%s has no tensor %s", in, name);
            break;
        }
        size_t bytes = (size_t)safetensors_numel(&ts[i]) * safetensors_dtype_size(dtype);
        free(zeroed[i]);
        zeroed[i] = calloc(bytes ? bytes : 1, 1);
        if (!zeroed[i]) {
            rc = fail("out of memory");
            break;
        }
        ts[i].dtype = dtype;
        ts[i].data = zeroed[i];
        ts[i].nbytes = bytes;
    }
    if (rc == 0 && safetensors_write(out, ts, n, NULL, 0, err, sizeof err) != 0) rc = fail("%s", err);
    for (size_t i = 0; zeroed && i < n; i++) free(zeroed[i]);
    free(zeroed);
    free(ts);
    safetensors_close(f);
    return rc;
}

/* ---- Header edits: raw, nothing checked --------------------------------------- */

static unsigned char *read_whole(const char *path, size_t *len)
{
    FILE *f = fopen(path, "rb");
    if (!f) return NULL;
    buf data = BUF_INIT;
    if (buf_read_stream(&data, f, (size_t)-1 / 4) != 0) buf_free(&data);
    fclose(f);
    return (unsigned char *)buf_detach(&data, len);
}

static json_t *entry(json_t *header, const char *name, const char *path)
{
    json_t *t = json_object_get(header, name);
    if (!json_is_object(t)) fail("%s has no tensor %s", path, name);
    return json_is_object(t) ? t : NULL;
}

/* Applies one header edit to `header`; the length and text overrides go to
 * *length / *text. Returns 0 or 1. */
static int edit_header(json_t *header, char **e, const char *path, uint64_t *length, const char **text)
{
    if (strcmp(e[0], "drop") == 0) {
        if (!entry(header, e[1], path)) return 1;
        json_object_del(header, e[1]);
    } else if (strcmp(e[0], "rename") == 0) {
        json_t *t = entry(header, e[1], path);
        if (!t) return 1;
        json_object_set(header, e[2], t);
        json_object_del(header, e[1]);
    } else if (strcmp(e[0], "set") == 0) {
        json_t *t = entry(header, e[1], path);
        json_error_t jerr;
        json_t *value = t ? json_loads(e[3], JSON_DECODE_ANY, &jerr) : NULL;
        if (!value) return t ? fail("set: %s is not JSON: %s", e[3], jerr.text) : 1;
        json_object_set_new(t, e[2], value);
    } else if (strcmp(e[0], "header-length") == 0) {
        char *end;
        errno = 0;
        *length = strtoull(e[1], &end, 10);
        if (errno || *end || end == e[1]) return fail("header-length: %s is not a number", e[1]);
    } else if (strcmp(e[0], "header-text") == 0) {
        *text = e[1];
    }
    return 0;
}

static int edit_raw(const char *in, const char *out, char **edits, int n_edits)
{
    size_t len = 0;
    unsigned char *file = read_whole(in, &len);
    if (!file) return fail("cannot read %s: %s", in, strerror(errno));
    uint64_t header_len = 0;
    for (int i = 7; len >= 8 && i >= 0; i--) header_len = header_len << 8 | file[i];
    if (len < 8 || header_len > len - 8) {
        free(file);
        return fail("%s is not a safetensors file to start from", in);
    }
    json_error_t jerr;
    json_t *header = json_loadb((const char *)file + 8, header_len, 0, &jerr);
    int rc = json_is_object(header) ? 0 : fail("%s: the header is not a JSON object: %s", in, jerr.text);
    uint64_t length_field = UINT64_MAX;
    const char *text = NULL;
    for (int e = 0; e < n_edits && rc == 0; e += 1 + edit_arity(edits[e]))
        if (strcmp(edits[e], "retype") != 0) rc = edit_header(header, edits + e, in, &length_field, &text);

    char *dumped = rc == 0 && !text ? json_dumps(header, JSON_COMPACT) : NULL;
    if (rc == 0 && !text && !dumped) rc = fail("out of memory");
    FILE *f = rc == 0 ? fopen(out, "wb") : NULL;
    if (rc == 0 && !f) rc = fail("cannot write %s: %s", out, strerror(errno));
    if (f) {
        const char *new_header = text ? text : dumped;
        uint64_t n = strlen(new_header), field = length_field != UINT64_MAX ? length_field : n;
        unsigned char le[8];
        for (int i = 0; i < 8; i++) le[i] = (unsigned char)(field >> (8 * i));
        size_t data_len = len - 8 - (size_t)header_len;
        if (fwrite(le, 1, 8, f) != 8 || fwrite(new_header, 1, n, f) != n ||
            fwrite(file + 8 + header_len, 1, data_len, f) != data_len)
            rc = fail("cannot write %s: %s", out, strerror(errno));
        if (fclose(f) != 0 && rc == 0) rc = fail("cannot write %s: %s", out, strerror(errno));
    }
    free(dumped);
    json_decref(header);
    free(file);
    return rc;
}

int main(int argc, char **argv)
{
    if (argc < 4) {
        fprintf(stderr, "usage: stedit IN OUT EDIT... (retype NAME DTYPE | drop NAME | rename NAME NEW |\n"
                        "       set NAME KEY JSON | header-length N | header-text TEXT)\n");
        return 2;
    }
    char **edits = argv + 3;
    int n_edits = argc - 3, retypes = 0, others = 0;
    for (int e = 0; e < n_edits;) {
        int arity = edit_arity(edits[e]);
        if (arity < 0 || e + arity >= n_edits) {
            fprintf(stderr, "stedit: %s: unknown edit or missing arguments\n", edits[e]);
            return 2;
        }
        if (strcmp(edits[e], "retype") == 0) retypes++;
        else others++;
        e += 1 + arity;
    }
    const char *in = argv[1], *out = argv[2];
    if (retypes) {
        if (retype(in, out, edits, n_edits) != 0) return 1;
        in = out;
    }
    return others ? edit_raw(in, out, edits, n_edits) : 0;
}
