/* messages.c - see messages.h. */
#include "messages.h"

#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int known_role(const char *role)
{
    return strcmp(role, "system") == 0 || strcmp(role, "user") == 0 || strcmp(role, "assistant") == 0;
}

int chat_file_read(const char *path, chat_file *out, char *err, size_t errlen)
{
    memset(out, 0, sizeof out[0]);
    json_error_t je;
    json_t *doc = json_load_file(path, JSON_REJECT_DUPLICATES, &je);
    if (!doc) {
        snprintf(err, errlen, "%s: not JSON (line %d: %s)", path, je.line, je.text);
        return -1;
    }
    size_t n = json_is_array(doc) ? json_array_size(doc) : 0;
    if (n == 0) {
        snprintf(err, errlen, "%s: wants a non-empty JSON array of {\"role\", \"content\"} objects", path);
        json_decref(doc);
        return -1;
    }
    out->messages = calloc(n, sizeof *out->messages);
    if (!out->messages) {
        snprintf(err, errlen, "%s: out of memory", path);
        json_decref(doc);
        return -1;
    }
    out->doc = doc;
    for (size_t i = 0; i < n; i++) {
        json_t *m = json_array_get(doc, i);
        const char *role = json_string_value(json_object_get(m, "role"));
        const char *content = json_string_value(json_object_get(m, "content"));
        if (!json_is_object(m) || !role || !content || !known_role(role)) {
            snprintf(err, errlen, "%s: message %zu wants a \"role\" (system, user or assistant) and a string "
                                  "\"content\"", path, i);
            chat_file_free(out);
            return -1;
        }
        out->messages[i] = (jen1_chat_message){ role, content };
    }
    out->n_messages = (int)n;
    return 0;
}

void chat_file_free(chat_file *c)
{
    free(c->messages);
    json_decref(c->doc);
    memset(c, 0, sizeof c[0]);
}
