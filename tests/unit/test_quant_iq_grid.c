// The 8-wide lattice codebooks (quant/iq_grid.c) and the IQ2 quantizers built
// on them: the codebooks' defining properties (sizes, level sets, order, stored
// byte values, and a fingerprint computed from llama.cpp's own tables), the
// map/neighbour tables against a brute-force reading of their definition, the
// sign parity rule, and IQ2_XXS/IQ2_XS round trips and imatrix refusal.
#include "quant/iq_grid.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "kv_rand.h"
#include "kv_test.h"
#include "kvant/kv_quant.h"

typedef struct {
    kv_iq_grid_id id;
    int n;
    int shells;
    bool iq1;
    uint64_t fnv; // FNV-1a 64 of the stored points' little-endian bytes, from ggml-common.h
} grid_case;

static const grid_case GRIDS[] = {
    {KV_IQ_GRID_IQ2_XXS, 256, 2, false, 0xbb4ee025b5ac6e8eull},
    {KV_IQ_GRID_IQ2_XS, 512, 2, false, 0xc9b1ee61e79909bdull},
    {KV_IQ_GRID_IQ2_S, 1024, 1, false, 0x123edd38a3b62b90ull},
    {KV_IQ_GRID_IQ1_S, 2048, 3, true, 0x6703ed863501ae2eull},
};

static uint64_t fnv1a(const uint64_t *v, int n) {
    uint64_t h = 0xcbf29ce484222325ull;
    for (int i = 0; i < n; i++)
        for (int b = 0; b < 8; b++) {
            h ^= (v[i] >> (8 * b)) & 0xff;
            h *= 0x100000001b3ull;
        }
    return h;
}

static int key_of(const uint8_t *level) {
    int v = 0;
    for (int i = 7; i >= 0; i--)
        v = 3 * v + level[i];
    return v;
}

static void test_codebooks(void **state) {
    (void)state;
    for (size_t c = 0; c < sizeof GRIDS / sizeof GRIDS[0]; c++) {
        const kv__iq_grid *g = kv__iq_grid_get(GRIDS[c].id);
        assert_non_null(g);
        assert_int_equal(g->n, GRIDS[c].n);
        int prev = -1;
        for (int j = 0; j < g->n; j++) {
            const uint8_t *lv = g->level + 8 * j;
            for (int i = 0; i < 8; i++) {
                assert_true(lv[i] <= 2);
                const uint8_t b = (uint8_t)(g->stored[j] >> (8 * i));
                if (GRIDS[c].iq1)
                    assert_int_equal((int8_t)b, (int)lv[i] - 1);
                else
                    assert_int_equal(b, lv[i] == 0 ? 8 : (lv[i] == 1 ? 25 : 43));
            }
            const int key = key_of(lv);
            assert_true(key > prev); // ascending, hence unique
            prev = key;
            assert_int_equal(g->map[key], j);
        }
        assert_true(fnv1a(g->stored, g->n) == GRIDS[c].fnv);
        assert_ptr_equal(kv__iq_grid_u64(GRIDS[c].id), g->stored);
    }
    assert_null(kv__iq_grid_get(KV_IQ_GRID_COUNT));
}

static int dist(const uint8_t *a, int v) {
    int d = 0;
    for (int i = 0; i < 8; i++, v /= 3)
        d += (a[i] - v % 3) * (a[i] - v % 3);
    return d;
}

// Every point off the codebook lists exactly the codebook points in its
// `shells` nearest distance shells, ordered by (distance, index).
static void test_neighbours(void **state) {
    (void)state;
    for (size_t c = 0; c < sizeof GRIDS / sizeof GRIDS[0]; c++) {
        const kv__iq_grid *g = kv__iq_grid_get(GRIDS[c].id);
        int n_off = 0;
        for (int v = 0; v < KV_IQ_GRID_SPACE; v++) {
            if (g->map[v] >= 0)
                continue;
            n_off++;
            const uint16_t *list = g->nb - g->map[v] - 1;
            assert_true(list[0] > 0);
            int shells = 0, last_d = -1, last_j = -1, max_d = -1;
            for (int k = 1; k <= list[0]; k++) {
                const int d = dist(g->level + 8 * list[k], v);
                assert_true(d > last_d || (d == last_d && list[k] > last_j));
                if (d > last_d)
                    shells++;
                last_d = d;
                last_j = list[k];
                max_d = d;
            }
            assert_true(shells <= GRIDS[c].shells);
            // Brute force: count the codebook points within max_d and the
            // distinct distances below it.
            int within = 0;
            bool seen[64] = {false};
            int n_distinct = 0;
            for (int j = 0; j < g->n; j++) {
                const int d = dist(g->level + 8 * j, v);
                if (d <= max_d)
                    within++;
                if (d <= max_d && !seen[d]) {
                    seen[d] = true;
                    n_distinct++;
                }
            }
            assert_int_equal(within, list[0]);
            assert_int_equal(n_distinct, shells);
            if (shells < GRIDS[c].shells) { // fewer shells only when none are left
                for (int j = 0; j < g->n; j++)
                    assert_true(dist(g->level + 8 * j, v) <= max_d);
            }
        }
        assert_int_equal(n_off, KV_IQ_GRID_SPACE - g->n);
    }
}

// 7 stored sign bits; the 8th makes the number of negatives even.
static void test_sign_parity(void **state) {
    (void)state;
    for (unsigned s = 0; s < 128; s++) {
        const uint8_t b = kv__iq_signs8(s);
        assert_int_equal(b & 127, s);
        assert_int_equal(__builtin_popcount(b) % 2, 0);
    }
}

static void test_best_neighbour_first_of_equals(void **state) {
    (void)state;
    const kv__iq_grid *g = kv__iq_grid_get(KV_IQ_GRID_IQ2_XXS);
    const float x[8] = {0};
    const float w[8] = {0, 0, 0, 0, 0, 0, 0, 0}; // every candidate ties at 0
    for (int v = 0; v < KV_IQ_GRID_SPACE; v++) {
        if (g->map[v] >= 0)
            continue;
        const uint16_t *list = g->nb - g->map[v] - 1;
        int8_t L[8];
        static const float VALUE[3] = {1, 3, 5};
        assert_int_equal(kv__iq_grid_best_neighbour(g, list, x, w, 1.f, VALUE, L), list[1]);
        for (int i = 0; i < 8; i++)
            assert_int_equal(L[i], g->level[8 * list[1] + i]);
        break;
    }
}

// ---- IQ2_XXS / IQ2_XS through the public entry points ----

static double round_trip(kv_type t, const float *x, const float *imatrix, int64_t n_rows,
                         int64_t n) {
    const size_t row = kv_type_row_size(t, n);
    uint8_t *q = malloc(row * (size_t)n_rows);
    float *y = malloc(sizeof(float) * (size_t)(n_rows * n));
    assert_true(q && y);
    kv_err err = {0};
    assert_int_equal(kv_quant_rows(t, x, q, n_rows, n, imatrix, &err), KV_OK);
    for (int64_t r = 0; r < n_rows; r++)
        assert_int_equal(kv_dequant_row(t, q + (size_t)r * row, y + r * n, n, &err), KV_OK);
    double se = 0, sx = 0;
    for (int64_t i = 0; i < n_rows * n; i++) {
        se += (double)(y[i] - x[i]) * (y[i] - x[i]);
        sx += (double)x[i] * x[i];
    }
    // Splitting the rows gives the same bytes.
    uint8_t *q2 = malloc(row * (size_t)n_rows);
    assert_non_null(q2);
    for (int64_t r = 0; r < n_rows; r++)
        assert_int_equal(kv_quant_rows(t, x + r * n, q2 + (size_t)r * row, 1, n, imatrix, &err),
                         KV_OK);
    assert_memory_equal(q, q2, row * (size_t)n_rows);
    free(q2);
    free(q);
    free(y);
    return sqrt(se / sx);
}

static void test_iq2_round_trip(void **state) {
    (void)state;
    enum { N = 512, ROWS = 4 };
    static float x[ROWS * N], im[N];
    uint64_t r = 14;
    for (int i = 0; i < ROWS * N; i++) { // Box-Muller
        const double u = kv_rand_u01(&r), v = kv_rand_u01(&r);
        x[i] = (float)(sqrt(-2 * log(1 - u)) * cos(6.283185307179586 * v));
    }
    for (int i = 0; i < N; i++)
        im[i] = 0.1f + (float)kv_rand_u01(&r);
    // Measured 0.358 (IQ2_XXS) and 0.309 (IQ2_XS) on this data; ~12% margin.
    const double e_xxs = round_trip(KV_TYPE_IQ2_XXS, x, im, ROWS, N);
    const double e_xs = round_trip(KV_TYPE_IQ2_XS, x, im, ROWS, N);
    print_message("rel rmse: IQ2_XXS %.4f IQ2_XS %.4f\n", e_xxs, e_xs);
    assert_true(e_xxs < 0.40);
    assert_true(e_xs < 0.35);
    assert_true(e_xs < e_xxs);
    // An all-zero row gives all-zero blocks.
    static float z[N];
    uint8_t q[2 * 74];
    kv_err err = {0};
    for (int k = 0; k < 2; k++) {
        const kv_type t = k ? KV_TYPE_IQ2_XS : KV_TYPE_IQ2_XXS;
        memset(q, 0xAB, sizeof q);
        assert_int_equal(kv_quant_rows(t, z, q, 1, N, im, &err), KV_OK);
        for (size_t i = 0; i < kv_type_row_size(t, N); i++)
            assert_int_equal(q[i], 0);
    }
}

static void test_iq2_needs_imatrix(void **state) {
    (void)state;
    static float x[256];
    uint8_t q[80];
    kv_err err = {0};
    assert_int_equal(kv_quant_rows(KV_TYPE_IQ2_XXS, x, q, 1, 256, NULL, &err), KV_ERR_INVALID);
    assert_non_null(strstr(err.msg, "kvant imatrix"));
    assert_int_equal(kv_quant_rows(KV_TYPE_IQ2_XS, x, q, 1, 256, NULL, &err), KV_ERR_INVALID);
    assert_int_equal(kv_quant_rows(KV_TYPE_IQ2_XS, x, q, 1, 100, x, &err), KV_ERR_INVALID);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_codebooks),
        cmocka_unit_test(test_neighbours),
        cmocka_unit_test(test_sign_parity),
        cmocka_unit_test(test_best_neighbour_first_of_equals),
        cmocka_unit_test(test_iq2_round_trip),
        cmocka_unit_test(test_iq2_needs_imatrix),
    };
    return cmocka_run_group_tests_name("quant_iq_grid", tests, NULL, NULL);
}
