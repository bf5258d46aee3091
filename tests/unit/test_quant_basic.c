// Reference quantizers of the non-K types (F32, F16, BF16, Q4_0, Q4_1, Q5_0, Q5_1,
// Q8_0, Q8_1, Q8_K, TQ1_0, TQ2_0): round trips within per-type bounds, adversarial
// inputs, argument checks, row-split determinism and hand-derived blocks.
// Bit-exactness with llama.cpp is checked against the golden digests elsewhere.
#include "kvant/kv_quant.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "kv_rand.h"
#include "kv_test.h"

// ---- per-type round-trip bounds: max |x - dequant(quant(x))| / (block's max |x|) ----
// Plain reference quantizers: half a quantization step, plus the rounding of the
// scale to F16 (2^-11 relative) times the largest quant.
#define BOUND_Q4_0 (1.0 / 8 + 1.0 / 256)  // x = -max lands on the capped quant 15: 1 step
#define BOUND_Q4_1 (2.0 / 30 + 1.0 / 256) // range up to 2 max over 15 steps, half a step
#define BOUND_Q5_0 (1.0 / 16 + 1.0 / 512) // as Q4_0 with 16 levels a side
#define BOUND_Q5_1 (2.0 / 62 + 1.0 / 512)
#define BOUND_Q8 (0.5 / 127 + 1.0 / 2048) // half a step of max/127, scale rounded to F16
#define BOUND_Q8_K (0.5 / 127 + 1e-6)      // float scale, no F16 rounding
#define BOUND_TQ (0.5 + 1.0 / 2048)         // ternary: anything up to half of max is 0
// With an importance matrix the weighted search may give up accuracy on elements
// that matter little; these loose bounds only catch a broken search (measured:
// 0.18, 0.18, 0.09, 0.09 on the random data below).
#define BOUND_IM_4BIT 0.25
#define BOUND_IM_5BIT 0.125
// Float types: per element, relative to |x| (round to nearest: half an ulp).
#define BOUND_F16_REL (1.0 / 2048)
#define BOUND_BF16_REL (1.0 / 256)

typedef struct {
    kv_type type;
    double bound;    // without an importance matrix
    double bound_im; // with one
} rt_case;

static const rt_case BLOCK_CASES[] = {
    {KV_TYPE_Q4_0, BOUND_Q4_0, BOUND_IM_4BIT}, {KV_TYPE_Q4_1, BOUND_Q4_1, BOUND_IM_4BIT},
    {KV_TYPE_Q5_0, BOUND_Q5_0, BOUND_IM_5BIT}, {KV_TYPE_Q5_1, BOUND_Q5_1, BOUND_IM_5BIT},
    {KV_TYPE_Q8_0, BOUND_Q8, BOUND_Q8},        {KV_TYPE_Q8_1, BOUND_Q8, BOUND_Q8},
    {KV_TYPE_Q8_K, BOUND_Q8_K, BOUND_Q8_K},    {KV_TYPE_TQ1_0, BOUND_TQ, BOUND_TQ},
    {KV_TYPE_TQ2_0, BOUND_TQ, BOUND_TQ},
};
#define N_BLOCK_CASES (sizeof BLOCK_CASES / sizeof BLOCK_CASES[0])

enum { N_ROWS = 16, N_PER_ROW = 512 }; // 512 = 2 super-blocks = 16 small blocks

// ---- data ----

static uint64_t rng_state;

static double urand(void) { return kv_rand_u01(&rng_state); } // uniform in [0, 1)

// Bell-shaped values whose scale changes from row to row, like real weights.
static void fill_random(float *x, int64_t n_rows, int64_t n_per_row, uint64_t seed) {
    rng_state = seed;
    for (int64_t r = 0; r < n_rows; r++)
        for (int64_t j = 0; j < n_per_row; j++)
            x[r * n_per_row + j] = (float)((urand() + urand() + urand() - 1.5) * (1 + r % 7));
}

static void fill_imatrix(float *im, int64_t n, uint64_t seed) {
    rng_state = seed;
    for (int64_t j = 0; j < n; j++)
        im[j] = (float)(0.01 + 10 * urand() * urand());
}

static size_t qbytes(kv_type t, int64_t n_rows, int64_t n_per_row) {
    return kv_type_row_size(t, n_per_row) * (size_t)n_rows;
}

// Quantizes and dequantizes n_rows x n_per_row values; returns the dequantized copy.
static float *round_trip(kv_type t, const float *x, int64_t n_rows, int64_t n_per_row,
                         const float *im) {
    void *q = malloc(qbytes(t, n_rows, n_per_row));
    float *y = malloc((size_t)(n_rows * n_per_row) * sizeof(float));
    assert_non_null(q);
    assert_non_null(y);
    kv_err err;
    kv_status st = kv_quant_rows(t, x, q, n_rows, n_per_row, im, &err);
    if (st != KV_OK)
        fail_msg("%s: %s", kv_type_name(t), err.msg);
    st = kv_dequant_row(t, q, y, n_rows * n_per_row, &err);
    if (st != KV_OK)
        fail_msg("%s: %s", kv_type_name(t), err.msg);
    free(q);
    return y;
}

// Largest block error relative to the block's max |x| (0 for all-zero blocks,
// which must come back exactly).
static double worst_block_error(const float *x, const float *y, int64_t n, int bs) {
    double worst = 0;
    for (int64_t b = 0; b < n / bs; b++) {
        double amax = 0, err = 0;
        for (int j = 0; j < bs; j++) {
            amax = fmax(amax, fabs(x[b * bs + j]));
            err = fmax(err, fabs((double)x[b * bs + j] - y[b * bs + j]));
        }
        if (amax == 0)
            assert_true(err == 0);
        else
            worst = fmax(worst, err / amax);
    }
    return worst;
}

static void check_bound(kv_type t, const float *x, int64_t n_rows, int64_t n_per_row,
                        const float *im, double bound, const char *what) {
    float *y = round_trip(t, x, n_rows, n_per_row, im);
    const double worst = worst_block_error(x, y, n_rows * n_per_row, kv_type_get(t)->block_size);
    if (!(worst <= bound))
        fail_msg("%s (%s%s): error %.6f of the block max, bound %.6f", kv_type_name(t), what,
                 im ? ", imatrix" : "", worst, bound);
    free(y);
}

// ---- round trips ----

static void test_round_trip_random(void **state) {
    (void)state;
    float *x = malloc(N_ROWS * N_PER_ROW * sizeof(float));
    float im[N_PER_ROW];
    fill_random(x, N_ROWS, N_PER_ROW, 0x5eed);
    fill_imatrix(im, N_PER_ROW, 0x1a7);
    for (size_t i = 0; i < N_BLOCK_CASES; i++) {
        check_bound(BLOCK_CASES[i].type, x, N_ROWS, N_PER_ROW, NULL, BLOCK_CASES[i].bound,
                    "random");
        check_bound(BLOCK_CASES[i].type, x, N_ROWS, N_PER_ROW, im, BLOCK_CASES[i].bound_im,
                    "random");
    }
    free(x);
}

static void check_float_type(kv_type t, const float *x, int64_t n, double rel) {
    float *y = round_trip(t, x, 1, n, NULL);
    for (int64_t i = 0; i < n; i++) {
        const double err = fabs((double)x[i] - y[i]);
        if (!(err <= rel * fabs(x[i]) || (t == KV_TYPE_F16 && err <= ldexp(1.0, -25))))
            fail_msg("%s: element %lld: %.9g came back as %.9g", kv_type_name(t), (long long)i,
                     x[i], y[i]);
    }
    free(y);
}

static void test_round_trip_float_types(void **state) {
    (void)state;
    enum { N = 1024 };
    float x[N];
    fill_random(x, 1, N, 7);
    x[0] = 65504.0f;           // largest half
    x[1] = -1e-7f;             // a half subnormal (F16 error is then absolute, 2^-25)
    x[2] = 3.0e38f;            // fits BF16, not F16: checked for BF16 only below
    float *y = round_trip(KV_TYPE_F32, x, 1, N, NULL);
    assert_memory_equal(x, y, sizeof x);
    free(y);
    check_float_type(KV_TYPE_BF16, x, N, BOUND_BF16_REL);
    x[2] = 0.0f;
    check_float_type(KV_TYPE_F16, x, N, BOUND_F16_REL);
}

// ---- adversarial inputs ----

// Runs every block type on x (one row of n), with and without an importance matrix.
static void check_all_bounds(const float *x, int64_t n, const char *what) {
    float *im = malloc((size_t)n * sizeof(float));
    fill_imatrix(im, n, 99);
    for (size_t i = 0; i < N_BLOCK_CASES; i++) {
        check_bound(BLOCK_CASES[i].type, x, 1, n, NULL, BLOCK_CASES[i].bound, what);
        check_bound(BLOCK_CASES[i].type, x, 1, n, im, BLOCK_CASES[i].bound_im, what);
    }
    free(im);
}

static void test_zeros_and_constants(void **state) {
    (void)state;
    enum { N = 512 };
    float x[N];
    memset(x, 0, sizeof x);
    check_all_bounds(x, N, "zeros"); // all-zero blocks must come back exactly
    for (int j = 0; j < N; j++)
        x[j] = 0.75f;
    check_all_bounds(x, N, "constant");
    for (int j = 0; j < N; j++)
        x[j] = -3.5f;
    check_all_bounds(x, N, "negative constant");
    for (int j = 0; j < N; j++) // constant blocks with different values
        x[j] = (float)(j / 32) - 7.0f;
    check_all_bounds(x, N, "blockwise constant");
}

static void test_outliers_and_extremes(void **state) {
    (void)state;
    enum { N = 512 };
    float x[N];
    for (int j = 0; j < N; j++)
        x[j] = 0.001f * (float)((j * 37) % 11 - 5);
    x[3] = 1000.0f;
    x[300] = -1000.0f;
    check_all_bounds(x, N, "one outlier");
    // the largest magnitudes whose scales still fit a half (65504)
    fill_random(x, 1, N, 3);
    for (int j = 0; j < N; j++)
        x[j] *= 20000.0f;
    x[0] = 60000.0f;
    x[257] = -60000.0f;
    check_all_bounds(x, N, "near F16 max");
    // subnormal floats inside normal blocks: they quantize to 0, within the bound
    fill_random(x, 1, N, 4);
    for (int j = 0; j < N; j += 3)
        x[j] = ldexpf(1.0f, -140) * (float)(j % 5 - 2);
    check_all_bounds(x, N, "subnormals mixed");
}

// Blocks made only of subnormals: scales underflow (1/d overflows), a path where
// ggml's C is undefined; kvant must stay defined and give (near) zeros.
static void test_subnormal_blocks(void **state) {
    (void)state;
    enum { N = 512 };
    float x[N], im[N];
    for (int j = 0; j < N; j++)
        x[j] = ldexpf(1.0f, -146) * (float)(j % 9 - 4);
    fill_imatrix(im, N, 5);
    for (size_t i = 0; i < N_BLOCK_CASES; i++) {
        for (int w = 0; w < 2; w++) {
            float *y = round_trip(BLOCK_CASES[i].type, x, 1, N, w ? im : NULL);
            for (int j = 0; j < N; j++)
                if (!(fabsf(y[j]) <= 1e-30f))
                    fail_msg("%s: element %d of a subnormal block came back as %g",
                             kv_type_name(BLOCK_CASES[i].type), j, y[j]);
            free(y);
        }
    }
}

// The weighted search must do what it is for: lower the error that the
// importance matrix weights, compared with the plain quantizer.
static void test_imatrix_lowers_weighted_error(void **state) {
    (void)state;
    const kv_type types[] = {KV_TYPE_Q4_0, KV_TYPE_Q4_1, KV_TYPE_Q5_0, KV_TYPE_Q5_1};
    float *x = malloc(N_ROWS * N_PER_ROW * sizeof(float));
    float im[N_PER_ROW];
    fill_random(x, N_ROWS, N_PER_ROW, 11);
    fill_imatrix(im, N_PER_ROW, 12);
    for (size_t i = 0; i < sizeof types / sizeof types[0]; i++) {
        double e[2];
        for (int w = 0; w < 2; w++) {
            float *y = round_trip(types[i], x, N_ROWS, N_PER_ROW, w ? im : NULL);
            e[w] = 0;
            for (int k = 0; k < N_ROWS * N_PER_ROW; k++)
                e[w] += im[k % N_PER_ROW] * ((double)x[k] - y[k]) * ((double)x[k] - y[k]);
            free(y);
        }
        if (!(e[1] < 0.95 * e[0]))
            fail_msg("%s: weighted error %.4f with the imatrix, %.4f without",
                     kv_type_name(types[i]), e[1], e[0]);
    }
    free(x);
}

// ---- argument checks ----

static void expect_fail(kv_status got, kv_status want, const kv_err *err, const char *fragment) {
    assert_int_equal(got, want);
    assert_int_equal(err->status, want);
    if (!strstr(err->msg, fragment))
        fail_msg("message \"%s\" lacks \"%s\"", err->msg, fragment);
}

static void test_rejects_nonfinite(void **state) {
    (void)state;
    enum { ROWS = 4, N = 256 };
    float x[ROWS * N], im[N];
    unsigned char q[ROWS * N * 4];
    fill_random(x, ROWS, N, 21);
    fill_imatrix(im, N, 22);
    const kv_type types[] = {KV_TYPE_F16, KV_TYPE_Q4_0, KV_TYPE_Q8_0, KV_TYPE_TQ2_0};
    for (size_t i = 0; i < sizeof types / sizeof types[0]; i++) {
        kv_err err;
        x[2 * N + 5] = NAN;
        expect_fail(kv_quant_rows(types[i], x, q, ROWS, N, NULL, &err), KV_ERR_INVALID, &err,
                    "row 2 column 5 is NaN");
        x[2 * N + 5] = 1.0f;
        x[3 * N + 255] = -INFINITY;
        expect_fail(kv_quant_rows(types[i], x, q, ROWS, N, im, &err), KV_ERR_INVALID, &err,
                    "row 3 column 255 is Inf");
        x[3 * N + 255] = 1.0f;
        im[7] = INFINITY;
        expect_fail(kv_quant_rows(types[i], x, q, ROWS, N, im, &err), KV_ERR_INVALID, &err,
                    "imatrix element 7");
        im[7] = 1.0f;
        assert_int_equal(kv_quant_rows(types[i], x, q, ROWS, N, im, &err), KV_OK);
    }
}

static void test_rejects_bad_sizes_and_types(void **state) {
    (void)state;
    float x[512] = {0};
    unsigned char q[2048];
    float y[512];
    kv_err err;
    expect_fail(kv_quant_rows(KV_TYPE_Q4_0, x, q, 1, 48, NULL, &err), KV_ERR_INVALID, &err,
                "multiple of 32");
    expect_fail(kv_quant_rows(KV_TYPE_Q8_K, x, q, 1, 288, NULL, &err), KV_ERR_INVALID, &err,
                "multiple of 256");
    expect_fail(kv_quant_rows(KV_TYPE_Q8_0, x, q, 1, 0, NULL, &err), KV_ERR_INVALID, &err,
                "n_per_row is 0");
    expect_fail(kv_quant_rows(KV_TYPE_Q8_0, x, q, -1, 32, NULL, &err), KV_ERR_INVALID, &err,
                "n_rows is -1");
    expect_fail(kv_quant_rows(KV_TYPE_Q8_0, x, q, INT64_MAX / 16, 32, NULL, &err), KV_ERR_LIMIT,
                &err, "overflow");
    expect_fail(kv_quant_rows(KV_TYPE_Q8_0, NULL, q, 1, 32, NULL, &err), KV_ERR_INVALID, &err,
                "NULL");
    expect_fail(kv_quant_rows(KV_TYPE_MXFP4, x, q, 1, 256, NULL, &err), KV_ERR_UNSUPPORTED,
                &err, "MXFP4");
    expect_fail(kv_quant_rows((kv_type)4, x, q, 1, 32, NULL, &err), KV_ERR_UNSUPPORTED, &err,
                "id 4");
    expect_fail(kv_dequant_row(KV_TYPE_Q5_1, q, y, 40, &err), KV_ERR_INVALID, &err,
                "multiple of 32");
    expect_fail(kv_dequant_row(KV_TYPE_I32, q, y, 32, &err), KV_ERR_UNSUPPORTED, &err, "I32");
    assert_int_equal(kv_quant_rows(KV_TYPE_Q8_0, NULL, NULL, 0, 32, NULL, &err), KV_OK);
    assert_int_equal(kv_dequant_row(KV_TYPE_Q8_0, NULL, NULL, 0, &err), KV_OK);
}

static void test_capabilities(void **state) {
    (void)state;
    const kv_type ours[] = {KV_TYPE_F32,  KV_TYPE_F16,  KV_TYPE_BF16,  KV_TYPE_Q4_0,
                            KV_TYPE_Q4_1, KV_TYPE_Q5_0, KV_TYPE_Q5_1,  KV_TYPE_Q8_0,
                            KV_TYPE_Q8_1, KV_TYPE_Q8_K, KV_TYPE_TQ1_0, KV_TYPE_TQ2_0};
    for (size_t i = 0; i < sizeof ours / sizeof ours[0]; i++) {
        assert_true(kv_quant_can_quantize(ours[i]));
        assert_true(kv_quant_can_dequantize(ours[i]));
    }
    assert_false(kv_quant_can_quantize(KV_TYPE_MXFP4));
    assert_false(kv_quant_can_dequantize(KV_TYPE_I8));
    assert_false(kv_quant_can_quantize((kv_type)KV_TYPE_COUNT));
}

// ---- determinism ----

// Rows split over two calls (as threads would) give the same bytes as one call.
static void test_row_split_determinism(void **state) {
    (void)state;
    const kv_type types[] = {KV_TYPE_F16, KV_TYPE_BF16, KV_TYPE_Q4_0, KV_TYPE_Q4_1,
                             KV_TYPE_Q5_0, KV_TYPE_Q5_1, KV_TYPE_Q8_0, KV_TYPE_Q8_1,
                             KV_TYPE_Q8_K, KV_TYPE_TQ1_0, KV_TYPE_TQ2_0};
    float *x = malloc(N_ROWS * N_PER_ROW * sizeof(float));
    float im[N_PER_ROW];
    fill_random(x, N_ROWS, N_PER_ROW, 31);
    fill_imatrix(im, N_PER_ROW, 32);
    for (size_t i = 0; i < sizeof types / sizeof types[0]; i++) {
        const kv_type t = types[i];
        const size_t row = kv_type_row_size(t, N_PER_ROW);
        unsigned char *one = malloc(row * N_ROWS), *two = malloc(row * N_ROWS);
        for (int w = 0; w < 2; w++) {
            const float *m = w ? im : NULL;
            memset(two, 0xa5, row * N_ROWS);
            assert_int_equal(kv_quant_rows(t, x, one, N_ROWS, N_PER_ROW, m, NULL), KV_OK);
            assert_int_equal(kv_quant_rows(t, x, two, 5, N_PER_ROW, m, NULL), KV_OK);
            assert_int_equal(kv_quant_rows(t, x + 5 * N_PER_ROW, two + 5 * row, N_ROWS - 5,
                                           N_PER_ROW, m, NULL),
                             KV_OK);
            assert_memory_equal(one, two, row * N_ROWS);
        }
        free(one);
        free(two);
    }
    free(x);
}

// ---- hand-derived blocks ----

// Q8_0, one block: x0 = -127 sets d = 127/127 = 1 (half 0x3c00), so q = round(x)
// with halves away from zero: x_j = j - 15.5 (j >= 1) gives q_j = j - 16 below
// zero and j - 15 above.
static void test_known_q8_0(void **state) {
    (void)state;
    float x[32];
    unsigned char want[34], got[34];
    x[0] = -127.0f;
    for (int j = 1; j < 32; j++)
        x[j] = (float)j - 15.5f;
    want[0] = 0x00; // d = 0x3c00, little-endian
    want[1] = 0x3c;
    want[2] = (unsigned char)(int8_t)-127;
    for (int j = 1; j < 32; j++)
        want[2 + j] = (unsigned char)(int8_t)(j < 16 ? j - 16 : j - 15);
    assert_int_equal(kv_quant_rows(KV_TYPE_Q8_0, x, got, 1, 32, NULL, NULL), KV_OK);
    assert_memory_equal(got, want, sizeof want);
    float y[32];
    assert_int_equal(kv_dequant_row(KV_TYPE_Q8_0, got, y, 32, NULL), KV_OK);
    assert_true(y[0] == -127.0f && y[1] == -15.0f && y[15] == -1.0f && y[16] == 1.0f &&
                y[31] == 16.0f);
}

// Q4_0, one block: x_j = j/2 - 8, so x0 = -8 has the largest magnitude and
// d = -8 / -8 = 1 (half 0x3c00). q_j = min(15, trunc(x_j + 8.5)) = min(15, (j+1)/2):
// 0,1,1,2,2,...,15,15,15 (j = 31 would be 16, capped). Byte j holds q_j in the low
// nibble and q_{j+16} in the high one. Dequantized: q - 8.
static void test_known_q4_0(void **state) {
    (void)state;
    float x[32];
    unsigned char want[18], got[18];
    int q[32];
    for (int j = 0; j < 32; j++) {
        x[j] = (float)j / 2 - 8;
        q[j] = (j + 1) / 2 < 15 ? (j + 1) / 2 : 15;
    }
    want[0] = 0x00;
    want[1] = 0x3c;
    for (int j = 0; j < 16; j++)
        want[2 + j] = (unsigned char)(q[j] | (q[j + 16] << 4));
    assert_int_equal(kv_quant_rows(KV_TYPE_Q4_0, x, got, 1, 32, NULL, NULL), KV_OK);
    assert_memory_equal(got, want, sizeof want);
    assert_int_equal(want[2], 0x80);  // spelled out: q0 = 0, q16 = trunc(0 + 8.5) = 8
    assert_int_equal(want[17], 0xf8); // q15 = trunc(-0.5 + 8.5) = 8, q31 = 16 capped to 15
    float y[32];
    assert_int_equal(kv_dequant_row(KV_TYPE_Q4_0, got, y, 32, NULL), KV_OK);
    for (int j = 0; j < 32; j++)
        assert_true(y[j] == (float)(q[j] - 8));
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_round_trip_random),
        cmocka_unit_test(test_round_trip_float_types),
        cmocka_unit_test(test_zeros_and_constants),
        cmocka_unit_test(test_outliers_and_extremes),
        cmocka_unit_test(test_subnormal_blocks),
        cmocka_unit_test(test_imatrix_lowers_weighted_error),
        cmocka_unit_test(test_rejects_nonfinite),
        cmocka_unit_test(test_rejects_bad_sizes_and_types),
        cmocka_unit_test(test_capabilities),
        cmocka_unit_test(test_row_split_determinism),
        cmocka_unit_test(test_known_q8_0),
        cmocka_unit_test(test_known_q4_0),
    };
    return cmocka_run_group_tests_name("quant_basic", tests, NULL, NULL);
}
