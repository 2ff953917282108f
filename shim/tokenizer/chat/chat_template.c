/* chat_template.c - see chat_template.h. ChatML is recognised by the
 * template's own text: it wraps each message as '<|im_start|>' + role + '\n'
 * + content + '<|im_end|>' + '\n' and opens the reply with
 * '<|im_start|>assistant\n'. Qwen2 and Qwen2.5 templates also carry a default
 * system prompt, a string literal '<|im_start|>system\n...<|im_end|>\n'
 * emitted when the first message is not a system message; Qwen3's has none. */
#include "chat_template.h"

#include <jansson.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "errbuf.h"

struct chat_template {
    char *default_system;   /* NULL: the family has no default system prompt */
};

/* What every ChatML template says, as Jinja source text. */
static const char *const CHATML_MARKERS[] = {
    "<|im_end|>",
    "'<|im_start|>' + message",
    "'<|im_start|>assistant\\n'",
    "add_generation_prompt",
};

static const char SYSTEM_OPEN[] = "'<|im_start|>system\\n";
static const char SYSTEM_CLOSE[] = "<|im_end|>\n";

/* Decodes the Jinja string literal whose body starts at s (after the
 * opening quote) into out, up to the closing quote. Returns 0, or -1 when
 * the literal does not end. */
static int read_literal(const char *s, buf *out, const char **end)
{
    for (; *s && *s != '\''; s++) {
        if (*s != '\\') {
            buf_putc(out, *s);
            continue;
        }
        char e = *++s;
        switch (e) {
        case 'n': buf_putc(out, '\n'); break;
        case 't': buf_putc(out, '\t'); break;
        case 'r': buf_putc(out, '\r'); break;
        case '\\': case '\'': case '"': buf_putc(out, e); break;
        case '\0': return -1;
        default: buf_putc(out, '\\'); buf_putc(out, e); break;
        }
    }
    *end = s;
    return *s == '\'' ? 0 : -1;
}

/* The default system prompt: the first literal that opens a system message
 * and closes it itself, rather than adding messages[0]'s content. */
static int find_default_system(const char *jinja, char **out)
{
    *out = NULL;
    for (const char *p = strstr(jinja, SYSTEM_OPEN); p; p = strstr(p + 1, SYSTEM_OPEN)) {
        const char *body = p + 1, *end;
        buf lit = BUF_INIT;
        int rc = read_literal(body, &lit, &end);
        int failed = buf_failed(&lit);
        if (rc != 0 || failed) {
            buf_free(&lit);
            return failed ? -1 : 0;
        }
        size_t open = strlen("<|im_start|>system\n"), close = strlen(SYSTEM_CLOSE);
        if (lit.len >= open + close && memcmp(lit.data + lit.len - close, SYSTEM_CLOSE, close) == 0) {
            size_t n = lit.len - open - close;
            memmove(lit.data, lit.data + open, n);
            lit.data[n] = '\0';
            *out = lit.data;
            return 0;
        }
        buf_free(&lit);
    }
    return 0;
}

int chat_template_parse(const char *jinja, chat_template **out, char *err, size_t errlen)
{
    *out = NULL;
    if (!jinja) {
        errbuf_printf(err, errlen, "no chat template");
        return -1;
    }
    for (size_t i = 0; i < sizeof CHATML_MARKERS / sizeof *CHATML_MARKERS; i++)
        if (!strstr(jinja, CHATML_MARKERS[i])) {
            errbuf_printf(err, errlen, "the chat template is of a family jen1 does not know (not ChatML: "
                          "it lacks %s)", CHATML_MARKERS[i]);
            return -1;
        }
    chat_template *t = calloc(1, sizeof *t);
    if (!t || find_default_system(jinja, &t->default_system) != 0) {
        free(t);
        errbuf_printf(err, errlen, "out of memory");
        return -1;
    }
    *out = t;
    return 0;
}

/* tokenizer_config.json's chat_template: a string, or a list of named
 * templates of which "default" is the one. */
static const char *template_text(json_t *v)
{
    if (json_is_string(v))
        return json_string_value(v);
    size_t i;
    json_t *item;
    json_array_foreach(v, i, item) {
        const char *name = json_string_value(json_object_get(item, "name"));
        if (name && strcmp(name, "default") == 0)
            return json_string_value(json_object_get(item, "template"));
    }
    return NULL;
}

/* Newer checkpoints keep the template in chat_template.jinja instead. */
static int parse_jinja_file(const char *path, chat_template **out, char *err, size_t errlen)
{
    FILE *f = fopen(path, "rb");
    buf text = BUF_INIT;
    int rc = f ? buf_read_stream(&text, f, (size_t)1 << 24) : -1;
    if (f)
        fclose(f);
    if (rc != 0 || text.len == 0 || memchr(text.data, '\0', text.len)) {
        errbuf_printf(err, errlen, "%s: cannot read a template from it", path);
        buf_free(&text);
        return -1;
    }
    char msg[512] = "";
    rc = chat_template_parse(text.data, out, msg, sizeof msg);
    buf_free(&text);
    if (rc != 0)
        errbuf_printf(err, errlen, "%s: %s", path, msg);
    return rc;
}

int chat_template_load(const char *dir, chat_template **out, char *err, size_t errlen)
{
    *out = NULL;
    char path[4096];
    snprintf(path, sizeof path, "%s/tokenizer_config.json", dir ? dir : "");
    json_error_t jerr;
    json_t *root = json_load_file(path, JSON_REJECT_DUPLICATES, &jerr);
    if (!root) {
        errbuf_printf(err, errlen, "%s: line %d: %s", path, jerr.line, jerr.text);
        return -1;
    }
    json_t *v = json_object_get(root, "chat_template");
    const char *text = template_text(v);
    int rc;
    if (text) {
        char msg[512] = "";
        rc = chat_template_parse(text, out, msg, sizeof msg);
        if (rc != 0)
            errbuf_printf(err, errlen, "%s: %s", path, msg);
    } else if (v) {
        errbuf_printf(err, errlen, "%s: chat_template is neither a string nor a list with a \"default\" one",
                      path);
        rc = -1;
    } else {
        char jinja[4096];
        struct stat st;
        snprintf(jinja, sizeof jinja, "%s/chat_template.jinja", dir);
        if (stat(jinja, &st) == 0)
            rc = parse_jinja_file(jinja, out, err, errlen);
        else {
            errbuf_printf(err, errlen, "%s: no chat_template (and no chat_template.jinja beside it)", path);
            rc = -1;
        }
    }
    json_decref(root);
    return rc;
}

void chat_template_free(chat_template *t)
{
    if (!t)
        return;
    free(t->default_system);
    free(t);
}

const char *chat_template_family(const chat_template *t) { return t ? "chatml" : NULL; }

static void put_message(buf *out, const char *role, const char *content)
{
    buf_printf(out, "<|im_start|>%s\n", role);
    buf_puts(out, content);
    buf_puts(out, "<|im_end|>\n");
}

int chat_template_render(const chat_template *t, const chat_turn *turns, int n_turns,
                         int add_generation_prompt, buf *out, char *err, size_t errlen)
{
    if (!t || !out || n_turns < 1 || !turns) {
        errbuf_printf(err, errlen, "chat_template_render: %s", n_turns < 1 ? "no messages" : "bad arguments");
        return -1;
    }
    for (int i = 0; i < n_turns; i++) {
        const char *role = turns[i].role;
        if (!role || (strcmp(role, "system") != 0 && strcmp(role, "user") != 0 &&
                      strcmp(role, "assistant") != 0)) {
            errbuf_printf(err, errlen, "message %d: role %s is not system, user or assistant", i,
                          role ? role : "(none)");
            return -1;
        }
        if (!turns[i].content) {
            errbuf_printf(err, errlen, "message %d: no content", i);
            return -1;
        }
    }
    if (t->default_system && strcmp(turns[0].role, "system") != 0)
        put_message(out, "system", t->default_system);
    for (int i = 0; i < n_turns; i++)
        put_message(out, turns[i].role, turns[i].content);
    if (add_generation_prompt)
        buf_puts(out, "<|im_start|>assistant\n");
    if (buf_failed(out)) {
        errbuf_printf(err, errlen, "out of memory");
        return -1;
    }
    return 0;
}
