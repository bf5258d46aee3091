// kvant bench's library: the mean and sample standard deviation, the bandwidth
// test, the model description (sizes counted by hand from the tiny model's
// shape) and prompt/generation runs on a tiny model: they decode the tokens
// they claim, repeat as asked, report consistent rates and refuse contexts too
// small for them. No timing is asserted beyond "positive".
#include "kvant/kv_bench.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "kv_test.h"
#include "kv_test_llama.h"

// Double sums of a handful of values: exact up to a few ulps.
#define TOL_STATS 1e-12

static void test_stats(void **state) {
    (void)state;
    double mean = -1, sd = -1;
    const double v[] = {1, 2, 3, 4};
    kv_bench_stats(v, 4, &mean, &sd);
    assert_float_equal(mean, 2.5, TOL_STATS);
    assert_float_equal(sd, sqrt(5.0 / 3.0), TOL_STATS); // sum of squares 5, n - 1 = 3
    // llama-bench's one-pass form gives the same on ordinary values.
    const double w[] = {10.5, 12.25, 9.75, 11.0, 13.5};
    double sum = 0, sq = 0;
    for (int i = 0; i < 5; i++) {
        sum += w[i];
        sq += w[i] * w[i];
    }
    const double m = sum / 5;
    kv_bench_stats(w, 5, &mean, &sd);
    assert_float_equal(mean, m, TOL_STATS);
    assert_float_equal(sd, sqrt(sq / 4 - m * m * 5 / 4), 1e-9);
    // Large, close values: the two-pass form keeps the spread.
    const double big[] = {1e9 + 1, 1e9 + 2, 1e9 + 3};
    kv_bench_stats(big, 3, &mean, &sd);
    assert_float_equal(mean, 1e9 + 2, TOL_STATS);
    assert_float_equal(sd, 1.0, TOL_STATS);
    // One value: no spread; none: zeros.
    kv_bench_stats(v + 2, 1, &mean, &sd);
    assert_float_equal(mean, 3.0, 0.0);
    assert_float_equal(sd, 0.0, 0.0);
    kv_bench_stats(v, 0, &mean, &sd);
    assert_float_equal(mean, 0.0, 0.0);
    assert_float_equal(sd, 0.0, 0.0);
}

static void test_bandwidth(void **state) {
    (void)state;
    kv_err err = {0};
    for (int t = 1; t <= 2; t++) {
        double gbs = 0;
        assert_int_equal(kv_bench_bandwidth((size_t)8 << 20, t, 2, &gbs, &err), KV_OK);
        assert_true(gbs > 0.0);
        assert_true(isfinite(gbs));
    }
    double gbs = 1;
    assert_int_equal(kv_bench_bandwidth(1000, 1, 1, &gbs, &err), KV_ERR_INVALID);
    assert_float_equal(gbs, 0.0, 0.0);
    assert_int_equal(kv_bench_bandwidth((size_t)8 << 20, 0, 1, &gbs, &err), KV_ERR_INVALID);
    assert_int_equal(kv_bench_bandwidth((size_t)8 << 20, 1, 0, &gbs, &err), KV_ERR_INVALID);
    const size_t def = kv_bench_bandwidth_size();
    assert_true(def >= ((size_t)64 << 20) && def <= ((size_t)2048 << 20));
    assert_int_equal(def % ((size_t)1 << 20), 0);
}

// ---- a tiny model ----

typedef struct {
    char *dir;
    kv_test_llama_opts o;
    kv_test_llama *ref;
    kv_model *m;
    kv_ctx *c;
} fixture;

static int setup(void **state) {
    fixture *f = calloc(1, sizeof *f);
    f->dir = kv_test_tmpdir();
    char path[512];
    snprintf(path, sizeof path, "%s/tiny.gguf", f->dir);
    f->o = kv_test_llama_defaults();
    f->ref = kv_test_llama_new(&f->o);
    assert_int_equal(kv_test_llama_write(f->ref, path), 0);
    assert_int_equal(kv_model_open(path, &f->m, NULL), KV_OK);
    kv_ctx_params cp = kv_ctx_default_params();
    cp.n_ctx = 32;
    cp.n_batch = 8;
    cp.n_threads = 2;
    assert_int_equal(kv_ctx_new(f->m, &cp, &f->c, NULL), KV_OK);
    *state = f;
    return 0;
}

static int teardown(void **state) {
    fixture *f = *state;
    kv_ctx_free(f->c);
    kv_model_close(f->m);
    kv_test_llama_free(f->ref);
    kv_test_rmdir(f->dir);
    free(f);
    return 0;
}

static void test_describe(void **state) {
    const fixture *f = *state;
    const kv_test_llama_opts *o = &f->o;
    const uint64_t E = (uint64_t)o->n_embd, V = (uint64_t)o->n_vocab, F = (uint64_t)o->n_ff;
    const uint64_t kv = E / (uint64_t)o->n_head * (uint64_t)o->n_head_kv;
    const uint64_t layer = E + E * E + 2 * E * kv + E * E + E + 3 * E * F;
    const uint64_t n_params = 2 * V * E + E + (uint64_t)o->n_layer * layer;
    kv_bench_model d;
    kv_bench_describe(f->m, &d);
    assert_int_equal(d.n_params, n_params);
    assert_int_equal(d.size, 4 * n_params); // F32 throughout
    // Everything but token_embd, of which one row.
    assert_int_equal(d.bytes_per_token, 4 * (n_params - V * E + E));
    assert_int_equal(d.bytes_per_token, kv_model_weight_bytes(f->m) - 4 * V * E + 4 * E);
    assert_int_equal(d.bos, -1); // the tiny model has no tokenizer
    char want[96];
    snprintf(want, sizeof want, "llama %s %s", d.size_label, d.ftype);
    assert_string_equal(d.type, want);
    assert_string_equal(d.size_label, "75K");
    const char *kn = kv_model_kernels_name(f->m);
    assert_true(!strcmp(kn, "ref") || !strcmp(kn, "avx2") || !strcmp(kn, "avx2-vnni") ||
                !strcmp(kn, "avx512") || !strcmp(kn, "amx") || !strcmp(kn, "neon"));
}

static int n_progress, last_rep;

static void progress(void *user, const char *test, int32_t rep, int32_t n_reps) {
    (void)user;
    assert_int_equal(rep, last_rep + 1);
    assert_int_equal(n_reps, 3);
    assert_true(strcmp(test, "pp20") == 0 || strcmp(test, "tg6") == 0);
    last_rep = rep;
    n_progress++;
}

static void check_result(const kv_bench_result *r, int32_t n_tokens, int32_t n_reps) {
    assert_int_equal(r->n_reps, n_reps);
    double sum = 0;
    for (int i = 0; i < n_reps; i++) {
        assert_true(r->samples_ns[i] > 0);
        assert_float_equal(r->samples_ts[i], 1e9 * n_tokens / (double)r->samples_ns[i],
                           1e-9 * r->samples_ts[i]);
        sum += r->samples_ts[i];
    }
    assert_float_equal(r->avg_ts, sum / n_reps, 1e-9 * r->avg_ts);
    assert_true(r->avg_ts > 0 && r->stddev_ts >= 0);
    assert_true(r->avg_ns > 0);
}

static void test_prompt_and_gen(void **state) {
    fixture *f = *state;
    kv_bench_params p = kv_bench_default_params();
    p.n_reps = 3;
    p.progress = progress;
    kv_bench_result r;
    kv_err err = {0};
    n_progress = 0;
    last_rep = -1;
    assert_int_equal(kv_bench_prompt(f->c, 20, &p, &r, &err), KV_OK);
    assert_int_equal(n_progress, 4); // warm-up and three runs
    assert_int_equal(r.n_prompt, 20);
    assert_int_equal(r.n_gen, 0);
    assert_int_equal(r.n_batch, 8); // the context's
    check_result(&r, 20, 3);
    assert_int_equal(kv_ctx_seq_pos_max(f->c, 0), 19); // the last run's tokens are cached

    p.bos = 1;
    n_progress = 0;
    last_rep = -1;
    assert_int_equal(kv_bench_gen(f->c, 6, &p, &r, &err), KV_OK);
    assert_int_equal(n_progress, 4);
    assert_int_equal(r.n_gen, 6);
    assert_int_equal(r.n_prompt, 0);
    assert_int_equal(r.n_batch, 1);
    check_result(&r, 6, 3);
    assert_int_equal(kv_ctx_seq_pos_max(f->c, 0), 5);

    // Without warm-up and in batches of 5 (20 = 4 calls).
    p.warmup = false;
    p.progress = NULL;
    p.n_batch = 5;
    p.n_reps = 1;
    assert_int_equal(kv_bench_prompt(f->c, 20, &p, &r, &err), KV_OK);
    assert_int_equal(r.n_batch, 5);
    check_result(&r, 20, 1);
    assert_float_equal(r.stddev_ts, 0.0, 0.0);
}

// Last-token logits of a prompt run: the same seed draws the same tokens.
static void run_logits(kv_ctx *c, uint64_t seed, float *out, int64_t n_vocab) {
    kv_bench_params p = kv_bench_default_params();
    p.n_reps = 1;
    p.warmup = false;
    p.seed = seed;
    kv_bench_result r;
    assert_int_equal(kv_bench_prompt(c, 12, &p, &r, NULL), KV_OK);
    const float *l = kv_ctx_logits(c, 3); // the last of the batch 8..11
    assert_non_null(l);
    memcpy(out, l, (size_t)n_vocab * sizeof *out);
}

static void test_seeded(void **state) {
    fixture *f = *state;
    const int64_t V = f->o.n_vocab;
    float *a = malloc((size_t)V * sizeof *a), *b = malloc((size_t)V * sizeof *b);
    run_logits(f->c, 7, a, V);
    run_logits(f->c, 7, b, V);
    assert_memory_equal(a, b, (size_t)V * sizeof *a);
    run_logits(f->c, 8, b, V);
    assert_true(memcmp(a, b, (size_t)V * sizeof *a) != 0);
    free(a);
    free(b);
}

static void test_refusals(void **state) {
    fixture *f = *state;
    kv_bench_params p = kv_bench_default_params();
    p.n_reps = 1;
    kv_bench_result r;
    kv_err err = {0};
    assert_int_equal(kv_bench_prompt(f->c, 33, &p, &r, &err), KV_ERR_LIMIT);
    assert_non_null(strstr(err.msg, "context of 33"));
    assert_int_equal(kv_bench_gen(f->c, 40, &p, &r, &err), KV_ERR_LIMIT);
    assert_int_equal(kv_bench_prompt(f->c, 0, &p, &r, &err), KV_ERR_INVALID);
    p.n_batch = 9;
    assert_int_equal(kv_bench_prompt(f->c, 16, &p, &r, &err), KV_ERR_LIMIT);
    p.n_batch = 0;
    p.n_reps = 0;
    assert_int_equal(kv_bench_gen(f->c, 4, &p, &r, &err), KV_ERR_INVALID);
    p.n_reps = KV_BENCH_MAX_REPS + 1;
    assert_int_equal(kv_bench_gen(f->c, 4, &p, &r, &err), KV_ERR_INVALID);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_stats),
        cmocka_unit_test(test_bandwidth),
        cmocka_unit_test_setup_teardown(test_describe, setup, teardown),
        cmocka_unit_test_setup_teardown(test_prompt_and_gen, setup, teardown),
        cmocka_unit_test_setup_teardown(test_seeded, setup, teardown),
        cmocka_unit_test_setup_teardown(test_refusals, setup, teardown),
    };
    return cmocka_run_group_tests_name("eval_bench", tests, NULL, NULL);
}
