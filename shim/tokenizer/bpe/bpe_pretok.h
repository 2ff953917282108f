/* bpe_pretok.h - pre-tokenisation: a checkpoint's Split regex (Python
 * `regex` / Oniguruma syntax, as tokenizer.json holds it) compiled with PCRE2
 * (UTF, Unicode properties, JIT when the platform has it) and applied as
 * tokenizers' Split(behavior="Isolated") does: every match is a piece, and
 * so is any text between matches.
 *
 * One difference is translated away: PCRE2's \s (10.42, with UCP) also
 * takes U+180E, white space before Unicode 6.3 and a format character since,
 * which Python's `regex` and Oniguruma do not; so \s and \S outside a
 * character class, and \s inside one, are rewritten into Unicode's
 * White_Space set. (\S inside a class is left to PCRE2.)
 */
#ifndef JEN1_BPE_PRETOK_H
#define JEN1_BPE_PRETOK_H

#include <stddef.h>

typedef struct bpe_pretok bpe_pretok;

/* Qwen2's pattern (also the fallback when a checkpoint names none). */
extern const char BPE_QWEN2_PATTERN[];

/* Compiles pattern. Returns 0 and *out, or -1 with PCRE2's message. */
int bpe_pretok_compile(const char *pattern, bpe_pretok **out, char *err, size_t errlen);

void bpe_pretok_free(bpe_pretok *p);

/* Calls piece(ctx, start, len) for each piece of text[0..len), which must be
 * valid UTF-8, in order; stops at the first nonzero return of piece and
 * returns it. Returns 0, the callback's value, or -1 with a message when
 * matching fails (a PCRE2 resource limit). Threadsafe. */
int bpe_pretok_split(const bpe_pretok *p, const char *text, size_t len,
                     int (*piece)(void *ctx, const char *s, size_t n), void *ctx, char *err,
                     size_t errlen);

#endif
