/* spm_normalize.h - sentencepiece's text normaliser (normalizer.cc in
 * sentencepiece 0.1.97), internal to shim/tokenizer/spm/spm.c.
 *
 * The precompiled charsmap is <u32 LE trie size><darts-clone double array>
 * <NUL-terminated replacement strings>: the trie maps input prefixes (e.g.
 * "ｆ" or "ﬁ", NFKC plus sentencepiece's own rules) to offsets of their
 * replacements. The longest matching rule wins; text no rule matches is copied
 * one UTF-8 character at a time, a malformed byte becoming U+FFFD. Then come
 * the whitespace rules: drop leading, trailing and repeated spaces, prepend
 * a dummy space, write spaces as U+2581. */
#ifndef JEN1_SPM_NORMALIZE_H
#define JEN1_SPM_NORMALIZE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "spm_trie.h"

typedef struct spm_normalizer {
    bool add_dummy_prefix;
    bool remove_extra_whitespaces;
    bool escape_whitespaces;
    bool treat_whitespace_as_suffix;  /* from the trainer spec */
    uint32_t *units;                  /* the double array; NULL: no charsmap */
    size_t n_units;
    char *replacements;
    size_t replacements_len;
} spm_normalizer;

/* Copies and checks a precompiled charsmap blob (an empty one means "no
 * charsmap"). On error fills err with a message that the caller prefixes
 * with the model's name. 0 or -1. */
int spm_normalizer_set_charsmap(spm_normalizer *n, const uint8_t *blob, size_t len,
                                char *err, size_t errlen);

void spm_normalizer_free(spm_normalizer *n);

/* Normalises text[0..len). `user_symbols` (may be empty) are copied verbatim
 * where they match, before any rule. *out is malloc'd (NULL when *out_len is
 * 0). 0 or -1 (out of memory, or a charsmap rule pointing outside its
 * string table). */
int spm_normalize(const spm_normalizer *n, const spm_trie *user_symbols, const char *text,
                  size_t len, char **out, size_t *out_len, char *err, size_t errlen);

/* The length sentencepiece assumes for the UTF-8 character starting with
 * byte `c` (its OneCharLen: 1 for ASCII and stray continuation bytes). */
static inline size_t spm_utf8_char_len(unsigned char c)
{
    static const unsigned char len_by_high_nibble[16] = { 1, 1, 1, 1, 1, 1, 1, 1,
                                                          1, 1, 1, 1, 2, 2, 3, 4 };
    return len_by_high_nibble[c >> 4];
}

#endif
