/* bpe_files.h - reads a checkpoint's tokenizer files into a plain list of
 * tokens and merges (a bpe_spec), before any checking of how they fit
 * together (bpe_load.c does that). tokenizer.json when the directory has
 * one; else vocab.json + merges.txt, with tokenizer_config.json's
 * added_tokens_decoder for the added tokens. */
#ifndef JEN1_BPE_FILES_H
#define JEN1_BPE_FILES_H

#include <jansson.h>
#include <stddef.h>
#include <stdint.h>

#include "buf.h"

typedef struct bpe_str {
    const char *s;
    size_t len;
} bpe_str;

typedef struct bpe_spec_token {
    bpe_str text;
    int64_t id;
    int added;     /* from added_tokens: matched as a whole, not byte-level */
    int special;
} bpe_spec_token;

typedef struct bpe_spec {
    char vocab_file[4096];    /* the files, for messages */
    char merges_file[4096];
    char added_file[4096];
    bpe_spec_token *tokens;
    size_t n_tokens;
    bpe_str (*merges)[2];     /* in rank order */
    size_t n_merges;
    const char *pattern;      /* the Split regex, or NULL: Qwen2's */
    int nfc;                  /* normalise to NFC before splitting */
    json_t *json[3];          /* the parsed files the strings point into */
    buf merges_text;
} bpe_spec;

/* Reads dir's files into *spec. Returns 0, or -1 with a message naming the
 * file (spec is then freed). */
int bpe_spec_read(const char *dir, bpe_spec *spec, char *err, size_t errlen);

void bpe_spec_free(bpe_spec *spec);

#endif
