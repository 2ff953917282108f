/* song.h - the GeneratedSong document: a song plan, what the engine rendered
 * of it (its windows and codes), the audio made from it, the model and
 * parameters that made it, and how long each stage took, as the JSON that
 * docs/generated-song.schema.json describes.
 *
 *     song_audio audio = { .url = "file:///var/lib/jen1/blobs/song-42.wav", .format = AUDIO_WAV,
 *                          .sample_rate = 32000, .channels = 1, .duration = 8.0,
 *                          .bytes = 512044, .sha256 = "9f86d0..." };
 *     song_model model = { .name = "musicgen-small", .seed = job.seed,
 *                          .sampling = result.sampling, .device = "cpu" };
 *     song_timings t = { .plan_s = 0.001, ... };
 *     song_render render = { .windows = windows, .n_windows = n, .codes_url = "file:///.../song-42.codes.npy",
 *                            .n_codebooks = 4, .n_frames = 400, .frame_rate = 50 };
 *     char *json = song_to_string(&plan, &render, &audio, &model, &t, now_ms, 0, err, sizeof err);
 */
#ifndef JEN1_SONG_H
#define JEN1_SONG_H

#include <jansson.h>
#include <stddef.h>
#include <stdint.h>

#include "audio.h"
#include "jen1.h"
#include "loudness.h"
#include "planner.h"

#define SONG_SCHEMA_VERSION 1

typedef struct song_audio {
    const char *url;          /* where the blob store put it */
    audio_format format;
    int sample_rate;          /* Hz */
    int channels;
    double duration;          /* seconds of audio actually produced */
    uint64_t bytes;           /* size of the encoded object */
    char sha256[65];          /* lowercase hex of the encoded object */
    const loudness_report *loudness; /* the normalisation, or NULL when the audio
                                        is the model's as it is (JSON null);
                                        silence's -INFINITY is written null */
} song_audio;

typedef struct song_model {
    const char *name;         /* the served model's name (its directory's) */
    uint64_t seed;
    jen1_sampling sampling;   /* what the engine used (engine_result's) */
    const char *device;       /* "cpu", "cuda:0" */
} song_model;

/* One window the engine rendered: primed with `context` seconds of the
 * song before `start`, it generated [start, end) under the prompt of
 * plan->sections[section]. */
typedef struct song_window {
    double start, end, context; /* seconds */
    int section;
} song_window;

/* What the engine rendered: its windows, in order, and where the song's
 * codes ([n_codebooks, n_frames] int64 .npy) are. */
typedef struct song_render {
    const song_window *windows;
    int n_windows;
    const char *codes_url;
    int n_codebooks, n_frames;
    int frame_rate;           /* frames per second */
} song_render;

/* Wall-clock seconds per stage. */
typedef struct song_timings {
    double plan_s, text_s, decoder_s, audio_s, encode_s, upload_s, total_s;
} song_timings;

/* Builds the document (a new reference), or returns NULL with a message when
 * an argument is missing, a window names no section of the plan, or a string
 * is not UTF-8. `render` may be NULL (no windows, no codes: `prompts` is then
 * the plan's one model_prompt); `audio` may be NULL too, for a words-only job
 * (`"audio": false`): the document's audio is then null; with it, `prompts` are the distinct prompts
 * the windows were rendered under, in order. created_at_ms is Unix time in
 * milliseconds, passed in so that the same inputs give the same bytes. */
json_t *song_to_json(const song_plan *plan, const song_render *render, const song_audio *audio,
                     const song_model *model, const song_timings *t, int64_t created_at_ms, char *err, size_t errlen);

/* The same, serialised: compact (indent 0) or indented by `indent` spaces,
 * keys in the schema's order, seconds written as the shortest decimal that
 * reads back to the same double. Returns a malloc'd string, or NULL with a message. */
char *song_to_string(const song_plan *plan, const song_render *render, const song_audio *audio,
                     const song_model *model, const song_timings *t, int64_t created_at_ms, int indent, char *err,
                     size_t errlen);

/* Writes Unix milliseconds as RFC 3339 UTC with milliseconds,
 * "2024-05-01T12:00:00.123Z". Returns 0, or -1 if the time is out of range. */
int song_format_time(int64_t unix_ms, char *buf, size_t cap);

#endif
