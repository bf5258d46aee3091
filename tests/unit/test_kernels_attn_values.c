// Attention's weighted sum over cached values stored as F32, Q8_0 or Q4_0
// (kv_kernels' axpy_rows) on every kernel table this machine runs: the
// reference equals its specification (the row converted by the reference
// table's to_float, then y = a * v + y with the product rounded, row after
// row, zero weights skipped), and every SIMD table gives the reference's bits,
// at head sizes of one to eight blocks (F32 also mid-chunk), 1..16 rows, random
// blocks, large, small and subnormal scales, all-zero weights.
#include <math.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "kv_rand.h"
#include "kv_test.h"
#include "kernels/avx2/avx2.h"
#include "kernels/avx512/avx512.h"
#include "kernels/amx/amx.h"
#include "kernels/kernels.h"
#include "kvant/kv_blocks.h"
#include "kvant/kv_f16.h"

enum { ROWS = 16, N_MAX = 256, ROW_BYTES = N_MAX * 4 + 64 };
static const kv_type TYPES[] = {KV_TYPE_F32, KV_TYPE_Q8_0, KV_TYPE_Q4_0};

static uint64_t rng_state = 0x2545F4914F6CDD1Dull;
static double urand(void) { return kv_rand_u01(&rng_state); }

// ---- the tables ----

typedef struct {
    const kv_kernels *t[6];
    kv_kernels own[4];
    int n;
} table_list;

static void tables(table_list *l) {
    l->n = 0;
    l->t[l->n++] = kv_kernels_ref();
#if defined(__x86_64__)
    if (kv__cpu_has_avx2()) {
        l->own[0] = *kv_kernels_ref();
        kv__kernels_fill_avx2(&l->own[0], false);
        l->t[l->n++] = &l->own[0];
    }
    if (kv__cpu_has_avxvnni()) {
        l->own[1] = *kv_kernels_ref();
        kv__kernels_fill_avx2(&l->own[1], true);
        l->t[l->n++] = &l->own[1];
    }
    if (kv__cpu_has_avx512()) {
        l->own[2] = *kv_kernels_ref();
        kv__kernels_fill_avx512(&l->own[2]);
        l->t[l->n++] = &l->own[2];
    }
    if (kv__cpu_has_amx()) {
        l->own[3] = *kv_kernels_ref();
        kv__kernels_fill_amx(&l->own[3]);
        l->t[l->n++] = &l->own[3];
    }
#endif
    if (kv__kernels_neon() != NULL)
        l->t[l->n++] = kv__kernels_neon();
}

// ---- data ----

typedef enum { DATA_RANDOM, DATA_LARGE, DATA_SMALL, DATA_SUBNORMAL, N_DATA } data_kind;

// A scale of the kind (F16 for the block types)
static float scale(data_kind kind) {
    const double u = urand();
    switch (kind) {
    case DATA_LARGE: return (float)(60000.0 * (0.5 + u));    // near F16's max
    case DATA_SMALL: return (float)(1e-4 * (0.5 + u));
    case DATA_SUBNORMAL: return (float)(3e-6 * u);          // F16 subnormal scales
    default: return (float)(0.1 * (u - 0.5));
    }
}

// rows of n values of type t, ROW_BYTES apart
static void fill_rows(kv_type t, int64_t n, data_kind kind, uint8_t *v) {
    for (int r = 0; r < ROWS; r++) {
        uint8_t *row = v + (size_t)r * ROW_BYTES;
        if (t == KV_TYPE_F32) {
            float *f = (float *)(void *)row;
            for (int64_t i = 0; i < n; i++)
                f[i] = scale(kind) * (float)(urand() * 254.0 - 127.0);
            continue;
        }
        const size_t bb = t == KV_TYPE_Q8_0 ? sizeof(kv_block_q8_0) : sizeof(kv_block_q4_0);
        for (int64_t b = 0; b < n / 32; b++) {
            uint8_t *blk = row + (size_t)b * bb;
            for (size_t i = 0; i < bb; i++)
                blk[i] = (uint8_t)(urand() * 256.0);
            const kv_f16 d = kv_f32_to_f16(scale(kind));
            memcpy(blk, &d, sizeof d); // d first in both layouts
        }
    }
}

static void fill_weights(float *a, int kind) {
    for (int r = 0; r < ROWS; r++)
        a[r] = kind == 0 ? 0.0f : r % 3 == 1 ? 0.0f : (float)urand(); // softmax weights
}

// ---- checks ----

// The specification: each row through the reference table's to_float, then
// y = a * v + y with the product rounded (volatile keeps it from fusing).
static void spec(kv_type t, int64_t n, int rows, const uint8_t *v, const float *a, float *y) {
    float x[N_MAX];
    for (int r = 0; r < rows; r++) {
        if (a[r] == 0.0f)
            continue;
        kv_kernels_ref()->to_float[t](v + (size_t)r * ROW_BYTES, x, n);
        for (int64_t i = 0; i < n; i++) {
            volatile float p = a[r] * x[i];
            y[i] = p + y[i];
        }
    }
}

static void fill_y(float *y, int64_t n) {
    for (int64_t i = 0; i < n; i++)
        y[i] = (float)(urand() - 0.5);
}

static void test_axpy_rows(void **state) {
    (void)state;
    table_list l;
    tables(&l);
    static const int64_t N_Q[] = {32, 64, 96, 128, 160, 256};
    static const int64_t N_F[] = {1, 7, 8, 31, 33, 64, 65, 100, 256};
    uint8_t *v = malloc((size_t)ROWS * ROW_BYTES);
    float a[ROWS], y0[N_MAX], want[N_MAX], got[N_MAX];
    int checked = 0;
    for (size_t ti = 0; ti < sizeof TYPES / sizeof TYPES[0]; ti++) {
        const kv_type t = TYPES[ti];
        const int64_t *ns = t == KV_TYPE_F32 ? N_F : N_Q;
        const size_t n_ns = t == KV_TYPE_F32 ? sizeof N_F / sizeof N_F[0] : sizeof N_Q / sizeof N_Q[0];
        for (size_t ni = 0; ni < n_ns; ni++)
            for (int kind = 0; kind < N_DATA; kind++)
                for (int rows = 1; rows <= ROWS; rows += 3) {
                    const int64_t n = ns[ni];
                    fill_rows(t, n, (data_kind)kind, v);
                    fill_weights(a, rows == 4 ? 0 : 1); // rows 4: every weight zero
                    fill_y(y0, n);
                    memcpy(want, y0, (size_t)n * 4);
                    spec(t, n, rows, v, a, want);
                    for (int k = 0; k < l.n; k++) {
                        assert_non_null(l.t[k]->axpy_rows[t]);
                        memcpy(got, y0, (size_t)n * 4);
                        l.t[k]->axpy_rows[t](n, rows, ROW_BYTES, v, a, got);
                        if (memcmp(got, want, (size_t)n * 4) != 0)
                            fail_msg("table %s, type %d, n %lld, rows %d, data %d: bits differ",
                                     l.t[k]->name, (int)t, (long long)n, rows, kind);
                        checked++;
                    }
                }
    }
    print_message("%d sums on %d tables\n", checked, l.n);
    free(v);
}

// Nothing past n columns is written, and rows past `rows` are not read.
static void test_bounds(void **state) {
    (void)state;
    table_list l;
    tables(&l);
    uint8_t *v = malloc((size_t)ROWS * ROW_BYTES);
    float a[ROWS], y[N_MAX + 8];
    for (size_t ti = 0; ti < sizeof TYPES / sizeof TYPES[0]; ti++) {
        const kv_type t = TYPES[ti];
        fill_rows(t, 64, DATA_RANDOM, v);
        fill_weights(a, 1);
        for (int r = 0; r < ROWS; r++)
            a[r] = r < 2 ? 0.5f : NAN; // rows 2.. would poison y
        for (int k = 0; k < l.n; k++) {
            for (int i = 0; i < N_MAX + 8; i++)
                y[i] = -7.0f;
            l.t[k]->axpy_rows[t](64, 2, ROW_BYTES, v, a, y);
            for (int i = 0; i < 64; i++)
                assert_false(isnan(y[i]));
            for (int i = 64; i < N_MAX + 8; i++)
                assert_true(y[i] == -7.0f);
        }
    }
    free(v);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_axpy_rows),
        cmocka_unit_test(test_bounds),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
