/* spm-encode - jen1's side of the sentencepiece parity test: the same
 * commands and output formats as spm-oracle (oracle.cpp), through shim/tokenizer/spm/spm.c.
 *
 *   spm-encode encode MODEL   stdin: corpus lines (see corpus.txt); prints
 *                             "LINE<TAB>ids<TAB>pieces" for each string
 *   spm-encode vocab MODEL    piece count, unk/eos/pad ids, then "id<TAB>piece"
 *   spm-encode bench MODEL N  times N encodes of each stdin string */
#include "spm.h"
#include "util.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static int hex_digit(char c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    if (c >= 'A' && c <= 'F')
        return c - 'A' + 10;
    return -1;
}

/* Corpus escapes: \\ \n \t \r \xHH; every other byte stands for itself.
 * Unescapes line[0..len) in place; returns the new length or -1. */
static long unescape(char *line, size_t len)
{
    size_t out = 0;
    for (size_t i = 0; i < len; i++) {
        if (line[i] != '\\') {
            line[out++] = line[i];
            continue;
        }
        if (++i == len)
            return -1;
        switch (line[i]) {
        case '\\': line[out++] = '\\'; break;
        case 'n': line[out++] = '\n'; break;
        case 't': line[out++] = '\t'; break;
        case 'r': line[out++] = '\r'; break;
        case 'x': {
            if (i + 2 >= len)
                return -1;
            int hi = hex_digit(line[i + 1]), lo = hex_digit(line[i + 2]);
            if (hi < 0 || lo < 0)
                return -1;
            line[out++] = (char)(hi * 16 + lo);
            i += 2;
            break;
        }
        default:
            return -1;
        }
    }
    return (long)out;
}

static void print_escaped(const char *s)
{
    for (; *s; s++) {
        unsigned char c = (unsigned char)*s;
        if (c == '\\')
            fputs("\\\\", stdout);
        else if (c < 0x20 || c == 0x7f)
            printf("\\x%02x", c);
        else
            putchar(c);
    }
}

/* Calls fn(text, len, lineno) for each corpus string on stdin. */
static int each_string(int (*fn)(const spm_model *, const char *, size_t, long, void *),
                       const spm_model *m, void *ctx)
{
    char *line = NULL;
    size_t cap = 0;
    ssize_t got;
    int rc = 0;
    for (long lineno = 1; rc == 0 && (got = getline(&line, &cap, stdin)) >= 0; lineno++) {
        size_t len = (size_t)got;
        if (len > 0 && line[len - 1] == '\n')
            len--;
        if (len > 0 && line[0] == '#')
            continue;
        long text_len = unescape(line, len);
        if (text_len < 0) {
            fprintf(stderr, "spm-encode: stdin:%ld: bad escape\n", lineno);
            rc = 1;
            break;
        }
        rc = fn(m, line, (size_t)text_len, lineno, ctx);
    }
    free(line);
    return rc;
}

static int encode_one(const spm_model *m, const char *text, size_t len, long lineno, void *ctx)
{
    (void)ctx;
    char err[512];
    int32_t *ids;
    size_t n;
    printf("%ld\t", lineno);
    if (spm_encode(m, text, len, &ids, &n, err, sizeof err) != 0) {
        fprintf(stderr, "spm-encode: line %ld: %s\n", lineno, err);
        printf("ERROR\n");
        return 0;
    }
    for (size_t i = 0; i < n; i++)
        printf(i ? " %d" : "%d", ids[i]);
    putchar('\t');
    for (size_t i = 0; i < n; i++) {
        if (i)
            putchar(' ');
        print_escaped(spm_id_to_piece(m, ids[i]));
    }
    putchar('\n');
    free(ids);
    return 0;
}

static int bench_one(const spm_model *m, const char *text, size_t len, long lineno, void *ctx)
{
    long reps = *(long *)ctx;
    char err[512];
    double t0 = clock_monotonic_s();
    for (long r = 0; r < reps; r++) {
        int32_t *ids;
        size_t n;
        if (spm_encode(m, text, len, &ids, &n, err, sizeof err) != 0) {
            fprintf(stderr, "spm-encode: line %ld: %s\n", lineno, err);
            return 1;
        }
        free(ids);
    }
    double us = (clock_monotonic_s() - t0) * 1e6 / (double)reps;
    printf("%ld\t%zu bytes\t%.1f us/encode\n", lineno, len, us);
    return 0;
}

static void print_vocab(const spm_model *m)
{
    printf("pieces\t%d\nunk\t%d\neos\t%d\npad\t%d\n", spm_piece_count(m), spm_unk_id(m),
           spm_eos_id(m), spm_pad_id(m));
    for (int id = 0; id < spm_piece_count(m); id++) {
        printf("%d\t", id);
        print_escaped(spm_id_to_piece(m, id));
        putchar('\n');
    }
}

int main(int argc, char **argv)
{
    const char *mode = argc > 2 ? argv[1] : "";
    int known = (strcmp(mode, "encode") == 0 && argc == 3) ||
                (strcmp(mode, "vocab") == 0 && argc == 3) ||
                (strcmp(mode, "bench") == 0 && argc == 4);
    if (!known) {
        fprintf(stderr, "usage: spm-encode encode MODEL < corpus\n"
                        "       spm-encode vocab MODEL\n"
                        "       spm-encode bench MODEL REPEATS < corpus\n");
        return 2;
    }

    char err[512];
    spm_model *m;
    double t0 = clock_monotonic_s();
    if (spm_load(argv[2], &m, err, sizeof err) != 0) {
        fprintf(stderr, "spm-encode: %s\n", err);
        return 1;
    }
    double load_s = clock_monotonic_s() - t0;

    int rc = 0;
    if (strcmp(mode, "encode") == 0) {
        rc = each_string(encode_one, m, NULL);
    } else if (strcmp(mode, "vocab") == 0) {
        print_vocab(m);
    } else {
        long reps = atol(argv[3]);
        if (reps < 1)
            reps = 1;
        printf("load\t%.2f ms\n", load_s * 1e3);
        rc = each_string(bench_one, m, &reps);
    }
    spm_free(m);
    return rc;
}
