// Reference kernels against direct formulas: dot products (F32, F16, BF16), the
// matmul driver, RMS norm, softmax, SwiGLU, the F16 axpy and RoPE (rotation of
// adjacent pairs, relative-position property, untouched tail past n_rot).
#define _POSIX_C_SOURCE 200809L // setenv
#include "kernels/kernels.h"

#include "kvant/kv_quant.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "kv_test.h"

// float rounding of sums over a few hundred terms of size ~1
#define TOL_SUM 1e-5
// products and transcendental functions in float
#define TOL_FLOAT 1e-6
// integer dots apply their block scales in float (512 terms of size ~1)
#define TOL_INT_DOT 1e-3
// ...and Q8_1 blocks keep d * sum(q) as F16, which the Q4_1/Q5_1 minimum term uses
#define TOL_Q8_1 2e-2

static uint64_t rng_state = 0x1234567;

static float frand(void) { // uniform in [-1, 1)
    rng_state = rng_state * 6364136223846793005ull + 1442695040888963407ull;
    return (float)((double)(rng_state >> 11) * 0x1.0p-53 * 2.0 - 1.0);
}

static void fill(float *x, int64_t n) {
    for (int64_t i = 0; i < n; i++)
        x[i] = frand();
}

static void test_dots(void **state) {
    (void)state;
    const int64_t sizes[] = {1, 7, 32, 256, 1000};
    for (size_t s = 0; s < sizeof sizes / sizeof sizes[0]; s++) {
        const int64_t n = sizes[s];
        float *w = malloc((size_t)n * 4), *x = malloc((size_t)n * 4), *wr = malloc((size_t)n * 4);
        kv_f16 *h = malloc((size_t)n * 2);
        kv_bf16 *b = malloc((size_t)n * 2);
        fill(w, n);
        fill(x, n);
        double want = 0;
        for (int64_t i = 0; i < n; i++)
            want += (double)w[i] * x[i];
        float got;
        kv_dot_f32_ref(n, &got, w, x);
        assert_float_equal(got, want, TOL_SUM);
        // F16 and BF16: the dot of the rounded weights, exactly as if they were F32
        kv_f32_to_f16_row(w, h, n);
        kv_f16_to_f32_row(h, wr, n);
        float want16;
        kv_dot_f32_ref(n, &want16, wr, x);
        kv_dot_f16_f32_ref(n, &got, h, x);
        assert_true(got == want16);
        kv_f32_to_bf16_row(w, b, n);
        kv_bf16_to_f32_row(b, wr, n);
        kv_dot_f32_ref(n, &want16, wr, x);
        kv_dot_bf16_f32_ref(n, &got, b, x);
        assert_true(got == want16);
        free(w), free(x), free(wr), free(h), free(b);
    }
}

// The driver with each float weight type, activations converted as the slot says.
static void test_matmul_driver(void **state) {
    (void)state;
    const kv_kernels *k = kv_kernels_ref();
    enum { N_IN = 48, N_OUT = 10, ROWS = 3 };
    float w[N_OUT * N_IN], x[ROWS * N_IN], y[ROWS * N_OUT], wr[N_OUT * N_IN], xr[ROWS * N_IN];
    kv_f16 w16[N_OUT * N_IN];
    uint8_t xq[ROWS * N_IN * 4];
    fill(w, N_OUT * N_IN);
    fill(x, ROWS * N_IN);
    kv_f32_to_f16_row(w, w16, N_OUT * N_IN);
    const kv_type types[] = {KV_TYPE_F32, KV_TYPE_F16};
    for (int ti = 0; ti < 2; ti++) {
        const kv_type vt = k->types[types[ti]].vec_dot_type;
        const size_t x_row = kv_type_row_size(vt, N_IN);
        for (int r = 0; r < ROWS; r++) { // what the slot sees of x, back in floats
            k->from_float[vt](x + r * N_IN, xq + r * x_row, N_IN);
            k->to_float[vt](xq + r * x_row, xr + r * N_IN, N_IN);
        }
        const void *wd = ti == 0 ? (const void *)w : (const void *)w16;
        k->to_float[types[ti]](wd, wr, N_OUT * N_IN);
        kv_matmul_args a = {types[ti], wd, kv_type_row_size(types[ti], N_IN), xq, x_row, y,
                            N_OUT, N_IN, ROWS, NULL, NULL};
        memset(y, 0, sizeof y);
        k->matmul(k, &a, 0, 4, NULL, 0); // in two pieces, as threads would
        k->matmul(k, &a, 4, N_OUT, NULL, 0);
        for (int r = 0; r < ROWS; r++)
            for (int o = 0; o < N_OUT; o++) {
                double want = 0;
                for (int i = 0; i < N_IN; i++)
                    want += (double)wr[o * N_IN + i] * xr[r * N_IN + i];
                assert_float_equal(y[r * N_OUT + o], want, TOL_SUM);
            }
    }
}

static void test_rmsnorm(void **state) {
    (void)state;
    enum { N = 100 };
    float x[N], w[N], y[N];
    fill(x, N);
    fill(w, N);
    const float eps = 1e-5f;
    double ss = 0;
    for (int i = 0; i < N; i++)
        ss += (double)x[i] * x[i];
    const double scale = 1.0 / sqrt(ss / N + eps);
    kv_rmsnorm_ref(N, y, x, w, eps);
    for (int i = 0; i < N; i++)
        assert_float_equal(y[i], x[i] * scale * w[i], TOL_FLOAT);
    kv_rmsnorm_ref(N, x, x, NULL, eps); // in place, no weight
    double rms = 0;
    for (int i = 0; i < N; i++)
        rms += (double)x[i] * x[i];
    assert_float_equal(sqrt(rms / N), 1.0, 1e-4); // eps shifts it a little
}

static void test_softmax(void **state) {
    (void)state;
    float x[5] = {1.0f, 2.0f, -INFINITY, 3.0f, 1000.0f};
    kv_softmax_ref(5, x);
    assert_true(x[2] == 0.0f);
    assert_float_equal(x[4], 1.0, TOL_FLOAT); // large values do not overflow
    float y[4] = {0.5f, -1.0f, 2.0f, 0.0f};
    double z = 0;
    for (int i = 0; i < 4; i++)
        z += exp(y[i]);
    const float y0[4] = {0.5f, -1.0f, 2.0f, 0.0f};
    kv_softmax_ref(4, y);
    for (int i = 0; i < 4; i++)
        assert_float_equal(y[i], exp(y0[i]) / z, TOL_FLOAT);
    float none[3] = {-INFINITY, -INFINITY, -INFINITY};
    kv_softmax_ref(3, none);
    for (int i = 0; i < 3; i++)
        assert_true(none[i] == 0.0f);
}

static void test_silu_axpy_add(void **state) {
    (void)state;
    enum { N = 33 };
    float g[N], u[N], y[N], v[N], acc[N];
    kv_f16 vh[N];
    fill(g, N);
    fill(u, N);
    fill(v, N);
    kv_silu_mul_ref(N, y, g, u);
    for (int i = 0; i < N; i++)
        assert_float_equal(y[i], g[i] / (1.0 + exp(-g[i])) * u[i], TOL_FLOAT);
    kv_f32_to_f16_row(v, vh, N);
    memcpy(acc, u, sizeof acc);
    kv_axpy_f16_ref(N, acc, 0.25f, vh);
    for (int i = 0; i < N; i++)
        assert_float_equal(acc[i], u[i] + 0.25f * kv_f16_to_f32(vh[i]), TOL_FLOAT);
    kv_add_ref(N, acc, g);
    for (int i = 0; i < N; i++)
        assert_float_equal(acc[i], u[i] + 0.25f * kv_f16_to_f32(vh[i]) + g[i], TOL_FLOAT);
}

static void test_rope_cos_sin(void **state) {
    (void)state;
    enum { NROT = 16 };
    float cs[NROT];
    float factors[NROT / 2];
    for (int i = 0; i < NROT / 2; i++)
        factors[i] = 1.0f + (float)i;
    kv_rope_cos_sin(cs, NROT, 7, 10000.0f, 0.5f, factors);
    for (int i = 0; i < NROT / 2; i++) {
        double theta = 7 * 0.5 * pow(10000.0, -2.0 * i / NROT) / factors[i];
        assert_float_equal(cs[2 * i], cos(theta), TOL_FLOAT);
        assert_float_equal(cs[2 * i + 1], sin(theta), TOL_FLOAT);
    }
}

// Rotating (x[2i], x[2i+1]) as the complex number x[2i] + i x[2i+1] times e^(i theta).
static void test_rope_pairs_and_tail(void **state) {
    (void)state;
    enum { HEADS = 3, HD = 12, NROT = 8 };
    float x[HEADS * HD], x0[HEADS * HD], cs[NROT];
    fill(x, HEADS * HD);
    memcpy(x0, x, sizeof x);
    kv_rope_cos_sin(cs, NROT, 5, 500.0f, 1.0f, NULL);
    kv_rope_ref(x, HEADS, HD, NROT, cs);
    for (int h = 0; h < HEADS; h++) {
        for (int i = 0; i < NROT / 2; i++) {
            double th = 5 * pow(500.0, -2.0 * i / NROT);
            double a = x0[h * HD + 2 * i], b = x0[h * HD + 2 * i + 1];
            assert_float_equal(x[h * HD + 2 * i], a * cos(th) - b * sin(th), TOL_FLOAT);
            assert_float_equal(x[h * HD + 2 * i + 1], a * sin(th) + b * cos(th), TOL_FLOAT);
        }
        for (int d = NROT; d < HD; d++)
            assert_true(x[h * HD + d] == x0[h * HD + d]);
    }
}

// q at position m and k at position n: q.k depends only on m - n.
static void test_rope_relative(void **state) {
    (void)state;
    enum { HD = 32 };
    float q[HD], k[HD], cs[HD];
    fill(q, HD);
    fill(k, HD);
    double ref = 0;
    for (int shift = 0; shift < 3; shift++) {
        float qr[HD], kr[HD];
        memcpy(qr, q, sizeof q);
        memcpy(kr, k, sizeof k);
        kv_rope_cos_sin(cs, HD, 10 + 100 * shift, 10000.0f, 1.0f, NULL);
        kv_rope_ref(qr, 1, HD, HD, cs);
        kv_rope_cos_sin(cs, HD, 3 + 100 * shift, 10000.0f, 1.0f, NULL);
        kv_rope_ref(kr, 1, HD, HD, cs);
        double d = 0;
        for (int i = 0; i < HD; i++)
            d += (double)qr[i] * kr[i];
        if (shift == 0)
            ref = d;
        else
            assert_float_equal(d, ref, 1e-4); // float sin/cos of angles up to ~200 rad
    }
}

static void test_dispatch(void **state) {
    (void)state;
    setenv("KVANT_KERNELS", "ref", 1);
    const kv_kernels *k = kv_kernels_get();
    assert_non_null(k);
    assert_string_equal(k->name, "ref");
    assert_ptr_equal(kv_kernels_get(), k);
    assert_non_null(k->types[KV_TYPE_F32].vec_dot);
    assert_non_null(k->types[KV_TYPE_F16].vec_dot);
    assert_non_null(k->types[KV_TYPE_BF16].vec_dot);
    assert_int_equal(k->types[KV_TYPE_F32].vec_dot_type, KV_TYPE_F32);
    assert_non_null(k->to_float[KV_TYPE_BF16]);
    assert_non_null(k->dot_f16_f32);
    assert_non_null(k->to_float[KV_TYPE_Q4_K]); // through the quant module
    // every slot's activation type has converters both ways
    for (int t = 0; t < KV_TYPE_COUNT; t++)
        if (k->types[t].vec_dot) {
            assert_non_null(k->from_float[k->types[t].vec_dot_type]);
            assert_non_null(k->to_float[k->types[t].vec_dot_type]);
        }
}

// The 8-bit activation converters write what the quantizers write; a
// non-finite row becomes zeros instead of garbage.
static void test_activation_converters(void **state) {
    (void)state;
    const kv_kernels *k = kv_kernels_ref();
    const kv_type types[] = {KV_TYPE_Q8_0, KV_TYPE_Q8_1, KV_TYPE_Q8_K};
    float x[512];
    uint8_t got[1024], want[1024];
    fill(x, 512);
    for (int i = 0; i < 3; i++) {
        const size_t row = kv_type_row_size(types[i], 512);
        k->from_float[types[i]](x, got, 512);
        assert_int_equal(kv_quant_rows(types[i], x, want, 1, 512, NULL, NULL), KV_OK);
        assert_memory_equal(got, want, row);
    }
    x[3] = NAN;
    memset(got, 0xab, sizeof got);
    k->from_float[KV_TYPE_Q8_0](x, got, 512);
    for (size_t i = 0; i < kv_type_row_size(KV_TYPE_Q8_0, 512); i++)
        assert_int_equal(got[i], 0);
}

// The dequantizing fallback equals the dot of the dequantized row, and the
// to_float slots of quantized types are the dequantizer.
static void test_dequant_fallback(void **state) {
    (void)state;
    const kv_kernels *k = kv_kernels_ref();
    const kv_type types[] = {KV_TYPE_Q4_0, KV_TYPE_Q5_1, KV_TYPE_Q8_0, KV_TYPE_Q6_K,
                             KV_TYPE_IQ4_XS, KV_TYPE_TQ2_0};
    float w[512], x[512], wd[512], wt[512];
    uint8_t q[1024];
    fill(w, 512);
    fill(x, 512);
    for (size_t i = 0; i < sizeof types / sizeof types[0]; i++) {
        assert_int_equal(kv_quant_rows(types[i], w, q, 1, 512, NULL, NULL), KV_OK);
        assert_int_equal(kv_dequant_row(types[i], q, wd, 512, NULL), KV_OK);
        float want, got;
        kv_dot_f32_ref(512, &want, wd, x);
        kv_dot_dequant_f32_ref(types[i], 512, &got, q, x);
        assert_float_equal(got, want, TOL_SUM);
        k->to_float[types[i]](q, wt, 512);
        assert_memory_equal(wt, wd, sizeof wd);
    }
}

// Every slot's dot agrees with the dequantized weights against what the
// activation conversion kept, within the activation type's rounding.
static void test_slots_against_dequant(void **state) {
    (void)state;
    const kv_kernels *k = kv_kernels_ref();
    float w[512], x[512], wd[512], xr[512];
    uint8_t q[2048], xq[2048];
    fill(w, 512);
    fill(x, 512);
    int n_checked = 0;
    for (int t = 0; t < KV_TYPE_COUNT; t++) {
        if (!k->types[t].vec_dot || !kv_quant_can_quantize((kv_type)t) ||
            kv_type_row_size((kv_type)t, 512) == 0)
            continue;
        const kv_type vt = k->types[t].vec_dot_type;
        float ones[512];
        for (int i = 0; i < 512; i++)
            ones[i] = 1.0f;
        const bool needs_im = t == KV_TYPE_IQ2_XXS || t == KV_TYPE_IQ2_XS || t == KV_TYPE_IQ1_S;
        assert_int_equal(kv_quant_rows((kv_type)t, w, q, 1, 512, needs_im ? ones : NULL, NULL),
                         KV_OK);
        k->to_float[t](q, wd, 512);
        k->from_float[vt](x, xq, 512);
        k->to_float[vt](xq, xr, 512);
        float want, got;
        kv_dot_f32_ref(512, &want, wd, xr);
        k->types[t].vec_dot(512, &got, q, xq);
        assert_float_equal(got, want, vt == KV_TYPE_Q8_1 ? TOL_Q8_1 : TOL_INT_DOT);
        n_checked++;
    }
    assert_true(n_checked >= 10);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_dots),          cmocka_unit_test(test_matmul_driver),
        cmocka_unit_test(test_rmsnorm),       cmocka_unit_test(test_softmax),
        cmocka_unit_test(test_silu_axpy_add), cmocka_unit_test(test_rope_cos_sin),
        cmocka_unit_test(test_rope_pairs_and_tail), cmocka_unit_test(test_rope_relative),
        cmocka_unit_test(test_dispatch),      cmocka_unit_test(test_activation_converters),
        cmocka_unit_test(test_dequant_fallback), cmocka_unit_test(test_slots_against_dequant),
    };
    return cmocka_run_group_tests_name("kernels_ref", tests, NULL, NULL);
}
