/* bpe_pretok.c - see bpe_pretok.h. */
#define PCRE2_CODE_UNIT_WIDTH 8
#include "bpe_pretok.h"

#include <pcre2.h>
#include <stdlib.h>
#include <string.h>

#include "buf.h"
#include "errbuf.h"
#include "text.h"

const char BPE_QWEN2_PATTERN[] =
    "(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\\r\\n\\p{L}\\p{N}]?\\p{L}+|\\p{N}| ?[^\\s\\p{L}\\p{N}]+[\\r\\n]*"
    "|\\s*[\\r\\n]+|\\s+(?!\\S)|\\s+";

/* Unicode White_Space, as a character class body. */
static const char WHITE_SPACE[] =
    "\\x{9}-\\x{d}\\x{20}\\x{85}\\x{a0}\\x{1680}\\x{2000}-\\x{200a}\\x{2028}\\x{2029}\\x{202f}"
    "\\x{205f}\\x{3000}";

struct bpe_pretok {
    pcre2_code *code;
    int jit;
};

/* Rewrites \s and \S (see the header). Escapes are skipped as pairs, so
 * "\\s" stays a backslash and an s; a ']' right after '[' or '[^' is a
 * literal, as in both dialects. */
static int translate(const char *pattern, buf *out)
{
    int in_class = 0;
    size_t class_start = 0;
    for (size_t i = 0; pattern[i]; i++) {
        char c = pattern[i];
        if (c == '\\' && pattern[i + 1]) {
            char e = pattern[++i];
            if (e == 's')
                buf_printf(out, in_class ? "%s" : "[%s]", WHITE_SPACE);
            else if (e == 'S' && !in_class)
                buf_printf(out, "[^%s]", WHITE_SPACE);
            else {
                buf_putc(out, '\\');
                buf_putc(out, e);
            }
            continue;
        }
        if (!in_class && c == '[') {
            in_class = 1;
            class_start = out->len + 1;
            if (pattern[i + 1] == '^') {
                buf_puts(out, "[^");
                i++;
                class_start++;
                continue;
            }
        } else if (in_class && c == ']' && out->len > class_start) {
            in_class = 0;
        }
        buf_putc(out, c);
    }
    return buf_failed(out) ? -1 : 0;
}

int bpe_pretok_compile(const char *pattern, bpe_pretok **out, char *err, size_t errlen)
{
    *out = NULL;
    buf src = BUF_INIT;
    if (translate(pattern, &src) != 0 || src.len == 0) {
        buf_free(&src);
        errbuf_printf(err, errlen, src.len == 0 ? "empty pattern" : "out of memory");
        return -1;
    }
    int code;
    PCRE2_SIZE at;
    pcre2_code *re = pcre2_compile((PCRE2_SPTR)src.data, src.len, PCRE2_UTF | PCRE2_UCP, &code, &at, NULL);
    buf_free(&src);
    if (!re) {
        PCRE2_UCHAR msg[256];
        pcre2_get_error_message(code, msg, sizeof msg);
        errbuf_printf(err, errlen, "pattern /%s/: %s", pattern, (const char *)msg);
        return -1;
    }
    bpe_pretok *p = calloc(1, sizeof *p);
    if (!p) {
        pcre2_code_free(re);
        errbuf_printf(err, errlen, "out of memory");
        return -1;
    }
    p->code = re;
    p->jit = pcre2_jit_compile(re, PCRE2_JIT_COMPLETE) == 0;
    *out = p;
    return 0;
}

void bpe_pretok_free(bpe_pretok *p)
{
    if (!p)
        return;
    pcre2_code_free(p->code);
    free(p);
}

/* One match at or after start; rc as pcre2_match. The JIT's default stack
 * is small: where it runs out, the interpreter (heap-based) takes over. */
static int match_at(const bpe_pretok *p, const char *text, size_t len, size_t start, pcre2_match_data *md)
{
    uint32_t opts = PCRE2_NO_UTF_CHECK;
    int rc = pcre2_match(p->code, (PCRE2_SPTR)text, len, start, opts, md, NULL);
    if (rc == PCRE2_ERROR_JIT_STACKLIMIT)
        rc = pcre2_match(p->code, (PCRE2_SPTR)text, len, start, opts | PCRE2_NO_JIT, md, NULL);
    return rc;
}

int bpe_pretok_split(const bpe_pretok *p, const char *text, size_t len,
                     int (*piece)(void *ctx, const char *s, size_t n), void *ctx, char *err,
                     size_t errlen)
{
    pcre2_match_data *md = pcre2_match_data_create_from_pattern(p->code, NULL);
    if (!md) {
        errbuf_printf(err, errlen, "out of memory");
        return -1;
    }
    /* pos: where the text not yet handed out starts; search: where the next
     * match may start (past pos after an empty match, which covers nothing
     * and leaves its character to the text between matches). */
    int rc = 0;
    size_t pos = 0, search = 0;
    while (pos < len && search < len) {
        int m = match_at(p, text, len, search, md);
        if (m == PCRE2_ERROR_NOMATCH)
            break;
        if (m < 0) {
            PCRE2_UCHAR msg[256];
            pcre2_get_error_message(m, msg, sizeof msg);
            errbuf_printf(err, errlen, "pre-tokenisation: %s", (const char *)msg);
            rc = -1;
            break;
        }
        const PCRE2_SIZE *ov = pcre2_get_ovector_pointer(md);
        size_t from = ov[0], to = ov[1];
        if (to == from) {
            size_t k = from < len ? text_utf8_seq_len((const unsigned char *)text + from, len - from) : 0;
            search = from + (k ? k : 1);
            continue;
        }
        if (from > pos && (rc = piece(ctx, text + pos, from - pos)) != 0)
            break;
        if ((rc = piece(ctx, text + from, to - from)) != 0)
            break;
        pos = search = to;
    }
    if (rc == 0 && pos < len)
        rc = piece(ctx, text + pos, len - pos);
    pcre2_match_data_free(md);
    return rc;
}
