/* fuzz_spm.c - shim/tokenizer/spm/spm.c's loader on arbitrary serialized ModelProtos
 * (spm_load_memory: the protobuf reader, the piece table, the normaliser's
 * precompiled charsmap), then spm_encode of a few short texts on each model
 * that loads.
 *
 * A loaded model must give ids inside its vocabulary, and the special ids
 * it reports must name pieces it has. */
#include "fuzz.h"
#include "spm.h"

#define LABEL "fuzz.model"

/* Texts that reach the normaliser's and the search's corners: spaces to
 * fold, digits, a user-defined symbol of the seeds, non-ASCII that the
 * charsmaps rewrite, bytes no piece covers (byte fallback or unknown),
 * invalid UTF-8. */
static const struct {
    const char *text;
    size_t len;
} TEXTS[] = {
#define T(s) { s, sizeof s - 1 }
    T("A lighthouse keeper finds a message in a bottle."),
    T("  hello world  ab<sep>ab\t\t1234 "),
    T("\xef\xbc\xa1\xe3\x80\x80\xe2\x85\xa1 Caf\xc3\xa9 \xe6\x9d\xb1\xe4\xba\xac \xf0\x9f\x8e\xb5"),
    T("\xff\xfe\xc3 bad \xe2\x82 utf8 \xed\xa0\x80"),
    T(""),
#undef T
};

static void check_encoding(const spm_model *m, const char *text, size_t len)
{
    int32_t *ids = NULL;
    size_t n = 0;
    char err[512] = "";
    if (spm_encode(m, text, len, &ids, &n, err, sizeof err) != 0) {
        FUZZ_ASSERT(fuzz_message_ok(err, sizeof err), "encode failed without a message");
        return;
    }
    FUZZ_ASSERT((n == 0) == (ids == NULL), "%zu ids at %p", n, (void *)ids);
    int count = spm_piece_count(m);
    for (size_t i = 0; i < n; i++)
        FUZZ_ASSERT(ids[i] >= 0 && ids[i] < count, "id %d of a %d-piece vocabulary", ids[i],
                    count);
    free(ids);
}

static void check_special(const spm_model *m, int id, const char *what)
{
    FUZZ_ASSERT(id == -1 || (id >= 0 && id < spm_piece_count(m) && spm_id_to_piece(m, id)),
                "%s id %d of %d pieces", what, id, spm_piece_count(m));
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    spm_model *m = NULL;
    char err[512] = "";
    if (spm_load_memory(data, size, LABEL, &m, err, sizeof err) != 0) {
        FUZZ_ASSERT(m == NULL, "refused but *out was set");
        FUZZ_ASSERT(fuzz_message_ok(err, sizeof err) && strstr(err, LABEL),
                    "the message does not name the model: '%s'", err);
        return 0;
    }
    int count = spm_piece_count(m);
    FUZZ_ASSERT(count > 0, "a model with %d pieces", count);
    FUZZ_ASSERT(spm_id_to_piece(m, -1) == NULL && spm_id_to_piece(m, count) == NULL,
                "pieces outside the vocabulary");
    check_special(m, spm_unk_id(m), "unk");
    check_special(m, spm_eos_id(m), "eos");
    check_special(m, spm_pad_id(m), "pad");
    for (size_t i = 0; i < sizeof TEXTS / sizeof TEXTS[0]; i++)
        check_encoding(m, TEXTS[i].text, TEXTS[i].len);
    spm_free(m);
    return 0;
}
