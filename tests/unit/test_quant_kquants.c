// K-quants (Q2_K..Q6_K) and IQ4_NL/IQ4_XS: round trips within per-type bounds,
// with and without an importance matrix, special inputs, row-split determinism,
// and dequantization of hand-built blocks. Bit-exactness with llama.cpp is
// checked against the golden model by the integration tests.
#include "quant/quant_int.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "kv_rand.h"
#include "kv_test.h"
#include "quant/kquant_util.h"

typedef struct {
    const char *name;
    kv__quantize_fn quantize;
    kv__dequantize_fn dequantize;
    int block;         // values per block
    size_t bytes;      // bytes per block
    double rel_rmse;   // bound on RMS(error) / RMS(x) for Gaussian data
    double max_err;    // bound on max |error| / max |x| over each group of 32
    double max_err_w;  // the same with an importance matrix
} kq_type;

// Bounds: the worst errors measured on this file's Gaussian data (seeded; all
// magnitudes; with and without the random imatrix) plus about 25% margin. Each
// extra bit roughly halves them; IQ4 sits near Q4_K. With an imatrix the max
// error grows: the fit gives up accuracy on values with little weight.
static const kq_type TYPES[] = {
    {"Q2_K", kv__quantize_q2_k, kv__dequantize_q2_k, KV_QK_K, sizeof(kv_block_q2_k), 0.37, 0.48,
     0.95},
    {"Q3_K", kv__quantize_q3_k, kv__dequantize_q3_k, KV_QK_K, sizeof(kv_block_q3_k), 0.19, 0.31,
     0.46},
    {"Q4_K", kv__quantize_q4_k, kv__dequantize_q4_k, KV_QK_K, sizeof(kv_block_q4_k), 0.09, 0.125,
     0.17},
    {"Q5_K", kv__quantize_q5_k, kv__dequantize_q5_k, KV_QK_K, sizeof(kv_block_q5_k), 0.045, 0.072,
     0.11},
    {"Q6_K", kv__quantize_q6_k, kv__dequantize_q6_k, KV_QK_K, sizeof(kv_block_q6_k), 0.022, 0.021,
     0.05},
    {"IQ4_NL", kv__quantize_iq4_nl, kv__dequantize_iq4_nl, KV_QK4_NL, sizeof(kv_block_iq4_nl),
     0.095, 0.135, 0.20},
    {"IQ4_XS", kv__quantize_iq4_xs, kv__dequantize_iq4_xs, KV_QK_K, sizeof(kv_block_iq4_xs), 0.095,
     0.155, 0.19},
};
#define N_TYPES (sizeof TYPES / sizeof TYPES[0])

// A constant row is fitted exactly; what remains is the F16 rounding of the
// super scales and the 6-bit rounding of sub-block scales (IQ4_XS sub-blocks may
// tie between a positive and a negative level and land on different scales).
#define CONST_REL_ERR 0.02
// An outlier sets its block's scale, so it comes back up to scale rounding.
#define OUTLIER_REL_ERR 0.005
// Zeros next to an outlier: exact zero levels up to the rounding of the minimum
// for K-quants; IQ4 has no zero level, its smallest is 1/113 of the largest.
#define OUTLIER_ZERO_KQ 0.001
#define OUTLIER_ZERO_IQ4 0.01

#define ROWS 16
#define COLS 512

static uint64_t rng_state;

static double rng_u01(void) { return kv_rand_u01(&rng_state); }

static float rng_gauss(void) {
    double a = rng_u01();
    const double b = rng_u01();
    if (a < 1e-300)
        a = 1e-300;
    return (float)(sqrt(-2 * log(a)) * cos(6.283185307179586 * b));
}

static void fill_gauss(float *x, size_t n, float scale, uint64_t seed) {
    rng_state = seed;
    for (size_t i = 0; i < n; i++)
        x[i] = scale * rng_gauss();
}

// Positive importance weights spanning 40x, like a real imatrix's spread.
static void fill_imatrix(float *w, size_t n, uint64_t seed) {
    rng_state = seed;
    for (size_t i = 0; i < n; i++)
        w[i] = (float)(0.05 + 2.0 * rng_u01());
}

static size_t row_bytes(const kq_type *t, int64_t n_per_row) {
    return (size_t)(n_per_row / t->block) * t->bytes;
}

// Quantizes then dequantizes rows x rows of cols values.
static float *round_trip(const kq_type *t, const float *x, int64_t rows, int64_t cols,
                         const float *imatrix) {
    void *q = malloc(row_bytes(t, cols) * (size_t)rows);
    float *y = malloc(sizeof(float) * (size_t)(rows * cols));
    assert_non_null(q);
    assert_non_null(y);
    t->quantize(x, q, rows, cols, imatrix);
    t->dequantize(q, y, rows * cols);
    free(q);
    return y;
}

typedef struct {
    double rel_rmse;   // RMS(error) / RMS(x)
    double wrel_rmse;  // the same weighted by the imatrix columns (1 when none)
    double max_err;    // worst max|error| / max|x| over groups of 32
} err_stats;

static err_stats measure(const float *x, const float *y, int64_t rows, int64_t cols,
                         const float *w) {
    double e2 = 0, x2 = 0, we2 = 0, wx2 = 0;
    err_stats s = {0, 0, 0};
    for (int64_t g = 0; g < rows * cols / 32; g++) {
        double amax = 0, emax = 0;
        for (int64_t i = 32 * g; i < 32 * g + 32; i++) {
            assert_true(isfinite(y[i]));
            const double e = (double)y[i] - x[i];
            const double wi = w ? w[i % cols] : 1.0;
            e2 += e * e;
            x2 += (double)x[i] * x[i];
            we2 += wi * e * e;
            wx2 += wi * x[i] * x[i];
            amax = fmax(amax, fabs(x[i]));
            emax = fmax(emax, fabs(e));
        }
        if (amax > 0)
            s.max_err = fmax(s.max_err, emax / amax);
    }
    s.rel_rmse = sqrt(e2 / x2);
    s.wrel_rmse = sqrt(we2 / wx2);
    return s;
}

static void check_bounds(const kq_type *t, const float *x, int64_t rows, int64_t cols,
                         const float *imatrix) {
    float *y = round_trip(t, x, rows, cols, imatrix);
    const err_stats s = measure(x, y, rows, cols, imatrix);
    const double max_bound = imatrix ? t->max_err_w : t->max_err;
    if (s.rel_rmse > t->rel_rmse || s.max_err > max_bound)
        fail_msg("%s%s: rel_rmse %.4f (bound %.4f), max_err %.4f (bound %.4f)", t->name,
                 imatrix ? " +imatrix" : "", s.rel_rmse, t->rel_rmse, s.max_err, max_bound);
    free(y);
}

static void test_round_trip_random(void **state) {
    (void)state;
    float *x = malloc(sizeof(float) * ROWS * COLS);
    float w[COLS];
    fill_gauss(x, ROWS * COLS, 1.0f, 0x9e3779b97f4a7c15ull);
    fill_imatrix(w, COLS, 42);
    for (size_t t = 0; t < N_TYPES; t++) {
        check_bounds(&TYPES[t], x, ROWS, COLS, NULL);
        check_bounds(&TYPES[t], x, ROWS, COLS, w);
    }
    free(x);
}

// The scale search is relative: magnitudes far from 1 keep the same bounds as
// long as the F16 super scales stay normal (roughly 1e-2 .. 1e5 here).
static void test_round_trip_magnitudes(void **state) {
    (void)state;
    static const float scales[] = {0.02f, 30.0f, 1e4f};
    float *x = malloc(sizeof(float) * ROWS * COLS);
    float w[COLS];
    fill_imatrix(w, COLS, 7);
    for (size_t k = 0; k < sizeof scales / sizeof scales[0]; k++) {
        fill_gauss(x, ROWS * COLS, scales[k], 1234 + k);
        for (size_t t = 0; t < N_TYPES; t++) {
            check_bounds(&TYPES[t], x, ROWS, COLS, NULL);
            check_bounds(&TYPES[t], x, ROWS, COLS, w);
        }
    }
    free(x);
}

// With an imatrix the fit favours heavily weighted columns: the weighted error
// must drop compared with the unweighted search.
static void test_imatrix_lowers_weighted_error(void **state) {
    (void)state;
    float *x = malloc(sizeof(float) * ROWS * COLS);
    float w[COLS];
    fill_gauss(x, ROWS * COLS, 1.0f, 99);
    fill_imatrix(w, COLS, 5);
    for (size_t t = 0; t < N_TYPES; t++) {
        float *plain = round_trip(&TYPES[t], x, ROWS, COLS, NULL);
        float *guided = round_trip(&TYPES[t], x, ROWS, COLS, w);
        const double e_plain = measure(x, plain, ROWS, COLS, w).wrel_rmse;
        const double e_guided = measure(x, guided, ROWS, COLS, w).wrel_rmse;
        if (!(e_guided < e_plain))
            fail_msg("%s: weighted error %.5f with imatrix, %.5f without", TYPES[t].name,
                     e_guided, e_plain);
        free(plain);
        free(guided);
    }
    free(x);
}

// Zero rows and rows of subnormals (below the all-zero threshold) come back as zeros.
static void test_zeros_and_subnormals(void **state) {
    (void)state;
    float x[COLS];
    float w[COLS];
    fill_imatrix(w, COLS, 3);
    for (int kind = 0; kind < 2; kind++) {
        for (int i = 0; i < COLS; i++)
            x[i] = kind == 0 ? 0.0f : (i % 2 ? 1.0f : -1.0f) * ldexpf(1.0f + i % 5, -140);
        for (size_t t = 0; t < N_TYPES; t++) {
            for (int with_w = 0; with_w < 2; with_w++) {
                float *y = round_trip(&TYPES[t], x, 1, COLS, with_w ? w : NULL);
                for (int i = 0; i < COLS; i++)
                    if (y[i] != 0.0f)
                        fail_msg("%s: input %g gave %g at %d", TYPES[t].name, x[i], y[i], i);
                free(y);
            }
        }
    }
}

static void test_constant_rows(void **state) {
    (void)state;
    static const float values[] = {0.37f, -2.5f, 3000.0f};
    float x[COLS];
    float w[COLS];
    fill_imatrix(w, COLS, 11);
    for (size_t v = 0; v < sizeof values / sizeof values[0]; v++) {
        for (int i = 0; i < COLS; i++)
            x[i] = values[v];
        for (size_t t = 0; t < N_TYPES; t++) {
            for (int with_w = 0; with_w < 2; with_w++) {
                float *y = round_trip(&TYPES[t], x, 1, COLS, with_w ? w : NULL);
                for (int i = 0; i < COLS; i++)
                    if (fabs((double)y[i] - values[v]) > CONST_REL_ERR * fabs(values[v]))
                        fail_msg("%s: constant %g came back as %g at %d", TYPES[t].name,
                                 values[v], y[i], i);
                free(y);
            }
        }
    }
}

// With an imatrix the zeros carry weight too (sqrt(sigma2) each) and the fit
// trades some of the outlier's accuracy for them: the general bounds apply.
static void check_outlier(const kq_type *t, float value, int pos, const float *w) {
    float x[COLS] = {0};
    x[pos] = value;
    float *y = round_trip(t, x, 1, COLS, w);
    const double iq4_or_kq = strncmp(t->name, "IQ4", 3) == 0 ? OUTLIER_ZERO_IQ4 : OUTLIER_ZERO_KQ;
    const double zero_bound = (w ? t->max_err_w : iq4_or_kq) * fabs(value);
    const double own_bound = (w ? t->max_err_w : OUTLIER_REL_ERR) * fabs(value);
    if (fabs((double)y[pos] - value) > own_bound)
        fail_msg("%s: outlier %g at %d came back as %g", t->name, value, pos, y[pos]);
    for (int i = 0; i < COLS; i++)
        if (i != pos && fabs(y[i]) > zero_bound)
            fail_msg("%s: zero at %d next to outlier %g came back as %g", t->name, i, value,
                     y[i]);
    free(y);
}

static void test_single_outlier(void **state) {
    (void)state;
    float w[COLS];
    fill_imatrix(w, COLS, 13);
    static const int positions[] = {0, 77, 255, 256, 511};
    for (size_t t = 0; t < N_TYPES; t++) {
        for (size_t p = 0; p < sizeof positions / sizeof positions[0]; p++) {
            check_outlier(&TYPES[t], 50.0f, positions[p], NULL);
            check_outlier(&TYPES[t], -50.0f, positions[p], NULL);
            check_outlier(&TYPES[t], 50.0f, positions[p], w);
        }
    }
}

// Rows are independent: one call, one call per row, and an uneven split all
// write the same bytes.
static void test_row_split_determinism(void **state) {
    (void)state;
    enum { R = 7 };
    float *x = malloc(sizeof(float) * R * COLS);
    float w[COLS];
    fill_gauss(x, R * COLS, 0.5f, 2024);
    fill_imatrix(w, COLS, 17);
    for (size_t t = 0; t < N_TYPES; t++) {
        const kq_type *ty = &TYPES[t];
        const size_t rb = row_bytes(ty, COLS);
        uint8_t *all = malloc(rb * R);
        uint8_t *split = malloc(rb * R);
        for (int with_w = 0; with_w < 2; with_w++) {
            const float *im = with_w ? w : NULL;
            ty->quantize(x, all, R, COLS, im);
            for (int r = 0; r < R; r++)
                ty->quantize(x + r * COLS, split + rb * r, 1, COLS, im);
            assert_memory_equal(all, split, rb * R);
            memset(split, 0, rb * R);
            ty->quantize(x, split, 3, COLS, im);
            ty->quantize(x + 3 * COLS, split + 3 * rb, R - 3, COLS, im);
            assert_memory_equal(all, split, rb * R);
        }
        free(all);
        free(split);
    }
    free(x);
}

// Finite values beyond the F16 scale range (and squares that overflow float)
// give meaningless blocks, as in ggml, but no undefined behaviour (the sanitizer
// build checks that) and the same bytes every time.
static void test_extreme_values_are_safe(void **state) {
    (void)state;
    static const float extremes[] = {1e30f, -3e38f, 7e4f, 1e-30f, 0.0f, -1e20f};
    float x[COLS];
    float w[COLS];
    fill_imatrix(w, COLS, 29);
    for (int i = 0; i < COLS; i++)
        x[i] = extremes[(i * 7) % 6] * (i % 3 ? 1.0f : -0.5f);
    for (size_t t = 0; t < N_TYPES; t++) {
        const size_t rb = row_bytes(&TYPES[t], COLS);
        uint8_t *a = malloc(rb);
        uint8_t *b = malloc(rb);
        float *y = malloc(sizeof(float) * COLS);
        for (int with_w = 0; with_w < 2; with_w++) {
            TYPES[t].quantize(x, a, 1, COLS, with_w ? w : NULL);
            TYPES[t].quantize(x, b, 1, COLS, with_w ? w : NULL);
            assert_memory_equal(a, b, rb);
            TYPES[t].dequantize(a, y, COLS);
        }
        free(a);
        free(b);
        free(y);
    }
}

// ---- every value lands on the nearest level of its stored scales ----

// GGUF's IQ4 codebook.
static const int8_t IQ4_LEVELS[16] = {-127, -104, -83, -65, -49, -35, -22, -10,
                                      1,    13,   25,  38,  53,  69,  89,  113};

// The levels element e of a block can take: value = dl * level - ml, levels
// lo..hi (uniform) or the IQ4 codebook (iq4 set).
typedef struct {
    float dl, ml;
    int lo, hi, iq4;
} level_set;

static float f16(kv_f16 h) { return kv_f16_to_f32(h); }

static level_set levels_of(const kq_type *t, const uint8_t *blk, int e) {
    level_set s = {0, 0, 0, 0, 0};
    if (t->quantize == kv__quantize_q2_k) {
        const kv_block_q2_k *b = (const void *)blk;
        s = (level_set){f16(b->d) * (float)(b->scales[e / 16] & 15),
                        f16(b->dmin) * (float)(b->scales[e / 16] >> 4), 0, 3, 0};
    } else if (t->quantize == kv__quantize_q3_k) {
        const kv_block_q3_k *b = (const void *)blk;
        const int j = e / 16;
        const int lo = j < 8 ? b->scales[j] & 15 : b->scales[j - 8] >> 4;
        const int hi = (b->scales[8 + j % 4] >> (2 * (j / 4))) & 3;
        s = (level_set){f16(b->d) * (float)((lo | (hi << 4)) - 32), 0, -4, 3, 0};
    } else if (t->quantize == kv__quantize_q4_k || t->quantize == kv__quantize_q5_k) {
        const kv_block_q4_k *b4 = (const void *)blk;
        const kv_block_q5_k *b5 = (const void *)blk;
        const int is4 = t->quantize == kv__quantize_q4_k;
        uint8_t sc, m;
        kv__kq_unpack_scale_min(e / 32, is4 ? b4->scales : b5->scales, &sc, &m);
        s = (level_set){f16(is4 ? b4->d : b5->d) * (float)sc,
                        f16(is4 ? b4->dmin : b5->dmin) * (float)m, 0, is4 ? 15 : 31, 0};
    } else if (t->quantize == kv__quantize_q6_k) {
        const kv_block_q6_k *b = (const void *)blk;
        s = (level_set){f16(b->d) * (float)b->scales[e / 16], 0, -32, 31, 0};
    } else if (t->quantize == kv__quantize_iq4_nl) {
        s = (level_set){f16(((const kv_block_iq4_nl *)(const void *)blk)->d), 0, 0, 15, 1};
    } else {
        const kv_block_iq4_xs *b = (const void *)blk;
        const int ib = e / 32;
        const int ls = ((b->scales_l[ib / 2] >> (4 * (ib % 2))) & 15) |
                       (((b->scales_h >> (2 * ib)) & 3) << 4);
        s = (level_set){f16(b->d) * (float)(ls - 32), 0, 0, 15, 1};
    }
    return s;
}

// Smallest |dl * level - ml - x| over the set.
static double best_error(level_set s, float x) {
    double best = INFINITY;
    for (int l = s.lo; l <= s.hi; l++) {
        const double level = s.iq4 ? IQ4_LEVELS[l] : l;
        best = fmin(best, fabs((double)s.dl * level - s.ml - x));
    }
    return best;
}

// The K-quants requantize against the stored scales, so they reach the best
// level up to float rounding. IQ4 picks levels with its scale before F16
// rounding (11 significant bits: 2^-11 = 4.9e-4 relative), which can move a
// value near a midpoint by that much of the block's largest level; twice that.
#define NEAREST_KQ_SLACK 1e-5
#define NEAREST_IQ4_SLACK 1e-3

static void check_nearest(const kq_type *t, const float *x, int64_t cols, const float *w) {
    uint8_t *q = malloc(row_bytes(t, cols));
    float *y = malloc(sizeof(float) * (size_t)cols);
    t->quantize(x, q, 1, cols, w);
    t->dequantize(q, y, cols);
    for (int64_t i = 0; i < cols; i++) {
        const uint8_t *blk = q + (size_t)(i / t->block) * t->bytes;
        const level_set s = levels_of(t, blk, (int)(i % t->block));
        if (s.dl == 0)
            continue; // a zero scale keeps the levels of the search
        const double span = fabs(s.dl) * (s.iq4 ? 127 : (s.hi - s.lo)) + fabs(s.ml);
        const double slack = (s.iq4 ? NEAREST_IQ4_SLACK : NEAREST_KQ_SLACK) * span;
        const double err = fabs((double)y[i] - x[i]);
        if (err > best_error(s, x[i]) + slack)
            fail_msg("%s%s: value %d: %g came back as %g, a level gives error %g", t->name,
                     w ? " +imatrix" : "", (int)i, x[i], y[i], best_error(s, x[i]));
    }
    free(q);
    free(y);
}

static void test_levels_are_nearest(void **state) {
    (void)state;
    float *x = malloc(sizeof(float) * ROWS * COLS);
    float w[COLS];
    fill_gauss(x, ROWS * COLS, 1.0f, 31337);
    fill_imatrix(w, COLS, 23);
    for (size_t t = 0; t < N_TYPES; t++) {
        for (int r = 0; r < ROWS; r++) {
            check_nearest(&TYPES[t], x + r * COLS, COLS, NULL);
            check_nearest(&TYPES[t], x + r * COLS, COLS, w);
        }
    }
    free(x);
}

// kv__kq_fit_affine_x8 (8 sub-blocks side by side) against 8 calls of its scalar
// twin: the same levels, scales and minimums, bit for bit, for Q4_K's and Q5_K's
// parameters on Gaussian blocks of many magnitudes, all-positive and all-negative
// blocks, flat and zero sub-blocks, a lone outlier and tiny values.
static void test_fit_affine_x8_twin(void **state) {
    (void)state;
    if (!kv__kq_have_x8())
        print_message("fit_affine_x8: no AVX2 here, checking the portable fallback\n");
    uint64_t rs = 4242;
    float x[256], w[256], s_ref[8], m_ref[8], s_x8[8], m_x8[8];
    uint8_t L_ref[256], L_x8[256], Laux[32];
    for (int c = 0; c < 600; c++) {
        const float mag = powf(10.0f, (float)(c % 13) - 6.0f);
        for (int i = 0; i < 256; i++)
            x[i] = (float)(kv_rand_u01(&rs) * 2.0 - 1.0) * mag;
        const int kind = c % 6, j = (c / 6) % 8;
        if (kind == 1)
            for (int i = 0; i < 256; i++)
                x[i] = fabsf(x[i]) + mag * 0.1f; // all positive: min clamps to 0
        if (kind == 2)
            for (int i = 0; i < 256; i++)
                x[i] = -fabsf(x[i]);
        if (kind == 3)
            for (int i = 0; i < 32; i++)
                x[32 * j + i] = (j & 1) ? 0.0f : -0.25f * mag; // a flat sub-block
        if (kind == 4)
            x[(c * 7) % 256] = 1000.0f * mag;
        if (kind == 5)
            for (int i = 0; i < 64; i++)
                x[i] *= 1e-30f;
        for (int i = 0; i < 256; i++)
            w[i] = (float)kv_rand_u01(&rs) + fabsf(x[i]);
        const int nmax = (c & 1) ? 31 : 15;
        const float rmin = nmax == 15 ? -1.f : -0.5f;
        const int nstep = nmax == 15 ? 20 : 15;
        for (int b = 0; b < 8; b++)
            s_ref[b] = kv__kq_fit_affine(32, nmax, x + 32 * b, w + 32 * b, L_ref + 32 * b,
                                         &m_ref[b], Laux, rmin, 0.1f, nstep, 0);
        kv__kq_fit_affine_x8(x, w, nmax, rmin, 0.1f, nstep, L_x8, s_x8, m_x8);
        assert_memory_equal(L_ref, L_x8, sizeof L_ref);
        assert_memory_equal(s_ref, s_x8, sizeof s_ref);
        assert_memory_equal(m_ref, m_x8, sizeof m_ref);
    }
}

// Q4_0's AVX2 reference block against its scalar twin: scale and nibbles bit for
// bit, on random blocks of many magnitudes, +-max ties (the first one's sign
// wins), zero blocks, -0.0, single spikes and values near the rounding edges.
static void test_q4_0_block_avx2_twin(void **state) {
    (void)state;
#if defined(__x86_64__) && (defined(__GNUC__) || defined(__clang__))
    if (!kv__kq_have_x8()) {
        print_message("q4_0_block_avx2: no AVX2 on this CPU, nothing to compare\n");
        return;
    }
    uint64_t rs = 777;
    float x[32];
    for (int c = 0; c < 20000; c++) {
        const float mag = powf(2.0f, (float)(c % 40) - 20.0f);
        for (int i = 0; i < 32; i++)
            x[i] = (float)(kv_rand_u01(&rs) * 2.0 - 1.0) * mag;
        const int kind = c % 5, j = (c / 5) % 32;
        if (kind == 1) { // a tie of magnitudes, opposite signs
            x[j] = mag;
            x[(j + 7) % 32] = -mag;
        }
        if (kind == 2)
            for (int i = 0; i < 32; i++)
                x[i] = (i == j) ? -0.0f : 0.0f;
        if (kind == 3)
            x[j] = -4.0f * mag;
        if (kind == 4) // levels k/8 of the max: x*id lands near n + 0.5
            for (int i = 0; i < 32; i++)
                x[i] = mag * (float)((int)(kv_rand_u01(&rs) * 17) - 8) / 8.0f;
        kv_f16 d_ref, d_v;
        uint8_t q_ref[16], q_v[16];
        kv__q4_0_block_ref(x, &d_ref, q_ref);
        kv__q4_0_block_avx2(x, &d_v, q_v);
        assert_int_equal(d_ref, d_v);
        assert_memory_equal(q_ref, q_v, sizeof q_ref);
    }
#else
    print_message("q4_0_block_avx2: not an x86-64 build\n");
#endif
}

// Q8_0's AVX2 block against its scalar twin, with values on the rounding halves.
static void test_q8_0_block_avx2_twin(void **state) {
    (void)state;
#if defined(__x86_64__) && (defined(__GNUC__) || defined(__clang__))
    if (!kv__kq_have_x8()) {
        print_message("q8_0_block_avx2: no AVX2 on this CPU, nothing to compare\n");
        return;
    }
    uint64_t rs = 99;
    float x[32];
    for (int c = 0; c < 20000; c++) {
        const float mag = powf(2.0f, (float)(c % 60) - 30.0f);
        for (int i = 0; i < 32; i++)
            x[i] = (float)(kv_rand_u01(&rs) * 2.0 - 1.0) * mag;
        const int kind = c % 4;
        if (kind == 1) // x / d on n + 0.5: max 127 * mag, others (k + 0.5) * mag
            for (int i = 0; i < 32; i++)
                x[i] = i == 0 ? 127.0f * mag
                              : ((float)((int)(kv_rand_u01(&rs) * 254) - 127) + 0.5f) * mag;
        if (kind == 2)
            for (int i = 0; i < 32; i++)
                x[i] = i == c % 32 ? -0.0f : 0.0f;
        if (kind == 3) // tiny blocks: 1/d overflows, x * id is Inf (or NaN for a zero)
            for (int i = 0; i < 32; i++)
                x[i] = i == c % 32 ? 0.0f : x[i] / mag * 1e-37f;
        kv_f16 d_ref, d_v;
        int8_t q_ref[32], q_v[32];
        kv__q8_0_block_ref(x, &d_ref, q_ref);
        kv__q8_0_block_avx2(x, &d_v, q_v);
        assert_int_equal(d_ref, d_v);
        assert_memory_equal(q_ref, q_v, sizeof q_ref);
    }
#else
    print_message("q8_0_block_avx2: not an x86-64 build\n");
#endif
}

// ---- dequantization of hand-built blocks (layouts as documented in blocks.h) ----

static void test_dequant_q4_k_q5_k_scales(void **state) {
    (void)state;
    // Sub-block j: scale 40 + j (six bits), minimum 3 * j; every 4-bit level 5;
    // for Q5_K the fifth bit is set in sub-block 3 only.
    kv_block_q4_k b4;
    kv_block_q5_k b5;
    memset(&b4, 0, sizeof b4);
    b4.d = kv_f32_to_f16(0.5f);
    b4.dmin = kv_f32_to_f16(0.25f);
    for (int j = 0; j < 8; j++) {
        const unsigned sc = 40u + (unsigned)j;
        const unsigned m = 3u * (unsigned)j;
        if (j < 4) {
            b4.scales[j] = (uint8_t)sc;
            b4.scales[j + 4] = (uint8_t)m;
        } else {
            b4.scales[j + 4] = (uint8_t)((sc & 15) | ((m & 15) << 4));
            b4.scales[j - 4] |= (uint8_t)((sc >> 4) << 6);
            b4.scales[j] |= (uint8_t)((m >> 4) << 6);
        }
    }
    memset(b4.qs, 0x55, sizeof b4.qs);
    memset(&b5, 0, sizeof b5);
    b5.d = b4.d;
    b5.dmin = b4.dmin;
    memcpy(b5.scales, b4.scales, sizeof b5.scales);
    memset(b5.qs, 0x55, sizeof b5.qs);
    memset(b5.qh, 1u << 3, sizeof b5.qh);
    float y4[KV_QK_K];
    float y5[KV_QK_K];
    kv__dequantize_q4_k(&b4, y4, KV_QK_K);
    kv__dequantize_q5_k(&b5, y5, KV_QK_K);
    for (int e = 0; e < KV_QK_K; e++) {
        const int j = e / 32;
        const float want4 = 0.5f * (float)(40 + j) * 5.0f - 0.25f * (float)(3 * j);
        const float level5 = j == 3 ? 21.0f : 5.0f;
        const float want5 = 0.5f * (float)(40 + j) * level5 - 0.25f * (float)(3 * j);
        assert_float_equal(y4[e], want4, 0);
        assert_float_equal(y5[e], want5, 0);
    }
}

static void test_dequant_q2_k_q3_k_q6_k(void **state) {
    (void)state;
    // Every level field holds its largest code; sub-block j has scale j % 8 + 1 in
    // Q2_K (4 bits), j + 1 in Q3_K and +-(j + 1) in Q6_K.
    kv_block_q2_k b2;
    kv_block_q3_k b3;
    kv_block_q6_k b6;
    memset(&b2, 0, sizeof b2);
    memset(&b3, 0, sizeof b3);
    memset(&b6, 0, sizeof b6);
    b2.d = b3.d = b6.d = kv_f32_to_f16(0.5f);
    b2.dmin = kv_f32_to_f16(0.125f);
    memset(b2.qs, 0xFF, sizeof b2.qs);
    memset(b3.qs, 0xFF, sizeof b3.qs);
    memset(b6.ql, 0xFF, sizeof b6.ql);
    memset(b6.qh, 0xFF, sizeof b6.qh);
    for (int j = 0; j < 16; j++) {
        b2.scales[j] = (uint8_t)((j % 8 + 1) | ((15 - j) << 4));
        b6.scales[j] = (int8_t)(j % 2 ? -(j + 1) : j + 1);
        const unsigned l = (unsigned)(j + 1 + 32); // Q3_K stores scale + 32
        if (j < 8)
            b3.scales[j] = (uint8_t)(l & 15);
        else
            b3.scales[j - 8] |= (uint8_t)((l & 15) << 4);
        b3.scales[8 + j % 4] |= (uint8_t)((l >> 4) << (2 * (j / 4)));
    }
    // Q3_K: the high bit is set (level 3) for elements 32..63 only, else level -1.
    memset(b3.hmask, 1u << 1, sizeof b3.hmask);
    float y2[KV_QK_K], y3[KV_QK_K], y6[KV_QK_K];
    kv__dequantize_q2_k(&b2, y2, KV_QK_K);
    kv__dequantize_q3_k(&b3, y3, KV_QK_K);
    kv__dequantize_q6_k(&b6, y6, KV_QK_K);
    for (int e = 0; e < KV_QK_K; e++) {
        const int j = e / 16;
        assert_float_equal(y2[e], 0.5f * (float)(j % 8 + 1) * 3 - 0.125f * (float)(15 - j), 0);
        assert_float_equal(y3[e], 0.5f * (float)(j + 1) * (e / 32 == 1 ? 3.0f : -1.0f), 0);
        assert_float_equal(y6[e], 0.5f * (float)b6.scales[j] * 31.0f, 0);
    }
}

static void test_dequant_iq4(void **state) {
    (void)state;
    // Codes 0 and 15 are the extreme levels -127 and 113.
    kv_block_iq4_nl bn;
    bn.d = kv_f32_to_f16(0.25f);
    memset(bn.qs, 0xF0, sizeof bn.qs); // low nibble (first 16) 0, high (last 16) 15
    float yn[KV_QK4_NL];
    kv__dequantize_iq4_nl(&bn, yn, KV_QK4_NL);
    for (int j = 0; j < 16; j++) {
        assert_float_equal(yn[j], 0.25f * -127.0f, 0);
        assert_float_equal(yn[j + 16], 0.25f * 113.0f, 0);
    }
    // IQ4_XS sub-block ib: scale 2 * ib - 10, stored + 32 as 6 bits in two pieces.
    kv_block_iq4_xs bx;
    memset(&bx, 0, sizeof bx);
    bx.d = kv_f32_to_f16(0.5f);
    for (int ib = 0; ib < 8; ib++) {
        const unsigned l = (unsigned)(2 * ib - 10 + 32);
        bx.scales_l[ib / 2] |= (uint8_t)((l & 15) << (4 * (ib % 2)));
        bx.scales_h |= (uint16_t)((l >> 4) << (2 * ib));
    }
    memset(bx.qs, 0x8F, sizeof bx.qs); // first 16 of each 32: level 113, last 16: level 1
    float yx[KV_QK_K];
    kv__dequantize_iq4_xs(&bx, yx, KV_QK_K);
    for (int e = 0; e < KV_QK_K; e++) {
        const float dl = 0.5f * (float)(2 * (e / 32) - 10);
        assert_float_equal(yx[e], dl * (e % 32 < 16 ? 113.0f : 1.0f), 0);
    }
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_round_trip_random),
        cmocka_unit_test(test_round_trip_magnitudes),
        cmocka_unit_test(test_imatrix_lowers_weighted_error),
        cmocka_unit_test(test_zeros_and_subnormals),
        cmocka_unit_test(test_constant_rows),
        cmocka_unit_test(test_single_outlier),
        cmocka_unit_test(test_row_split_determinism),
        cmocka_unit_test(test_levels_are_nearest),
        cmocka_unit_test(test_extreme_values_are_safe),
        cmocka_unit_test(test_dequant_q4_k_q5_k_scales),
        cmocka_unit_test(test_dequant_q2_k_q3_k_q6_k),
        cmocka_unit_test(test_dequant_iq4),
        cmocka_unit_test(test_fit_affine_x8_twin),
        cmocka_unit_test(test_q4_0_block_avx2_twin),
        cmocka_unit_test(test_q8_0_block_avx2_twin),
    };
    return cmocka_run_group_tests_name("quant_kquants", tests, NULL, NULL);
}
