/* bpe_bytes.c - see bpe_bytes.h. */
#include "bpe_bytes.h"

#include "text.h"

static int stands_for_itself(unsigned b)
{
    return (b >= 0x21 && b <= 0x7e) || (b >= 0xa1 && b <= 0xac) || (b >= 0xae);
}

/* The 68 remapped bytes are 0x00-0x20, 0x7F-0xA0 and 0xAD, numbered in
 * that order from U+0100. */
uint32_t bpe_byte_char(unsigned char b)
{
    if (stands_for_itself(b))
        return b;
    if (b <= 0x20)
        return 0x100 + b;
    if (b <= 0xa0)
        return 0x100 + 33 + (b - 0x7f);
    return 0x100 + 67;   /* 0xAD */
}

size_t bpe_byte_char_utf8(unsigned char b, char out[2])
{
    uint32_t cp = bpe_byte_char(b);
    if (cp < 0x80) {
        out[0] = (char)cp;
        return 1;
    }
    out[0] = (char)(0xc0 | (cp >> 6));
    out[1] = (char)(0x80 | (cp & 0x3f));
    return 2;
}

/* The byte a code point stands for, or -1. */
static int byte_of_char(uint32_t cp)
{
    if (cp < 0x100)
        return stands_for_itself(cp) ? (int)cp : -1;
    uint32_t n = cp - 0x100;
    if (n <= 32)
        return (int)n;
    if (n < 67)
        return (int)(0x7f + n - 33);
    return n == 67 ? 0xad : -1;
}

long bpe_bytes_from_token(const char *text, size_t len, unsigned char *out)
{
    const unsigned char *s = (const unsigned char *)text;
    size_t n = 0;
    for (size_t i = 0; i < len;) {
        size_t k = text_utf8_seq_len(s + i, len - i);
        if (k == 0 || k > 2)
            return -1;
        uint32_t cp = k == 1 ? s[i] : ((uint32_t)(s[i] & 0x1f) << 6) | (s[i + 1] & 0x3f);
        int b = byte_of_char(cp);
        if (b < 0)
            return -1;
        out[n++] = (unsigned char)b;
        i += k;
    }
    return (long)n;
}
