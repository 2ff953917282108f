/* audio.h - encoding mono float PCM with libsndfile: 16-bit WAV, FLAC, Ogg
 * Vorbis or MP3 (MPEG layer III, through LAME), to a file or to memory.
 * Samples outside [-1, 1] are clipped, not wrapped. */
#ifndef JEN1_AUDIO_H
#define JEN1_AUDIO_H

#include <stddef.h>
#include <stdint.h>

typedef enum { AUDIO_WAV, AUDIO_FLAC, AUDIO_OGG, AUDIO_MP3, AUDIO_N_FORMATS } audio_format;

/* "wav", "flac", "ogg", "mp3" -> format; returns 0, or -1 for an unknown name. */
int audio_format_parse(const char *name, audio_format *out);
const char *audio_format_name(audio_format format);
/* "audio/wav", "audio/flac", "audio/ogg", "audio/mpeg" */
const char *audio_format_mime(audio_format format);

/* Whether this process's libsndfile can write the format (sf_format_check):
 * a libsndfile built without LAME (before 1.1, or configured without it)
 * cannot write mp3. */
int audio_format_available(audio_format format);

/* Encodes into a malloc'd buffer (*out, *out_len). Returns 0 or -1 with a message. */
int audio_encode(const float *samples, int64_t n_samples, int sample_rate, audio_format format,
                 unsigned char **out, size_t *out_len, char *err, size_t errlen);

/* Encodes straight into the file at `path`. Returns 0 or -1 with a message. */
int audio_write_file(const char *path, const float *samples, int64_t n_samples, int sample_rate,
                     audio_format format, char *err, size_t errlen);

#endif
