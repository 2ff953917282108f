/* text.h - small UTF-8 text helpers shared by the job parser, the planner and
 * the rule-based lyrics: validating and copying UTF-8 without ever cutting a
 * character in two, reading a narrative as words and clause breaks, ASCII-only
 * case folding, and a stable hash. */
#ifndef JEN1_COMMON_TEXT_H
#define JEN1_COMMON_TEXT_H

#include <stddef.h>
#include <stdint.h>

/* FNV-1a, 64 bits: stable across runs, hosts and versions. */
uint64_t text_hash(const void *data, size_t len);

/* Length of the well-formed UTF-8 sequence at s (1 to 4), or 0 when the bytes
 * there are not one (overlong forms, surrogates and values past U+10FFFF are
 * refused). n is how many bytes are readable at s. */
size_t text_utf8_seq_len(const unsigned char *s, size_t n);

/* Nonzero when all n bytes are well-formed UTF-8. */
int text_utf8_valid(const char *s, size_t n);

/* Copies at most cap - 1 bytes of src[0..n) into dst and NUL-terminates it,
 * backing up so that no UTF-8 character is cut. Returns the bytes copied.
 * cap must be >= 1. */
size_t text_copy(char *dst, size_t cap, const char *src, size_t n);

/* The start and end of s[0..n) without ASCII white space around it. */
void text_trim(const char *s, size_t n, size_t *start, size_t *end);

/* A word of a narrative: a run of ASCII letters and digits, inner apostrophes
 * and hyphens, and non-ASCII characters other than the punctuation below. */
typedef struct text_word {
    const char *text;   /* points into the narrative, not NUL-terminated */
    size_t len;
    int after_break;    /* a clause break (. , ; : ! ? ( ) a dash, a line
                           break, CJK punctuation) lies between this word
                           and the previous one */
} text_word;

/* Reads the next word of text[0..len) starting at *pos and advances *pos past
 * it. Returns 1, or 0 when no word is left. */
int text_next_word(const char *text, size_t len, size_t *pos, text_word *word);

/* Whether a word equals `lower` (lowercase ASCII), ignoring ASCII case. */
int text_word_is(const text_word *word, const char *lower);

/* Whether a word is `stem` or stem plus a common English ending (s, es, ed,
 * ing, y, ly, er, ers, 's; d after a final e, which may also be dropped
 * before ing/y/er; a final consonant may double; a final y may become ies/ied),
 * ignoring ASCII case: "storm" matches storms, stormy; "dance" matches
 * danced, dancing; "sun" matches sunny; "memory" matches memories. */
int text_word_has_stem(const text_word *word, const char *stem);

/* Articles, pronouns, prepositions, auxiliaries: words that carry no image. */
int text_word_is_stopword(const text_word *word);

#endif
