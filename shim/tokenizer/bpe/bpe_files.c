/* bpe_files.c - see bpe_files.h. */
#include "bpe_files.h"

#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "errbuf.h"

static int file_exists(const char *path)
{
    struct stat st;
    return stat(path, &st) == 0;
}

static json_t *load_json(const char *path, char *err, size_t errlen)
{
    json_error_t jerr;
    json_t *root = json_load_file(path, JSON_REJECT_DUPLICATES, &jerr);
    if (!root)
        errbuf_printf(err, errlen, "%s: line %d: %s", path, jerr.line, jerr.text);
    else if (!json_is_object(root)) {
        errbuf_printf(err, errlen, "%s: not a JSON object", path);
        json_decref(root);
        root = NULL;
    }
    return root;
}

static int push_token(bpe_spec *spec, size_t *cap, bpe_spec_token t)
{
    if (spec->n_tokens == *cap) {
        size_t n = *cap ? *cap * 2 : 1024;
        bpe_spec_token *p = realloc(spec->tokens, n * sizeof *p);
        if (!p)
            return -1;
        spec->tokens = p;
        *cap = n;
    }
    spec->tokens[spec->n_tokens++] = t;
    return 0;
}

static int id_of(json_t *v, int64_t *id)
{
    if (!json_is_integer(v))
        return -1;
    *id = json_integer_value(v);
    return 0;
}

/* A vocabulary object {"token": id, ...}. */
static int read_vocab(bpe_spec *spec, size_t *cap, json_t *vocab, const char *file, char *err, size_t errlen)
{
    if (!json_is_object(vocab)) {
        errbuf_printf(err, errlen, "%s: the vocabulary is not an object of token: id", file);
        return -1;
    }
    const char *key;
    json_t *v;
    json_object_foreach(vocab, key, v) {
        int64_t id;
        if (id_of(v, &id) != 0) {
            errbuf_printf(err, errlen, "%s: token \"%.60s\": its id is not an integer", file, key);
            return -1;
        }
        if (push_token(spec, cap, (bpe_spec_token){{key, strlen(key)}, id, 0, 0}) != 0) {
            errbuf_printf(err, errlen, "out of memory");
            return -1;
        }
    }
    return 0;
}

/* One added token's object, its id already read. */
static int read_added(bpe_spec *spec, size_t *cap, json_t *obj, int64_t id, const char *file, char *err,
                      size_t errlen)
{
    json_t *content = json_object_get(obj, "content");
    if (!json_is_object(obj) || !json_is_string(content) || json_string_length(content) == 0) {
        errbuf_printf(err, errlen, "%s: added token %lld has no content", file, (long long)id);
        return -1;
    }
    /* jen1 matches added tokens exactly; a checkpoint asking for stripping
     * around them would encode differently, so say so rather than guess. */
    static const char *const unsupported[] = {"lstrip", "rstrip", "single_word"};
    for (size_t i = 0; i < 3; i++)
        if (json_is_true(json_object_get(obj, unsupported[i]))) {
            errbuf_printf(err, errlen, "%s: added token \"%.60s\": %s is not supported", file,
                          json_string_value(content), unsupported[i]);
            return -1;
        }
    bpe_spec_token t = {{json_string_value(content), json_string_length(content)}, id, 1,
                        json_is_true(json_object_get(obj, "special"))};
    if (push_token(spec, cap, t) != 0) {
        errbuf_printf(err, errlen, "out of memory");
        return -1;
    }
    return 0;
}

static int push_merge(bpe_spec *spec, size_t *cap, bpe_str a, bpe_str b)
{
    if (spec->n_merges == *cap) {
        size_t n = *cap ? *cap * 2 : 1024;
        bpe_str(*p)[2] = realloc(spec->merges, n * sizeof *p);
        if (!p)
            return -1;
        spec->merges = p;
        *cap = n;
    }
    spec->merges[spec->n_merges][0] = a;
    spec->merges[spec->n_merges][1] = b;
    spec->n_merges++;
    return 0;
}

/* "left right": exactly one space, both sides non-empty (byte-level tokens
 * never hold a space: it is 'Ġ'). */
static int split_merge(const char *s, size_t len, bpe_str *a, bpe_str *b)
{
    const char *sp = memchr(s, ' ', len);
    if (!sp || sp == s || sp == s + len - 1 || memchr(sp + 1, ' ', (size_t)(s + len - sp - 1)))
        return -1;
    *a = (bpe_str){s, (size_t)(sp - s)};
    *b = (bpe_str){sp + 1, (size_t)(s + len - sp - 1)};
    return 0;
}

/* pre_tokenizer: a Split with a Regex (alone or in a Sequence), Isolated,
 * not inverted; a ByteLevel in the sequence must not bring its own regex. */
static int read_pre_tokenizer(bpe_spec *spec, json_t *pre, const char *file, char *err, size_t errlen)
{
    if (!pre || json_is_null(pre))
        return 0;
    json_t *list = json_object_get(pre, "pretokenizers");
    size_t n = json_is_array(list) ? json_array_size(list) : 1;
    for (size_t i = 0; i < n; i++) {
        json_t *p = json_is_array(list) ? json_array_get(list, i) : pre;
        const char *type = json_string_value(json_object_get(p, "type"));
        if (type && strcmp(type, "Sequence") == 0 && !json_is_array(list))
            type = NULL;
        if (type && strcmp(type, "Split") == 0) {
            const char *re = json_string_value(json_object_get(json_object_get(p, "pattern"), "Regex"));
            const char *behavior = json_string_value(json_object_get(p, "behavior"));
            if (!re || !behavior || strcmp(behavior, "Isolated") != 0 ||
                json_is_true(json_object_get(p, "invert"))) {
                errbuf_printf(err, errlen, "%s: pre_tokenizer: only an Isolated Split on a Regex is supported",
                              file);
                return -1;
            }
            spec->pattern = re;
        } else if (type && strcmp(type, "ByteLevel") == 0) {
            if (json_is_true(json_object_get(p, "use_regex")) ||
                json_is_true(json_object_get(p, "add_prefix_space"))) {
                errbuf_printf(err, errlen, "%s: pre_tokenizer: ByteLevel with use_regex or add_prefix_space "
                              "is not supported", file);
                return -1;
            }
        } else {
            errbuf_printf(err, errlen, "%s: pre_tokenizer: type %s is not supported", file,
                          type ? type : "(none)");
            return -1;
        }
    }
    return 0;
}

static int read_tokenizer_json(bpe_spec *spec, const char *file, char *err, size_t errlen)
{
    json_t *root = spec->json[0] = load_json(file, err, errlen);
    if (!root)
        return -1;
    snprintf(spec->vocab_file, sizeof spec->vocab_file, "%s", file);
    snprintf(spec->merges_file, sizeof spec->merges_file, "%s", file);
    snprintf(spec->added_file, sizeof spec->added_file, "%s", file);
    json_t *model = json_object_get(root, "model");
    const char *type = json_string_value(json_object_get(model, "type"));
    if (!json_is_object(model) || (type && strcmp(type, "BPE") != 0)) {
        errbuf_printf(err, errlen, "%s: model is not a BPE model", file);
        return -1;
    }
    json_t *norm = json_object_get(root, "normalizer");
    const char *norm_type = json_string_value(json_object_get(norm, "type"));
    if (norm && !json_is_null(norm) && !(norm_type && strcmp(norm_type, "NFC") == 0)) {
        errbuf_printf(err, errlen, "%s: normalizer %s is not supported (NFC or none)", file,
                      norm_type ? norm_type : "(no type)");
        return -1;
    }
    spec->nfc = norm_type != NULL;
    if (read_pre_tokenizer(spec, json_object_get(root, "pre_tokenizer"), file, err, errlen) != 0)
        return -1;
    size_t cap = 0;
    if (read_vocab(spec, &cap, json_object_get(model, "vocab"), file, err, errlen) != 0)
        return -1;
    json_t *added = json_object_get(root, "added_tokens");
    if (added && !json_is_array(added)) {
        errbuf_printf(err, errlen, "%s: added_tokens is not an array", file);
        return -1;
    }
    size_t i;
    json_t *v;
    json_array_foreach(added, i, v) {
        int64_t id;
        if (id_of(json_object_get(v, "id"), &id) != 0) {
            errbuf_printf(err, errlen, "%s: added token %zu has no integer id", file, i);
            return -1;
        }
        if (read_added(spec, &cap, v, id, file, err, errlen) != 0)
            return -1;
    }
    json_t *merges = json_object_get(model, "merges");
    if (!json_is_array(merges)) {
        errbuf_printf(err, errlen, "%s: model.merges is not an array", file);
        return -1;
    }
    size_t merge_cap = 0;
    json_array_foreach(merges, i, v) {
        bpe_str a, b;
        int ok;
        if (json_is_string(v))
            ok = split_merge(json_string_value(v), json_string_length(v), &a, &b) == 0;
        else {
            json_t *l = json_array_get(v, 0), *r = json_array_get(v, 1);
            ok = json_is_array(v) && json_array_size(v) == 2 && json_is_string(l) && json_is_string(r);
            if (ok) {
                a = (bpe_str){json_string_value(l), json_string_length(l)};
                b = (bpe_str){json_string_value(r), json_string_length(r)};
            }
        }
        if (!ok) {
            errbuf_printf(err, errlen, "%s: merge %zu is neither \"left right\" nor [left, right]", file, i);
            return -1;
        }
        if (push_merge(spec, &merge_cap, a, b) != 0) {
            errbuf_printf(err, errlen, "out of memory");
            return -1;
        }
    }
    return 0;
}

static int read_merges_txt(bpe_spec *spec, const char *file, char *err, size_t errlen)
{
    FILE *f = fopen(file, "rb");
    if (!f) {
        errbuf_printf(err, errlen, "%s: cannot open it", file);
        return -1;
    }
    int rc = buf_read_stream(&spec->merges_text, f, (size_t)1 << 30);
    fclose(f);
    if (rc != 0) {
        errbuf_printf(err, errlen, "%s: cannot read it", file);
        return -1;
    }
    snprintf(spec->merges_file, sizeof spec->merges_file, "%s", file);
    char *s = spec->merges_text.data;
    size_t len = spec->merges_text.len, cap = 0;
    if (len > 0 && memchr(s, '\0', len)) {
        errbuf_printf(err, errlen, "%s: holds a NUL byte", file);
        return -1;
    }
    size_t line = 0;
    for (size_t at = 0; at < len; line++) {
        char *nl = memchr(s + at, '\n', len - at);
        size_t end = nl ? (size_t)(nl - s) : len, e = end;
        while (e > at && (s[e - 1] == '\r' || s[e - 1] == ' ' || s[e - 1] == '\t'))
            e--;
        size_t b = at;
        while (b < e && (s[b] == ' ' || s[b] == '\t'))
            b++;
        int header = line == 0 && e - b >= 9 && memcmp(s + b, "#version:", 9) == 0;
        if (!header && e > b) {
            bpe_str l, r;
            if (split_merge(s + b, e - b, &l, &r) != 0) {
                errbuf_printf(err, errlen, "%s: line %zu is not two tokens separated by a space", file,
                              line + 1);
                return -1;
            }
            if (push_merge(spec, &cap, l, r) != 0) {
                errbuf_printf(err, errlen, "out of memory");
                return -1;
            }
        }
        at = end + 1;
    }
    return 0;
}

/* tokenizer_config.json's added_tokens_decoder: {"id": {content, ...}}. */
static int read_added_decoder(bpe_spec *spec, const char *file, char *err, size_t errlen)
{
    json_t *root = spec->json[1] = load_json(file, err, errlen);
    if (!root)
        return -1;
    snprintf(spec->added_file, sizeof spec->added_file, "%s", file);
    json_t *dec = json_object_get(root, "added_tokens_decoder");
    if (!dec)
        return 0;
    if (!json_is_object(dec)) {
        errbuf_printf(err, errlen, "%s: added_tokens_decoder is not an object", file);
        return -1;
    }
    size_t cap = spec->n_tokens;   /* the array is full: push_token doubles it */
    const char *key;
    json_t *v;
    json_object_foreach(dec, key, v) {
        char *end;
        long long id = strtoll(key, &end, 10);
        if (!*key || *end) {
            errbuf_printf(err, errlen, "%s: added_tokens_decoder key \"%.40s\" is not an id", file, key);
            return -1;
        }
        if (read_added(spec, &cap, v, id, file, err, errlen) != 0)
            return -1;
    }
    return 0;
}

static int read_vocab_json(bpe_spec *spec, const char *file, char *err, size_t errlen)
{
    json_t *root = spec->json[2] = load_json(file, err, errlen);
    if (!root)
        return -1;
    snprintf(spec->vocab_file, sizeof spec->vocab_file, "%s", file);
    size_t cap = 0;
    return read_vocab(spec, &cap, root, file, err, errlen);
}

int bpe_spec_read(const char *dir, bpe_spec *spec, char *err, size_t errlen)
{
    memset(spec, 0, sizeof *spec);
    char path[4096];
    int rc;
    snprintf(path, sizeof path, "%s/tokenizer.json", dir);
    if (file_exists(path)) {
        rc = read_tokenizer_json(spec, path, err, errlen);
    } else {
        spec->nfc = 1;   /* the slow Qwen2Tokenizer normalises to NFC */
        snprintf(path, sizeof path, "%s/vocab.json", dir);
        rc = read_vocab_json(spec, path, err, errlen);
        if (rc == 0) {
            snprintf(path, sizeof path, "%s/merges.txt", dir);
            rc = read_merges_txt(spec, path, err, errlen);
        }
        snprintf(path, sizeof path, "%s/tokenizer_config.json", dir);
        if (rc == 0 && file_exists(path))
            rc = read_added_decoder(spec, path, err, errlen);
    }
    if (rc != 0)
        bpe_spec_free(spec);
    return rc;
}

void bpe_spec_free(bpe_spec *spec)
{
    free(spec->tokens);
    free(spec->merges);
    for (size_t i = 0; i < 3; i++)
        json_decref(spec->json[i]);
    buf_free(&spec->merges_text);
    memset(spec, 0, sizeof *spec);
}
