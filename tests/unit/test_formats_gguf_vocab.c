// GGUF files written by llama.cpp (../shared/testdata/vocab/*.gguf): the reader
// opens them and sees a consistent tokenizer, and copying every key-value with
// kv_gguf_set_from gives back the same metadata byte for byte.
#define _GNU_SOURCE
#include "kvant/kv_gguf.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "kv_test.h"

static const char *const VOCABS[] = {
    "testdata/vocab/ggml-vocab-llama-spm.gguf",
    "testdata/vocab/ggml-vocab-gpt-2.gguf",
    "testdata/vocab/ggml-vocab-phi-3.gguf",
};

#define N_VOCABS (sizeof VOCABS / sizeof VOCABS[0])

static kv_gguf *open_vocab(size_t i, char *path, size_t cap) {
    snprintf(path, cap, "%s", kv_test_shared_path(VOCABS[i]));
    kv_gguf *g = NULL;
    kv_err err;
    if (kv_gguf_open(path, &g, &err) != KV_OK)
        fail_msg("%s", err.msg);
    return g;
}

// Length of an array key, or -1 when absent.
static int64_t arr_len(const kv_gguf *g, const char *key, kv_gguf_vtype elem) {
    if (kv_gguf_find(g, key) < 0)
        return -1;
    const kv_gguf_val *a = NULL;
    kv_err err;
    if (kv_gguf_get_arr(g, key, elem, &a, &err) != KV_OK)
        fail_msg("%s", err.msg);
    return (int64_t)a->n;
}

static void test_vocab_files(void **state) {
    (void)state;
    KV_NEED_SHARED();
    for (size_t i = 0; i < N_VOCABS; i++) {
        char path[4096];
        kv_gguf *g = open_vocab(i, path, sizeof path);
        kv_err err;
        assert_true(kv_gguf_version(g) == 3);
        assert_true(kv_gguf_kv_count(g) >= 10 && kv_gguf_kv_count(g) < 100);
        assert_int_equal(kv_gguf_tensor_count(g), 0);
        kv_str arch;
        assert_int_equal(kv_gguf_get_str(g, "general.architecture", &arch, &err), KV_OK);
        kv_str model;
        assert_int_equal(kv_gguf_get_str(g, "tokenizer.ggml.model", &model, &err), KV_OK);

        // Every token is reachable and in bounds; sibling arrays agree in length.
        int64_t n_tokens = arr_len(g, "tokenizer.ggml.tokens", KV_GGUF_STRING);
        assert_true(n_tokens > 1000);
        const kv_gguf_val *tokens = NULL;
        assert_int_equal(kv_gguf_get_arr(g, "tokenizer.ggml.tokens", KV_GGUF_STRING, &tokens, &err),
                         KV_OK);
        size_t total = 0;
        for (uint64_t j = 0; j < tokens->n; j++) {
            kv_str s;
            assert_int_equal(kv_gguf_arr_str(g, tokens, j, &s, &err), KV_OK);
            assert_true(s.p >= (const char *)tokens->data);
            total += s.n;
        }
        assert_int_equal(tokens->size, 12 + 8 * tokens->n + total);
        int64_t n_types = arr_len(g, "tokenizer.ggml.token_type", KV_GGUF_I32);
        assert_true(n_types == -1 || n_types == n_tokens);
        int64_t n_scores = arr_len(g, "tokenizer.ggml.scores", KV_GGUF_F32);
        assert_true(n_scores == -1 || n_scores == n_tokens);

        // {arch}.vocab_size, where present, is the token count.
        char key[128];
        snprintf(key, sizeof key, "%.*s.vocab_size", (int)arch.n, arch.p);
        int64_t n_vocab = 0;
        if (kv_gguf_find(g, key) >= 0) {
            assert_int_equal(kv_gguf_get_int(g, key, &n_vocab, &err), KV_OK);
            assert_int_equal(n_vocab, n_tokens);
        }
        int64_t bos = 0;
        if (kv_gguf_get_int(g, "tokenizer.ggml.bos_token_id", &bos, &err) == KV_OK)
            assert_true(bos >= 0 && bos < n_tokens);
        kv_gguf_close(g);
    }
}

static void test_llama_spm_known_values(void **state) {
    (void)state;
    KV_NEED_SHARED();
    char path[4096];
    kv_gguf *g = open_vocab(0, path, sizeof path);
    kv_err err;
    uint32_t n_vocab = 0;
    assert_int_equal(kv_gguf_get_u32(g, "llama.vocab_size", &n_vocab, &err), KV_OK);
    assert_int_equal(n_vocab, 32000);
    const kv_gguf_val *tokens = NULL;
    assert_int_equal(kv_gguf_get_arr(g, "tokenizer.ggml.tokens", KV_GGUF_STRING, &tokens, &err),
                     KV_OK);
    kv_str s;
    assert_int_equal(kv_gguf_arr_str(g, tokens, 1, &s, &err), KV_OK);
    assert_true(s.n == 3 && memcmp(s.p, "<s>", 3) == 0);
    assert_int_equal(kv_gguf_arr_str(g, tokens, 2, &s, &err), KV_OK);
    assert_true(s.n == 4 && memcmp(s.p, "</s>", 4) == 0);
    assert_int_equal(kv_gguf_arr_str(g, tokens, 32000, &s, &err), KV_ERR_INVALID);
    bool add_bos = false;
    assert_int_equal(kv_gguf_get_bool(g, "tokenizer.ggml.add_bos_token", &add_bos, &err), KV_OK);
    assert_true(add_bos);
    kv_gguf_close(g);
}

// Copies every key-value into a new file: the new file's metadata section is the
// original file byte for byte (llama.cpp wrote these with no tensors and no padding;
// kvant pads the end of the tensor table to the alignment, as llama.cpp does today).
static void test_copy_vocab(void **state) {
    (void)state;
    KV_NEED_SHARED();
    char *dir = kv_test_tmpdir();
    assert_non_null(dir);
    for (size_t i = 0; i < N_VOCABS; i++) {
        char path[4096];
        char out[4096];
        snprintf(out, sizeof out, "%s/copy.gguf", dir);
        kv_gguf *g = open_vocab(i, path, sizeof path);
        kv_err err;
        kv_gguf_writer *w = NULL;
        assert_int_equal(kv_gguf_writer_new(&w, &err), KV_OK);
        for (int64_t k = 0; k < kv_gguf_kv_count(g); k++)
            if (kv_gguf_set_from(w, g, k, &err) != KV_OK)
                fail_msg("%s", err.msg);
        assert_int_equal(kv_gguf_set_from(w, g, kv_gguf_kv_count(g), &err), KV_ERR_INVALID);
        assert_int_equal(kv_gguf_writer_begin(w, out, &err), KV_OK);
        assert_int_equal(kv_gguf_writer_finish(w, &err), KV_OK);
        kv_gguf_writer_free(w);

        kv_gguf *c = NULL;
        if (kv_gguf_open(out, &c, &err) != KV_OK)
            fail_msg("%s", err.msg);
        assert_int_equal(kv_gguf_kv_count(c), kv_gguf_kv_count(g));
        for (int64_t k = 0; k < kv_gguf_kv_count(g); k++) {
            kv_str ka = kv_gguf_kv_key(g, k);
            kv_str kb = kv_gguf_kv_key(c, k);
            assert_int_equal(ka.n, kb.n);
            assert_memory_equal(ka.p, kb.p, ka.n);
            const kv_gguf_val *va = kv_gguf_kv_val(g, k);
            const kv_gguf_val *vb = kv_gguf_kv_val(c, k);
            assert_int_equal(va->type, vb->type);
            assert_int_equal(va->elem_type, vb->elem_type);
            assert_int_equal(va->n, vb->n);
            assert_int_equal(va->size, vb->size);
            if (va->size > 0)
                assert_memory_equal(va->data, vb->data, va->type == KV_GGUF_ARRAY
                                                            ? va->size - 12 : va->size);
        }
        size_t orig = kv_gguf_file_size(g);
        assert_int_equal(kv_gguf_file_size(c), (orig + 31) / 32 * 32);
        assert_int_equal(kv_gguf_data_offset(c), kv_gguf_file_size(c));
        kv_gguf_close(c);

        char *a_buf = NULL, *b_buf = NULL;
        size_t a_n = 0, b_n = 0;
        assert_int_equal(kv_read_file(path, 64 << 20, &a_buf, &a_n, &err), KV_OK);
        assert_int_equal(kv_read_file(out, 64 << 20, &b_buf, &b_n, &err), KV_OK);
        assert_memory_equal(a_buf, b_buf, a_n);
        for (size_t j = a_n; j < b_n; j++)
            assert_int_equal(b_buf[j], 0);
        free(a_buf);
        free(b_buf);
        kv_gguf_close(g);
    }
    kv_test_rmdir(dir);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_vocab_files),
        cmocka_unit_test(test_llama_spm_known_values),
        cmocka_unit_test(test_copy_vocab),
    };
    return cmocka_run_group_tests_name("formats_gguf_vocab", tests, NULL, NULL);
}
