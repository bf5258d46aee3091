// The NEON dispatch table (neon/table.c, dispatch.c) against the reference
// table: every slot is the NEON kernel where one exists and the reference's
// otherwise, with the same activation pairing; the row operations (RMS norm,
// softmax, SiLU * up, add, F16 axpy, F16 . F32 dot, RoPE) agree with the
// references within named tolerances on sizes that cut their vector steps at
// every offset, with zeros, -inf, NaN, overflowing and subnormal values; the
// converters (Q8_0, Q8_1, Q8_K, F16) give the reference's bytes, a non-finite
// row included. Like test_kernels_neon.c, a skipped test off aarch64 Linux; the
// neon/cross test runs it under qemu-aarch64.
#include <math.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "kv_rand.h"
#include "kv_test.h"

#if defined(__aarch64__) && defined(__linux__)

#include <float.h>

#include "kernels/kernels.h"
#include "kernels/neon/neon.h"
#include "kernels/ref/dot_ref.h"

// ---- tolerances, in units of 2^-24 (half an ulp) of the magnitudes involved ----
// element-wise ops: a few roundings each (FMA or not, e^x within 2 ulps, a division)
#define ELEMENT_ROUNDINGS 16
// sums over n values (RMS norm's mean square, softmax's total, dots): the NEON
// lanes add n / 16 values each, the references sum in double
#define SUM_ROUNDINGS(n) (2.0 * (double)(n) / 16 + 8)
#define ULP (1.0 / 16777216)
// results in the subnormal range round absolutely
#define TINY 0x1p-140

static uint64_t rng_state = 0x9e3779b97f4a7c15u;

static double urand(void) { return kv_rand_u01(&rng_state); }

static void fill(float *x, int64_t n, double lo, double hi) {
    for (int64_t i = 0; i < n; i++)
        x[i] = (float)(lo + (hi - lo) * urand());
}

// Sizes that cut 4-, 8- and 16-wide steps at every offset, and long rows.
static const int64_t SIZES[] = {1, 2, 3, 4, 5, 7, 8, 9, 15, 16, 17, 31, 33, 100, 4096, 4099};
#define N_SIZES (sizeof SIZES / sizeof SIZES[0])
enum { N_MAX = 4099 };

// got and want agree to within tol, or are both NaN.
static void expect_near(const char *what, int64_t n, int64_t i, float got, float want, double tol) {
    if (isnan(want) && isnan(got))
        return;
    if (!(fabs((double)got - want) <= tol) && !(got == want))
        fail_msg("%s (n=%lld) [%lld]: neon %.9g, ref %.9g (diff %.3g, tolerance %.3g)", what,
                 (long long)n, (long long)i, got, want, fabs((double)got - want), tol);
}

static const kv_kernels *neon(void) {
    const kv_kernels *k = kv__kernels_neon();
    assert_non_null(k);
    return k;
}

// ---- the table ----

static void test_table_slots(void **state) {
    (void)state;
    const kv_kernels *n = neon(), *r = kv_kernels_ref();
    assert_string_equal(n->name, "neon");
    const char *env = getenv("KVANT_KERNELS");
    assert_ptr_equal(kv_kernels_get(), env && strcmp(env, "ref") == 0 ? r : n);
    for (int t = 0; t < KV_TYPE_COUNT; t++) {
        assert_int_equal(n->types[t].vec_dot_type, r->types[t].vec_dot_type);
        const kv__dot_pair *pair = kv__dot_pair_ref((kv_type)t);
        if (pair != NULL) // a NEON dot for every pair: test_kernels_neon.c checks them
            assert_true(n->types[t].vec_dot != r->types[t].vec_dot);
        else
            assert_true(n->types[t].vec_dot == r->types[t].vec_dot);
        assert_true((n->from_float[t] == NULL) == (r->from_float[t] == NULL));
        assert_true((n->to_float[t] == NULL) == (r->to_float[t] == NULL));
    }
    assert_true(n->matmul == r->matmul); // the driver; it calls the table's dots
}

// The converters give the reference's bytes; a row with a NaN or an infinity
// becomes zeros in both.
static void test_converters(void **state) {
    (void)state;
    static const kv_type T[] = {KV_TYPE_Q8_0, KV_TYPE_Q8_1, KV_TYPE_Q8_K,
                                KV_TYPE_F16,  KV_TYPE_BF16, KV_TYPE_F32};
    static float x[N_MAX];
    static uint8_t a[N_MAX * 4], b[N_MAX * 4];
    const kv_kernels *n = neon(), *r = kv_kernels_ref();
    for (size_t i = 0; i < sizeof T / sizeof T[0]; i++) {
        const int64_t bs = kv_type_get(T[i])->block_size;
        for (int rep = 0; rep < 6; rep++) {
            const int64_t len = bs > 1 ? bs * (1 + rep * 3) : SIZES[rep * 2 + 1];
            fill(x, len, -3, 3);
            if (rep == 1)
                x[len / 2] = 0x1p-140f; // a subnormal
            if (rep == 4)
                x[len - 1] = rep % 2 ? INFINITY : NAN;
            if (rep == 5)
                x[0] = 70000.0f; // beyond the largest half
            const size_t size = kv_type_row_size(T[i], len);
            memset(a, 0x11, size);
            memset(b, 0x22, size);
            r->from_float[T[i]](x, a, len);
            n->from_float[T[i]](x, b, len);
            if (memcmp(a, b, size) != 0)
                fail_msg("from_float %s, n=%lld, row %d: bytes differ", kv_type_name(T[i]),
                         (long long)len, rep);
        }
    }
    // every half to float
    static uint16_t h[65536];
    static float fr[65536], fn[65536];
    for (int i = 0; i < 65536; i++)
        h[i] = (uint16_t)i;
    r->to_float[KV_TYPE_F16](h, fr, 65535);
    n->to_float[KV_TYPE_F16](h, fn, 65535); // odd: a tail too
    for (int i = 0; i < 65535; i++) {
        // NaNs: the same payload, but FCVTL quiets a signaling NaN (quiet bit 22)
        const uint32_t quiet = isnan(fr[i]) ? 0x00400000u : 0;
        if ((kv_f32_bits(fr[i]) | quiet) != (kv_f32_bits(fn[i]) | quiet))
            fail_msg("to_float F16 0x%04x: neon 0x%08x, ref 0x%08x", i, kv_f32_bits(fn[i]),
                     kv_f32_bits(fr[i]));
    }
}

// ---- row operations ----

static void test_rmsnorm(void **state) {
    (void)state;
    static float x[N_MAX], w[N_MAX], yr[N_MAX], yn[N_MAX];
    for (size_t s = 0; s < N_SIZES; s++) {
        const int64_t n = SIZES[s];
        for (int rep = 0; rep < 3; rep++) {
            fill(x, n, -2, 2);
            fill(w, n, -1.5, 1.5);
            if (rep == 2) // tiny and large rows: the scale comes out of range of neither
                for (int64_t i = 0; i < n; i++)
                    x[i] *= i % 2 ? 1e-18f : 1e18f;
            const float *wp = rep == 1 ? NULL : w;
            kv_rmsnorm_ref(n, yr, x, wp, 1e-5f);
            kv_rmsnorm_neon(n, yn, x, wp, 1e-5f);
            for (int64_t i = 0; i < n; i++)
                expect_near("rmsnorm", n, i, yn[i], yr[i],
                            (ELEMENT_ROUNDINGS + SUM_ROUNDINGS(n)) * ULP * fabsf(yr[i]) + TINY);
            memcpy(yn, x, (size_t)n * sizeof(float)); // in place
            kv_rmsnorm_neon(n, yn, yn, wp, 1e-5f);
            for (int64_t i = 0; i < n; i++)
                expect_near("rmsnorm in place", n, i, yn[i], yr[i],
                            (ELEMENT_ROUNDINGS + SUM_ROUNDINGS(n)) * ULP * fabsf(yr[i]) + TINY);
        }
    }
}

static void check_softmax(const float *x, int64_t n, const char *what) {
    static float pr[N_MAX], pn[N_MAX];
    memcpy(pr, x, (size_t)n * sizeof(float));
    memcpy(pn, x, (size_t)n * sizeof(float));
    kv_softmax_ref(n, pr);
    kv_softmax_neon(n, pn);
    for (int64_t i = 0; i < n; i++)
        expect_near(what, n, i, pn[i], pr[i],
                    (ELEMENT_ROUNDINGS + SUM_ROUNDINGS(n)) * ULP * fabsf(pr[i]) + TINY);
}

static void test_softmax(void **state) {
    (void)state;
    static float x[N_MAX];
    for (size_t s = 0; s < N_SIZES; s++) {
        const int64_t n = SIZES[s];
        fill(x, n, -8, 8);
        check_softmax(x, n, "softmax");
        fill(x, n, -120, 30); // many results below FLT_MIN, some 0
        check_softmax(x, n, "softmax, wide range");
        for (int64_t i = 0; i < n; i += 3) // masked positions
            x[i] = -INFINITY;
        check_softmax(x, n, "softmax with -inf");
        for (int64_t i = 0; i < n; i++)
            x[i] = -INFINITY;
        check_softmax(x, n, "softmax, all -inf");
        for (int64_t i = 0; i < n; i++)
            assert_true(x[i] == -INFINITY); // (check_softmax works on copies)
        fill(x, n, -1, 1);
        x[n / 2] = NAN;
        check_softmax(x, n, "softmax with NaN");
        for (int64_t i = 0; i < n; i++)
            x[i] = i % 2 ? NAN : -INFINITY; // nothing to attend to: zeros
        check_softmax(x, n, "softmax, NaN and -inf");
        for (int64_t i = 0; i < n; i++)
            x[i] = NAN;
        check_softmax(x, n, "softmax, all NaN");
    }
}

static void test_silu_mul(void **state) {
    (void)state;
    static float g[N_MAX], u[N_MAX], yr[N_MAX], yn[N_MAX];
    static const float SPECIAL[] = {0.0f,    -0.0f, 88.0f,  -88.0f,   89.0f,     -89.0f, 104.0f,
                                    -104.0f, 1e30f, -1e30f, INFINITY, -INFINITY, NAN,    1e-40f};
    for (size_t s = 0; s < N_SIZES; s++) {
        const int64_t n = SIZES[s];
        fill(g, n, -20, 20);
        fill(u, n, -3, 3);
        for (int64_t i = 0; i < n; i += 5)
            g[i] = SPECIAL[(i / 5 + s) % (sizeof SPECIAL / sizeof SPECIAL[0])];
        kv_silu_mul_ref(n, yr, g, u);
        kv_silu_mul_neon(n, yn, g, u);
        for (int64_t i = 0; i < n; i++)
            expect_near("silu_mul", n, i, yn[i], yr[i],
                        ELEMENT_ROUNDINGS * ULP * fabsf(yr[i]) + TINY);
        memcpy(yn, g, (size_t)n * sizeof(float)); // y aliases gate
        kv_silu_mul_neon(n, yn, yn, u);
        for (int64_t i = 0; i < n; i++)
            expect_near("silu_mul in place", n, i, yn[i], yr[i],
                        ELEMENT_ROUNDINGS * ULP * fabsf(yr[i]) + TINY);
    }
}

static void test_add_axpy(void **state) {
    (void)state;
    static float x[N_MAX], yr[N_MAX], yn[N_MAX];
    static kv_f16 v[N_MAX];
    for (size_t s = 0; s < N_SIZES; s++) {
        const int64_t n = SIZES[s];
        fill(x, n, -5, 5);
        fill(yr, n, -5, 5);
        memcpy(yn, yr, (size_t)n * sizeof(float));
        kv_add_ref(n, yr, x);
        kv_add_neon(n, yn, x);
        assert_memory_equal(yr, yn, (size_t)n * sizeof(float)); // one rounding both ways
        kv_f32_to_f16_row(x, v, n);
        const float a = (float)(urand() - 0.5);
        kv_axpy_f16_ref(n, yr, a, v);
        kv_axpy_f16_neon(n, yn, a, v);
        for (int64_t i = 0; i < n; i++) { // FMA: one rounding instead of two
            const double mag = fabsf(yr[i]) + fabsf(a * kv_f16_to_f32(v[i]));
            expect_near("axpy_f16", n, i, yn[i], yr[i], 2 * ULP * mag + TINY);
        }
    }
}

static void test_dot_f16_f32(void **state) {
    (void)state;
    static float w[N_MAX], x[N_MAX];
    static kv_f16 h[N_MAX];
    for (size_t s = 0; s < N_SIZES; s++) {
        const int64_t n = SIZES[s];
        fill(w, n, -1, 1);
        fill(x, n, -4, 4);
        kv_f32_to_f16_row(w, h, n);
        double mag = 0;
        for (int64_t i = 0; i < n; i++)
            mag += fabs(kv_f16_to_f32(h[i]) * (double)x[i]);
        float r, g;
        kv_dot_f16_f32_ref(n, &r, h, x);
        kv_dot_f16_f32_neon(n, &g, h, x);
        expect_near("dot_f16_f32", n, 0, g, r, SUM_ROUNDINGS(n) * ULP * mag + TINY);
    }
}

// Heads of head_dim values, n_rot of them rotated (all, part, a few pairs, odd);
// the rest of each head must come back bit for bit.
static void test_rope(void **state) {
    (void)state;
    static const int64_t SHAPES[][3] = {{4, 64, 64}, {3, 128, 128}, {2, 64, 32}, {5, 16, 6},
                                        {2, 10, 7},  {1, 8, 2},     {2, 96, 90}};
    static float x[1024], xr[1024], xn[1024], cs[128];
    for (size_t s = 0; s < sizeof SHAPES / sizeof SHAPES[0]; s++) {
        const int64_t nh = SHAPES[s][0], hd = SHAPES[s][1], nr = SHAPES[s][2];
        fill(x, nh * hd, -3, 3);
        kv_rope_cos_sin(cs, nr, 1234, 10000.0f, 1.0f, NULL);
        memcpy(xr, x, (size_t)(nh * hd) * sizeof(float));
        memcpy(xn, x, (size_t)(nh * hd) * sizeof(float));
        kv_rope_ref(xr, nh, hd, nr, cs);
        kv_rope_neon(xn, nh, hd, nr, cs);
        for (int64_t h = 0; h < nh; h++)
            for (int64_t i = 0; i < hd; i++) {
                const int64_t k = h * hd + i;
                if (i >= nr / 2 * 2) {
                    assert_true(xn[k] == x[k]);
                    continue;
                }
                const int64_t p = h * hd + i / 2 * 2;
                const double mag = fabsf(x[p]) + fabsf(x[p + 1]);
                expect_near("rope", nh * hd, k, xn[k], xr[k], 4 * ULP * mag);
            }
    }
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_table_slots), cmocka_unit_test(test_converters),
        cmocka_unit_test(test_rmsnorm),     cmocka_unit_test(test_softmax),
        cmocka_unit_test(test_silu_mul),    cmocka_unit_test(test_add_axpy),
        cmocka_unit_test(test_dot_f16_f32), cmocka_unit_test(test_rope),
    };
    if (kv__kernels_neon() == NULL) {
        print_message("skipped: this CPU has no ARMv8.2 dot-product instructions\n");
        return 0;
    }
    return cmocka_run_group_tests(tests, NULL, NULL);
}

#else // no NEON kernels in this build

static void test_no_neon(void **state) {
    (void)state;
    print_message("skipped: not an aarch64 Linux build; the neon/cross test runs this file "
                  "under qemu-aarch64\n");
    skip();
}

int main(void) {
    const struct CMUnitTest tests[] = {cmocka_unit_test(test_no_neon)};
    return cmocka_run_group_tests(tests, NULL, NULL);
}

#endif
