// AVX2 row kernels (src/kernels/avx2) against the references of kernels.h: RMS
// norm, softmax and SiLU·up within a few ulp; the residual add, RoPE, the F16
// axpy and the F16/BF16 conversions bit for bit; attention's F16-key dot within
// the float-dot bound; at lengths of one lane, whole vectors and ragged tails,
// with zeros, large values, subnormals, -Inf (masked attention), Inf and NaN.
// Then the AVX2 table: the reference's pairing kept, every slot filled, each
// weight slot's converter and dot together against the reference's. Skips
// without AVX2/FMA/F16C or off x86-64.
#define _POSIX_C_SOURCE 200809L // unsetenv
#include "kernels/amx/amx.h"
#include "kernels/avx2/avx2.h"
#include "kernels/avx512/avx512.h"

#include <float.h>
#include <math.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "kv_rand.h"
#include "kv_test.h"
#include "kernels/kernels.h"
#include "kvant/kv_f16.h"
#include "kvant/kv_quant.h"

#if defined(__x86_64__)

// ---- tolerances ----
// In units in the last place of the reference's value (ulp steps between the
// two floats). For SiLU, results below FLT_MIN in magnitude on both sides count
// as equal: e^x near its overflow point may round to Inf on one side only,
// which turns g / (1 + e^-g) from a subnormal into -0.
#define TOL_RMSNORM_ULP 2 // the double sum of squares in another order can move the
                          // float mean, and so the scale and each output, by an ulp
#define TOL_SOFTMAX_ULP 4 // e^x within 1 ulp of expf, then 1 / sum and the product
#define TOL_SILU_ULP 4    // e^-g within 1 ulp, then 1 + e, the division, the product
// Attention's F16-key dot: float lanes against the reference's double sum, as
// the weight dots of test_kernels_avx2.c: (2 * n / 32 + 8) * 2^-24 * sum |k q|.
#define TOL_DOT_ROUNDINGS 8

#define NEED_AVX2()                                                                        \
    do {                                                                                   \
        if (!kv__cpu_has_avx2()) {                                                         \
            print_message("skipped: this CPU lacks AVX2, FMA or F16C\n");                  \
            skip();                                                                        \
        }                                                                                  \
    } while (0)

static const int64_t SIZES[] = {1, 3, 7, 8, 9, 15, 16, 31, 33, 64, 100, 4096, 4099};
#define N_SIZES (sizeof SIZES / sizeof SIZES[0])
enum { N_MAX = 4099 };

static uint64_t rng_state;

static double urand(void) { return kv_rand_u01(&rng_state); } // uniform in [0, 1)

// Random values of about the given size, either sign
static void fill(float *v, int64_t n, float scale) {
    for (int64_t i = 0; i < n; i++)
        v[i] = (float)((urand() * 2 - 1) * scale);
}

// Distance in representable floats between a and b (0 for equal or both NaN,
// and with tiny_equal for both below FLT_MIN in magnitude); INT64_MAX when only
// one is NaN.
static int64_t ulps(float a, float b, bool tiny_equal) {
    if (isnan(a) || isnan(b))
        return isnan(a) && isnan(b) ? 0 : INT64_MAX;
    if (tiny_equal && fabsf(a) < FLT_MIN && fabsf(b) < FLT_MIN)
        return 0;
    int32_t ia, ib;
    memcpy(&ia, &a, 4);
    memcpy(&ib, &b, 4);
    const int64_t oa = ia < 0 ? (int64_t)INT32_MIN - ia : ia; // monotonic in the value
    const int64_t ob = ib < 0 ? (int64_t)INT32_MIN - ib : ib;
    return oa > ob ? oa - ob : ob - oa;
}

static void check_ulps(const float *got, const float *want, int64_t n, int64_t tol,
                       const char *what) {
    const bool tiny_equal = strncmp(what, "silu", 4) == 0;
    for (int64_t i = 0; i < n; i++)
        if (ulps(got[i], want[i], tiny_equal) > tol)
            fail_msg("%s (n=%lld): element %lld is %.9g, reference %.9g (more than %lld ulp)",
                     what, (long long)n, (long long)i, got[i], want[i], (long long)tol);
}

static void check_bits(const void *got, const void *want, size_t size, const char *what) {
    if (memcmp(got, want, size) != 0)
        fail_msg("%s: bytes differ from the reference", what);
}

// ---- normalisation ----

static void test_rmsnorm(void **state) {
    (void)state;
    NEED_AVX2();
    static const float SCALES[] = {1.0f, 1e-3f, 3e18f, 1e-20f, 1e-40f, 0.0f};
    float *x = malloc(N_MAX * 4), *w = malloc(N_MAX * 4), *want = malloc(N_MAX * 4),
          *got = malloc(N_MAX * 4);
    rng_state = 1;
    for (size_t si = 0; si < N_SIZES; si++)
        for (size_t k = 0; k < sizeof SCALES / sizeof SCALES[0]; k++) {
            const int64_t n = SIZES[si];
            fill(x, n, SCALES[k]);
            fill(w, n, 2.0f);
            for (int with_w = 0; with_w < 2; with_w++) {
                const float *wp = with_w ? w : NULL;
                kv_rmsnorm_ref(n, want, x, wp, 1e-5f);
                kv_rmsnorm_avx2(n, got, x, wp, 1e-5f);
                check_ulps(got, want, n, TOL_RMSNORM_ULP, "rmsnorm");
                memcpy(got, x, (size_t)n * 4); // in place
                kv_rmsnorm_avx2(n, got, got, wp, 1e-5f);
                check_ulps(got, want, n, TOL_RMSNORM_ULP, "rmsnorm in place");
            }
        }
    free(x), free(w), free(want), free(got);
}

static void check_softmax(const float *x, int64_t n, const char *what) {
    float *want = malloc((size_t)n * 4), *got = malloc((size_t)n * 4);
    memcpy(want, x, (size_t)n * 4);
    memcpy(got, x, (size_t)n * 4);
    kv_softmax_ref(n, want);
    kv_softmax_avx2(n, got);
    check_ulps(got, want, n, TOL_SOFTMAX_ULP, what);
    free(want), free(got);
}

static void test_softmax(void **state) {
    (void)state;
    NEED_AVX2();
    float *x = malloc(N_MAX * 4);
    rng_state = 2;
    for (size_t si = 0; si < N_SIZES; si++) {
        const int64_t n = SIZES[si];
        static const float SPREADS[] = {1.0f, 10.0f, 100.0f, 1e30f}; // 100: e^x reaches subnormals
        for (size_t k = 0; k < sizeof SPREADS / sizeof SPREADS[0]; k++) {
            fill(x, n, SPREADS[k]);
            check_softmax(x, n, "softmax");
            for (int64_t i = 0; i < n; i += 3) // masked positions, as causal attention has
                x[i] = -INFINITY;
            check_softmax(x, n, "softmax with -Inf");
        }
        for (int64_t i = 0; i < n; i++)
            x[i] = -INFINITY;
        check_softmax(x, n, "softmax of all -Inf");
        x[n - 1] = 3.0f;
        check_softmax(x, n, "softmax of one finite value");
        fill(x, n, 1.0f);
        x[n / 2] = INFINITY;
        check_softmax(x, n, "softmax with +Inf");
        x[n / 2] = NAN;
        check_softmax(x, n, "softmax with NaN");
    }
    free(x);
}

// ---- element-wise ----

static void check_silu(const float *g, const float *up, int64_t n, const char *what) {
    float *want = malloc((size_t)n * 4), *got = malloc((size_t)n * 4);
    kv_silu_mul_ref(n, want, g, up);
    kv_silu_mul_avx2(n, got, g, up);
    check_ulps(got, want, n, TOL_SILU_ULP, what);
    memcpy(got, g, (size_t)n * 4); // y aliasing gate
    kv_silu_mul_avx2(n, got, got, up);
    check_ulps(got, want, n, TOL_SILU_ULP, "silu_mul into gate");
    free(want), free(got);
}

static void test_silu_mul(void **state) {
    (void)state;
    NEED_AVX2();
    float *g = malloc(N_MAX * 4), *up = malloc(N_MAX * 4);
    rng_state = 3;
    for (size_t si = 0; si < N_SIZES; si++) {
        fill(g, SIZES[si], 8.0f);
        fill(up, SIZES[si], 2.0f);
        check_silu(g, up, SIZES[si], "silu_mul");
    }
    // a sweep of the gate over -120..120 (e^-g overflows below -88.7), up = 1
    for (int64_t i = 0; i < N_MAX; i++)
        up[i] = 1.0f;
    for (int chunk = 0; chunk < 60; chunk++) {
        for (int64_t i = 0; i < N_MAX; i++)
            g[i] = -120.0f + 240.0f * (float)(chunk * N_MAX + i) / (60.0f * N_MAX);
        check_silu(g, up, N_MAX, "silu sweep");
    }
    static const float SPECIAL[] = {0.0f, -0.0f, INFINITY, -INFINITY, NAN, FLT_MAX, -FLT_MAX,
                                    1e-40f, -1e-40f, FLT_MIN, -88.72f, -88.73f, -103.9f, -104.1f,
                                    88.7f, 0.5f};
    const int64_t n_special = sizeof SPECIAL / sizeof SPECIAL[0];
    memcpy(g, SPECIAL, sizeof SPECIAL);
    check_silu(g, up, n_special, "silu special values");
    free(g), free(up);
}

static void test_add(void **state) {
    (void)state;
    NEED_AVX2();
    float *x = malloc(N_MAX * 4), *want = malloc(N_MAX * 4), *got = malloc(N_MAX * 4);
    rng_state = 4;
    for (size_t si = 0; si < N_SIZES; si++) {
        const int64_t n = SIZES[si];
        fill(x, n, 1e3f);
        fill(want, n, 1.0f);
        x[0] = FLT_MAX;
        want[0] = FLT_MAX; // overflows to Inf
        memcpy(got, want, (size_t)n * 4);
        kv_add_ref(n, want, x);
        kv_add_avx2(n, got, x);
        check_bits(got, want, (size_t)n * 4, "add");
        kv_add_ref(n, want, want); // y += y
        kv_add_avx2(n, got, got);
        check_bits(got, want, (size_t)n * 4, "add to itself");
    }
    free(x), free(want), free(got);
}

// ---- RoPE ----

static void test_rope(void **state) {
    (void)state;
    NEED_AVX2();
    static const int64_t HEAD_DIMS[] = {2, 6, 8, 10, 64, 128};
    static const int64_t POSITIONS[] = {0, 1, 17, 1000, 100000};
    float x[4 * 128], want[4 * 128], got[4 * 128], cs[128];
    rng_state = 5;
    for (size_t hi = 0; hi < sizeof HEAD_DIMS / sizeof HEAD_DIMS[0]; hi++) {
        const int64_t hd = HEAD_DIMS[hi];
        const int64_t rots[] = {hd, hd / 2 - (hd / 2) % 2, 2};
        for (size_t ri = 0; ri < 3; ri++)
            for (size_t pi = 0; pi < sizeof POSITIONS / sizeof POSITIONS[0]; pi++)
                for (int64_t n_head = 1; n_head <= 4; n_head += 3) {
                    const int64_t n_rot = rots[ri];
                    if (n_rot == 0)
                        continue;
                    kv_rope_cos_sin(cs, n_rot, POSITIONS[pi], 10000.0f, 1.0f, NULL);
                    fill(x, n_head * hd, 3.0f);
                    memcpy(want, x, sizeof x);
                    memcpy(got, x, sizeof x);
                    kv_rope_ref(want, n_head, hd, n_rot, cs);
                    kv_rope_avx2(got, n_head, hd, n_rot, cs);
                    check_bits(got, want, (size_t)(n_head * hd) * 4, "rope");
                }
    }
}

// ---- attention's F16 pieces and the conversions ----

static void test_axpy_f16(void **state) {
    (void)state;
    NEED_AVX2();
    static const float A[] = {0.0f, 1.0f, -0.375f, 3e-3f, 1e30f, -1e-30f};
    kv_f16 *v = malloc(N_MAX * 2);
    float *want = malloc(N_MAX * 4), *got = malloc(N_MAX * 4);
    rng_state = 6;
    for (size_t si = 0; si < N_SIZES; si++)
        for (size_t ai = 0; ai < sizeof A / sizeof A[0]; ai++) {
            const int64_t n = SIZES[si];
            for (int64_t i = 0; i < n; i++) // every half bit pattern: subnormals, Inf, NaN
                v[i] = (kv_f16)(urand() * 65536);
            fill(want, n, 10.0f);
            memcpy(got, want, (size_t)n * 4);
            kv_axpy_f16_ref(n, want, A[ai], v);
            kv_axpy_f16_avx2(n, got, A[ai], v);
            check_bits(got, want, (size_t)n * 4, "axpy_f16");
        }
    free(v), free(want), free(got);
}

// The block version: row after row of axpy_f16, bit for bit, zero weights
// skipped (a zero times an Inf or NaN half would otherwise poison y).
static void test_axpy_f16_rows(void **state) {
    (void)state;
    NEED_AVX2();
    enum { ROWS = 16, STRIDE = 300 };
    static const int64_t N[] = {1, 7, 8, 63, 64, 65, 128, 200, 256};
    kv_f16 *v = malloc(ROWS * STRIDE * 2);
    float a[ROWS], want[STRIDE], got[STRIDE];
    rng_state = 7;
    for (size_t ni = 0; ni < sizeof N / sizeof N[0]; ni++)
        for (int rows = 1; rows <= ROWS; rows += 5) {
            const int64_t n = N[ni];
            for (int64_t i = 0; i < ROWS * STRIDE; i++)
                v[i] = (kv_f16)(urand() * 65536);
            for (int r = 0; r < ROWS; r++)
                a[r] = r % 3 == 0 ? 0.0f : (float)(urand() - 0.5);
            fill(want, n, 10.0f);
            memcpy(got, want, (size_t)n * 4);
            for (int r = 0; r < rows; r++)
                if (a[r] != 0.0f)
                    kv_axpy_f16_avx2(n, want, a[r], v + r * STRIDE);
            kv_axpy_f16_rows_avx2(n, rows, STRIDE, v, a, got);
            check_bits(got, want, (size_t)n * 4, "axpy_f16_rows");
        }
    free(v);
}

// Floats of every kind: random bit patterns, then ties and edges of the F16 and
// BF16 roundings, subnormals, infinities, quiet and signaling NaN.
static void fill_float_bits(float *x, int64_t n) {
    static const uint32_t EDGE[] = {0x00000000u, 0x80000000u, 0x00000001u, 0x807fffffu,
                                    0x7f800000u, 0xff800000u, 0x7fc00000u, 0xffc01234u,
                                    0x7fa00001u, 0x477ff000u, 0x477fefffu, 0x38800000u,
                                    0x33000000u, 0x33000001u, 0x3f808000u, 0x3f818000u,
                                    0x7f7fffffu, 0x3f801000u, 0x3f803000u, 0x387fc000u};
    for (int64_t i = 0; i < n; i++) {
        const bool edge = i < (int64_t)(sizeof EDGE / sizeof EDGE[0]);
        const uint32_t u = edge ? EDGE[i] : (uint32_t)(urand() * 4294967296.0);
        x[i] = kv_f32_from_bits(u);
    }
}

static void test_convert(void **state) {
    (void)state;
    NEED_AVX2();
    float *x = malloc(N_MAX * 4);
    uint16_t *hw = malloc(N_MAX * 2), *hg = malloc(N_MAX * 2);
    rng_state = 7;
    for (size_t si = 0; si < N_SIZES; si++) {
        const int64_t n = SIZES[si];
        for (int rep = 0; rep < 8; rep++) {
            fill_float_bits(x, n);
            kv_from_float_f16_ref(x, hw, n);
            kv_from_float_f16_avx2(x, hg, n);
            check_bits(hg, hw, (size_t)n * 2, "from_float F16");
            kv_from_float_bf16_ref(x, hw, n);
            kv_from_float_bf16_avx2(x, hg, n);
            check_bits(hg, hw, (size_t)n * 2, "from_float BF16");
        }
    }
    // every 16-bit pattern back to float. F16C quiets signaling NaN halves
    // (exponent 31, top mantissa bit clear), which the reference keeps signaling:
    // both are NaN with the same payload otherwise.
    uint16_t *all = malloc(65536 * 2);
    float *fw = malloc(65536 * 4), *fg = malloc(65536 * 4);
    for (int i = 0; i < 65536; i++)
        all[i] = (uint16_t)i;
    kv_to_float_bf16_ref(all, fw, 65536);
    kv_to_float_bf16_avx2(all, fg, 65536);
    check_bits(fg, fw, 65536 * 4, "to_float BF16");
    kv_to_float_f16_ref(all, fw, 65536);
    kv_to_float_f16_avx2(all, fg, 65536);
    for (int i = 0; i < 65536; i++) {
        const bool snan = (i & 0x7c00) == 0x7c00 && (i & 0x3ff) != 0 && (i & 0x200) == 0;
        const uint32_t w = kv_f32_bits(fw[i]) | (snan ? 0x00400000u : 0), g = kv_f32_bits(fg[i]);
        if (w != g)
            fail_msg("to_float F16 of 0x%04x: 0x%08x, reference 0x%08x", i, g, kv_f32_bits(fw[i]));
    }
    free(all), free(fw), free(fg);
    free(x), free(hw), free(hg);
}

static void test_dot_f16_f32(void **state) {
    (void)state;
    NEED_AVX2();
    float *q = malloc(N_MAX * 4), *kf = malloc(N_MAX * 4);
    kv_f16 *k = malloc(N_MAX * 2);
    rng_state = 8;
    for (size_t si = 0; si < N_SIZES; si++) {
        const int64_t n = SIZES[si];
        for (int rep = 0; rep < 4; rep++) {
            fill(kf, n, rep == 3 ? 60000.0f : 4.0f);
            fill(q, n, rep == 2 ? 1e-30f : 2.0f);
            kv_from_float_f16_ref(kf, k, n);
            kv_to_float_f16_ref(k, kf, n);
            double mag = 0;
            for (int64_t i = 0; i < n; i++)
                mag += fabs((double)kf[i] * q[i]);
            float want, got;
            kv_dot_f16_f32_ref(n, &want, k, q);
            kv_dot_f16_f32_avx2(n, &got, k, q);
            const double tol = (2.0 * (double)n / 32 + TOL_DOT_ROUNDINGS) * 0x1p-24 * mag +
                               (double)n * FLT_TRUE_MIN;
            if (!(fabs((double)got - want) <= tol))
                fail_msg("dot_f16_f32 (n=%lld): %.9g, reference %.9g (tolerance %.3g)",
                         (long long)n, got, want, tol);
        }
    }
    free(q), free(kf), free(k);
}

// ---- the table ----

// A loose bound for a slot against the reference slot: the per-kernel
// tolerances are checked in test_kernels_avx2.c; here the point is that each
// slot's converter, dot and activation type fit together.
#define TOL_SLOT_REL 1e-4

static void test_table(void **state) {
    (void)state;
    NEED_AVX2();
    unsetenv("KVANT_KERNELS");
    // the widest x86 table the CPU runs (avx512/ and amx/ build on this one)
    assert_string_equal(kv_kernels_get()->name, kv__cpu_has_amx()      ? "amx"
                                                : kv__cpu_has_avx512() ? "avx512"
                                                : kv__cpu_has_avxvnni() ? "avx2-vnni"
                                                                        : "avx2");
    const kv_kernels *ref = kv_kernels_ref();
    kv_kernels k = *ref;
    kv__kernels_fill_avx2(&k, false);
    assert_string_equal(k.name, "avx2");
    assert_true(k.rmsnorm != ref->rmsnorm && k.softmax != ref->softmax && k.rope != ref->rope);
    assert_true(k.silu_mul != ref->silu_mul && k.add != ref->add);
    assert_true(k.axpy_f16 != ref->axpy_f16 && k.dot_f16_f32 != ref->dot_f16_f32);
    enum { N = 1024 };
    float *wf = malloc(N * 4), *xf = malloc(N * 4);
    uint8_t *wq = malloc(N * 4), *xr = malloc(N * 4), *xa = malloc(N * 4);
    float *deq = malloc(N * 4);
    rng_state = 9;
    int n_simd = 0;
    for (int t = 0; t < KV_TYPE_COUNT; t++) {
        assert_int_equal(k.types[t].vec_dot_type, ref->types[t].vec_dot_type);
        assert_true((k.types[t].vec_dot == NULL) == (ref->types[t].vec_dot == NULL));
        if (k.types[t].vec_dot == ref->types[t].vec_dot)
            continue; // the dequantizing fallback: the same slot
        n_simd++;
        const kv_type act = k.types[t].vec_dot_type;
        fill(wf, N, 1.0f);
        fill(xf, N, 3.0f);
        kv_err err;
        // The lattice i-quants that need importance weights get uniform ones.
        static float ones[N];
        for (int i = 0; i < N; i++)
            ones[i] = 1.0f;
        const bool needs_im = t == KV_TYPE_IQ2_XXS || t == KV_TYPE_IQ2_XS || t == KV_TYPE_IQ1_S;
        assert_int_equal(kv_quant_rows((kv_type)t, wf, wq, 1, N, needs_im ? ones : NULL, &err),
                         KV_OK);
        ref->from_float[act](xf, xr, N);
        k.from_float[act](xf, xa, N);
        assert_memory_equal(xa, xr, kv_type_row_size(act, N));
        float want, got;
        ref->types[t].vec_dot(N, &want, wq, xr);
        k.types[t].vec_dot(N, &got, wq, xa);
        assert_int_equal(kv_dequant_row((kv_type)t, wq, deq, N, &err), KV_OK);
        double mag = 0;
        for (int i = 0; i < N; i++)
            mag += fabs((double)deq[i] * xf[i]);
        if (!(fabs((double)got - want) <= TOL_SLOT_REL * mag))
            fail_msg("%s slot: %.9g, reference %.9g", kv_type_name((uint32_t)t), got, want);
    }
    assert_int_equal(n_simd, 24); // every type of dot_q.c, dot_k.c, dot_f16.c, dot_iq.c and dot_iq3.c
    for (int t = 0; t < KV_TYPE_COUNT; t++) {
        assert_true((k.from_float[t] == NULL) == (ref->from_float[t] == NULL));
        assert_true((k.to_float[t] == NULL) == (ref->to_float[t] == NULL));
    }
    free(wf), free(xf), free(wq), free(xr), free(xa), free(deq);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_rmsnorm),   cmocka_unit_test(test_softmax),
        cmocka_unit_test(test_silu_mul),  cmocka_unit_test(test_add),
        cmocka_unit_test(test_rope),      cmocka_unit_test(test_axpy_f16),
        cmocka_unit_test(test_axpy_f16_rows),
        cmocka_unit_test(test_convert),   cmocka_unit_test(test_dot_f16_f32),
        cmocka_unit_test(test_table),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}

#else // not x86-64: the AVX2 kernels are not built

static void test_not_x86(void **state) {
    (void)state;
    print_message("skipped: the AVX2 kernels exist only on x86-64\n");
    skip();
}

int main(void) {
    const struct CMUnitTest tests[] = {cmocka_unit_test(test_not_x86)};
    return cmocka_run_group_tests(tests, NULL, NULL);
}

#endif
