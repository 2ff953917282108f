/* windows.c - jen1_plan_windows (jen1.h): the window schedule of a long
 * song, plain C so that the worker's silent engine and the tests can plan
 * without a model. */
#include <limits.h>

#include "errbuf.h"
#include "jen1.h"

static int check_sections(const jen1_section *sections, int n_sections, char *err, size_t errlen)
{
    if (n_sections < 0 || (n_sections > 0 && !sections)) {
        errbuf_printf(err, errlen, "sections: %d given %s", n_sections, sections ? "" : "as NULL");
        return -1;
    }
    if (n_sections > 0 && sections[0].start_frame != 0) {
        errbuf_printf(err, errlen, "the first section starts at frame %d, not 0", sections[0].start_frame);
        return -1;
    }
    for (int i = 1; i < n_sections; i++)
        if (sections[i].start_frame <= sections[i - 1].start_frame) {
            errbuf_printf(err, errlen, "section %d starts at frame %d, not after section %d (frame %d)", i,
                          sections[i].start_frame, i - 1, sections[i - 1].start_frame);
            return -1;
        }
    return 0;
}

int jen1_plan_windows(int n_frames, const jen1_section *sections, int n_sections, int window_frames,
                      int stride_frames, jen1_window *out, int max_out, char *err, size_t errlen)
{
    if (n_frames < 1) {
        errbuf_printf(err, errlen, "n_frames must be at least 1, not %d", n_frames);
        return -1;
    }
    if (window_frames < 2 || stride_frames < 1 || stride_frames >= window_frames) {
        errbuf_printf(err, errlen, "need 1 <= stride_frames < window_frames, got stride %d and window %d",
                      stride_frames, window_frames);
        return -1;
    }
    if (max_out < 0 || (max_out > 0 && !out)) {
        errbuf_printf(err, errlen, "no room for the windows (max_out %d)", max_out);
        return -1;
    }
    if (check_sections(sections, n_sections, err, errlen)) return -1;

    const int context = window_frames - stride_frames;
    int count = 0, section = 0;
    for (int done = 0; done < n_frames; count++) {
        while (section + 1 < n_sections && sections[section + 1].start_frame <= done) section++;
        int next_section = section + 1 < n_sections ? sections[section + 1].start_frame : INT_MAX;
        int limit = count == 0 ? window_frames : stride_frames;
        int fresh = limit;
        if (n_frames - done < fresh) fresh = n_frames - done;
        if (next_section - done < fresh) fresh = next_section - done;
        if (count < max_out) {
            jen1_window *w = &out[count];
            w->index = count;
            w->start_frame = done;
            w->end_frame = done + fresh;
            w->context_frames = count == 0 ? 0 : (done < context ? done : context);
            w->section = section;
        }
        done += fresh;
    }
    return count;
}
