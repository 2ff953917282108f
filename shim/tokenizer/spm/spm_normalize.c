/* spm_normalize.c - see spm_normalize.h. Follows sentencepiece 0.1.97's
 * Normalizer::Normalize / NormalizePrefix and darts-clone's
 * commonPrefixSearch, with every array access bounds-checked: the charsmap
 * comes from the model file. */
#include "spm_normalize.h"

#include "buf.h"
#include "errbuf.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Normalizer::kMaxTrieResultsSize: only the first (shortest) 32 matching rules
 * are looked at. */
#define MAX_RULE_MATCHES 32

static const char SPACE_SYMBOL[] = "\xe2\x96\x81"; /* U+2581 */
static const char REPLACEMENT_CHAR[] = "\xef\xbf\xbd"; /* U+FFFD */


int spm_normalizer_set_charsmap(spm_normalizer *n, const uint8_t *blob, size_t len,
                                char *err, size_t errlen)
{
    n->units = NULL;
    n->n_units = 0;
    n->replacements = NULL;
    n->replacements_len = 0;
    if (len == 0)
        return 0;
    if (len <= 4) {
        errbuf_printf(err, errlen, "precompiled charsmap is broken (%zu bytes)", len);
        return -1;
    }
    uint32_t trie_size = (uint32_t)blob[0] | (uint32_t)blob[1] << 8 |
                         (uint32_t)blob[2] << 16 | (uint32_t)blob[3] << 24;
    /* The trie follows the 4-byte size: it must fit in the other len - 4. */
    if (trie_size > len - 4) {
        errbuf_printf(err, errlen, "precompiled charsmap is broken (trie of %u bytes in a %zu-byte blob)",
                trie_size, len);
        return -1;
    }
    /* As sentencepiece, a trie size that is not a multiple of 4 is rounded
     * down; the string table starts right after the stated size regardless. */
    size_t n_units = trie_size / 4;
    size_t strings_len = len - 4 - trie_size;
    n->units = malloc(n_units ? n_units * sizeof *n->units : 1);
    n->replacements = malloc(strings_len ? strings_len : 1);
    if (!n->units || !n->replacements) {
        spm_normalizer_free(n);
        errbuf_printf(err, errlen, "out of memory");
        return -1;
    }
    const uint8_t *u = blob + 4;
    for (size_t i = 0; i < n_units; i++, u += 4)
        n->units[i] = (uint32_t)u[0] | (uint32_t)u[1] << 8 | (uint32_t)u[2] << 16 |
                      (uint32_t)u[3] << 24;
    n->n_units = n_units;
    memcpy(n->replacements, blob + 4 + trie_size, strings_len);
    n->replacements_len = strings_len;
    return 0;
}

void spm_normalizer_free(spm_normalizer *n)
{
    free(n->units);
    free(n->replacements);
    n->units = NULL;
    n->replacements = NULL;
    n->n_units = n->replacements_len = 0;
}

/* darts-clone unit fields. */
static int unit_has_leaf(uint32_t unit) { return (unit >> 8) & 1; }
static uint32_t unit_value(uint32_t unit) { return unit & 0x7fffffffu; }
static uint32_t unit_label(uint32_t unit) { return unit & 0x800000ffu; }
static uint32_t unit_offset(uint32_t unit) { return (unit >> 10) << ((unit & (1u << 9)) >> 6); }

typedef struct rule_match {
    uint32_t value;   /* offset of the replacement in n->replacements */
    size_t length;    /* input bytes matched */
} rule_match;

/* darts-clone's commonPrefixSearch: every rule whose key is a prefix of
 * text, shortest first, at most `max` of them. A jump outside the array (only
 * in a corrupt charsmap) ends the search. */
static size_t match_rules(const spm_normalizer *n, const char *text, size_t len,
                          rule_match *matches, size_t max)
{
    size_t count = 0;
    if (n->n_units == 0)
        return 0;
    size_t pos = unit_offset(n->units[0]);
    for (size_t i = 0; i < len && count < max; i++) {
        uint8_t byte = (uint8_t)text[i];
        pos ^= byte;
        if (pos >= n->n_units)
            break;
        uint32_t unit = n->units[pos];
        if (unit_label(unit) != byte)
            break;
        pos ^= unit_offset(unit);
        if (unit_has_leaf(unit)) {
            if (pos >= n->n_units)
                break;
            matches[count++] = (rule_match){ unit_value(n->units[pos]), i + 1 };
        }
    }
    return count;
}

/* sentencepiece's DecodeUTF8 validity test: the length of the well-formed
 * character at text[0..len), or 0 if it is malformed. An encoded U+FFFD
 * counts as well-formed. */
static size_t valid_utf8_len(const unsigned char *s, size_t len)
{
    uint32_t cp;
    if (s[0] < 0x80)
        return 1;
    if (len >= 2 && (s[0] & 0xe0) == 0xc0) {
        cp = (uint32_t)(s[0] & 0x1f) << 6 | (s[1] & 0x3f);
        return (s[1] & 0xc0) == 0x80 && cp >= 0x80 ? 2 : 0;
    }
    if (len >= 3 && (s[0] & 0xf0) == 0xe0) {
        cp = (uint32_t)(s[0] & 0x0f) << 12 | (uint32_t)(s[1] & 0x3f) << 6 | (s[2] & 0x3f);
        return (s[1] & 0xc0) == 0x80 && (s[2] & 0xc0) == 0x80 && cp >= 0x800 &&
                       (cp < 0xd800 || cp >= 0xe000) ? 3 : 0;
    }
    if (len >= 4 && (s[0] & 0xf8) == 0xf0) {
        cp = (uint32_t)(s[0] & 0x07) << 18 | (uint32_t)(s[1] & 0x3f) << 12 |
             (uint32_t)(s[2] & 0x3f) << 6 | (s[3] & 0x3f);
        return (s[1] & 0xc0) == 0x80 && (s[2] & 0xc0) == 0x80 && (s[3] & 0xc0) == 0x80 &&
                       cp >= 0x10000 && cp <= 0x10ffff ? 4 : 0;
    }
    return 0;
}

/* One step of normalisation (NormalizePrefix): how many input bytes the next
 * unit takes, and what it becomes (*piece, *piece_len). -1 when a charsmap
 * rule points outside the string table. */
static int normalize_prefix(const spm_normalizer *n, const spm_trie *user_symbols,
                            const char *text, size_t len, const char **piece,
                            size_t *piece_len, size_t *consumed, char *err, size_t errlen)
{
    size_t symbol_len = spm_trie_longest_prefix(user_symbols, text, len);
    if (symbol_len > 0) {
        *piece = text;
        *piece_len = *consumed = symbol_len;
        return 0;
    }

    rule_match matches[MAX_RULE_MATCHES];
    size_t n_matches = match_rules(n, text, len, matches, MAX_RULE_MATCHES);
    size_t longest = 0;
    uint32_t value = 0;
    for (size_t k = 0; k < n_matches; k++) {
        if (longest == 0 || matches[k].length > longest) {
            longest = matches[k].length;
            value = matches[k].value;
        }
    }

    if (longest == 0) {
        size_t char_len = valid_utf8_len((const unsigned char *)text, len);
        if (char_len == 0) {
            *piece = REPLACEMENT_CHAR;
            *piece_len = 3;
            *consumed = 1;
        } else {
            *piece = text;
            *piece_len = *consumed = char_len;
        }
        return 0;
    }

    const char *end = value < n->replacements_len
                          ? memchr(n->replacements + value, '\0', n->replacements_len - value)
                          : NULL;
    if (!end) {
        errbuf_printf(err, errlen, "precompiled charsmap rule points outside its string table "
                "(offset %u of %zu bytes)", value, n->replacements_len);
        return -1;
    }
    *piece = n->replacements + value;
    *piece_len = (size_t)(end - *piece);
    *consumed = longest;
    return 0;
}

static int append_space(const spm_normalizer *n, buf *b)
{
    return n->escape_whitespaces ? buf_append(b, SPACE_SYMBOL, 3) : buf_putc(b, ' ');
}

static int ends_with(const buf *b, const char *s, size_t len)
{
    return b->len >= len && memcmp(b->data + b->len - len, s, len) == 0;
}

int spm_normalize(const spm_normalizer *n, const spm_trie *user_symbols, const char *text,
                  size_t len, char **out, size_t *out_len, char *err, size_t errlen)
{
    buf b = BUF_INIT;
    const char *piece;
    size_t piece_len, consumed;
    *out = NULL;
    *out_len = 0;

    if (n->remove_extra_whitespaces) {
        while (len > 0) {
            if (normalize_prefix(n, user_symbols, text, len, &piece, &piece_len, &consumed,
                                 err, errlen) != 0)
                return -1;
            if (piece_len != 1 || piece[0] != ' ')
                break;
            text += consumed;
            len -= consumed;
        }
    }
    if (len == 0)
        return 0;

    if (!n->treat_whitespace_as_suffix && n->add_dummy_prefix && append_space(n, &b) != 0)
        goto out_of_memory;

    int prev_is_space = n->remove_extra_whitespaces;
    while (len > 0) {
        if (normalize_prefix(n, user_symbols, text, len, &piece, &piece_len, &consumed, err,
                             errlen) != 0) {
            buf_free(&b);
            return -1;
        }
        /* Spaces right after a space are dropped. */
        while (prev_is_space && piece_len > 0 && piece[0] == ' ') {
            piece++;
            piece_len--;
        }
        if (piece_len > 0) {
            for (size_t i = 0; i < piece_len; i++) {
                int rc = n->escape_whitespaces && piece[i] == ' '
                             ? buf_append(&b, SPACE_SYMBOL, 3)
                             : buf_putc(&b, piece[i]);
                if (rc != 0)
                    goto out_of_memory;
            }
            prev_is_space = piece[piece_len - 1] == ' ';
        }
        text += consumed;
        len -= consumed;
        if (!n->remove_extra_whitespaces)
            prev_is_space = 0;
    }

    if (n->remove_extra_whitespaces) {
        const char *space = n->escape_whitespaces ? SPACE_SYMBOL : " ";
        size_t space_len = strlen(space);
        while (ends_with(&b, space, space_len))
            buf_truncate(&b, b.len - space_len);
    }

    if (n->treat_whitespace_as_suffix && n->add_dummy_prefix && append_space(n, &b) != 0)
        goto out_of_memory;

    if (b.len == 0) {
        buf_free(&b);
        return 0;
    }
    *out = buf_detach(&b, out_len);
    return 0;

out_of_memory:
    buf_free(&b);
    errbuf_printf(err, errlen, "out of memory while normalising text");
    return -1;
}
