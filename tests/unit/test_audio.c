/* test_audio.c - common/audio.c: every format's name and MIME type, and a
 * tone encoded in each (to memory and to a file) read back by libsndfile
 * with its sample rate, length and level. */
#include <math.h>
#include <sndfile.h>
#include <stdlib.h>
#include <string.h>

#include "audio.h"
#include "check.h"

#define RATE 32000

static float *tone(int64_t n)
{
    float *x = malloc((size_t)n * sizeof *x);
    for (int64_t i = 0; x && i < n; i++) x[i] = (float)(0.5 * sin(2 * M_PI * 440.0 * (double)i / RATE));
    return x;
}

static double rms(const float *x, int64_t n)
{
    double sum = 0;
    for (int64_t i = 0; i < n; i++) sum += (double)x[i] * x[i];
    return n ? sqrt(sum / (double)n) : 0;
}

TEST(names_and_mime_types)
{
    const struct {
        const char *name, *mime;
        audio_format format;
    } cases[] = {{"wav", "audio/wav", AUDIO_WAV},
                 {"flac", "audio/flac", AUDIO_FLAC},
                 {"ogg", "audio/ogg", AUDIO_OGG},
                 {"mp3", "audio/mpeg", AUDIO_MP3}};
    for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
        audio_format f = AUDIO_WAV;
        CHECK(audio_format_parse(cases[i].name, &f) == 0 && f == cases[i].format, "%s", cases[i].name);
        CHECK(strcmp(audio_format_name(cases[i].format), cases[i].name) == 0, "name of %s", cases[i].name);
        CHECK(strcmp(audio_format_mime(cases[i].format), cases[i].mime) == 0, "MIME of %s: %s", cases[i].name,
              audio_format_mime(cases[i].format));
    }
    audio_format f;
    CHECK(audio_format_parse("MP3", &f) == -1 && audio_format_parse("aiff", &f) == -1 &&
              audio_format_parse(NULL, &f) == -1,
          "an unknown name parsed");
    CHECK(strcmp(audio_format_mime(AUDIO_N_FORMATS), "application/octet-stream") == 0, "MIME of no format");
}

TEST(every_format_is_available_here)
{
    /* Debian 12's libsndfile 1.2.0 is built with LAME and mpg123. */
    for (int f = 0; f < AUDIO_N_FORMATS; f++)
        CHECK(audio_format_available((audio_format)f), "%s cannot be written", audio_format_name((audio_format)f));
    CHECK(!audio_format_available(AUDIO_N_FORMATS), "a format past the table is available");
}

/* Reads a file back: its rate, channels, frames and samples. */
static float *read_back(const char *path, SF_INFO *info)
{
    memset(info, 0, sizeof *info);
    SNDFILE *sf = sf_open(path, SFM_READ, info);
    if (!sf) return NULL;
    float *x = malloc((size_t)(info->frames > 0 ? info->frames : 1) * sizeof *x);
    if (x) info->frames = sf_readf_float(sf, x, info->frames);
    sf_close(sf);
    return x;
}

/* The encoded tone read back: rate, mono, length (lossy codecs round to
 * whole frames of 1,152 samples at most) and level within 0.5 dB. */
static void check_tone(const char *what, const char *path, audio_format f, const float *x, int64_t n)
{
    SF_INFO info;
    float *back = read_back(path, &info);
    if (!back) {
        CHECK(0, "%s: libsndfile cannot read it back: %s", what, sf_strerror(NULL));
        return;
    }
    int lossless = f == AUDIO_WAV || f == AUDIO_FLAC;
    CHECK(info.samplerate == RATE && info.channels == 1, "%s: %d Hz, %d channels", what, info.samplerate,
          info.channels);
    CHECK(lossless ? info.frames == n : llabs((long long)(info.frames - n)) <= 1152, "%s: %lld frames of %lld",
          what, (long long)info.frames, (long long)n);
    if (f == AUDIO_MP3)
        CHECK((info.format & SF_FORMAT_TYPEMASK) == SF_FORMAT_MPEG, "%s: read as format %#x", what, info.format);
    int64_t m = info.frames < n ? info.frames : n;
    double level = 20 * log10(rms(back, m) / rms(x, m));
    CHECK(fabs(level) < 0.5, "%s: level off by %.2f dB", what, level);
    free(back);
}

TEST(a_tone_survives_every_format)
{
    const int64_t n = 3 * RATE;
    float *x = tone(n);
    REQUIRE(x, "out of memory");
    char err[256];
    for (int f = 0; f < AUDIO_N_FORMATS; f++) {
        const char *name = audio_format_name((audio_format)f);
        char file[64], what[64];
        unsigned char *bytes = NULL;
        size_t len = 0;
        snprintf(file, sizeof file, "memory.%s", name);
        const char *path = check_scratch_path("test_audio", file);
        snprintf(what, sizeof what, "%s in memory", name);
        if (audio_encode(x, n, RATE, (audio_format)f, &bytes, &len, err, sizeof err) != 0) {
            CHECK(0, "%s: %s", what, err);
            continue;
        }
        FILE *out = fopen(path, "wb");
        REQUIRE(out && fwrite(bytes, 1, len, out) == len && fclose(out) == 0, "cannot write %s", path);
        free(bytes);
        check_tone(what, path, (audio_format)f, x, n);

        snprintf(file, sizeof file, "file.%s", name);
        path = check_scratch_path("test_audio", file);
        snprintf(what, sizeof what, "%s to a file", name);
        if (audio_write_file(path, x, n, RATE, (audio_format)f, err, sizeof err) != 0) {
            CHECK(0, "%s: %s", what, err);
            continue;
        }
        check_tone(what, path, (audio_format)f, x, n);
    }
    free(x);
}

TEST(the_same_audio_gives_the_same_bytes)
{
    /* A retried job writes the same object: no encoder puts a time or a
     * random serial number into the file. */
    const int64_t n = RATE;
    float *x = tone(n);
    REQUIRE(x, "out of memory");
    char err[256];
    for (int f = 0; f < AUDIO_N_FORMATS; f++) {
        unsigned char *a = NULL, *b = NULL;
        size_t alen = 0, blen = 0;
        int ok = audio_encode(x, n, RATE, (audio_format)f, &a, &alen, err, sizeof err) == 0 &&
                 audio_encode(x, n, RATE, (audio_format)f, &b, &blen, err, sizeof err) == 0;
        CHECK(ok, "%s: %s", audio_format_name((audio_format)f), err);
        if (ok && f != AUDIO_OGG) /* Vorbis streams carry a random serial number */
            CHECK(alen == blen && memcmp(a, b, alen) == 0, "%s: two encodes differ",
                  audio_format_name((audio_format)f));
        free(a);
        free(b);
    }
    free(x);
}

TEST(bad_arguments_are_refused)
{
    char err[256];
    unsigned char *bytes = NULL;
    size_t len = 0;
    float x[4] = {0};
    CHECK(audio_encode(x, 4, 0, AUDIO_MP3, &bytes, &len, err, sizeof err) == -1 && !bytes, "rate 0 accepted");
    CHECK(audio_encode(NULL, 4, RATE, AUDIO_WAV, &bytes, &len, err, sizeof err) == -1, "no samples accepted");
    CHECK(audio_encode(x, 4, RATE, AUDIO_N_FORMATS, &bytes, &len, err, sizeof err) == -1 && strstr(err, "format"),
          "a format past the table accepted: %s", err);
}

int main(void)
{
    RUN(names_and_mime_types);
    RUN(every_format_is_available_here);
    RUN(a_tone_survives_every_format);
    RUN(the_same_audio_gives_the_same_bytes);
    RUN(bad_arguments_are_refused);
    return check_summary("test_audio");
}
