// The BF16 dot product's bits on x86: the AVX2 table's kv_dot_bf16_bf16_avx2
// (every x86 table's vec_dot for BF16) against a scalar model of the order its
// comment in avx2/dot_f16.c states (a float FMA chain per position of a
// 32-element step, the chains summed as s0..s3 and hsum_f32, the tail by the
// reference), and the AVX2 register tile and the AVX2 and AVX-512 tables' packed BF16 tiles against that
// dot, pair for pair over every tile shape. The data are bit patterns the uniform
// fixtures of test_kernels_tiles.c never reach: subnormal weights and
// activations, products that underflow or overflow, zeros of both signs, one
// large term among small ones. A NaN must stay a NaN (its sign and payload
// follow the compiler's choice of FMA form, so they are not compared).
#include <math.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "kv_rand.h"
#include "kv_test.h"
#include "kernels/avx2/avx2.h"
#include "kernels/avx512/avx512.h"
#include "kernels/kernels.h"
#include "kernels/ref/dot_ref.h"
#include "kvant/kv_f16.h"

#if defined(__x86_64__)
static uint64_t rng = 0x2545F4914F6CDD1Dull;

static uint16_t rand16(void) { return (uint16_t)(kv_rand_next(&rng) >> 48); }

// A bfloat16 drawn by kind: 0 any bit pattern (Inf and NaN included), 1 unit
// scale, 2 subnormal or tiny (products underflow), 3 huge (products overflow),
// 4 unit scale with signed zeros and an occasional huge value.
static kv_bf16 draw(int kind) {
    const uint16_t r = rand16(), sign = r & 0x8000u, man = r & 0x7Fu;
    switch (kind) {
    case 0:
        return r;
    case 1:
        return sign | (uint16_t)((120u + r % 16u) << 7) | man;
    case 2:
        return sign | (uint16_t)((r % 8u) << 7) | man; // exponents 0..7
    case 3:
        return sign | (uint16_t)((200u + r % 54u) << 7) | man;
    default:
        return r % 16u == 0 ? sign : r % 97u == 0 ? sign | (uint16_t)(230u << 7) | man
                                                  : sign | (uint16_t)((124u + r % 8u) << 7) | man;
    }
}

static float f(kv_bf16 h) { return kv_bf16_to_f32(h); }

static float hsum8(const float v[8]) { // hsum_f32's order
    const float a0 = v[0] + v[4], a1 = v[1] + v[5], a2 = v[2] + v[6], a3 = v[3] + v[7];
    return (a0 + a2) + (a1 + a3);
}

// The documented order, in scalar C with fmaf.
static float model_dot(int64_t n, const kv_bf16 *w, const kv_bf16 *x) {
    float acc[32] = {0};
    int64_t i = 0;
    for (; i + 32 <= n; i += 32)
        for (int p = 0; p < 32; p++)
            acc[p] = fmaf(f(w[i + p]), f(x[i + p]), acc[p]);
    static const int S0[8] = {0, 1, 2, 3, 8, 9, 10, 11}; // s0's positions; s1 = +4
    float v[8];
    for (int k = 0; k < 8; k++) {
        const int p = S0[k];
        v[k] = (acc[p] + acc[p + 4]) + (acc[p + 16] + acc[p + 20]);
    }
    float rest = 0.0f;
    if (i < n)
        kv_dot_bf16_bf16_ref(n - i, &rest, w + i, x + i);
    return hsum8(v) + rest;
}

static bool same(float a, float b) { return (isnan(a) && isnan(b)) || memcmp(&a, &b, sizeof a) == 0; }

static const int64_t SIZES[] = {1, 31, 32, 33, 64, 95, 256, 2048 + 261};
enum { ROWS = 7, MAXN = 2048 + 261 };

static kv_bf16 *rows_of(int kind, int64_t rows, int64_t n) {
    kv_bf16 *v = malloc((size_t)(rows * n) * sizeof *v);
    assert_non_null(v);
    for (int64_t i = 0; i < rows * n; i++)
        v[i] = draw(kind);
    return v;
}

static void test_avx2_dot_order(void **state) {
    (void)state;
    if (!kv__cpu_has_avx2()) {
        print_message("skipped: this CPU lacks AVX2, FMA or F16C\n");
        skip();
    }
    for (int kind = 0; kind < 5; kind++)
        for (size_t s = 0; s < sizeof SIZES / sizeof SIZES[0]; s++) {
            const int64_t n = SIZES[s];
            kv_bf16 *w = rows_of(kind, 4, n), *x = rows_of(kind == 3 ? 1 : kind, 4, n);
            for (int64_t r = 0; r < 4; r++) {
                float got;
                kv_dot_bf16_bf16_avx2(n, &got, w + r * n, x + r * n);
                const float want = model_dot(n, w + r * n, x + r * n);
                if (!same(got, want))
                    fail_msg("kind %d n=%lld row %lld: avx2 %.9g (%a), model %.9g (%a)", kind,
                             (long long)n, (long long)r, got, got, want, want);
            }
            free(w), free(x);
        }
}

// A table's packed BF16 path (pack of up to nw_max rows, tiles of up to
// nx_max activation rows) against the AVX2 dot, every shape, every kind.
static void check_packed(kv_pack_fn pack_fn, size_t (*pack_size)(int64_t), kv_packed_tile_fn tile,
                         int nw_max, int nx_max) {
    enum { YS = 8 };
    assert_true(nw_max <= YS && nx_max <= 4);
    void *pack = malloc(pack_size(MAXN));
    assert_non_null(pack);
    for (int kind = 0; kind < 5; kind++)
        for (size_t s = 0; s < sizeof SIZES / sizeof SIZES[0]; s++) {
            const int64_t n = SIZES[s];
            const size_t rs = (size_t)n * sizeof(kv_bf16);
            kv_bf16 *w = rows_of(kind, ROWS, n), *x = rows_of(kind == 3 ? 1 : kind, ROWS, n);
            for (int nw = 1; nw <= nw_max; nw++)
                for (int nx = 1; nx <= nx_max; nx++) {
                    float y[YS * 4];
                    memset(y, 0xAB, sizeof y);
                    pack_fn(n, w + 2 * n, rs, nw, pack);
                    tile(n, y, YS, pack, nw, x + 3 * n, rs, nx);
                    for (int i = 0; i < nw; i++)
                        for (int j = 0; j < nx; j++) {
                            float want;
                            kv_dot_bf16_bf16_avx2(n, &want, w + (2 + i) * n, x + (3 + j) * n);
                            if (!same(y[j * YS + i], want))
                                fail_msg("kind %d n=%lld %dx%d pair (%d,%d): packed %.9g, dot %.9g",
                                         kind, (long long)n, nw, nx, i, j, y[j * YS + i], want);
                        }
                }
            free(w), free(x);
        }
    free(pack);
}

// The AVX2 register tile (generation's path) over its shapes, the same way.
static void test_avx2_tile(void **state) {
    (void)state;
    if (!kv__cpu_has_avx2()) {
        print_message("skipped: this CPU lacks AVX2, FMA or F16C\n");
        skip();
    }
    for (int kind = 0; kind < 5; kind++)
        for (size_t s = 0; s < sizeof SIZES / sizeof SIZES[0]; s++) {
            const int64_t n = SIZES[s];
            const size_t rs = (size_t)n * sizeof(kv_bf16);
            kv_bf16 *w = rows_of(kind, ROWS, n), *x = rows_of(kind == 3 ? 1 : kind, 1, n);
            for (int nw = 1; nw <= KV_AVX2_TILE_BF16_NW; nw++) {
                float y[KV_AVX2_TILE_BF16_NW];
                kv_tile_bf16_bf16_avx2(n, y, 1, w + n, rs, nw, x, rs, 1);
                for (int i = 0; i < nw; i++) {
                    float want;
                    kv_dot_bf16_bf16_avx2(n, &want, w + (1 + i) * n, x);
                    if (!same(y[i], want))
                        fail_msg("kind %d n=%lld tile %dx1 row %d: %.9g, dot %.9g", kind,
                                 (long long)n, nw, i, y[i], want);
                }
            }
            free(w), free(x);
        }
}

static void test_avx2_packed(void **state) {
    (void)state;
    if (!kv__cpu_has_avx2()) {
        print_message("skipped: this CPU lacks AVX2, FMA or F16C\n");
        skip();
    }
    check_packed(kv_pack_bf16_x3, kv_pack_size_bf16_x3, kv_packed_bf16_bf16_avx2,
                 KV_AVX2_PACK_BF16_NW, KV_AVX2_PACK_BF16_NX);
}

static void test_avx512_packed(void **state) {
    (void)state;
    if (!kv__cpu_has_avx512()) {
        print_message("skipped: this CPU lacks AVX-512 F, BW, VL or VNNI\n");
        skip();
    }
    check_packed(kv_pack_bf16_x4_avx512, kv_pack_size_bf16_x4_avx512, kv_packed_bf16_bf16_avx512,
                 KV_AVX512_PACK_BF16_NW, KV_AVX512_PACK_BF16_NX);
}
#else
static void test_not_x86(void **state) {
    (void)state;
    print_message("skipped: the BF16 kernels checked here are x86-64's\n");
    skip();
}
#endif

int main(void) {
    const struct CMUnitTest tests[] = {
#if defined(__x86_64__)
        cmocka_unit_test(test_avx2_dot_order),
        cmocka_unit_test(test_avx2_tile),
        cmocka_unit_test(test_avx2_packed),
        cmocka_unit_test(test_avx512_packed),
#else
        cmocka_unit_test(test_not_x86),
#endif
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
