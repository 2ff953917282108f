/* bpe_load.c - bpe_load and bpe_free: checks that the tokens and merges read
 * by bpe_files.c fit together and builds the tables encoding and decoding
 * use. */
#include <stdlib.h>
#include <string.h>

#include "bpe_bytes.h"
#include "bpe_files.h"
#include "bpe_internal.h"
#include "bpe_merge.h"
#include "errbuf.h"

/* More ids than any real vocabulary (Qwen2: 151,665), so that a hostile id
 * cannot make us allocate gigabytes. */
#define BPE_MAX_TOKENS (1 << 22)

static const char *file_of(const bpe_spec *spec, const bpe_spec_token *t)
{
    return t->added ? spec->added_file : spec->vocab_file;
}

/* by_id[id] = the spec token with that id; one token per id, no gaps. */
static int index_ids(const bpe_spec *spec, int *by_id, int n, char *err, size_t errlen)
{
    for (int id = 0; id < n; id++)
        by_id[id] = -1;
    for (size_t i = 0; i < spec->n_tokens; i++) {
        const bpe_spec_token *t = &spec->tokens[i];
        int *slot = &by_id[t->id];
        if (*slot >= 0) {
            const bpe_spec_token *o = &spec->tokens[*slot];
            /* An added token may repeat a vocabulary entry: the same text
             * under the same id. It stays an added token. */
            if (o->text.len == t->text.len && memcmp(o->text.s, t->text.s, t->text.len) == 0 &&
                o->added != t->added) {
                if (t->added)
                    *slot = (int)i;
                continue;
            }
            errbuf_printf(err, errlen, "%s: id %lld is given to two tokens, \"%.40s\" and \"%.40s\"",
                          file_of(spec, t), (long long)t->id, o->text.s, t->text.s);
            return -1;
        }
        *slot = (int)i;
    }
    for (int id = 0; id < n; id++)
        if (by_id[id] < 0) {
            errbuf_printf(err, errlen, "%s: no token has id %d (ids must run from 0 to %d without a gap)",
                          spec->vocab_file, id, n - 1);
            return -1;
        }
    return 0;
}

static int add_texts(bpe_tokenizer *t, const bpe_spec *spec, const int *by_id, char *err, size_t errlen)
{
    int n = t->n_tokens;
    t->text_off = malloc((size_t)(n + 1) * sizeof *t->text_off);
    t->bytes_off = malloc((size_t)(n + 1) * sizeof *t->bytes_off);
    t->flags = calloc((size_t)n, 1);
    if (!t->text_off || !t->bytes_off || !t->flags || bpe_map_init(&t->vocab, (size_t)n) != 0)
        goto oom;
    unsigned char *raw = NULL;
    size_t raw_cap = 0;
    for (int id = 0; id < n; id++) {
        const bpe_spec_token *tok = &spec->tokens[by_id[id]];
        t->text_off[id] = t->texts.len;
        t->bytes_off[id] = t->bytes.len;
        buf_append(&t->texts, tok->text.s, tok->text.len);
        buf_putc(&t->texts, '\0');
        if (tok->added) {
            t->flags[id] = BPE_ADDED | (tok->special ? BPE_SPECIAL : 0);
            buf_append(&t->bytes, tok->text.s, tok->text.len);
        } else {
            if (raw_cap < tok->text.len) {
                unsigned char *p = realloc(raw, tok->text.len);
                if (!p) {
                    free(raw);
                    goto oom;
                }
                raw = p;
                raw_cap = tok->text.len;
            }
            long k = bpe_bytes_from_token(tok->text.s, tok->text.len, raw);
            if (k < 0 || (k == 0 && tok->text.len > 0) || tok->text.len == 0) {
                free(raw);
                errbuf_printf(err, errlen, "%s: token \"%.40s\" (id %d) is not byte-level: a character "
                              "outside GPT-2's byte alphabet, or empty", spec->vocab_file, tok->text.s, id);
                return -1;
            }
            buf_append(&t->bytes, raw, (size_t)k);
        }
        int put = bpe_map_put(&t->vocab, tok->text.s, tok->text.len, id, NULL);
        if (put < 0) {
            free(raw);
            goto oom;
        }
        if (put > 0) {
            free(raw);
            errbuf_printf(err, errlen, "%s: token \"%.40s\" has two ids", file_of(spec, tok), tok->text.s);
            return -1;
        }
    }
    free(raw);
    t->text_off[n] = t->texts.len;
    t->bytes_off[n] = t->bytes.len;
    if (buf_failed(&t->texts) || buf_failed(&t->bytes))
        goto oom;
    return 0;
oom:
    errbuf_printf(err, errlen, "out of memory");
    return -1;
}

/* The id of a regular (byte-level) token's text, or -1. */
static int32_t regular_id(const bpe_tokenizer *t, const char *s, size_t len)
{
    int64_t id;
    if (!bpe_map_get(&t->vocab, s, len, &id) || (t->flags[id] & BPE_ADDED))
        return -1;
    return (int32_t)id;
}

static int add_bytes(bpe_tokenizer *t, const bpe_spec *spec, char *err, size_t errlen)
{
    for (int b = 0; b < 256; b++) {
        char c[2];
        size_t len = bpe_byte_char_utf8((unsigned char)b, c);
        if ((t->byte_id[b] = regular_id(t, c, len)) < 0) {
            errbuf_printf(err, errlen, "%s: no token for byte 0x%02x (\"%.*s\"): not a byte-level vocabulary",
                          spec->vocab_file, b, (int)len, c);
            return -1;
        }
    }
    return 0;
}

static int add_merges(bpe_tokenizer *t, const bpe_spec *spec, char *err, size_t errlen)
{
    if (spec->n_merges > INT32_MAX) {
        errbuf_printf(err, errlen, "%s: too many merges", spec->merges_file);
        return -1;
    }
    if (bpe_map_init(&t->merges, spec->n_merges) != 0)
        goto oom;
    buf joined = BUF_INIT;
    for (size_t r = 0; r < spec->n_merges; r++) {
        const bpe_str *m = spec->merges[r];
        int32_t left = regular_id(t, m[0].s, m[0].len), right = regular_id(t, m[1].s, m[1].len);
        buf_reset(&joined);
        buf_append(&joined, m[0].s, m[0].len);
        buf_append(&joined, m[1].s, m[1].len);
        if (buf_failed(&joined)) {
            buf_free(&joined);
            goto oom;
        }
        int32_t result = regular_id(t, joined.data, joined.len);
        if (left < 0 || right < 0 || result < 0) {
            const char *what = left < 0 ? "its left part" : right < 0 ? "its right part" : "its result";
            errbuf_printf(err, errlen, "%s: merge %zu (\"%.*s %.*s\"): %s is not in the vocabulary",
                          spec->merges_file, r + 1, (int)(m[0].len > 40 ? 40 : m[0].len), m[0].s,
                          (int)(m[1].len > 40 ? 40 : m[1].len), m[1].s, what);
            buf_free(&joined);
            return -1;
        }
        unsigned char key[8];
        bpe_merge_key(left, right, key);
        /* A pair listed twice keeps its last rank, as both references do
         * (a dict / hash map filled in file order). */
        if (bpe_map_put(&t->merges, key, sizeof key, ((int64_t)r << 32) | (uint32_t)result, NULL) < 0) {
            buf_free(&joined);
            goto oom;
        }
    }
    buf_free(&joined);
    return 0;
oom:
    errbuf_printf(err, errlen, "out of memory");
    return -1;
}

static int add_specials(bpe_tokenizer *t)
{
    for (int id = 0; id < t->n_tokens; id++)
        t->n_added += (t->flags[id] & BPE_ADDED) != 0;
    t->added = calloc((size_t)t->n_added + 1, sizeof *t->added);
    if (!t->added)
        return -1;
    int k = 0;
    for (int id = 0; id < t->n_tokens; id++)
        if (t->flags[id] & BPE_ADDED)
            t->added[k++] = (bpe_added){t->texts.data + t->text_off[id],
                                        t->text_off[id + 1] - t->text_off[id] - 1, id};
    return 0;
}

static int build(bpe_tokenizer *t, const bpe_spec *spec, char *err, size_t errlen)
{
    int64_t max_id = -1;
    for (size_t i = 0; i < spec->n_tokens; i++) {
        const bpe_spec_token *tok = &spec->tokens[i];
        if (tok->id < 0 || tok->id >= BPE_MAX_TOKENS) {
            errbuf_printf(err, errlen, "%s: token \"%.40s\" has id %lld, outside 0..%d", file_of(spec, tok),
                          tok->text.s, (long long)tok->id, BPE_MAX_TOKENS - 1);
            return -1;
        }
        if (tok->id > max_id)
            max_id = tok->id;
    }
    if (max_id < 0) {
        errbuf_printf(err, errlen, "%s: no tokens", spec->vocab_file);
        return -1;
    }
    t->n_tokens = (int)max_id + 1;
    int *by_id = malloc((size_t)t->n_tokens * sizeof *by_id);
    if (!by_id) {
        errbuf_printf(err, errlen, "out of memory");
        return -1;
    }
    int rc = index_ids(spec, by_id, t->n_tokens, err, errlen);
    if (rc == 0)
        rc = add_texts(t, spec, by_id, err, errlen);
    free(by_id);
    if (rc == 0)
        rc = add_bytes(t, spec, err, errlen);
    if (rc == 0)
        rc = add_merges(t, spec, err, errlen);
    if (rc == 0 && add_specials(t) != 0) {
        errbuf_printf(err, errlen, "out of memory");
        rc = -1;
    }
    if (rc == 0 && bpe_pretok_compile(spec->pattern ? spec->pattern : BPE_QWEN2_PATTERN, &t->pretok, err,
                                      errlen) != 0) {
        char msg[512];
        snprintf(msg, sizeof msg, "%s", err);
        errbuf_printf(err, errlen, "%s: pre_tokenizer: %s", spec->vocab_file, msg);
        rc = -1;
    }
    t->nfc = spec->nfc;
    return rc;
}

int bpe_load(const char *dir, bpe_tokenizer **out, char *err, size_t errlen)
{
    *out = NULL;
    bpe_spec spec;
    if (!dir || !*dir) {
        errbuf_printf(err, errlen, "no tokenizer directory given");
        return -1;
    }
    if (bpe_spec_read(dir, &spec, err, errlen) != 0)
        return -1;
    bpe_tokenizer *t = calloc(1, sizeof *t);
    if (!t) {
        bpe_spec_free(&spec);
        errbuf_printf(err, errlen, "out of memory");
        return -1;
    }
    int rc = build(t, &spec, err, errlen);
    bpe_spec_free(&spec);
    if (rc != 0) {
        bpe_free(t);
        return -1;
    }
    *out = t;
    return 0;
}

void bpe_free(bpe_tokenizer *t)
{
    if (!t)
        return;
    buf_free(&t->texts);
    buf_free(&t->bytes);
    free(t->text_off);
    free(t->bytes_off);
    free(t->flags);
    bpe_map_free(&t->vocab);
    bpe_map_free(&t->merges);
    free(t->added);
    bpe_pretok_free(t->pretok);
    free(t);
}
