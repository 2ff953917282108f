/* fixture.h - what several test programs need from the fixtures: a whole
 * file in memory, and the tiny model loaded once per program. */
#ifndef JEN1_TEST_FIXTURE_H
#define JEN1_TEST_FIXTURE_H

#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "buf.h"
#include "check.h"

/* The whole file at `path`, malloc'd (*len bytes), or NULL. */
static inline unsigned char *fixture_read_file(const char *path, size_t *len)
{
    FILE *f = fopen(path, "rb");
    *len = 0;
    if (!f) return NULL;
    buf data = BUF_INIT;
    if (buf_read_stream(&data, f, (size_t)-1 / 4) != 0) buf_free(&data);
    fclose(f);
    return (unsigned char *)buf_detach(&data, len);
}

/* A fresh copy of the model directory src as <scratch>/<group>/<name>
 * (anything there before is removed), for tests that break a copy. Returns
 * the copy's path (a static buffer: the next call reuses it), or NULL. */
static inline const char *fixture_copy_dir(const char *src, const char *group, const char *name)
{
    static char dir[1024];
    char cmd[4608];
    snprintf(dir, sizeof dir, "%s/%s/%s", check_tmp_dir(), group, name);
    snprintf(cmd, sizeof cmd, "rm -rf '%s' && mkdir -p '%s' && cp -r '%s'/. '%s'", dir, dir, src, dir);
    return system(cmd) == 0 ? dir : NULL;
}

/* Largest |a - b| over n floats; infinity when a NaN shows up. */
static inline double fixture_max_abs_diff(const float *a, const float *b, int64_t n)
{
    double worst = 0;
    for (int64_t i = 0; i < n; i++) {
        double d = fabs((double)a[i] - (double)b[i]);
        if (isnan(d)) return INFINITY;
        if (d > worst) worst = d;
    }
    return worst;
}

#ifdef JEN1_NPY_H
/* Reads `name` from the golden/ folder of the fixture at `fixture_dir`;
 * on failure prints why and returns -1. */
static inline int fixture_golden(const char *fixture_dir, const char *name, npy_array *a)
{
    char path[1024], err[512];
    snprintf(path, sizeof path, "%s/golden/%s", fixture_dir, name);
    if (npy_read(path, a, err, sizeof err) != 0) {
        fprintf(stderr, "  %s\n", err);
        return -1;
    }
    return 0;
}
#endif

#ifdef JEN1_H
/* jen1_generate on the fixture model; NULL (with the reason printed) on error. */
static inline jen1_output *fixture_generate(const jen1_model *model, const jen1_request *reqs, int n,
                                            const jen1_generate_params *p)
{
    char err[512];
    jen1_output *out = NULL;
    jen1_status st = jen1_generate(model, reqs, n, p, &out, err, sizeof err);
    if (st != JEN1_OK) fprintf(stderr, "  generate: %s (%s)\n", err, jen1_status_name(st));
    return out;
}

static inline int fixture_same_codes(const jen1_output_item *a, const jen1_output_item *b)
{
    return a->n_frames == b->n_frames &&
           memcmp(a->codes, b->codes, sizeof(int64_t) * a->n_codebooks * a->n_frames) == 0;
}

/* Loads the fixture's tiny model on 2 threads, on the device that
 * JEN1_TEST_DEVICE names (cpu, cuda or auto, the default: scripts/gpu-check
 * runs the engine suites on a GPU with it); on failure prints why and the
 * suite's failing RESULT line, and returns NULL. */
static inline jen1_model *fixture_model_load(const char *suite)
{
    char path[512], err[1024];
    snprintf(path, sizeof path, "%s/model", check_fixture_dir());
    jen1_model_params mp = jen1_model_default_params();
    mp.n_threads = 2;
    const char *device = getenv("JEN1_TEST_DEVICE");
    if (device && strcmp(device, "cpu") == 0) mp.device = JEN1_DEVICE_CPU;
    else if (device && strcmp(device, "cuda") == 0) mp.device = JEN1_DEVICE_CUDA;
    else if (device && *device && strcmp(device, "auto") != 0) {
        fprintf(stderr, "JEN1_TEST_DEVICE is cpu, cuda or auto, not '%s'\n", device);
        printf("RESULT %s passed=0 failed=1\n", suite);
        return NULL;
    }
    jen1_model *model = NULL;
    if (jen1_model_load(path, &mp, &model, err, sizeof err) != JEN1_OK) {
        fprintf(stderr, "cannot load %s: %s\n", path, err);
        printf("RESULT %s passed=0 failed=1\n", suite);
        return NULL;
    }
    return model;
}
#endif

#endif
