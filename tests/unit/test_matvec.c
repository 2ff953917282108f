/* test_matvec.c - the skinny matrix-product kernels against a double-precision
 * reference, on every kernel this CPU can run and for every weight type (fp32,
 * bf16, int8 with per-row scales; int8 also with int16 activations on
 * avx512vnni), a row's outputs bit-identical alone or among 16, the fp32 ->
 * bf16 rounding and the int8 quantisation. */
#include "check.h"
#include "matvec.h"

#include <float.h>
#include <math.h>
#include <stdint.h>
#include <string.h>

static const char *const all_isas[] = {"generic", "avx2", "avx512", "avx512vnni"};

static uint32_t rng_state = 12345;

static uint32_t rng_next(void)
{
    rng_state = rng_state * 1664525u + 1013904223u;
    return rng_state;
}

/* Uniform in [-1, 1). */
static float rng_float(void)
{
    return (float)(rng_next() >> 8) / (float)(1u << 23) - 1.0f;
}

static float f32_from_bits(uint32_t bits)
{
    float f;
    memcpy(&f, &bits, sizeof f);
    return f;
}

static uint32_t bits_of(float f)
{
    uint32_t bits;
    memcpy(&bits, &f, sizeof bits);
    return bits;
}

enum { KIND_F32, KIND_BF16, KIND_I8, KIND_COUNT };
static const char *const kind_names[KIND_COUNT] = {"fp32", "bf16", "int8"};

/* One product y[m][ldy] = x[m][ldx] * w[n][k]^T (+ bias) over [j0, j1), with
 * everything the kernel must not read or write filled with NaN: x's row
 * padding, the weight rows outside [j0, j1), y outside the range. */
struct problem {
    int m, k, n, ldx, ldy, j0, j1, with_bias, kind;
    float *x, *w32, *bias, *y, *scale;
    uint16_t *w16;
    int8_t *w8;
};

static int problem_alloc(struct problem *p)
{
    size_t wn = (size_t)p->n * p->k;
    p->x = malloc(sizeof(float) * ((size_t)p->m * p->ldx + 1));
    p->y = malloc(sizeof(float) * ((size_t)p->m * p->ldy + 1));
    p->w32 = malloc(sizeof(float) * (wn + 1));
    p->w16 = malloc(sizeof(uint16_t) * (wn + 1));
    p->w8 = malloc(wn + 1);
    p->scale = malloc(sizeof(float) * p->n);
    p->bias = p->with_bias ? malloc(sizeof(float) * p->n) : NULL;
    if (!p->x || !p->y || !p->w32 || !p->w16 || !p->w8 || !p->scale || (p->with_bias && !p->bias))
        return -1;
    float nan = f32_from_bits(0x7fc00000u);
    for (int i = 0; i < p->m; i++)
        for (int t = 0; t < p->ldx; t++)
            p->x[(size_t)i * p->ldx + t] = t < p->k ? rng_float() : nan;
    for (size_t e = 0; e < wn; e++) {
        int j = (int)(e / p->k);
        p->w32[e] = j >= p->j0 && j < p->j1 ? rng_float() : nan;
    }
    /* The bf16 weights are the fp32 ones rounded; the reference uses them
     * widened back, so both kernels are held to exact fp32 math. */
    jen1_f32_to_bf16(p->w32, p->w16, wn);
    /* The int8 weights are the fp32 ones quantised; the reference uses the
     * int8 values and scales themselves. A scale outside [j0, j1) is NaN. */
    jen1_quantize_i8_rows(p->w32, (size_t)p->n, (size_t)p->k, p->w8, p->scale);
    for (int j = 0; j < p->n; j++)
        if (j < p->j0 || j >= p->j1)
            p->scale[j] = nan;
    for (int j = 0; j < p->n && p->bias; j++)
        p->bias[j] = rng_float();
    for (size_t e = 0; e < (size_t)p->m * p->ldy; e++)
        p->y[e] = nan;
    return 0;
}

static void problem_free(struct problem *p)
{
    free(p->x);
    free(p->y);
    free(p->w32);
    free(p->w16);
    free(p->w8);
    free(p->scale);
    free(p->bias);
}

static double weight(const struct problem *p, size_t e)
{
    if (p->kind == KIND_I8)
        return (double)p->w8[e];
    return p->kind == KIND_BF16 ? (double)f32_from_bits((uint32_t)p->w16[e] << 16) : (double)p->w32[e];
}

/* The avx512vnni int8 kernel rounds each input row to int16 codes q_t with
 * the row's scale s = max_t |x_t| / 32767, computed in fp32 as
 * q_t = round(x_t * fl(32767 / max)) and s = fl(max / 32767). The product
 * x_t * fl(32767 / max), rounded, is within 2 ulps of x_t / s, at most
 * 32767 * 2 * 2^-24 < 0.004 codes from it, so |x_t / s - q_t| <= 0.504; and
 * s's own rounding moves q_t * s by at most 32767 * 2^-24 < 0.002 steps:
 * |x_t - q_t * s| <= 0.51 s. The rounding then moves output j by at most
 * 0.51 * s * sum_t |w[j][t]| * scale[j] (worst case ~ max|x| * 127 * k /
 * 64000 * scale[j]) before the fp32 roundings the other kernels have. */
static int int16_activations(const struct problem *p, const char *isa)
{
    return p->kind == KIND_I8 && strcmp(isa, "avx512vnni") == 0;
}

static double row_step(const struct problem *p, int i)
{
    double top = 0.0;
    for (int t = 0; t < p->k; t++)
        top = fmax(top, fabs((double)p->x[(size_t)i * p->ldx + t]));
    return top / 32767.0;
}

/* Checks p->y against the reference; returns the number of bad entries. */
static int problem_verify(const struct problem *p, const char *isa)
{
    int bad = 0;
    for (int i = 0; i < p->m; i++)
        for (int j = 0; j < p->ldy; j++) {
            float got = p->y[(size_t)i * p->ldy + j];
            if (j < p->j0 || j >= p->j1) {
                if (bits_of(got) != 0x7fc00000u && bad++ < 3)
                    fprintf(stderr, "  [%s] y[%d][%d] outside [%d, %d) was written\n",
                            isa, i, j, p->j0, p->j1);
                continue;
            }
            double sum = 0.0, magnitude = 0.0, weights = 0.0;
            for (int t = 0; t < p->k; t++) {
                double term = (double)p->x[(size_t)i * p->ldx + t] * weight(p, (size_t)j * p->k + t);
                sum += term;
                magnitude += fabs(term);
                weights += fabs(weight(p, (size_t)j * p->k + t));
            }
            double scale = p->kind == KIND_I8 ? (double)p->scale[j] : 1.0;
            double bias = p->bias ? p->bias[j] : 0.0;
            double want = sum * scale + bias;
            magnitude = magnitude * scale + fabs(bias);
            /* fp32 summation in 8 or more partial sums: at most k/8 + 16
             * roundings (one more for the int8 scale), each off by
             * FLT_EPSILON of the running magnitude. */
            double bound = (p->k / 8.0 + 17.0) * FLT_EPSILON * magnitude + 1e-30;
            if (int16_activations(p, isa))
                bound += 0.51 * row_step(p, i) * weights * scale;
            if (!(fabs(got - want) <= bound) && bad++ < 3)
                fprintf(stderr, "  [%s %s m=%d k=%d n=%d j=[%d,%d) ldx=%d ldy=%d bias=%d] "
                        "y[%d][%d] = %.9g, want %.9g (bound %.3g)\n",
                        isa, kind_names[p->kind], p->m, p->k, p->n, p->j0, p->j1,
                        p->ldx, p->ldy, p->with_bias, i, j, got, want, bound);
        }
    return bad;
}

/* Runs one shape on every kernel the CPU has; returns the bad entries. */
static int run_case(int m, int k, int n, int j0, int j1, int ldx_pad, int ldy_pad,
                    int with_bias, int kind)
{
    struct problem p = {.m = m, .k = k, .n = n, .ldx = k + ldx_pad, .ldy = n + ldy_pad,
                        .j0 = j0, .j1 = j1, .with_bias = with_bias, .kind = kind};
    int bad = 0;
    if (problem_alloc(&p) != 0) {
        problem_free(&p);
        return 1;
    }
    for (size_t i = 0; i < sizeof all_isas / sizeof all_isas[0]; i++) {
        if (jen1_matvec_force_isa(all_isas[i]) != 0)
            continue;
        for (size_t e = 0; e < (size_t)m * p.ldy; e++)
            p.y[e] = f32_from_bits(0x7fc00000u);
        if (kind == KIND_I8)
            jen1_matvec_i8(p.x, m, k, p.ldx, p.w8, p.scale, p.bias, p.y, p.ldy, j0, j1);
        else if (kind == KIND_BF16)
            jen1_matvec_bf16(p.x, m, k, p.ldx, p.w16, p.bias, p.y, p.ldy, j0, j1);
        else
            jen1_matvec_f32(p.x, m, k, p.ldx, p.w32, p.bias, p.y, p.ldy, j0, j1);
        bad += problem_verify(&p, all_isas[i]);
    }
    jen1_matvec_force_isa(NULL);
    problem_free(&p);
    return bad;
}

TEST(every_row_count_with_awkward_k)
{
    static const int ks[] = {1, 3, 15, 16, 17, 31, 33, 100};
    static const int ns[] = {1, 4, 7, 9};
    int bad = 0, cases = 0;
    for (int kind = 0; kind < KIND_COUNT; kind++)
        for (int m = 1; m <= JEN1_MATVEC_MAX_ROWS; m++)
            for (size_t a = 0; a < sizeof ks / sizeof ks[0]; a++)
                for (size_t b = 0; b < sizeof ns / sizeof ns[0]; b++, cases++)
                    bad += run_case(m, ks[a], ns[b], 0, ns[b], 0, 0, cases % 2, kind);
    CHECK(bad == 0, "%d wrong outputs over %d shapes", bad, cases);
}

TEST(model_sized_rows)
{
    static const struct { int m, k, n; } shapes[] = {
        {1, 1024, 64}, {2, 1024, 37}, {2, 4096, 20}, {3, 1000, 13},
        {4, 4096, 9}, {5, 1024, 8}, {8, 2048, 11}, {16, 1024, 6}, {16, 4096, 5},
        {2, 8200, 7}, {3, 20000, 4}, {2, 33000, 3}, /* int32 flushes; beyond the int16 buffer */
    };
    int bad = 0;
    for (int kind = 0; kind < KIND_COUNT; kind++)
        for (size_t s = 0; s < sizeof shapes / sizeof shapes[0]; s++)
            bad += run_case(shapes[s].m, shapes[s].k, shapes[s].n, 0, shapes[s].n, 0, 0,
                            1, kind);
    CHECK(bad == 0, "%d wrong outputs", bad);
}

/* A thread's share of the columns: nothing outside it is read or written. */
TEST(partial_column_ranges_and_strides)
{
    static const struct { int m, k, n, j0, j1, ldx_pad, ldy_pad; } cases[] = {
        {2, 1024, 64, 32, 64, 0, 0}, {2, 1000, 23, 5, 18, 7, 3}, {1, 17, 9, 8, 9, 1, 1},
        {4, 33, 30, 1, 29, 16, 2}, {7, 100, 12, 3, 10, 5, 4}, {16, 64, 10, 9, 10, 3, 6},
        {3, 1, 5, 2, 4, 2, 1}, {13, 15, 16, 0, 13, 1, 0},
    };
    int bad = 0;
    for (int kind = 0; kind < KIND_COUNT; kind++)
        for (size_t c = 0; c < sizeof cases / sizeof cases[0]; c++)
            for (int with_bias = 0; with_bias <= 1; with_bias++)
                bad += run_case(cases[c].m, cases[c].k, cases[c].n, cases[c].j0, cases[c].j1,
                                cases[c].ldx_pad, cases[c].ldy_pad, with_bias, kind);
    CHECK(bad == 0, "%d wrong outputs", bad);
}

TEST(empty_products)
{
    float x[2] = {1.0f, 2.0f}, w[2] = {3.0f, 4.0f}, bias[2] = {0.5f, -0.25f};
    float y[4] = {7.0f, 7.0f, 7.0f, 7.0f};
    uint16_t w16[2] = {0x4040, 0x4080};
    for (size_t i = 0; i < sizeof all_isas / sizeof all_isas[0]; i++) {
        if (jen1_matvec_force_isa(all_isas[i]) != 0)
            continue;
        /* k = 0: the bias alone, or zero. */
        jen1_matvec_f32(x, 2, 0, 1, w, bias, y, 2, 0, 2);
        CHECK(y[0] == 0.5f && y[1] == -0.25f && y[2] == 0.5f && y[3] == -0.25f,
              "[%s] k=0 gave %g %g %g %g", all_isas[i], y[0], y[1], y[2], y[3]);
        jen1_matvec_bf16(x, 1, 0, 1, w16, NULL, y, 2, 1, 2);
        CHECK(y[1] == 0.0f, "[%s] k=0 without bias gave %g", all_isas[i], y[1]);
        /* An empty column range or no rows: nothing written. */
        y[0] = 7.0f;
        jen1_matvec_f32(x, 1, 2, 2, w, bias, y, 2, 1, 1);
        jen1_matvec_f32(x, 0, 2, 2, w, bias, y, 2, 0, 1);
        CHECK(y[0] == 7.0f, "[%s] an empty product wrote %g", all_isas[i], y[0]);
        /* 1x2 . 2x1 exactly: 1*3 + 2*4, and 1*3 + 2*4 in bf16 (3 and 4 exact). */
        jen1_matvec_f32(x, 1, 2, 2, w, NULL, y, 1, 0, 1);
        CHECK(y[0] == 11.0f, "[%s] fp32 dot gave %g", all_isas[i], y[0]);
        jen1_matvec_bf16(x, 1, 1, 1, w16 + 1, NULL, y, 1, 0, 1);
        CHECK(y[0] == 4.0f, "[%s] bf16 dot gave %g", all_isas[i], y[0]);
        /* int8: (32767*3 - 16384*4) * 0.5 + 0.5, exact (inputs on the int16
         * grid: max |x| = 32767 makes the row scale 1); k = 0 leaves the bias. */
        int8_t w8[2] = {3, 4};
        float scale[2] = {0.5f, 2.0f}, x16[2] = {32767.0f, -16384.0f};
        jen1_matvec_i8(x16, 1, 2, 2, w8, scale, bias, y, 1, 0, 1);
        CHECK(y[0] == 16383.0f, "[%s] int8 dot gave %g", all_isas[i], y[0]);
        jen1_matvec_i8(x, 1, 0, 1, w8, scale, bias, y, 2, 0, 2);
        CHECK(y[0] == 0.5f && y[1] == -0.25f, "[%s] int8 k=0 gave %g %g", all_isas[i], y[0], y[1]);
    }
    jen1_matvec_force_isa(NULL);
}

TEST(dispatcher_names_a_kernel)
{
    const char *isa = jen1_matvec_isa();
    int known = 0;
    for (size_t i = 0; i < sizeof all_isas / sizeof all_isas[0]; i++)
        known |= strcmp(isa, all_isas[i]) == 0;
    REQUIRE(known, "unknown kernel name '%s'", isa);
    CHECK(jen1_matvec_force_isa("generic") == 0, "the portable kernel was refused");
    CHECK(strcmp(jen1_matvec_isa(), "generic") == 0, "forcing generic gave '%s'",
          jen1_matvec_isa());
    CHECK(jen1_matvec_force_isa("sse9") == -1, "an unknown name was accepted");
    CHECK(jen1_matvec_force_isa(NULL) == 0, "resetting failed");
    CHECK(strcmp(jen1_matvec_isa(), isa) == 0, "reset gave '%s', not '%s'",
          jen1_matvec_isa(), isa);
#if defined(__x86_64__) || defined(__i386__)
    __builtin_cpu_init();
    const char *want = "generic";
    if (__builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma"))
        want = "avx2";
    if (strcmp(want, "avx2") == 0 && __builtin_cpu_supports("avx512f") &&
        __builtin_cpu_supports("avx512bw") && __builtin_cpu_supports("avx512vl"))
        want = "avx512";
    if (strcmp(want, "avx512") == 0 && __builtin_cpu_supports("avx512vnni"))
        want = "avx512vnni";
    CHECK(strcmp(isa, want) == 0, "this CPU should run '%s', dispatcher chose '%s'", want, isa);
    printf("     (dispatcher: %s)\n", isa);
#endif
}

/* The session engine's promise: a request's outputs do not depend on its
 * batch-mates. Row r computed among 16 rows is bit for bit row r alone, on
 * every kernel and weight type, for k that cross the int16 kernel's int32
 * flush (8192), its row groups (k = 4096: 8 rows a group) and its fallback
 * (k > 32768). */
TEST(a_row_alone_or_among_sixteen_is_bit_identical)
{
    static const int ks[] = {1, 33, 1000, 4096, 8200, 33000};
    int bad = 0;
    for (int kind = 0; kind < KIND_COUNT; kind++)
        for (size_t a = 0; a < sizeof ks / sizeof ks[0]; a++) {
            struct problem p = {.m = 16, .k = ks[a], .n = 9, .ldx = ks[a] + 3, .ldy = 11,
                                .j0 = 0, .j1 = 9, .with_bias = 1, .kind = kind};
            REQUIRE(problem_alloc(&p) == 0, "out of memory");
            float alone[9];
            for (size_t i = 0; i < sizeof all_isas / sizeof all_isas[0]; i++) {
                if (jen1_matvec_force_isa(all_isas[i]) != 0)
                    continue;
                const void *w = kind == KIND_I8 ? (const void *)p.w8
                              : kind == KIND_BF16 ? (const void *)p.w16 : (const void *)p.w32;
                for (int r = -1; r < p.m; r++) { /* -1: all 16 rows at once */
                    const float *x = p.x + (size_t)(r < 0 ? 0 : r) * p.ldx;
                    float *y = r < 0 ? p.y : alone;
                    int rows = r < 0 ? p.m : 1;
                    if (kind == KIND_I8)
                        jen1_matvec_i8(x, rows, p.k, p.ldx, w, p.scale, p.bias, y, p.ldy, 0, 9);
                    else if (kind == KIND_BF16)
                        jen1_matvec_bf16(x, rows, p.k, p.ldx, w, p.bias, y, p.ldy, 0, 9);
                    else
                        jen1_matvec_f32(x, rows, p.k, p.ldx, w, p.bias, y, p.ldy, 0, 9);
                    for (int j = 0; r >= 0 && j < 9; j++)
                        if (bits_of(alone[j]) != bits_of(p.y[(size_t)r * p.ldy + j]) && bad++ < 3)
                            fprintf(stderr, "  [%s %s k=%d] row %d column %d: %.9g alone, %.9g among 16\n",
                                    all_isas[i], kind_names[kind], p.k, r, j, alone[j],
                                    p.y[(size_t)r * p.ldy + j]);
                }
            }
            problem_free(&p);
        }
    jen1_matvec_force_isa(NULL);
    CHECK(bad == 0, "%d outputs differ", bad);
}

/* The largest products everywhere (codes +-32767 against weights -128) over
 * k = 2 x 8192 + 40: every int32 lane of the int16 kernel comes within
 * 0.003% of 2^31 before each flush, and an overflow would be far off. */
TEST(int32_sums_never_overflow)
{
    enum { K = 2 * 8192 + 40 };
    static float x[2][K];
    static int8_t w[2][K];
    for (int t = 0; t < K; t++) {
        x[0][t] = 1.0f;
        x[1][t] = t % 2 ? -1.0f : 1.0f;
        w[0][t] = -128;
        w[1][t] = t % 2 ? 127 : -128;
    }
    float scale[2] = {1.0f, 1.0f}, y[2][2];
    /* x1 and w1 alternate signs and sizes between even and odd t. */
    const double want[2][2] = {{-128.0 * K, (-128.0 + 127.0) * K / 2},
                               {(-128.0 + 128.0) * K / 2, (-128.0 - 127.0) * K / 2}};
    for (size_t i = 0; i < sizeof all_isas / sizeof all_isas[0]; i++) {
        if (jen1_matvec_force_isa(all_isas[i]) != 0)
            continue;
        jen1_matvec_i8(&x[0][0], 2, K, K, &w[0][0], scale, NULL, &y[0][0], 2, 0, 2);
        for (int r = 0; r < 2; r++)
            for (int j = 0; j < 2; j++)
                CHECK(fabs(y[r][j] - want[r][j]) <= 1e-5 * 128.0 * K, "[%s] y[%d][%d] = %.9g, want %.9g",
                      all_isas[i], r, j, y[r][j], want[r][j]);
    }
    jen1_matvec_force_isa(NULL);
}

static uint16_t bf16_of(uint32_t bits)
{
    float f = f32_from_bits(bits);
    uint16_t h;
    jen1_f32_to_bf16(&f, &h, 1);
    return h;
}

TEST(bf16_rounds_to_nearest_even)
{
    static const struct { uint32_t in; uint16_t out; } cases[] = {
        {0x3f800000u, 0x3f80}, /* 1.0 exact */
        {0x3f807fffu, 0x3f80}, /* just below half: down */
        {0x3f808000u, 0x3f80}, /* half, even below: down */
        {0x3f808001u, 0x3f81}, /* just above half: up */
        {0x3f818000u, 0x3f82}, /* half, odd below: up to even */
        {0xbf808000u, 0xbf80}, /* negative ties alike */
        {0xbf818000u, 0xbf82},
        {0x3fffffffu, 0x4000}, /* carry into the exponent */
        {0x7f7f7fffu, 0x7f7f}, /* largest that stays finite */
        {0x7f7fffffu, 0x7f80}, /* FLT_MAX rounds to infinity */
        {0x7f800000u, 0x7f80}, /* +inf */
        {0xff800000u, 0xff80}, /* -inf */
        {0x00000000u, 0x0000}, /* +0 */
        {0x80000000u, 0x8000}, /* -0 */
        {0x00008000u, 0x0000}, /* subnormal tie to even zero */
        {0x00018000u, 0x0002}, /* subnormal tie to even up */
        {0x007fffffu, 0x0080}, /* largest subnormal rounds to FLT_MIN */
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        uint16_t got = bf16_of(cases[i].in);
        CHECK(got == cases[i].out, "0x%08x -> 0x%04x, want 0x%04x", (unsigned)cases[i].in,
              got, cases[i].out);
    }
}

TEST(bf16_keeps_nan_a_nan)
{
    static const uint32_t nans[] = {0x7fc00000u, 0xffc00000u, 0x7f800001u, 0xff800001u,
                                    0x7fbfffffu, 0x7f80ffffu, 0x7fffffffu};
    for (size_t i = 0; i < sizeof nans / sizeof nans[0]; i++) {
        uint16_t got = bf16_of(nans[i]);
        CHECK((got & 0x7fff) > 0x7f80, "NaN 0x%08x became 0x%04x", (unsigned)nans[i], got);
        CHECK((got & 0x8000) == ((nans[i] >> 16) & 0x8000), "NaN 0x%08x lost its sign: 0x%04x",
              (unsigned)nans[i], got);
    }
}

/* Every bf16 value survives widening and narrowing, and random floats land
 * on the nearer of their two bf16 neighbours (the even one on a tie). */
TEST(bf16_matches_a_reference_rounding)
{
    int bad = 0;
    for (uint32_t h = 0; h <= 0xffff; h++) {
        if ((h & 0x7fff) > 0x7f80)
            continue;
        if (bf16_of(h << 16) != h && bad++ < 3)
            fprintf(stderr, "  bf16 0x%04x does not round-trip\n", (unsigned)h);
    }
    float src[4096];
    uint16_t dst[4096];
    for (int round = 0; round < 64; round++) {
        for (int i = 0; i < 4096; i++) {
            uint32_t bits;
            do
                bits = rng_next() ^ (rng_next() << 16);
            while ((bits & 0x7f800000u) == 0x7f800000u);
            src[i] = f32_from_bits(bits);
        }
        jen1_f32_to_bf16(src, dst, 4096);
        for (int i = 0; i < 4096; i++) {
            uint32_t bits = bits_of(src[i]);
            uint16_t below = (uint16_t)(bits >> 16), above = (uint16_t)(below + 1);
            double v = fabs((double)src[i]);
            double lo = fabs((double)f32_from_bits((uint32_t)below << 16));
            /* The neighbour above FLT_MAX's is infinity, reached past the
             * midpoint, which is FLT_MAX + half an ulp of bf16. */
            double hi = (above & 0x7fff) == 0x7f80 ? ldexp(1.0, 128)
                                                   : fabs((double)f32_from_bits((uint32_t)above << 16));
            uint16_t want = v - lo < hi - v ? below : v - lo > hi - v ? above
                          : (below & 1) ? above : below;
            if (dst[i] != want && bad++ < 6)
                fprintf(stderr, "  0x%08x -> 0x%04x, want 0x%04x\n", (unsigned)bits, dst[i], want);
        }
    }
    CHECK(bad == 0, "%d conversions wrong", bad);
}

TEST(int8_quantisation_per_row)
{
    float nan = f32_from_bits(0x7fc00000u), inf = f32_from_bits(0x7f800000u);
    const float src[4][4] = {
        {1.0f, -0.5f, 0.25f, 0.0f},      /* max 1: scale 1/127 */
        {0.0f, 0.0f, 0.0f, 0.0f},        /* all zero: scale 0, codes 0 */
        {-254.0f, 127.0f, 1.0f, 0.5f},   /* max 254: scale 2, 1 -> 0.5 ties even to 0 */
        {nan, 2.0f, inf, -1.0f},         /* non-finite count as 0 */
    };
    int8_t q[4][4];
    float scale[4];
    jen1_quantize_i8_rows(&src[0][0], 4, 4, &q[0][0], scale);
    CHECK(scale[0] == 1.0f / 127.0f, "scale[0] %g", scale[0]);
    CHECK(q[0][0] == 127 && q[0][1] == -64 && q[0][2] == 32 && q[0][3] == 0,
          "row 0 %d %d %d %d", q[0][0], q[0][1], q[0][2], q[0][3]);
    CHECK(scale[1] == 0.0f && !q[1][0] && !q[1][1] && !q[1][2] && !q[1][3], "the zero row");
    CHECK(scale[2] == 2.0f && q[2][0] == -127 && q[2][1] == 64 && q[2][2] == 0 && q[2][3] == 0,
          "row 2: scale %g, %d %d %d %d", scale[2], q[2][0], q[2][1], q[2][2], q[2][3]);
    CHECK(scale[3] == 2.0f / 127.0f && q[3][0] == 0 && q[3][1] == 127 && q[3][2] == 0 && q[3][3] == -64,
          "row 3: scale %g, %d %d %d %d", scale[3], q[3][0], q[3][1], q[3][2], q[3][3]);
    /* Random rows: every value within half a step of its code. */
    float row[1000];
    int8_t codes[1000];
    float s;
    int bad = 0;
    for (int round = 0; round < 20; round++) {
        for (int t = 0; t < 1000; t++)
            row[t] = rng_float() * (float)(round + 1);
        jen1_quantize_i8_rows(row, 1, 1000, codes, &s);
        for (int t = 0; t < 1000; t++)
            if (!(fabs((double)row[t] - (double)codes[t] * s) <= 0.5 * s * (1.0 + 1e-5)) && bad++ < 3)
                fprintf(stderr, "  %g -> %d * %g\n", row[t], codes[t], s);
    }
    CHECK(bad == 0, "%d values off by more than half a step", bad);
}

int main(void)
{
    for (size_t i = 0; i < sizeof all_isas / sizeof all_isas[0]; i++)
        if (jen1_matvec_force_isa(all_isas[i]) != 0)
            printf("     (this CPU cannot run the %s kernel: not tested)\n", all_isas[i]);
    jen1_matvec_force_isa(NULL);
    RUN(dispatcher_names_a_kernel);
    RUN(every_row_count_with_awkward_k);
    RUN(model_sized_rows);
    RUN(partial_column_ranges_and_strides);
    RUN(empty_products);
    RUN(a_row_alone_or_among_sixteen_is_bit_identical);
    RUN(int32_sums_never_overflow);
    RUN(bf16_rounds_to_nearest_even);
    RUN(bf16_keeps_nan_a_nan);
    RUN(bf16_matches_a_reference_rounding);
    RUN(int8_quantisation_per_row);
    return check_summary("test_matvec");
}
