/* audio.c - see audio.h. In-memory encoding goes through libsndfile's
 * virtual I/O into a growing buffer. */
#include "audio.h"

#include <sndfile.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int audio_format_parse(const char *name, audio_format *out)
{
    if (!name) return -1;
    if (strcmp(name, "wav") == 0) *out = AUDIO_WAV;
    else if (strcmp(name, "flac") == 0) *out = AUDIO_FLAC;
    else if (strcmp(name, "ogg") == 0) *out = AUDIO_OGG;
    else return -1;
    return 0;
}

const char *audio_format_name(audio_format format)
{
    switch (format) {
    case AUDIO_WAV: return "wav";
    case AUDIO_FLAC: return "flac";
    case AUDIO_OGG: return "ogg";
    }
    return "?";
}

const char *audio_format_mime(audio_format format)
{
    switch (format) {
    case AUDIO_WAV: return "audio/wav";
    case AUDIO_FLAC: return "audio/flac";
    case AUDIO_OGG: return "audio/ogg";
    }
    return "application/octet-stream";
}

static int sf_format_of(audio_format format)
{
    switch (format) {
    case AUDIO_WAV: return SF_FORMAT_WAV | SF_FORMAT_PCM_16;
    case AUDIO_FLAC: return SF_FORMAT_FLAC | SF_FORMAT_PCM_16;
    case AUDIO_OGG: return SF_FORMAT_OGG | SF_FORMAT_VORBIS;
    }
    return 0;
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

static int check_args(const float *samples, int64_t n, int rate, char *err, size_t errlen)
{
    if ((!samples && n > 0) || n < 0 || rate <= 0) {
        snprintf(err, errlen, "audio: bad arguments (samples %lld, rate %d)", (long long)n, rate);
        return -1;
    }
    return 0;
}

int audio_write_file(const char *path, const float *samples, int64_t n, int rate, audio_format format,
                     char *err, size_t errlen)
{
    if (check_args(samples, n, rate, err, errlen) != 0) return -1;
    SF_INFO info = {.samplerate = rate, .channels = 1, .format = sf_format_of(format)};
    SNDFILE *sf = sf_open(path, SFM_WRITE, &info);
    if (!sf) {
        snprintf(err, errlen, "%s: %s", path, sf_strerror(NULL));
        return -1;
    }
    return write_all(sf, samples, n, err, errlen);
}

typedef struct {
    unsigned char *data;
    sf_count_t len, cap, pos;
    int failed;
} membuf;

static sf_count_t mem_length(void *user) { return ((membuf *)user)->len; }
static sf_count_t mem_tell(void *user) { return ((membuf *)user)->pos; }

static sf_count_t mem_seek(sf_count_t offset, int whence, void *user)
{
    membuf *m = user;
    sf_count_t base = whence == SEEK_SET ? 0 : whence == SEEK_CUR ? m->pos : m->len;
    if (base + offset < 0) return -1;
    m->pos = base + offset;
    return m->pos;
}

static sf_count_t mem_read(void *ptr, sf_count_t count, void *user)
{
    membuf *m = user;
    sf_count_t avail = m->pos < m->len ? m->len - m->pos : 0;
    if (count > avail) count = avail;
    memcpy(ptr, m->data + m->pos, (size_t)count);
    m->pos += count;
    return count;
}

static sf_count_t mem_write(const void *ptr, sf_count_t count, void *user)
{
    membuf *m = user;
    if (m->pos + count > m->cap) {
        sf_count_t cap = m->cap ? m->cap : 65536;
        while (cap < m->pos + count) cap *= 2;
        unsigned char *grown = realloc(m->data, (size_t)cap);
        if (!grown) {
            m->failed = 1;
            return 0;
        }
        memset(grown + m->cap, 0, (size_t)(cap - m->cap));
        m->data = grown;
        m->cap = cap;
    }
    memcpy(m->data + m->pos, ptr, (size_t)count);
    m->pos += count;
    if (m->pos > m->len) m->len = m->pos;
    return count;
}

int audio_encode(const float *samples, int64_t n, int rate, audio_format format, unsigned char **out,
                 size_t *out_len, char *err, size_t errlen)
{
    *out = NULL;
    *out_len = 0;
    if (check_args(samples, n, rate, err, errlen) != 0) return -1;
    SF_VIRTUAL_IO io = {mem_length, mem_seek, mem_read, mem_write, mem_tell};
    membuf m = {0};
    SF_INFO info = {.samplerate = rate, .channels = 1, .format = sf_format_of(format)};
    SNDFILE *sf = sf_open_virtual(&io, SFM_WRITE, &info, &m);
    if (!sf) {
        snprintf(err, errlen, "audio: cannot start a %s encoder at %d Hz: %s", audio_format_name(format), rate,
                 sf_strerror(NULL));
        free(m.data);
        return -1;
    }
    if (write_all(sf, samples, n, err, errlen) != 0 || m.failed) {
        if (m.failed) snprintf(err, errlen, "audio: out of memory while encoding");
        free(m.data);
        return -1;
    }
    *out = m.data;
    *out_len = (size_t)m.len;
    return 0;
}
