// JSON-constrained sampling over a real vocabulary (llama.cpp's Llama SPM vocab,
// 32000 tokens with byte tokens): which tokens are allowed where, end-of-text only
// once the value is whole, the fast first-byte gate agreeing with the plain
// per-token check, and long random generations that always stay valid and close
// to an object jansson parses.
#include "kvant/kv_json_prefix.h"
#include "kvant/kv_json_schema.h"

#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "kv_test.h"
#include "kvant/kv_gguf.h"
#include "kvant/kv_vocab_gguf.h"

static kv_vocab *vocab;

static int setup(void **state) {
    (void)state;
    if (!kv_test_shared())
        return 0;
    kv_gguf *g = NULL;
    kv_err err;
    kv_status st =
        kv_gguf_open(kv_test_shared_path("testdata/vocab/ggml-vocab-llama-spm.gguf"), &g, &err);
    if (st == KV_OK)
        st = kv_vocab_from_gguf(g, &vocab, &err);
    kv_gguf_close(g);
    if (st != KV_OK)
        print_message("%s\n", err.msg);
    return st == KV_OK ? 0 : -1;
}

static int teardown(void **state) {
    (void)state;
    kv_vocab_free(vocab);
    return 0;
}

static kv_json_prefix after(const char *text) {
    kv_json_prefix p;
    kv_json_prefix_init(&p, KV_JSON_ROOT_OBJECT);
    assert_true(kv_json_prefix_feed(&p, text, strlen(text)));
    return p;
}

static kv_token token_of(const char *text) {
    kv_token t = kv_vocab_find(vocab, text, strlen(text));
    assert_int_not_equal(t, KV_TOKEN_NULL);
    return t;
}

static void test_allowed_tokens(void **state) {
    (void)state;
    KV_NEED_SHARED();
    kv_json_prefix start = after(""), open = after("{"), in_str = after("{\"a"),
                   done = after("{\"a\":1}");
    const kv_token eos = kv_vocab_eos(vocab), bos = kv_vocab_bos(vocab);
    assert_true(kv_json_token_allowed(&start, vocab, token_of("<0x7B>")));   // "{"
    assert_true(kv_json_token_allowed(&start, vocab, token_of("\xe2\x96\x81{"))); // " {"
    assert_false(kv_json_token_allowed(&start, vocab, token_of("\xe2\x96\x81the")));
    assert_false(kv_json_token_allowed(&start, vocab, token_of("<0x5B>"))); // "[": not an object
    assert_true(kv_json_token_allowed(&open, vocab, token_of("<0x7D>"))); // "}"
    assert_true(kv_json_token_allowed(&in_str, vocab, token_of("\xe2\x96\x81the")));
    assert_true(kv_json_token_allowed(&in_str, vocab, token_of("<0xE2>"))); // UTF-8 lead byte
    assert_false(kv_json_token_allowed(&in_str, vocab, token_of("<0x0A>"))); // raw newline
    assert_false(kv_json_token_allowed(&open, vocab, token_of("<0xE2>")));
    // end of text only once the object is whole; control tokens never
    assert_false(kv_json_token_allowed(&open, vocab, eos));
    assert_true(kv_json_token_allowed(&done, vocab, eos));
    assert_false(kv_json_token_allowed(&start, vocab, bos));
    assert_false(kv_json_token_allowed(&done, vocab, bos));
}

// Deterministic pseudo-random logits.
static void random_logits(uint64_t *x, float *l, int32_t n) {
    for (int32_t i = 0; i < n; i++) {
        *x = *x * 6364136223846793005ull + 1442695040888963407ull;
        l[i] = (float)((*x >> 40) % 2000) / 100.0f - 10.0f;
    }
}

static bool slow_allow(void *user, int32_t t) {
    return kv_json_token_allowed(user, vocab, t);
}

// The gate's first-byte shortcut picks what the plain check picks, greedy and drawn.
static void test_gate_matches_plain_check(void **state) {
    (void)state;
    KV_NEED_SHARED();
    const int32_t n_vocab = (int32_t)kv_vocab_n_tokens(vocab);
    float *l = malloc((size_t)n_vocab * sizeof *l);
    assert_non_null(l);
    static const char *const TEXTS[] = {"", "{", "{\"k", "{\"k\"", "{\"k\":", "{\"k\":[1",
                                        "{\"k\":\"\\u00", "{\"k\":{}", "{\"k\":-", "{\"k\":t"};
    uint64_t x = 7;
    for (int temp = 0; temp < 2; temp++) {
        kv_sample_params sp = kv_sample_default_params();
        sp.temp = temp ? 1.0f : 0.0f;
        sp.seed = 3;
        kv_sampler *a = NULL, *b = NULL;
        assert_int_equal(kv_sample_new(&sp, n_vocab, &a, NULL), KV_OK);
        assert_int_equal(kv_sample_new(&sp, n_vocab, &b, NULL), KV_OK);
        for (size_t i = 0; i < sizeof TEXTS / sizeof TEXTS[0]; i++) {
            kv_json_prefix p = after(TEXTS[i]);
            for (int r = 0; r < 5; r++) {
                random_logits(&x, l, n_vocab);
                int32_t fast = kv_sample_next_json(a, l, vocab, &p);
                int32_t slow = kv_sample_next_allowed(b, l, slow_allow, &p);
                assert_int_equal(fast, slow);
                assert_true(kv_json_token_allowed(&p, vocab, fast));
            }
        }
        kv_sample_free(a);
        kv_sample_free(b);
    }
    free(l);
}

// Random logits, drawn at temperature 1 for 300 tokens per seed: every piece
// keeps the text valid; the text stops where the object closes, and closes
// (with kv_json_prefix_closing when it did not) to an object jansson parses.
static void test_random_generations(void **state) {
    (void)state;
    KV_NEED_SHARED();
    const int32_t n_vocab = (int32_t)kv_vocab_n_tokens(vocab);
    float *l = malloc((size_t)n_vocab * sizeof *l);
    char *text = malloc(300 * 64 + KV_JSON_CLOSING_MAX);
    assert_true(l && text);
    int n_done = 0;
    for (uint64_t seed = 1; seed <= 6; seed++) {
        kv_sample_params sp = kv_sample_default_params();
        sp.seed = seed;
        sp.top_k = seed == 3 ? 0 : 40; // 0: every allowed token competes
        sp.temp = 1.0f;
        kv_sampler *s = NULL;
        assert_int_equal(kv_sample_new(&sp, n_vocab, &s, NULL), KV_OK);
        kv_json_prefix p;
        kv_json_prefix_init(&p, KV_JSON_ROOT_OBJECT);
        size_t n = 0;
        uint64_t x = seed;
        for (int step = 0; step < 300 && !kv_json_prefix_done(&p); step++) {
            random_logits(&x, l, n_vocab);
            int32_t t = kv_sample_next_json(s, l, vocab, &p);
            assert_true(t >= 0);
            if (kv_vocab_is_eog(vocab, t))
                break;
            size_t len = 0;
            const char *piece = kv_vocab_piece(vocab, t, false, &len);
            assert_true(len > 0 && len <= 64);
            assert_true(kv_json_prefix_feed(&p, piece, len));
            memcpy(text + n, piece, len);
            n += len;
        }
        n_done += kv_json_prefix_done(&p);
        n += kv_json_prefix_closing(&p, text + n);
        json_error_t e;
        json_t *v = json_loadb(text, n, JSON_DECODE_INT_AS_REAL | JSON_ALLOW_NUL, &e);
        if (!v)
            fail_msg("seed %llu: %s at %d: %.*s", (unsigned long long)seed, e.text, e.position,
                     (int)n, text);
        assert_true(json_is_object(v));
        json_decref(v);
        kv_sample_free(s);
    }
    print_message("%d of 6 random generations closed their object themselves\n", n_done);
    free(text);
    free(l);
}

// ---- under a JSON schema ----

static const char SCHEMA[] =
    "{\"type\":\"object\",\"properties\":{\"name\":{\"type\":\"string\",\"maxLength\":12},"
    "\"kind\":{\"enum\":[\"psalm\",\"proverb\"]},\"verses\":{\"type\":\"array\",\"items\":"
    "{\"type\":\"integer\",\"minimum\":0,\"maximum\":200},\"maxItems\":4},\"x\":{\"anyOf\":"
    "[{\"type\":\"null\"},{\"type\":\"boolean\"}]}},\"required\":[\"name\",\"kind\","
    "\"verses\",\"x\"],\"additionalProperties\":false}";

static bool slow_schema_allow(void *user, int32_t t) {
    return kv_json_match_token_allowed(user, vocab, t);
}

// The schema gate's two-byte shortcut picks what the plain check picks.
static void test_schema_gate_matches_plain_check(void **state) {
    (void)state;
    KV_NEED_SHARED();
    const int32_t n_vocab = (int32_t)kv_vocab_n_tokens(vocab);
    float *l = malloc((size_t)n_vocab * sizeof *l);
    kv_json_schema *js = NULL;
    assert_non_null(l);
    assert_int_equal(kv_json_schema_compile(SCHEMA, strlen(SCHEMA), &js, NULL), KV_OK);
    static const char *const TEXTS[] = {"", "{", "{\"", "{\"na", "{\"name\": \"a b",
                                        "{\"verses\":[1,", "{\"verses\":[1, 2", "{\"x\":",
                                        "{\"kind\":\"p", "{\"kind\":\"psalm\",\n "};
    uint64_t x = 11;
    for (int temp = 0; temp < 2; temp++) {
        kv_sample_params sp = kv_sample_default_params();
        sp.temp = temp ? 1.0f : 0.0f;
        sp.seed = 5;
        kv_sampler *a = NULL, *b = NULL;
        assert_int_equal(kv_sample_new(&sp, n_vocab, &a, NULL), KV_OK);
        assert_int_equal(kv_sample_new(&sp, n_vocab, &b, NULL), KV_OK);
        for (size_t i = 0; i < sizeof TEXTS / sizeof TEXTS[0]; i++) {
            kv_json_match m;
            kv_json_match_init(&m, js);
            assert_true(kv_json_match_feed(&m, TEXTS[i], strlen(TEXTS[i])));
            for (int r = 0; r < 4; r++) {
                random_logits(&x, l, n_vocab);
                int32_t fast = kv_sample_next_schema(a, l, vocab, &m);
                int32_t slow = kv_sample_next_allowed(b, l, slow_schema_allow, &m);
                assert_int_equal(fast, slow);
                assert_true(kv_json_match_token_allowed(&m, vocab, fast));
            }
        }
        kv_sample_free(a);
        kv_sample_free(b);
    }
    kv_json_schema_free(js);
    free(l);
}

// Random logits at temperature 1: every piece keeps the text a valid prefix,
// and a text the matcher calls done parses with every required key present.
static void test_schema_random_generations(void **state) {
    (void)state;
    KV_NEED_SHARED();
    const int32_t n_vocab = (int32_t)kv_vocab_n_tokens(vocab);
    float *l = malloc((size_t)n_vocab * sizeof *l);
    char *text = malloc(400 * 64);
    kv_json_schema *js = NULL;
    assert_true(l && text);
    assert_int_equal(kv_json_schema_compile(SCHEMA, strlen(SCHEMA), &js, NULL), KV_OK);
    int n_done = 0;
    for (uint64_t seed = 1; seed <= 4; seed++) {
        kv_sample_params sp = kv_sample_default_params();
        sp.seed = seed;
        sp.temp = 1.0f;
        kv_sampler *s = NULL;
        assert_int_equal(kv_sample_new(&sp, n_vocab, &s, NULL), KV_OK);
        kv_json_match m;
        kv_json_match_init(&m, js);
        size_t n = 0;
        uint64_t x = seed * 77;
        for (int step = 0; step < 400 && !kv_json_match_done(&m); step++) {
            random_logits(&x, l, n_vocab);
            int32_t t = kv_sample_next_schema(s, l, vocab, &m);
            assert_true(t >= 0);
            if (kv_vocab_is_eog(vocab, t))
                break;
            size_t len = 0;
            const char *piece = kv_vocab_piece(vocab, t, false, &len);
            assert_true(len > 0 && len <= 64);
            assert_true(kv_json_match_feed(&m, piece, len));
            memcpy(text + n, piece, len);
            n += len;
        }
        if (kv_json_match_done(&m)) {
            n_done++;
            json_error_t e;
            json_t *v = json_loadb(text, n, 0, &e);
            if (!v)
                fail_msg("seed %llu: %s: %.*s", (unsigned long long)seed, e.text, (int)n, text);
            assert_int_equal(json_object_size(v), 4);
            assert_true(json_is_array(json_object_get(v, "verses")));
            json_decref(v);
        }
        kv_sample_free(s);
    }
    print_message("%d of 4 random schema generations were done within 400 tokens\n", n_done);
    kv_json_schema_free(js);
    free(text);
    free(l);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_allowed_tokens),
        cmocka_unit_test(test_gate_matches_plain_check),
        cmocka_unit_test(test_random_generations),
        cmocka_unit_test(test_schema_gate_matches_plain_check),
        cmocka_unit_test(test_schema_random_generations),
    };
    return cmocka_run_group_tests_name("model_sample_json", tests, setup, teardown);
}
