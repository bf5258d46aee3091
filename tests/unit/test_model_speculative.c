// Speculative decoding's sampling: kv_sample_verify's rejection sampling gives
// the target's distribution p whatever the draft's q (a draft model's draws, or
// a certain n-gram guess), checked by chi-square over many draws against the
// exact p; greedy verification is the greedy choice; bad proposer parameters.
#include "kvant/kv_speculative.h"

#include <math.h>
#include <string.h>

#include "kv_test.h"
#include "kvant/kv_sample.h"

#define V 8
#define N_DRAWS 200000
// Chi-square bound: with at most 7 degrees of freedom P(X > 80) < 1e-13, so a
// correct sampler never fails it; a wrong one (e.g. keeping every guess) is off
// by thousands at this many draws.
#define CHI2_MAX 80.0

static kv_sampler *make(float temp, int32_t top_k, uint64_t seed) {
    kv_sample_params p = kv_sample_default_params();
    p.temp = temp;
    p.top_k = top_k;
    p.top_p = 1.0f;
    p.min_p = 0.0f;
    p.seed = seed;
    kv_sampler *s = NULL;
    assert_int_equal(kv_sample_new(&p, V, &s, NULL), KV_OK);
    return s;
}

// p_i = softmax(l / temp) over the top_k largest (all when top_k <= 0)
static void exact(const float *l, float temp, int top_k, double *p) {
    double sum = 0.0;
    for (int i = 0; i < V; i++) {
        int rank = 0;
        for (int j = 0; j < V; j++)
            rank += l[j] > l[i] || (l[j] == l[i] && j < i);
        p[i] = top_k > 0 && rank >= top_k ? 0.0 : exp((double)l[i] / temp);
        sum += p[i];
    }
    for (int i = 0; i < V; i++)
        p[i] /= sum;
}

static double chi2(const int *count, const double *p, int n) {
    double x = 0.0;
    for (int i = 0; i < V; i++) {
        if (p[i] == 0.0) {
            assert_int_equal(count[i], 0); // a token p never gives is never returned
            continue;
        }
        const double e = p[i] * n;
        x += (count[i] - e) * (count[i] - e) / e;
    }
    return x;
}

static const float TARGET[V] = {2.0f, 1.5f, 1.0f, 0.2f, -0.5f, -1.0f, 0.0f, -3.0f};
static const float DRAFT[V] = {-1.0f, 0.5f, 0.1f, 2.5f, -0.5f, 2.0f, -2.0f, 1.0f}; // unlike it

static void check_draft_model(float temp, int32_t top_k) {
    kv_sampler *ds = make(temp, top_k, 7), *s = make(temp, top_k, 11);
    float q[V], scratch[V];
    int count[V] = {0}, kept = 0;
    for (int i = 0; i < N_DRAWS; i++) {
        int32_t x = kv_sample_draft(ds, DRAFT, q);
        assert_true(x >= 0 && x < V);
        int32_t y = kv_sample_verify(s, TARGET, x, q, scratch);
        assert_true(y >= 0 && y < V);
        count[y]++;
        kept += y == x;
    }
    double p[V];
    exact(TARGET, temp, top_k, p);
    double x2 = chi2(count, p, N_DRAWS);
    print_message("draft model, temp %.1f top_k %d: chi2 %.1f, %d of %d guesses kept\n",
                  (double)temp, top_k, x2, kept, N_DRAWS);
    assert_true(x2 < CHI2_MAX);
    assert_true(kept > 0 && kept < N_DRAWS);
    // the guesses themselves follow q, far from p: keeping them all would fail
    int qcount[V] = {0};
    for (int i = 0; i < N_DRAWS / 10; i++)
        qcount[kv_sample_draft(ds, DRAFT, q)]++;
    double tv = 0.0;
    for (int i = 0; i < V; i++)
        tv += fabs(qcount[i] / (N_DRAWS / 10.0) - p[i]) / 2;
    assert_true(tv > 0.3);
    kv_sample_free(ds);
    kv_sample_free(s);
}

static void test_draft_model_t1(void **state) {
    (void)state;
    check_draft_model(1.0f, 0);
}

static void test_draft_model_topk(void **state) {
    (void)state;
    check_draft_model(0.7f, 4); // truncated p and q: zeros on both sides
}

// A certain guess (n-gram lookup, q one-hot): kept with probability p(x), else a
// draw from p without x.
static void test_lookup_guess(void **state) {
    (void)state;
    kv_sampler *s = make(1.0f, 0, 3);
    float scratch[V];
    double p[V];
    exact(TARGET, 1.0f, 0, p);
    for (int32_t guess = 0; guess < V; guess += 3) {
        int count[V] = {0};
        for (int i = 0; i < N_DRAWS; i++)
            count[kv_sample_verify(s, TARGET, guess, NULL, scratch)]++;
        double x2 = chi2(count, p, N_DRAWS);
        print_message("lookup guess %d: chi2 %.1f, kept %d\n", guess, x2, count[guess]);
        assert_true(x2 < CHI2_MAX);
    }
    kv_sample_free(s);
}

// At temperature 0 the check is the greedy choice: the guess when it is the argmax.
static void test_greedy(void **state) {
    (void)state;
    kv_sampler *s = make(0.0f, 0, 1);
    float q[V], scratch[V];
    for (int32_t g = 0; g < V; g++)
        assert_int_equal(kv_sample_verify(s, TARGET, g, NULL, scratch), 0);
    assert_int_equal(kv_sample_draft(s, DRAFT, q), 3);
    kv_sample_free(s);
}

// The draft's q is its chain's distribution: sums to 1, zero outside top-k.
static void test_draft_q(void **state) {
    (void)state;
    kv_sampler *s = make(1.0f, 3, 5);
    float q[V];
    kv_sample_draft(s, DRAFT, q);
    double sum = 0.0, p[V];
    exact(DRAFT, 1.0f, 3, p);
    for (int i = 0; i < V; i++) {
        sum += q[i];
        assert_true(fabs(q[i] - p[i]) < 1e-6);
    }
    assert_true(fabs(sum - 1.0) < 1e-6);
    kv_sample_free(s);
}

// n-gram lookup: the latest earlier occurrence of the longest suffix that has one,
// the tokens after it up to max_k and up to the end of the history.
static void test_lookup(void **state) {
    (void)state;
    int32_t out[8];
    //                     0  1  2  3  4  5  6  7  8  9 10
    const int32_t h[] = {5, 1, 2, 9, 7, 1, 2, 3, 4, 1, 2};
    // suffix "1 2": latest earlier occurrence at 5 -> 3 4 1 2
    assert_int_equal(kv_spec_lookup(h, 11, 2, 8, out), 4);
    assert_int_equal(out[0], 3);
    assert_int_equal(out[3], 2);
    assert_int_equal(kv_spec_lookup(h, 11, 2, 2, out), 2); // max_k
    // suffix "9 1 2" never occurred before: the 2-gram answers
    const int32_t g[] = {1, 2, 8, 9, 1, 2};
    assert_int_equal(kv_spec_lookup(g, 6, 3, 8, out), 4);
    assert_int_equal(out[0], 8);
    // a 3-gram match wins over a later 2-gram one
    const int32_t t[] = {7, 1, 2, 4, 0, 1, 2, 6, 7, 1, 2};
    assert_int_equal(kv_spec_lookup(t, 11, 3, 1, out), 1);
    assert_int_equal(out[0], 4);
    assert_int_equal(kv_spec_lookup(t, 11, 2, 1, out), 1);
    assert_int_equal(out[0], 6);
    const int32_t u[] = {1, 2, 3};
    assert_int_equal(kv_spec_lookup(u, 3, 3, 8, out), 0); // no earlier occurrence
    assert_int_equal(kv_spec_lookup(u, 1, 3, 8, out), 0);
    assert_int_equal(kv_spec_lookup(u, 0, 3, 8, out), 0);
}

static void test_bad_params(void **state) {
    (void)state;
    kv_spec *sp = NULL;
    kv_err err;
    kv_spec_params p = kv_spec_default_params();
    p.n_draft = 0;
    assert_int_equal(kv_spec_new(&p, V, &sp, &err), KV_ERR_INVALID);
    p.n_draft = KV_SPEC_MAX_DRAFT + 1;
    assert_int_equal(kv_spec_new(&p, V, &sp, &err), KV_ERR_INVALID);
    p = kv_spec_default_params();
    p.lookup_n = 0;
    assert_int_equal(kv_spec_new(&p, V, &sp, &err), KV_ERR_INVALID);
    p.lookup_n = KV_SPEC_MAX_LOOKUP + 1;
    assert_int_equal(kv_spec_new(&p, V, &sp, &err), KV_ERR_INVALID);
    assert_null(sp);
    p = kv_spec_default_params();
    assert_int_equal(kv_spec_new(&p, V, &sp, &err), KV_OK);
    kv_spec_free(sp);
    kv_spec_free(NULL);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_draft_model_t1), cmocka_unit_test(test_draft_model_topk),
        cmocka_unit_test(test_lookup_guess),   cmocka_unit_test(test_greedy),
        cmocka_unit_test(test_draft_q),        cmocka_unit_test(test_lookup),
        cmocka_unit_test(test_bad_params),
    };
    return cmocka_run_group_tests_name("model_speculative", tests, NULL, NULL);
}
