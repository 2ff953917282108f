/* bpe_files.c - the --tokenizer-from files: a byte-level BPE tokenizer in
 * Hugging Face's layout (vocab.json, merges.txt, tokenizer.json,
 * tokenizer_config.json with its chat_template), as qwen2-tiny's fixture or
 * a real Qwen2.5 download has it. Each file is checked, so a model is never
 * written with a tokenizer that cannot load; merges.txt is copied as it is,
 * vocab.json too unless a small vocabulary gets placeholders up to Qwen2.5's
 * specials, and the added tokens move to Qwen2.5's ids (151643 on) in
 * tokenizer.json and tokenizer_config.json. See mkmodel.h. */
#include "mkmodel.h"

#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "errbuf.h"

#define TOKENIZER_FILE_MAX (64u << 20) /* a real Qwen2.5 tokenizer.json is 7 MB */

static const char *const first_added[] = {"<|endoftext|>", "<|im_start|>", "<|im_end|>"};

/* Reads dir/name whole into b (NUL-terminated). */
static int read_file(const char *dir, const char *name, buf *b, char *err, size_t errlen)
{
    char path[PATH_MAX];
    if (outdir_path(path, sizeof path, dir, name) != 0) {
        errbuf_printf(err, errlen, "--tokenizer-from %s: path too long", dir);
        return -1;
    }
    FILE *f = fopen(path, "rb");
    if (!f) {
        errbuf_printf(err, errlen, "--tokenizer-from %s: %s: cannot open: %s", dir, name, strerror(errno));
        return -1;
    }
    struct stat st;
    int rc = fstat(fileno(f), &st) != 0 || !S_ISREG(st.st_mode) ? 1
           : buf_read_stream(b, f, TOKENIZER_FILE_MAX);
    fclose(f);
    if (rc == 0 && buf_putc(b, '\0') == 0) {
        b->len--;
        return 0;
    }
    if (rc > 0)
        errbuf_printf(err, errlen, "--tokenizer-from %s: %s: not a regular file of at most %u bytes", dir, name,
                      TOKENIZER_FILE_MAX);
    else
        errbuf_printf(err, errlen, "--tokenizer-from %s: %s: %s", dir, name,
                      buf_failed(b) ? "out of memory" : "cannot read");
    return -1;
}

static json_t *load_json(const char *dir, const char *name, const buf *text, char *err, size_t errlen)
{
    json_error_t jerr;
    json_t *json = json_loadb(text->data, text->len, 0, &jerr);
    if (!json)
        errbuf_printf(err, errlen, "--tokenizer-from %s: %s: bad JSON at line %d: %s", dir, name, jerr.line,
                      jerr.text);
    else if (!json_is_object(json)) {
        errbuf_printf(err, errlen, "--tokenizer-from %s: %s: not a JSON object", dir, name);
        json_decref(json);
        json = NULL;
    }
    return json;
}

/* GPT-2's bytes_to_unicode: the code point that stands for byte b. */
static unsigned byte_symbol(unsigned b)
{
    int printable = (b >= 0x21 && b <= 0x7e) || (b >= 0xa1 && b <= 0xac) || b >= 0xae;
    if (printable)
        return b;
    unsigned k = 0; /* the other bytes, in order, from U+0100 */
    for (unsigned c = 0; c < b; c++)
        k += !((c >= 0x21 && c <= 0x7e) || (c >= 0xa1 && c <= 0xac) || c >= 0xae);
    return 0x100 + k;
}

/* vocab.json: ids 0..n-1, each once, every byte's symbol among them. */
static int check_vocab(const char *dir, json_t *vocab, long *n_out, char *err, size_t errlen)
{
    long n = (long)json_object_size(vocab);
    if (n < 256 || n > QWEN_FIRST_ADDED_ID) {
        errbuf_printf(err, errlen, "--tokenizer-from %s: vocab.json: %ld tokens, not 256 to %d", dir, n,
                      QWEN_FIRST_ADDED_ID);
        return -1;
    }
    unsigned char *seen = calloc((size_t)n, 1);
    if (!seen) {
        errbuf_printf(err, errlen, "out of memory");
        return -1;
    }
    const char *token;
    json_t *id;
    int status = 0;
    json_object_foreach(vocab, token, id) {
        json_int_t v = json_is_integer(id) ? json_integer_value(id) : -1;
        if (v < 0 || v >= n || seen[v]) {
            errbuf_printf(err, errlen, "--tokenizer-from %s: vocab.json: token '%s' has %s id (the ids must be"
                          " 0..%ld, each once)", dir, token, v >= 0 && v < n ? "a duplicate" : "a bad", n - 1);
            status = -1;
            break;
        }
        seen[v] = 1;
    }
    free(seen);
    for (unsigned b = 0; status == 0 && b < 256; b++) {
        unsigned cp = byte_symbol(b);
        char s[3] = {(char)cp, 0, 0};
        if (cp >= 0x80) {
            s[0] = (char)(0xc0 | (cp >> 6));
            s[1] = (char)(0x80 | (cp & 0x3f));
        }
        if (!json_object_get(vocab, s)) {
            errbuf_printf(err, errlen, "--tokenizer-from %s: vocab.json: no token for byte 0x%02x ('%s'):"
                          " not a byte-level BPE", dir, b, s);
            status = -1;
        }
    }
    *n_out = n;
    return status;
}

/* merges[k] of tokenizer.json as "A B": a string, or a pair of strings. */
static int merge_entry(json_t *merges, size_t k, char *out, size_t len)
{
    json_t *m = json_array_get(merges, k);
    int n = json_is_string(m) ? snprintf(out, len, "%s", json_string_value(m))
          : json_is_array(m) && json_array_size(m) == 2 && json_is_string(json_array_get(m, 0))
                && json_is_string(json_array_get(m, 1))
              ? snprintf(out, len, "%s %s", json_string_value(json_array_get(m, 0)),
                         json_string_value(json_array_get(m, 1)))
              : -1;
    return n < 0 || (size_t)n >= len ? -1 : 0;
}

/* merges.txt: an optional "#version" line, then "A B" lines whose A, B and
 * AB are tokens, the same as tokenizer.json's model.merges. */
static int check_merges(const char *dir, buf *text, json_t *vocab, json_t *merges, long *n_out,
                        char *err, size_t errlen)
{
    char *p = text->data, *end = text->data + text->len;
    long line_no = 0, n = 0;
    if (strncmp(p, "#version", 8) == 0) {
        p = memchr(p, '\n', (size_t)(end - p));
        p = p ? p + 1 : end;
        line_no++;
    }
    while (p < end) {
        line_no++;
        char *nl = memchr(p, '\n', (size_t)(end - p));
        char *line_end = nl ? nl : end;
        char line[1024], joined[1024], listed[1024];
        size_t len = (size_t)(line_end - p);
        char *space = len < sizeof line && !memchr(p, '\0', len) ? memchr(p, ' ', len) : NULL;
        if (space) {
            memcpy(line, p, len);
            line[len] = '\0';
            space = line + (space - p);
            *space = '\0';
        }
        if (!space || space == line || !space[1] || strchr(space + 1, ' ')) {
            errbuf_printf(err, errlen, "--tokenizer-from %s: merges.txt line %ld: not 'A B'", dir, line_no);
            return -1;
        }
        snprintf(joined, sizeof joined, "%s%s", line, space + 1);
        const char *unknown = !json_object_get(vocab, line) ? line
                            : !json_object_get(vocab, space + 1) ? space + 1
                            : !json_object_get(vocab, joined) ? joined : NULL;
        if (unknown) {
            errbuf_printf(err, errlen, "--tokenizer-from %s: merges.txt line %ld: '%s' is not in vocab.json", dir,
                          line_no, unknown);
            return -1;
        }
        *space = ' ';
        if (merge_entry(merges, (size_t)n, listed, sizeof listed) != 0 || strcmp(listed, line) != 0) {
            errbuf_printf(err, errlen, "--tokenizer-from %s: tokenizer.json: model.merges[%ld] differs from"
                          " merges.txt line %ld", dir, n, line_no);
            return -1;
        }
        n++;
        p = nl ? nl + 1 : end;
    }
    if ((size_t)n != json_array_size(merges)) {
        errbuf_printf(err, errlen, "--tokenizer-from %s: tokenizer.json has %zu merges, merges.txt %ld", dir,
                      json_array_size(merges), n);
        return -1;
    }
    *n_out = n;
    return 0;
}

/* tokenizer.json's added_tokens: ids n_regular on, the first three Qwen's
 * specials; renumbered from 151643. */
static int renumber_added_tokens(const char *dir, json_t *added, long n_regular, long *n_out,
                                 char *err, size_t errlen)
{
    long n = json_is_array(added) ? (long)json_array_size(added) : -1;
    if (n < 3 || n > QWEN_VOCAB_ROWS - QWEN_FIRST_ADDED_ID) {
        errbuf_printf(err, errlen, "--tokenizer-from %s: tokenizer.json: added_tokens must list 3 to %d tokens",
                      dir, QWEN_VOCAB_ROWS - QWEN_FIRST_ADDED_ID);
        return -1;
    }
    for (long k = 0; k < n; k++) {
        json_t *t = json_array_get(added, (size_t)k);
        json_t *id = json_object_get(t, "id");
        const char *content = json_string_value(json_object_get(t, "content"));
        if (!json_is_integer(id) || json_integer_value(id) != n_regular + k || !content
            || (k < 3 && strcmp(content, first_added[k]) != 0)) {
            errbuf_printf(err, errlen, "--tokenizer-from %s: tokenizer.json: added_tokens[%ld] must be %s with"
                          " id %ld", dir, k, k < 3 ? first_added[k] : "a token", n_regular + k);
            return -1;
        }
        if (json_object_set_new(t, "id", json_integer(QWEN_FIRST_ADDED_ID + k)) != 0)
            return -1;
    }
    *n_out = n;
    return 0;
}

/* tokenizer_config.json: added_tokens_decoder keyed by the same ids, moved
 * like tokenizer.json's; a chat_template; model_max_length set. */
static int renumber_config(const char *dir, json_t *config, json_t *added, long n_regular,
                           long model_max_length, char *err, size_t errlen)
{
    json_t *decoder = json_object_get(config, "added_tokens_decoder");
    long n = (long)json_array_size(added);
    if (!json_is_object(decoder) || (long)json_object_size(decoder) != n) {
        errbuf_printf(err, errlen, "--tokenizer-from %s: tokenizer_config.json: added_tokens_decoder must list"
                      " the %ld added tokens of tokenizer.json", dir, n);
        return -1;
    }
    if (!json_is_string(json_object_get(config, "chat_template"))) {
        errbuf_printf(err, errlen, "--tokenizer-from %s: tokenizer_config.json: no chat_template", dir);
        return -1;
    }
    json_t *moved = json_object();
    for (long k = 0; moved && k < n; k++) {
        char key[24];
        snprintf(key, sizeof key, "%ld", n_regular + k);
        json_t *t = json_object_get(decoder, key);
        const char *content = json_string_value(json_object_get(t, "content"));
        const char *expected = json_string_value(json_object_get(json_array_get(added, (size_t)k), "content"));
        if (!content || strcmp(content, expected) != 0) {
            errbuf_printf(err, errlen, "--tokenizer-from %s: tokenizer_config.json: added_tokens_decoder[\"%s\"]"
                          " must be %s", dir, key, expected);
            json_decref(moved);
            return -1;
        }
        snprintf(key, sizeof key, "%ld", QWEN_FIRST_ADDED_ID + k);
        if (json_object_set(moved, key, t) != 0) {
            json_decref(moved);
            moved = NULL;
        }
    }
    if (!moved || json_object_set_new(config, "added_tokens_decoder", moved) != 0
        || json_object_set_new(config, "model_max_length", json_integer(model_max_length)) != 0) {
        errbuf_printf(err, errlen, "out of memory");
        return -1;
    }
    return 0;
}

/* Placeholders for the ids between a small vocabulary and the specials
 * (see mkmodel.h), in vocab.json's object and tokenizer.json's model.vocab;
 * vocab.json's text is written anew. */
static int fill_unused_ids(json_t *vocab, json_t *model, long n_regular, buf *vocab_json, char *err, size_t errlen)
{
    if (n_regular >= QWEN_FIRST_ADDED_ID)
        return 0; /* a real Qwen2.5 vocabulary: vocab.json stays as read */
    json_t *model_vocab = json_object_get(model, "vocab");
    for (long id = n_regular; id < QWEN_FIRST_ADDED_ID; id++) {
        char token[32];
        snprintf(token, sizeof token, "<|unused_%ld|>", id);
        if (json_object_set_new(vocab, token, json_integer(id)) != 0
            || json_object_set_new(model_vocab, token, json_integer(id)) != 0) {
            errbuf_printf(err, errlen, "out of memory");
            return -1;
        }
    }
    char *text = json_dumps(vocab, JSON_COMPACT | JSON_ENSURE_ASCII);
    if (!text) {
        errbuf_printf(err, errlen, "out of memory");
        return -1;
    }
    vocab_json->len = 0;
    buf_append(vocab_json, text, strlen(text));
    free(text);
    return buf_failed(vocab_json) ? (errbuf_printf(err, errlen, "out of memory"), -1) : 0;
}

int bpe_files_load(const char *dir, long model_max_length, bpe_files *out, char *err, size_t errlen)
{
    memset(out, 0, sizeof *out);
    buf tokenizer_text = BUF_INIT, config_text = BUF_INIT;
    json_t *vocab = NULL;
    int status = -1;
    if (read_file(dir, "vocab.json", &out->vocab_json, err, errlen) != 0
        || read_file(dir, "merges.txt", &out->merges_txt, err, errlen) != 0
        || read_file(dir, "tokenizer.json", &tokenizer_text, err, errlen) != 0
        || read_file(dir, "tokenizer_config.json", &config_text, err, errlen) != 0)
        goto done;
    if (!(vocab = load_json(dir, "vocab.json", &out->vocab_json, err, errlen))
        || !(out->tokenizer = load_json(dir, "tokenizer.json", &tokenizer_text, err, errlen))
        || !(out->tokenizer_config = load_json(dir, "tokenizer_config.json", &config_text, err, errlen))
        || check_vocab(dir, vocab, &out->n_regular, err, errlen) != 0)
        goto done;
    json_t *model = json_object_get(out->tokenizer, "model");
    const char *type = json_string_value(json_object_get(model, "type"));
    json_t *merges = json_object_get(model, "merges");
    if (!type || strcmp(type, "BPE") != 0 || !json_is_array(merges)
        || !json_equal(json_object_get(model, "vocab"), vocab)) {
        errbuf_printf(err, errlen, "--tokenizer-from %s: tokenizer.json: model must be a BPE with vocab.json's"
                      " vocab and a list of merges", dir);
        goto done;
    }
    json_t *added = json_object_get(out->tokenizer, "added_tokens");
    if (check_merges(dir, &out->merges_txt, vocab, merges, &out->n_merges, err, errlen) != 0
        || renumber_added_tokens(dir, added, out->n_regular, &out->n_added, err, errlen) != 0
        || renumber_config(dir, out->tokenizer_config, added, out->n_regular, model_max_length, err, errlen) != 0
        || fill_unused_ids(vocab, model, out->n_regular, &out->vocab_json, err, errlen) != 0)
        goto done;
    status = 0;
done:
    json_decref(vocab);
    buf_free(&tokenizer_text);
    buf_free(&config_text);
    if (status != 0)
        bpe_files_free(out);
    return status;
}

int bpe_files_write(const char *dir, const bpe_files *f, char *err, size_t errlen)
{
    json_incref(f->tokenizer); /* hf_write_json takes a reference */
    json_incref(f->tokenizer_config);
    if (outdir_write_file(dir, "vocab.json", f->vocab_json.data, f->vocab_json.len, err, errlen) != 0
        || outdir_write_file(dir, "merges.txt", f->merges_txt.data, f->merges_txt.len, err, errlen) != 0) {
        json_decref(f->tokenizer);
        json_decref(f->tokenizer_config);
        return -1;
    }
    int status = hf_write_json(dir, "tokenizer.json", f->tokenizer, 0, err, errlen);
    if (status != 0)
        json_decref(f->tokenizer_config);
    else
        status = hf_write_json(dir, "tokenizer_config.json", f->tokenizer_config, 1, err, errlen);
    return status;
}

void bpe_files_free(bpe_files *f)
{
    buf_free(&f->vocab_json);
    buf_free(&f->merges_txt);
    json_decref(f->tokenizer);
    json_decref(f->tokenizer_config);
    memset(f, 0, sizeof *f);
}
