// kv__kq_fit_sym_x16 (the 16 sub-block fits of a Q3_K/Q6_K super-block side by
// side) against its scalar twin, 16 calls of kv__kq_fit_sym: the same levels and
// the same scale bits, for the AVX2 and AVX-512 paths where the CPU has them and
// for the dispatcher, with Q6_K's (nmax 32) and Q3_K's (nmax 4) parameters, with
// and without weights, on random blocks of many magnitudes and on zero, constant,
// tiny (around the all-zero threshold, subnormal) and huge (x^2 overflows) ones.
#include "quant/kquant_util.h"

#include <math.h>
#include <string.h>

#include "kv_rand.h"
#include "kv_test.h"

typedef void (*fit_fn)(const float x[256], const float *w, int nmax, int8_t L[256],
                       float scales[16]);

// Fills sub-block j of x as case kind says, at magnitude mag.
static void fill_sub(float *xs, int kind, float mag, uint64_t *rs) {
    for (int i = 0; i < 16; i++)
        xs[i] = (float)(kv_rand_u01(rs) * 2.0 - 1.0) * mag;
    switch (kind) {
    case 1: // all zero, with a negative zero
        for (int i = 0; i < 16; i++)
            xs[i] = i == 3 ? -0.0f : 0.0f;
        break;
    case 2: // constant, either sign
        for (int i = 0; i < 16; i++)
            xs[i] = xs[0] < 0 ? -mag : mag;
        break;
    case 3: // a tie of magnitudes with opposite signs: the first one's sign wins
        xs[2] = mag;
        xs[9] = -mag;
        break;
    case 4: // around the all-zero threshold (1e-15)
        for (int i = 0; i < 16; i++)
            xs[i] *= 1e-15f / (mag > 0 ? mag : 1.0f) * (i & 1 ? 0.999f : 1.001f);
        break;
    case 5: // subnormal
        for (int i = 0; i < 16; i++)
            xs[i] = (float)(kv_rand_u01(rs) * 2.0 - 1.0) * 1e-40f;
        break;
    case 6: // huge: x^2 (the default weight) overflows to Inf
        for (int i = 0; i < 16; i++)
            xs[i] = (float)(kv_rand_u01(rs) * 2.0 - 1.0) * 3e38f;
        break;
    case 7: // one outlier
        xs[(int)(kv_rand_u01(rs) * 16)] = 50.0f * mag;
        break;
    case 8: // values on the level grid, where rounding ties sit
        for (int i = 0; i < 16; i++)
            xs[i] = mag * (float)((int)(kv_rand_u01(rs) * 65) - 32) / 32.0f;
        break;
    default:
        break;
    }
}

static void check_case(const float *x, const float *w, int nmax, fit_fn fn, const char *name) {
    int8_t L_ref[256], L_v[256];
    float s_ref[16], s_v[16];
    memset(L_v, 0x55, sizeof L_v);
    kv__kq_fit_sym_x16_ref(x, w, nmax, L_ref, s_ref);
    fn(x, w, nmax, L_v, s_v);
    if (memcmp(L_ref, L_v, sizeof L_ref) != 0 || memcmp(s_ref, s_v, sizeof s_ref) != 0) {
        for (int j = 0; j < 16; j++)
            if (memcmp(&s_ref[j], &s_v[j], sizeof(float)) != 0 ||
                memcmp(L_ref + 16 * j, L_v + 16 * j, 16) != 0)
                print_message("%s nmax %d w %s: sub-block %d scale %a vs %a\n", name, nmax,
                              w ? "set" : "NULL", j, (double)s_ref[j], (double)s_v[j]);
        fail_msg("%s differs from its scalar twin", name);
    }
}

static void run_cases(fit_fn fn, const char *name, int n_cases) {
    uint64_t rs = 2026;
    float x[256], w[256];
    for (int c = 0; c < n_cases; c++) {
        const float mag = powf(10.0f, (float)(c % 61) - 30.0f); // 1e-30 .. 1e30
        // mixed super-blocks: each sub-block its own kind; every 10th case one kind for all
        const int all = c % 10 == 0 ? (c / 10) % 9 : -1;
        for (int j = 0; j < 16; j++)
            fill_sub(x + 16 * j, all >= 0 ? all : (int)(kv_rand_u01(&rs) * 9), mag, &rs);
        for (int i = 0; i < 256; i++) // imatrix-like weights, some exactly zero
            w[i] = kv_rand_u01(&rs) < 0.05 ? 0.0f
                                            : (float)kv_rand_u01(&rs) * (c & 1 ? 1.0f : 1e6f);
        for (int nm = 0; nm < 2; nm++) {
            const int nmax = nm ? 4 : 32;
            check_case(x, NULL, nmax, fn, name);
            check_case(x, w, nmax, fn, name);
        }
    }
}

static void test_dispatch_twin(void **state) {
    (void)state;
    print_message("fit_sym_x16: this CPU takes path %d (2 AVX-512, 1 AVX2, 0 scalar)\n",
                  kv__kq_sym_x16_level());
    run_cases(kv__kq_fit_sym_x16, "fit_sym_x16", 200); // the path below, or the twin
}

static void test_avx2_twin(void **state) {
    (void)state;
    if (kv__kq_sym_x16_level() < 1) {
        print_message("fit_sym_x16_avx2: no AVX2 on this CPU, nothing to compare\n");
        return;
    }
    run_cases(kv__kq_fit_sym_x16_avx2, "fit_sym_x16_avx2", 700);
}

static void test_avx512_twin(void **state) {
    (void)state;
    if (kv__kq_sym_x16_level() < 2) {
        print_message("fit_sym_x16_avx512: no AVX-512 on this CPU, nothing to compare\n");
        return;
    }
    run_cases(kv__kq_fit_sym_x16_avx512, "fit_sym_x16_avx512", 700);
}

// The twin itself is kv__kq_fit_sym: a constant sub-block is fitted exactly, a
// zero one gets scale 0 and level 0, so the comparison above compares something.
static void test_ref_basics(void **state) {
    (void)state;
    float x[256];
    int8_t L[256];
    float s[16];
    for (int i = 0; i < 256; i++)
        x[i] = i < 16 ? 0.5f : (i < 32 ? 0.0f : (float)(i % 7) - 3.0f);
    kv__kq_fit_sym_x16_ref(x, NULL, 32, L, s);
    for (int i = 0; i < 16; i++)
        assert_float_equal(s[0] * (float)(L[i] - 32), 0.5f, 1e-6f);
    assert_true(s[1] == 0.0f);
    for (int i = 16; i < 32; i++)
        assert_int_equal(L[i], 0);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_ref_basics),
        cmocka_unit_test(test_dispatch_twin),
        cmocka_unit_test(test_avx2_twin),
        cmocka_unit_test(test_avx512_twin),
    };
    return cmocka_run_group_tests_name("quant_sym_x16", tests, NULL, NULL);
}
