/* test_chat_template.c - shim/tokenizer/chat on the qwen2-tiny fixture: the
 * golden chats of golden/index.json rendered exactly and, encoded with the
 * special tokens parsed, to their exact ids; a Qwen3-style template without a
 * default system prompt; templates read from a list or chat_template.jinja;
 * unknown families, roles and broken files as errors. */
#include "bpe.h"
#include "buf.h"
#include "chat_template.h"
#include "check.h"

#include <jansson.h>
#include <stdint.h>
#include <string.h>
#include <sys/stat.h>

static char err[1024];

/* A path inside the qwen2-tiny fixture ($JEN1_QWEN2_FIXTURES overrides it). */
static const char *fixture(const char *rel)
{
    static char path[4][512];
    static int next;
    const char *dir = getenv("JEN1_QWEN2_FIXTURES");
    char *out = path[next++ % 4];
    snprintf(out, sizeof path[0], "%s/%s", dir ? dir : "tests/fixtures/qwen2-tiny", rel);
    return out;
}

static const char *scratch_dir(const char *name)
{
    const char *dir = check_scratch_path("test_chat_template", name);
    mkdir(dir, 0755);
    return dir;
}

static int write_text(const char *dir, const char *name, const char *text)
{
    char path[1024];
    snprintf(path, sizeof path, "%s/%s", dir, name);
    FILE *f = fopen(path, "wb");
    if (!f)
        return -1;
    size_t len = strlen(text), put = fwrite(text, 1, len, f);
    return fclose(f) == 0 && put == len ? 0 : -1;
}

/* Renders a golden chat's messages (at most 8). */
static int render_messages(const chat_template *t, json_t *messages, int gen, buf *out)
{
    chat_turn turns[8];
    size_t n = json_array_size(messages);
    if (n > 8)
        return -1;
    for (size_t i = 0; i < n; i++) {
        json_t *m = json_array_get(messages, i);
        turns[i] = (chat_turn){json_string_value(json_object_get(m, "role")),
                               json_string_value(json_object_get(m, "content"))};
    }
    return chat_template_render(t, turns, (int)n, gen, out, err, sizeof err);
}

TEST(golden_chats)
{
    const char *path = fixture("golden/index.json");
    json_t *golden = json_load_file(path, JSON_ALLOW_NUL, NULL);
    REQUIRE(golden, "cannot read %s", path);
    chat_template *t;
    bpe_tokenizer *tok;
    REQUIRE(chat_template_load(fixture("model"), &t, err, sizeof err) == 0, "%s", err);
    REQUIRE(bpe_load(fixture("model"), &tok, err, sizeof err) == 0, "%s", err);
    CHECK(strcmp(chat_template_family(t), "chatml") == 0, "family %s", chat_template_family(t));
    json_t *chats = json_object_get(golden, "chat");
    CHECK(json_array_size(chats) == 3, "%zu chats", json_array_size(chats));
    size_t i;
    json_t *c;
    json_array_foreach(chats, i, c) {
        buf text = BUF_INIT;
        int gen = json_is_true(json_object_get(c, "add_generation_prompt"));
        REQUIRE(render_messages(t, json_object_get(c, "messages"), gen, &text) == 0, "chat %zu: %s", i, err);
        const char *want = json_string_value(json_object_get(c, "text"));
        CHECK(strcmp(text.data, want) == 0, "chat %zu renders as\n%s\nnot\n%s", i, text.data, want);
        int64_t ids[256];
        int n;
        REQUIRE(bpe_encode(tok, text.data, text.len, 1, ids, 256, &n, err, sizeof err) == 0, "%s", err);
        json_t *want_ids = json_object_get(c, "ids");
        int same = (size_t)n == json_array_size(want_ids);
        for (int k = 0; same && k < n; k++)
            same = ids[k] == json_integer_value(json_array_get(want_ids, (size_t)k));
        CHECK(same, "chat %zu: %d ids, wanted %zu (or different ones)", i, n, json_array_size(want_ids));
        buf_free(&text);
    }
    bpe_free(tok);
    chat_template_free(t);
    json_decref(golden);
}

TEST(default_system_prompt_and_generation_prompt)
{
    chat_template *t;
    REQUIRE(chat_template_load(fixture("model"), &t, err, sizeof err) == 0, "%s", err);
    chat_turn user = {"user", "Hi"};
    buf text = BUF_INIT;
    REQUIRE(chat_template_render(t, &user, 1, 0, &text, err, sizeof err) == 0, "%s", err);
    CHECK(strcmp(text.data, "<|im_start|>system\nYou are Qwen, created by Alibaba Cloud. You are a helpful "
                            "assistant.<|im_end|>\n<|im_start|>user\nHi<|im_end|>\n") == 0,
          "without the generation prompt: %s", text.data);
    buf_free(&text);
    /* A system message later on is a message like any other. */
    chat_turn turns[] = {{"user", "a"}, {"system", "b"}, {"assistant", ""}};
    REQUIRE(chat_template_render(t, turns, 3, 1, &text, err, sizeof err) == 0, "%s", err);
    CHECK(strstr(text.data, "<|im_start|>system\nYou are Qwen") == text.data &&
              strstr(text.data, "<|im_start|>system\nb<|im_end|>\n<|im_start|>assistant\n<|im_end|>\n"
                                "<|im_start|>assistant\n"),
          "%s", text.data);
    buf_free(&text);
    chat_template_free(t);
}

/* Qwen3's template (its no-tools path, as far as ChatML goes) has no
 * default system prompt. */
static const char QWEN3_LIKE[] =
    "{%- if messages[0].role == 'system' %}\n"
    "    {{- '<|im_start|>system\\n' + messages[0].content + '<|im_end|>\\n' }}\n"
    "{%- endif %}\n"
    "{%- for message in messages %}\n"
    "    {%- if (message.role == \"user\") or (message.role == \"system\" and not loop.first) %}\n"
    "        {{- '<|im_start|>' + message.role + '\\n' + message.content + '<|im_end|>' + '\\n' }}\n"
    "    {%- endif %}\n"
    "{%- endfor %}\n"
    "{%- if add_generation_prompt %}\n"
    "    {{- '<|im_start|>assistant\\n' }}\n"
    "{%- endif %}\n";

TEST(template_without_default_system)
{
    chat_template *t;
    REQUIRE(chat_template_parse(QWEN3_LIKE, &t, err, sizeof err) == 0, "%s", err);
    chat_turn user = {"user", "Hi"};
    buf text = BUF_INIT;
    REQUIRE(chat_template_render(t, &user, 1, 1, &text, err, sizeof err) == 0, "%s", err);
    CHECK(strcmp(text.data, "<|im_start|>user\nHi<|im_end|>\n<|im_start|>assistant\n") == 0, "%s", text.data);
    buf_free(&text);
    chat_template_free(t);
    /* An escaped quote inside the default prompt is read as Jinja does. */
    const char *escaped = "{{- '<|im_start|>system\\nIt\\'s me.<|im_end|>\\n' }}"
                          "{{- '<|im_start|>' + message['role'] }} add_generation_prompt "
                          "'<|im_start|>assistant\\n'";
    REQUIRE(chat_template_parse(escaped, &t, err, sizeof err) == 0, "%s", err);
    REQUIRE(chat_template_render(t, &user, 1, 0, &text, err, sizeof err) == 0, "%s", err);
    CHECK(strncmp(text.data, "<|im_start|>system\nIt's me.<|im_end|>\n", 37) == 0, "%s", text.data);
    buf_free(&text);
    chat_template_free(t);
}

TEST(bad_templates_and_turns)
{
    chat_template *t = (chat_template *)&t;
    CHECK(chat_template_parse("{% for m in messages %}[INST] {{ m.content }} [/INST]{% endfor %}", &t, err,
                              sizeof err) == -1 && t == NULL && strstr(err, "family"),
          "a Llama-2 template: %s", err);
    CHECK(chat_template_parse(NULL, &t, err, sizeof err) == -1, "no template");
    REQUIRE(chat_template_parse(QWEN3_LIKE, &t, err, sizeof err) == 0, "%s", err);
    buf text = BUF_INIT;
    chat_turn tool = {"tool", "x"}, null_content = {"user", NULL}, no_role = {NULL, "x"};
    CHECK(chat_template_render(t, &tool, 1, 1, &text, err, sizeof err) == -1 && strstr(err, "tool"), "%s", err);
    CHECK(chat_template_render(t, &null_content, 1, 1, &text, err, sizeof err) == -1, "NULL content");
    CHECK(chat_template_render(t, &no_role, 1, 1, &text, err, sizeof err) == -1, "NULL role");
    CHECK(chat_template_render(t, &tool, 0, 1, &text, err, sizeof err) == -1, "no messages");
    CHECK(text.len == 0, "nothing appended on error");
    buf_free(&text);
    chat_template_free(t);
    chat_template_free(NULL);
}

TEST(template_files)
{
    chat_template *t;
    const char *dir = scratch_dir("list");
    char cfg[4096];
    snprintf(cfg, sizeof cfg, "{\"chat_template\": [{\"name\": \"tool_use\", \"template\": \"x\"}, "
                              "{\"name\": \"default\", \"template\": %s}]}",
             "\"{{- '<|im_start|>' + message['role'] }} add_generation_prompt '<|im_start|>assistant\\\\n' <|im_end|>\"");
    REQUIRE(write_text(dir, "tokenizer_config.json", cfg) == 0, "write");
    CHECK(chat_template_load(dir, &t, err, sizeof err) == 0, "a list of templates: %s", err);
    chat_template_free(t);

    dir = scratch_dir("jinja-file");
    REQUIRE(write_text(dir, "tokenizer_config.json", "{\"eos_token\": \"<|im_end|>\"}") == 0, "write");
    REQUIRE(write_text(dir, "chat_template.jinja", QWEN3_LIKE) == 0, "write");
    CHECK(chat_template_load(dir, &t, err, sizeof err) == 0, "chat_template.jinja: %s", err);
    chat_template_free(t);
    REQUIRE(write_text(dir, "chat_template.jinja", "{{ messages }}") == 0, "write");
    CHECK(chat_template_load(dir, &t, err, sizeof err) == -1 && strstr(err, "chat_template.jinja") &&
              strstr(err, "family"), "an unknown .jinja: %s", err);

    dir = scratch_dir("none");
    REQUIRE(write_text(dir, "tokenizer_config.json", "{}") == 0, "write");
    CHECK(chat_template_load(dir, &t, err, sizeof err) == -1 && strstr(err, "no chat_template"), "%s", err);
    REQUIRE(write_text(dir, "tokenizer_config.json", "{\"chat_template\": 5}") == 0, "write");
    CHECK(chat_template_load(dir, &t, err, sizeof err) == -1 && strstr(err, "neither"), "%s", err);
    REQUIRE(write_text(dir, "tokenizer_config.json", "{\"chat_template\": \"{{ messages }}\"}") == 0, "write");
    CHECK(chat_template_load(dir, &t, err, sizeof err) == -1 && strstr(err, "tokenizer_config.json") &&
              strstr(err, "family"), "an unknown family: %s", err);
    REQUIRE(write_text(dir, "tokenizer_config.json", "{\"chat_template\": ") == 0, "write");
    CHECK(chat_template_load(dir, &t, err, sizeof err) == -1 && strstr(err, "tokenizer_config.json"), "bad JSON: %s",
          err);
    CHECK(chat_template_load(scratch_dir("empty"), &t, err, sizeof err) == -1 && t == NULL, "no file: %s", err);
}

int main(void)
{
    RUN(golden_chats);
    RUN(default_system_prompt_and_generation_prompt);
    RUN(template_without_default_system);
    RUN(bad_templates_and_turns);
    RUN(template_files);
    return check_summary("test_chat_template");
}
