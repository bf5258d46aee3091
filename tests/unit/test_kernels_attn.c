// Attention's score tile (kv_kernels' dot_f16_tile) on every kernel table this
// machine runs: the reference, AVX2 and AVX2-VNNI on x86-64 CPUs that have them,
// NEON on aarch64 (under qemu-aarch64 in the neon/cross test). Each pair of a
// tile lies within a named bound of kv_dot_f16_f32_ref, on random data, large
// and subnormal values, zeros and infinities, at head sizes that end mid-chunk;
// and has the same bits in every tile shape (1..17 keys by 1..17 queries, any
// place in the tile) as in a 1 x 1 tile, which is what lets a sequence's logits
// ignore the rest of its batch. Nothing outside the tile is written.
#include <float.h>
#include <math.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "kv_rand.h"
#include "kv_test.h"
#include "kernels/avx2/avx2.h"
#include "kernels/kernels.h"
#include "kvant/kv_f16.h"

// ---- tolerance ----
// Per pair the SIMD tiles sum n / 8 products per lane with FMA, then add the
// lanes in a tree and the tail; the reference sums in double and rounds once.
// So |tile - ref| <= (n / 8 + TOL_TILE_ROUNDINGS) * 2^-24 * sum |k q|, plus
// n * 2^-149 where products fall into the subnormal range.
#define TOL_TILE_ROUNDINGS 8

enum { MAX_K = 17, MAX_Q = 17, N_MAX = 128 };
static const int64_t SIZES[] = {1, 7, 8, 9, 64, 65, 100, 128};
#define N_SIZES (sizeof SIZES / sizeof SIZES[0])

static uint64_t rng_state = 0x2545F4914F6CDD1Dull;

static double urand(void) { return kv_rand_u01(&rng_state); } // uniform in [0, 1)

// ---- data ----

typedef enum { DATA_RANDOM, DATA_LARGE, DATA_SUBNORMAL, DATA_ZEROS, DATA_INF, N_DATA } data_kind;

// MAX_K key rows (F16) and MAX_Q query rows (floats rounded through F16, as
// attention hands them over), rows n_max apart.
typedef struct {
    kv_f16 k[MAX_K * N_MAX];
    float q[MAX_Q * N_MAX];
} tile_data;

static void make_data(tile_data *d, data_kind kind) {
    // F16 keys near the F16 maximum, or F16 subnormals (below 6.1e-5)
    const double k_mag = kind == DATA_LARGE ? 65000 : kind == DATA_SUBNORMAL ? 6e-5 : 4;
    const double q_mag = kind == DATA_LARGE ? 30000 : kind == DATA_SUBNORMAL ? 6e-5 : 3;
    float kf[MAX_K * N_MAX];
    for (int i = 0; i < MAX_K * N_MAX; i++) {
        kf[i] = (float)((urand() * 2 - 1) * k_mag);
        if (kind == DATA_ZEROS && urand() < 0.7)
            kf[i] = urand() < 0.5 ? 0.0f : -0.0f;
    }
    for (int i = 0; i < MAX_Q * N_MAX; i++) {
        d->q[i] = (float)((urand() * 2 - 1) * q_mag);
        if (kind == DATA_ZEROS && urand() < 0.7)
            d->q[i] = 0.0f;
    }
    if (kind == DATA_INF) { // one infinite key element per row; a zero query element makes NaN
        for (int r = 0; r < MAX_K; r++)
            kf[r * N_MAX + (r * 5) % N_MAX] = r % 2 ? INFINITY : -INFINITY;
        for (int r = 0; r < MAX_Q; r += 3)
            d->q[r * N_MAX + 10] = 0.0f;
    }
    kv_f32_to_f16_row(kf, d->k, MAX_K * N_MAX);
    kv_f16 qh[MAX_Q * N_MAX];
    kv_f32_to_f16_row(d->q, qh, MAX_Q * N_MAX);
    kv_f16_to_f32_row(qh, d->q, MAX_Q * N_MAX);
}

// ---- the tables ----

typedef struct {
    const kv_kernels *t[4];
    kv_kernels own[2];
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
#endif
    if (kv__kernels_neon() != NULL)
        l->t[l->n++] = kv__kernels_neon();
    for (int i = 0; i < l->n; i++)
        print_message("table %s\n", l->t[i]->name);
}

// ---- checks ----

static float pair_ref(const tile_data *d, int64_t n, int ik, int iq) {
    float want;
    kv_dot_f16_f32_ref(n, &want, d->k + ik * N_MAX, d->q + iq * N_MAX);
    return want;
}

static void expect_near_ref(const kv_kernels *t, const tile_data *d, int64_t n, int ik, int iq,
                            float got, data_kind kind) {
    const float want = pair_ref(d, n, ik, iq);
    if (isnan(want) || isnan(got)) {
        if (!(isnan(want) && isnan(got)))
            fail_msg("%s tile n=%lld data %d (%d,%d): %.9g, reference %.9g", t->name,
                     (long long)n, kind, ik, iq, got, want);
        return;
    }
    double mag = 0;
    for (int64_t i = 0; i < n; i++)
        mag += fabs((double)kv_f16_to_f32(d->k[ik * N_MAX + i]) * d->q[iq * N_MAX + i]);
    const double tol =
        ((double)n / 8 + TOL_TILE_ROUNDINGS) * 0x1p-24 * mag + (double)n * FLT_TRUE_MIN;
    if (!(got == want || fabs((double)got - want) <= tol))
        fail_msg("%s tile n=%lld data %d (%d,%d): %.9g, reference %.9g (tolerance %.3g)",
                 t->name, (long long)n, kind, ik, iq, got, want, tol);
}

enum { OUT_STRIDE = MAX_K + 3, OUT_ROWS = MAX_Q + 1 };
static const uint32_t SENTINEL = 0x7FC0BEEFu; // a NaN no kernel produces

static float tile_one(const kv_kernels *t, const tile_data *d, int64_t n, int ik, int iq) {
    float out;
    t->dot_f16_tile(n, d->k + ik * N_MAX, N_MAX, 1, d->q + iq * N_MAX, N_MAX, 1, &out, 1);
    return out;
}

// A tile of nk keys from k0 by nq queries from q0 at column 1 of a strided
// output: every pair has its 1 x 1 bits and nothing else is written.
static void check_shape(const kv_kernels *t, const tile_data *d, int64_t n, int k0, int nk, int q0,
                        int nq) {
    float out[OUT_ROWS * OUT_STRIDE];
    for (int i = 0; i < OUT_ROWS * OUT_STRIDE; i++)
        memcpy(&out[i], &SENTINEL, sizeof SENTINEL);
    t->dot_f16_tile(n, d->k + k0 * N_MAX, N_MAX, nk, d->q + q0 * N_MAX, N_MAX, nq, out + 1,
                    OUT_STRIDE);
    for (int r = 0; r < OUT_ROWS; r++)
        for (int c = 0; c < OUT_STRIDE; c++) {
            const float got = out[r * OUT_STRIDE + c];
            const bool inside = r < nq && c >= 1 && c < 1 + nk;
            if (!inside) {
                if (memcmp(&got, &SENTINEL, sizeof got) != 0)
                    fail_msg("%s tile %dx%d n=%lld wrote outside the tile at (%d,%d)", t->name,
                             nk, nq, (long long)n, r, c);
                continue;
            }
            const float want = tile_one(t, d, n, k0 + c - 1, q0 + r);
            if (memcmp(&got, &want, sizeof got) != 0)
                fail_msg("%s tile %dx%d n=%lld: pair (key %d, query %d) %.9g, 1x1 %.9g",
                         t->name, nk, nq, (long long)n, k0 + c - 1, q0 + r, got, want);
        }
}

// ---- tests ----

static void test_slots(void **state) {
    (void)state;
    assert_ptr_equal(kv_kernels_ref()->dot_f16_tile, kv_dot_f16_tile_ref);
    assert_non_null(kv_kernels_get()->dot_f16_tile);
#if defined(__x86_64__)
    if (kv__cpu_has_avx2()) {
        kv_kernels k = *kv_kernels_ref();
        kv__kernels_fill_avx2(&k, false);
        assert_ptr_equal(k.dot_f16_tile, kv_dot_f16_tile_avx2);
        kv__kernels_fill_avx2(&k, true);
        assert_ptr_equal(k.dot_f16_tile, kv_dot_f16_tile_avx2);
    }
#endif
}

// Every pair of full tiles against the reference, on each kind of data.
static void test_against_reference(void **state) {
    (void)state;
    table_list l;
    tables(&l);
    static tile_data d;
    float out[MAX_Q * MAX_K];
    for (int kind = 0; kind < N_DATA; kind++) {
        make_data(&d, (data_kind)kind);
        for (size_t s = 0; s < N_SIZES; s++)
            for (int ti = 0; ti < l.n; ti++) {
                const kv_kernels *t = l.t[ti];
                t->dot_f16_tile(SIZES[s], d.k, N_MAX, MAX_K, d.q, N_MAX, MAX_Q, out, MAX_K);
                for (int iq = 0; iq < MAX_Q; iq++)
                    for (int ik = 0; ik < MAX_K; ik++)
                        expect_near_ref(t, &d, SIZES[s], ik, iq, out[iq * MAX_K + ik],
                                        (data_kind)kind);
            }
    }
}

// Every shape from 1 x 1 to 17 x 17, at offsets that move the pairs around.
static void test_shapes(void **state) {
    (void)state;
    table_list l;
    tables(&l);
    static tile_data d;
    const data_kind kinds[] = {DATA_RANDOM, DATA_INF};
    for (size_t kd = 0; kd < sizeof kinds / sizeof kinds[0]; kd++) {
        make_data(&d, kinds[kd]);
        for (size_t s = 0; s < N_SIZES; s++)
            for (int ti = 0; ti < l.n; ti++)
                for (int nk = 1; nk <= MAX_K; nk++)
                    for (int nq = 1; nq <= MAX_Q; nq++) {
                        const int k0 = (nk + nq) % (MAX_K - nk + 1);
                        const int q0 = (3 * nk) % (MAX_Q - nq + 1);
                        check_shape(l.t[ti], &d, SIZES[s], k0, nk, q0, nq);
                    }
    }
}

// An empty tile writes nothing.
static void test_empty(void **state) {
    (void)state;
    table_list l;
    tables(&l);
    static tile_data d;
    make_data(&d, DATA_RANDOM);
    float out[4];
    for (int i = 0; i < 4; i++)
        memcpy(&out[i], &SENTINEL, sizeof SENTINEL);
    for (int ti = 0; ti < l.n; ti++) {
        l.t[ti]->dot_f16_tile(64, d.k, N_MAX, 0, d.q, N_MAX, 3, out, 1);
        l.t[ti]->dot_f16_tile(64, d.k, N_MAX, 3, d.q, N_MAX, 0, out, 1);
        for (int i = 0; i < 4; i++)
            assert_memory_equal(&out[i], &SENTINEL, sizeof SENTINEL);
    }
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_slots),
        cmocka_unit_test(test_against_reference),
        cmocka_unit_test(test_shapes),
        cmocka_unit_test(test_empty),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
