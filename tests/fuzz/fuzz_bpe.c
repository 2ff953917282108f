/* fuzz_bpe.c - shim/tokenizer/bpe's encoder and decoder on arbitrary bytes
 * with the qwen2-tiny fixture's tokenizer: special-token splitting, NFC,
 * the PCRE2 pre-tokenisation and the merge loop on hostile text (a
 * narrative comes from a client), and decoding of arbitrary ids.
 *
 * The first input byte picks the mode (bit 0: parse special tokens); the
 * rest is the text. Promises checked: invalid UTF-8 is refused with a
 * message; every id is a token; without special tokens, decoding the ids
 * gives back the NFC form of the text; any id list decodes to valid UTF-8.
 *
 * The tokenizer is read from $JEN1_FUZZ_BPE_MODEL, by default the
 * fixture's (the targets run from the repository root). */
#include "bpe.h"
#include "fuzz.h"
#include "text.h"

#include <utf8proc.h>

static bpe_tokenizer *tok;

int LLVMFuzzerInitialize(int *argc, char ***argv);

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    (void)argc;
    (void)argv;
    const char *dir = getenv("JEN1_FUZZ_BPE_MODEL");
    if (!dir)
        dir = "tests/fixtures/qwen2-tiny/model";
    char err[512];
    if (bpe_load(dir, &tok, err, sizeof err) != 0) {
        fprintf(stderr, "fuzz_bpe: %s\n", err);
        exit(1);
    }
    return 0;
}

/* Any ids (the text's bytes, two at a time) decode to valid UTF-8. */
static void decode_arbitrary(const uint8_t *data, size_t size, int skip_special)
{
    int64_t ids[64];
    int n = 0;
    for (size_t i = 0; i + 1 < size && n < 64; i += 2)
        ids[n++] = (data[i] | data[i + 1] << 8) % bpe_n_tokens(tok);
    buf out = BUF_INIT;
    char err[512] = "";
    FUZZ_ASSERT(bpe_decode(tok, ids, n, skip_special, &out, err, sizeof err) == 0, "decode: %s", err);
    FUZZ_ASSERT(text_utf8_valid(out.data, out.len), "decoded %zu bytes of invalid UTF-8", out.len);
    buf_free(&out);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size == 0)
        return 0;
    int parse_special = data[0] & 1;
    const char *text = (const char *)data + 1;
    size_t len = size - 1;
    decode_arbitrary(data + 1, len, parse_special);
    char err[512] = "";
    int n = 0;
    if (bpe_encode(tok, text, len, parse_special, NULL, 0, &n, err, sizeof err) != 0) {
        FUZZ_ASSERT(fuzz_message_ok(err, sizeof err), "encode failed without a message");
        FUZZ_ASSERT(!text_utf8_valid(text, len), "valid UTF-8 refused: %s", err);
        return 0;
    }
    int64_t *ids = malloc(((size_t)n + 1) * sizeof *ids);
    FUZZ_ASSERT(ids, "no memory");
    int again;
    FUZZ_ASSERT(bpe_encode(tok, text, len, parse_special, ids, n, &again, err, sizeof err) == 0 && again == n,
                "a second encode gave %d ids, not %d", again, n);
    for (int i = 0; i < n; i++)
        FUZZ_ASSERT(ids[i] >= 0 && ids[i] < bpe_n_tokens(tok), "id %lld", (long long)ids[i]);
    buf out = BUF_INIT;
    FUZZ_ASSERT(bpe_decode(tok, ids, n, 0, &out, err, sizeof err) == 0, "decode: %s", err);
    if (!parse_special && len > 0) {
        utf8proc_uint8_t *nfc = NULL;
        utf8proc_ssize_t k = utf8proc_map((const utf8proc_uint8_t *)text, (utf8proc_ssize_t)len, &nfc,
                                          UTF8PROC_STABLE | UTF8PROC_COMPOSE);
        FUZZ_ASSERT(k >= 0, "utf8proc refused valid UTF-8");
        FUZZ_ASSERT((size_t)k == out.len && memcmp(nfc, out.data, out.len) == 0,
                    "round trip: %zu bytes in, %zu out", (size_t)k, out.len);
        free(nfc);
    }
    buf_free(&out);
    free(ids);
    return 0;
}
