/* test_blob.c - the blob store without a network: the file:// store on
 * real directories (round trip, atomic replacement under a concurrent
 * reader, hostile keys, write failures that leave no temporary behind,
 * orphans of dead processes), URL parsing for both schemes, S3 settings
 * from the environment and a credentials file, and an s3:// put to a closed
 * loopback port. The S3 protocol itself is tested against a server by
 * tests/cli/test_s3.sh. */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "blob.h"
#include "check.h"

/* The absolute scratch directory of this run; short enough that every path
 * built from it fits a PATH_MAX buffer. */
static char root[1024];

/* An absolute path under root, in a static buffer per call site. */
static const char *scratch(char *buf, size_t len, const char *name)
{
    snprintf(buf, len, "%s/%s", root, name);
    return buf;
}

static void remove_tree(const char *path)
{
    char cmd[PATH_MAX + 16];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", path);
    if (system(cmd) != 0) fprintf(stderr, "cannot remove %s\n", path);
}

/* The names in dir (one string, space-separated, sorted by readdir order),
 * and how many there are; -1 when dir cannot be read. */
static int list_dir(const char *dir, char *names, size_t len)
{
    DIR *d = opendir(dir);
    if (!d) return -1;
    int n = 0;
    names[0] = '\0';
    struct dirent *e;
    while ((e = readdir(d)) != NULL) {
        if (strcmp(e->d_name, ".") == 0 || strcmp(e->d_name, "..") == 0) continue;
        n++;
        strncat(names, e->d_name, len - strlen(names) - 2);
        strcat(names, " ");
    }
    closedir(d);
    return n;
}

static int count_temporaries(const char *dir)
{
    char names[8192];
    if (list_dir(dir, names, sizeof names) < 0) return 0;
    int n = 0;
    for (const char *p = names; (p = strstr(p, "~tmp")) != NULL; p++) n++;
    return n;
}

static blob_store *open_file_store(const char *dir)
{
    char url[PATH_MAX + 16], err[512];
    snprintf(url, sizeof url, "file://%s", dir);
    blob_store *store = NULL;
    blob_status st = blob_open(url, NULL, &store, err, sizeof err);
    if (st != BLOB_OK) fprintf(stderr, "  blob_open(%s): %s\n", url, err);
    return store;
}

static unsigned char *filled(size_t len, unsigned char byte)
{
    unsigned char *p = malloc(len);
    if (p) memset(p, byte, len);
    return p;
}

TEST(file_round_trip)
{
    char dir[PATH_MAX], path[PATH_MAX + 32];
    scratch(dir, sizeof dir, "round/trip/store"); /* created, parents too */
    blob_store *store = open_file_store(dir);
    REQUIRE(store, "open");

    const char song[] = "RIFF\0\0\0\0WAVE and some bytes \xff\x00\x01";
    char url[BLOB_URL_MAX], err[512], want[PATH_MAX + 64];
    blob_status st = blob_put(store, "job-1.wav", song, sizeof song, "audio/wav", url, sizeof url, err,
                              sizeof err);
    REQUIRE(st == BLOB_OK, "put: %s %s", blob_status_name(st), err);
    snprintf(want, sizeof want, "file://%s/job-1.wav", dir);
    CHECK(strcmp(url, want) == 0, "url %s, want %s", url, want);
    CHECK(blob_url(store, "job-1.wav", want, sizeof want) == 0 && strcmp(url, want) == 0, "%s", want);

    unsigned char *data;
    size_t len;
    st = blob_get(store, "job-1.wav", &data, &len, err, sizeof err);
    REQUIRE(st == BLOB_OK, "get: %s", err);
    CHECK(len == sizeof song && memcmp(data, song, len) == 0, "got %zu bytes", len);
    free(data);

    /* The file itself, as another program would read it. */
    snprintf(path, sizeof path, "%s/job-1.wav", dir);
    struct stat sb;
    CHECK(stat(path, &sb) == 0 && (size_t)sb.st_size == sizeof song, "on disk: %s", path);
    char names[1024];
    CHECK(list_dir(dir, names, sizeof names) == 1, "the directory holds: %s", names);

    st = blob_put(store, "empty.bin", NULL, 0, NULL, NULL, 0, err, sizeof err);
    CHECK(st == BLOB_OK, "empty put: %s", err);
    st = blob_get(store, "empty.bin", &data, &len, err, sizeof err);
    CHECK(st == BLOB_OK && len == 0, "empty get: %s", err);
    if (st == BLOB_OK) free(data);

    CHECK(blob_get(store, "missing.wav", &data, &len, err, sizeof err) == BLOB_NOT_FOUND, "%s", err);
    CHECK(blob_delete(store, "job-1.wav", err, sizeof err) == BLOB_OK, "%s", err);
    CHECK(access(path, F_OK) != 0, "still there after delete");
    CHECK(blob_delete(store, "job-1.wav", err, sizeof err) == BLOB_OK, "second delete: %s", err);

    CHECK(blob_put(store, "k", "x", 1, NULL, url, 10, err, sizeof err) == BLOB_REJECTED,
          "a URL buffer too small is refused before writing");
    blob_close(store);
}

/* A writer process replaces one object again and again with versions of
 * different sizes while this process reads it: every read must be one
 * version, whole. */
TEST(overwrite_is_atomic)
{
    enum { BIG = 3 << 20, SMALL = 1 << 20, WRITES = 40 };
    char dir[PATH_MAX], err[512];
    scratch(dir, sizeof dir, "atomic");
    blob_store *store = open_file_store(dir);
    REQUIRE(store, "open");
    unsigned char *a = filled(BIG, 'a'), *b = filled(SMALL, 'b');
    REQUIRE(a && b, "memory");
    REQUIRE(blob_put(store, "song.wav", a, BIG, NULL, NULL, 0, err, sizeof err) == BLOB_OK, "%s", err);

    pid_t writer = fork();
    REQUIRE(writer >= 0, "fork");
    if (writer == 0) {
        int failures = 0;
        for (int i = 0; i < WRITES; i++)
            failures += blob_put(store, "song.wav", i % 2 ? a : b, i % 2 ? BIG : SMALL, NULL, NULL, 0,
                                 err, sizeof err) != BLOB_OK;
        _exit(failures ? 1 : 0);
    }

    int reads = 0, torn = 0, status = 0;
    size_t torn_len = 0;
    for (;;) {
        int done = waitpid(writer, &status, WNOHANG) == writer;
        unsigned char *data;
        size_t len;
        if (blob_get(store, "song.wav", &data, &len, err, sizeof err) == BLOB_OK) {
            reads++;
            int whole = (len == BIG && data[0] == 'a') || (len == SMALL && data[0] == 'b');
            for (size_t i = 0; whole && i < len; i++) whole = data[i] == data[0];
            if (!whole) {
                torn++;
                torn_len = len;
            }
            free(data);
        } else {
            torn++;
        }
        if (done) break;
    }
    CHECK(WIFEXITED(status) && WEXITSTATUS(status) == 0, "the writer's puts failed");
    CHECK(torn == 0, "%d of %d reads saw a partial object (one of %zu bytes) or none", torn, reads,
          torn_len);
    CHECK(reads > WRITES / 4, "only %d reads", reads);
    CHECK(count_temporaries(dir) == 0, "temporaries left");
    free(a);
    free(b);
    blob_close(store);
}

TEST(hostile_keys_are_refused)
{
    char dir[PATH_MAX], outside[PATH_MAX], err[512];
    scratch(dir, sizeof dir, "hostile/store");
    scratch(outside, sizeof outside, "hostile");
    blob_store *store = open_file_store(dir);
    REQUIRE(store, "open");

    char long_key[1001];
    memset(long_key, 'k', 1000);
    long_key[1000] = '\0';
    const char *keys[] = {
        "../x", "a/../../b", "/abs", "", ".", "..", "a/b", "a\\b", "a\nb", "a b", "..\\x",
        "\xc3\xbc.wav", "%2e%2e", "x\x7f", long_key, NULL,
    };
    for (size_t i = 0; i < sizeof keys / sizeof keys[0]; i++) {
        const char *key = keys[i];
        unsigned char *data;
        size_t len;
        char url[BLOB_URL_MAX];
        CHECK(blob_put(store, key, "x", 1, NULL, NULL, 0, err, sizeof err) == BLOB_REJECTED,
              "put '%.40s'", key ? key : "(null)");
        CHECK(strstr(err, "blob key") != NULL, "message: %s", err);
        CHECK(blob_get(store, key, &data, &len, err, sizeof err) == BLOB_REJECTED, "get '%.40s'",
              key ? key : "(null)");
        CHECK(blob_delete(store, key, err, sizeof err) == BLOB_REJECTED, "delete '%.40s'",
              key ? key : "(null)");
        CHECK(blob_url(store, key, url, sizeof url) == -1, "url '%.40s'", key ? key : "(null)");
        CHECK(!blob_key_valid(key, err, sizeof err), "valid '%.40s'", key ? key : "(null)");
    }
    char names[1024];
    CHECK(list_dir(dir, names, sizeof names) == 0, "the store holds: %s", names);
    CHECK(list_dir(outside, names, sizeof names) == 1, "beside the store: %s", names);

    /* A C string ends at its NUL: "a\0/../b" is the key "a", inside the store. */
    CHECK(blob_put(store, "a\0/../b", "x", 1, NULL, NULL, 0, err, sizeof err) == BLOB_OK, "%s", err);
    CHECK(list_dir(dir, names, sizeof names) == 1 && strcmp(names, "a ") == 0, "holds: %s", names);

    /* The length bound is BLOB_KEY_MAX exactly. */
    long_key[BLOB_KEY_MAX] = '\0';
    CHECK(blob_put(store, long_key, "x", 1, NULL, NULL, 0, err, sizeof err) == BLOB_OK, "%s", err);
    long_key[BLOB_KEY_MAX] = 'k';
    long_key[BLOB_KEY_MAX + 1] = '\0';
    CHECK(blob_put(store, long_key, "x", 1, NULL, NULL, 0, err, sizeof err) == BLOB_REJECTED,
          "%d characters", BLOB_KEY_MAX + 1);
    CHECK(blob_key_valid(".hidden-job.wav", err, sizeof err), "%s", err);
    blob_close(store);
}

/* Every failure to write is "unavailable", names the object, and leaves
 * neither a temporary nor a damaged old object. */
TEST(write_failures_are_unavailable)
{
    char dir[PATH_MAX], err[512];
    scratch(dir, sizeof dir, "failing");
    blob_store *store = open_file_store(dir);
    REQUIRE(store, "open");
    REQUIRE(blob_put(store, "song.wav", "old", 3, NULL, NULL, 0, err, sizeof err) == BLOB_OK, "%s", err);

    /* A full disk, as far as this process goes: writes past 64 KiB fail
     * with EFBIG (root is not exempt, unlike from a directory's mode). */
    struct rlimit saved, small;
    REQUIRE(getrlimit(RLIMIT_FSIZE, &saved) == 0, "getrlimit");
    small = saved;
    small.rlim_cur = 64 << 10;
    void (*old_handler)(int) = signal(SIGXFSZ, SIG_IGN);
    REQUIRE(setrlimit(RLIMIT_FSIZE, &small) == 0, "setrlimit");
    unsigned char *big = filled(1 << 20, 'n');
    blob_status st = blob_put(store, "song.wav", big, 1 << 20, NULL, NULL, 0, err, sizeof err);
    setrlimit(RLIMIT_FSIZE, &saved);
    signal(SIGXFSZ, old_handler);
    free(big);
    CHECK(st == BLOB_UNAVAILABLE, "disk full: %s: %s", blob_status_name(st), err);
    CHECK(strstr(err, "song.wav") && strstr(err, "too large"), "message: %s", err);
    CHECK(count_temporaries(dir) == 0, "a temporary was left after a failed write");
    unsigned char *data;
    size_t len;
    CHECK(blob_get(store, "song.wav", &data, &len, err, sizeof err) == BLOB_OK && len == 3 &&
              memcmp(data, "old", 3) == 0,
          "the old object was damaged");
    if (len == 3) free(data);

    /* A directory the process may not write: only meaningful when not root. */
    if (geteuid() != 0) {
        chmod(dir, 0555);
        st = blob_put(store, "song.wav", "new", 3, NULL, NULL, 0, err, sizeof err);
        chmod(dir, 0755);
        CHECK(st == BLOB_UNAVAILABLE, "read-only: %s", err);
        CHECK(strstr(err, "Permission denied") != NULL, "message: %s", err);
        CHECK(count_temporaries(dir) == 0, "temporaries left");
    }

    /* The directory replaced by a regular file (root cannot be stopped by a mode). */
    remove_tree(dir);
    FILE *f = fopen(dir, "w");
    REQUIRE(f, "cannot create %s", dir);
    fclose(f);
    st = blob_put(store, "song.wav", "new", 3, NULL, NULL, 0, err, sizeof err);
    CHECK(st == BLOB_UNAVAILABLE, "directory is a file: %s: %s", blob_status_name(st), err);
    CHECK(strstr(err, dir) != NULL, "message names the directory: %s", err);
    blob_close(store);

    char url[PATH_MAX + 32];
    snprintf(url, sizeof url, "file://%s/below", dir);
    CHECK(blob_open(url, NULL, &store, err, sizeof err) == BLOB_UNAVAILABLE, "open below a file");
    CHECK(strstr(err, "Not a directory") != NULL, "message: %s", err);
    unlink(dir);
}

TEST(directory_removed_after_open_is_recreated)
{
    char dir[PATH_MAX], err[512];
    scratch(dir, sizeof dir, "recreated");
    blob_store *store = open_file_store(dir);
    REQUIRE(store, "open");
    remove_tree(dir);
    CHECK(blob_put(store, "x.wav", "x", 1, NULL, NULL, 0, err, sizeof err) == BLOB_OK, "%s", err);
    blob_close(store);
}

/* Objects are 0640 in 0750 directories (issue 10, finding 8: they were
 * 0644 in 0755), whatever the umask allows beyond that. */
TEST(files_are_private_to_the_group)
{
    char dir[PATH_MAX], path[PATH_MAX + 32], err[512];
    mode_t old = umask(0);
    scratch(dir, sizeof dir, "modes/a/b");
    remove_tree(dir);
    blob_store *store = open_file_store(dir);
    REQUIRE(store, "open");
    CHECK(blob_put(store, "m.wav", "x", 1, NULL, NULL, 0, err, sizeof err) == BLOB_OK, "%s", err);
    struct stat sb;
    snprintf(path, sizeof path, "%s/m.wav", dir);
    CHECK(stat(path, &sb) == 0 && (sb.st_mode & 07777) == 0640, "file mode %o", (unsigned)(sb.st_mode & 07777));
    CHECK(stat(dir, &sb) == 0 && (sb.st_mode & 07777) == 0750, "directory mode %o",
          (unsigned)(sb.st_mode & 07777));
    /* Removed after opening: recreated with the same mode. */
    remove_tree(dir);
    CHECK(blob_put(store, "n.wav", "x", 1, NULL, NULL, 0, err, sizeof err) == BLOB_OK, "%s", err);
    CHECK(stat(dir, &sb) == 0 && (sb.st_mode & 07777) == 0750, "recreated directory mode %o",
          (unsigned)(sb.st_mode & 07777));
    blob_close(store);
    umask(old);
}

/* Temporaries of processes that died mid-put go when the store is opened;
 * those of live processes stay. */
TEST(orphaned_temporaries_are_removed)
{
    char dir[PATH_MAX], path[PATH_MAX + 64], err[512];
    scratch(dir, sizeof dir, "orphans");
    blob_store *store = open_file_store(dir);
    REQUIRE(store, "open");
    blob_close(store);

    pid_t dead = fork();
    REQUIRE(dead >= 0, "fork");
    if (dead == 0) _exit(0);
    waitpid(dead, NULL, 0);

    const char *names[] = {".job.wav.%ld.7~tmp", ".job.wav.1.8~tmp", "job.%ld.7~tmp", "keep.wav"};
    long pids[] = {(long)dead, 0, (long)dead, 0};
    for (int i = 0; i < 4; i++) {
        char name[64];
        snprintf(name, sizeof name, names[i], pids[i]);
        snprintf(path, sizeof path, "%s/%s", dir, name);
        FILE *f = fopen(path, "w");
        REQUIRE(f, "create %s", path);
        fclose(f);
    }
    store = open_file_store(dir);
    REQUIRE(store, "reopen");
    snprintf(path, sizeof path, "%s/.job.wav.%ld.7~tmp", dir, (long)dead);
    CHECK(access(path, F_OK) != 0, "the dead process's temporary is still there");
    snprintf(path, sizeof path, "%s/.job.wav.1.8~tmp", dir);
    CHECK(access(path, F_OK) == 0, "the temporary of pid 1 (alive) was removed");
    snprintf(path, sizeof path, "%s/job.%ld.7~tmp", dir, (long)dead);
    CHECK(access(path, F_OK) == 0, "a name without the leading '.' was removed");
    snprintf(path, sizeof path, "%s/keep.wav", dir);
    CHECK(access(path, F_OK) == 0, "an object was removed");
    (void)err;
    blob_close(store);
}

TEST(file_urls)
{
    char dir[PATH_MAX], url[PATH_MAX + 64], want[PATH_MAX + 64], err[512];
    blob_store *store;

    scratch(dir, sizeof dir, "with space");
    snprintf(url, sizeof url, "file://localhost%s/", dir); /* host "localhost", trailing '/' */
    REQUIRE(blob_open(url, NULL, &store, err, sizeof err) == BLOB_OK, "%s", err);
    snprintf(want, sizeof want, "file://%s", root);
    CHECK(strncmp(blob_store_url(store), want, strlen(want)) == 0 &&
              strcmp(blob_store_url(store) + strlen(want), "/with%20space") == 0,
          "store URL %s", blob_store_url(store));
    blob_close(store);

    snprintf(url, sizeof url, "file://%s/percent%%20decoded", root);
    REQUIRE(blob_open(url, NULL, &store, err, sizeof err) == BLOB_OK, "%s", err);
    blob_close(store);
    snprintf(dir, sizeof dir, "%s/percent decoded", root);
    struct stat sb;
    CHECK(stat(dir, &sb) == 0 && S_ISDIR(sb.st_mode), "%%20 did not become a space");

    const char *bad[] = {
        "file://relative/dir", "file:///", "file://", "file:///a%00b", "file:///a%zz",
        "file:///a?b", "http://example.com/x", "/var/lib/jen1/blobs", "", NULL,
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        store = NULL;
        blob_status st = blob_open(bad[i], NULL, &store, err, sizeof err);
        CHECK(st == BLOB_REJECTED && !store, "'%s' gave %s", bad[i] ? bad[i] : "(null)",
              blob_status_name(st));
    }
}

static void s3_test_options(blob_options *o)
{
    blob_options_init(o);
    snprintf(o->s3_access_key, sizeof o->s3_access_key, "AKIDTESTKEY");
    snprintf(o->s3_secret_key, sizeof o->s3_secret_key, "secret-Zq8xTr4");
}

TEST(s3_urls)
{
    blob_options o;
    s3_test_options(&o);
    char err[512], url[BLOB_URL_MAX];
    blob_store *store;

    REQUIRE(blob_open("s3://jen1-test/songs/2026/", &o, &store, err, sizeof err) == BLOB_OK, "%s", err);
    CHECK(strcmp(blob_store_url(store), "s3://jen1-test/songs/2026") == 0, "%s", blob_store_url(store));
    CHECK(blob_url(store, "job-1.wav", url, sizeof url) == 0 &&
              strcmp(url, "s3://jen1-test/songs/2026/job-1.wav") == 0,
          "%s", url);
    CHECK(blob_put(store, "../x", "x", 1, NULL, NULL, 0, err, sizeof err) == BLOB_REJECTED,
          "a bad key reaches S3");
    blob_close(store);

    REQUIRE(blob_open("s3://a.b-c", &o, &store, err, sizeof err) == BLOB_OK, "%s", err);
    CHECK(blob_url(store, "k", url, sizeof url) == 0 && strcmp(url, "s3://a.b-c/k") == 0, "%s", url);
    blob_close(store);

    const char *bad[] = {
        "s3://", "s3://ab", "s3://Upper-Case", "s3://under_score", "s3://-dash", "s3://b-1/../x",
        "s3://b-1/a//b", "s3://b-1//a", "s3://b-1/a b", "s3://b-1/./a", "s3://b-1/a?x=1",
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        store = NULL;
        blob_status st = blob_open(bad[i], &o, &store, err, sizeof err);
        CHECK(st == BLOB_REJECTED && !store, "'%s' gave %s", bad[i], blob_status_name(st));
    }

    blob_options none;
    blob_options_init(&none);
    CHECK(blob_open("s3://jen1-test", &none, &store, err, sizeof err) == BLOB_REJECTED, "no credentials");
    CHECK(strstr(err, "AWS_ACCESS_KEY_ID") != NULL, "%s", err);

    const char *endpoints[] = {"ftp://h", "http://h/path", "http://user:pw@h", "h:9000", "http://"};
    for (size_t i = 0; i < sizeof endpoints / sizeof endpoints[0]; i++) {
        snprintf(o.s3_endpoint, sizeof o.s3_endpoint, "%s", endpoints[i]);
        CHECK(blob_open("s3://jen1-test", &o, &store, err, sizeof err) == BLOB_REJECTED, "endpoint %s",
              endpoints[i]);
        CHECK(strstr(err, "JEN1_S3_ENDPOINT") && !strstr(err, endpoints[i]), "message: %s", err);
    }
    o.s3_endpoint[0] = '\0';
    snprintf(o.s3_region, sizeof o.s3_region, "us/east");
    CHECK(blob_open("s3://jen1-test", &o, &store, err, sizeof err) == BLOB_REJECTED, "region us/east");
    blob_options_clear(&o);
}

/* A loopback port with nothing listening. */
static int closed_port(void)
{
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    socklen_t n = sizeof a;
    if (fd < 0 || bind(fd, (struct sockaddr *)&a, sizeof a) != 0 ||
        getsockname(fd, (struct sockaddr *)&a, &n) != 0) {
        if (fd >= 0) close(fd);
        return -1;
    }
    close(fd);
    return ntohs(a.sin_port);
}

TEST(s3_unreachable_endpoint_is_unavailable)
{
    int port = closed_port();
    REQUIRE(port > 0, "no free port");
    blob_options o;
    s3_test_options(&o);
    snprintf(o.s3_endpoint, sizeof o.s3_endpoint, "http://127.0.0.1:%d", port);
    o.connect_timeout_ms = 2000;
    char err[512], port_text[16];
    blob_store *store;
    REQUIRE(blob_open("s3://jen1-test/songs", &o, &store, err, sizeof err) == BLOB_OK, "%s", err);
    blob_status st = blob_put(store, "job-1.wav", "RIFF", 4, "audio/wav", NULL, 0, err, sizeof err);
    CHECK(st == BLOB_UNAVAILABLE, "%s: %s", blob_status_name(st), err);
    CHECK(strstr(err, "s3://jen1-test/songs/job-1.wav") && strstr(err, "cannot reach"), "message: %s", err);
    snprintf(port_text, sizeof port_text, "%d", port);
    CHECK(!strstr(err, "127.0.0.1") && !strstr(err, port_text) && !strstr(err, "AKIDTESTKEY") &&
              !strstr(err, "secret-Zq8xTr4"),
          "the message names a setting: %s", err);
    unsigned char *data;
    size_t len;
    CHECK(blob_get(store, "job-1.wav", &data, &len, err, sizeof err) == BLOB_UNAVAILABLE, "get: %s", err);
    blob_close(store);
    blob_options_clear(&o);
}

static void clear_s3_env(void)
{
    const char *vars[] = {
        "JEN1_S3_ENDPOINT", "AWS_REGION", "AWS_DEFAULT_REGION", "AWS_ACCESS_KEY_ID",
        "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN", "JEN1_S3_CREDENTIALS_FILE", "AWS_PROFILE",
        "JEN1_S3_PATH_STYLE", "JEN1_S3_CONNECT_TIMEOUT_MS", "JEN1_S3_TIMEOUT_MS",
    };
    for (size_t i = 0; i < sizeof vars / sizeof vars[0]; i++) unsetenv(vars[i]);
}

TEST(options_from_the_environment)
{
    blob_options o;
    char err[512] = "";
    clear_s3_env();
    REQUIRE(blob_options_from_env(&o, err, sizeof err) == BLOB_OK, "%s", err);
    CHECK(!o.s3_endpoint[0] && !o.s3_access_key[0] && o.s3_path_style == -1 &&
              o.connect_timeout_ms == 10000 && o.timeout_ms == 300000,
          "defaults");

    setenv("JEN1_S3_ENDPOINT", "http://127.0.0.1:4569", 1);
    setenv("AWS_DEFAULT_REGION", "eu-west-1", 1);
    setenv("AWS_ACCESS_KEY_ID", "AKIDENV", 1);
    setenv("AWS_SECRET_ACCESS_KEY", "env-secret", 1);
    setenv("AWS_SESSION_TOKEN", "env-token", 1);
    setenv("JEN1_S3_PATH_STYLE", "0", 1);
    setenv("JEN1_S3_TIMEOUT_MS", "1500", 1);
    REQUIRE(blob_options_from_env(&o, err, sizeof err) == BLOB_OK, "%s", err);
    CHECK(strcmp(o.s3_endpoint, "http://127.0.0.1:4569") == 0, "%s", o.s3_endpoint);
    CHECK(strcmp(o.s3_region, "eu-west-1") == 0, "%s", o.s3_region);
    CHECK(strcmp(o.s3_access_key, "AKIDENV") == 0 && strcmp(o.s3_secret_key, "env-secret") == 0 &&
              strcmp(o.s3_session_token, "env-token") == 0,
          "credentials");
    CHECK(o.s3_path_style == 0 && o.timeout_ms == 1500, "path style %d, timeout %ld", o.s3_path_style,
          o.timeout_ms);
    setenv("AWS_REGION", "ap-south-1", 1);
    REQUIRE(blob_options_from_env(&o, err, sizeof err) == BLOB_OK, "%s", err);
    CHECK(strcmp(o.s3_region, "ap-south-1") == 0, "AWS_REGION wins: %s", o.s3_region);

    /* The environment's keys win over the file's. */
    char file[PATH_MAX];
    scratch(file, sizeof file, "credentials");
    FILE *f = fopen(file, "w");
    REQUIRE(f, "create %s", file);
    fprintf(f, "# comment\n[default]\naws_access_key_id=AKIDDEFAULT\n"
               "aws_secret_access_key = default-secret\n\n"
               "[profile other]\n  aws_access_key_id = AKIDOTHER  \naws_secret_access_key=other-secret\n"
               "aws_session_token=other-token\n[broken]\naws_access_key_id=AKIDONLY\n");
    fclose(f);
    setenv("JEN1_S3_CREDENTIALS_FILE", file, 1);
    REQUIRE(blob_options_from_env(&o, err, sizeof err) == BLOB_OK, "%s", err);
    CHECK(strcmp(o.s3_access_key, "AKIDENV") == 0, "the file won over the environment");

    unsetenv("AWS_ACCESS_KEY_ID");
    unsetenv("AWS_SECRET_ACCESS_KEY");
    unsetenv("AWS_SESSION_TOKEN");
    REQUIRE(blob_options_from_env(&o, err, sizeof err) == BLOB_OK, "%s", err);
    CHECK(strcmp(o.s3_access_key, "AKIDDEFAULT") == 0 && strcmp(o.s3_secret_key, "default-secret") == 0 &&
              !o.s3_session_token[0],
          "[default]: %s", o.s3_access_key);
    setenv("AWS_PROFILE", "other", 1);
    REQUIRE(blob_options_from_env(&o, err, sizeof err) == BLOB_OK, "%s", err);
    CHECK(strcmp(o.s3_access_key, "AKIDOTHER") == 0 && strcmp(o.s3_secret_key, "other-secret") == 0 &&
              strcmp(o.s3_session_token, "other-token") == 0,
          "[profile other]: '%s'", o.s3_access_key);

    setenv("AWS_PROFILE", "broken", 1);
    CHECK(blob_options_from_env(&o, err, sizeof err) == BLOB_REJECTED, "a profile without a secret");
    CHECK(strstr(err, "[broken]") && !strstr(err, "AKIDONLY"), "message: %s", err);
    setenv("AWS_PROFILE", "absent", 1);
    CHECK(blob_options_from_env(&o, err, sizeof err) == BLOB_REJECTED, "a missing profile");
    CHECK(strstr(err, "[absent]") != NULL, "message: %s", err);
    CHECK(o.s3_access_key[0] == '\0', "credentials kept after a failure");
    unsetenv("AWS_PROFILE");

    setenv("JEN1_S3_CREDENTIALS_FILE", "/nonexistent/credentials", 1);
    CHECK(blob_options_from_env(&o, err, sizeof err) == BLOB_REJECTED, "a missing file");
    CHECK(strstr(err, "/nonexistent/credentials") != NULL, "message: %s", err);
    unsetenv("JEN1_S3_CREDENTIALS_FILE");

    setenv("JEN1_S3_PATH_STYLE", "yes", 1);
    CHECK(blob_options_from_env(&o, err, sizeof err) == BLOB_REJECTED, "JEN1_S3_PATH_STYLE=yes");
    unsetenv("JEN1_S3_PATH_STYLE");
    setenv("JEN1_S3_CONNECT_TIMEOUT_MS", "-5", 1);
    CHECK(blob_options_from_env(&o, err, sizeof err) == BLOB_REJECTED, "a negative timeout");
    unsetenv("JEN1_S3_CONNECT_TIMEOUT_MS");

    /* NULL options: blob_open reads the same environment. */
    blob_store *store;
    CHECK(blob_open("s3://jen1-test", NULL, &store, err, sizeof err) == BLOB_REJECTED, "no credentials");
    setenv("AWS_ACCESS_KEY_ID", "AKIDENV", 1);
    setenv("AWS_SECRET_ACCESS_KEY", "env-secret", 1);
    CHECK(blob_open("s3://jen1-test", NULL, &store, err, sizeof err) == BLOB_OK, "%s", err);
    blob_close(store);

    REQUIRE(blob_options_from_env(&o, err, sizeof err) == BLOB_OK, "%s", err);
    blob_options_clear(&o);
    CHECK(!o.s3_access_key[0] && !o.s3_secret_key[0] && !o.s3_session_token[0], "not cleared");
    clear_s3_env();
}

TEST(status_names)
{
    CHECK(strcmp(blob_status_name(BLOB_OK), "ok") == 0, "ok");
    CHECK(strcmp(blob_status_name(BLOB_UNAVAILABLE), "unavailable") == 0, "unavailable");
    CHECK(strcmp(blob_status_name(BLOB_REJECTED), "rejected") == 0, "rejected");
    CHECK(strcmp(blob_status_name(BLOB_NOT_FOUND), "not_found") == 0, "not_found");
}

int main(void)
{
    char rel[PATH_MAX], abs[PATH_MAX], cmd[PATH_MAX + 16];
    snprintf(rel, sizeof rel, "%s/blob", check_tmp_dir());
    remove_tree(rel);
    snprintf(cmd, sizeof cmd, "mkdir -p '%s'", rel);
    if (system(cmd) != 0 || !realpath(rel, abs) || strlen(abs) >= sizeof root) {
        fprintf(stderr, "cannot create %s (or its absolute path is too long)\n", rel);
        return 1;
    }
    strcpy(root, abs);
    RUN(file_round_trip);
    RUN(overwrite_is_atomic);
    RUN(hostile_keys_are_refused);
    RUN(write_failures_are_unavailable);
    RUN(directory_removed_after_open_is_recreated);
    RUN(files_are_private_to_the_group);
    RUN(orphaned_temporaries_are_removed);
    RUN(file_urls);
    RUN(s3_urls);
    RUN(s3_unreachable_endpoint_is_unavailable);
    RUN(options_from_the_environment);
    RUN(status_names);
    return check_summary("test_blob");
}
