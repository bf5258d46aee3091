// IQ3_XXS and IQ3_S: the 4-wide grids' defining properties (point counts, the
// per-level histogram of a coordinate, the format's byte table by digest), the
// map and neighbour lists against a brute-force search, hand-built blocks
// dequantized, round trips within bounds, ggml's quirks (implied sign, zero
// groups), and row-split independence. Bit-exactness with llama.cpp on real
// tensors is tests/golden/test_golden_iq3.c.
#include "quant/quant_int.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "kv_rand.h"
#include "kv_test.h"
#include "kvant/kv_blocks.h"
#include "kvant/kv_quant.h"
#include "kvant/kv_types.h"
#include "quant/grid4.h"

// ---- the grids ----

typedef struct {
    int size;
    kv_type type;
    int n_nearest;        // distinct distances in a neighbour list
    int level_count[8];   // points with coordinate 0 at each level
    const char *sha256;   // of the points as ggml's little-endian uint32 table
} grid_case;

static const grid_case GRIDS[] = {
    {256, KV_TYPE_IQ3_XXS, 2, {57, 40, 45, 29, 25, 24, 15, 21},
     "46e35f5a997efdee6c99ce57854c8a0d4f0ff8ca57e5e8a60c0793ea580acf5d"},
    {512, KV_TYPE_IQ3_S, 3, {105, 95, 84, 65, 52, 47, 26, 38},
     "bd1af4945a1717c65610b0284e4628b9a1ba3b306fae3a06f6e5f597356e349f"},
};

static void test_grid_properties(void **s) {
    (void)s;
    for (size_t c = 0; c < sizeof GRIDS / sizeof GRIDS[0]; c++) {
        const grid_case *gc = &GRIDS[c];
        const kv__grid4 *g = kv__grid4_get(gc->size);
        assert_non_null(g);
        assert_int_equal(g->size, gc->size);
        uint16_t codes[512];
        kv__grid4_codes(gc->size, codes);
        int hist[8] = {0};
        int n_points = 0;
        for (int code = 0; code < 4096; code++)
            n_points += g->map[code] >= 0;
        assert_int_equal(n_points, gc->size); // the bitmap holds exactly size points
        for (int i = 0; i < gc->size; i++) {
            if (i > 0)
                assert_true(codes[i] > codes[i - 1]); // ascending, so unique
            assert_int_equal(g->map[codes[i]], i);
            for (int j = 0; j < 4; j++) {
                const int l = (codes[i] >> (3 * j)) & 7;
                assert_int_equal(g->odd[i][j], 2 * l + 1);
            }
            hist[codes[i] & 7]++;
        }
        assert_memory_equal(hist, gc->level_count, sizeof hist);
        // every level occurs in every coordinate; the lowest point is a point
        for (int j = 0; j < 4; j++)
            for (int l = 0; l < 8; l++) {
                bool found = false;
                for (int i = 0; i < gc->size && !found; i++)
                    found = ((codes[i] >> (3 * j)) & 7) == l;
                assert_true(found);
            }
        assert_int_equal(g->map[0], 0);
        // the format's table, byte for byte
        const uint32_t *grid = kv__iq3_grid(gc->type);
        assert_non_null(grid);
        uint8_t bytes[512 * 4];
        for (int i = 0; i < gc->size; i++)
            for (int b = 0; b < 4; b++)
                bytes[4 * i + b] = (uint8_t)(grid[i] >> (8 * b));
        char sha[65];
        kv_test_sha256_hex(bytes, (size_t)gc->size * 4, sha);
        assert_string_equal(sha, gc->sha256);
    }
    assert_null(kv__grid4_get(128));
    assert_null(kv__iq3_grid(KV_TYPE_Q4_K));
}

static int dist2(const int8_t *p, int code) {
    int d = 0;
    for (int j = 0; j < 4; j++) {
        const int e = p[j] - (2 * ((code >> (3 * j)) & 7) + 1);
        d += e * e;
    }
    return d;
}

static int cmp_pair(const void *a, const void *b) {
    const int *x = a, *y = b;
    return x[0] != y[0] ? (x[0] < y[0] ? -1 : 1) : (x[1] < y[1] ? -1 : x[1] > y[1]);
}

// Every off-grid code's list: all points within its n_nearest smallest distinct
// distances, by distance then index (sorted pairs here, unlike grid4.c).
static void test_neighbour_lists(void **s) {
    (void)s;
    for (size_t c = 0; c < sizeof GRIDS / sizeof GRIDS[0]; c++) {
        const kv__grid4 *g = kv__grid4_get(GRIDS[c].size);
        static int pairs[512][2];
        for (int code = 0; code < 4096; code++) {
            if (g->map[code] >= 0)
                continue;
            for (int i = 0; i < g->size; i++) {
                pairs[i][0] = dist2(g->odd[i], code);
                pairs[i][1] = i;
            }
            qsort(pairs, (size_t)g->size, sizeof pairs[0], cmp_pair);
            int n = 0;
            for (int k = 0, d = -1; n < g->size; n++) {
                if (pairs[n][0] != d) {
                    if (k == GRIDS[c].n_nearest)
                        break;
                    d = pairs[n][0];
                    k++;
                }
            }
            const uint16_t *list = g->neighbours + (-g->map[code] - 1);
            assert_int_equal(list[0], n);
            for (int k = 0; k < n; k++)
                assert_int_equal(list[1 + k], pairs[k][1]);
        }
    }
}

// ---- blocks by hand ----

static void test_dequant_by_hand(void **s) {
    (void)s;
    kv_block_iq3_xxs x;
    memset(&x, 0, sizeof x);
    x.d = kv_f32_to_f16(2.0f);
    // group 0: scale level 3 -> db = 2 * 3.5 / 2 = 3.5; tuple 0 = point 0 (levels
    // 0,0,0,0 -> value 4); sign field 0 of group 0 = 1 (weight 0 negative, so the
    // implied 8th sign is negative too)
    x.qs[0] = 0;
    const uint32_t v = 1u | (3u << 28);
    memcpy(x.qs + 64, &v, 4);
    float y[256];
    kv_err err;
    assert_int_equal(kv_dequant_row(KV_TYPE_IQ3_XXS, &x, y, 256, &err), KV_OK);
    assert_float_equal(y[0], -14.0f, 0);
    assert_float_equal(y[1], 14.0f, 0);
    assert_float_equal(y[7], -3.5f * (float)((kv__iq3_grid(KV_TYPE_IQ3_XXS)[0] >> 24) & 255), 0);
    assert_float_equal(y[32], 2.0f * 0.5f * 0.5f * 4, 0); // group 1: ls 0

    kv_block_iq3_s z;
    memset(&z, 0, sizeof z);
    z.d = kv_f32_to_f16(1.0f);
    z.scales[0] = 0x21;  // group 0: 2*1+1 = 3, group 1: 2*2+1 = 5
    z.qs[0] = 1;         // tuple 0: point 1 | 256 (qh bit) = point 257
    z.qh[0] = 1;
    z.signs[0] = 0x02;   // weight 1 negative
    const uint32_t p = kv__iq3_grid(KV_TYPE_IQ3_S)[257];
    assert_int_equal(kv_dequant_row(KV_TYPE_IQ3_S, &z, y, 256, &err), KV_OK);
    assert_float_equal(y[0], 3.0f * (float)(p & 255), 0);
    assert_float_equal(y[1], -3.0f * (float)((p >> 8) & 255), 0);
    assert_float_equal(y[32], 5.0f, 0); // group 1, point 0: value 1
}

// ---- quantizing ----

static uint64_t rng;

static void fill_gauss(float *x, int n, uint64_t seed) {
    rng = seed;
    for (int i = 0; i < n; i++) {
        const double u = ((double)(kv_rand_next(&rng) >> 11) + 0.5) / 9007199254740992.0;
        const double v = (double)(kv_rand_next(&rng) >> 11) / 9007199254740992.0;
        x[i] = (float)(sqrt(-2 * log(u)) * cos(6.283185307179586 * v));
    }
}

static double rel_rmse(kv_type t, const float *x, int n, const float *imatrix) {
    void *q = malloc(kv_type_row_size(t, n));
    float *y = malloc((size_t)n * sizeof *y);
    kv_err err;
    assert_int_equal(kv_quant_rows(t, x, q, 1, n, imatrix, &err), KV_OK);
    assert_int_equal(kv_dequant_row(t, q, y, n, &err), KV_OK);
    double e = 0, s = 0;
    for (int i = 0; i < n; i++) {
        e += (double)(x[i] - y[i]) * (x[i] - y[i]);
        s += (double)x[i] * x[i];
    }
    free(q);
    free(y);
    return sqrt(e / s);
}

// Bounds: measured on this data (IQ3_XXS 0.218, IQ3_S 0.168 without imatrix) plus margin.
static void test_round_trip(void **s) {
    (void)s;
    enum { N = 4096 };
    static float x[N], w[N];
    fill_gauss(x, N, 7);
    for (int i = 0; i < N; i++)
        w[i] = 0.1f + (float)(i % 7);
    const double xxs = rel_rmse(KV_TYPE_IQ3_XXS, x, N, NULL);
    const double s3 = rel_rmse(KV_TYPE_IQ3_S, x, N, NULL);
    print_message("rel rmse: IQ3_XXS %.4f, IQ3_S %.4f\n", xxs, s3);
    assert_true(xxs < 0.25);
    assert_true(s3 < 0.21);
    assert_true(s3 < xxs); // more bits, less error
    assert_true(rel_rmse(KV_TYPE_IQ3_XXS, x, N, w) < 0.3);
    assert_true(rel_rmse(KV_TYPE_IQ3_S, x, N, w) < 0.25);
}

static void test_zero_and_signs(void **s) {
    (void)s;
    float x[256] = {0};
    kv_block_iq3_xxs a;
    kv_block_iq3_s b;
    kv_err err;
    const uint8_t zero[sizeof b] = {0};
    assert_int_equal(kv_quant_rows(KV_TYPE_IQ3_XXS, x, &a, 1, 256, NULL, &err), KV_OK);
    assert_memory_equal(&a, zero, sizeof a);
    assert_int_equal(kv_quant_rows(KV_TYPE_IQ3_S, x, &b, 1, 256, NULL, &err), KV_OK);
    assert_memory_equal(&b, zero, sizeof b);
    // IQ3_S: group 0 all zero leaves its quant and sign bytes to group 1 (ggml
    // advances those cursors only over groups it writes); qh stays by group.
    float y[256];
    fill_gauss(y, 256, 3);
    memcpy(x + 32, y + 32, 224 * sizeof(float));
    kv_block_iq3_s full, shifted;
    memcpy(x, y, 32 * sizeof(float));
    assert_int_equal(kv_quant_rows(KV_TYPE_IQ3_S, x, &full, 1, 256, NULL, &err), KV_OK);
    memset(x, 0, 32 * sizeof(float));
    assert_int_equal(kv_quant_rows(KV_TYPE_IQ3_S, x, &shifted, 1, 256, NULL, &err), KV_OK);
    assert_memory_equal(shifted.qs, full.qs + 8, 7 * 8);
    assert_memory_equal(shifted.signs, full.signs + 4, 7 * 4);
    assert_memory_equal(shifted.qh + 1, full.qh + 1, 7);
    assert_int_equal(shifted.qh[0], 0);
    // IQ3_XXS: an odd count of negatives in 8 flips the least important one
    float v[256];
    for (int i = 0; i < 256; i++)
        v[i] = 1.0f + (float)(i % 8) * 0.1f;
    v[3] = -v[3]; // one negative in the first 8: the smallest, v[0], becomes negative
    assert_int_equal(kv_quant_rows(KV_TYPE_IQ3_XXS, v, &a, 1, 256, NULL, &err), KV_OK);
    assert_int_equal(a.qs[64] & 127, (1 << 3) | (1 << 0));
}

// Any split of the rows gives the same bytes (the threads split rows).
static void test_row_split(void **s) {
    (void)s;
    enum { ROWS = 6, N = 512 };
    static float x[ROWS * N];
    fill_gauss(x, ROWS * N, 11);
    const kv_type types[] = {KV_TYPE_IQ3_XXS, KV_TYPE_IQ3_S};
    for (int t = 0; t < 2; t++) {
        const size_t row = kv_type_row_size(types[t], N);
        uint8_t *a = malloc(row * ROWS), *b = malloc(row * ROWS);
        kv_err err;
        assert_int_equal(kv_quant_rows(types[t], x, a, ROWS, N, NULL, &err), KV_OK);
        for (int r = 0; r < ROWS; r++)
            assert_int_equal(kv_quant_rows(types[t], x + r * N, b + r * row, 1, N, NULL, &err),
                             KV_OK);
        assert_memory_equal(a, b, row * ROWS);
        free(a);
        free(b);
    }
}

// Hostile but finite input: huge and tiny values, zero and negative importance
// weights (ggml would abort on some of these): quantizing succeeds, the blocks
// decode, and nothing reads or writes out of bounds (the ASan/UBSan build).
static void test_hostile_input(void **s) {
    (void)s;
    enum { N = 1024 };
    static float x[N], w[N], y[N];
    fill_gauss(x, N, 5);
    for (int i = 0; i < N; i++) {
        if (i % 97 == 0)
            x[i] = 1e30f;
        if (i % 89 == 0)
            x[i] = -1e-30f;
        w[i] = i % 3 == 0 ? 0.0f : (i % 3 == 1 ? -1.0f : 1e30f);
    }
    for (int i = 256; i < 512; i++)
        w[i] = 0; // a block without any importance
    const kv_type types[] = {KV_TYPE_IQ3_XXS, KV_TYPE_IQ3_S};
    for (int t = 0; t < 2; t++) {
        uint8_t *q = malloc(kv_type_row_size(types[t], N));
        kv_err err;
        assert_int_equal(kv_quant_rows(types[t], x, q, 1, N, w, &err), KV_OK);
        assert_int_equal(kv_quant_rows(types[t], x, q, 1, N, NULL, &err), KV_OK);
        assert_int_equal(kv_dequant_row(types[t], q, y, N, &err), KV_OK);
        free(q);
    }
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_grid_properties), cmocka_unit_test(test_neighbour_lists),
        cmocka_unit_test(test_dequant_by_hand), cmocka_unit_test(test_round_trip),
        cmocka_unit_test(test_zero_and_signs),  cmocka_unit_test(test_row_split),
        cmocka_unit_test(test_hostile_input),
    };
    return cmocka_run_group_tests_name("quant_iq3", tests, NULL, NULL);
}
