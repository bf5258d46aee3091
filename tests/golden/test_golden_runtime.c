// The runtime on the demo model against llama.cpp's record: the F32 conversion's
// greedy continuation (llama-simple -n 32) and its perplexity on kjv-test.txt
// with n_ctx 256 over the first 32 chunks (llama-perplexity).
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "kv_golden.h"
#include "kv_test.h"
#include "kvant/kv_convert.h"
#include "kvant/kv_eval.h"
#include "kvant/kv_model.h"
#include "kvant/kv_tokenizer.h"
#include "kvant/kv_vocab_gguf.h"

// The brief's bound on perplexity; kvant lands much closer (see the log line).
#define TOL_PPL_REL 0.003

static char *dir;
static kv_model *model;
static kv_vocab *vocab;

static int setup(void **state) {
    (void)state;
    if (!kv_test_shared())
        return 0;
    dir = kv_test_tmpdir();
    char path[4200];
    snprintf(path, sizeof path, "%s/f32.gguf", dir);
    kv_convert_opts o = {.outtype = "f32"};
    kv_err err = {0};
    if (kv_convert_hf(kv_test_shared_path("models/kjv-llama-7m"), path, &o, NULL, &err) != KV_OK ||
        kv_model_open(path, &model, &err) != KV_OK ||
        kv_vocab_from_gguf(kv_model_gguf(model), &vocab, &err) != KV_OK) {
        fprintf(stderr, "setup: %s\n", err.msg);
        return 1;
    }
    return 0;
}

static int teardown(void **state) {
    (void)state;
    kv_vocab_free(vocab);
    kv_model_close(model);
    if (dir)
        kv_test_rmdir(dir);
    return 0;
}

static kv_ctx *new_ctx(int n_ctx, int n_batch) {
    kv_ctx_params p = kv_ctx_default_params();
    p.n_ctx = n_ctx;
    p.n_batch = n_batch;
    p.n_threads = 2;
    kv_ctx *c = NULL;
    assert_int_equal(kv_ctx_new(model, &p, &c, NULL), KV_OK);
    return c;
}

static void append_piece(char *out, size_t cap, kv_token t) {
    size_t n = 0;
    const char *piece = kv_vocab_piece(vocab, t, true, &n);
    assert_non_null(piece);
    size_t len = strlen(out);
    assert_true(len + n < cap);
    memcpy(out + len, piece, n);
    out[len + n] = '\0';
}

static void test_greedy(void **state) {
    (void)state;
    KV_NEED_SHARED();
    json_t *g = json_object_get(kv_golden(), "greedy");
    const char *prompt = json_string_value(json_object_get(g, "prompt"));
    const char *want = json_string_value(json_object_get(g, "text"));
    const int n_predict = (int)json_integer_value(json_object_get(g, "n_predict"));
    kv_token toks[64];
    int64_t n = 0;
    assert_int_equal(kv_tokenize(vocab, prompt, strlen(prompt), true, false, toks, 64, &n, NULL),
                     KV_OK);
    char text[4096] = "";
    for (int64_t i = 0; i < n; i++)
        append_piece(text, sizeof text, toks[i]);
    kv_ctx *c = new_ctx(128, 64);
    kv_batch b = {(int32_t)n, toks, NULL, NULL, NULL};
    for (int i = 0; i < n_predict; i++) {
        assert_int_equal(kv_ctx_decode(c, &b, NULL), KV_OK);
        const float *l = kv_ctx_logits(c, b.n_tokens - 1);
        kv_token best = 0;
        for (kv_token t = 1; t < kv_model_hparams(model)->n_vocab; t++)
            best = l[t] > l[best] ? t : best;
        append_piece(text, sizeof text, best);
        toks[0] = best;
        b.n_tokens = 1;
    }
    assert_string_equal(text, want);
    kv_ctx_free(c);
}

static void test_perplexity(void **state) {
    (void)state;
    KV_NEED_SHARED();
    json_t *golden = kv_golden();
    const int n_ctx = (int)json_integer_value(json_object_get(golden, "ctx"));
    const int n_chunks = (int)json_integer_value(json_object_get(golden, "chunks"));
    const double want = json_real_value(
        json_object_get(json_object_get(json_object_get(golden, "eval"), "F32"), "ppl"));
    char *text = NULL;
    size_t len = 0;
    assert_int_equal(kv_read_file(kv_test_shared_path("data/kjv-test.txt"), 1 << 26, &text, &len,
                                  NULL),
                     KV_OK);
    kv_token *toks = NULL;
    int64_t n = 0;
    assert_int_equal(kv_tokenize_alloc(vocab, text, len, true, false, &toks, &n, NULL), KV_OK);
    kv_ctx *c = new_ctx(n_ctx, n_ctx);
    kv_ppl_params p = {n_ctx, n_chunks, kv_vocab_bos(vocab), NULL, NULL, NULL};
    kv_ppl_result r;
    kv_err err = {0};
    assert_int_equal(kv_eval_perplexity(c, toks, n, &p, &r, &err), KV_OK);
    print_message("PPL %.4f +/- %.5f over %lld tokens (llama.cpp %.4f)\n", r.ppl, r.ppl_unc,
                  (long long)r.n_scored, want);
    assert_int_equal(r.n_chunks, n_chunks);
    assert_true(fabs(r.ppl / want - 1.0) < TOL_PPL_REL);
    kv_ctx_free(c);
    free(toks);
    free(text);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_greedy),
        cmocka_unit_test(test_perplexity),
    };
    return cmocka_run_group_tests_name("golden_runtime", tests, setup, teardown);
}
