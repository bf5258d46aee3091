// IQ3_XXS and IQ3_S tensors against llama.cpp: every tensor that llama-quantize
// made IQ3_XXS or IQ3_S in its IQ3_XXS / IQ3_XS / IQ3_S / IQ3_M files of the demo
// model (../shared/testdata/golden/kjv-llama-7m-lowbit.json, made from the F32
// conversion with kjv-llama-7m.imatrix.dat) is quantized here from the same F32
// rows with the same importance weights, and its SHA-256 must match. The file
// types' per-tensor rules are not this test's subject: only the tensor types.
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "kv_test.h"
#include "kvant/kv_convert.h"
#include "kvant/kv_gguf.h"
#include "kvant/kv_imatrix.h"
#include "kvant/kv_quant.h"
#include "kvant/kv_types.h"

static char *g_dir;
static kv_gguf *g_f32;
static kv_imatrix *g_im;
static json_t *g_lowbit;

static int setup(void **state) {
    (void)state;
    if (!kv_test_shared())
        return 0;
    g_dir = kv_test_tmpdir();
    char path[4200];
    snprintf(path, sizeof path, "%s/f32.gguf", g_dir);
    kv_convert_opts o = {.outtype = "f32"};
    kv_err err = {0};
    if (kv_convert_hf(kv_test_shared_path("models/kjv-llama-7m"), path, &o, NULL, &err) != KV_OK ||
        kv_gguf_open(path, &g_f32, &err) != KV_OK ||
        kv_imatrix_open(kv_test_shared_path("testdata/golden/kjv-llama-7m.imatrix.dat"), &g_im,
                        &err) != KV_OK) {
        fprintf(stderr, "setup: %s\n", err.msg);
        return -1;
    }
    json_error_t e;
    g_lowbit = json_load_file(kv_test_shared_path("testdata/golden/kjv-llama-7m-lowbit.json"), 0, &e);
    if (!g_lowbit) {
        fprintf(stderr, "lowbit golden: %s\n", e.text);
        return -1;
    }
    return 0;
}

static int teardown(void **state) {
    (void)state;
    json_decref(g_lowbit);
    kv_imatrix_close(g_im);
    kv_gguf_close(g_f32);
    if (g_dir)
        kv_test_rmdir(g_dir);
    return 0;
}

// Quantizes the F32 tensor name to type t with its imatrix entry; writes the
// SHA-256 of the bytes to sha. Returns 0, or 1 with a message.
static int quantize_tensor(const char *name, kv_type t, char sha[65]) {
    const int64_t i = kv_gguf_find_tensor(g_f32, name);
    if (i < 0) {
        print_message("%s: not in the F32 conversion\n", name);
        return 1;
    }
    const kv_gguf_tensor *ten = kv_gguf_tensor_at(g_f32, i);
    const int64_t n_per_row = ten->ne[0];
    const int64_t n_rows = (int64_t)(ten->size / sizeof(float)) / n_per_row;
    size_t n_w = 0;
    const float *w = kv_imatrix_find(g_im, name, &n_w);
    // token_embd has no entry (it is no matmul weight): llama-quantize then
    // passes no importance weights, and the quantizer weighs by x^2.
    if (w && (int64_t)n_w != n_per_row) {
        print_message("%s: imatrix entry of %zu values, rows of %lld\n", name, n_w,
                      (long long)n_per_row);
        return 1;
    }
    const size_t bytes = kv_type_row_size(t, n_per_row) * (size_t)n_rows;
    void *q = malloc(bytes);
    assert_non_null(q);
    kv_err err = {0};
    if (kv_quant_rows(t, (const float *)ten->data, q, n_rows, n_per_row, w, &err) != KV_OK) {
        print_message("%s: %s\n", name, err.msg);
        free(q);
        return 1;
    }
    kv_test_sha256_hex(q, bytes, sha);
    free(q);
    return 0;
}

static void check_type(kv_type want) {
    KV_NEED_SHARED();
    json_t *files = json_object_get(g_lowbit, "quantize_imatrix");
    assert_non_null(files);
    const char *ftype;
    json_t *file;
    int n = 0, bad = 0;
    json_t *done = json_object(); // tensor name -> digest already matched
    json_object_foreach(files, ftype, file) {
        const char *name;
        json_t *rec;
        json_object_foreach(json_object_get(file, "tensors"), name, rec) {
            if (strcmp(json_string_value(json_array_get(rec, 0)), kv_type_name(want)) != 0)
                continue;
            const char *want_sha = json_string_value(json_array_get(rec, 2));
            json_t *seen = json_object_get(done, name);
            if (seen && strcmp(json_string_value(seen), want_sha) == 0)
                continue; // the same tensor, type and bytes in another file type
            char sha[65];
            const int fail = quantize_tensor(name, want, sha);
            const bool same = !fail && strcmp(sha, want_sha) == 0;
            if (same)
                json_object_set_new(done, name, json_string(sha));
            if (!same)
                print_message("%s %s (%s): %s\n", ftype, name, kv_type_name(want),
                              fail ? "failed" : "digest differs");
            n++;
            bad += same ? 0 : 1;
        }
    }
    json_decref(done);
    print_message("%s: %d of %d distinct tensors match llama.cpp\n", kv_type_name(want), n - bad, n);
    assert_true(n > 0);
    assert_int_equal(bad, 0);
}

static void test_iq3_xxs(void **s) { (void)s; check_type(KV_TYPE_IQ3_XXS); }
static void test_iq3_s(void **s) { (void)s; check_type(KV_TYPE_IQ3_S); }

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_iq3_xxs),
        cmocka_unit_test(test_iq3_s),
    };
    return cmocka_run_group_tests_name("golden_iq3", tests, setup, teardown);
}
