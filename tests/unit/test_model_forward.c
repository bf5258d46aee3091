// The forward pass against the naive reference of tests/support/kv_test_llama.c
// on tiny random models: a prompt in one batch, token by token and in uneven
// pieces; 1..4 threads; several sequences in one batch; F16, BF16 and quantized
// weights; biases, tied output, partial rotary; hidden states and the hook.
#include "kvant/kv_model.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "kernels/kernels.h"
#include "kv_test.h"
#include "kv_test_llama.h"

// Runtime (float, double-accumulated dots) vs the naive pass in double: both
// round q, k, v through F16, so only float rounding separates them, plus the
// rare F16 rounding flip it causes.
#define TOL_LOGIT 1e-3
// When a weight type's dot takes activations rounded to F16, BF16 or 8 bits (as
// ggml's do), that rounding moves logits by up to about 1.5% of the largest one;
// this bound is relative to it.
#define TOL_ROUNDED_ACT_REL 3e-2
// Same arithmetic in another batch split: identical with the reference kernels;
// the margin leaves room for SIMD kernels that tile batches.
#define TOL_SPLIT 1e-5

#define N_TOK 19

static const int32_t PROMPT[N_TOK] = {1, 17, 42, 99, 3, 3, 64, 8, 50, 23, 77, 5, 91, 12, 30, 2, 60, 44, 0};

typedef struct {
    char *dir;
    char path[512];
    kv_test_llama *ref;
    kv_model *m;
} fixture;

static fixture *open_model(const kv_test_llama_opts *o) {
    fixture *f = calloc(1, sizeof *f);
    f->dir = kv_test_tmpdir();
    snprintf(f->path, sizeof f->path, "%s/tiny.gguf", f->dir);
    f->ref = kv_test_llama_new(o);
    assert_int_equal(kv_test_llama_write(f->ref, f->path), 0);
    kv_err err = {0};
    kv_status st = kv_model_open(f->path, &f->m, &err);
    if (st != KV_OK)
        print_message("%s\n", err.msg);
    assert_int_equal(st, KV_OK);
    return f;
}

static void close_model(fixture *f) {
    kv_model_close(f->m);
    kv_test_llama_free(f->ref);
    kv_test_rmdir(f->dir);
    free(f);
}

static kv_ctx *new_ctx(const kv_model *m, int n_threads, int n_batch, int n_seq, bool emb) {
    kv_ctx_params p = kv_ctx_default_params();
    p.n_ctx = 64;
    p.n_batch = n_batch;
    p.n_seq_max = n_seq;
    p.n_threads = n_threads;
    p.embeddings = emb;
    kv_ctx *c = NULL;
    kv_err err = {0};
    kv_status st = kv_ctx_new(m, &p, &c, &err);
    if (st != KV_OK)
        print_message("%s\n", err.msg);
    assert_int_equal(st, KV_OK);
    return c;
}

// Decodes tokens[0..n) of sequence seq starting at position pos0 in pieces of
// `step`, every token with logits, copying them to out (n, n_vocab).
static void run_pieces(kv_ctx *c, const int32_t *tokens, int n, int pos0, int seq, int step,
                       float *out) {
    const int64_t V = kv_model_hparams(kv_ctx_model(c))->n_vocab;
    int8_t want[N_TOK * 4];
    int32_t pos[N_TOK * 4], sid[N_TOK * 4];
    for (int i = 0; i < n; i++) {
        want[i] = 1;
        pos[i] = pos0 + i;
        sid[i] = seq;
    }
    for (int b = 0; b < n; b += step) {
        const int k = n - b < step ? n - b : step;
        kv_batch batch = {k, tokens + b, pos + b, sid + b, want + b};
        kv_err err = {0};
        kv_status st = kv_ctx_decode(c, &batch, &err);
        if (st != KV_OK)
            print_message("%s\n", err.msg);
        assert_int_equal(st, KV_OK);
        for (int i = 0; i < k; i++)
            memcpy(out + (int64_t)(b + i) * V, kv_ctx_logits(c, i), (size_t)V * sizeof(float));
    }
}

static double max_abs_diff(const float *a, const float *b, int64_t n) {
    double d = 0;
    for (int64_t i = 0; i < n; i++)
        if (fabs((double)a[i] - b[i]) > d)
            d = fabs((double)a[i] - b[i]);
    return d;
}

// Prompt at once, token by token and in pieces of 5, all against the reference.
static void check_model(const kv_test_llama_opts *o, double tol) {
    const bool rounded_act = kv_kernels_get()->types[o->wtype].vec_dot_type != KV_TYPE_F32;
    fixture *f = open_model(o);
    const int64_t V = o->n_vocab;
    float *want = malloc((size_t)(N_TOK * V) * sizeof *want);
    float *got = malloc((size_t)(N_TOK * V) * sizeof *got);
    float *whole = malloc((size_t)(N_TOK * V) * sizeof *whole);
    kv_test_llama_forward(f->ref, PROMPT, N_TOK, want, NULL);
    kv_ctx *c = new_ctx(f->m, 2, 32, 1, false);
    run_pieces(c, PROMPT, N_TOK, 0, 0, N_TOK, whole);
    double d = max_abs_diff(whole, want, N_TOK * V);
    double spread = 0; // the logits must not be trivially flat
    for (int64_t i = 0; i < N_TOK * V; i++)
        spread = fabs(want[i]) > spread ? fabs(want[i]) : spread;
    print_message("%s weights: max |logit - naive| = %.2e (max |logit| %.2f)\n",
                  kv_type_name(o->wtype), d, spread);
    assert_true(spread > 0.5);
    if (rounded_act)
        tol = TOL_ROUNDED_ACT_REL * spread;
    assert_true(d < tol);
    const int steps[] = {1, 5};
    for (int s = 0; s < 2; s++) {
        kv_ctx_seq_clear(c, -1);
        run_pieces(c, PROMPT, N_TOK, 0, 0, steps[s], got);
        assert_true(max_abs_diff(got, whole, N_TOK * V) <= TOL_SPLIT);
    }
    kv_ctx_free(c);
    free(want), free(got), free(whole);
    close_model(f);
}

static void test_f32_matches_naive(void **state) {
    (void)state;
    kv_test_llama_opts o = kv_test_llama_defaults();
    check_model(&o, TOL_LOGIT);
}

static void test_variants_match_naive(void **state) {
    (void)state;
    kv_test_llama_opts o = kv_test_llama_defaults();
    o.biases = true;
    o.tied = true;
    o.n_rot = 8; // half the head rotates, the rest passes through
    o.seed = 7;
    check_model(&o, TOL_LOGIT);
    o = kv_test_llama_defaults();
    o.n_head_kv = 4; // plain multi-head attention
    o.rope_base = 500.0f;
    check_model(&o, TOL_LOGIT);
}

static void test_float_types_match_naive(void **state) {
    (void)state;
    const kv_type types[] = {KV_TYPE_F16, KV_TYPE_BF16};
    for (int i = 0; i < 2; i++) {
        kv_test_llama_opts o = kv_test_llama_defaults();
        o.wtype = types[i];
        check_model(&o, TOL_LOGIT);
    }
}

// Quantized weights go through the dequantizing fallback; the reference uses
// the same dequantized values.
static void test_quant_types_match_naive(void **state) {
    (void)state;
    const kv_type small[] = {KV_TYPE_Q8_0, KV_TYPE_Q4_0, KV_TYPE_Q5_1};
    for (int i = 0; i < 3; i++) {
        kv_test_llama_opts o = kv_test_llama_defaults();
        o.wtype = small[i];
        check_model(&o, TOL_LOGIT);
    }
    kv_test_llama_opts o = kv_test_llama_defaults(); // K-quants need rows of 256
    o.n_embd = 256;
    o.n_ff = 256;
    o.n_layer = 1;
    o.wtype = KV_TYPE_Q4_K;
    check_model(&o, TOL_LOGIT);
}

// Identical logits for any thread count.
static void test_threads_identical(void **state) {
    (void)state;
    kv_test_llama_opts o = kv_test_llama_defaults();
    fixture *f = open_model(&o);
    const int64_t V = o.n_vocab;
    float *base = malloc((size_t)(N_TOK * V) * sizeof *base);
    float *got = malloc((size_t)(N_TOK * V) * sizeof *got);
    for (int nt = 1; nt <= 4; nt++) {
        kv_ctx *c = new_ctx(f->m, nt, 8, 1, false);
        run_pieces(c, PROMPT, N_TOK, 0, 0, 8, nt == 1 ? base : got);
        if (nt > 1)
            assert_memory_equal(got, base, (size_t)(N_TOK * V) * sizeof *got);
        kv_ctx_free(c);
    }
    free(base), free(got);
    close_model(f);
}

// Two sequences interleaved in one batch give what each gives alone.
static void test_sequences_batched(void **state) {
    (void)state;
    kv_test_llama_opts o = kv_test_llama_defaults();
    fixture *f = open_model(&o);
    const int64_t V = o.n_vocab;
    enum { N = 10 };
    const int32_t *a = PROMPT, *b = PROMPT + 7;
    float *alone = malloc((size_t)(2 * N * V) * sizeof *alone);
    kv_ctx *c = new_ctx(f->m, 2, 32, 3, false);
    run_pieces(c, a, N, 0, 0, N, alone);
    run_pieces(c, b, N, 0, 2, N, alone + N * V);
    kv_ctx_seq_clear(c, -1);
    int32_t tok[2 * N], pos[2 * N], seq[2 * N];
    int8_t want[2 * N];
    for (int i = 0; i < N; i++) {
        tok[2 * i] = a[i], pos[2 * i] = i, seq[2 * i] = 0, want[2 * i] = 1;
        tok[2 * i + 1] = b[i], pos[2 * i + 1] = i, seq[2 * i + 1] = 2, want[2 * i + 1] = 1;
    }
    kv_batch batch = {2 * N, tok, pos, seq, want};
    assert_int_equal(kv_ctx_decode(c, &batch, NULL), KV_OK);
    for (int i = 0; i < N; i++) {
        assert_true(max_abs_diff(kv_ctx_logits(c, 2 * i), alone + i * V, V) <= TOL_SPLIT);
        assert_true(max_abs_diff(kv_ctx_logits(c, 2 * i + 1), alone + (N + i) * V, V) <= TOL_SPLIT);
    }
    assert_int_equal(kv_ctx_seq_n_cells(c, 0), N);
    assert_int_equal(kv_ctx_seq_n_cells(c, 1), 0);
    assert_int_equal(kv_ctx_seq_pos_max(c, 2), N - 1);
    kv_ctx_free(c);
    free(alone);
    close_model(f);
}

static double hook_sum_sq;
static int hook_calls, hook_q_rows;

static void hook(void *user, const char *name, const float *x, int64_t rows, int64_t n_in) {
    (void)user;
    hook_calls++;
    if (strcmp(name, "blk.1.ffn_down.weight") == 0) {
        assert_int_equal(n_in, 96);
        for (int64_t i = 0; i < rows * n_in; i++)
            hook_sum_sq += (double)x[i] * x[i];
    }
    if (strcmp(name, "blk.0.attn_q.weight") == 0)
        hook_q_rows += (int)rows;
    if (strcmp(name, "output.weight") == 0)
        assert_int_equal(rows, 2); // only rows with logits
}

// Final hidden states, before and after the output norm, and the hook's view.
static void test_hidden_and_hook(void **state) {
    (void)state;
    kv_test_llama_opts o = kv_test_llama_defaults();
    fixture *f = open_model(&o);
    const int64_t V = o.n_vocab, E = o.n_embd;
    float *logits = malloc((size_t)(N_TOK * V) * sizeof *logits);
    float *hidden = malloc((size_t)(N_TOK * E) * sizeof *hidden);
    kv_test_llama_forward(f->ref, PROMPT, N_TOK, logits, hidden);
    kv_ctx *c = new_ctx(f->m, 2, 32, 1, true);
    kv_ctx_set_matmul_hook(c, hook, NULL);
    int8_t want[N_TOK] = {0};
    want[3] = want[N_TOK - 1] = 1;
    kv_batch b = {N_TOK, PROMPT, NULL, NULL, want};
    assert_int_equal(kv_ctx_decode(c, &b, NULL), KV_OK);
    assert_null(kv_ctx_logits(c, 0));
    assert_null(kv_ctx_hidden(c, 0, false));
    const int rows[2] = {3, N_TOK - 1};
    for (int r = 0; r < 2; r++) {
        const float *h = kv_ctx_hidden(c, rows[r], false);
        const float *hn = kv_ctx_hidden(c, rows[r], true);
        assert_true(max_abs_diff(h, hidden + rows[r] * E, E) < TOL_LOGIT);
        double ss = 0;
        for (int i = 0; i < E; i++)
            ss += (double)h[i] * h[i];
        for (int i = 0; i < E; i++) // post-norm: rmsnorm(h) * output_norm
            assert_float_equal(hn[i], h[i] / sqrt(ss / E + o.eps) * f->ref->output_norm[i], 1e-5);
        assert_true(max_abs_diff(kv_ctx_logits(c, rows[r]), logits + rows[r] * V, V) < TOL_LOGIT);
    }
    assert_int_equal(hook_calls, 2 * 7 + 1);
    assert_int_equal(hook_q_rows, N_TOK);
    assert_true(hook_sum_sq > 0.0);
    kv_ctx_set_matmul_hook(c, NULL, NULL);
    kv_ctx_free(c);
    free(logits), free(hidden);
    close_model(f);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_f32_matches_naive),
        cmocka_unit_test(test_variants_match_naive),
        cmocka_unit_test(test_float_types_match_naive),
        cmocka_unit_test(test_quant_types_match_naive),
        cmocka_unit_test(test_threads_identical),
        cmocka_unit_test(test_sequences_batched),
        cmocka_unit_test(test_hidden_and_hook),
    };
    return cmocka_run_group_tests_name("model_forward", tests, NULL, NULL);
}
