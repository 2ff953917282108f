/* text.c - see text.h. */
#include "text.h"

#include <string.h>

uint64_t text_hash(const void *data, size_t len)
{
    const unsigned char *p = data;
    uint64_t h = 0xcbf29ce484222325ULL;
    for (size_t i = 0; i < len; i++) {
        h ^= p[i];
        h *= 0x100000001b3ULL;
    }
    return h;
}

/* Decodes one well-formed UTF-8 sequence; returns its length, 0 if invalid. */
static size_t utf8_decode(const unsigned char *s, size_t n, uint32_t *cp)
{
    if (n == 0) return 0;
    unsigned char b = s[0];
    size_t len;
    uint32_t c, min;
    if (b < 0x80) { *cp = b; return 1; }
    if ((b & 0xE0) == 0xC0) { len = 2; c = b & 0x1F; min = 0x80; }
    else if ((b & 0xF0) == 0xE0) { len = 3; c = b & 0x0F; min = 0x800; }
    else if ((b & 0xF8) == 0xF0) { len = 4; c = b & 0x07; min = 0x10000; }
    else return 0;
    if (n < len) return 0;
    for (size_t i = 1; i < len; i++) {
        if ((s[i] & 0xC0) != 0x80) return 0;
        c = (c << 6) | (s[i] & 0x3F);
    }
    if (c < min || c > 0x10FFFF || (c >= 0xD800 && c <= 0xDFFF)) return 0;
    *cp = c;
    return len;
}

size_t text_utf8_seq_len(const unsigned char *s, size_t n)
{
    uint32_t cp;
    return utf8_decode(s, n, &cp);
}

int text_utf8_valid(const char *s, size_t n)
{
    const unsigned char *p = (const unsigned char *)s;
    size_t i = 0;
    while (i < n) {
        size_t len = text_utf8_seq_len(p + i, n - i);
        if (len == 0) return 0;
        i += len;
    }
    return 1;
}

size_t text_copy(char *dst, size_t cap, const char *src, size_t n)
{
    size_t len = n < cap - 1 ? n : cap - 1;
    /* Back up over continuation bytes to the start of a character that fits. */
    if (len < n) {
        while (len > 0 && ((unsigned char)src[len] & 0xC0) == 0x80) len--;
    }
    memcpy(dst, src, len);
    dst[len] = '\0';
    return len;
}

static int is_ascii_space(unsigned char c)
{
    return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\f' || c == '\v';
}

void text_trim(const char *s, size_t n, size_t *start, size_t *end)
{
    size_t a = 0, b = n;
    while (a < b && is_ascii_space((unsigned char)s[a])) a++;
    while (b > a && is_ascii_space((unsigned char)s[b - 1])) b--;
    *start = a;
    *end = b;
}

/* ---- Words -------------------------------------------------------------- */

typedef enum {
    CH_WORD,       /* part of a word */
    CH_SPACE,      /* separates words */
    CH_BREAK,      /* separates clauses */
    CH_APOSTROPHE, /* part of a word between two word characters, else a space */
    CH_HYPHEN      /* part of a word between two word characters, else a break */
} char_class;

static char_class classify_codepoint(uint32_t cp)
{
    switch (cp) {
    case 0x3002: case 0x3001: case 0xFF01: case 0xFF1F: case 0xFF0C: /* 。、！？， */
    case 0xFF1B: case 0xFF1A: case 0x2014: case 0x2013: case 0x2026: /* ；：—–… */
    case 0x00A1: case 0x00BF:                                         /* ¡ ¿ */
        return CH_BREAK;
    case 0x201C: case 0x201D: case 0x2018: case 0x00AB: case 0x00BB:  /* “”‘«» */
    case 0x00A0: case 0x3000: case 0x300C: case 0x300D:               /* nbsp, ideographic space, 「」 */
        return CH_SPACE;
    case 0x2019:                                                      /* ’ */
        return CH_APOSTROPHE;
    default:
        return CH_WORD;
    }
}

/* Classifies the character at text[i] and sets *len to its length in bytes. */
static char_class classify(const char *text, size_t n, size_t i, size_t *len)
{
    unsigned char c = (unsigned char)text[i];
    *len = 1;
    if (c < 0x80) {
        if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9')) return CH_WORD;
        if (c == '\'') return CH_APOSTROPHE;
        if (c == '-') return CH_HYPHEN;
        if (c != '\0' && strchr(".,;:!?()[]{}\n\r", c)) return CH_BREAK;
        return CH_SPACE;
    }
    uint32_t cp;
    size_t seq = utf8_decode((const unsigned char *)text + i, n - i, &cp);
    if (seq == 0) return CH_SPACE; /* a stray byte: never part of a word */
    *len = seq;
    return classify_codepoint(cp);
}

int text_next_word(const char *text, size_t n, size_t *pos, text_word *word)
{
    size_t i = *pos, len;
    int brk = 0;
    while (i < n) {
        char_class k = classify(text, n, i, &len);
        if (k == CH_WORD) break;
        if (k == CH_BREAK || k == CH_HYPHEN) brk = 1;
        i += len;
    }
    if (i >= n) {
        *pos = n;
        return 0;
    }
    size_t start = i;
    while (i < n) {
        char_class k = classify(text, n, i, &len);
        if (k == CH_WORD) {
            i += len;
            continue;
        }
        if (k == CH_APOSTROPHE || k == CH_HYPHEN) {
            size_t next_len;
            if (i + len < n && classify(text, n, i + len, &next_len) == CH_WORD) {
                i += len;
                continue;
            }
        }
        break;
    }
    word->text = text + start;
    word->len = i - start;
    word->after_break = brk;
    *pos = i;
    return 1;
}

static unsigned char ascii_lower(unsigned char c)
{
    return (c >= 'A' && c <= 'Z') ? (unsigned char)(c + 32) : c;
}

/* Whether s[0..n) equals `lower` ignoring ASCII case. */
static int equals_lower(const char *s, size_t n, const char *lower, size_t lower_len)
{
    if (n != lower_len) return 0;
    for (size_t i = 0; i < n; i++)
        if (ascii_lower((unsigned char)s[i]) != (unsigned char)lower[i]) return 0;
    return 1;
}

int text_word_is(const text_word *word, const char *lower)
{
    return equals_lower(word->text, word->len, lower, strlen(lower));
}

/* Whether s[0..n) starts with `lower` ignoring ASCII case. */
static int starts_with_lower(const char *s, size_t n, const char *lower, size_t lower_len)
{
    return n >= lower_len && equals_lower(s, lower_len, lower, lower_len);
}

static int is_one_of(const char *s, size_t n, const char *const *list)
{
    for (size_t i = 0; list[i]; i++)
        if (equals_lower(s, n, list[i], strlen(list[i]))) return 1;
    return 0;
}

int text_word_has_stem(const text_word *word, const char *stem)
{
    static const char *const endings[] = {
        "", "s", "es", "ed", "ing", "y", "ly", "er", "ers", "'s", "\xe2\x80\x99s", NULL
    };
    static const char *const after_e[] = { "d", NULL };                           /* danced */
    static const char *const after_dropped_e[] = { "ing", "y", "er", "ers", NULL };  /* dancing */
    static const char *const after_doubling[] = { "ing", "ed", "y", "er", "ers", NULL }; /* sunny */
    static const char *const after_y_to_i[] = { "ies", "ied", NULL };               /* memories */
    const char *w = word->text;
    size_t n = word->len, k = strlen(stem);
    if (k == 0) return 0;
    char last = stem[k - 1];
    if (starts_with_lower(w, n, stem, k)) {
        const char *rest = w + k;
        size_t rest_len = n - k;
        if (is_one_of(rest, rest_len, endings)) return 1;
        if (last == 'e' && is_one_of(rest, rest_len, after_e)) return 1;
        if (rest_len > 0 && ascii_lower((unsigned char)rest[0]) == (unsigned char)last &&
            is_one_of(rest + 1, rest_len - 1, after_doubling))
            return 1;
    }
    if (k >= 2 && (last == 'e' || last == 'y') && starts_with_lower(w, n, stem, k - 1)) {
        const char *const *list = last == 'e' ? after_dropped_e : after_y_to_i;
        if (is_one_of(w + k - 1, n - k + 1, list)) return 1;
    }
    return 0;
}

int text_word_is_stopword(const text_word *word)
{
    static const char *const stopwords[] = {
        "a", "an", "the", "and", "or", "but", "nor", "of", "in", "on", "at", "to", "for", "from",
        "by", "with", "into", "onto", "over", "under", "about", "as", "is", "are", "was", "were",
        "be", "been", "being", "am", "has", "have", "had", "do", "does", "did", "it", "its",
        "it's", "he", "she", "they", "we", "you", "i", "me", "him", "her", "them", "us", "my",
        "his", "their", "our", "your", "this", "that", "these", "those", "there", "here", "who",
        "whom", "which", "what", "when", "where", "while", "during", "after", "before", "until",
        "then", "than", "so", "if", "not", "no", "just", "very", "all", "some", "any", "each",
        "every", "out", "up", "down", "off", "through", "across", "upon", "will", "would",
        "can", "could", "shall", "should", "may", "might", "must", "one", "because", "once",
        NULL
    };
    return is_one_of(word->text, word->len, stopwords);
}
