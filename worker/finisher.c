/* finisher.c - the finisher thread: what follows a song's decoding, on a
 * thread of its own so that it never holds up the batch's steps. EnCodec
 * turns the codes into audio (here on a GPU; on a CPU the decode loop runs
 * it between steps: engine_audio_with_batch), which is normalised and
 * encoded ("encoding"),
 * then the audio and the song's codes go to the blob store ("uploading"),
 * and the GeneratedSong ends the job (queue_finish). A words-only job only
 * has its GeneratedSong written. */
#include <stdio.h>
#include <stdlib.h>

#include "audio.h"
#include "job_run.h"
#include "log.h"
#include "song_codes.h"
#include "util.h"

/* The blob store's statuses as stage ends. */
static stage_end blob_end(blob_status bs)
{
    return bs == BLOB_OK ? PROTOCOL_OK : bs == BLOB_UNAVAILABLE ? PROTOCOL_BLOB_UNAVAILABLE : PROTOCOL_BLOB_REJECTED;
}

static stage_end stage_encoding(job_run *run)
{
    engine_result *a = &run->audio;
    /* On a GPU EnCodec runs here; on a CPU the decode loop ran it already. */
    if (!a->audio && engine_result_decode_audio(run->w->engine, a, run->err, sizeof run->err) != ENGINE_OK)
        return PROTOCOL_ENGINE_ERROR;
    run->timings.audio_s = a->seconds_audio;
    double t = clock_monotonic_s(), lufs;
    run->normalised = job_loudness_target(&run->req, run->w->cfg->loudness_lufs, &lufs);
    if (run->normalised && loudness_normalise(a->audio, a->n_samples, a->sample_rate, lufs, &run->loudness, run->err,
                                              sizeof run->err) != 0)
        return PROTOCOL_ENGINE_ERROR;
    if (audio_encode(a->audio, a->n_samples, a->sample_rate, run->req.format, &run->encoded, &run->encoded_len,
                     run->err, sizeof run->err) != 0)
        return PROTOCOL_ENGINE_ERROR;
    run->timings.encode_s = clock_monotonic_s() - t; /* EnCodec's time is audio_s */
    return PROTOCOL_OK;
}

/* The objects' names are the job's, so every attempt writes the same ones:
 * the audio, then the song's codes. */
static stage_end stage_uploading(job_run *run)
{
    blob_store *blobs = run->lane->blobs;
    char key[BLOB_KEY_MAX + 1];
    audio_format format = run->req.format;
    snprintf(key, sizeof key, "%s.%s", run->job.id, audio_format_name(format));
    stage_end end = blob_end(blob_put(blobs, key, run->encoded, run->encoded_len, audio_format_mime(format), run->url,
                                      sizeof run->url, run->err, sizeof run->err));
    if (end != PROTOCOL_OK) return end;
    const engine_result *a = &run->audio;
    char codes_key[BLOB_KEY_MAX + 1];
    song_codes_key(run->job.id, SONG_CODES_FINAL, codes_key);
    end = blob_end(song_codes_put(blobs, codes_key, a->codes, a->n_codebooks, a->n_frames, run->codes_url,
                                  sizeof run->codes_url, run->err, sizeof run->err));
    if (end != PROTOCOL_OK) {
        /* No audio object without its job's success: a store that fails one
         * request usually takes the removal; one that went away does not,
         * and the orphan is named for whoever cleans up (a retry rewrites it). */
        char why[512];
        if (blob_delete(blobs, key, why, sizeof why) != BLOB_OK)
            log_kv(LOG_WARN, "an object of a failed upload was left in the store", LOG_STR("key", key),
                   LOG_STR("error", why));
    }
    return end;
}

static const stage kEncoding = {JEN1_STAGE_ENCODING, 0.92, stage_encoding};
static const stage kUploading = {JEN1_STAGE_UPLOADING, 0.95, stage_uploading};

/* What the engine rendered, as the GeneratedSong reports it: the windows
 * in seconds (into windows, the engine's count of them), and the codes. */
static song_render rendered(const job_run *run, song_window *windows)
{
    const engine_result *a = &run->audio;
    double rate = a->frame_rate;
    for (int i = 0; i < a->n_windows; i++) {
        const engine_window *w = &a->windows[i];
        windows[i] = (song_window){.start = w->start_frame / rate, .end = w->end_frame / rate,
                                   .context = w->context_frames / rate, .section = w->section};
    }
    return (song_render){.windows = windows, .n_windows = a->n_windows, .codes_url = run->codes_url,
                         .n_codebooks = a->n_codebooks, .n_frames = a->n_frames, .frame_rate = a->frame_rate};
}

/* The song, and the end of the job. A words-only job ("audio": false) has
 * no render and no audio: its sampling is what a render would use. */
static void finish(job_run *run)
{
    worker *w = run->w;
    lane *l = run->lane;
    const engine_result *a = &run->audio;
    bool audio = run->req.audio;
    song_audio sa = {0};
    song_render sr = {0};
    song_window *windows = NULL;
    if (audio) {
        sa = (song_audio){.url = run->url, .format = run->req.format, .sample_rate = a->sample_rate, .channels = 1,
                          .duration = (double)a->n_samples / a->sample_rate, .bytes = run->encoded_len,
                          .loudness = run->normalised ? &run->loudness : NULL};
        sha256_hex(run->encoded, run->encoded_len, sa.sha256);
        windows = calloc((size_t)(a->n_windows > 0 ? a->n_windows : 1), sizeof *windows);
        if (!windows) {
            snprintf(run->err, sizeof run->err, "out of memory for the song's windows");
            end_job(run, PROTOCOL_ENGINE_ERROR);
            return;
        }
        sr = rendered(run, windows);
    }
    song_model sm = {.name = engine_model_name(w->engine), .seed = run->req.seed,
                     .sampling = audio ? a->sampling : engine_sampling(w->engine, &run->req.sampling),
                     .device = engine_device(w->engine)};
    run->timings.total_s = clock_monotonic_s() - run->started;
    char *song = song_to_string(&run->plan, audio ? &sr : NULL, audio ? &sa : NULL, &sm, &run->timings,
                                clock_unix_ms(), 0, run->err, sizeof run->err);
    free(windows);
    if (!song) {
        end_job(run, PROTOCOL_ENGINE_ERROR);
        return;
    }
    bool written = false;
    char err[512];
    int rc;
    LANE_CALL(l, rc, queue_finish(l->q, &run->job, song, audio ? run->url : NULL, &written, err, sizeof err));
    if (rc == 0) {
        log_kv(LOG_INFO, "job succeeded", LOG_STR("audio_url", run->url), LOG_BOOL("audio", audio),
               LOG_NUM("seconds", run->timings.total_s), LOG_BOOL("first_result", written));
        count_outcome(w, JEN1_OUTCOME_SUCCEEDED);
        if (audio) metrics_add(w->metrics->registry, w->metrics->audio_seconds, sa.duration);
        metrics_observe(w->metrics->registry, w->metrics->job_duration, run->timings.total_s);
        remove_checkpoint(run);
    } else {
        log_kv(LOG_ERROR, "could not record the result", LOG_STR("error", err));
    }
    free(song);
}

static void finish_job(lane *l, job_run *run)
{
    lane_hold(l, run);
    if (worker_stopping_now(run->w)) {
        end_job(run, STAGE_LEFT);
    } else if (!run->req.audio || (run_stage(run, &kEncoding, NULL) == 0 &&
                                   run_stage(run, &kUploading, &run->timings.upload_s) == 0)) {
        finish(run);
    }
    log_set_job(NULL);
    worker_hand_free(run->w, run);
}

void *finisher_main(void *arg)
{
    lane *l = arg;
    worker *w = l->w;
    jen1_thread_set_cpu_threads(1); /* EnCodec here on a GPU: no second OpenMP team on the CPU */
    for (;;) {
        job_run *run = handoff_pop(&w->to_finish, 500); /* signalled on push: the timeout rereads the flags */
        if (run) {
            finish_job(l, run);
            continue;
        }
        if (atomic_load(&w->decode_done) && atomic_load(&w->intake_done) && handoff_count(&w->to_finish) == 0) break;
    }
    return NULL;
}
