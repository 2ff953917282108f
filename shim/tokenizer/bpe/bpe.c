/* bpe.c - encoding (bpe_encode) and the lookups of bpe.h; loading is in
 * bpe_load.c, decoding in bpe_decode.c. */
#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <utf8proc.h>

#include "bpe_internal.h"
#include "bpe_merge.h"
#include "errbuf.h"
#include "text.h"

typedef struct encoder {
    const bpe_tokenizer *tok;
    int64_t *ids;
    size_t max_ids;
    size_t count;            /* ids produced, written or not */
    int32_t *symbols;        /* one piece's symbols */
    size_t symbols_cap;
    bpe_merge_scratch scratch;
} encoder;

enum { ENC_OOM = 1 };

static void emit(encoder *e, int64_t id)
{
    if (e->count < e->max_ids)
        e->ids[e->count] = id;
    e->count++;
}

/* One pre-tokenised piece: its bytes as symbols, merged. */
static int encode_piece(void *ctx, const char *s, size_t n)
{
    encoder *e = ctx;
    if (e->symbols_cap < n) {
        int32_t *p = realloc(e->symbols, n * sizeof *p);
        if (!p)
            return ENC_OOM;
        e->symbols = p;
        e->symbols_cap = n;
    }
    for (size_t i = 0; i < n; i++)
        e->symbols[i] = e->tok->byte_id[(unsigned char)s[i]];
    size_t out;
    if (bpe_merge(&e->tok->merges, e->symbols, n, &out, &e->scratch) != 0)
        return ENC_OOM;
    for (size_t i = 0; i < out; i++)
        emit(e, e->symbols[i]);
    return 0;
}

static int is_ascii(const char *s, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if ((unsigned char)s[i] >= 0x80)
            return 0;
    return 1;
}

/* Text between added tokens: NFC, pre-tokenisation, BPE. */
static int encode_text(encoder *e, const char *s, size_t n, char *err, size_t errlen)
{
    if (n == 0)
        return 0;
    utf8proc_uint8_t *nfc = NULL;
    if (e->tok->nfc && !is_ascii(s, n)) {
        utf8proc_ssize_t k = utf8proc_map((const utf8proc_uint8_t *)s, (utf8proc_ssize_t)n, &nfc,
                                          UTF8PROC_STABLE | UTF8PROC_COMPOSE);
        if (k < 0) {
            errbuf_printf(err, errlen, "NFC normalisation: %s", utf8proc_errmsg(k));
            return -1;
        }
        s = (const char *)nfc;
        n = (size_t)k;
    }
    int rc = bpe_pretok_split(e->tok->pretok, s, n, encode_piece, e, err, errlen);
    free(nfc);
    if (rc == ENC_OOM)
        errbuf_printf(err, errlen, "out of memory");
    return rc == 0 ? 0 : -1;
}

/* The added token that starts leftmost at or after pos (longest of those
 * that start there); next[k] caches where added token k occurs next. */
static int next_added(const bpe_tokenizer *t, const char *text, size_t len, size_t pos, size_t *next,
                      size_t *at)
{
    int best = -1;
    *at = len;
    for (int k = 0; k < t->n_added; k++) {
        if (next[k] < pos) {
            const char *p = memmem(text + pos, len - pos, t->added[k].text, t->added[k].len);
            next[k] = p ? (size_t)(p - text) : SIZE_MAX;
        }
        if (next[k] < *at || (next[k] == *at && best >= 0 && t->added[k].len > t->added[best].len)) {
            *at = next[k];
            best = k;
        }
    }
    return best;
}

static int encode_all(encoder *e, const char *text, size_t len, int parse_special, char *err, size_t errlen)
{
    const bpe_tokenizer *t = e->tok;
    if (!parse_special || t->n_added == 0)
        return encode_text(e, text, len, err, errlen);
    size_t *next = malloc((size_t)t->n_added * sizeof *next);
    if (!next) {
        errbuf_printf(err, errlen, "out of memory");
        return -1;
    }
    for (int k = 0; k < t->n_added; k++) {
        const char *p = memmem(text, len, t->added[k].text, t->added[k].len);
        next[k] = p ? (size_t)(p - text) : SIZE_MAX;
    }
    int rc = 0;
    for (size_t pos = 0; pos < len && rc == 0;) {
        size_t at;
        int k = next_added(t, text, len, pos, next, &at);
        rc = encode_text(e, text + pos, at - pos, err, errlen);
        if (k < 0)
            break;
        emit(e, t->added[k].id);
        pos = at + t->added[k].len;
    }
    free(next);
    return rc;
}

int bpe_encode(const bpe_tokenizer *tok, const char *text, size_t len, int parse_special, int64_t *ids,
               int max_ids, int *n_ids, char *err, size_t errlen)
{
    *n_ids = 0;
    if (!tok || (!text && len > 0) || max_ids < 0 || (!ids && max_ids > 0)) {
        errbuf_printf(err, errlen, "bpe_encode: bad arguments");
        return -1;
    }
    if (len > 0 && !text_utf8_valid(text, len)) {
        errbuf_printf(err, errlen, "the text is not valid UTF-8");
        return -1;
    }
    encoder e = {tok, ids, (size_t)max_ids, 0, NULL, 0, {NULL, 0}};
    int rc = len > 0 ? encode_all(&e, text, len, parse_special, err, errlen) : 0;
    free(e.symbols);
    bpe_merge_scratch_free(&e.scratch);
    if (rc != 0)
        return -1;
    if (e.count > INT_MAX) {
        errbuf_printf(err, errlen, "the text makes more than %d tokens", INT_MAX);
        return -1;
    }
    *n_ids = (int)e.count;
    return 0;
}

int bpe_n_tokens(const bpe_tokenizer *tok) { return tok ? tok->n_tokens : 0; }

int64_t bpe_token_id(const bpe_tokenizer *tok, const char *token)
{
    int64_t id;
    if (!tok || !token || !bpe_map_get(&tok->vocab, token, strlen(token), &id))
        return -1;
    return id;
}

int bpe_is_special(const bpe_tokenizer *tok, int64_t id)
{
    return tok && id >= 0 && id < tok->n_tokens && (tok->flags[id] & BPE_SPECIAL) != 0;
}
