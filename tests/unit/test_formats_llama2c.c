// llama2.c reader: tiny checkpoints built here in each layout (legacy, version 1,
// version 2) whose float32 values count up from 0, so every tensor's offset is
// checked; tokenizer.bin's mapping to SentencePiece pieces and types; and header,
// size and tokenizer errors (kind and message).
#include "kvant/kv_llama2c.h"

#include <stdlib.h>
#include <string.h>

#include "kv_test.h"

enum { D = 4, H = 6, L = 2, NH = 2, NKV = 1, V = 5, S = 3, HD = D / NH, KV = HD * NKV };

typedef struct {
    uint8_t *p;
    size_t n, cap;
} bytes;

static void put(bytes *b, const void *src, size_t n) {
    if (b->n + n > b->cap) {
        b->cap = (b->n + n) * 2;
        b->p = realloc(b->p, b->cap);
        assert_non_null(b->p);
    }
    memcpy(b->p + b->n, src, n);
    b->n += n;
}
static void put_i32(bytes *b, int32_t v) { put(b, &v, 4); }
static void put_counting(bytes *b, float *next, int64_t n) {
    for (int64_t i = 0; i < n; i++, *next += 1.0f)
        put(b, next, 4);
}

static void header(bytes *b, int version, int32_t vocab, int shared, int32_t gs) {
    if (version > 0) {
        put_i32(b, (int32_t)KV_LLAMA2C_MAGIC);
        put_i32(b, version);
    }
    const int32_t f[7] = {D, H, L, NH, NKV, vocab, S};
    for (int i = 0; i < 7; i++)
        put_i32(b, f[i]);
    if (version > 0) {
        uint8_t s = (uint8_t)shared;
        put(b, &s, 1);
        if (version == 2)
            put_i32(b, gs);
        while (b->n < 256)
            put(b, "", 1);
    }
}

static bytes tokenizer(void) {
    static const char *const T[V] = {"<unk>", "\n<s>\n", "\n</s>\n", "<0x0A>", " a b"};
    bytes b = {0};
    put_i32(&b, 6);
    for (int i = 0; i < V; i++) {
        float score = -(float)i;
        put(&b, &score, 4);
        put_i32(&b, (int32_t)strlen(T[i]));
        put(&b, T[i], strlen(T[i]));
    }
    return b;
}

static kv_llama2c *open_ok(const bytes *m, const bytes *t) {
    kv_llama2c *h = NULL;
    kv_err err = {0};
    kv_status st = kv_llama2c_open_mem(m->p, m->n, "m.bin", t->p, t->n, "tok.bin", &h, &err);
    if (st != KV_OK)
        fail_msg("open: %s", err.msg);
    return h;
}

static float first(const kv_llama2c *h, const char *name) {
    for (int64_t i = 0; i < kv_llama2c_tensor_count(h); i++) {
        const kv_llama2c_tensor *t = kv_llama2c_tensor_at(h, i);
        if (strcmp(t->name, name) == 0) {
            float v[2];
            kv_err err;
            assert_int_equal(kv_llama2c_read_f32(t, t->n_elements - 1, 1, v + 1, &err), KV_OK);
            assert_int_equal(kv_llama2c_read_f32(t, 0, 1, v, &err), KV_OK);
            assert_true(v[1] - v[0] == (float)(t->n_elements - 1) || t->q); // contiguous
            return v[0];
        }
    }
    fail_msg("no tensor %s", name);
    return 0;
}

static void test_legacy(void **state) {
    (void)state;
    bytes m = {0}, t = tokenizer();
    float x = 0;
    header(&m, 0, -V, 0, 0);
    put_counting(&m, &x, (int64_t)V * D + L * (D + D * D + 2 * KV * D + D * D + D + 3 * H * D) + D +
                             S * HD);
    put_counting(&m, &x, (int64_t)V * D);
    kv_llama2c *h = open_ok(&m, &t);
    assert_int_equal(kv_llama2c_header_of(h)->version, 0);
    assert_false(kv_llama2c_header_of(h)->shared_classifier);
    assert_int_equal(kv_llama2c_header_of(h)->vocab_size, V);
    float o = 0;
    assert_true(first(h, "token_embd.weight") == o);
    o += V * D;
    assert_true(first(h, "blk.0.attn_norm.weight") == o);
    assert_true(first(h, "blk.1.attn_norm.weight") == o + D);
    o += L * D;
    assert_true(first(h, "blk.1.attn_q.weight") == o + D * D);
    o += L * D * D;
    assert_true(first(h, "blk.0.attn_k.weight") == o);
    o += 2 * L * KV * D;
    assert_true(first(h, "blk.0.attn_output.weight") == o);
    o += L * D * D + L * D;
    assert_true(first(h, "blk.0.ffn_gate.weight") == o);
    assert_true(first(h, "blk.0.ffn_down.weight") == o + L * H * D);
    assert_true(first(h, "blk.1.ffn_up.weight") == o + 2 * L * H * D + H * D);
    o += 3 * L * H * D;
    assert_true(first(h, "output_norm.weight") == o);
    assert_true(first(h, "output.weight") == o + D + S * HD); // after the RoPE tables
    const kv_llama2c_tensor *q = kv_llama2c_tensor_at(h, 4);
    assert_string_equal(q->name, "blk.0.attn_q.weight");
    assert_int_equal(q->ne[0], D);
    assert_int_equal(q->ne[1], D);
    assert_int_equal(kv_llama2c_tensor_at(h, 5)->ne[1], KV);
    kv_llama2c_close(h);
    free(m.p);
    free(t.p);
}

static void test_v1_shared_and_tokens(void **state) {
    (void)state;
    bytes m = {0}, t = tokenizer();
    float x = 0;
    header(&m, 1, V, 1, 0);
    put_counting(&m, &x, (int64_t)(2 * L + 1) * D + V * D + L * (2 * D * D + 2 * KV * D + 3 * H * D));
    kv_llama2c *h = open_ok(&m, &t);
    assert_true(kv_llama2c_header_of(h)->shared_classifier);
    assert_true(first(h, "blk.0.attn_norm.weight") == 0);
    assert_true(first(h, "blk.0.ffn_norm.weight") == L * D);
    assert_true(first(h, "output_norm.weight") == 2 * L * D);
    assert_true(first(h, "token_embd.weight") == (2 * L + 1) * D);
    assert_true(first(h, "output.weight") == (2 * L + 1) * D);
    kv_llama2c_vocab v;
    kv_llama2c_vocab_of(h, &v);
    assert_int_equal(v.n_tokens, V);
    assert_string_equal(v.tokens[1], "<s>");
    assert_string_equal(v.tokens[2], "</s>");
    assert_string_equal(v.tokens[4], "\xe2\x96\x81" "a" "\xe2\x96\x81" "b");
    const int32_t types[V] = {2, 3, 3, 6, 1};
    for (int i = 0; i < V; i++) {
        assert_int_equal(v.types[i], types[i]);
        assert_true(v.scores[i] == -(float)i);
    }
    kv_llama2c_close(h);
    free(m.p);
    free(t.p);
}

static void test_v2_dequant(void **state) {
    (void)state;
    bytes m = {0}, t = tokenizer();
    float x = 0;
    const int gs = 2;
    header(&m, 2, V, 0, gs);
    put_counting(&m, &x, (int64_t)(2 * L + 1) * D);
    int64_t n_q = (int64_t)2 * V * D + L * (2 * D * D + 2 * KV * D + 3 * H * D);
    for (int64_t i = 0; i < n_q; i++) {
        int8_t q = (int8_t)(i % 255 - 127);
        put(&m, &q, 1);
    }
    for (int64_t g = 0; g < n_q / gs; g++) {
        float s = 0.5f + (float)g;
        put(&m, &s, 4);
    }
    kv_llama2c *h = open_ok(&m, &t);
    const kv_llama2c_tensor *e = kv_llama2c_tensor_at(h, 0), *o = kv_llama2c_tensor_at(h, 2);
    float v[4];
    kv_err err;
    assert_int_equal(kv_llama2c_read_f32(e, 1, 3, v, &err), KV_OK);
    assert_true(v[0] == -126.0f * 0.5f && v[1] == -125.0f * 1.5f && v[2] == -124.0f * 1.5f);
    int64_t q0 = n_q - (int64_t)V * D; // the classifier's int8 comes last
    assert_int_equal(kv_llama2c_read_f32(o, 0, 1, v, &err), KV_OK);
    assert_true(v[0] == (float)(int8_t)(q0 % 255 - 127) * (0.5f + (float)(q0 / gs)));
    assert_int_equal(kv_llama2c_read_f32(o, 0, o->n_elements + 1, v, &err), KV_ERR_INVALID);
    kv_llama2c_close(h);
    free(m.p);
    free(t.p);
}

static void expect_fail(const bytes *m, const bytes *t, kv_status want, const char *frag) {
    kv_llama2c *h = (kv_llama2c *)1;
    kv_err err = {0};
    assert_int_equal(kv_llama2c_open_mem(m->p, m->n, "m.bin", t->p, t->n, "tok.bin", &h, &err), want);
    assert_null(h);
    if (!strstr(err.msg, frag))
        fail_msg("'%s' not in '%s'", frag, err.msg);
}

static void test_errors(void **state) {
    (void)state;
    bytes m = {0}, t = tokenizer();
    float x = 0;
    header(&m, 1, V, 1, 0);
    put_counting(&m, &x, (int64_t)(2 * L + 1) * D + V * D + L * (2 * D * D + 2 * KV * D + 3 * H * D));
    size_t full = m.n;
    m.n = full - 1;
    expect_fail(&m, &t, KV_ERR_TRUNCATED, "m.bin: truncated: tensor 'blk.1.ffn_up.weight'");
    m.n = 100;
    expect_fail(&m, &t, KV_ERR_TRUNCATED, "needs 256");
    m.n = full;
    put(&m, "x", 1);
    expect_fail(&m, &t, KV_ERR_FORMAT, "1 bytes after the last weight");
    m.n = full;
    int32_t saved;
    memcpy(&saved, m.p + 4, 4);
    memcpy(m.p + 4, &(int32_t){3}, 4);
    expect_fail(&m, &t, KV_ERR_UNSUPPORTED, "version 3");
    memcpy(m.p + 4, &saved, 4);
    memcpy(m.p + 8 + 12, &(int32_t){3}, 4); // n_heads 3 does not divide dim 4
    expect_fail(&m, &t, KV_ERR_FORMAT, "n_heads = 3");
    memcpy(m.p + 8 + 12, &(int32_t){NH}, 4);
    memcpy(m.p + 8 + 20, &(int32_t){1 << 30}, 4);
    expect_fail(&m, &t, KV_ERR_FORMAT, "vocab_size = 1073741824 is out of range");
    memcpy(m.p + 8 + 20, &(int32_t){V}, 4);
    m.p[36] = 7;
    expect_fail(&m, &t, KV_ERR_FORMAT, "shared_classifier = 7");
    m.p[36] = 1;
    kv_llama2c_close(open_ok(&m, &t)); // restored: opens again
    // tokenizer: short, a token longer than max_token_length, trailing bytes
    size_t tn = t.n;
    t.n = 20;
    expect_fail(&m, &t, KV_ERR_TRUNCATED, "tok.bin: truncated");
    t.n = tn;
    memcpy(t.p, &(int32_t){4}, 4);
    expect_fail(&m, &t, KV_ERR_FORMAT, "tok.bin: token 0 at byte 8 has length 5");
    memcpy(t.p, &(int32_t){6}, 4);
    put(&t, "zz", 2);
    expect_fail(&m, &t, KV_ERR_FORMAT, "tok.bin: 2 bytes after token 4");
    free(m.p);
    free(t.p);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_legacy),
        cmocka_unit_test(test_v1_shared_and_tokens),
        cmocka_unit_test(test_v2_dequant),
        cmocka_unit_test(test_errors),
    };
    return cmocka_run_group_tests_name("formats_llama2c", tests, NULL, NULL);
}
