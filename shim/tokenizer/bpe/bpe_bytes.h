/* bpe_bytes.h - GPT-2's byte-level alphabet: each of the 256 byte values is
 * one printable code point (printable Latin-1 bytes stand for themselves,
 * the other 68 become U+0100.. in increasing order: space is 'Ġ' U+0120), so
 * a byte-level token's text is UTF-8 of those code points. */
#ifndef JEN1_BPE_BYTES_H
#define JEN1_BPE_BYTES_H

#include <stddef.h>
#include <stdint.h>

/* The code point standing for byte b. */
uint32_t bpe_byte_char(unsigned char b);

/* Writes the UTF-8 of byte b's code point to out (2 bytes at most); returns
 * its length. */
size_t bpe_byte_char_utf8(unsigned char b, char out[2]);

/* Maps a byte-level token's text back to the bytes it stands for, into out
 * (at most len bytes). Returns the byte count, or -1 when the text holds a
 * code point outside the alphabet or is not UTF-8. */
long bpe_bytes_from_token(const char *text, size_t len, unsigned char *out);

#endif
