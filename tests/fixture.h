/* fixture.h - what several test programs need from the fixtures: a whole
 * file in memory, and the tiny model loaded once per program. */
#ifndef JEN1_TEST_FIXTURE_H
#define JEN1_TEST_FIXTURE_H

#include <stdio.h>
#include <stdlib.h>

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

#ifdef JEN1_H
/* Loads the fixture's tiny model on 2 threads; on failure prints why and the
 * suite's failing RESULT line, and returns NULL. */
static inline jen1_model *fixture_model_load(const char *suite)
{
    char path[512], err[1024];
    snprintf(path, sizeof path, "%s/model", check_fixture_dir());
    jen1_model_params mp = jen1_model_default_params();
    mp.n_threads = 2;
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
