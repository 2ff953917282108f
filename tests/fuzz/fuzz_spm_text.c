/* fuzz_spm_text.c - shim/tokenizer/spm/spm.c's spm_encode of arbitrary bytes with the
 * fixture's real T5 spiece.model: its NFKC charsmap, whitespace folding, the
 * unigram search and unknown merging on hostile text (a narrative comes from
 * a client). fuzz_spm covers the loader; this one the encoder on a real model.
 *
 * The model is read from $JEN1_FUZZ_SPM_MODEL, by default the fixture's (the
 * targets run from the repository root). */
#include "fuzz.h"
#include "spm.h"

static spm_model *model;

int LLVMFuzzerInitialize(int *argc, char ***argv);

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    (void)argc;
    (void)argv;
    const char *path = getenv("JEN1_FUZZ_SPM_MODEL");
    if (!path)
        path = "tests/fixtures/musicgen-tiny/model/spiece.model";
    char err[512];
    if (spm_load(path, &model, err, sizeof err) != 0) {
        fprintf(stderr, "fuzz_spm_text: %s\n", err);
        exit(1);
    }
    return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    int32_t *ids = NULL;
    size_t n = 0;
    char err[512] = "";
    if (spm_encode(model, (const char *)data, size, &ids, &n, err, sizeof err) != 0) {
        FUZZ_ASSERT(fuzz_message_ok(err, sizeof err), "encode failed without a message");
        return 0;
    }
    FUZZ_ASSERT((n == 0) == (ids == NULL), "%zu ids at %p", n, (void *)ids);
    int count = spm_piece_count(model);
    for (size_t i = 0; i < n; i++)
        FUZZ_ASSERT(ids[i] >= 0 && ids[i] < count, "id %d of %d pieces", ids[i], count);
    free(ids);
    return 0;
}
