/* loudness.h - loudness normalisation of mono float PCM, measured as EBU
 * R128 / ITU-R BS.1770 says (integrated loudness in LUFS, true peak in dBTP)
 * by libebur128.
 *
 *     loudness_report r;
 *     if (loudness_normalise(samples, n, 32000, LOUDNESS_DEFAULT_LUFS, &r, err, sizeof err) != 0) ...
 *     // r.integrated_lufs: -14.0 (or less, when the true-peak ceiling held the gain back)
 *
 * The audio first loses its DC offset (its mean): inaudible, and the
 * loudness meter's filter ignores it, but it counts in the true peak and so
 * eats the headroom under the ceiling (the tiny test model's output sits
 * almost wholly above zero). Then it gets a LOUDNESS_FADE_OUT_S fade-out: the
 * model stops where the requested length ends, mid-note, and a hard cut
 * clicks; a short fade closes the song without changing how it sounds before
 * its last second. Then one gain takes it to the target, unless that gain would lift the true
 * peak past LOUDNESS_CEILING_DBTP: the gain then stops at the ceiling and the
 * report says what loudness was reached. One gain, no limiter: the music's
 * dynamics stay the model's (a limiter would squash the peaks of a spiky
 * song to reach the target, which is a mastering choice, not a delivery one).
 *
 * Silence (nothing above the standard's -70 LUFS gate) is left untouched and
 * reported as -INFINITY: nothing to measure. */
#ifndef JEN1_LOUDNESS_H
#define JEN1_LOUDNESS_H

#include <stddef.h>
#include <stdint.h>

#define LOUDNESS_DEFAULT_LUFS -14.0  /* what the big streaming services play at */
#define LOUDNESS_MIN_LUFS -40.0      /* the targets a job may ask */
#define LOUDNESS_MAX_LUFS -5.0
#define LOUDNESS_CEILING_DBTP -1.0   /* EBU R128's ceiling: room for lossy codecs' overshoot */
#define LOUDNESS_FADE_OUT_S 1.0      /* at most a quarter of the audio */

typedef struct loudness_report {
    double target_lufs;      /* as asked */
    double integrated_lufs;  /* measured after normalisation; -INFINITY for silence */
    double true_peak_dbtp;   /* measured after normalisation; -INFINITY for silence */
    double gain_db;          /* the gain applied (0 for silence) */
} loudness_report;

/* The fade's length in samples for n samples at sample_rate. */
int64_t loudness_fade_samples(int64_t n, int sample_rate);

/* Removes the DC offset, fades out, measures and normalises samples[0..n)
 * in place to target_lufs (LOUDNESS_MIN_LUFS to LOUDNESS_MAX_LUFS) under the
 * true-peak ceiling, and reports the loudness and true peak measured
 * afterwards. Returns 0, or -1
 * with a message: bad arguments or non-finite samples (the samples are then
 * untouched), or the meter out of memory. */
int loudness_normalise(float *samples, int64_t n, int sample_rate, double target_lufs, loudness_report *out,
                       char *err, size_t errlen);

/* Measures without changing anything: the integrated loudness and true peak
 * of samples[0..n), -INFINITY for silence. Returns 0 or -1 with a message. */
int loudness_measure(const float *samples, int64_t n, int sample_rate, double *integrated_lufs,
                     double *true_peak_dbtp, char *err, size_t errlen);

#endif
