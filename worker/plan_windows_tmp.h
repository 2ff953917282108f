/* plan_windows_tmp.h - TEMPORARY, until the windowed engine (issue 8, helper
 * E's shim/ branch) is merged: the window API of shim/include/jen1.h as the
 * helpers' contract declares it, so that the worker's adapter (engine.c) and
 * its silent engine can be built and tested before the merge.
 *
 * AT THE MERGE: delete this file and plan_windows_tmp.c, the #include of this
 * file in engine.c, and engine.c's "#ifdef JEN1_TMP_NO_WINDOWS" branches (keep
 * their #else parts). jen1.h then declares all of this. */
#ifndef JEN1_WORKER_PLAN_WINDOWS_TMP_H
#define JEN1_WORKER_PLAN_WINDOWS_TMP_H

#include <stddef.h>

#define JEN1_TMP_NO_WINDOWS 1

typedef struct jen1_section {
    int start_frame;
    const char *prompt;
} jen1_section;

typedef struct jen1_window {
    int index;
    int start_frame, end_frame;
    int context_frames;
    int section;
} jen1_window;

int jen1_plan_windows(int n_frames, const jen1_section *sections, int n_sections, int window_frames,
                      int stride_frames, jen1_window *out, int max_out, char *err, size_t errlen);

#endif
