// F16/BF16 conversions: exact round trips, rounding ties to even, special values.
#include "kvant/kv_f16.h"

#include <math.h>

#include "kv_test.h"

static void test_f16_roundtrip_all(void **state) {
    (void)state;
    // Every finite half converts to float and back to the same bits.
    for (uint32_t h = 0; h < 0x10000u; h++) {
        if ((h & 0x7c00u) == 0x7c00u && (h & 0x3ffu))
            continue; // NaN payloads are normalised
        float f = kv_f16_to_f32((kv_f16)h);
        assert_int_equal(kv_f32_to_f16(f), h);
    }
}

static void test_f16_rounding(void **state) {
    (void)state;
    assert_int_equal(kv_f32_to_f16(1.0f), 0x3c00);
    assert_int_equal(kv_f32_to_f16(-2.0f), 0xc000);
    assert_int_equal(kv_f32_to_f16(65504.0f), 0x7bff);
    assert_int_equal(kv_f32_to_f16(65520.0f), 0x7c00); // rounds up to Inf
    assert_int_equal(kv_f32_to_f16(65519.0f), 0x7bff);
    // 1 + 2^-11 is halfway between 1 and 1+2^-10: ties to even (1.0)
    assert_int_equal(kv_f32_to_f16(1.0f + ldexpf(1.0f, -11)), 0x3c00);
    // 1 + 3*2^-11 is halfway between 1+2^-10 and 1+2^-9: ties to even (up)
    assert_int_equal(kv_f32_to_f16(1.0f + 3 * ldexpf(1.0f, -11)), 0x3c02);
    assert_int_equal(kv_f32_to_f16(ldexpf(1.0f, -24)), 0x0001);  // smallest subnormal
    assert_int_equal(kv_f32_to_f16(ldexpf(1.0f, -25)), 0x0000);  // tie to even: zero
    assert_int_equal(kv_f32_to_f16(ldexpf(1.5f, -25)), 0x0001);
    assert_int_equal(kv_f32_to_f16(INFINITY), 0x7c00);
    assert_true((kv_f32_to_f16(NAN) & 0x7c00u) == 0x7c00u && (kv_f32_to_f16(NAN) & 0x3ffu));
}

static void test_bf16(void **state) {
    (void)state;
    assert_int_equal(kv_f32_to_bf16(1.0f), 0x3f80);
    // 1 + 2^-8 is a tie between bf16 neighbours: to even (1.0)
    assert_int_equal(kv_f32_to_bf16(1.0f + ldexpf(1.0f, -8)), 0x3f80);
    assert_int_equal(kv_f32_to_bf16(1.0f + 3 * ldexpf(1.0f, -8)), 0x3f82);
    assert_true(isnan(kv_bf16_to_f32(kv_f32_to_bf16(NAN))));
    for (uint32_t h = 0; h < 0x10000u; h++) {
        if ((h & 0x7f80u) == 0x7f80u && (h & 0x7fu))
            continue;
        assert_int_equal(kv_f32_to_bf16(kv_bf16_to_f32((kv_bf16)h)), h);
    }
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_f16_roundtrip_all),
        cmocka_unit_test(test_f16_rounding),
        cmocka_unit_test(test_bf16),
    };
    return cmocka_run_group_tests_name("core_f16", tests, NULL, NULL);
}
