/* spm_proto.h - decodes the protobuf wire format of sentencepiece's
 * ModelProto (src/sentencepiece_model.proto, proto2), keeping only what
 * encoding needs. Internal to shim/tokenizer/spm/spm.c.
 *
 * Decoding follows protobuf's rules: unknown fields (and known fields with an
 * unexpected wire type) are skipped, a repeated embedded message appends, a
 * repeated optional message merges, the last scalar wins, an enum value
 * outside the enum is ignored, absent fields keep their proto2 defaults. */
#ifndef JEN1_SPM_PROTO_H
#define JEN1_SPM_PROTO_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* ModelProto.SentencePiece.Type */
enum spm_piece_type {
    SPM_NORMAL = 1,
    SPM_UNKNOWN = 2,
    SPM_CONTROL = 3,
    SPM_USER_DEFINED = 4,
    SPM_UNUSED = 5,
    SPM_BYTE = 6,
};

/* TrainerSpec.ModelType */
enum spm_model_type { SPM_UNIGRAM = 1, SPM_BPE = 2, SPM_WORD = 3, SPM_CHAR = 4 };

/* A string field: points into the decoded buffer, not NUL-terminated. */
typedef struct spm_bytes {
    const char *data;
    size_t len;
} spm_bytes;

typedef struct spm_proto_piece {
    spm_bytes text;
    float score;
    int type;
} spm_proto_piece;

typedef struct spm_proto {
    spm_proto_piece *pieces;   /* malloc'd */
    size_t n_pieces;

    /* TrainerSpec */
    int model_type;
    bool byte_fallback;
    bool treat_whitespace_as_suffix;
    spm_bytes unk_piece, eos_piece, pad_piece;  /* empty when absent */

    /* NormalizerSpec */
    spm_bytes precompiled_charsmap;
    bool add_dummy_prefix;
    bool remove_extra_whitespaces;
    bool escape_whitespaces;
} spm_proto;

/* Decodes buf[0..len); the result points into buf. On error fills err with a
 * message saying what is wrong and at which byte offset. 0 or -1. */
int spm_proto_decode(const void *buf, size_t len, spm_proto *out, char *err, size_t errlen);

void spm_proto_free(spm_proto *proto);

#endif
