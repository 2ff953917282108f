/* spm.c - sentencepiece unigram tokenisation: the model built from a decoded
 * ModelProto (spm_proto.c), the normaliser (spm_normalize.c) and the Viterbi
 * search, after sentencepiece 0.1.97's model_interface.cc,
 * unigram_model.cc (Model::EncodeOptimized) and sentencepiece_processor.cc
 * (PopulateSentencePieceText). */
#include "spm.h"

#include "buf.h"
#include "errbuf.h"

#include <errno.h>
#include <float.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "spm_normalize.h"
#include "spm_proto.h"
#include "spm_trie.h"

/* unigram_model.cc's kUnkPenalty: an unknown character scores min - 10. */
#define UNK_PENALTY 10.0f

struct spm_model {
    char *label;
    int n_pieces;
    char *piece_text;        /* every piece, NUL-terminated, back to back */
    size_t *piece_start;     /* piece i is piece_text + piece_start[i] */
    float *scores;
    uint8_t *types;          /* enum spm_piece_type */
    spm_trie vocab;          /* NORMAL, USER_DEFINED and UNUSED pieces -> id */
    spm_trie user_symbols;   /* USER_DEFINED pieces, kept whole by the normaliser */
    int unk_id;              /* the UNKNOWN piece, given to unknown characters */
    int unk_piece_id, eos_id, pad_id;  /* what spm_unk_id() etc. report */
    bool byte_fallback;
    int32_t byte_ids[256];   /* id of the piece <0xXX>, with byte_fallback */
    float min_score, max_score;  /* over NORMAL pieces */
    spm_normalizer normalizer;
};


static const char *model_type_name(int type)
{
    switch (type) {
    case SPM_UNIGRAM: return "UNIGRAM";
    case SPM_BPE: return "BPE";
    case SPM_WORD: return "WORD";
    case SPM_CHAR: return "CHAR";
    default: return "unknown";
    }
}

static bool is_vocab_type(int type)
{
    return type == SPM_NORMAL || type == SPM_USER_DEFINED || type == SPM_UNUSED;
}

/* The byte a piece "<0xXX>" stands for (upper-case hex, as ByteToPiece
 * writes it), or -1. */
static int byte_piece_value(const char *s, size_t len)
{
    static const char digits[] = "0123456789ABCDEF";
    if (len != 6 || memcmp(s, "<0x", 3) != 0 || s[5] != '>')
        return -1;
    const char *hi = memchr(digits, s[3], 16);
    const char *lo = memchr(digits, s[4], 16);
    if (!hi || !lo)
        return -1;
    return (int)(hi - digits) * 16 + (int)(lo - digits);
}

/* ModelInterface::PieceToId: reserved (CONTROL, UNKNOWN, BYTE) pieces first,
 * then the vocabulary, else the unknown id. */
static int piece_to_id(const spm_model *m, const spm_trie *reserved, const char *piece,
                       size_t len)
{
    int32_t id = spm_trie_find(reserved, piece, len);
    if (id < 0)
        id = spm_trie_find(&m->vocab, piece, len);
    return id >= 0 ? id : m->unk_id;
}

/* SentencePieceProcessor::unk_id() etc.: the named piece (the default name
 * when the spec leaves it empty; cut at a NUL as the library's C string is)
 * if it has the expected type, else -1. */
static int special_id(const spm_model *m, const spm_trie *reserved, spm_bytes name,
                      const char *default_name, int want_type)
{
    const char *s = name.len ? name.data : default_name;
    size_t len = name.len ? name.len : strlen(default_name);
    const char *nul = memchr(s, '\0', len);
    if (nul)
        len = (size_t)(nul - s);
    int id = piece_to_id(m, reserved, s, len);
    return m->types[id] == want_type ? id : -1;
}

/* Copies the pieces, checks them as ModelInterface::InitializePieces does. */
static int build_pieces(spm_model *m, const spm_proto *p, char *err, size_t errlen)
{
    size_t n = p->n_pieces, text_size = 0;
    for (size_t i = 0; i < n; i++)
        text_size += p->pieces[i].text.len + 1;   /* bounded by the file size */
    m->piece_text = malloc(text_size ? text_size : 1);
    m->piece_start = malloc(n ? n * sizeof *m->piece_start : 1);
    m->scores = malloc(n ? n * sizeof *m->scores : 1);
    m->types = malloc(n ? n : 1);
    if (!m->piece_text || !m->piece_start || !m->scores || !m->types) {
        errbuf_printf(err, errlen, "%s: out of memory for %zu pieces", m->label, n);
        return -1;
    }
    m->n_pieces = (int)n;
    m->unk_id = -1;
    m->byte_fallback = p->byte_fallback;
    for (int b = 0; b < 256; b++)
        m->byte_ids[b] = -1;

    size_t at = 0;
    for (size_t i = 0; i < n; i++) {
        const spm_proto_piece *piece = &p->pieces[i];
        m->piece_start[i] = at;
        memcpy(m->piece_text + at, piece->text.data, piece->text.len);
        m->piece_text[at + piece->text.len] = '\0';
        at += piece->text.len + 1;
        m->scores[i] = piece->score;
        m->types[i] = (uint8_t)piece->type;
        const char *text = m->piece_text + m->piece_start[i];

        if (piece->text.len == 0) {
            errbuf_printf(err, errlen, "%s: piece %zu is empty", m->label, i);
            return -1;
        }
        /* The library keys its tries by C string, so it would silently cut
         * such a piece short; refuse it instead. */
        if (memchr(piece->text.data, '\0', piece->text.len)) {
            errbuf_printf(err, errlen, "%s: piece %zu contains a NUL byte", m->label, i);
            return -1;
        }
        if (piece->type == SPM_UNKNOWN) {
            if (m->unk_id >= 0) {
                errbuf_printf(err, errlen, "%s: pieces %d and %zu are both UNKNOWN", m->label,
                        m->unk_id, i);
                return -1;
            }
            m->unk_id = (int)i;
        }
        if (piece->type == SPM_BYTE) {
            int byte = byte_piece_value(text, piece->text.len);
            if (!p->byte_fallback) {
                errbuf_printf(err, errlen, "%s: byte piece '%s' (id %zu) but byte_fallback is off",
                        m->label, text, i);
                return -1;
            }
            if (byte < 0) {
                errbuf_printf(err, errlen, "%s: byte piece '%s' (id %zu) is not <0xXX>", m->label,
                        text, i);
                return -1;
            }
            m->byte_ids[byte] = (int32_t)i;
        }
    }
    if (m->unk_id < 0) {
        errbuf_printf(err, errlen, "%s: no UNKNOWN piece (unk is not defined)", m->label);
        return -1;
    }
    for (int b = 0; m->byte_fallback && b < 256; b++) {
        if (m->byte_ids[b] < 0) {
            errbuf_printf(err, errlen, "%s: byte_fallback is on but byte piece <0x%02X> is missing",
                    m->label, b);
            return -1;
        }
    }

    m->min_score = FLT_MAX;
    m->max_score = FLT_MIN; /* sic: the library starts from FLT_MIN, not -FLT_MAX */
    for (size_t i = 0; i < n; i++) {
        if (m->types[i] != SPM_NORMAL)
            continue;
        if (m->scores[i] < m->min_score)
            m->min_score = m->scores[i];
        if (m->max_score < m->scores[i])
            m->max_score = m->scores[i];
    }
    return 0;
}

/* The tries (pieces in id order, so that a repeated piece is reported as
 * the library reports it) and the special ids. */
static int build_lookup(spm_model *m, const spm_proto *p, char *err, size_t errlen)
{
    size_t vocab_bytes = 0, reserved_bytes = 0, user_bytes = 0;
    bool has_vocab = false;
    for (int i = 0; i < m->n_pieces; i++) {
        size_t len = p->pieces[i].text.len;
        if (is_vocab_type(m->types[i])) {
            vocab_bytes += len;
            has_vocab = true;
        } else {
            reserved_bytes += len;
        }
        if (m->types[i] == SPM_USER_DEFINED)
            user_bytes += len;
    }
    if (!has_vocab) {
        errbuf_printf(err, errlen, "%s: no NORMAL, USER_DEFINED or UNUSED pieces", m->label);
        return -1;
    }
    spm_trie reserved = { 0 };
    if (spm_trie_init(&m->vocab, vocab_bytes) != 0 ||
        spm_trie_init(&m->user_symbols, user_bytes) != 0 ||
        spm_trie_init(&reserved, reserved_bytes) != 0) {
        errbuf_printf(err, errlen, "%s: out of memory for the piece tries", m->label);
        spm_trie_free(&reserved);
        return -1;
    }
    int rc = 0;
    for (int i = 0; i < m->n_pieces && rc == 0; i++) {
        const char *text = spm_id_to_piece(m, i);
        size_t len = p->pieces[i].text.len;
        spm_trie *trie = is_vocab_type(m->types[i]) ? &m->vocab : &reserved;
        int32_t first;
        rc = spm_trie_insert(trie, text, len, i, &first);
        if (rc == 1)
            errbuf_printf(err, errlen, "%s: piece '%s' (id %d) is already defined (id %d)",
                    m->label, text, i, (int)first);
        else if (rc == 0 && m->types[i] == SPM_USER_DEFINED)
            rc = spm_trie_insert(&m->user_symbols, text, len, i, &first);
    }
    if (rc == 0) {
        m->unk_piece_id = special_id(m, &reserved, p->unk_piece, "<unk>", SPM_UNKNOWN);
        m->eos_id = special_id(m, &reserved, p->eos_piece, "</s>", SPM_CONTROL);
        m->pad_id = special_id(m, &reserved, p->pad_piece, "<pad>", SPM_CONTROL);
    }
    spm_trie_free(&reserved);
    return rc == 0 ? 0 : -1;
}

int spm_load_memory(const void *buf, size_t len, const char *label, spm_model **out,
                    char *err, size_t errlen)
{
    char msg[512];
    *out = NULL;
    if (!label)
        label = "<memory>";
    spm_model *m = calloc(1, sizeof *m);
    if (!m || !(m->label = strdup(label))) {
        free(m);
        errbuf_printf(err, errlen, "%s: out of memory", label);
        return -1;
    }

    spm_proto proto;
    if (spm_proto_decode(buf, len, &proto, msg, sizeof msg) != 0) {
        errbuf_printf(err, errlen, "%s: not a sentencepiece model: %s", label, msg);
        spm_free(m);
        return -1;
    }
    int rc = -1;
    if (proto.model_type != SPM_UNIGRAM) {
        errbuf_printf(err, errlen, "%s: model type %s is not supported (only UNIGRAM)", label,
                model_type_name(proto.model_type));
        goto done;
    }
    if (proto.n_pieces > INT32_MAX) {
        errbuf_printf(err, errlen, "%s: too many pieces (%zu)", label, proto.n_pieces);
        goto done;
    }
    if (build_pieces(m, &proto, err, errlen) != 0 || build_lookup(m, &proto, err, errlen) != 0)
        goto done;

    m->normalizer.add_dummy_prefix = proto.add_dummy_prefix;
    m->normalizer.remove_extra_whitespaces = proto.remove_extra_whitespaces;
    m->normalizer.escape_whitespaces = proto.escape_whitespaces;
    m->normalizer.treat_whitespace_as_suffix = proto.treat_whitespace_as_suffix;
    if (spm_normalizer_set_charsmap(&m->normalizer,
                                    (const uint8_t *)proto.precompiled_charsmap.data,
                                    proto.precompiled_charsmap.len, msg, sizeof msg) != 0) {
        errbuf_printf(err, errlen, "%s: %s", label, msg);
        goto done;
    }
    rc = 0;
done:
    spm_proto_free(&proto);
    if (rc != 0)
        spm_free(m);
    else
        *out = m;
    return rc;
}

/* A T5 model is under 1 MiB; the largest published ones are a few MiB. */
#define SPM_MAX_FILE_BYTES ((size_t)256 << 20)

int spm_load(const char *path, spm_model **out, char *err, size_t errlen)
{
    *out = NULL;
    FILE *f = fopen(path, "rb");
    if (!f) {
        errbuf_printf(err, errlen, "%s: %s", path, strerror(errno));
        return -1;
    }
    buf model = BUF_INIT;
    int rc = buf_read_stream(&model, f, SPM_MAX_FILE_BYTES);
    fclose(f);
    if (rc != 0) {
        errbuf_printf(err, errlen, "%s: %s", path,
                      rc > 0 ? "larger than 256 MiB: not a sentencepiece model"
                      : buf_failed(&model) ? "out of memory reading the model" : "read error");
        buf_free(&model);
        return -1;
    }
    rc = spm_load_memory(model.data ? model.data : "", model.len, path, out, err, errlen);
    buf_free(&model);
    return rc;
}

void spm_free(spm_model *m)
{
    if (!m)
        return;
    free(m->label);
    free(m->piece_text);
    free(m->piece_start);
    free(m->scores);
    free(m->types);
    spm_trie_free(&m->vocab);
    spm_trie_free(&m->user_symbols);
    spm_normalizer_free(&m->normalizer);
    free(m);
}

int spm_piece_count(const spm_model *m) { return m->n_pieces; }
int spm_unk_id(const spm_model *m) { return m->unk_piece_id; }
int spm_eos_id(const spm_model *m) { return m->eos_id; }
int spm_pad_id(const spm_model *m) { return m->pad_id; }

const char *spm_id_to_piece(const spm_model *m, int id)
{
    if (id < 0 || id >= m->n_pieces)
        return NULL;
    return m->piece_text + m->piece_start[id];
}

/* The best segmentation of text[0..end) that ends with one piece. */
typedef struct best_path {
    float score;
    int32_t id;
    int32_t start;   /* -1 while no path reaches here */
} best_path;

/* Model::EncodeOptimized: Viterbi over UTF-8 byte positions. Fills
 * best[0..len] so that following best[len].start back to 0 gives the best
 * segmentation. The scores mix float and double exactly as the library's
 * arithmetic does, so that ties are broken the same way. */
static void viterbi(const spm_model *m, const char *text, int32_t len, best_path *best)
{
    const float unk_score = m->min_score - UNK_PENALTY;
    for (int32_t i = 0; i <= len; i++)
        best[i] = (best_path){ 0.0f, -1, -1 };

    for (int32_t start = 0; start < len;) {
        const float score_so_far = best[start].score;
        int32_t char_len = (int32_t)spm_utf8_char_len((unsigned char)text[start]);
        if (char_len > len - start)
            char_len = len - start;
        bool has_single_char_piece = false;
        uint32_t node = spm_trie_root(&m->vocab);
        for (int32_t end = start; end < len;) {
            node = spm_trie_child(&m->vocab, node, (uint8_t)text[end++]);
            if (node == SPM_TRIE_NONE)
                break;
            int32_t id = m->vocab.values[node];
            if (id < 0 || m->types[id] == SPM_UNUSED)
                continue;
            size_t length = (size_t)(end - start);
            /* A user-defined symbol gets a bonus so that it always wins. */
            double score = m->types[id] == SPM_USER_DEFINED
                               ? (double)((float)length * m->max_score) - 0.1
                               : (double)m->scores[id];
            double candidate = score + (double)score_so_far;
            if (best[end].start == -1 || candidate > (double)best[end].score)
                best[end] = (best_path){ (float)candidate, id, start };
            if (length == (size_t)char_len)
                has_single_char_piece = true;
        }
        if (!has_single_char_piece) {
            float candidate = unk_score + score_so_far;
            best_path *target = &best[start + char_len];
            if (target->start == -1 || candidate > target->score)
                *target = (best_path){ candidate, m->unk_id, start };
        }
        start += char_len;
    }
}

int spm_encode(const spm_model *m, const char *text, size_t len, int32_t **ids,
               size_t *n_ids, char *err, size_t errlen)
{
    char msg[256];
    char *norm;
    size_t norm_len;
    *ids = NULL;
    *n_ids = 0;
    if (spm_normalize(&m->normalizer, &m->user_symbols, text, len, &norm, &norm_len, msg,
                      sizeof msg) != 0) {
        errbuf_printf(err, errlen, "%s: %s", m->label, msg);
        return -1;
    }
    if (norm_len == 0)
        return 0;
    if (norm_len >= INT32_MAX) {
        errbuf_printf(err, errlen, "%s: text too long to encode (%zu bytes normalised)", m->label,
                norm_len);
        free(norm);
        return -1;
    }

    const int32_t n = (int32_t)norm_len;
    best_path *best = malloc(((size_t)n + 1) * sizeof *best);
    int32_t *ends = malloc((size_t)n * sizeof *ends);    /* piece ends, last piece first */
    int32_t *out = malloc((size_t)n * sizeof *out);      /* at most one id per byte */
    if (!best || !ends || !out) {
        errbuf_printf(err, errlen, "%s: out of memory encoding %zu bytes", m->label, len);
        free(norm);
        free(best);
        free(ends);
        free(out);
        return -1;
    }
    viterbi(m, norm, n, best);

    /* Every character boundary the search steps on is reached by some
     * piece, so the walk back always arrives at 0. */
    size_t n_pieces = 0;
    for (int32_t end = n; end > 0; end = best[end].start)
        ends[n_pieces++] = end;

    /* PopulateSentencePieceText: an unknown piece becomes its bytes with
     * byte_fallback; otherwise a run of unknowns becomes one unknown id. */
    size_t n_out = 0;
    bool prev_unknown = false;
    for (size_t k = n_pieces; k-- > 0;) {
        const best_path *piece = &best[ends[k]];
        bool unknown = m->types[piece->id] == SPM_UNKNOWN;
        if (unknown && m->byte_fallback) {
            for (int32_t i = piece->start; i < ends[k]; i++)
                out[n_out++] = m->byte_ids[(uint8_t)norm[i]];
        } else if (!(unknown && prev_unknown)) {
            out[n_out++] = piece->id;
        }
        prev_unknown = unknown;
    }
    free(norm);
    free(best);
    free(ends);
    *ids = out;
    *n_ids = n_out;
    return 0;
}
