/* spiece.c - the --spiece file: read whole (it is copied into the model as
 * is) and loaded with jen1's own SentencePiece reader, which both checks it
 * and counts the pieces that number T5's <extra_id_N> tokens. See mkmodel.h. */
#include "mkmodel.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "buf.h"
#include "errbuf.h"
#include "spm.h"

#define SPIECE_MAX_BYTES (64u << 20)

/* Reads the whole --spiece file (a few hundred KB for T5). */
static int read_spiece(const char *path, unsigned char **out, size_t *out_len, char *err, size_t errlen)
{
    FILE *f = fopen(path, "rb");
    if (!f) {
        errbuf_printf(err, errlen, "--spiece %s: cannot open: %s", path, strerror(errno));
        return -1;
    }
    struct stat st;
    if (fstat(fileno(f), &st) != 0 || !S_ISREG(st.st_mode)) {
        errbuf_printf(err, errlen, "--spiece %s: not a regular file of at most %u bytes", path, SPIECE_MAX_BYTES);
        fclose(f);
        return -1;
    }
    buf bytes = BUF_INIT;
    int rc = buf_read_stream(&bytes, f, SPIECE_MAX_BYTES);
    fclose(f);
    if (rc != 0) {
        if (rc > 0)
            errbuf_printf(err, errlen, "--spiece %s: not a regular file of at most %u bytes", path, SPIECE_MAX_BYTES);
        else
            errbuf_printf(err, errlen, "--spiece %s: %s", path, buf_failed(&bytes) ? "out of memory" : "cannot read");
        buf_free(&bytes);
        return -1;
    }
    *out = (unsigned char *)buf_detach(&bytes, out_len);
    return *out ? 0 : -1;
}


int spiece_load(const char *path, spiece *out, char *err, size_t errlen)
{
    memset(out, 0, sizeof *out);
    if (read_spiece(path, &out->bytes, &out->len, err, errlen) != 0)
        return -1;
    /* The reader the engine tokenises with: a model it refuses (not a
     * protobuf, not UNIGRAM, no <unk>) is refused here, not at first use. */
    char why[512];
    spm_model *model = NULL;
    if (spm_load_memory(out->bytes, out->len, "spm", &model, why, sizeof why) != 0) {
        errbuf_printf(err, errlen, "--spiece %s: not a SentencePiece model (%s)", path, why);
        spiece_free(out);
        return -1;
    }
    out->n_pieces = spm_piece_count(model);
    spm_free(model);
    if (out->n_pieces < 3) {
        errbuf_printf(err, errlen, "--spiece %s: not a SentencePiece model (fewer than 3 pieces)", path);
        spiece_free(out);
        return -1;
    }
    return 0;
}

void spiece_free(spiece *s)
{
    free(s->bytes);
    memset(s, 0, sizeof *s);
}
