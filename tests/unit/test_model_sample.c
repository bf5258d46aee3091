// Sampler: greedy choice and ties, seed reproducibility, what top-k, top-p and
// min-p let through, the draw following softmax(logits / temp), penalties and
// their window, NaN logits; sampling restricted to allowed tokens.
#include "kvant/kv_sample.h"

#include <math.h>
#include <string.h>

#include "kv_test.h"

#define V 8

static kv_sampler *make(kv_sample_params p) {
    kv_sampler *s = NULL;
    assert_int_equal(kv_sample_new(&p, V, &s, NULL), KV_OK);
    return s;
}

static kv_sample_params plain(float temp) {
    kv_sample_params p = kv_sample_default_params();
    p.temp = temp;
    p.top_k = 0;
    p.top_p = 1.0f;
    p.min_p = 0.0f;
    p.seed = 42;
    return p;
}

// logits giving probabilities {0.5, 0.3, 0.15, 0.05, 0, 0, 0, 0} (tokens 4..7 at -inf)
static void four_way(float *l) {
    const double p[4] = {0.5, 0.3, 0.15, 0.05};
    for (int i = 0; i < V; i++)
        l[i] = i < 4 ? (float)log(p[i]) : -INFINITY;
}

static void counts_of(kv_sampler *s, const float *l, int n, int *count) {
    memset(count, 0, V * sizeof *count);
    for (int i = 0; i < n; i++) {
        int32_t t = kv_sample_next(s, l);
        assert_true(t >= 0 && t < V);
        count[t]++;
    }
}

static void test_greedy(void **state) {
    (void)state;
    kv_sampler *s = make(plain(0.0f));
    float l[V] = {0.1f, 3.0f, -2.0f, 3.0f, 1.0f, 0.0f, 2.9f, -1.0f};
    assert_int_equal(kv_sample_next(s, l), 1); // tie between 1 and 3: the lower id
    l[1] = NAN;
    assert_int_equal(kv_sample_next(s, l), 3); // NaN never wins
    kv_sample_free(s);
}

static void test_seed_reproducible(void **state) {
    (void)state;
    float l[V];
    four_way(l);
    kv_sample_params p = plain(1.0f);
    kv_sampler *a = make(p), *b = make(p);
    p.seed = 43;
    kv_sampler *c = make(p);
    int same_c = 0;
    int32_t first[200];
    for (int i = 0; i < 200; i++) {
        first[i] = kv_sample_next(a, l);
        assert_int_equal(first[i], kv_sample_next(b, l));
        same_c += first[i] == kv_sample_next(c, l);
    }
    assert_true(same_c < 200); // another seed gives other draws
    kv_sample_reset(a);
    for (int i = 0; i < 200; i++)
        assert_int_equal(kv_sample_next(a, l), first[i]);
    kv_sample_free(a), kv_sample_free(b), kv_sample_free(c);
}

// With no filters at temp 1 the draws follow the probabilities.
static void test_distribution(void **state) {
    (void)state;
    float l[V];
    four_way(l);
    kv_sampler *s = make(plain(1.0f));
    int count[V];
    enum { N = 20000 };
    counts_of(s, l, N, count);
    const double p[4] = {0.5, 0.3, 0.15, 0.05};
    for (int i = 0; i < 4; i++) // 5 standard deviations of a binomial count
        assert_float_equal((double)count[i] / N, p[i], 5 * sqrt(p[i] * (1 - p[i]) / N));
    for (int i = 4; i < V; i++)
        assert_int_equal(count[i], 0);
    kv_sample_free(s);
    // temperature 2 flattens: p_i ~ sqrt(p_i)
    kv_sample_params q = plain(2.0f);
    s = make(q);
    counts_of(s, l, N, count);
    double z = 0;
    for (int i = 0; i < 4; i++)
        z += sqrt(p[i]);
    for (int i = 0; i < 4; i++) {
        double want = sqrt(p[i]) / z;
        assert_float_equal((double)count[i] / N, want, 5 * sqrt(want * (1 - want) / N));
    }
    kv_sample_free(s);
}

static void test_top_k(void **state) {
    (void)state;
    float l[V];
    four_way(l);
    kv_sample_params p = plain(1.0f);
    p.top_k = 1;
    kv_sampler *s = make(p);
    int count[V];
    counts_of(s, l, 500, count);
    assert_int_equal(count[0], 500);
    kv_sample_free(s);
    p.top_k = 3;
    s = make(p);
    counts_of(s, l, 3000, count);
    assert_true(count[0] > 0 && count[1] > 0 && count[2] > 0);
    assert_int_equal(count[3], 0);
    kv_sample_free(s);
}

static void test_top_p(void **state) {
    (void)state;
    float l[V];
    four_way(l);
    kv_sample_params p = plain(1.0f);
    p.top_p = 0.75f; // 0.5 < 0.75 <= 0.8: the first two stay
    kv_sampler *s = make(p);
    int count[V];
    counts_of(s, l, 3000, count);
    assert_true(count[0] > 0 && count[1] > 0);
    assert_int_equal(count[2] + count[3], 0);
    // renormalised over the two: 0.5/0.8
    assert_float_equal(count[0] / 3000.0, 0.625, 5 * sqrt(0.625 * 0.375 / 3000));
    kv_sample_free(s);
    p.top_p = 0.4f; // the first alone reaches it
    s = make(p);
    counts_of(s, l, 500, count);
    assert_int_equal(count[0], 500);
    kv_sample_free(s);
    p.min_keep = 3; // but min_keep wins
    s = make(p);
    counts_of(s, l, 3000, count);
    assert_true(count[2] > 0);
    assert_int_equal(count[3], 0);
    kv_sample_free(s);
}

static void test_min_p(void **state) {
    (void)state;
    float l[V];
    four_way(l);
    kv_sample_params p = plain(1.0f);
    p.min_p = 0.4f; // keeps p >= 0.2: tokens 0 and 1 (0.3/0.5 = 0.6), not 2 (0.3)
    kv_sampler *s = make(p);
    int count[V];
    counts_of(s, l, 3000, count);
    assert_true(count[0] > 0 && count[1] > 0);
    assert_int_equal(count[2] + count[3], 0);
    kv_sample_free(s);
}

static void test_penalties(void **state) {
    (void)state;
    kv_sample_params p = plain(0.0f);
    p.penalty_last_n = 2;
    p.penalty_repeat = 1.25f;
    kv_sampler *s = make(p);
    float l[V] = {2.0f, 1.9f, -0.5f, -0.6f, -5, -5, -5, -5};
    assert_int_equal(kv_sample_next(s, l), 0);
    kv_sample_accept(s, 0); // 2.0 / 1.25 = 1.6 < 1.9
    assert_int_equal(kv_sample_next(s, l), 1);
    kv_sample_accept(s, 5);
    kv_sample_accept(s, 6); // token 0 has left the window of 2
    assert_int_equal(kv_sample_next(s, l), 0);
    kv_sample_free(s);

    // negative logits get multiplied, so a penalty never raises them
    float m[V] = {-1.0f, -1.1f, -9, -9, -9, -9, -9, -9};
    s = make(p);
    kv_sample_accept(s, 0); // -1.25 < -1.1
    assert_int_equal(kv_sample_next(s, m), 1);
    kv_sample_free(s);

    // frequency: once per occurrence; presence: once
    p.penalty_repeat = 1.0f;
    p.penalty_last_n = 8;
    p.penalty_freq = 0.06f;
    p.penalty_present = 0.0f;
    s = make(p);
    kv_sample_accept(s, 0);
    assert_int_equal(kv_sample_next(s, l), 0); // 2.0 - 0.06 = 1.94 > 1.9
    kv_sample_accept(s, 0);
    assert_int_equal(kv_sample_next(s, l), 1); // 2.0 - 0.12 = 1.88 < 1.9
    kv_sample_free(s);
    p.penalty_freq = 0.0f;
    p.penalty_present = 0.15f;
    s = make(p);
    kv_sample_accept(s, 0);
    assert_int_equal(kv_sample_next(s, l), 1); // 1.85 < 1.9
    kv_sample_free(s);
}

// Allows the tokens whose bit is set in *(unsigned *)user; counts the questions.
static int n_asked;
static bool allow_mask(void *user, int32_t t) {
    n_asked++;
    return (*(const unsigned *)user >> t) & 1u;
}

static bool allow_bits(void *user, int32_t t) {
    return (*(const uint64_t *)user >> t) & 1u;
}

// Restricted to tokens {1, 2, 3}, the draws follow {0.3, 0.15, 0.05} / 0.5, and
// top-k counts allowed tokens only.
static void test_allowed_distribution(void **state) {
    (void)state;
    float l[V];
    four_way(l);
    unsigned mask = 0xEu;
    kv_sampler *s = make(plain(1.0f));
    int count[V] = {0};
    enum { N = 20000 };
    for (int i = 0; i < N; i++) {
        int32_t t = kv_sample_next_allowed(s, l, allow_mask, &mask);
        assert_true(t >= 1 && t <= 3);
        count[t]++;
    }
    const double p[4] = {0, 0.6, 0.3, 0.1};
    for (int i = 1; i < 4; i++) // 5 standard deviations of a binomial count
        assert_float_equal((double)count[i] / N, p[i], 5 * sqrt(p[i] * (1 - p[i]) / N));
    kv_sample_free(s);
    kv_sample_params q = plain(1.0f);
    q.top_k = 1;
    s = make(q);
    for (int i = 0; i < 100; i++)
        assert_int_equal(kv_sample_next_allowed(s, l, allow_mask, &mask), 1);
    kv_sample_free(s);
}

static void test_allowed_greedy(void **state) {
    (void)state;
    float l[V] = {0.1f, 3.0f, -2.0f, 3.0f, 1.0f, 0.0f, 2.9f, -1.0f};
    kv_sampler *s = make(plain(0.0f));
    unsigned mask = 0xFFu;
    assert_int_equal(kv_sample_next_allowed(s, l, allow_mask, &mask), 1); // ties: lower id
    mask = 0xFDu;
    assert_int_equal(kv_sample_next_allowed(s, l, allow_mask, &mask), 3);
    mask = 0xF5u; // neither 1 nor 3
    n_asked = 0;
    assert_int_equal(kv_sample_next_allowed(s, l, allow_mask, &mask), 6);
    assert_true(n_asked < V); // tokens that cannot win are not asked about
    mask = 0x04u;
    assert_int_equal(kv_sample_next_allowed(s, l, allow_mask, &mask), 2); // the only one
    mask = 0;
    assert_int_equal(kv_sample_next_allowed(s, l, allow_mask, &mask), -1);
    kv_sample_free(s);
    s = make(plain(1.0f));
    assert_int_equal(kv_sample_next_allowed(s, l, allow_mask, &mask), -1);
    kv_sample_free(s);
}

// Sampling a vocabulary under a mask picks what plain sampling picks on the
// smaller vocabulary of the allowed tokens alone, for dense masks (the top-k
// shortcut) and sparse ones, greedy and drawn.
static void test_allowed_matches_subset(void **state) {
    (void)state;
    enum { W = 64 };
    uint64_t x = 11;
    for (int round = 0; round < 300; round++) {
        float l[W], sub[W];
        int32_t ids[W], n = 0;
        x = x * 6364136223846793005ull + 1442695040888963407ull;
        const unsigned density = 1 + (unsigned)(x >> 60) % 8; // allowed: about density / 8
        uint64_t mask = 0;
        for (int32_t t = 0; t < W; t++) {
            x = x * 6364136223846793005ull + 1442695040888963407ull;
            l[t] = (float)((x >> 40) % 64) / 8.0f; // coarse: ties happen
            if ((x >> 20) % 8 < density) {
                mask |= (uint64_t)1 << t;
                ids[n] = t;
                sub[n++] = l[t];
            }
        }
        kv_sample_params p = plain(round % 3 == 0 ? 0.0f : 1.0f);
        p.top_k = round % 2 ? 5 : 0;
        p.top_p = round % 4 < 2 ? 0.9f : 1.0f;
        p.min_p = round % 5 == 0 ? 0.1f : 0.0f;
        p.seed = (uint64_t)round;
        kv_sampler *a = NULL, *b = NULL;
        assert_int_equal(kv_sample_new(&p, W, &a, NULL), KV_OK);
        int32_t got = kv_sample_next_allowed(a, l, allow_bits, &mask);
        if (n == 0) {
            assert_int_equal(got, -1);
        } else {
            assert_int_equal(kv_sample_new(&p, n, &b, NULL), KV_OK);
            assert_int_equal(got, ids[kv_sample_next(b, sub)]);
        }
        kv_sample_free(a);
        kv_sample_free(b);
    }
}

static void test_bad_params(void **state) {
    (void)state;
    kv_sample_params p = kv_sample_default_params();
    kv_sampler *s = NULL;
    kv_err err;
    assert_int_equal(kv_sample_new(&p, 0, &s, &err), KV_ERR_INVALID);
    p.penalty_last_n = -1;
    assert_int_equal(kv_sample_new(&p, V, &s, &err), KV_ERR_INVALID);
    assert_null(s);
    kv_sample_free(NULL);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_greedy),     cmocka_unit_test(test_seed_reproducible),
        cmocka_unit_test(test_distribution), cmocka_unit_test(test_top_k),
        cmocka_unit_test(test_top_p),      cmocka_unit_test(test_min_p),
        cmocka_unit_test(test_penalties),  cmocka_unit_test(test_allowed_distribution),
        cmocka_unit_test(test_allowed_greedy), cmocka_unit_test(test_allowed_matches_subset),
        cmocka_unit_test(test_bad_params),
    };
    return cmocka_run_group_tests_name("model_sample", tests, NULL, NULL);
}
