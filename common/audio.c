/* audio.c - see audio.h. In-memory encoding goes through libsndfile's
 * virtual I/O into a growing buffer. MP3 is variable bitrate at LAME's -V2
 * ("standard", its recommended transparent preset): some 70 to 100 kbit/s
 * for MusicGen's 32 kHz mono, against 16-bit WAV's 512. */
#include "audio.h"

#include "buf.h"

#include <sndfile.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* MPEG layer III and its bitrate setting as libsndfile 1.1 and later number
 * them (sndfile.h's values, part of its ABI), written out so that this file
 * also compiles against older headers (Ubuntu 22.04's 1.0.31, which
 * Dockerfile.gpu builds on): such a library refuses mp3 when asked. */
enum { SF_MP3 = 0x230000 | 0x0082, SF_SET_BITRATE_MODE = 0x1305, SF_BITRATE_VARIABLE = 2 };

static const struct {
    const char *name, *mime;
    int sf_format;
} formats[] = {
    [AUDIO_WAV] = {"wav", "audio/wav", SF_FORMAT_WAV | SF_FORMAT_PCM_16},
    [AUDIO_FLAC] = {"flac", "audio/flac", SF_FORMAT_FLAC | SF_FORMAT_PCM_16},
    [AUDIO_OGG] = {"ogg", "audio/ogg", SF_FORMAT_OGG | SF_FORMAT_VORBIS},
    [AUDIO_MP3] = {"mp3", "audio/mpeg", SF_MP3},
};
/* libsndfile's compression level is LAME's VBR quality / 10: -V2. */
#define MP3_VBR_LEVEL 0.2
#define N_FORMATS (sizeof formats / sizeof formats[0])

int audio_format_parse(const char *name, audio_format *out)
{
    for (size_t i = 0; name && i < N_FORMATS; i++) {
        if (strcmp(name, formats[i].name) == 0) {
            *out = (audio_format)i;
            return 0;
        }
    }
    return -1;
}

const char *audio_format_name(audio_format format)
{
    return (size_t)format < N_FORMATS ? formats[format].name : "?";
}

const char *audio_format_mime(audio_format format)
{
    return (size_t)format < N_FORMATS ? formats[format].mime : "application/octet-stream";
}

static int sf_format_of(audio_format format)
{
    return (size_t)format < N_FORMATS ? formats[format].sf_format : 0;
}

static SF_INFO mono_info(int rate, audio_format format)
{
    SF_INFO info = {.samplerate = rate, .channels = 1, .format = sf_format_of(format)};
    return info;
}

/* The encoder's settings beyond the format: MP3's quality. */
static void configure(SNDFILE *sf, audio_format format)
{
    if (format != AUDIO_MP3) return;
    int mode = SF_BITRATE_VARIABLE;
    double level = MP3_VBR_LEVEL;
    sf_command(sf, SF_SET_BITRATE_MODE, &mode, sizeof mode);
    sf_command(sf, SFC_SET_COMPRESSION_LEVEL, &level, sizeof level);
}

/* Writes every sample, clipping, then closes. */
static int write_all(SNDFILE *sf, const float *samples, int64_t n, char *err, size_t errlen)
{
    sf_command(sf, SFC_SET_CLIPPING, NULL, SF_TRUE);
    sf_count_t done = sf_writef_float(sf, samples, (sf_count_t)n);
    int rc = 0;
    if (done != (sf_count_t)n) {
        snprintf(err, errlen, "audio: wrote %lld of %lld samples: %s", (long long)done, (long long)n,
                 sf_strerror(sf));
        rc = -1;
    }
    if (sf_close(sf) != 0 && rc == 0) {
        snprintf(err, errlen, "audio: closing the encoder failed");
        rc = -1;
    }
    return rc;
}

static int check_args(const float *samples, int64_t n, int rate, audio_format format, char *err, size_t errlen)
{
    if ((!samples && n > 0) || n < 0 || rate <= 0 || (size_t)format >= N_FORMATS) {
        snprintf(err, errlen, "audio: bad arguments (samples %lld, rate %d, format %d)", (long long)n, rate,
                 (int)format);
        return -1;
    }
    return 0;
}

static int explain_unavailable(audio_format format, char *err, size_t errlen);

int audio_write_file(const char *path, const float *samples, int64_t n, int rate, audio_format format,
                     char *err, size_t errlen)
{
    if (check_args(samples, n, rate, format, err, errlen) != 0) return -1;
    SF_INFO info = mono_info(rate, format);
    SNDFILE *sf = sf_open(path, SFM_WRITE, &info);
    if (!sf) {
        if (!explain_unavailable(format, err, errlen)) snprintf(err, errlen, "%s: %s", path, sf_strerror(NULL));
        return -1;
    }
    configure(sf, format);
    return write_all(sf, samples, n, err, errlen);
}

/* The encoder's output file in memory: libsndfile seeks back to patch
 * headers, so writes land at `pos`, and a write past the end leaves zeros. */
typedef struct {
    buf bytes;
    sf_count_t pos;
} memfile;

static sf_count_t mem_length(void *user) { return (sf_count_t)((memfile *)user)->bytes.len; }
static sf_count_t mem_tell(void *user) { return ((memfile *)user)->pos; }

static sf_count_t mem_seek(sf_count_t offset, int whence, void *user)
{
    memfile *m = user;
    sf_count_t base = whence == SEEK_SET ? 0 : whence == SEEK_CUR ? m->pos : (sf_count_t)m->bytes.len;
    if (base + offset < 0) return -1;
    m->pos = base + offset;
    return m->pos;
}

static sf_count_t mem_read(void *ptr, sf_count_t count, void *user)
{
    memfile *m = user;
    sf_count_t len = (sf_count_t)m->bytes.len;
    sf_count_t avail = m->pos < len ? len - m->pos : 0;
    if (count > avail) count = avail;
    if (count > 0) memcpy(ptr, m->bytes.data + m->pos, (size_t)count);
    m->pos += count;
    return count;
}

static sf_count_t mem_write(const void *ptr, sf_count_t count, void *user)
{
    memfile *m = user;
    if (count <= 0) return 0;
    if (buf_grow_zero(&m->bytes, (size_t)(m->pos + count)) != 0) return 0;
    memcpy(m->bytes.data + m->pos, ptr, (size_t)count);
    m->pos += count;
    return count;
}

int audio_encode(const float *samples, int64_t n, int rate, audio_format format, unsigned char **out,
                 size_t *out_len, char *err, size_t errlen)
{
    *out = NULL;
    *out_len = 0;
    if (check_args(samples, n, rate, format, err, errlen) != 0) return -1;
    SF_VIRTUAL_IO io = {mem_length, mem_seek, mem_read, mem_write, mem_tell};
    memfile m = {BUF_INIT, 0};
    SF_INFO info = mono_info(rate, format);
    SNDFILE *sf = sf_open_virtual(&io, SFM_WRITE, &info, &m);
    if (!sf) {
        if (!explain_unavailable(format, err, errlen))
            snprintf(err, errlen, "audio: cannot start a %s encoder at %d Hz: %s", audio_format_name(format), rate,
                     sf_strerror(NULL));
        buf_free(&m.bytes);
        return -1;
    }
    configure(sf, format);
    if (write_all(sf, samples, n, err, errlen) != 0 || buf_failed(&m.bytes)) {
        if (buf_failed(&m.bytes)) snprintf(err, errlen, "audio: out of memory while encoding");
        buf_free(&m.bytes);
        return -1;
    }
    *out = (unsigned char *)buf_detach(&m.bytes, out_len);
    if (!*out) {
        snprintf(err, errlen, "audio: out of memory while encoding");
        return -1;
    }
    return 0;
}

/* An encoder opened and closed on a scratch file in memory: whether this
 * libsndfile was built with the format's codec. sf_format_check alone
 * answers from libsndfile's format tables, which list MPEG whether or not
 * the library was built with LAME. */
static int encoder_starts(audio_format format)
{
    SF_VIRTUAL_IO io = {mem_length, mem_seek, mem_read, mem_write, mem_tell};
    memfile m = {BUF_INIT, 0};
    SF_INFO info = mono_info(32000, format);
    SNDFILE *sf = sf_open_virtual(&io, SFM_WRITE, &info, &m);
    if (sf) sf_close(sf);
    buf_free(&m.bytes);
    return sf != NULL;
}

int audio_format_available(audio_format format)
{
    /* Asked once per format and process: the answer is the library's. */
    static atomic_int known[N_FORMATS]; /* 0: not asked yet, 1: yes, 2: no */
    if ((size_t)format >= N_FORMATS) return 0;
    int answer = atomic_load(&known[format]);
    if (answer == 0) {
        SF_INFO info = mono_info(32000, format);
        answer = sf_format_check(&info) && encoder_starts(format) ? 1 : 2;
        atomic_store(&known[format], answer);
    }
    return answer == 1;
}

/* After an encoder did not start: when the format is missing from this
 * build, says so (and returns 1). */
static int explain_unavailable(audio_format format, char *err, size_t errlen)
{
    if (audio_format_available(format)) return 0;
    snprintf(err, errlen, "audio: this build of libsndfile (%s) cannot write %s%s", sf_version_string(),
             audio_format_name(format),
             format == AUDIO_MP3 ? ": MP3 needs libsndfile 1.1 or later built with LAME and mpg123" : "");
    return 1;
}
