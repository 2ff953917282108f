/* http_tokens.c - the token table and its rate limits; see http_tokens.h. */
#include "http_tokens.h"

#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "buf.h"

enum { NAME_MAX_LEN = 63, SECRET_MIN_LEN = 16, SECRET_MAX_LEN = 511, RATE_MAX = 1000000 };

struct token {
    struct http_caller caller;
    char name[NAME_MAX_LEN + 1];
    char *secret; /* NULL: the anonymous caller */
    size_t secret_len;
    int rate;      /* per minute; 0: unlimited */
    double level;  /* requests left in the bucket */
    int64_t last_ms;
};

struct http_tokens {
    int default_rate;
    struct token **tokens;
    size_t n;
    struct token anonymous;
};

static void token_init(struct token *k, const char *name, int rate, bool may_prioritize)
{
    snprintf(k->name, sizeof k->name, "%s", name);
    k->caller.name = k->name;
    k->caller.may_prioritize = may_prioritize;
    k->rate = rate;
    k->level = rate;
    k->last_ms = -1;
}

struct http_tokens *http_tokens_new(int default_rate)
{
    struct http_tokens *t = calloc(1, sizeof *t);
    if (!t)
        return NULL;
    t->default_rate = default_rate > 0 ? default_rate : 0;
    token_init(&t->anonymous, "", t->default_rate, true);
    return t;
}

void http_tokens_free(struct http_tokens *t)
{
    if (!t)
        return;
    for (size_t i = 0; i < t->n; i++) {
        memset(t->tokens[i]->secret, 0, t->tokens[i]->secret_len);
        free(t->tokens[i]->secret);
        free(t->tokens[i]);
    }
    free(t->tokens);
    free(t);
}

static bool name_ok(const char *s)
{
    size_t n = strlen(s);
    if (n == 0 || n > NAME_MAX_LEN)
        return false;
    for (size_t i = 0; i < n; i++)
        if (!isalnum((unsigned char)s[i]) && s[i] != '_' && s[i] != '.' && s[i] != '-')
            return false;
    return true;
}

static bool secret_ok(const char *s)
{
    size_t n = strlen(s);
    if (n == 0 || n > SECRET_MAX_LEN)
        return false;
    for (size_t i = 0; i < n; i++)
        if (!isgraph((unsigned char)s[i]))
            return false;
    return true;
}

int http_tokens_add(struct http_tokens *t, const char *name, const char *secret, int rate,
                    bool may_prioritize, char *err, size_t errlen)
{
    if (!name_ok(name)) {
        snprintf(err, errlen, "a token name is 1 to %d of A-Z a-z 0-9 _ . -", NAME_MAX_LEN);
        return -1;
    }
    if (!secret_ok(secret)) {
        snprintf(err, errlen, "token %s: a secret is 1 to %d printable bytes without spaces", name,
                 SECRET_MAX_LEN);
        return -1;
    }
    if (rate < 0 || rate > RATE_MAX) {
        snprintf(err, errlen, "token %s: rate must be 0 to %d a minute", name, RATE_MAX);
        return -1;
    }
    for (size_t i = 0; i < t->n; i++) {
        if (strcmp(t->tokens[i]->name, name) == 0 || strcmp(t->tokens[i]->secret, secret) == 0) {
            snprintf(err, errlen, "token %s: its name or its secret is given twice", name);
            return -1;
        }
    }
    struct token **grown = realloc(t->tokens, (t->n + 1) * sizeof *grown);
    if (!grown) {
        snprintf(err, errlen, "out of memory");
        return -1;
    }
    t->tokens = grown;
    struct token *k = calloc(1, sizeof *k);
    if (!k || !(k->secret = strdup(secret))) {
        free(k);
        snprintf(err, errlen, "out of memory");
        return -1;
    }
    k->secret_len = strlen(secret);
    token_init(k, name, rate, may_prioritize);
    t->tokens[t->n++] = k;
    return 0;
}

/* One line's fields after NAME SECRET: rate=N, priority. */
static int parse_rights(struct http_tokens *t, char *rest, int *rate, bool *prio)
{
    *rate = t->default_rate;
    *prio = false;
    for (char *w = strtok(rest, " \t"); w; w = strtok(NULL, " \t")) {
        if (strcmp(w, "priority") == 0) {
            *prio = true;
        } else if (strncmp(w, "rate=", 5) == 0 && isdigit((unsigned char)w[5])) {
            char *end;
            errno = 0;
            long n = strtol(w + 5, &end, 10);
            if (*end || errno || n > RATE_MAX)
                return -1;
            *rate = (int)n;
        } else {
            return -1;
        }
    }
    return 0;
}

int http_tokens_load_file(struct http_tokens *t, const char *path, char *err, size_t errlen)
{
    FILE *f = fopen(path, "re");
    if (!f) {
        snprintf(err, errlen, "cannot open the tokens file %s: %s", path, strerror(errno));
        return -1;
    }
    buf text = BUF_INIT;
    int rc = buf_read_stream(&text, f, 1 << 20);
    fclose(f);
    if (rc != 0 || !text.data) {
        buf_free(&text);
        snprintf(err, errlen, "cannot read the tokens file %s: %s", path,
                 rc > 0 ? "over 1 MiB" : rc < 0 ? "read error" : "empty");
        return -1;
    }
    rc = 0;
    int line_no = 0;
    for (char *line = text.data, *next; line && rc == 0; line = next) {
        next = strchr(line, '\n');
        if (next)
            *next++ = '\0';
        line_no++;
        line[strcspn(line, "#\r")] = '\0';
        char *name = strtok(line, " \t"), *secret = name ? strtok(NULL, " \t") : NULL;
        if (!name)
            continue;
        char *rest = secret ? strtok(NULL, "") : NULL;
        int rate;
        bool prio;
        char why[200];
        if (!secret || parse_rights(t, rest ? rest : (char[]){ "" }, &rate, &prio) != 0) {
            snprintf(err, errlen, "%s line %d: not NAME SECRET [rate=N] [priority]", path, line_no);
            rc = -1;
        } else if (strlen(secret) < SECRET_MIN_LEN) {
            snprintf(err, errlen, "%s line %d: token %s: a secret of at least %d bytes, please", path,
                     line_no, name, SECRET_MIN_LEN);
            rc = -1;
        } else if (http_tokens_add(t, name, secret, rate, prio, why, sizeof why) != 0) {
            snprintf(err, errlen, "%s line %d: %s", path, line_no, why);
            rc = -1;
        }
    }
    if (text.data)
        memset(text.data, 0, text.len);
    buf_free(&text);
    if (rc == 0 && t->n == 0) {
        snprintf(err, errlen, "the tokens file %s holds no token", path);
        rc = -1;
    }
    return rc;
}

size_t http_tokens_count(const struct http_tokens *t) { return t->n; }

const char *http_tokens_secret(const struct http_tokens *t, size_t i)
{
    return i < t->n ? t->tokens[i]->secret : NULL;
}

/* Compares in a time that depends on the secret's length only. */
static bool equal_constant_time(const char *given, size_t given_len, const char *secret,
                                size_t secret_len)
{
    unsigned char diff = given_len != secret_len;
    for (size_t i = 0; i < secret_len; i++)
        diff |= (unsigned char)secret[i] ^ (unsigned char)(i < given_len ? given[i] : 0);
    return diff == 0;
}

const struct http_caller *http_tokens_find(struct http_tokens *t, const char *given, size_t len)
{
    if (t->n == 0)
        return &t->anonymous.caller;
    const struct http_caller *found = NULL;
    for (size_t i = 0; i < t->n; i++) /* every one, so the time tells not which matched */
        if (given && equal_constant_time(given, len, t->tokens[i]->secret, t->tokens[i]->secret_len))
            found = &t->tokens[i]->caller;
    return found;
}

bool http_tokens_take(struct http_tokens *t, const struct http_caller *caller, int64_t now_ms,
                      int *retry_after_s)
{
    (void)t;
    struct token *k = (struct token *)caller; /* caller is a token's first member */
    if (k->rate == 0)
        return true;
    if (k->last_ms >= 0 && now_ms > k->last_ms) {
        k->level += (double)(now_ms - k->last_ms) * k->rate / 60000.0;
        if (k->level > k->rate)
            k->level = k->rate;
    }
    k->last_ms = now_ms;
    if (k->level >= 1.0) {
        k->level -= 1.0;
        return true;
    }
    int wait = (int)((1.0 - k->level) * 60.0 / k->rate + 0.999);
    *retry_after_s = wait < 1 ? 1 : wait;
    return false;
}
