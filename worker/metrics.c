/* metrics.c - shared-memory metrics in the Prometheus text format; see metrics.h.
 *
 * Every value is a 64-bit cell in the shared mapping: counters, gauges and
 * histogram sums hold the bits of a double (updated by compare-and-swap),
 * histogram buckets hold integer counts (not cumulative: render adds them
 * up, which also makes the +Inf bucket equal _count by construction). */
#include "metrics.h"

#include <ctype.h>
#include <errno.h>
#include <math.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>

#include "buf.h"

/* Cells must be lock-free to be shared between processes. */
_Static_assert(ATOMIC_LLONG_LOCK_FREE == 2, "64-bit atomics must be lock-free");

enum { MAX_FAMILIES = 64, MAX_SERIES = 256, MAX_CELLS = 1024, MAX_BOUNDS = 32, MAX_SLOTS = 1024 };

enum metric_type { METRIC_COUNTER, METRIC_GAUGE, METRIC_HISTOGRAM };

struct family {
    char *name, *help;
    enum metric_type type;
    double bounds[MAX_BOUNDS];
    size_t n_bounds;
};

struct series {
    int family;
    char *labels; /* `name="value"`, escaped, or NULL */
    size_t cell;  /* first cell; a histogram has n_bounds + 1 buckets, then its sum */
};

struct metrics {
    _Atomic uint64_t *cells; /* n_slots * MAX_CELLS, shared */
    size_t map_bytes;
    unsigned n_slots, slot;
    struct family families[MAX_FAMILIES];
    size_t n_families;
    struct series series[MAX_SERIES];
    size_t n_series, n_cells;
};

#define FAIL(...)                                \
    do {                                         \
        snprintf(err, errlen, __VA_ARGS__);      \
        return -1;                               \
    } while (0)

struct metrics *metrics_create(unsigned n_slots, char *err, size_t errlen)
{
    if (n_slots < 1 || n_slots > MAX_SLOTS) {
        snprintf(err, errlen, "metrics: %u slots; expected 1 to %d", n_slots, MAX_SLOTS);
        return NULL;
    }
    struct metrics *m = calloc(1, sizeof *m);
    if (!m) {
        snprintf(err, errlen, "metrics: out of memory");
        return NULL;
    }
    m->n_slots = n_slots;
    m->map_bytes = (size_t)n_slots * MAX_CELLS * sizeof(uint64_t);
    void *p = mmap(NULL, m->map_bytes, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
    if (p == MAP_FAILED) {
        snprintf(err, errlen, "metrics: cannot map %zu shared bytes: %s", m->map_bytes,
                 strerror(errno));
        free(m);
        return NULL;
    }
    m->cells = p; /* zero-filled: 0 is both the integer 0 and the double +0.0 */
    return m;
}

void metrics_free(struct metrics *m)
{
    if (!m)
        return;
    munmap((void *)m->cells, m->map_bytes);
    for (size_t i = 0; i < m->n_families; i++) {
        free(m->families[i].name);
        free(m->families[i].help);
    }
    for (size_t i = 0; i < m->n_series; i++)
        free(m->series[i].labels);
    free(m);
}

/* ---- Registration ---------------------------------------------------------- */

static bool valid_name(const char *s, bool colon_ok)
{
    if (!s || !*s || isdigit((unsigned char)s[0]))
        return false;
    for (; *s; s++)
        if (!isalnum((unsigned char)*s) && *s != '_' && !(colon_ok && *s == ':'))
            return false;
    return true;
}

/* Appends text with \ and newline escaped, and " too inside a label value,
 * as the exposition format requires. */
static void put_escaped(buf *t, const char *text, bool in_label)
{
    for (const char *p = text; *p; p++) {
        if (*p == '\\' || *p == '\n' || (in_label && *p == '"')) {
            buf_putc(t, '\\');
            buf_putc(t, *p == '\n' ? 'n' : *p);
        } else {
            buf_putc(t, *p);
        }
    }
}

/* `name="value"`, malloc'd. */
static char *format_label(const char *name, const char *value)
{
    buf b = BUF_INIT;
    buf_printf(&b, "%s=\"", name);
    put_escaped(&b, value, true);
    buf_putc(&b, '"');
    return buf_detach(&b, NULL);
}

static int find_or_add_family(struct metrics *m, const char *name, const char *help,
                              enum metric_type type, const double *bounds, size_t n_bounds,
                              char *err, size_t errlen)
{
    for (size_t i = 0; i < m->n_families; i++) {
        struct family *f = &m->families[i];
        if (strcmp(f->name, name) != 0)
            continue;
        bool same = f->type == type && strcmp(f->help, help) == 0 && f->n_bounds == n_bounds &&
                    (n_bounds == 0 || memcmp(f->bounds, bounds, n_bounds * sizeof *bounds) == 0);
        if (!same)
            FAIL("metrics: %s is registered again with another type, help or buckets", name);
        return (int)i;
    }
    if (m->n_families == MAX_FAMILIES)
        FAIL("metrics: more than %d metric names", MAX_FAMILIES);
    struct family *f = &m->families[m->n_families];
    f->name = strdup(name);
    f->help = strdup(help);
    if (!f->name || !f->help) {
        free(f->name);
        free(f->help);
        FAIL("metrics: out of memory");
    }
    f->type = type;
    f->n_bounds = n_bounds;
    if (n_bounds)
        memcpy(f->bounds, bounds, n_bounds * sizeof *bounds);
    return (int)m->n_families++;
}

static int add_series(struct metrics *m, const char *name, const char *help,
                      const char *label_name, const char *label_value, enum metric_type type,
                      const double *bounds, size_t n_bounds, char *err, size_t errlen)
{
    if (!valid_name(name, true))
        FAIL("metrics: \"%s\" is not a valid metric name", name ? name : "");
    if (!help)
        FAIL("metrics: %s has no help text", name);
    if (!label_name != !label_value)
        FAIL("metrics: %s: a label needs both a name and a value", name);
    if (label_name && (!valid_name(label_name, false) || strncmp(label_name, "__", 2) == 0 ||
                       strcmp(label_name, "le") == 0))
        FAIL("metrics: %s: \"%s\" is not a usable label name", name, label_name);
    if (n_bounds > MAX_BOUNDS)
        FAIL("metrics: %s has %zu buckets; at most %d", name, n_bounds, MAX_BOUNDS);
    for (size_t i = 0; i < n_bounds; i++)
        if (!isfinite(bounds[i]) || (i > 0 && bounds[i] <= bounds[i - 1]))
            FAIL("metrics: %s: bucket bounds must be finite and increasing", name);

    size_t cells = type == METRIC_HISTOGRAM ? n_bounds + 2 : 1;
    if (m->n_series == MAX_SERIES || m->n_cells + cells > MAX_CELLS)
        FAIL("metrics: %s does not fit (at most %d series, %d values)", name, MAX_SERIES,
             MAX_CELLS);
    int family = find_or_add_family(m, name, help, type, bounds, n_bounds, err, errlen);
    if (family < 0)
        return -1;
    char *labels = NULL;
    if (label_name) {
        labels = format_label(label_name, label_value);
        if (!labels)
            FAIL("metrics: out of memory");
    }
    for (size_t i = 0; i < m->n_series; i++) {
        const struct series *s = &m->series[i];
        if (s->family == family && !s->labels == !labels &&
            (!labels || strcmp(s->labels, labels) == 0)) {
            free(labels);
            FAIL("metrics: %s%s%s%s is registered twice", name, labels ? "{" : "",
                 labels ? s->labels : "", labels ? "}" : "");
        }
    }
    struct series *s = &m->series[m->n_series];
    s->family = family;
    s->labels = labels;
    s->cell = m->n_cells;
    m->n_cells += cells;
    return (int)m->n_series++;
}

int metrics_counter(struct metrics *m, const char *name, const char *help,
                    const char *label_name, const char *label_value, char *err, size_t errlen)
{
    return add_series(m, name, help, label_name, label_value, METRIC_COUNTER, NULL, 0, err,
                      errlen);
}

int metrics_gauge(struct metrics *m, const char *name, const char *help, const char *label_name,
                  const char *label_value, char *err, size_t errlen)
{
    return add_series(m, name, help, label_name, label_value, METRIC_GAUGE, NULL, 0, err,
                      errlen);
}

int metrics_histogram(struct metrics *m, const char *name, const char *help,
                      const char *label_name, const char *label_value, const double *bounds,
                      size_t n_bounds, char *err, size_t errlen)
{
    return add_series(m, name, help, label_name, label_value, METRIC_HISTOGRAM, bounds, n_bounds,
                      err, errlen);
}

/* ---- Updates ----------------------------------------------------------------- */

void metrics_use_slot(struct metrics *m, unsigned slot)
{
    if (m && slot < m->n_slots)
        m->slot = slot;
}

static _Atomic uint64_t *cell(const struct metrics *m, unsigned slot, size_t index)
{
    return &m->cells[(size_t)slot * MAX_CELLS + index];
}

static double bits_to_double(uint64_t bits)
{
    double d;
    memcpy(&d, &bits, sizeof d);
    return d;
}

static uint64_t double_to_bits(double d)
{
    uint64_t bits;
    memcpy(&bits, &d, sizeof bits);
    return bits;
}

static void add_double(_Atomic uint64_t *c, double v)
{
    uint64_t old = atomic_load_explicit(c, memory_order_relaxed);
    while (!atomic_compare_exchange_weak_explicit(c, &old,
                                                  double_to_bits(bits_to_double(old) + v),
                                                  memory_order_relaxed, memory_order_relaxed))
        ;
}

/* The series behind a handle when it has the expected type, else NULL. */
static const struct series *lookup(const struct metrics *m, int handle, int type_mask)
{
    if (!m || handle < 0 || (size_t)handle >= m->n_series)
        return NULL;
    const struct series *s = &m->series[handle];
    return (type_mask >> m->families[s->family].type) & 1 ? s : NULL;
}

#define ANY_SCALAR (1 << METRIC_COUNTER | 1 << METRIC_GAUGE)

void metrics_add(struct metrics *m, int handle, double v)
{
    const struct series *s = lookup(m, handle, ANY_SCALAR);
    if (!s || (m->families[s->family].type == METRIC_COUNTER && !(v >= 0)))
        return;
    add_double(cell(m, m->slot, s->cell), v);
}

void metrics_set(struct metrics *m, int handle, double v)
{
    const struct series *s = lookup(m, handle, 1 << METRIC_GAUGE);
    if (s)
        atomic_store_explicit(cell(m, m->slot, s->cell), double_to_bits(v), memory_order_relaxed);
}

void metrics_observe(struct metrics *m, int handle, double v)
{
    const struct series *s = lookup(m, handle, 1 << METRIC_HISTOGRAM);
    if (!s || isnan(v))
        return;
    const struct family *f = &m->families[s->family];
    size_t bucket = 0;
    while (bucket < f->n_bounds && v > f->bounds[bucket])
        bucket++;
    atomic_fetch_add_explicit(cell(m, m->slot, s->cell + bucket), 1, memory_order_relaxed);
    add_double(cell(m, m->slot, s->cell + f->n_bounds + 1), v);
}

static double sum_double(const struct metrics *m, size_t index)
{
    double total = 0;
    for (unsigned slot = 0; slot < m->n_slots; slot++)
        total += bits_to_double(atomic_load_explicit(cell(m, slot, index), memory_order_relaxed));
    return total;
}

static uint64_t sum_count(const struct metrics *m, size_t index)
{
    uint64_t total = 0;
    for (unsigned slot = 0; slot < m->n_slots; slot++)
        total += atomic_load_explicit(cell(m, slot, index), memory_order_relaxed);
    return total;
}

double metrics_value(const struct metrics *m, int handle)
{
    const struct series *s = lookup(m, handle, ANY_SCALAR | 1 << METRIC_HISTOGRAM);
    if (!s)
        return 0;
    const struct family *f = &m->families[s->family];
    return sum_double(m, s->cell + (f->type == METRIC_HISTOGRAM ? f->n_bounds + 1 : 0));
}

void metrics_clear_gauges(struct metrics *m, unsigned slot)
{
    if (!m || slot >= m->n_slots)
        return;
    for (size_t i = 0; i < m->n_series; i++)
        if (m->families[m->series[i].family].type == METRIC_GAUGE)
            atomic_store_explicit(cell(m, slot, m->series[i].cell), 0, memory_order_relaxed);
}

/* ---- Rendering ----------------------------------------------------------------- */

/* Prometheus reads Go's float syntax: the shortest exact decimal, +Inf, -Inf, NaN. */
static void format_value(char *buf, size_t len, double v)
{
    if (isnan(v))
        snprintf(buf, len, "NaN");
    else if (isinf(v))
        snprintf(buf, len, v > 0 ? "+Inf" : "-Inf");
    else {
        snprintf(buf, len, "%.15g", v);
        if (strtod(buf, NULL) != v)
            snprintf(buf, len, "%.17g", v);
    }
}

static void render_histogram(buf *t, const struct metrics *m, const struct family *f,
                             const struct series *s)
{
    const char *labels = s->labels ? s->labels : "";
    const char *sep = s->labels ? "," : "";
    char num[40];
    uint64_t cumulative = 0;
    for (size_t b = 0; b <= f->n_bounds; b++) {
        cumulative += sum_count(m, s->cell + b);
        format_value(num, sizeof num, b < f->n_bounds ? f->bounds[b] : INFINITY);
        buf_printf(t, "%s_bucket{%s%sle=\"%s\"} %llu\n", f->name, labels, sep, num,
                    (unsigned long long)cumulative);
    }
    format_value(num, sizeof num, sum_double(m, s->cell + f->n_bounds + 1));
    const char *open = s->labels ? "{" : "", *close = s->labels ? "}" : "";
    buf_printf(t, "%s_sum%s%s%s %s\n", f->name, open, labels, close, num);
    buf_printf(t, "%s_count%s%s%s %llu\n", f->name, open, labels, close,
                (unsigned long long)cumulative);
}

char *metrics_render(const struct metrics *m, size_t *len)
{
    static const char *const type_names[] = { "counter", "gauge", "histogram" };
    buf t = BUF_INIT;
    for (size_t fi = 0; fi < m->n_families; fi++) {
        const struct family *f = &m->families[fi];
        buf_printf(&t, "# HELP %s ", f->name);
        put_escaped(&t, f->help, false);
        buf_printf(&t, "\n# TYPE %s %s\n", f->name, type_names[f->type]);
        for (size_t si = 0; si < m->n_series; si++) {
            const struct series *s = &m->series[si];
            if (s->family != (int)fi)
                continue;
            if (f->type == METRIC_HISTOGRAM) {
                render_histogram(&t, m, f, s);
                continue;
            }
            char num[40];
            format_value(num, sizeof num, sum_double(m, s->cell));
            if (s->labels)
                buf_printf(&t, "%s{%s} %s\n", f->name, s->labels, num);
            else
                buf_printf(&t, "%s %s\n", f->name, num);
        }
    }
    return buf_detach(&t, len);
}

/* ---- jen1's own metrics ----------------------------------------------------- */

static const char *const outcome_names[JEN1_N_OUTCOMES] = { "succeeded", "failed", "cancelled",
                                                            "retried" };
static const char *const stage_names[JEN1_N_STAGES] = { "planning", "generating", "encoding",
                                                        "uploading" };

const char *jen1_stage_name(enum jen1_stage stage)
{
    return stage < JEN1_N_STAGES ? stage_names[stage] : "unknown";
}

#define REGISTER(handle, call)      \
    do {                            \
        if (((handle) = (call)) < 0) \
            goto fail;              \
    } while (0)

int jen1_metrics_create(struct jen1_metrics *jm, unsigned n_slots, char *err, size_t errlen)
{
    static const double job_bounds[] = { 0.5, 1, 2, 5, 10, 20, 30, 60, 120, 300, 600 };
    static const double stage_bounds[] = { 0.01, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300 };
    const size_t n_job_bounds = sizeof job_bounds / sizeof *job_bounds;
    const size_t n_stage_bounds = sizeof stage_bounds / sizeof *stage_bounds;
    memset(jm, 0, sizeof *jm);
    struct metrics *m = metrics_create(n_slots, err, errlen);
    if (!m)
        return -1;
    jm->registry = m;
    for (int i = 0; i < JEN1_N_OUTCOMES; i++)
        REGISTER(jm->jobs[i],
                 metrics_counter(m, "jen1_jobs_total",
                                 "Jobs that ended, or were scheduled for a retry, by outcome",
                                 "outcome", outcome_names[i], err, errlen));
    REGISTER(jm->job_duration,
             metrics_histogram(m, "jen1_job_duration_seconds",
                               "Time from taking a job to finishing it, in seconds", NULL, NULL,
                               job_bounds, n_job_bounds, err, errlen));
    for (int i = 0; i < JEN1_N_STAGES; i++)
        REGISTER(jm->stage_duration[i],
                 metrics_histogram(m, "jen1_stage_duration_seconds",
                                   "Time spent in each stage of a job, in seconds", "stage",
                                   stage_names[i], stage_bounds, n_stage_bounds, err, errlen));
    REGISTER(jm->audio_seconds, metrics_counter(m, "jen1_audio_seconds_generated_total",
                                                "Seconds of audio rendered", NULL, NULL, err,
                                                errlen));
    REGISTER(jm->inflight, metrics_gauge(m, "jen1_inflight_jobs", "Jobs being worked on now",
                                         NULL, NULL, err, errlen));
    REGISTER(jm->queue_depth, metrics_gauge(m, "jen1_queue_depth",
                                            "Jobs waiting in the Redis queues", NULL, NULL, err,
                                            errlen));
    REGISTER(jm->worker_restarts, metrics_counter(m, "jen1_worker_restarts_total",
                                                  "Worker processes restarted after dying", NULL,
                                                  NULL, err, errlen));
    REGISTER(jm->workers_alive, metrics_gauge(m, "jen1_workers_alive", "Worker processes running",
                                              NULL, NULL, err, errlen));
    REGISTER(jm->model_loaded, metrics_gauge(m, "jen1_model_loaded",
                                             "Worker processes with the model loaded", NULL, NULL,
                                             err, errlen));
    REGISTER(jm->batch_slots, metrics_gauge(m, "jen1_batch_slots",
                                            "Songs the workers can decode together (JEN1_BATCH, summed)",
                                            NULL, NULL, err, errlen));
    REGISTER(jm->batch_occupancy, metrics_gauge(m, "jen1_batch_occupancy",
                                                "Songs in the workers' decode batches now", NULL, NULL,
                                                err, errlen));
    REGISTER(jm->decode_steps, metrics_counter(m, "jen1_decode_steps_total",
                                               "Decoder passes run (each serves every song in its batch)",
                                               NULL, NULL, err, errlen));
    REGISTER(jm->decode_steps_per_second,
             metrics_gauge(m, "jen1_decode_steps_per_second",
                           "Decoder passes per second over the last second, summed over workers", NULL,
                           NULL, err, errlen));
    REGISTER(jm->text_steps, metrics_counter(m, "jen1_text_steps_total",
                                             "Decode steps of the text model writing the words (one serves "
                                             "every job planning)",
                                             NULL, NULL, err, errlen));
    REGISTER(jm->text_step_rows, metrics_counter(m, "jen1_text_step_rows_total",
                                                 "Rows in those steps, all jobs' together (divided by the "
                                                 "steps: how many the text model decodes at once)",
                                                 NULL, NULL, err, errlen));
    REGISTER(jm->redis_up, metrics_gauge(m, "jen1_redis_up",
                                         "1 when the supervisor reaches Redis, else 0", NULL, NULL,
                                         err, errlen));
    return 0;
fail:
    metrics_free(m);
    jm->registry = NULL;
    return -1;
}

void jen1_metrics_free(struct jen1_metrics *jm)
{
    metrics_free(jm->registry);
    jm->registry = NULL;
}
