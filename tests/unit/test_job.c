/* test_job.c - job_parse over the bad-job corpus (tests/corpus/jobs/, listed
 * with the expected code, id and message in expected.tsv) and over good jobs.
 * Payloads are handed over in buffers of their exact size, without a
 * terminating NUL, so that AddressSanitizer catches any over-read. */
#include <dirent.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "fixture.h"
#include "job.h"

#define CORPUS_DIR "tests/corpus/jobs"


/* Parses a C string as a payload, from an exact-size copy. */
static job_status parse_text(const char *text, const job_limits *limits, job_request *job, job_error *err)
{
    size_t len = strlen(text);
    char *copy = malloc(len ? len : 1);
    memcpy(copy, text, len);
    job_status st = job_parse(copy, len, limits, job, err);
    free(copy);
    return st;
}

/* The corpus's expectations are written for a worker serving musicgen-tiny
 * with JEN1_MAX_DURATION=30 (tests/cli/test_hostile_jobs.sh runs one). */
static job_limits corpus_limits(void)
{
    job_limits l = job_limits_default();
    l.model_name = "musicgen-tiny";
    l.max_duration = 30;
    return l;
}

static int corpus_listed(const char *name)
{
    size_t len;
    char *tsv = (char *)fixture_read_file(CORPUS_DIR "/expected.tsv", &len);
    if (!tsv) return 0;
    int found = 0;
    for (char *line = tsv; line < tsv + len;) {
        char *nl = memchr(line, '\n', (size_t)(tsv + len - line));
        size_t n = nl ? (size_t)(nl - line) : (size_t)(tsv + len - line);
        if (n > strlen(name) && strncmp(line, name, strlen(name)) == 0 && line[strlen(name)] == '\t') found = 1;
        line += n + 1;
    }
    free(tsv);
    return found;
}

TEST(every_corpus_file_is_listed)
{
    DIR *d = opendir(CORPUS_DIR);
    REQUIRE(d, "cannot open %s", CORPUS_DIR);
    struct dirent *e;
    int n = 0;
    while ((e = readdir(d))) {
        size_t len = strlen(e->d_name);
        if (len < 5 || strcmp(e->d_name + len - 5, ".json") != 0) continue;
        n++;
        CHECK(corpus_listed(e->d_name), "%s is not in expected.tsv", e->d_name);
    }
    closedir(d);
    CHECK(n >= 40, "only %d corpus files", n);
}

TEST(corpus_fails_with_the_expected_code_id_and_message)
{
    FILE *f = fopen(CORPUS_DIR "/expected.tsv", "r");
    REQUIRE(f, "cannot open expected.tsv");
    job_limits limits = corpus_limits();
    char line[1024];
    int cases = 0;
    while (fgets(line, sizeof line, f)) {
        if (line[0] == '#' || line[0] == '\n') continue;
        line[strcspn(line, "\n")] = '\0';
        char *file = strtok(line, "\t"), *code = strtok(NULL, "\t"), *id = strtok(NULL, "\t"),
             *message = strtok(NULL, "\t");
        if (!file || !code || !id || !message) {
            CHECK(0, "malformed expected.tsv line for %s", file ? file : "?");
            continue;
        }
        char path[512];
        snprintf(path, sizeof path, "%s/%s", CORPUS_DIR, file);
        size_t len;
        char *payload = (char *)fixture_read_file(path, &len);
        if (!payload) {
            CHECK(0, "cannot read %s", path);
            continue;
        }
        job_request job;
        job_error err;
        job_status st = job_parse(payload, len, &limits, &job, &err);
        free(payload);
        cases++;
        CHECK(st != JOB_OK, "%s: accepted", file);
        CHECK(strcmp(err.code, code) == 0, "%s: code %s, expected %s (%s)", file, err.code, code, err.message);
        CHECK(strcmp(err.code, job_status_code(st)) == 0, "%s: code %s for status %d", file, err.code, st);
        CHECK(strstr(err.message, message) != NULL, "%s: message \"%s\" lacks \"%s\"", file, err.message,
              message);
        const char *want_id = strcmp(id, "-") == 0 ? "" : id;
        CHECK(strcmp(err.id, want_id) == 0, "%s: id \"%s\", expected \"%s\"", file, err.id, want_id);
        CHECK(job.narrative == NULL && job.request == NULL && job.model == NULL, "%s: output not empty", file);
        job_request_free(&job);
    }
    fclose(f);
    CHECK(cases >= 40, "only %d cases ran", cases);
}

TEST(ten_megabyte_narrative_is_refused_unread)
{
    size_t n = 10u << 20;
    const char *head = "{\"id\":\"big\",\"duration\":8,\"narrative\":\"";
    size_t hl = strlen(head);
    char *payload = malloc(hl + n + 2);
    REQUIRE(payload, "out of memory");
    memcpy(payload, head, hl);
    memset(payload + hl, 'a', n);
    memcpy(payload + hl + n, "\"}", 2);
    job_limits limits = job_limits_default();
    job_request job;
    job_error err;
    job_status st = job_parse(payload, hl + n + 2, &limits, &job, &err);
    CHECK(st == JOB_INVALID_JOB, "status %d: %s", st, err.message);
    CHECK(strstr(err.message, "at most 1048576") != NULL, "message: %s", err.message);

    /* Under a limit raised past it, the narrative's own bound applies, and the id is known. */
    limits.max_payload_bytes = 16u << 20;
    st = job_parse(payload, hl + n + 2, &limits, &job, &err);
    CHECK(st == JOB_INVALID_JOB, "status %d: %s", st, err.message);
    CHECK(strstr(err.message, "narrative is 10485760 bytes") != NULL, "message: %s", err.message);
    CHECK(strcmp(err.id, "big") == 0, "id %s", err.id);
    free(payload);
}

TEST(hundred_thousand_levels_of_nesting_are_refused)
{
    size_t depth = 100000;
    const char *head = "{\"id\":\"deep\",\"narrative\":\"x\",\"duration\":8,\"junk\":";
    size_t hl = strlen(head), len = hl + 2 * depth + 1;
    char *payload = malloc(len);
    REQUIRE(payload, "out of memory");
    memcpy(payload, head, hl);
    memset(payload + hl, '[', depth);
    memset(payload + hl + depth, ']', depth);
    payload[len - 1] = '}';
    job_limits limits = job_limits_default();
    job_request job;
    job_error err;
    job_status st = job_parse(payload, len, &limits, &job, &err);
    CHECK(st == JOB_INVALID_JSON, "status %d: %s", st, err.message);
    free(payload);
}

TEST(default_limits_allow_five_minutes)
{
    job_limits limits = job_limits_default();
    job_request job;
    job_error err;
    CHECK(limits.max_duration == JOB_MAX_DURATION_DEFAULT && JOB_MAX_DURATION_DEFAULT == 300, "max %g",
          limits.max_duration);
    const char *ok = "{\"id\":\"long\",\"narrative\":\"x\",\"duration\":300}";
    CHECK(parse_text(ok, &limits, &job, &err) == JOB_OK, "%s: %s", err.code, err.message);
    job_request_free(&job);
    const char *over = "{\"id\":\"long\",\"narrative\":\"x\",\"duration\":300.5}";
    CHECK(parse_text(over, &limits, &job, &err) == JOB_TOO_LONG, "%s: %s", err.code, err.message);
    job_request_free(&job);
}

TEST(minimal_job_gets_the_defaults)
{
    const char *text = "{\"id\":\"song-42\",\"narrative\":\"  A lighthouse keeper.\\n\",\"duration\":8}";
    job_limits limits = job_limits_default();
    job_request job;
    job_error err;
    REQUIRE(parse_text(text, &limits, &job, &err) == JOB_OK, "%s: %s", err.code, err.message);
    CHECK(strcmp(job.id, "song-42") == 0, "id %s", job.id);
    CHECK(strcmp(job.narrative, "A lighthouse keeper.") == 0, "narrative not trimmed: [%s]", job.narrative);
    CHECK(job.narrative_len == strlen("A lighthouse keeper."), "length %zu", job.narrative_len);
    CHECK(job.duration == 8.0 && job.duration_ms == 8000, "duration %g / %d ms", job.duration, job.duration_ms);
    CHECK(!job.seed_given && job.seed == job_seed_from_id("song-42"), "seed %llu", (unsigned long long)job.seed);
    CHECK(job.format == AUDIO_WAV, "format %d", job.format);
    CHECK(job.model == NULL, "model set");
    CHECK(job.sampling.given == 0, "sampling set");
    CHECK(job.priority == 0, "priority %d", job.priority);
    CHECK(job.audio, "a job without \"audio\" is not rendered");
    CHECK(json_is_object(job.request) && json_object_size(job.request) == 3, "request not kept");
    CHECK(strcmp(json_string_value(json_object_get(job.request, "narrative")), "  A lighthouse keeper.\n") == 0,
          "request changed");
    job_request_free(&job);
    job_request_free(&job); /* freeing twice is harmless */
}

TEST(full_job_is_read_whole)
{
    const char *text = "{\"id\":\"A.b_c-9\",\"narrative\":\"Neon rain \\u00e9t\\u00e9 \xe2\x98\x82\","
                       "\"duration\":7.3,\"seed\":9007199254740992,\"format\":\"flac\",\"model\":\"musicgen-tiny\","
                       "\"guidance\":3.5,\"top_k\":250,\"temperature\":0.7,\"priority\":9}";
    job_limits limits = corpus_limits();
    job_request job;
    job_error err;
    REQUIRE(parse_text(text, &limits, &job, &err) == JOB_OK, "%s: %s", err.code, err.message);
    CHECK(strcmp(job.narrative, "Neon rain \xc3\xa9t\xc3\xa9 \xe2\x98\x82") == 0, "narrative %s", job.narrative);
    CHECK(job.duration_ms == 7300, "%d ms", job.duration_ms);
    CHECK(job.seed_given && job.seed == 9007199254740992ULL, "seed %llu", (unsigned long long)job.seed);
    CHECK(job.format == AUDIO_FLAC, "format %d", job.format);
    CHECK(job.model && strcmp(job.model, "musicgen-tiny") == 0, "model");
    const job_sampling *s = &job.sampling;
    CHECK((s->given & JOB_SAMPLING_GUIDANCE) && s->values.guidance_scale == 3.5, "guidance %g",
          s->values.guidance_scale);
    CHECK((s->given & JOB_SAMPLING_TOP_K) && s->values.top_k == 250, "top_k %d", s->values.top_k);
    CHECK((s->given & JOB_SAMPLING_TEMPERATURE) && s->values.temperature == 0.7f, "temperature %g",
          s->values.temperature);
    CHECK(job.priority == 9, "priority %d", job.priority);
    job_request_free(&job);
}

TEST(unknown_fields_are_ignored_and_kept)
{
    const char *text = "{\"callback\":\"https://example.com/x\",\"id\":\"k\",\"narrative\":\"sea\",\"duration\":2,"
                       "\"tags\":[\"a\",{\"b\":null}],\"blob\":\"a\\u0000b\",\"seed\":null}";
    job_limits limits = job_limits_default();
    job_request job;
    job_error err;
    REQUIRE(parse_text(text, &limits, &job, &err) == JOB_OK, "%s: %s", err.code, err.message);
    CHECK(json_object_size(job.request) == 7, "size %zu", json_object_size(job.request));
    json_t *tags = json_object_get(job.request, "tags");
    CHECK(json_is_array(tags) && json_array_size(tags) == 2, "tags lost");
    CHECK(json_string_length(json_object_get(job.request, "blob")) == 3, "embedded NUL lost");
    CHECK(!job.seed_given, "a null seed counts as given");
    char *dumped = json_dumps(job.request, JSON_COMPACT);
    CHECK(dumped && strstr(dumped, "\"callback\":\"https://example.com/x\""), "dump %s", dumped);
    free(dumped);
    job_request_free(&job);
}

/* Issue 10: unknown fields are stored with the job, so they are bounded; and
 * nesting stops at PROTOCOL_JSON_MAX_DEPTH, below cjson's 1,000. */
TEST(unknown_fields_and_nesting_are_bounded)
{
    job_limits limits = job_limits_default();
    limits.max_unknown_bytes = 40;
    job_request job;
    job_error err;
    /* "note":"<28 x>" is 4 + 30 + 3 = 37 bytes: kept. */
    REQUIRE(parse_text("{\"id\":\"u\",\"narrative\":\"sea\",\"duration\":2,\"note\":\"xxxxxxxxxxxxxxxxxxxxxxxxxxxx\"}",
                       &limits, &job, &err) == JOB_OK, "%s", err.message);
    job_request_free(&job);
    CHECK(parse_text("{\"id\":\"u\",\"narrative\":\"sea\",\"duration\":2,\"note\":\"xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx\"}",
                     &limits, &job, &err) == JOB_INVALID_JOB && strstr(err.message, "at most 40 are kept") &&
              strcmp(err.id, "u") == 0,
          "%s: %s", err.code, err.message);
    char text[256];
    int n = snprintf(text, sizeof text, "{\"id\":\"d\",\"narrative\":\"sea\",\"duration\":2,\"x\":");
    for (int i = 0; i < PROTOCOL_JSON_MAX_DEPTH; i++) text[n++] = '[';
    for (int i = 0; i < PROTOCOL_JSON_MAX_DEPTH; i++) text[n++] = ']';
    snprintf(text + n, sizeof text - (size_t)n, "}");
    CHECK(parse_text(text, &limits, &job, &err) == JOB_INVALID_JSON && strstr(err.message, "deeper than 32") &&
              strcmp(err.id, "d") == 0,
          "33 levels: %s: %s", err.code, err.message);
}

TEST(bounds_are_inclusive)
{
    char id[PROTOCOL_ID_MAX + 1];
    memset(id, 'z', PROTOCOL_ID_MAX);
    id[PROTOCOL_ID_MAX] = '\0';
    /* 4,000 bytes of narrative (2-byte characters) inside white space. */
    char narrative[4100];
    size_t n = 0;
    narrative[n++] = ' ';
    for (int i = 0; i < 2000; i++) {
        narrative[n++] = '\xc3';
        narrative[n++] = '\xa9';
    }
    narrative[n++] = '\n';
    narrative[n] = '\0';
    char *text = malloc(8000);
    snprintf(text, 8000, "{\"id\":\"%s\",\"narrative\":\"%s\",\"duration\":30,\"seed\":0,\"top_k\":2048,"
             "\"guidance\":1,\"temperature\":0.05,\"priority\":0}", id, narrative);
    /* The \n above is a raw control character: escape it. */
    char *nl = strchr(text, '\n');
    memmove(nl + 1, nl, strlen(nl) + 1);
    nl[0] = '\\';
    nl[1] = 'n';
    job_limits limits = job_limits_default();
    job_request job;
    job_error err;
    job_status st = parse_text(text, &limits, &job, &err);
    CHECK(st == JOB_OK, "%s: %s", err.code, err.message);
    if (st == JOB_OK) {
        CHECK(job.narrative_len == 4000, "narrative %zu bytes", job.narrative_len);
        CHECK(job.seed_given && job.seed == 0, "seed");
        CHECK(job.duration_ms == 30000, "duration");
    }
    job_request_free(&job);
    free(text);

    REQUIRE(parse_text("{\"id\":\"x\",\"narrative\":\"y\",\"duration\":1,\"top_k\":250.0}", &limits, &job, &err) ==
                JOB_OK, "%s", err.message);
    CHECK(job.duration_ms == 1000 && job.sampling.values.top_k == 250, "duration %d top_k %d", job.duration_ms,
          job.sampling.values.top_k);
    job_request_free(&job);
}

TEST(duration_is_rounded_to_the_millisecond)
{
    job_limits limits = job_limits_default();
    job_request job;
    job_error err;
    REQUIRE(parse_text("{\"id\":\"x\",\"narrative\":\"y\",\"duration\":7.3456}", &limits, &job, &err) == JOB_OK,
            "%s", err.message);
    CHECK(job.duration == 7.3456 && job.duration_ms == 7346, "%g -> %d", job.duration, job.duration_ms);
    job_request_free(&job);
}

TEST(limits_follow_the_model)
{
    job_limits limits = job_limits_default();
    limits.max_duration = 10;
    limits.max_narrative_bytes = 5;
    job_request job;
    job_error err;
    CHECK(parse_text("{\"id\":\"x\",\"narrative\":\"y\",\"duration\":12}", &limits, &job, &err) == JOB_TOO_LONG,
          "%s", err.message);
    CHECK(strstr(err.message, "the 10 s") != NULL, "message %s", err.message);
    CHECK(parse_text("{\"id\":\"x\",\"narrative\":\"sixsix\",\"duration\":2}", &limits, &job, &err) ==
              JOB_INVALID_JOB, "%s", err.message);
    CHECK(parse_text("{\"id\":\"x\",\"narrative\":\" five \",\"duration\":2,\"model\":\"anything\"}", &limits, &job,
                     &err) == JOB_OK, "%s", err.message);
    CHECK(job.model && strcmp(job.model, "anything") == 0, "model");
    job_request_free(&job);
}

TEST(derived_seed_is_stable_and_fits_in_53_bits)
{
    CHECK(job_seed_from_id("song-42") == job_seed_from_id("song-42"), "not deterministic");
    CHECK(job_seed_from_id("song-42") != job_seed_from_id("song-43"), "ids collide");
    /* FNV-1a 64 of "a" is 0xaf63dc4c8601ec8c; its low 53 bits: */
    CHECK(job_seed_from_id("a") == (0xaf63dc4c8601ec8cULL & ((1ULL << 53) - 1)), "seed %llu",
          (unsigned long long)job_seed_from_id("a"));
    for (int i = 0; i < 1000; i++) {
        char id[16];
        snprintf(id, sizeof id, "job-%d", i);
        uint64_t s = job_seed_from_id(id);
        CHECK(s < (1ULL << 53), "seed %llu of %s", (unsigned long long)s, id);
    }
}

TEST(id_rules)
{
    CHECK(protocol_id_valid("a", 1) && protocol_id_valid("...", 3) && protocol_id_valid("a..b", 4), "valid ids refused");
    CHECK(!protocol_id_valid(".", 1) && !protocol_id_valid("..", 2) && !protocol_id_valid("", 0), "dots accepted");
    CHECK(!protocol_id_valid("a b", 3) && !protocol_id_valid("a/b", 3) && !protocol_id_valid("a\\b", 3) &&
              !protocol_id_valid("a:b", 3) && !protocol_id_valid("{a}", 3), "separators accepted");
}

TEST(mp3_is_a_format)
{
    job_limits limits = job_limits_default();
    job_request job;
    job_error err;
    CHECK(limits.formats & (1u << AUDIO_MP3), "this build cannot write mp3");
    REQUIRE(parse_text("{\"id\":\"x\",\"narrative\":\"y\",\"duration\":1,\"format\":\"mp3\"}", &limits, &job, &err) ==
                JOB_OK, "%s", err.message);
    CHECK(job.format == AUDIO_MP3, "format %d", job.format);
    job_request_free(&job);

    /* A worker whose libsndfile lacks a format refuses it by name, and lists what it can write. */
    limits.formats &= ~(1u << AUDIO_MP3);
    CHECK(parse_text("{\"id\":\"x\",\"narrative\":\"y\",\"duration\":1,\"format\":\"mp3\"}", &limits, &job, &err) ==
              JOB_INVALID_JOB, "mp3 accepted without it");
    CHECK(strstr(err.message, "format mp3 cannot be written here") &&
              strstr(err.message, "use one of wav, flac, ogg") && !strstr(err.message, "ogg, mp3"),
          "message: %s", err.message);
    CHECK(parse_text("{\"id\":\"x\",\"narrative\":\"y\",\"duration\":1,\"format\":\"opus\"}", &limits, &job, &err) ==
              JOB_INVALID_JOB && strstr(err.message, "format must be one of wav, flac, ogg (got \"opus\")"),
          "message: %s", err.message);
}

TEST(loudness_is_a_target_null_or_absent)
{
    job_limits limits = job_limits_default();
    job_request job;
    job_error err;
    double lufs = 0;
    REQUIRE(parse_text("{\"id\":\"x\",\"narrative\":\"y\",\"duration\":1}", &limits, &job, &err) == JOB_OK,
            "%s", err.message);
    CHECK(job.loudness == JOB_LOUDNESS_DEFAULT, "absent: %d", job.loudness);
    CHECK(job_loudness_target(&job, -14.0, &lufs) && lufs == -14.0, "absent: the worker's default, not %g", lufs);
    CHECK(!job_loudness_target(&job, NAN, &lufs), "absent with the worker's default off: normalised");
    job_request_free(&job);

    /* null is the one optional field whose null is not absence: it turns normalisation off. */
    REQUIRE(parse_text("{\"id\":\"x\",\"narrative\":\"y\",\"duration\":1,\"loudness\":null}", &limits, &job,
                       &err) == JOB_OK, "%s", err.message);
    CHECK(job.loudness == JOB_LOUDNESS_OFF, "null: %d", job.loudness);
    CHECK(!job_loudness_target(&job, -14.0, &lufs), "null: normalised all the same");
    job_request_free(&job);

    const char *bounds[] = {"-40", "-5", "-23.5", "-14.0"};
    const double values[] = {-40.0, -5.0, -23.5, -14.0};
    for (int i = 0; i < 4; i++) {
        char text[128];
        snprintf(text, sizeof text, "{\"id\":\"x\",\"narrative\":\"y\",\"duration\":1,\"loudness\":%s}", bounds[i]);
        REQUIRE(parse_text(text, &limits, &job, &err) == JOB_OK, "%s: %s", bounds[i], err.message);
        CHECK(job.loudness == JOB_LOUDNESS_TARGET && job.loudness_lufs == values[i], "%s: %d %g", bounds[i],
              job.loudness, job.loudness_lufs);
        /* The job's own target wins over the worker's default, even when that is off. */
        CHECK(job_loudness_target(&job, NAN, &lufs) && lufs == values[i], "%s: target %g", bounds[i], lufs);
        job_request_free(&job);
    }
    const char *bad[] = {"-40.01", "-4.99", "0", "\"loud\"", "true", "[]", "1e999"};
    for (int i = 0; i < 7; i++) {
        char text[128];
        snprintf(text, sizeof text, "{\"id\":\"x\",\"narrative\":\"y\",\"duration\":1,\"loudness\":%s}", bad[i]);
        job_status st = parse_text(text, &limits, &job, &err);
        CHECK(st != JOB_OK, "loudness %s accepted", bad[i]);
        CHECK(st == JOB_INVALID_JSON || strstr(err.message, "loudness must be a target in LUFS between -40 and -5"),
              "loudness %s: %s", bad[i], err.message);
    }
}

TEST(audio_is_a_boolean_true_when_absent_or_null)
{
    job_limits limits = job_limits_default();
    job_request job;
    job_error err;
    const char *good[] = {"true", "false", "null"};
    const bool want[] = {true, false, true};
    for (int i = 0; i < 3; i++) {
        char text[128];
        snprintf(text, sizeof text, "{\"id\":\"x\",\"narrative\":\"y\",\"duration\":1,\"audio\":%s}", good[i]);
        REQUIRE(parse_text(text, &limits, &job, &err) == JOB_OK, "%s: %s", good[i], err.message);
        CHECK(job.audio == want[i], "audio %s: %d", good[i], job.audio);
        job_request_free(&job);
    }
    const char *bad[] = {"0", "1", "\"false\"", "\"no\"", "[]", "{}"};
    for (int i = 0; i < 6; i++) {
        char text[128];
        snprintf(text, sizeof text, "{\"id\":\"x\",\"narrative\":\"y\",\"duration\":1,\"audio\":%s}", bad[i]);
        CHECK(parse_text(text, &limits, &job, &err) == JOB_INVALID_JOB, "audio %s accepted", bad[i]);
        CHECK(strcmp(err.code, "invalid_job") == 0 && strcmp(err.id, "x") == 0, "audio %s: %s %s", bad[i], err.code,
              err.id);
        CHECK(strstr(err.message, "audio must be true (render the song) or false (the words only)"), "audio %s: %s",
              bad[i], err.message);
    }
}

TEST(no_payload)
{
    job_limits limits = job_limits_default();
    job_request job;
    job_error err;
    CHECK(job_parse(NULL, 0, &limits, &job, &err) == JOB_INVALID_JSON, "NULL accepted");
    CHECK(strcmp(err.code, "invalid_json") == 0, "code %s", err.code);
}

int main(void)
{
    RUN(every_corpus_file_is_listed);
    RUN(corpus_fails_with_the_expected_code_id_and_message);
    RUN(ten_megabyte_narrative_is_refused_unread);
    RUN(hundred_thousand_levels_of_nesting_are_refused);
    RUN(default_limits_allow_five_minutes);
    RUN(minimal_job_gets_the_defaults);
    RUN(full_job_is_read_whole);
    RUN(unknown_fields_are_ignored_and_kept);
    RUN(unknown_fields_and_nesting_are_bounded);
    RUN(bounds_are_inclusive);
    RUN(duration_is_rounded_to_the_millisecond);
    RUN(limits_follow_the_model);
    RUN(derived_seed_is_stable_and_fits_in_53_bits);
    RUN(id_rules);
    RUN(mp3_is_a_format);
    RUN(loudness_is_a_target_null_or_absent);
    RUN(audio_is_a_boolean_true_when_absent_or_null);
    RUN(no_payload);
    return check_summary("test_job");
}
