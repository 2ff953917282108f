/* bpe_decode.c - bpe_decode: ids to bytes, then UTF-8 with invalid bytes
 * replaced as Python's bytes.decode(errors="replace") does. As the
 * reference, the text between two added tokens is decoded on its own: a
 * character split by an added token gives two U+FFFD (unless the token is
 * skipped, which joins the halves again). */
#include <string.h>

#include "bpe_internal.h"
#include "errbuf.h"

static const char REPLACEMENT[] = "\xef\xbf\xbd";   /* U+FFFD */

/* How many bytes at s (n readable) begin a well-formed UTF-8 sequence:
 * its full length when complete, less when it is cut short, 0 when s[0]
 * starts none. The second byte's range depends on the first (no overlong
 * forms, surrogates or values past U+10FFFF), as in Unicode's table 3-7. */
static size_t valid_prefix(const unsigned char *s, size_t n, size_t *full)
{
    unsigned char c = s[0], lo = 0x80, hi = 0xbf;
    if (c < 0x80) {
        *full = 1;
        return 1;
    }
    if (c >= 0xc2 && c <= 0xdf)
        *full = 2;
    else if (c >= 0xe0 && c <= 0xef) {
        *full = 3;
        if (c == 0xe0)
            lo = 0xa0;
        else if (c == 0xed)
            hi = 0x9f;
    } else if (c >= 0xf0 && c <= 0xf4) {
        *full = 4;
        if (c == 0xf0)
            lo = 0x90;
        else if (c == 0xf4)
            hi = 0x8f;
    } else {
        *full = 0;
        return 0;
    }
    size_t k = 1;
    if (k < n && s[k] >= lo && s[k] <= hi) {
        for (k = 2; k < *full && k < n && s[k] >= 0x80 && s[k] <= 0xbf; k++)
            ;
    }
    return k;
}

/* Appends bytes as UTF-8, each maximal invalid subsequence one U+FFFD. */
static void append_replacing(buf *out, const unsigned char *s, size_t n)
{
    if (n == 0)
        return;
    size_t start = 0, i = 0;   /* s[start..i) is valid and not yet copied */
    while (i < n) {
        size_t full, k = valid_prefix(s + i, n - i, &full);
        if (k > 0 && k == full) {
            i += k;
            continue;
        }
        buf_append(out, s + start, i - start);
        buf_puts(out, REPLACEMENT);
        i += k > 0 ? k : 1;
        start = i;
    }
    buf_append(out, s + start, n - start);
}

int bpe_decode(const bpe_tokenizer *tok, const int64_t *ids, int n_ids, int skip_special, buf *out,
               char *err, size_t errlen)
{
    if (!tok || !out || n_ids < 0 || (!ids && n_ids > 0)) {
        errbuf_printf(err, errlen, "bpe_decode: bad arguments");
        return -1;
    }
    for (int i = 0; i < n_ids; i++)
        if (ids[i] < 0 || ids[i] >= tok->n_tokens) {
            errbuf_printf(err, errlen, "id %lld at %d: no token has it (%d tokens)", (long long)ids[i], i,
                          tok->n_tokens);
            return -1;
        }
    buf pending = BUF_INIT;   /* bytes since the last added token */
    int failed = 0;
    for (int i = 0; i < n_ids; i++) {
        int64_t id = ids[i];
        const char *bytes = tok->bytes.data + tok->bytes_off[id];
        size_t len = tok->bytes_off[id + 1] - tok->bytes_off[id];
        if (!(tok->flags[id] & BPE_ADDED)) {
            buf_append(&pending, bytes, len);
            continue;
        }
        if (skip_special && (tok->flags[id] & BPE_SPECIAL))
            continue;
        append_replacing(out, (const unsigned char *)pending.data, pending.len);
        failed |= buf_failed(&pending);
        buf_reset(&pending);
        buf_append(out, bytes, len);
    }
    append_replacing(out, (const unsigned char *)pending.data, pending.len);
    failed |= buf_failed(&pending) || buf_failed(out);
    buf_free(&pending);
    if (failed) {
        errbuf_printf(err, errlen, "out of memory");
        return -1;
    }
    return 0;
}
