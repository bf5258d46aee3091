// KV cache and decode bookkeeping: removing a tail and decoding other tokens
// equals a fresh run of the edited text; clearing; copying a sequence; positions
// continue when the batch gives none; bad batches fail whole, leaving the cache
// as it was.
#include "kvant/kv_model.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "kv_test.h"
#include "kv_test_llama.h"

// Same arithmetic, other batch split (see test_model_forward.c).
#define TOL_SPLIT 1e-5
// Cells in another order: attention sums the same terms in another float order.
#define TOL_REORDER 1e-4
#define N 12

static const int32_t TEXT[N] = {1, 5, 9, 33, 71, 2, 8, 64, 15, 40, 77, 3};
static const int32_t EDIT[N] = {1, 5, 9, 33, 71, 2, 18, 4, 88, 41, 6, 90}; // differs from 6 on

static char *dir;
static kv_model *model;
static int64_t V;

static int setup(void **state) {
    (void)state;
    dir = kv_test_tmpdir();
    char path[512];
    snprintf(path, sizeof path, "%s/tiny.gguf", dir);
    kv_test_llama_opts o = kv_test_llama_defaults();
    kv_test_llama *ref = kv_test_llama_new(&o);
    int rc = kv_test_llama_write(ref, path);
    kv_test_llama_free(ref);
    V = o.n_vocab;
    return rc != 0 || kv_model_open(path, &model, NULL) != KV_OK;
}

static int teardown(void **state) {
    (void)state;
    kv_model_close(model);
    kv_test_rmdir(dir);
    return 0;
}

static kv_ctx *new_ctx(int n_ctx, int n_seq) {
    kv_ctx_params p = kv_ctx_default_params();
    p.n_ctx = n_ctx;
    p.n_batch = 16;
    p.n_seq_max = n_seq;
    p.n_threads = 2;
    kv_ctx *c = NULL;
    assert_int_equal(kv_ctx_new(model, &p, &c, NULL), KV_OK);
    return c;
}

// Decodes tokens at positions pos0.. in sequence seq; the last row's logits go to out.
static kv_status feed(kv_ctx *c, const int32_t *tokens, int n, int pos0, int seq, float *out) {
    int32_t pos[N], sid[N];
    for (int i = 0; i < n; i++) {
        pos[i] = pos0 + i;
        sid[i] = seq;
    }
    kv_batch b = {n, tokens, pos, sid, NULL};
    kv_status st = kv_ctx_decode(c, &b, NULL);
    if (st == KV_OK && out)
        memcpy(out, kv_ctx_logits(c, n - 1), (size_t)V * sizeof *out);
    return st;
}

static double diff(const float *a, const float *b) {
    double d = 0;
    for (int64_t i = 0; i < V; i++)
        d = fmax(d, fabs((double)a[i] - b[i]));
    return d;
}

static void test_trim_then_redecode(void **state) {
    (void)state;
    float *want = malloc((size_t)V * sizeof *want), *got = malloc((size_t)V * sizeof *got);
    kv_ctx *c = new_ctx(32, 1);
    assert_int_equal(feed(c, EDIT, N, 0, 0, want), KV_OK);
    kv_ctx_seq_clear(c, 0);
    assert_int_equal(kv_ctx_seq_n_cells(c, 0), 0);
    assert_int_equal(kv_ctx_seq_pos_max(c, 0), -1);
    assert_int_equal(feed(c, TEXT, N, 0, 0, NULL), KV_OK);
    assert_int_equal(kv_ctx_seq_rm(c, 0, 6, -1, NULL), KV_OK); // drop positions 6..
    assert_int_equal(kv_ctx_seq_n_cells(c, 0), 6);
    assert_int_equal(kv_ctx_seq_pos_max(c, 0), 5);
    assert_int_equal(feed(c, EDIT + 6, N - 6, 6, 0, got), KV_OK);
    assert_true(diff(got, want) <= TOL_SPLIT);
    // A hole in the middle, refilled, gives the same again (cells out of order).
    assert_int_equal(kv_ctx_seq_rm(c, 0, 2, 4, NULL), KV_OK);
    assert_int_equal(kv_ctx_seq_n_cells(c, 0), N - 2);
    assert_int_equal(feed(c, EDIT + 2, 2, 2, 0, NULL), KV_OK);
    assert_int_equal(kv_ctx_seq_rm(c, 0, N - 1, N, NULL), KV_OK);
    assert_int_equal(feed(c, EDIT + N - 1, 1, N - 1, 0, got), KV_OK);
    assert_true(diff(got, want) <= TOL_REORDER);
    kv_err err;
    assert_int_equal(kv_ctx_seq_rm(c, 1, 0, -1, &err), KV_ERR_INVALID);
    kv_ctx_free(c);
    free(want), free(got);
}

static void test_copy_sequence(void **state) {
    (void)state;
    float *a = malloc((size_t)V * sizeof *a), *b = malloc((size_t)V * sizeof *b);
    float *want_a = malloc((size_t)V * sizeof *a), *want_b = malloc((size_t)V * sizeof *b);
    kv_ctx *c = new_ctx(32, 2);
    assert_int_equal(feed(c, TEXT, N, 0, 0, want_a), KV_OK);
    kv_ctx_seq_clear(c, 0);
    assert_int_equal(feed(c, EDIT, N, 0, 0, want_b), KV_OK);
    kv_ctx_seq_clear(c, -1);
    assert_int_equal(feed(c, TEXT, 6, 0, 0, NULL), KV_OK); // shared prefix
    assert_int_equal(kv_ctx_seq_cp(c, 0, 1, NULL), KV_OK);
    assert_int_equal(kv_ctx_seq_pos_max(c, 1), 5);
    assert_int_equal(feed(c, TEXT + 6, N - 6, 6, 0, a), KV_OK);
    assert_int_equal(feed(c, EDIT + 6, N - 6, 6, 1, b), KV_OK);
    assert_true(diff(a, want_a) <= TOL_SPLIT);
    assert_true(diff(b, want_b) <= TOL_SPLIT);
    kv_ctx_free(c);
    free(a), free(b), free(want_a), free(want_b);
}

// Without positions each sequence continues after its highest one.
static void test_positions_continue(void **state) {
    (void)state;
    float *want = malloc((size_t)V * sizeof *want);
    kv_ctx *c = new_ctx(32, 1);
    assert_int_equal(feed(c, TEXT, N, 0, 0, want), KV_OK);
    kv_ctx_seq_clear(c, 0);
    kv_batch b1 = {5, TEXT, NULL, NULL, NULL};
    kv_batch b2 = {N - 5, TEXT + 5, NULL, NULL, NULL};
    assert_int_equal(kv_ctx_decode(c, &b1, NULL), KV_OK);
    assert_int_equal(kv_ctx_decode(c, &b2, NULL), KV_OK);
    assert_int_equal(kv_ctx_seq_pos_max(c, 0), N - 1);
    assert_null(kv_ctx_logits(c, 0)); // by default only the last token has logits
    assert_true(diff(kv_ctx_logits(c, N - 6), want) <= TOL_SPLIT);
    assert_null(kv_ctx_logits(c, N - 5));
    kv_ctx_free(c);
    free(want);
}

static void expect_fail(kv_ctx *c, const kv_batch *b, kv_status want, const char *fragment) {
    kv_err err = {0};
    const int32_t cells = kv_ctx_seq_n_cells(c, 0), pmax = kv_ctx_seq_pos_max(c, 0);
    assert_int_equal(kv_ctx_decode(c, b, &err), want);
    if (!strstr(err.msg, fragment))
        fail_msg("message '%s' lacks '%s'", err.msg, fragment);
    assert_int_equal(kv_ctx_seq_n_cells(c, 0), cells); // nothing changed
    assert_int_equal(kv_ctx_seq_pos_max(c, 0), pmax);
}

static void test_bad_batches(void **state) {
    (void)state;
    kv_ctx *c = new_ctx(16, 1);
    assert_int_equal(feed(c, TEXT, 4, 0, 0, NULL), KV_OK);
    int32_t big[17] = {0};
    kv_batch over = {17, big, NULL, NULL, NULL};
    expect_fail(c, &over, KV_ERR_LIMIT, "exceeds n_batch 16");
    const int32_t bad_tok[2] = {3, 100};
    kv_batch b = {2, bad_tok, NULL, NULL, NULL};
    expect_fail(c, &b, KV_ERR_INVALID, "token id 100 is outside 0..99");
    const int32_t toks[3] = {3, 4, 5}, dup_pos[3] = {4, 5, 2};
    kv_batch d = {3, toks, dup_pos, NULL, NULL};
    expect_fail(c, &d, KV_ERR_INVALID, "sequence 0 already has position 2");
    const int32_t dup_in_batch[3] = {7, 8, 7};
    d.pos = dup_in_batch;
    expect_fail(c, &d, KV_ERR_INVALID, "already has position 7");
    const int32_t seq[3] = {0, 1, 0};
    kv_batch s = {3, toks, NULL, seq, NULL};
    expect_fail(c, &s, KV_ERR_INVALID, "sequence 1 is outside 0..0");
    int32_t many[13] = {0};
    kv_batch full = {13, many, NULL, NULL, NULL};
    expect_fail(c, &full, KV_ERR_LIMIT, "sequence 0 is full");
    kv_batch empty = {0, toks, NULL, NULL, NULL};
    expect_fail(c, &empty, KV_ERR_INVALID, "empty batch");
    kv_batch fits = {12, many, NULL, NULL, NULL};
    assert_int_equal(kv_ctx_decode(c, &fits, NULL), KV_OK); // exactly full is fine
    assert_int_equal(kv_ctx_seq_n_cells(c, 0), 16);
    kv_ctx_free(c);
}

static void test_bad_params(void **state) {
    (void)state;
    kv_ctx_params p = kv_ctx_default_params();
    kv_ctx *c = NULL;
    kv_err err;
    p.n_seq_max = 0;
    assert_int_equal(kv_ctx_new(model, &p, &c, &err), KV_ERR_INVALID);
    assert_null(c);
    p = kv_ctx_default_params();
    p.n_outputs_max = p.n_batch + 1;
    assert_int_equal(kv_ctx_new(model, &p, &c, &err), KV_ERR_INVALID);
    p = kv_ctx_default_params(); // n_ctx 0: the model's context_length
    assert_int_equal(kv_ctx_new(model, &p, &c, &err), KV_OK);
    assert_int_equal(kv_ctx_n_ctx(c), 128);
    kv_ctx_free(c);
    kv_ctx_free(NULL);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_trim_then_redecode), cmocka_unit_test(test_copy_sequence),
        cmocka_unit_test(test_positions_continue), cmocka_unit_test(test_bad_batches),
        cmocka_unit_test(test_bad_params),
    };
    return cmocka_run_group_tests_name("model_kvcache", tests, setup, teardown);
}
