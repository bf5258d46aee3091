// safetensors reader: small files written here (single and sharded with an index),
// tensor order, lookup, metadata, F32 conversion from each float dtype, and the
// demo checkpoint against llama.cpp's F32 conversion digests.
#include "kvant/kv_safetensors.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "kv_test.h"
#include "kvant/kv_core.h"
#include "kvant/kv_f16.h"

// Writes u64 header size, the JSON header and n data bytes to dir/name.
static void write_st(const char *dir, const char *name, const char *header, const void *data,
                     size_t n) {
    size_t h = strlen(header);
    uint8_t *file = malloc(8 + h + n + 1);
    assert_non_null(file);
    for (int i = 0; i < 8; i++)
        file[i] = (uint8_t)((uint64_t)h >> (8 * i));
    memcpy(file + 8, header, h);
    if (n)
        memcpy(file + 8 + h, data, n);
    char path[4096];
    snprintf(path, sizeof path, "%s/%s", dir, name);
    assert_int_equal(kv_test_write_file(path, file, 8 + h + n), 0);
    free(file);
}

static void write_text(const char *dir, const char *name, const char *text) {
    char path[4096];
    snprintf(path, sizeof path, "%s/%s", dir, name);
    assert_int_equal(kv_test_write_file(path, text, strlen(text)), 0);
}

static kv_safetensors *open_ok(const char *path) {
    kv_safetensors *st = NULL;
    kv_err err;
    if (kv_safetensors_open(path, &st, &err) != KV_OK)
        fail_msg("%s: %s", path, err.msg);
    return st;
}

static void put_le(uint8_t *p, uint64_t v, int n) {
    for (int i = 0; i < n; i++)
        p[i] = (uint8_t)(v >> (8 * i));
}

// Data for: f32 [2] at 0, f16 [2] at 8, bf16 [2] at 12, f64 [2] at 16, i32 [1] at 32.
static size_t float_data(uint8_t *d) {
    static const float f32[2] = {1.5f, -2.25f};
    for (int i = 0; i < 2; i++) {
        put_le(d + 4 * i, kv_f32_bits(f32[i]), 4);
        put_le(d + 8 + 2 * i, kv_f32_to_f16(i ? 65504.0f : -0.5f), 2);
        put_le(d + 12 + 2 * i, kv_f32_to_bf16(i ? 3.0f : -1.0f), 2);
        double x = i ? 1e-3 : 12345.0;
        uint64_t u;
        memcpy(&u, &x, 8);
        put_le(d + 16 + 8 * i, u, 8);
    }
    put_le(d + 32, 7, 4);
    return 36;
}

static const char float_header[] =
    "{\"zeta\": {\"dtype\": \"F32\", \"shape\": [2], \"data_offsets\": [0, 8]},"
    " \"__metadata__\": {\"format\": \"pt\"},"
    " \"alpha\": {\"dtype\": \"F16\", \"shape\": [1, 2], \"data_offsets\": [8, 12]},"
    " \"mid\": {\"dtype\": \"BF16\", \"shape\": [2, 1], \"data_offsets\": [12, 16]},"
    " \"f64\": {\"dtype\": \"F64\", \"shape\": [2], \"data_offsets\": [16, 32]},"
    " \"count\": {\"dtype\": \"I32\", \"shape\": [], \"data_offsets\": [32, 36]},"
    " \"empty\": {\"dtype\": \"F32\", \"shape\": [0, 4], \"data_offsets\": [36, 36]}}";

static void test_single_file(void **state) {
    (void)state;
    char *dir = kv_test_tmpdir();
    uint8_t data[64];
    size_t n = float_data(data);
    write_st(dir, "model.safetensors", float_header, data, n);
    char path[4096];
    snprintf(path, sizeof path, "%s/model.safetensors", dir);
    kv_safetensors *st = open_ok(path);
    assert_int_equal(kv_safetensors_count(st), 6);
    assert_int_equal(kv_safetensors_shard_count(st), 1);
    // header order, not sorted
    static const char *const order[] = {"zeta", "alpha", "mid", "f64", "count", "empty"};
    for (int i = 0; i < 6; i++) {
        assert_string_equal(kv_safetensors_at(st, i)->name, order[i]);
        assert_int_equal(kv_safetensors_find(st, order[i]), i);
        assert_string_equal(kv_safetensors_at(st, i)->file, path);
    }
    assert_int_equal(kv_safetensors_find(st, "nope"), -1);
    assert_null(kv_safetensors_at(st, 6));
    assert_string_equal(kv_safetensors_meta(st, "format"), "pt");
    assert_null(kv_safetensors_meta(st, "other"));
    const kv_st_tensor *t = kv_safetensors_at(st, 1);
    assert_int_equal(t->dtype, KV_ST_F16);
    assert_int_equal(t->n_dims, 2);
    assert_int_equal(t->shape[0], 1);
    assert_int_equal(t->shape[1], 2);
    assert_int_equal(t->n_elements, 2);
    assert_int_equal(t->size, 4);
    t = kv_safetensors_at(st, 4);
    assert_int_equal(t->n_dims, 0);
    assert_int_equal(t->n_elements, 1);
    assert_int_equal(kv_le32(t->data), 7);
    t = kv_safetensors_at(st, 5);
    assert_int_equal(t->n_elements, 0);
    assert_int_equal(t->size, 0);
    kv_safetensors_close(st);
    // the folder finds model.safetensors
    st = open_ok(dir);
    assert_int_equal(kv_safetensors_count(st), 6);
    kv_safetensors_close(st);
    kv_test_rmdir(dir);
}

static void test_read_f32(void **state) {
    (void)state;
    uint8_t file[1024];
    size_t h = strlen(float_header);
    put_le(file, h, 8);
    memcpy(file + 8, float_header, h);
    size_t n = float_data(file + 8 + h);
    kv_safetensors *st = NULL;
    kv_err err;
    assert_int_equal(kv_safetensors_open_mem(file, 8 + h + n, "mem.safetensors", &st, &err), KV_OK);
    float out[2];
    assert_int_equal(kv_safetensors_read_f32(kv_safetensors_at(st, 0), 0, 2, out, &err), KV_OK);
    assert_true(out[0] == 1.5f && out[1] == -2.25f);
    assert_int_equal(kv_safetensors_read_f32(kv_safetensors_at(st, 1), 0, 2, out, &err), KV_OK);
    assert_true(out[0] == -0.5f && out[1] == 65504.0f);
    assert_int_equal(kv_safetensors_read_f32(kv_safetensors_at(st, 2), 1, 1, out, &err), KV_OK);
    assert_true(out[0] == 3.0f);
    assert_int_equal(kv_safetensors_read_f32(kv_safetensors_at(st, 3), 0, 2, out, &err), KV_OK);
    assert_true(out[0] == 12345.0f && out[1] == (float)1e-3);
    assert_int_equal(kv_safetensors_read_f32(kv_safetensors_at(st, 3), 0, 0, out, &err), KV_OK);
    // I32 does not convert; ranges outside the tensor are refused
    assert_int_equal(kv_safetensors_read_f32(kv_safetensors_at(st, 4), 0, 1, out, &err),
                     KV_ERR_UNSUPPORTED);
    assert_non_null(strstr(err.msg, "'count' has dtype I32"));
    assert_int_equal(kv_safetensors_read_f32(kv_safetensors_at(st, 0), 1, 2, out, &err),
                     KV_ERR_INVALID);
    assert_int_equal(kv_safetensors_read_f32(kv_safetensors_at(st, 0), -1, 1, out, &err),
                     KV_ERR_INVALID);
    assert_int_equal(kv_safetensors_read_f32(kv_safetensors_at(st, 0), 0, INT64_MAX, out, &err),
                     KV_ERR_INVALID);
    kv_safetensors_close(st);
}

static void test_dtype_table(void **state) {
    (void)state;
    assert_string_equal(kv_st_dtype_name(KV_ST_BF16), "BF16");
    assert_string_equal(kv_st_dtype_name(KV_ST_F8_E4M3), "F8_E4M3");
    assert_int_equal(kv_st_dtype_size(KV_ST_F64), 8);
    assert_int_equal(kv_st_dtype_size(KV_ST_BOOL), 1);
    assert_int_equal(kv_st_dtype_size(KV_ST_DTYPE_COUNT), 0);
}

// Two shards; weight_map lists the second shard first, tensors come in sorted
// shard order and header order within each.
static void make_sharded(const char *dir) {
    float a[4] = {1, 2, 3, 4}, b[2] = {5, 6};
    write_st(dir, "model-00001-of-00002.safetensors",
             "{\"l0.b\": {\"dtype\": \"F32\", \"shape\": [2], \"data_offsets\": [8, 16]},"
             " \"l0.a\": {\"dtype\": \"F32\", \"shape\": [2], \"data_offsets\": [0, 8]},"
             " \"__metadata__\": {\"format\": \"pt\"}}",
             a, sizeof a);
    write_st(dir, "model-00002-of-00002.safetensors",
             "{\"l1.w\": {\"dtype\": \"F32\", \"shape\": [2], \"data_offsets\": [0, 8]}}", b,
             sizeof b);
    write_text(dir, "model.safetensors.index.json",
               "{\"metadata\": {\"total_size\": 24}, \"weight_map\": {"
               " \"l1.w\": \"model-00002-of-00002.safetensors\","
               " \"l0.a\": \"model-00001-of-00002.safetensors\","
               " \"l0.b\": \"model-00001-of-00002.safetensors\"}}");
}

static void test_sharded(void **state) {
    (void)state;
    char *dir = kv_test_tmpdir();
    make_sharded(dir);
    char index[4096];
    snprintf(index, sizeof index, "%s/model.safetensors.index.json", dir);
    for (int pass = 0; pass < 2; pass++) {
        kv_safetensors *st = open_ok(pass ? index : dir);
        assert_int_equal(kv_safetensors_shard_count(st), 2);
        assert_int_equal(kv_safetensors_count(st), 3);
        assert_string_equal(kv_safetensors_at(st, 0)->name, "l0.b");
        assert_string_equal(kv_safetensors_at(st, 1)->name, "l0.a");
        assert_string_equal(kv_safetensors_at(st, 2)->name, "l1.w");
        assert_non_null(strstr(kv_safetensors_at(st, 2)->file, "model-00002-of-00002"));
        assert_string_equal(kv_safetensors_meta(st, "format"), "pt");
        float out[2];
        kv_err err;
        assert_int_equal(kv_safetensors_read_f32(kv_safetensors_at(st, 0), 0, 2, out, &err),
                         KV_OK);
        assert_true(out[0] == 3.0f && out[1] == 4.0f);
        assert_int_equal(
            kv_safetensors_read_f32(kv_safetensors_at(st, kv_safetensors_find(st, "l1.w")), 0, 2,
                                    out, &err),
            KV_OK);
        assert_true(out[0] == 5.0f && out[1] == 6.0f);
        kv_safetensors_close(st);
    }
    kv_test_rmdir(dir);
}

static void expect_error(const char *path, kv_status want, const char *fragment) {
    kv_safetensors *st = (kv_safetensors *)1;
    kv_err err = {0};
    kv_status s = kv_safetensors_open(path, &st, &err);
    if (s != want || !strstr(err.msg, fragment))
        fail_msg("%s: got %s '%s', want %s with '%s'", path, kv_status_str(s), err.msg,
                 kv_status_str(want), fragment);
    assert_null(st);
}

static void test_index_errors(void **state) {
    (void)state;
    char *dir = kv_test_tmpdir();
    make_sharded(dir);
    char index[4096];
    snprintf(index, sizeof index, "%s/model.safetensors.index.json", dir);
    // a tensor the map puts in a shard that lacks it
    write_text(dir, "model.safetensors.index.json",
               "{\"weight_map\": {\"l0.a\": \"model-00002-of-00002.safetensors\"}}");
    expect_error(index, KV_ERR_FORMAT,
                 "weight_map puts tensor 'l0.a' in model-00002-of-00002.safetensors, but that "
                 "shard has no such tensor");
    write_text(dir, "model.safetensors.index.json",
               "{\"weight_map\": {\"ghost\": \"model-00001-of-00002.safetensors\"}}");
    expect_error(index, KV_ERR_FORMAT, "tensor 'ghost'");
    write_text(dir, "model.safetensors.index.json",
               "{\"weight_map\": {\"x\": \"model-00009-of-00009.safetensors\"}}");
    expect_error(index, KV_ERR_IO, "model-00009-of-00009.safetensors: cannot open");
    write_text(dir, "model.safetensors.index.json", "{\"weight_map\": {\"x\": \"../evil\"}}");
    expect_error(index, KV_ERR_FORMAT, "expected a relative path inside the index's folder");
    write_text(dir, "model.safetensors.index.json", "{\"weight_map\": {\"x\": 3}}");
    expect_error(index, KV_ERR_FORMAT, "weight_map['x'] has type integer");
    write_text(dir, "model.safetensors.index.json", "{\"metadata\": {}}");
    expect_error(index, KV_ERR_FORMAT, "field 'weight_map' is missing");
    write_text(dir, "model.safetensors.index.json", "{\"weight_map\": {}}");
    expect_error(index, KV_ERR_FORMAT, "field 'weight_map' is empty");
    write_text(dir, "model.safetensors.index.json", "{\"weight_map\": {\n \"a\": \"b\",\n}}");
    expect_error(index, KV_ERR_FORMAT, "invalid JSON");
    // the same tensor name in two shards
    float a[2] = {1, 2};
    write_st(dir, "model-00002-of-00002.safetensors",
             "{\"l0.a\": {\"dtype\": \"F32\", \"shape\": [2], \"data_offsets\": [0, 8]}}", a,
             sizeof a);
    write_text(dir, "model.safetensors.index.json",
               "{\"weight_map\": {\"l0.a\": \"model-00001-of-00002.safetensors\","
               " \"l0.b\": \"model-00002-of-00002.safetensors\"}}");
    expect_error(index, KV_ERR_FORMAT,
                 "model-00002-of-00002.safetensors: tensor 'l0.a' is also in");
    kv_test_rmdir(dir);
}

static void test_missing(void **state) {
    (void)state;
    char *dir = kv_test_tmpdir();
    expect_error(dir, KV_ERR_IO, "no model.safetensors or model.safetensors.index.json");
    char path[4096];
    snprintf(path, sizeof path, "%s/absent.safetensors", dir);
    expect_error(path, KV_ERR_IO, "absent.safetensors: cannot open");
    kv_test_rmdir(dir);
}

// The demo checkpoint's BF16 tensors, converted to F32, are the bytes llama.cpp
// wrote for the tensors it does not permute.
static void test_demo_checkpoint(void **state) {
    (void)state;
    KV_NEED_SHARED();
    kv_safetensors *st = open_ok(kv_test_shared_path("models/kjv-llama-7m/model.safetensors"));
    assert_int_equal(kv_safetensors_count(st), 57);
    char *golden = NULL;
    kv_err err;
    assert_int_equal(kv_read_file(kv_test_shared_path("testdata/golden/kjv-llama-7m.json"),
                                  64 << 20, &golden, NULL, &err),
                     KV_OK);
    static const char *const pairs[][2] = {
        {"model.norm.weight", "output_norm.weight"},
        {"model.embed_tokens.weight", "token_embd.weight"},
        {"model.layers.0.mlp.down_proj.weight", "blk.0.ffn_down.weight"},
    };
    for (size_t k = 0; k < sizeof pairs / sizeof pairs[0]; k++) {
        const kv_st_tensor *t = kv_safetensors_at(st, kv_safetensors_find(st, pairs[k][0]));
        assert_non_null(t);
        assert_int_equal(t->dtype, KV_ST_BF16);
        float *f = malloc((size_t)t->n_elements * sizeof *f);
        assert_int_equal(kv_safetensors_read_f32(t, 0, t->n_elements, f, &err), KV_OK);
        char got[65], key[128];
        kv_test_sha256_hex(f, (size_t)t->n_elements * sizeof *f, got);
        free(f);
        snprintf(key, sizeof key, "\"%s\": [", pairs[k][1]);
        const char *p = strstr(golden, key);
        assert_non_null(p);
        p = strchr(strstr(p, "]"), '"');
        assert_non_null(p);
        assert_memory_equal(got, p + 1, 64);
    }
    free(golden);
    kv_safetensors_close(st);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_single_file),
        cmocka_unit_test(test_read_f32),
        cmocka_unit_test(test_dtype_table),
        cmocka_unit_test(test_sharded),
        cmocka_unit_test(test_index_errors),
        cmocka_unit_test(test_missing),
        cmocka_unit_test(test_demo_checkpoint),
    };
    return cmocka_run_group_tests_name("formats_safetensors", tests, NULL, NULL);
}
