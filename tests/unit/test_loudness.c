/* test_loudness.c - common/loudness.c: a sine of known level measured as
 * BS.1770 says, normalisation to the target within 0.1 LU under the -1 dBTP
 * ceiling, a spiky signal held back by the ceiling, silence untouched, a DC
 * offset removed, the fade-out's shape and length, bad input refused. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "loudness.h"

#define RATE 32000

/* A 997 Hz sine (BS.1770's calibration tone) of `seconds` whose loudness is
 * `lufs`: a full-scale sine on one channel reads -3.01 LUFS. */
static float *sine(double seconds, double lufs, int64_t *n)
{
    *n = (int64_t)(seconds * RATE);
    float *x = malloc((size_t)*n * sizeof *x);
    double amplitude = pow(10.0, (lufs + 3.01) / 20.0);
    for (int64_t i = 0; x && i < *n; i++) x[i] = (float)(amplitude * sin(2 * M_PI * 997.0 * (double)i / RATE));
    return x;
}

TEST(a_sine_of_known_level_is_measured)
{
    int64_t n;
    char err[256];
    const double levels[] = {-23.0, -14.0, -30.0};
    for (size_t k = 0; k < sizeof levels / sizeof *levels; k++) {
        float *x = sine(5.0, levels[k], &n);
        REQUIRE(x, "out of memory");
        double lufs, peak;
        REQUIRE(loudness_measure(x, n, RATE, &lufs, &peak, err, sizeof err) == 0, "%s", err);
        CHECK(fabs(lufs - levels[k]) < 0.05, "a %g LUFS sine measures %.3f", levels[k], lufs);
        /* Its true peak is its amplitude (the sine is sampled finely enough). */
        CHECK(fabs(peak - (levels[k] + 3.01)) < 0.05, "%g LUFS sine: true peak %.3f dBTP", levels[k], peak);
        free(x);
    }
}

TEST(normalised_to_the_target_under_the_ceiling)
{
    int64_t n;
    char err[256];
    const double from[] = {-30.0, -8.0}, targets[] = {LOUDNESS_DEFAULT_LUFS, -23.0};
    for (size_t f = 0; f < 2; f++) {
        for (size_t t = 0; t < 2; t++) {
            float *x = sine(10.0, from[f], &n);
            REQUIRE(x, "out of memory");
            loudness_report r;
            REQUIRE(loudness_normalise(x, n, RATE, targets[t], &r, err, sizeof err) == 0, "%s", err);
            CHECK(r.target_lufs == targets[t], "target reported %g", r.target_lufs);
            CHECK(fabs(r.integrated_lufs - targets[t]) < 0.1, "%g -> %g: reached %.3f", from[f], targets[t],
                  r.integrated_lufs);
            CHECK(r.true_peak_dbtp <= LOUDNESS_CEILING_DBTP, "true peak %.4f dBTP", r.true_peak_dbtp);
            /* The report is what a fresh measurement of the output says. */
            double lufs, peak;
            REQUIRE(loudness_measure(x, n, RATE, &lufs, &peak, err, sizeof err) == 0, "%s", err);
            CHECK(lufs == r.integrated_lufs && peak == r.true_peak_dbtp, "report %.4f/%.4f, measured %.4f/%.4f",
                  r.integrated_lufs, r.true_peak_dbtp, lufs, peak);
            free(x);
        }
    }
}

TEST(a_spiky_signal_is_held_back_by_the_ceiling)
{
    /* A quiet tone with a click of 0.5 every second: reaching -14 LUFS would
     * need some 26 dB, lifting the clicks far past full scale. */
    int64_t n;
    char err[256];
    float *x = sine(8.0, -40.0, &n);
    REQUIRE(x, "out of memory");
    for (int64_t i = RATE / 2; i < n; i += RATE) x[i] = 0.5f;
    double before, peak_before;
    REQUIRE(loudness_measure(x, n, RATE, &before, &peak_before, err, sizeof err) == 0, "%s", err);
    loudness_report r;
    REQUIRE(loudness_normalise(x, n, RATE, LOUDNESS_DEFAULT_LUFS, &r, err, sizeof err) == 0, "%s", err);
    CHECK(r.true_peak_dbtp <= LOUDNESS_CEILING_DBTP && r.true_peak_dbtp > LOUDNESS_CEILING_DBTP - 0.01,
          "true peak %.4f dBTP: the gain should stop at the ceiling", r.true_peak_dbtp);
    CHECK(r.integrated_lufs < LOUDNESS_DEFAULT_LUFS - 1, "reported %.2f LUFS: the ceiling did not hold",
          r.integrated_lufs);
    CHECK(fabs(r.gain_db - (LOUDNESS_CEILING_DBTP - peak_before)) < 0.01, "gain %.3f dB, peak before %.3f dBTP",
          r.gain_db, peak_before);
    /* The gain moves the loudness by as much, less what the fade takes off
     * the last of 8 seconds (some 0.25 LU). */
    CHECK(r.integrated_lufs < before + r.gain_db && r.integrated_lufs > before + r.gain_db - 0.5,
          "%.3f LUFS + %.3f dB reported as %.3f", before, r.gain_db, r.integrated_lufs);
    float max = 0;
    for (int64_t i = 0; i < n; i++) max = fabsf(x[i]) > max ? fabsf(x[i]) : max;
    CHECK(max < 1.0f, "a sample reaches %g: clipped", max);
    free(x);
}

TEST(silence_is_left_alone)
{
    char err[256];
    int64_t n = 3 * RATE;
    float *zeros = calloc((size_t)n, sizeof *zeros);
    REQUIRE(zeros, "out of memory");
    loudness_report r;
    REQUIRE(loudness_normalise(zeros, n, RATE, LOUDNESS_DEFAULT_LUFS, &r, err, sizeof err) == 0, "%s", err);
    CHECK(r.integrated_lufs == -INFINITY && r.true_peak_dbtp == -INFINITY && r.gain_db == 0,
          "silence reported as %g LUFS, %g dBTP, gain %g", r.integrated_lufs, r.true_peak_dbtp, r.gain_db);
    for (int64_t i = 0; i < n; i++) {
        if (zeros[i] != 0) {
            CHECK(0, "sample %lld became %g", (long long)i, zeros[i]);
            break;
        }
    }
    free(zeros);

    /* Below the -70 LUFS gate counts as silence too, and is not lifted by 80 dB. */
    float *hush = sine(3.0, -95.0, &n), *copy = malloc((size_t)n * sizeof *copy);
    REQUIRE(hush && copy, "out of memory");
    memcpy(copy, hush, (size_t)n * sizeof *copy);
    REQUIRE(loudness_normalise(hush, n, RATE, LOUDNESS_DEFAULT_LUFS, &r, err, sizeof err) == 0, "%s", err);
    CHECK(r.integrated_lufs == -INFINITY, "a -95 LUFS tone reported as %g LUFS", r.integrated_lufs);
    CHECK(memcmp(hush, copy, (size_t)n * sizeof *copy) == 0, "a -95 LUFS tone was changed");
    free(hush);
    free(copy);

    /* Too short for one 400 ms block: nothing to measure. */
    float *blip = sine(0.2, -20.0, &n);
    REQUIRE(blip, "out of memory");
    REQUIRE(loudness_normalise(blip, n, RATE, LOUDNESS_DEFAULT_LUFS, &r, err, sizeof err) == 0, "%s", err);
    CHECK(r.integrated_lufs == -INFINITY, "200 ms reported as %g LUFS", r.integrated_lufs);
    free(blip);
}

TEST(a_dc_offset_is_removed_not_counted_against_the_ceiling)
{
    /* A -30 LUFS tone riding on +0.4: with the offset the true peak would
     * hold the gain some 8 dB short of -14 LUFS. */
    int64_t n;
    char err[256];
    float *x = sine(6.0, -30.0, &n);
    REQUIRE(x, "out of memory");
    for (int64_t i = 0; i < n; i++) x[i] += 0.4f;
    loudness_report r;
    REQUIRE(loudness_normalise(x, n, RATE, LOUDNESS_DEFAULT_LUFS, &r, err, sizeof err) == 0, "%s", err);
    CHECK(fabs(r.integrated_lufs - LOUDNESS_DEFAULT_LUFS) < 0.1, "reached %.3f LUFS", r.integrated_lufs);
    CHECK(r.true_peak_dbtp <= LOUDNESS_CEILING_DBTP, "true peak %.3f dBTP", r.true_peak_dbtp);
    double sum = 0;
    for (int64_t i = 0; i < n; i++) sum += x[i];
    CHECK(fabs(sum / (double)n) < 1e-3, "the offset left is %g", sum / (double)n);
    CHECK(x[n - 1] == 0.0f, "the fade ends on %g, not 0", x[n - 1]);

    /* An offset alone is silence: left as it is. */
    for (int64_t i = 0; i < n; i++) x[i] = 0.25f;
    REQUIRE(loudness_normalise(x, n, RATE, LOUDNESS_DEFAULT_LUFS, &r, err, sizeof err) == 0, "%s", err);
    CHECK(r.integrated_lufs == -INFINITY, "a constant reported as %g LUFS", r.integrated_lufs);
    int same = 1;
    for (int64_t i = 0; i < n; i++) same &= x[i] == 0.25f;
    CHECK(same, "a constant was changed");
    free(x);
}

/* The envelope a normalisation applied: output over input where the input is not small. */
static double applied(const float *in, const float *out, int64_t i)
{
    return fabsf(in[i]) > 1e-3f ? (double)out[i] / in[i] : NAN;
}

TEST(the_fade_out_closes_the_song)
{
    char err[256];
    CHECK(loudness_fade_samples(10 * RATE, RATE) == RATE, "10 s: fade of %lld samples",
          (long long)loudness_fade_samples(10 * RATE, RATE));
    CHECK(loudness_fade_samples(2 * RATE, RATE) == RATE / 2, "2 s: fade of %lld samples, not a quarter",
          (long long)loudness_fade_samples(2 * RATE, RATE));

    int64_t n;
    float *x = sine(10.0, -20.0, &n), *in = malloc((size_t)n * sizeof *in);
    REQUIRE(x && in, "out of memory");
    memcpy(in, x, (size_t)n * sizeof *in);
    loudness_report r;
    REQUIRE(loudness_normalise(x, n, RATE, LOUDNESS_DEFAULT_LUFS, &r, err, sizeof err) == 0, "%s", err);
    const double gain = pow(10.0, r.gain_db / 20.0);
    const int64_t fade = RATE, start = n - fade;
    /* Before the fade, the gain alone. */
    for (int64_t i = 0; i < start; i += 997) {
        double g = applied(in, x, i);
        if (!isnan(g) && fabs(g - gain) > 1e-5 * gain) {
            CHECK(0, "sample %lld: gain %.6f, not %.6f", (long long)i, g, gain);
            break;
        }
    }
    /* Inside it, a half cosine falling from the gain to 0 at the last sample. */
    double last = gain;
    for (int64_t i = start; i < n; i++) {
        double g = applied(in, x, i);
        if (isnan(g)) continue;
        double expect = gain * 0.5 * (1 + cos(M_PI * (double)(i - start + 1) / (double)fade));
        if (fabs(g - expect) > 1e-4 * gain || g > last + 1e-6 * gain) {
            CHECK(0, "sample %lld of the fade: gain %.6f, expected %.6f", (long long)(i - start), g, expect);
            break;
        }
        last = g;
    }
    CHECK(x[n - 1] == 0.0f, "the last sample is %g, not 0", x[n - 1]);
    double mid = applied(in, x, start + fade / 2 - 1);
    CHECK(isnan(mid) || fabs(mid - gain / 2) < 1e-3 * gain, "half way through the fade: %.5f of %.5f", mid, gain);
    free(x);
    free(in);
}

TEST(bad_input_is_refused)
{
    char err[256];
    int64_t n;
    float *x = sine(2.0, -20.0, &n), *copy = malloc((size_t)n * sizeof *copy);
    REQUIRE(x && copy, "out of memory");
    loudness_report r;
    double lufs, peak;
    CHECK(loudness_normalise(x, n, RATE, -50.0, &r, err, sizeof err) == -1 && strstr(err, "-40"),
          "a -50 LUFS target accepted: %s", err);
    CHECK(loudness_normalise(x, n, RATE, NAN, &r, err, sizeof err) == -1, "a NaN target accepted");
    CHECK(loudness_normalise(x, n, 0, -14.0, &r, err, sizeof err) == -1, "rate 0 accepted");
    CHECK(loudness_normalise(NULL, n, RATE, -14.0, &r, err, sizeof err) == -1, "no samples accepted");
    CHECK(loudness_measure(x, -1, RATE, &lufs, &peak, err, sizeof err) == -1, "n < 0 accepted");
    x[n / 2] = NAN;
    memcpy(copy, x, (size_t)n * sizeof *copy);
    CHECK(loudness_normalise(x, n, RATE, -14.0, &r, err, sizeof err) == -1 && strstr(err, "finite"),
          "a NaN sample accepted: %s", err);
    CHECK(memcmp(x, copy, (size_t)n * sizeof *copy) == 0, "refused audio was changed");
    x[n / 2] = INFINITY;
    CHECK(loudness_measure(x, n, RATE, &lufs, &peak, err, sizeof err) == -1, "an infinite sample accepted");
    free(x);
    free(copy);
}

int main(void)
{
    RUN(a_sine_of_known_level_is_measured);
    RUN(normalised_to_the_target_under_the_ceiling);
    RUN(a_spiky_signal_is_held_back_by_the_ceiling);
    RUN(silence_is_left_alone);
    RUN(a_dc_offset_is_removed_not_counted_against_the_ceiling);
    RUN(the_fade_out_closes_the_song);
    RUN(bad_input_is_refused);
    return check_summary("test_loudness");
}
