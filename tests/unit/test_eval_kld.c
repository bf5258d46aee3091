// KL divergence math and llama.cpp logits files: the 16-bit encoding of a row,
// KLD against an exact double computation, same-top and delta-p, percentiles
// and summary statistics, and files that are truncated, padded or not logits.
#include "kvant/kv_eval.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "kv_test.h"

// one 16-bit step of the encoding spans at most 16/65535 nats
#define TOL_LOGP (16.0 / 65535.0)

static uint64_t seed = 5;
static float frand(void) {
    seed = seed * 6364136223846793005ull + 1442695040888963407ull;
    return (float)((double)(seed >> 11) * 0x1.0p-53 * 2.0 - 1.0);
}

static void log_softmax(const float *l, int n, double *out) {
    double max = l[0], z = 0;
    for (int i = 0; i < n; i++)
        max = l[i] > max ? l[i] : max;
    for (int i = 0; i < n; i++)
        z += exp(l[i] - max);
    for (int i = 0; i < n; i++)
        out[i] = l[i] - max - log(z);
}

static void test_encode_row(void **state) {
    (void)state;
    assert_int_equal(kv_kld_row_words(5), 10);
    assert_int_equal(kv_kld_row_words(4096), 4100);
    enum { V = 5 };
    const float l[V] = {1.0f, -30.0f, 3.0f, 2.5f, 0.0f};
    uint16_t row[10];
    memset(row, 0xff, sizeof row);
    double lp[V];
    log_softmax(l, V, lp);
    const double nll = kv_kld_encode_row(l, V, 3, row);
    assert_float_equal(nll, -lp[3], 1e-6);
    float scale, min_lp;
    memcpy(&scale, row, 4);
    memcpy(&min_lp, row + 2, 4);
    assert_float_equal(scale, 16.0 / 65535.0, 1e-9); // the floor is 16 below the top
    assert_float_equal(min_lp, lp[2] - 16.0, 1e-5);
    assert_int_equal(row[4 + 1], 0); // -30 is under the floor
    assert_int_equal(row[4 + 2], 65535);
    assert_int_equal(row[9], 0);     // padding
    for (int i = 0; i < V; i++)
        if (i != 1)
            assert_float_equal(scale * row[4 + i] + min_lp, lp[i], TOL_LOGP);
}

static void test_kld_against_exact(void **state) {
    (void)state;
    enum { V = 257 };
    float base[V], q[V];
    uint16_t row[2 * ((V + 1) / 2) + 4];
    double lpb[V], lpq[V];
    kv_kld_acc acc = {0};
    double sum_exact = 0;
    for (int r = 0; r < 30; r++) {
        for (int i = 0; i < V; i++) {
            base[i] = 3.0f * frand();
            q[i] = base[i] + (r % 3 == 0 ? 0.0f : 0.5f * frand());
        }
        const int tok = (r * 11) % V;
        kv_kld_encode_row(base, V, tok, row);
        log_softmax(base, V, lpb);
        log_softmax(q, V, lpq);
        double exact = 0;
        int top_b = 0, top_q = 0;
        for (int i = 0; i < V; i++) {
            exact += exp(lpb[i]) * (lpb[i] - lpq[i]);
            top_b = lpb[i] > lpb[top_b] ? i : top_b;
            top_q = lpq[i] > lpq[top_q] ? i : top_q;
        }
        float kld, pd;
        const int64_t same_before = acc.n_same_top;
        kv_kld_add(&acc, q, V, row, tok, &kld, &pd);
        assert_float_equal(kld, exact, 2 * TOL_LOGP);
        assert_float_equal(pd, exp(lpq[tok]) - exp(lpb[tok]), 1e-4);
        assert_int_equal(acc.n_same_top - same_before, top_b == top_q);
        sum_exact += exact;
    }
    assert_int_equal(acc.count, 30);
    assert_float_equal(acc.sum_kld / 30, sum_exact / 30, 2 * TOL_LOGP);
}

static void test_percentile_and_stats(void **state) {
    (void)state;
    const float v[5] = {0, 1, 2, 3, 4};
    assert_float_equal(kv_eval_percentile(v, 5, 0.5f), 2.0, 1e-6);
    assert_float_equal(kv_eval_percentile(v, 5, 0.9f), 3.6, 1e-6);
    assert_float_equal(kv_eval_percentile(v, 5, 0.0f), 0.0, 0);
    assert_float_equal(kv_eval_percentile(v, 5, 1.0f), 4.0, 0);

    // 200 rows: kld i/1000 for i < 200, p_diff alternating +-0.01, same top on half
    enum { N = 200 };
    float kld[N], pd[N];
    kv_kld_acc a = {0};
    for (int i = 0; i < N; i++) {
        kld[N - 1 - i] = (float)i / 1000.0f; // unsorted on purpose
        pd[i] = i % 2 ? 0.01f : -0.01f;
        a.sum_kld += i / 1000.0;
        a.sum_kld2 += (i / 1000.0) * (i / 1000.0);
        a.sum_p_diff += pd[i];
        a.sum_p_diff2 += 1e-4;
        a.sum_p_diff4 += 1e-8;
        a.sum_nll += 2.0 + (i % 2) * 0.1;
        a.sum_nll2 += (2.0 + (i % 2) * 0.1) * (2.0 + (i % 2) * 0.1);
        a.sum_nll_base += 2.0;
        a.sum_nll_base2 += 4.0;
        a.sum_nll_nll_base += 2.0 * (2.0 + (i % 2) * 0.1);
        a.n_same_top += i % 2;
        a.count++;
    }
    kv_kld_stats s;
    kv_kld_stats_compute(&a, kld, pd, N, &s);
    assert_float_equal(s.kld_mean, 0.0995, 1e-9);
    assert_float_equal(s.kld_max, 0.199, 1e-6);
    assert_float_equal(s.kld_min, 0.0, 0);
    assert_float_equal(s.kld_median, 0.0995, 1e-6);
    assert_float_equal(s.kld_p99, 0.99f * 199 / 1000.0, 1e-5);
    assert_float_equal(s.same_top, 0.5, 1e-12);
    assert_float_equal(s.same_top_unc, sqrt(0.25 / 199), 1e-12);
    assert_float_equal(s.p_diff_mean, 0.0, 1e-9);
    assert_float_equal(s.p_diff_rms, 0.01, 1e-9);
    assert_float_equal(s.ppl, exp(2.05), 1e-9);
    assert_float_equal(s.ppl_base, exp(2.0), 1e-9);
    assert_float_equal(s.log_ppl_ratio, 0.05, 1e-9);
    assert_true(s.p_diff_max == 0.01f && s.p_diff_min == -0.01f);
    assert_int_equal(s.count, N);
}

// ---- files ----

static void put32(uint8_t *p, uint32_t v) {
    for (int i = 0; i < 4; i++)
        p[i] = (uint8_t)(v >> (8 * i));
}

// A file of n_chunk chunks for n_ctx 8 and vocabulary 3 (rows of 8 u16).
static size_t make_file(uint8_t *buf, int n_chunk) {
    memcpy(buf, "_logits_", 8);
    put32(buf + 8, 8);
    put32(buf + 12, 3);
    put32(buf + 16, (uint32_t)n_chunk);
    size_t off = 20;
    for (int i = 0; i < n_chunk * 8; i++, off += 4)
        put32(buf + off, (uint32_t)(i % 3));
    for (int r = 0; r < n_chunk * 3; r++) // 8 - 1 - 4 = 3 rows per chunk
        for (int w = 0; w < 8; w++, off += 2) {
            buf[off] = (uint8_t)r;
            buf[off + 1] = (uint8_t)w;
        }
    return off;
}

static void expect_open(const char *dir, const uint8_t *buf, size_t n, kv_status want,
                        const char *fragment) {
    char path[512];
    snprintf(path, sizeof path, "%s/x.logits", dir);
    assert_int_equal(kv_test_write_file(path, buf, n), 0);
    kv_logits_file *f = (kv_logits_file *)1;
    kv_err err = {0};
    assert_int_equal(kv_logits_open(path, &f, &err), want);
    assert_null(f);
    if (!strstr(err.msg, fragment))
        fail_msg("message '%s' lacks '%s'", err.msg, fragment);
}

static void test_logits_file(void **state) {
    (void)state;
    char *dir = kv_test_tmpdir();
    static uint8_t buf[4096];
    const size_t n = make_file(buf, 2);
    assert_int_equal(n, 20 + 2 * 8 * 4 + 2 * 3 * 16);
    char path[512];
    snprintf(path, sizeof path, "%s/ok.logits", dir);
    assert_int_equal(kv_test_write_file(path, buf, n), 0);
    kv_logits_file *f = NULL;
    assert_int_equal(kv_logits_open(path, &f, NULL), KV_OK);
    assert_int_equal(kv_logits_n_ctx(f), 8);
    assert_int_equal(kv_logits_n_vocab(f), 3);
    assert_int_equal(kv_logits_n_chunks(f), 2);
    int32_t toks[8];
    kv_logits_tokens(f, 1, toks);
    assert_int_equal(toks[0], 2); // token 8 overall
    assert_int_equal(toks[7], 0);
    const uint8_t *row = kv_logits_row(f, 1, 2); // row 5 overall
    assert_int_equal(row[0], 5);
    assert_int_equal(row[2 * 7 + 1], 7);
    kv_logits_close(f);
    kv_logits_close(NULL);

    expect_open(dir, buf, n - 1, KV_ERR_TRUNCATED, "expected 180");
    expect_open(dir, buf, 12, KV_ERR_TRUNCATED, "");
    static uint8_t more[4097];
    memcpy(more, buf, n);
    expect_open(dir, more, n + 2, KV_ERR_FORMAT, "has 182 bytes");
    buf[0] = 'X';
    expect_open(dir, buf, n, KV_ERR_FORMAT, "bad magic");
    buf[0] = '_';
    put32(buf + 12, 0);
    expect_open(dir, buf, n, KV_ERR_FORMAT, "n_vocab 0");
    put32(buf + 12, 3);
    // a token past the vocabulary: the KL driver would index a row with it
    put32(buf + 20 + 4 * 13, 3);
    expect_open(dir, buf, n, KV_ERR_FORMAT,
                "token 5 of chunk 1 (offset 72) is 3, outside the vocabulary 0..2");
    put32(buf + 20 + 4 * 13, 0xffffffffu);
    expect_open(dir, buf, n, KV_ERR_FORMAT, "is -1, outside the vocabulary");
    kv_test_rmdir(dir);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_encode_row),
        cmocka_unit_test(test_kld_against_exact),
        cmocka_unit_test(test_percentile_and_stats),
        cmocka_unit_test(test_logits_file),
    };
    return cmocka_run_group_tests_name("eval_kld", tests, NULL, NULL);
}
