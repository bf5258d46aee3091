// kv_f16_to_f32_row's F16C path against its scalar twin: every half (normal,
// subnormal, zero of both signs, Inf, NaN with its payload) converts to the same
// float bits, at every alignment and tail length.
#include "core/core_int.h"

#include <stdlib.h>
#include <string.h>

#include "kv_test.h"

#define N_ALL 0x10000

static void check_same(const kv_f16 *x, int64_t n) {
    float *a = malloc(sizeof(float) * (size_t)(n + 1));
    float *b = malloc(sizeof(float) * (size_t)(n + 1));
    float *c = malloc(sizeof(float) * (size_t)(n + 1));
    assert_non_null(a);
    assert_non_null(b);
    assert_non_null(c);
    memset(b, 0xA5, sizeof(float) * (size_t)(n + 1));
    kv__f16_to_f32_row_ref(x, a, n);
    kv__f16_to_f32_row_f16c(x, b, n);
    kv_f16_to_f32_row(x, c, n);
    assert_memory_equal(a, b, sizeof(float) * (size_t)n);
    assert_memory_equal(a, c, sizeof(float) * (size_t)n);
    assert_int_equal(kv_f32_bits(b[n]), 0xA5A5A5A5u); // nothing written past n
    free(a);
    free(b);
    free(c);
}

static void test_every_half(void **state) {
    (void)state;
    if (!kv__have_f16c())
        print_message("f16_to_f32_row: no F16C here, the fast path is the twin itself\n");
    kv_f16 *x = malloc(sizeof(kv_f16) * N_ALL);
    assert_non_null(x);
    for (uint32_t h = 0; h < N_ALL; h++)
        x[h] = (kv_f16)h;
    check_same(x, N_ALL);
    // the same values scattered, so that groups of 8 mix Inf/NaN with finite ones
    for (uint32_t h = 0; h < N_ALL; h++)
        x[h] = (kv_f16)(h * 40503u);
    check_same(x, N_ALL);
    free(x);
}

static void test_offsets_and_tails(void **state) {
    (void)state;
    kv_f16 x[64];
    for (int i = 0; i < 64; i++)
        x[i] = (kv_f16)(0x3c00 + 37 * i);
    x[13] = 0x7e01; // a quiet NaN with a payload
    x[29] = 0x7c01; // a signalling one
    x[40] = 0xfc00; // -Inf
    x[47] = 0x0001; // the smallest subnormal
    x[50] = 0x8000; // -0
    for (int off = 0; off < 8; off++)
        for (int n = 0; off + n <= 64; n++)
            check_same(x + off, n);
    float y;
    kv__f16_to_f32_row_f16c(x + 29, &y, 1);
    assert_int_equal(kv_f32_bits(y), 0x7f802000u); // payload kept, not quieted
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_every_half),
        cmocka_unit_test(test_offsets_and_tails),
    };
    return cmocka_run_group_tests_name("core_f16_row", tests, NULL, NULL);
}
