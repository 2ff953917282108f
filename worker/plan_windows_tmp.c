/* plan_windows_tmp.c - TEMPORARY (see plan_windows_tmp.h): the contract's
 * window schedule, until the engine's own jen1_plan_windows is merged. */
#include "plan_windows_tmp.h"

#include <stdio.h>

static int min_int(int a, int b) { return a < b ? a : b; }

/* The start of the first section after frame t, or INT-ish "never". */
static int next_section_start(const jen1_section *sections, int n_sections, int t, int never)
{
    for (int i = 0; i < n_sections; i++)
        if (sections[i].start_frame > t) return sections[i].start_frame;
    return never;
}

static int section_at(const jen1_section *sections, int n_sections, int t)
{
    int s = 0;
    for (int i = 0; i < n_sections; i++)
        if (sections[i].start_frame <= t) s = i;
    return s;
}

int jen1_plan_windows(int n_frames, const jen1_section *sections, int n_sections, int window_frames,
                      int stride_frames, jen1_window *out, int max_out, char *err, size_t errlen)
{
    if (n_frames < 1 || window_frames < 1 || stride_frames < 1 || stride_frames >= window_frames ||
        n_sections < 0 || (n_sections > 0 && (!sections || sections[0].start_frame != 0))) {
        snprintf(err, errlen, "plan_windows: bad arguments (frames %d, window %d, stride %d, %d sections)", n_frames,
                 window_frames, stride_frames, n_sections);
        return -1;
    }
    for (int i = 1; i < n_sections; i++) {
        if (sections[i].start_frame <= sections[i - 1].start_frame) {
            snprintf(err, errlen, "plan_windows: section %d does not start after section %d", i, i - 1);
            return -1;
        }
    }
    int n = 0;
    for (int t = 0; t < n_frames; n++) {
        int next = next_section_start(sections, n_sections, t, n_frames);
        int context = min_int(t, window_frames - stride_frames);
        int span = t == 0 ? window_frames : stride_frames;
        int end = t + min_int(span, min_int(n_frames - t, next - t));
        if (n < max_out && out)
            out[n] = (jen1_window){.index = n, .start_frame = t, .end_frame = end, .context_frames = context,
                                   .section = section_at(sections, n_sections, t)};
        t = end;
    }
    return n;
}
