/* spm_proto.c - see spm_proto.h. Field numbers are from sentencepiece
 * 0.1.97's src/sentencepiece_model.proto. */
#include "spm_proto.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

enum wire_type { WIRE_VARINT = 0, WIRE_FIXED64 = 1, WIRE_BYTES = 2, WIRE_GROUP_START = 3,
                 WIRE_GROUP_END = 4, WIRE_FIXED32 = 5 };

/* protobuf's own limit on nesting; only unknown groups can nest here. */
#define MAX_GROUP_DEPTH 100

typedef struct reader {
    const uint8_t *base, *at, *end;
    char *err;
    size_t errlen;
} reader;

typedef struct field {
    uint32_t number;
    int wire;
    uint64_t varint;      /* WIRE_VARINT */
    uint32_t fixed32;     /* WIRE_FIXED32 */
    spm_bytes bytes;      /* WIRE_BYTES */
} field;

static int fail(reader *r, const char *fmt, ...)
{
    if (r->err && r->errlen) {
        int n = snprintf(r->err, r->errlen, "malformed protobuf at byte %zu: ",
                         (size_t)(r->at - r->base));
        if (n >= 0 && (size_t)n < r->errlen) {
            va_list ap;
            va_start(ap, fmt);
            vsnprintf(r->err + n, r->errlen - (size_t)n, fmt, ap);
            va_end(ap);
        }
    }
    return -1;
}

static int read_varint(reader *r, uint64_t *out)
{
    uint64_t v = 0;
    for (int shift = 0; shift < 70; shift += 7) {
        if (r->at == r->end)
            return fail(r, "truncated varint");
        uint8_t byte = *r->at++;
        v |= (uint64_t)(byte & 0x7f) << shift;
        if (!(byte & 0x80)) {
            *out = v;
            return 0;
        }
    }
    return fail(r, "varint longer than 10 bytes");
}

static int skip_group(reader *r, uint32_t number, int depth);

/* Reads the next field of the message that ends at r->end. Unknown groups
 * are skipped whole and come back with wire type WIRE_GROUP_START. */
static int read_field(reader *r, field *f, int depth)
{
    uint64_t tag;
    if (read_varint(r, &tag) != 0)
        return -1;
    if (tag >> 3 == 0 || tag >> 3 > 0x1fffffff)
        return fail(r, "invalid field number %llu", (unsigned long long)(tag >> 3));
    f->number = (uint32_t)(tag >> 3);
    f->wire = (int)(tag & 7);
    switch (f->wire) {
    case WIRE_VARINT:
        return read_varint(r, &f->varint);
    case WIRE_FIXED64:
        if (r->end - r->at < 8)
            return fail(r, "truncated 64-bit field %u", f->number);
        r->at += 8;
        return 0;
    case WIRE_FIXED32:
        if (r->end - r->at < 4)
            return fail(r, "truncated 32-bit field %u", f->number);
        f->fixed32 = (uint32_t)r->at[0] | (uint32_t)r->at[1] << 8 |
                     (uint32_t)r->at[2] << 16 | (uint32_t)r->at[3] << 24;
        r->at += 4;
        return 0;
    case WIRE_BYTES: {
        uint64_t len;
        if (read_varint(r, &len) != 0)
            return -1;
        if (len > (uint64_t)(r->end - r->at))
            return fail(r, "field %u claims %llu bytes, only %zu remain", f->number,
                        (unsigned long long)len, (size_t)(r->end - r->at));
        f->bytes.data = (const char *)r->at;
        f->bytes.len = (size_t)len;
        r->at += len;
        return 0;
    }
    case WIRE_GROUP_START:
        return skip_group(r, f->number, depth + 1);
    case WIRE_GROUP_END:
        return fail(r, "unexpected end of group %u", f->number);
    default:
        return fail(r, "invalid wire type %d", f->wire);
    }
}

static int skip_group(reader *r, uint32_t number, int depth)
{
    if (depth > MAX_GROUP_DEPTH)
        return fail(r, "groups nested too deeply");
    while (r->at < r->end) {
        const uint8_t *start = r->at;
        uint64_t tag;
        if (read_varint(r, &tag) != 0)
            return -1;
        if ((tag & 7) == WIRE_GROUP_END) {
            if (tag >> 3 == number)
                return 0;
            return fail(r, "group %u closed as %llu", number, (unsigned long long)(tag >> 3));
        }
        r->at = start;
        field inner;
        if (read_field(r, &inner, depth) != 0)
            return -1;
    }
    return fail(r, "unterminated group %u", number);
}

static reader sub_reader(const reader *r, spm_bytes bytes)
{
    reader sub = *r;
    sub.at = (const uint8_t *)bytes.data;
    sub.end = sub.at + bytes.len;
    return sub;
}

static float as_float(uint32_t bits)
{
    float f;
    memcpy(&f, &bits, sizeof f);
    return f;
}

/* An enum field keeps its value unless the new one is in [lo, hi]; protobuf
 * reads enums as 32-bit. */
static void set_enum(int *dst, uint64_t v, int lo, int hi)
{
    int32_t value = (int32_t)(uint32_t)v;
    if (value >= lo && value <= hi)
        *dst = value;
}

static int decode_piece(reader *r, spm_proto_piece *piece)
{
    field f;
    while (r->at < r->end) {
        if (read_field(r, &f, 0) != 0)
            return -1;
        if (f.number == 1 && f.wire == WIRE_BYTES)
            piece->text = f.bytes;
        else if (f.number == 2 && f.wire == WIRE_FIXED32)
            piece->score = as_float(f.fixed32);
        else if (f.number == 3 && f.wire == WIRE_VARINT)
            set_enum(&piece->type, f.varint, SPM_NORMAL, SPM_BYTE);
    }
    return 0;
}

static int decode_trainer_spec(reader *r, spm_proto *p)
{
    field f;
    while (r->at < r->end) {
        if (read_field(r, &f, 0) != 0)
            return -1;
        if (f.wire == WIRE_VARINT) {
            if (f.number == 3)
                set_enum(&p->model_type, f.varint, SPM_UNIGRAM, SPM_CHAR);
            else if (f.number == 24)
                p->treat_whitespace_as_suffix = f.varint != 0;
            else if (f.number == 35)
                p->byte_fallback = f.varint != 0;
        } else if (f.wire == WIRE_BYTES) {
            if (f.number == 45)
                p->unk_piece = f.bytes;
            else if (f.number == 47)
                p->eos_piece = f.bytes;
            else if (f.number == 48)
                p->pad_piece = f.bytes;
        }
    }
    return 0;
}

static int decode_normalizer_spec(reader *r, spm_proto *p)
{
    field f;
    while (r->at < r->end) {
        if (read_field(r, &f, 0) != 0)
            return -1;
        if (f.number == 2 && f.wire == WIRE_BYTES)
            p->precompiled_charsmap = f.bytes;
        else if (f.wire == WIRE_VARINT && f.number == 3)
            p->add_dummy_prefix = f.varint != 0;
        else if (f.wire == WIRE_VARINT && f.number == 4)
            p->remove_extra_whitespaces = f.varint != 0;
        else if (f.wire == WIRE_VARINT && f.number == 5)
            p->escape_whitespaces = f.varint != 0;
    }
    return 0;
}

static int append_piece(reader *r, spm_proto *p, size_t *cap, spm_bytes bytes)
{
    if (p->n_pieces == *cap) {
        size_t new_cap = *cap ? *cap * 2 : 1024;
        spm_proto_piece *pieces = realloc(p->pieces, new_cap * sizeof *pieces);
        if (!pieces)
            return fail(r, "out of memory for %zu pieces", new_cap);
        p->pieces = pieces;
        *cap = new_cap;
    }
    spm_proto_piece *piece = &p->pieces[p->n_pieces++];
    *piece = (spm_proto_piece){ .text = { "", 0 }, .score = 0.0f, .type = SPM_NORMAL };
    reader sub = sub_reader(r, bytes);
    return decode_piece(&sub, piece);
}

int spm_proto_decode(const void *buf, size_t len, spm_proto *p, char *err, size_t errlen)
{
    *p = (spm_proto){
        .model_type = SPM_UNIGRAM,
        .add_dummy_prefix = true,
        .remove_extra_whitespaces = true,
        .escape_whitespaces = true,
    };
    reader r = { buf, buf, (const uint8_t *)buf + len, err, errlen };
    size_t cap = 0;
    field f;
    while (r.at < r.end) {
        if (read_field(&r, &f, 0) != 0)
            goto fail;
        if (f.wire != WIRE_BYTES)
            continue;
        reader sub = sub_reader(&r, f.bytes);
        int rc = 0;
        if (f.number == 1)
            rc = append_piece(&r, p, &cap, f.bytes);
        else if (f.number == 2)
            rc = decode_trainer_spec(&sub, p);
        else if (f.number == 3)
            rc = decode_normalizer_spec(&sub, p);
        if (rc != 0)
            goto fail;
    }
    return 0;

fail:
    spm_proto_free(p);
    return -1;
}

void spm_proto_free(spm_proto *p)
{
    free(p->pieces);
    p->pieces = NULL;
    p->n_pieces = 0;
}
