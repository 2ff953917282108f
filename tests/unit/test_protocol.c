/* test_protocol.c - common/protocol.h: the one vocabulary of the Redis
 * contract. The job-id rule must give the same verdict in C and in the Lua
 * the queue scripts are built with (asked of a private redis-server, both
 * through the helper alone and through the real take script), and the error
 * codes must be docs/protocol.md's Failure table, kinds included. */
#include "check.h"
#include "fixture.h"
#include "protocol.h"
#include "queue.h"
#include "redis_server.h"

#include <hiredis/hiredis.h>
#include <jansson.h>
#include <string.h>

static redis_server server;
static redisContext *raw;

/* Ids that probe every part of the rule: length, dots, the punctuation, and
 * the characters Lua patterns treat specially. */
static const struct {
    const char *bytes;
    size_t len;
} kIds[] = {
#define ID(s) {s, sizeof s - 1}
    ID("a"), ID("Z"), ID("0"), ID("_"), ID("-"), ID("..."), ID("a..b"), ID("A.b_c-9"), ID(".a"), ID("a."),
    ID("."), ID(".."), ID(""), ID("a b"), ID("a/b"), ID("a\\b"), ID("a:b"), ID("{a}"), ID("a\nb"), ID("a\0b"),
    ID("%"), ID("%a"), ID("a%."), ID("[a]"), ID("^a"), ID("a$"), ID("a*"), ID("a+"), ID("a?"), ID("(a)"),
    ID("\xc3\xa9t\xc3\xa9"), ID("\xe2\x98\x82"), ID("a\tb"), ID("a'b"), ID("a\"b"), ID("a,b"), ID("a~b"),
#undef ID
};

/* Lua's verdict on id[0..len), from the helper the scripts are built with. */
static int lua_id_valid(const char *id, size_t len)
{
    redisReply *r = redisCommand(raw, "EVAL %s 0 %b", PROTOCOL_ID_LUA "return valid_id(ARGV[1]) and 1 or 0\n", id,
                                 len);
    int v = r && r->type == REDIS_REPLY_INTEGER ? (int)r->integer : -1;
    if (r && r->type == REDIS_REPLY_ERROR) fprintf(stderr, "  lua: %s\n", r->str);
    if (r) freeReplyObject(r);
    return v;
}

static void check_lua_agrees(const char *id, size_t len)
{
    int c = protocol_id_valid(id, len), lua = lua_id_valid(id, len);
    CHECK(lua == c, "id \"%.*s\" (%zu bytes): C says %d, Lua %d", (int)len, id, len, c, lua);
}

TEST(c_rule)
{
    char id[PROTOCOL_ID_MAX + 2];
    memset(id, 'z', sizeof id);
    CHECK(protocol_id_valid(id, PROTOCOL_ID_MAX) && !protocol_id_valid(id, PROTOCOL_ID_MAX + 1), "length bound");
    CHECK(protocol_id_valid("a", 1) && protocol_id_valid("...", 3) && !protocol_id_valid("..", 2) &&
              !protocol_id_valid(".", 1) && !protocol_id_valid("", 0),
          "dots");
    CHECK(!protocol_id_valid("a\0b", 3) && protocol_id_valid_str("A.b_c-9") && !protocol_id_valid_str(NULL) &&
              !protocol_id_valid_str("a/b"),
          "NUL, strings");
}

TEST(lua_helper_agrees_with_c)
{
    for (size_t i = 0; i < sizeof kIds / sizeof *kIds; i++) check_lua_agrees(kIds[i].bytes, kIds[i].len);
    /* Every single byte, and the length bound. */
    for (int b = 0; b < 256; b++) {
        char c = (char)b;
        check_lua_agrees(&c, 1);
    }
    char id[PROTOCOL_ID_MAX + 2];
    memset(id, 'z', sizeof id);
    check_lua_agrees(id, PROTOCOL_ID_MAX);
    check_lua_agrees(id, PROTOCOL_ID_MAX + 1);
}

/* The take script, as a worker runs it: a payload whose id C refuses is not
 * a job (dead list), one C accepts is started under that id. */
TEST(take_script_agrees_with_c)
{
    queue_config cfg = {.url = server.url, .worker_id = "protocol-test"};
    char err[512];
    queue *q = queue_new(&cfg, err, sizeof err);
    REQUIRE(q && queue_connect(q, err, sizeof err) == 0, "queue: %s", err);
    char longest[PROTOCOL_ID_MAX + 2];
    memset(longest, 'z', sizeof longest);
    for (size_t i = 0; i < sizeof kIds / sizeof *kIds + 2; i++) {
        const char *id = i < sizeof kIds / sizeof *kIds ? kIds[i].bytes : longest;
        size_t len = i < sizeof kIds / sizeof *kIds ? kIds[i].len : PROTOCOL_ID_MAX + (i % 2);
        json_t *value = json_stringn(id, len);
        json_t *payload = json_pack("{s:o, s:s, s:i}", "id", value, "narrative", "x", "duration", 1);
        char *text = payload ? json_dumps(payload, JSON_COMPACT) : NULL;
        json_decref(payload);
        REQUIRE(text, "payload for id %zu", i);
        freeReplyObject(redisCommand(raw, "FLUSHALL"));
        freeReplyObject(redisCommand(raw, "LPUSH {jen1}:queue %s", text));
        queue_job job = {0};
        int got = queue_reserve(q, 100, &job, err, sizeof err);
        bool c = protocol_id_valid(id, len);
        CHECK(got == 1, "reserve of %s: %d %s", text, got, err);
        if (got == 1) {
            CHECK(job.decision == (c ? QUEUE_TAKE_RUN : QUEUE_TAKE_NOT_A_JOB), "%s: decision %d, C says %d", text,
                  (int)job.decision, c);
            CHECK(!c || (strlen(job.id) == len && memcmp(job.id, id, len) == 0), "%s: started as %s", text, job.id);
        }
        queue_job_clear(&job);
        free(text);
    }
    queue_free(q);
}

/* docs/protocol.md's "## Failure" table: "| `code` | kind | when |" rows. */
TEST(error_codes_are_the_documented_ones)
{
    size_t len;
    char *doc = (char *)fixture_read_file("docs/protocol.md", &len);
    REQUIRE(doc, "cannot read docs/protocol.md");
    doc = realloc(doc, len + 1);
    doc[len] = '\0';
    char *table = strstr(doc, "\n## Failure\n");
    REQUIRE(table, "no Failure section");
    char *end = strstr(table + 1, "\n## ");
    if (end) *end = '\0';
    bool documented[PROTOCOL_N_CODES] = {false};
    int rows = 0;
    for (char *line = strstr(table, "\n| `"); line; line = strstr(line + 1, "\n| `")) {
        char name[64], kind[32];
        if (sscanf(line, "\n| `%63[a-z_]` | %31[a-z] |", name, kind) != 2) continue;
        rows++;
        protocol_error code;
        REQUIRE(protocol_error_parse(name, &code), "documented code %s is not in protocol.h", name);
        CHECK(code != PROTOCOL_OK, "ok is no error");
        documented[code] = true;
        CHECK(protocol_error_transient(code) == (strcmp(kind, "transient") == 0), "%s: documented %s", name, kind);
        CHECK(strcmp(protocol_error_name(code), name) == 0, "%s: named %s", name, protocol_error_name(code));
    }
    CHECK(rows == PROTOCOL_N_CODES - 1, "%d documented codes, %d in protocol.h", rows, PROTOCOL_N_CODES - 1);
    for (int c = PROTOCOL_OK + 1; c < PROTOCOL_N_CODES; c++)
        CHECK(documented[c], "%s is not documented", protocol_error_name((protocol_error)c));
    free(doc);
}

TEST(names_round_trip)
{
    protocol_error code;
    CHECK(strcmp(protocol_error_name(PROTOCOL_OK), "ok") == 0, "ok");
    CHECK(protocol_error_name(PROTOCOL_N_CODES) == NULL && protocol_error_name((protocol_error)-1) == NULL,
          "outside the enum");
    CHECK(!protocol_error_parse("no_such_code", &code) && !protocol_error_parse(NULL, &code), "unknown names");
    for (int c = 0; c < PROTOCOL_N_CODES; c++)
        CHECK(protocol_error_parse(protocol_error_name((protocol_error)c), &code) && code == (protocol_error)c,
              "code %d", c);
}

/* The scripts' ERR_* constants are the C names. */
TEST(lua_error_constants)
{
    static const struct {
        const char *constant, *name;
    } codes[] = {
#define CODE(id, name, transient) {"ERR_" #id, name},
        PROTOCOL_ERRORS(CODE)
#undef CODE
    };
    for (size_t i = 0; i < sizeof codes / sizeof *codes; i++) {
        char lua[2048];
        snprintf(lua, sizeof lua, "%sreturn %s\n", PROTOCOL_ERRORS_LUA, codes[i].constant);
        redisReply *r = redisCommand(raw, "EVAL %s 0", lua);
        CHECK(r && r->type == REDIS_REPLY_STRING && strcmp(r->str, codes[i].name) == 0, "%s: %s", codes[i].constant,
              r && r->str ? r->str : "(no reply)");
        if (r) freeReplyObject(r);
    }
}

/* Issue 10: one nesting limit; brackets inside strings (escaped quotes too) do not count. */
TEST(json_depth)
{
    CHECK(protocol_json_depth_ok("{\"a\":[[1]]}", 11, 3), "3 levels within 3");
    CHECK(!protocol_json_depth_ok("{\"a\":[[1]]}", 11, 2), "3 levels past 2");
    const char *in_string = "{\"a\":\"[[[[\\\"[[[[\"}";
    CHECK(protocol_json_depth_ok(in_string, strlen(in_string), 1), "brackets in a string counted: %s", in_string);
    const char *after = "[\"\\\\\",[[]]]"; /* ["\\",[[]]]: the string ends before the brackets */
    CHECK(!protocol_json_depth_ok(after, strlen(after), 2), "brackets after an escaped backslash missed: %s", after);
    CHECK(protocol_json_depth_ok("]]]{}", 5, 1), "stray closers are not depth");
    char deep[2 * 40 + 1];
    for (int i = 0; i < 40; i++) deep[i] = '[', deep[40 + i] = ']';
    deep[80] = '\0';
    CHECK(!protocol_json_depth_ok(deep, 80, PROTOCOL_JSON_MAX_DEPTH), "40 levels within the limit");
    CHECK(protocol_json_depth_ok(deep + 8, 64, PROTOCOL_JSON_MAX_DEPTH), "32 levels past the limit");
}

int main(void)
{
    if (redis_server_start(&server, NULL) != 0) {
        printf("RESULT test_protocol passed=0 failed=1\n");
        return 1;
    }
    raw = redisConnect("127.0.0.1", server.port);
    if (!raw || raw->err) {
        fprintf(stderr, "cannot connect to the test redis-server\n");
        printf("RESULT test_protocol passed=0 failed=1\n");
        return 1;
    }
    RUN(c_rule);
    RUN(lua_helper_agrees_with_c);
    RUN(take_script_agrees_with_c);
    RUN(error_codes_are_the_documented_ones);
    RUN(names_round_trip);
    RUN(lua_error_constants);
    RUN(json_depth);
    redisFree(raw);
    redis_server_cleanup(&server);
    return check_summary("test_protocol");
}
