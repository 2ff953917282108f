/* chat_template.h - a checkpoint family's chat template, rendered in C.
 *
 * Hugging Face checkpoints carry their chat template as Jinja text in
 * tokenizer_config.json. jen1 does not run Jinja: it recognises the family's
 * template (ChatML, as Qwen2 and Qwen3 use) and renders the same text with C
 * code, taking the template's own default system prompt from it where it has
 * one. An unrecognised template is an error at load time, not a guess.
 *
 *     chat_template *t;
 *     if (chat_template_load(dir, &t, err, sizeof err) != 0) ...
 *     chat_turn turns[] = { {"user", "Hello"} };
 *     buf text = BUF_INIT;
 *     chat_template_render(t, turns, 1, 1, &text, err, sizeof err);
 *     chat_template_free(t);
 *
 * Read-only once loaded; errors are values (-1 and a message). */
#ifndef JEN1_CHAT_TEMPLATE_H
#define JEN1_CHAT_TEMPLATE_H

#include <stddef.h>

#include "buf.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct chat_template chat_template;

/* The same layout as jen1_text.h's jen1_chat_message. */
typedef struct chat_turn {
    const char *role;     /* "system", "user" or "assistant" */
    const char *content;
} chat_turn;

/* Reads tokenizer_config.json's chat_template in dir. Returns 0 and sets *out,
 * or -1 with a message (no file, bad JSON, no template, a template of a
 * family jen1 does not know). */
int chat_template_load(const char *dir, chat_template **out, char *err, size_t errlen);

/* A template from its Jinja text (tests, tools). Returns 0 or -1 as above. */
int chat_template_parse(const char *jinja, chat_template **out, char *err, size_t errlen);

void chat_template_free(chat_template *t);

/* "chatml". */
const char *chat_template_family(const chat_template *t);

/* Appends the rendering of turns to out, exactly as the reference's
 * apply_chat_template(tokenize=False) does. An unknown role or a NULL
 * content: -1. Returns 0 or -1. */
int chat_template_render(const chat_template *t, const chat_turn *turns, int n_turns,
                         int add_generation_prompt, buf *out, char *err, size_t errlen);

#ifdef __cplusplus
}
#endif
#endif
