/* lyrics.c - what the planner does with any lyric source's output: cleaning
 * lines and joining them into the song's lyrics. The rule-based source itself
 * is lyrics_rules.c. */
#include "lyrics.h"

#include <string.h>

#include "text.h"

size_t lyrics_clean_line(char *line)
{
    size_t n = strlen(line), o = 0, i = 0;
    int pending_space = 0;
    while (i < n) {
        unsigned char c = (unsigned char)line[i];
        size_t seq = text_utf8_seq_len((const unsigned char *)line + i, n - i);
        if (seq == 0) { /* not UTF-8: dropped */
            i++;
            continue;
        }
        /* U+FFFD stands for bytes a model's decoder could not make text of
         * (a character cut by the token budget): nothing to sing. */
        if (seq == 3 && memcmp(line + i, "\xef\xbf\xbd", 3) == 0) {
            i += 3;
            continue;
        }
        if (c < 0x20 || c == 0x7f || c == ' ') {
            pending_space = o > 0;
            i++;
            continue;
        }
        if (pending_space) line[o++] = ' ';
        pending_space = 0;
        /* o <= i always, so moving left in place is safe. */
        memmove(line + o, line + i, seq);
        o += seq;
        i += seq;
    }
    line[o] = '\0';
    return o;
}

/* Appends s and a newline if both fit (with the final NUL). */
static void append_line(char *buf, size_t cap, size_t *used, const char *s)
{
    size_t n = strlen(s);
    if (*used + n + 2 > cap) return;
    memcpy(buf + *used, s, n);
    *used += n;
    buf[(*used)++] = '\n';
    buf[*used] = '\0';
}

void lyrics_join(song_plan *plan)
{
    size_t used = 0;
    plan->lyrics[0] = '\0';
    for (int s = 0; s < plan->n_sections; s++) {
        const plan_section *sec = &plan->sections[s];
        if (sec->n_lines == 0) continue;
        if (used > 0) append_line(plan->lyrics, sizeof plan->lyrics, &used, "");
        for (int i = 0; i < sec->n_lines; i++) append_line(plan->lyrics, sizeof plan->lyrics, &used, sec->lines[i]);
    }
    /* No newline after the last line. */
    if (used > 0) plan->lyrics[used - 1] = '\0';
}
