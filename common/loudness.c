/* loudness.c - see loudness.h. Two passes over the audio through libebur128:
 * one measures the audio as it will sound (offset removed and faded on the
 * fly, in a copy of each chunk, so that silence or an error leaves the
 * samples untouched), then offset, fade and gain are applied in place, and a
 * second pass measures the result for the report. A mono signal counts as one channel
 * (BS.1770's weight 1, as ffmpeg's ebur128 and pyloudnorm measure it). */
#include "loudness.h"

#include <ebur128.h>
#include <math.h>
#include <stdio.h>

/* The margin kept under the ceiling, so that float rounding of the scaled
 * samples never lets the measured true peak read above it. */
#define CEILING_MARGIN_DB 0.001

#define CHUNK 4096 /* samples handed to libebur128 at a time */

int64_t loudness_fade_samples(int64_t n, int sample_rate)
{
    int64_t fade = (int64_t)llround(LOUDNESS_FADE_OUT_S * sample_rate);
    return fade < n / 4 ? fade : n / 4;
}

/* The fade's gain at sample i of n: a half cosine from 1 down to exactly 0
 * at the last sample, so the song ends on silence without a kink where the
 * fade begins. */
static double fade_gain(int64_t i, int64_t n, int64_t fade)
{
    int64_t into = i - (n - fade) + 1; /* 1 .. fade inside the fade */
    if (into <= 0) return 1.0;
    return 0.5 * (1.0 + cos(M_PI * (double)into / (double)fade));
}

static double to_db(double linear) { return linear > 0 ? 20.0 * log10(linear) : -INFINITY; }

/* The mean of samples[0..n): their DC offset (NaN when one is not finite). */
static double mean_of(const float *samples, int64_t n)
{
    double sum = 0;
    for (int64_t i = 0; i < n; i++) sum += samples[i];
    return n > 0 ? sum / (double)n : 0;
}

/* Measures samples[0..n) less offset, times gain, faded over its last `fade` samples. */
static int measure(const float *samples, int64_t n, int rate, double offset, int64_t fade, double gain,
                   double *lufs, double *peak_dbtp, char *err, size_t errlen)
{
    ebur128_state *st = ebur128_init(1, (unsigned long)rate, EBUR128_MODE_I | EBUR128_MODE_TRUE_PEAK);
    if (!st) {
        snprintf(err, errlen, "loudness: out of memory starting the meter");
        return -1;
    }
    float chunk[CHUNK];
    int rc = EBUR128_SUCCESS, finite = 1;
    for (int64_t at = 0; at < n && rc == EBUR128_SUCCESS && finite; at += CHUNK) {
        size_t len = n - at < CHUNK ? (size_t)(n - at) : CHUNK;
        for (size_t k = 0; k < len; k++) {
            /* The meter's gates and maxima would quietly skip a NaN. */
            finite &= isfinite(samples[at + (int64_t)k]) != 0;
            chunk[k] = (float)((samples[at + (int64_t)k] - offset) * gain * fade_gain(at + (int64_t)k, n, fade));
        }
        if (finite) rc = ebur128_add_frames_float(st, chunk, len);
    }
    double peak = 0;
    if (rc == EBUR128_SUCCESS && finite) rc = ebur128_loudness_global(st, lufs);
    if (rc == EBUR128_SUCCESS && finite) rc = ebur128_true_peak(st, 0, &peak);
    ebur128_destroy(&st);
    if (!finite) {
        snprintf(err, errlen, "loudness: the audio holds samples that are not finite numbers");
        return -1;
    }
    if (rc != EBUR128_SUCCESS) {
        snprintf(err, errlen, "loudness: the meter failed (libebur128 error %d)", rc);
        return -1;
    }
    *peak_dbtp = to_db(peak);
    if (*lufs == -INFINITY || *peak_dbtp == -INFINITY) *lufs = *peak_dbtp = -INFINITY; /* silence */
    return 0;
}

static int check_args(const float *samples, int64_t n, int rate, char *err, size_t errlen)
{
    /* libebur128 takes 16 Hz to 2.8 MHz. */
    if ((!samples && n > 0) || n < 0 || rate < 16 || rate > 2822400) {
        snprintf(err, errlen, "loudness: bad arguments (samples %lld, rate %d)", (long long)n, rate);
        return -1;
    }
    return 0;
}

int loudness_measure(const float *samples, int64_t n, int rate, double *lufs, double *peak_dbtp, char *err,
                     size_t errlen)
{
    if (check_args(samples, n, rate, err, errlen) != 0) return -1;
    return measure(samples, n, rate, 0, 0, 1.0, lufs, peak_dbtp, err, errlen);
}

int loudness_normalise(float *samples, int64_t n, int rate, double target, loudness_report *out, char *err,
                       size_t errlen)
{
    if (check_args(samples, n, rate, err, errlen) != 0) return -1;
    if (!(target >= LOUDNESS_MIN_LUFS && target <= LOUDNESS_MAX_LUFS)) {
        snprintf(err, errlen, "loudness: the target %g LUFS is not between %g and %g", target, LOUDNESS_MIN_LUFS,
                 LOUDNESS_MAX_LUFS);
        return -1;
    }
    *out = (loudness_report){.target_lufs = target, .integrated_lufs = -INFINITY, .true_peak_dbtp = -INFINITY};
    int64_t fade = loudness_fade_samples(n, rate);
    double offset = mean_of(samples, n), lufs, peak;
    if (!isfinite(offset)) offset = 0; /* measure() names the fault */
    if (measure(samples, n, rate, offset, fade, 1.0, &lufs, &peak, err, errlen) != 0) return -1;
    if (lufs == -INFINITY) return 0; /* silence: nothing to normalise */

    double gain_db = target - lufs;
    const double ceiling = LOUDNESS_CEILING_DBTP - CEILING_MARGIN_DB;
    if (peak + gain_db > ceiling) gain_db = ceiling - peak;
    const double gain = pow(10.0, gain_db / 20.0);
    for (int64_t i = 0; i < n; i++) samples[i] = (float)((samples[i] - offset) * gain * fade_gain(i, n, fade));
    out->gain_db = gain_db;
    return measure(samples, n, rate, 0, 0, 1.0, &out->integrated_lufs, &out->true_peak_dbtp, err, errlen);
}
