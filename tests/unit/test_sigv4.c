/* test_sigv4.c - the SigV4 signer against published vectors:
 *
 * - AWS's "aws-sig-v4-test-suite" (Apache-2.0; copied from botocore's
 *   tests/unit/auth/aws4_testsuite): request, expected signature. The cases
 *   under normalize-path/ other than get-space are left out on purpose: they
 *   expect "." / ".." / "//" folding, which S3 does not do and neither do we.
 * - S3 requests signed by botocore's S3SigV4Auth (Debian's python3-botocore),
 *   printed by tests/s3/sigv4_botocore.py for a fixed time.
 *
 * The suite's signatures cover every byte of the canonical request, so one
 * wrong byte anywhere (encoding, sorting, trimming) fails its case. */
#include <string.h>
#include <stdlib.h>

#include "check.h"
#include "sigv4.h"
#include "util.h"

#define SUITE_SECRET "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY"

typedef struct suite_case {
    const char *name, *method, *path;
    sigv4_pair query[4];
    size_t n_query;
    sigv4_pair headers[6];
    size_t n_headers;
    const char *body;
    const char *signature;
} suite_case;

static const suite_case suite[] = {
    {"get-vanilla", "GET", "/",
     {{0}}, 0,
     {{"Host", "example.amazonaws.com"}, {"X-Amz-Date", "20150830T123600Z"}}, 2,
     "", "5fa00fa31553b73ebf1942676e86291e8372ff2a2260956d9b8aae1d763fbf31"},
    {"post-vanilla", "POST", "/",
     {{0}}, 0,
     {{"Host", "example.amazonaws.com"}, {"X-Amz-Date", "20150830T123600Z"}}, 2,
     "", "5da7c1a2acd57cee7505fc6676e4e544621c30862966e37dddb68e92efbe5d6b"},
    {"get-vanilla-query", "GET", "/",
     {{0}}, 0,
     {{"Host", "example.amazonaws.com"}, {"X-Amz-Date", "20150830T123600Z"}}, 2,
     "", "5fa00fa31553b73ebf1942676e86291e8372ff2a2260956d9b8aae1d763fbf31"},
    {"get-vanilla-empty-query-key", "GET", "/",
     {{"Param1", "value1"}}, 1,
     {{"Host", "example.amazonaws.com"}, {"X-Amz-Date", "20150830T123600Z"}}, 2,
     "", "a67d582fa61cc504c4bae71f336f98b97f1ea3c7a6bfe1b6e45aec72011b9aeb"},
    {"get-vanilla-query-order-key", "GET", "/",
     {{"Param1", "value2"},
      {"Param1", "Value1"}}, 2,
     {{"Host", "example.amazonaws.com"}, {"X-Amz-Date", "20150830T123600Z"}}, 2,
     "", "eedbc4e291e521cf13422ffca22be7d2eb8146eecf653089df300a15b2382bd1"},
    {"get-vanilla-query-order-key-case", "GET", "/",
     {{"Param2", "value2"},
      {"Param1", "value1"}}, 2,
     {{"Host", "example.amazonaws.com"}, {"X-Amz-Date", "20150830T123600Z"}}, 2,
     "", "b97d918cfa904a5beff61c982a1b6f458b799221646efd99d3219ec94cdf2500"},
    {"get-vanilla-query-order-value", "GET", "/",
     {{"Param1", "value2"},
      {"Param1", "value1"}}, 2,
     {{"Host", "example.amazonaws.com"}, {"X-Amz-Date", "20150830T123600Z"}}, 2,
     "", "5772eed61e12b33fae39ee5e7012498b51d56abc0abb7c60486157bd471c4694"},
    {"get-vanilla-query-order-encoded", "GET", "/",
     {{"Param-3", "Value3"},
      {"Param", "Value2"},
      {"\341\210\264", "Value1"}}, 3,
     {{"Host", "example.amazonaws.com"}, {"X-Amz-Date", "20150830T123600Z"}}, 2,
     "", "371d3713e185cc334048618a97f809c9ffe339c62934c032af5a0e595648fcac"},
    {"get-vanilla-query-unreserved", "GET", "/",
     {{"-._~0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz",
       "-._~0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"}}, 1,
     {{"Host", "example.amazonaws.com"}, {"X-Amz-Date", "20150830T123600Z"}}, 2,
     "", "9c3e54bfcdf0b19771a7f523ee5669cdf59bc7cc0884027167c21bb143a40197"},
    {"get-vanilla-utf8-query", "GET", "/",
     {{"\341\210\264", "bar"}}, 1,
     {{"Host", "example.amazonaws.com"}, {"X-Amz-Date", "20150830T123600Z"}}, 2,
     "", "2cdec8eed098649ff3a119c94853b13c643bcf08f8b0a1d91e12c9027818dd04"},
    {"get-utf8", "GET", "/\341\210\264",
     {{0}}, 0,
     {{"Host", "example.amazonaws.com"}, {"X-Amz-Date", "20150830T123600Z"}}, 2,
     "", "8318018e0b0f223aa2bbf98705b62bb787dc9c0e678f255a891fd03141be5d85"},
    {"get-unreserved", "GET", "/-._~0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxy"
     "z",
     {{0}}, 0,
     {{"Host", "example.amazonaws.com"}, {"X-Amz-Date", "20150830T123600Z"}}, 2,
     "", "07ef7494c76fa4850883e2b006601f940f8a34d404d0cfa977f52a65bbf5f24f"},
    {"get-space", "GET", "/example space/",
     {{0}}, 0,
     {{"Host", "example.amazonaws.com"}, {"X-Amz-Date", "20150830T123600Z"}}, 2,
     "", "652487583200325589f1fba4c7e578f72c47cb61beeca81406b39ddec1366741"},
    {"get-header-key-duplicate", "GET", "/",
     {{0}}, 0,
     {{"Host", "example.amazonaws.com"},
      {"My-Header1", "value2"},
      {"My-Header1", "value2"},
      {"My-Header1", "value1"},
      {"X-Amz-Date", "20150830T123600Z"}}, 5,
     "", "c9d5ea9f3f72853aea855b47ea873832890dbdd183b4468f858259531a5138ea"},
    {"get-header-value-order", "GET", "/",
     {{0}}, 0,
     {{"Host", "example.amazonaws.com"},
      {"My-Header1", "value4"},
      {"My-Header1", "value1"},
      {"My-Header1", "value3"},
      {"My-Header1", "value2"},
      {"X-Amz-Date", "20150830T123600Z"}}, 6,
     "", "08c7e5a9acfcfeb3ab6b2185e75ce8b1deb5e634ec47601a50643f830c755c01"},
    {"get-header-value-trim", "GET", "/",
     {{0}}, 0,
     {{"Host", "example.amazonaws.com"},
      {"My-Header1", " value1"},
      {"My-Header2", " \"a   b   c\""},
      {"X-Amz-Date", "20150830T123600Z"}}, 4,
     "", "acc3ed3afb60bb290fc8d2dd0098b9911fcaa05412b367055dee359757a9c736"},
    {"post-header-key-case", "POST", "/",
     {{0}}, 0,
     {{"Host", "example.amazonaws.com"}, {"X-Amz-Date", "20150830T123600Z"}}, 2,
     "", "5da7c1a2acd57cee7505fc6676e4e544621c30862966e37dddb68e92efbe5d6b"},
    {"post-header-key-sort", "POST", "/",
     {{0}}, 0,
     {{"Host", "example.amazonaws.com"},
      {"My-Header1", "value1"},
      {"X-Amz-Date", "20150830T123600Z"}}, 3,
     "", "c5410059b04c1ee005303aed430f6e6645f61f4dc9e1461ec8f8916fdf18852c"},
    {"post-header-value-case", "POST", "/",
     {{0}}, 0,
     {{"Host", "example.amazonaws.com"},
      {"My-Header1", "VALUE1"},
      {"X-Amz-Date", "20150830T123600Z"}}, 3,
     "", "cdbc9802e29d2942e5e10b5bccfdd67c5f22c7c4e8ae67b53629efa58b974b7d"},
    {"post-vanilla-query", "POST", "/",
     {{"Param1", "value1"}}, 1,
     {{"Host", "example.amazonaws.com"}, {"X-Amz-Date", "20150830T123600Z"}}, 2,
     "", "28038455d6de14eafc1f9222cf5aa6f1a96197d7deb8263271d420d138af7f11"},
    {"post-vanilla-empty-query-value", "POST", "/",
     {{"Param1", "value1"}}, 1,
     {{"Host", "example.amazonaws.com"}, {"X-Amz-Date", "20150830T123600Z"}}, 2,
     "", "28038455d6de14eafc1f9222cf5aa6f1a96197d7deb8263271d420d138af7f11"},
    {"post-x-www-form-urlencoded", "POST", "/",
     {{0}}, 0,
     {{"Content-Type", "application/x-www-form-urlencoded"},
      {"Host", "example.amazonaws.com"},
      {"X-Amz-Date", "20150830T123600Z"}}, 3,
     "Param1=value1", "ff11897932ad3f4e8b18135d722051e5ac45fc38421b1da7b9d196a0fe09473a"},
    {"post-x-www-form-urlencoded-parameters", "POST", "/",
     {{0}}, 0,
     {{"Content-Type", "application/x-www-form-urlencoded; charset=utf8"},
      {"Host", "example.amazonaws.com"},
      {"X-Amz-Date", "20150830T123600Z"}}, 3,
     "Param1=value1", "1a72ec8f64bd914b0e42e42607c7fbce7fb2c7465f63e3092b3b0d39fa77a6fe"},
    /* The suite's .req leaves the token out; its .creq shows it signed. */
    {"get-vanilla-with-session-token", "GET", "/",
     {{0}}, 0,
     {{"Host", "example.amazonaws.com"},
      {"X-Amz-Date", "20150830T123600Z"},
      {"X-Amz-Security-Token",
       "6e86291e8372ff2a2260956d9b8aae1d763fbf315fa00fa31553b73ebf194267"}}, 3,
     "", "07ec1639c89043aa0e3e2de82b96708f198cceab042d4a97044c66dd9f74e7f8"},
    {"post-sts-header-before", "POST", "/",
     {{0}}, 0,
     {{"Host", "example.amazonaws.com"},
      {"X-Amz-Date", "20150830T123600Z"},
      {"X-Amz-Security-Token",
       "AQoDYXdzEPT//////////wEXAMPLEtc764bNrC9SAPBSM22wDOk4x4HIZ8j4FZTwdQ"
       "WLWsKWHGBuFqwAeMicRXmxfpSPfIeoIYRqTflfKD8YUuwthAx7mSEI/qkPpKPi/kMc"
       "GdQrmGdeehM4IC1NtBmUpp2wUE8phUZampKsburEDy0KPkyQDYwT7WZ0wq5VSXDvp7"
       "5YU9HFvlRd8Tx6q6fE8YQcHNVXAkiY9q6d+xo0rKwT38xVqr7ZD0u0iPPkUL64lIZb"
       "qBAz+scqKmlzm8FDrypNC9Yjc8fPOLn9FX9KSYvKTr4rvx3iSIlTJabIQwj2ICCR/o"
       "LxBA=="}}, 3,
     "", "85d96828115b5dc0cfc3bd16ad9e210dd772bbebba041836c64533a82be05ead"},
};

static void payload_hash(const char *body, char hex[65])
{
    sha256_hex(body, strlen(body), hex);
}

static sigv4_credentials suite_credentials(void)
{
    sigv4_credentials c = {"AKIDEXAMPLE", SUITE_SECRET, "us-east-1", "service"};
    return c;
}

static sigv4_request suite_request(const suite_case *c, char hash[65])
{
    payload_hash(c->body, hash);
    sigv4_request r = {c->method, c->path, c->query, c->n_query, c->headers, c->n_headers, hash};
    return r;
}

TEST(aws_suite_signatures)
{
    sigv4_credentials cred = suite_credentials();
    for (size_t i = 0; i < sizeof suite / sizeof suite[0]; i++) {
        char hash[65], auth[512], err[256] = "";
        sigv4_request req = suite_request(&suite[i], hash);
        int rc = sigv4_authorization(&req, &cred, auth, sizeof auth, err, sizeof err);
        CHECK(rc == 0, "%s: %s", suite[i].name, err);
        if (rc != 0) continue;
        const char *sig = strstr(auth, "Signature=");
        CHECK(sig && strcmp(sig + 10, suite[i].signature) == 0, "%s: got %s, want Signature=%s",
              suite[i].name, auth, suite[i].signature);
        static const char prefix[] =
            "AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/20150830/us-east-1/service/aws4_request, SignedHeaders=";
        CHECK(strncmp(auth, prefix, strlen(prefix)) == 0, "%s: %s", suite[i].name, auth);
    }
}

static const suite_case *suite_find(const char *name)
{
    for (size_t i = 0; i < sizeof suite / sizeof suite[0]; i++)
        if (strcmp(suite[i].name, name) == 0) return &suite[i];
    return NULL;
}

/* The intermediate texts too, so that a failure says which step is wrong. */
TEST(aws_suite_canonical_requests)
{
    static const struct { const char *name, *creq; } expected[] = {
        {"get-vanilla-query-order-encoded",
         "GET\n/\n%E1%88%B4=Value1&Param=Value2&Param-3=Value3\nhost:example.amazonaws.com\n"
         "x-amz-date:20150830T123600Z\n\nhost;x-amz-date\n"
         "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"},
        {"get-header-key-duplicate",
         "GET\n/\n\nhost:example.amazonaws.com\nmy-header1:value2,value2,value1\n"
         "x-amz-date:20150830T123600Z\n\nhost;my-header1;x-amz-date\n"
         "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"},
        {"get-header-value-trim",
         "GET\n/\n\nhost:example.amazonaws.com\nmy-header1:value1\nmy-header2:\"a b c\"\n"
         "x-amz-date:20150830T123600Z\n\nhost;my-header1;my-header2;x-amz-date\n"
         "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"},
        {"get-utf8",
         "GET\n/%E1%88%B4\n\nhost:example.amazonaws.com\nx-amz-date:20150830T123600Z\n\n"
         "host;x-amz-date\ne3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"},
        {"post-x-www-form-urlencoded",
         "POST\n/\n\ncontent-type:application/x-www-form-urlencoded\nhost:example.amazonaws.com\n"
         "x-amz-date:20150830T123600Z\n\ncontent-type;host;x-amz-date\n"
         "9095672bbd1f56dfc5b65f3e153adc8731a4a654192329106275f4c7b24d0b6e"},
    };
    for (size_t i = 0; i < sizeof expected / sizeof expected[0]; i++) {
        const suite_case *c = suite_find(expected[i].name);
        REQUIRE(c, "no case %s", expected[i].name);
        char hash[65], err[256] = "", *creq = NULL;
        sigv4_request req = suite_request(c, hash);
        REQUIRE(sigv4_canonical_request(&req, &creq, err, sizeof err) == 0, "%s: %s", c->name, err);
        CHECK(strcmp(creq, expected[i].creq) == 0, "%s:\n%s\n-- want --\n%s", c->name, creq,
              expected[i].creq);
        free(creq);
    }

    char hash[65], err[256] = "", *sts = NULL;
    sigv4_credentials cred = suite_credentials();
    sigv4_request req = suite_request(suite_find("get-vanilla"), hash);
    REQUIRE(sigv4_string_to_sign(&req, &cred, &sts, err, sizeof err) == 0, "%s", err);
    CHECK(strcmp(sts, "AWS4-HMAC-SHA256\n20150830T123600Z\n20150830/us-east-1/service/aws4_request\n"
                      "bb579772317eb040ac9ed261061d46c1f17a8133879d6129b6e1c25292927e63") == 0,
          "%s", sts);
    free(sts);
}

/* S3 requests as jen1 sends them (payload hash, Content-MD5, session
 * token, keys with spaces, '+', '=', UTF-8), signed by botocore. */
TEST(botocore_s3_signatures)
{
    static const struct {
        const char *name, *method, *path, *body;
        sigv4_pair headers[7];
        size_t n_headers;
        const char *authorization;
    } cases[] = {
        {"put-path-style", "PUT", "/jen1-test/songs/job-1.wav", "RIFF....WAVEfmt ",
         {{"Host", "127.0.0.1:4569"}, {"Content-Type", "audio/wav"},
          {"Content-MD5", "wd3jog+p7gjzsBU7g6CBNA=="}, {"X-Amz-Date", "20260314T150926Z"},
          {"X-Amz-Content-SHA256", "aeb852048e35be4391685af966e670f32bb52a5064ce93030911a087d7f115f7"}},
         5,
         "AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/20260314/eu-west-1/s3/aws4_request, "
         "SignedHeaders=content-md5;content-type;host;x-amz-content-sha256;x-amz-date, "
         "Signature=f1c6f42ef5b617883aa8a268a53f1ee162b16fdf57ba5ca9a36a7b1d530eed9b"},
        {"put-virtual-host-token", "PUT", "/prefix/a b+c~d=e.flac", NULL,
         {{"Host", "jen1-audio.s3.eu-west-1.amazonaws.com"}, {"Content-Type", "audio/flac"},
          {"Content-MD5", "BK0PWeMUw8N3haHlRvoxig=="}, {"X-Amz-Date", "20260314T150926Z"},
          {"X-Amz-Security-Token", "FwoGZXIvYXdzEJr//////////wEaDExampleSessionToken+/=="},
          {"X-Amz-Content-SHA256", "1cd58665f359be62984d3303237f26ca2a3394cb12cd16361ae7a0cec25d80b6"}},
         6,
         "AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/20260314/eu-west-1/s3/aws4_request, "
         "SignedHeaders=content-md5;content-type;host;x-amz-content-sha256;x-amz-date;x-amz-security-token, "
         "Signature=b2069cc489d05d8373ddc40cf4f901d56db636dab96b3ebf3fadff9f50cc4fce"},
        {"get-utf8-key", "GET", "/bucket/m\xc3\xbcsic/\xe1\x88\xb4.ogg", "",
         {{"Host", "localhost:9000"}, {"X-Amz-Date", "20260314T150926Z"},
          {"X-Amz-Content-SHA256", "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"}},
         3,
         "AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/20260314/eu-west-1/s3/aws4_request, "
         "SignedHeaders=host;x-amz-content-sha256;x-amz-date, "
         "Signature=26c2e3f0b944b1a0ec805aabe6e9bd3c8bdb5aaf8f15d2c61892afb85f4f9626"},
    };
    /* put-virtual-host-token's body: "fLaC" 100 times. */
    char flac[401];
    for (int i = 0; i < 100; i++) memcpy(flac + 4 * i, "fLaC", 4);
    flac[400] = '\0';

    sigv4_credentials cred = {"AKIDEXAMPLE", SUITE_SECRET, "eu-west-1", "s3"};
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        const char *body = cases[i].body ? cases[i].body : flac;
        char hash[65], auth[512], err[256] = "";
        payload_hash(body, hash);
        /* The payload hash botocore sent must be the body's, or the vector is moot. */
        const char *sent = NULL;
        for (size_t h = 0; h < cases[i].n_headers; h++)
            if (strcmp(cases[i].headers[h].name, "X-Amz-Content-SHA256") == 0)
                sent = cases[i].headers[h].value;
        CHECK(sent && strcmp(sent, hash) == 0, "%s: payload hash %s", cases[i].name, hash);
        sigv4_request req = {cases[i].method, cases[i].path, NULL, 0, cases[i].headers,
                             cases[i].n_headers, hash};
        REQUIRE(sigv4_authorization(&req, &cred, auth, sizeof auth, err, sizeof err) == 0, "%s: %s",
                cases[i].name, err);
        CHECK(strcmp(auth, cases[i].authorization) == 0, "%s:\n got  %s\n want %s", cases[i].name,
              auth, cases[i].authorization);
    }
}

/* The same request with one thing changed must sign differently: guards
 * against a signer that ignores part of its input. */
TEST(every_input_changes_the_signature)
{
    sigv4_pair headers[] = {{"Host", "example.amazonaws.com"}, {"X-Amz-Date", "20150830T123600Z"}};
    char hash[65], base[512], other[512], err[256];
    payload_hash("", hash);
    sigv4_request req = {"GET", "/", NULL, 0, headers, 2, hash};
    sigv4_credentials cred = suite_credentials();
    REQUIRE(sigv4_authorization(&req, &cred, base, sizeof base, err, sizeof err) == 0, "%s", err);
    CHECK(strstr(base, suite_find("get-vanilla")->signature) != NULL, "%s", base);

    sigv4_credentials wrong_secret = cred;
    wrong_secret.secret_key = "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEZ";
    REQUIRE(sigv4_authorization(&req, &wrong_secret, other, sizeof other, err, sizeof err) == 0, "%s", err);
    CHECK(strcmp(base, other) != 0, "the secret key changed nothing");

    sigv4_credentials other_region = cred;
    other_region.region = "us-west-2";
    REQUIRE(sigv4_authorization(&req, &other_region, other, sizeof other, err, sizeof err) == 0, "%s", err);
    CHECK(strcmp(base, other) != 0, "the region changed nothing");

    char body_hash[65];
    payload_hash("x", body_hash);
    sigv4_request with_body = req;
    with_body.payload_sha256 = body_hash;
    REQUIRE(sigv4_authorization(&with_body, &cred, other, sizeof other, err, sizeof err) == 0, "%s", err);
    CHECK(strcmp(base, other) != 0, "the payload changed nothing");

    sigv4_request other_path = req;
    other_path.path = "/a";
    REQUIRE(sigv4_authorization(&other_path, &cred, other, sizeof other, err, sizeof err) == 0, "%s", err);
    CHECK(strcmp(base, other) != 0, "the path changed nothing");
}

TEST(helpers)
{
    char hex[65];
    sha256_hex("", 0, hex);
    CHECK(strcmp(hex, "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855") == 0, "%s", hex);
    sha256_hex("abc", 3, hex);
    CHECK(strcmp(hex, "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad") == 0, "%s", hex);

    char date[17];
    sigv4_amz_date(1440938160, date);
    CHECK(strcmp(date, "20150830T123600Z") == 0, "%s", date);

    char enc[64];
    CHECK(sigv4_uri_encode("a b/c+d~e", 1, enc, sizeof enc) == 13 && strcmp(enc, "a%20b/c%2Bd~e") == 0,
          "%s", enc);
    CHECK(sigv4_uri_encode("a b/c", 0, enc, sizeof enc) == 9 && strcmp(enc, "a%20b%2Fc") == 0, "%s", enc);
    CHECK(sigv4_uri_encode("\xe1\x88\xb4", 0, enc, sizeof enc) == 9 && strcmp(enc, "%E1%88%B4") == 0,
          "%s", enc);
    /* Too small a buffer: truncated, NUL-terminated, full length returned. */
    CHECK(sigv4_uri_encode("a b", 0, enc, 3) == 5 && strcmp(enc, "a%") == 0, "%s", enc);
    CHECK(sigv4_uri_encode("abc", 0, NULL, 0) == 3, "length only");
}

TEST(refuses_incomplete_requests_without_naming_the_secret)
{
    char hash[65], auth[512], err[256];
    payload_hash("", hash);
    sigv4_credentials cred = suite_credentials();

    sigv4_pair no_date[] = {{"Host", "example.amazonaws.com"}};
    sigv4_request req = {"GET", "/", NULL, 0, no_date, 1, hash};
    CHECK(sigv4_authorization(&req, &cred, auth, sizeof auth, err, sizeof err) == -1, "no x-amz-date");
    CHECK(strstr(err, "x-amz-date") != NULL, "%s", err);

    sigv4_pair bad_date[] = {{"Host", "h"}, {"X-Amz-Date", "2015-08-30"}};
    req.headers = bad_date;
    req.n_headers = 2;
    CHECK(sigv4_authorization(&req, &cred, auth, sizeof auth, err, sizeof err) == -1, "bad date");

    sigv4_pair injected[] = {
        {"Host", "h"}, {"X-Amz-Date", "20150830T123600Z"}, {"X-Evil", "a\r\nHost: other"}};
    req.headers = injected;
    req.n_headers = 3;
    CHECK(sigv4_authorization(&req, &cred, auth, sizeof auth, err, sizeof err) == -1, "CRLF in a value");
    CHECK(strstr(err, "X-Evil") != NULL, "%s", err);

    sigv4_pair ok[] = {{"Host", "h"}, {"X-Amz-Date", "20150830T123600Z"}};
    req.headers = ok;
    req.n_headers = 2;
    req.path = "no-slash";
    CHECK(sigv4_authorization(&req, &cred, auth, sizeof auth, err, sizeof err) == -1, "relative path");
    req.path = "/";

    CHECK(sigv4_authorization(&req, &cred, auth, 40, err, sizeof err) == -1, "small buffer");
    CHECK(strstr(err, SUITE_SECRET) == NULL, "%s", err);

    sigv4_credentials no_secret = cred;
    no_secret.secret_key = "";
    CHECK(sigv4_authorization(&req, &no_secret, auth, sizeof auth, err, sizeof err) == -1, "no secret");
    sigv4_credentials bad_region = cred;
    bad_region.region = "us/east";
    CHECK(sigv4_authorization(&req, &bad_region, auth, sizeof auth, err, sizeof err) == -1,
          "region with '/'");
}

int main(void)
{
    RUN(aws_suite_signatures);
    RUN(aws_suite_canonical_requests);
    RUN(botocore_s3_signatures);
    RUN(every_input_changes_the_signature);
    RUN(helpers);
    RUN(refuses_incomplete_requests_without_naming_the_secret);
    return check_summary("test_sigv4");
}
