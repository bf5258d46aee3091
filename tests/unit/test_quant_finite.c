// kv_quant_rows' input check: kv__find_nonfinite's AVX2 path and dispatcher
// against the scalar twin, and all three against the planted position of the
// first Inf or NaN, at every length and offset up to a few groups of 32.
#include "quant/quant_int.h"

#include <float.h>
#include <math.h>

#include "kv_rand.h"
#include "kv_test.h"

#define N_MAX 160

static void test_first_nonfinite(void **state) {
    (void)state;
    uint64_t rs = 31;
    float x[N_MAX];
    const float specials[] = {INFINITY, -INFINITY, NAN, -NAN};
    const float edges[] = {FLT_MAX, -FLT_MAX, 1e-45f, -0.0f, 0.0f, 3e38f};
    for (int c = 0; c < 4000; c++) {
        const int n = c % (N_MAX + 1);
        for (int i = 0; i < n; i++)
            x[i] = kv_rand_u01(&rs) < 0.1 ? edges[(int)(kv_rand_u01(&rs) * 6)]
                                          : (float)(kv_rand_u01(&rs) - 0.5) * 1e4f;
        int64_t want = -1;
        if (n > 0 && c % 3 != 0) { // plant one or two, the first decides
            const int at = (int)(kv_rand_u01(&rs) * n);
            x[at] = specials[c % 4];
            want = at;
            if (c % 5 == 0 && at + 1 < n) {
                const int later = at + 1 + (int)(kv_rand_u01(&rs) * (n - at - 1));
                x[later] = specials[(c + 1) % 4];
            }
        }
        assert_int_equal(kv__find_nonfinite_ref(x, n), want);
        assert_int_equal(kv__find_nonfinite(x, n), want);
#if defined(__x86_64__) && (defined(__GNUC__) || defined(__clang__))
        if (__builtin_cpu_supports("avx2"))
            assert_int_equal(kv__find_nonfinite_avx2(x, n), want);
#endif
    }
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_first_nonfinite),
    };
    return cmocka_run_group_tests_name("quant_finite", tests, NULL, NULL);
}
