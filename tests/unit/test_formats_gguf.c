// GGUF writer and reader: a file with every value type and several tensor types
// written and read back, the layout llama.cpp expects (aligned, contiguous data),
// typed accessors and their messages, writer misuse and abort, large tables.
#define _GNU_SOURCE
#include "kvant/kv_gguf.h"

#include <dirent.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "kv_test.h"

typedef struct {
    char *dir;
    char path[4096];
} fixture;

static int setup(void **state) {
    fixture *f = calloc(1, sizeof *f);
    f->dir = kv_test_tmpdir();
    if (!f->dir)
        return -1;
    snprintf(f->path, sizeof f->path, "%s/out.gguf", f->dir);
    *state = f;
    return 0;
}

static int teardown(void **state) {
    fixture *f = *state;
    kv_test_rmdir(f->dir);
    free(f);
    return 0;
}

static bool str_is(kv_str s, const char *c) {
    return s.n == strlen(c) && memcmp(s.p, c, s.n) == 0;
}

static int count_dir_entries(const char *dir) {
    DIR *d = opendir(dir);
    assert_non_null(d);
    int n = 0;
    for (struct dirent *de = readdir(d); de; de = readdir(d))
        if (strcmp(de->d_name, ".") != 0 && strcmp(de->d_name, "..") != 0)
            n++;
    closedir(d);
    return n;
}

#define OK(call)                                                                                   \
    do {                                                                                           \
        kv_err e_;                                                                                 \
        kv_err_clear(&e_);                                                                         \
        kv_status s_ = (call);                                                                     \
        if (s_ != KV_OK)                                                                           \
            fail_msg("%s: %s", #call, e_.msg);                                                     \
    } while (0)
#define E (&e_)

// ---- the full round trip ----

static const char *const STRS[] = {"alpha", "", "g\xc3\xa9n\xc3\xa9ral", "line\nbreak"};
static const int32_t I32S[] = {1, -2, 2147483647, -2147483647 - 1};
static const float F32S[] = {0.5f, -1.25f, 3.0e38f};
static const uint8_t BOOLS[] = {1, 0, 1};

typedef struct {
    const char *name;
    uint32_t type;
    uint32_t n_dims;
    int64_t ne[4];
} tensor_decl;

static const tensor_decl TENSORS[] = {
    {"token_embd.weight", KV_TYPE_F32, 2, {8, 3, 1, 1}},
    {"blk.0.attn_norm.weight", KV_TYPE_F16, 1, {16, 1, 1, 1}},
    {"blk.0.attn_q.weight", KV_TYPE_Q8_0, 2, {64, 2, 1, 1}},
    {"blk.0.ffn_down.weight", KV_TYPE_Q4_K, 2, {256, 3, 1, 1}},
    {"empty", KV_TYPE_F32, 2, {0, 4, 1, 1}},
    {"four_d", KV_TYPE_BF16, 4, {2, 3, 2, 5}},
};
#define N_TENSORS (sizeof TENSORS / sizeof TENSORS[0])

static uint8_t pattern_byte(size_t t, size_t j) { return (uint8_t)(j * 31 + t * 7 + 1); }

static void write_all_types(const char *path, bool in_pieces) {
    kv_gguf_writer *w = NULL;
    OK(kv_gguf_writer_new(&w, E));
    OK(kv_gguf_set_str(w, "general.architecture", "llama", E));
    OK(kv_gguf_set_u8(w, "t.u8", 250, E));
    OK(kv_gguf_set_i8(w, "t.i8", -100, E));
    OK(kv_gguf_set_u16(w, "t.u16", 65000, E));
    OK(kv_gguf_set_i16(w, "t.i16", -30000, E));
    OK(kv_gguf_set_u32(w, "t.u32", 4000000000u, E));
    OK(kv_gguf_set_i32(w, "t.i32", -2000000000, E));
    OK(kv_gguf_set_u64(w, "t.u64", 18000000000000000000ull, E));
    OK(kv_gguf_set_i64(w, "t.i64", -9000000000000000000ll, E));
    OK(kv_gguf_set_f32(w, "t.f32", 1e-5f, E));
    OK(kv_gguf_set_f64(w, "t.f64", -2.5e300, E));
    OK(kv_gguf_set_bool(w, "t.bool", true, E));
    OK(kv_gguf_set_arr(w, "t.arr_i32", KV_GGUF_I32, I32S, 4, E));
    OK(kv_gguf_set_arr(w, "t.arr_f32", KV_GGUF_F32, F32S, 3, E));
    OK(kv_gguf_set_arr(w, "t.arr_bool", KV_GGUF_BOOL, BOOLS, 3, E));
    OK(kv_gguf_set_arr(w, "t.arr_empty", KV_GGUF_U64, NULL, 0, E));
    OK(kv_gguf_set_arr_str(w, "t.arr_str", STRS, 4, E));
    for (size_t t = 0; t < N_TENSORS; t++)
        OK(kv_gguf_add_tensor(w, TENSORS[t].name, TENSORS[t].type, TENSORS[t].n_dims,
                              TENSORS[t].ne, E));
    OK(kv_gguf_writer_begin(w, path, E));
    for (size_t t = 0; t < N_TENSORS; t++) {
        size_t n = kv_gguf_writer_tensor_size(w, (int64_t)t);
        uint8_t *buf = malloc(n + 1);
        for (size_t j = 0; j < n; j++)
            buf[j] = pattern_byte(t, j);
        if (in_pieces && n > 3) {
            OK(kv_gguf_writer_write(w, buf, 1, E));
            OK(kv_gguf_writer_write(w, buf + 1, n / 2, E));
            OK(kv_gguf_writer_write(w, buf + 1 + n / 2, n - 1 - n / 2, E));
        } else {
            OK(kv_gguf_writer_write(w, buf, n, E));
        }
        free(buf);
    }
    uint64_t expect_size = kv_gguf_writer_file_size(w);
    OK(kv_gguf_writer_finish(w, E));
    kv_gguf_writer_free(w);
    struct stat sb;
    assert_int_equal(stat(path, &sb), 0);
    assert_int_equal((uint64_t)sb.st_size, expect_size);
}

static void check_scalars(const kv_gguf *g) {
    int64_t v = 0;
    OK(kv_gguf_get_int(g, "t.u8", &v, E));
    assert_int_equal(v, 250);
    OK(kv_gguf_get_int(g, "t.i8", &v, E));
    assert_int_equal(v, -100);
    OK(kv_gguf_get_int(g, "t.u16", &v, E));
    assert_int_equal(v, 65000);
    OK(kv_gguf_get_int(g, "t.i16", &v, E));
    assert_int_equal(v, -30000);
    uint32_t u32 = 0;
    OK(kv_gguf_get_u32(g, "t.u32", &u32, E));
    assert_int_equal(u32, 4000000000u);
    int32_t i32 = 0;
    OK(kv_gguf_get_i32(g, "t.i32", &i32, E));
    assert_int_equal(i32, -2000000000);
    uint64_t u64 = 0;
    OK(kv_gguf_get_u64(g, "t.u64", &u64, E));
    assert_true(u64 == 18000000000000000000ull);
    OK(kv_gguf_get_int(g, "t.i64", &v, E));
    assert_true(v == -9000000000000000000ll);
    float f = 0;
    OK(kv_gguf_get_f32(g, "t.f32", &f, E));
    assert_true(f == 1e-5f);
    const kv_gguf_val *val = kv_gguf_kv_val(g, kv_gguf_find(g, "t.f64"));
    double d = 0;
    memcpy(&d, val->data, 8);
    assert_true(val->type == KV_GGUF_F64 && d == -2.5e300);
    bool b = false;
    OK(kv_gguf_get_bool(g, "t.bool", &b, E));
    assert_true(b);
    kv_str s;
    OK(kv_gguf_get_str(g, "general.architecture", &s, E));
    assert_true(str_is(s, "llama"));
}

static void check_arrays(const kv_gguf *g) {
    const kv_gguf_val *a = NULL;
    OK(kv_gguf_get_arr(g, "t.arr_i32", KV_GGUF_I32, &a, E));
    assert_int_equal(a->n, 4);
    assert_memory_equal(a->data, I32S, sizeof I32S);
    OK(kv_gguf_get_arr(g, "t.arr_f32", KV_GGUF_F32, &a, E));
    assert_int_equal(a->n, 3);
    assert_memory_equal(a->data, F32S, sizeof F32S);
    OK(kv_gguf_get_arr(g, "t.arr_bool", KV_GGUF_BOOL, &a, E));
    assert_memory_equal(a->data, BOOLS, 3);
    OK(kv_gguf_get_arr(g, "t.arr_empty", KV_GGUF_U64, &a, E));
    assert_int_equal(a->n, 0);
    assert_int_equal(a->size, 12);
    OK(kv_gguf_get_arr(g, "t.arr_str", KV_GGUF_STRING, &a, E));
    assert_int_equal(a->n, 4);
    for (uint64_t j = 0; j < 4; j++) {
        kv_str s;
        OK(kv_gguf_arr_str(g, a, j, &s, E));
        assert_true(str_is(s, STRS[j]));
        kv_gguf_val e;
        OK(kv_gguf_arr_elem(g, a, j, &e, E));
        assert_int_equal(e.type, KV_GGUF_STRING);
        assert_true(str_is(e.str, STRS[j]));
    }
    kv_gguf_val e;
    OK(kv_gguf_get_arr(g, "t.arr_i32", KV_GGUF_TYPE_COUNT, &a, E));
    OK(kv_gguf_arr_elem(g, a, 2, &e, E));
    assert_int_equal(e.type, KV_GGUF_I32);
    assert_int_equal((int32_t)kv_le32(e.data), 2147483647);
    kv_err err;
    assert_int_equal(kv_gguf_arr_elem(g, a, 4, &e, &err), KV_ERR_INVALID);
    kv_str s;
    assert_int_equal(kv_gguf_arr_str(g, a, 0, &s, &err), KV_ERR_FORMAT);
    assert_non_null(strstr(err.msg, "expected string"));
}

static void check_tensors(const kv_gguf *g) {
    assert_int_equal(kv_gguf_tensor_count(g), N_TENSORS);
    size_t align = kv_gguf_alignment(g);
    assert_int_equal(kv_gguf_data_offset(g) % align, 0);
    uint64_t expect_off = 0;
    for (size_t t = 0; t < N_TENSORS; t++) {
        const kv_gguf_tensor *ti = kv_gguf_tensor_at(g, (int64_t)t);
        assert_true(str_is(ti->name, TENSORS[t].name));
        assert_int_equal(kv_gguf_find_tensor(g, TENSORS[t].name), t);
        assert_int_equal(ti->type, TENSORS[t].type);
        assert_int_equal(ti->n_dims, TENSORS[t].n_dims);
        assert_memory_equal(ti->ne, TENSORS[t].ne, sizeof ti->ne);
        size_t rows = (size_t)(ti->ne[1] * ti->ne[2] * ti->ne[3]);
        assert_int_equal(ti->size, kv_type_row_size(ti->type, ti->ne[0]) * rows);
        // llama.cpp wants data contiguous in table order, each piece padded.
        assert_int_equal(ti->offset, expect_off);
        expect_off += (ti->size + align - 1) / align * align;
        assert_ptr_equal(ti->data, (const uint8_t *)kv_gguf_tensor_at(g, 0)->data + ti->offset);
        for (size_t j = 0; j < ti->size; j++)
            if (((const uint8_t *)ti->data)[j] != pattern_byte(t, j))
                fail_msg("tensor %zu byte %zu differs", t, j);
    }
    assert_int_equal(kv_gguf_file_size(g), kv_gguf_data_offset(g) + expect_off);
    assert_int_equal(kv_gguf_find_tensor(g, "nope"), -1);
}

static void test_roundtrip(void **state) {
    fixture *f = *state;
    for (int pieces = 0; pieces < 2; pieces++) {
        write_all_types(f->path, pieces);
        kv_gguf *g = NULL;
        OK(kv_gguf_open(f->path, &g, E));
        assert_int_equal(kv_gguf_version(g), 3);
        assert_int_equal(kv_gguf_alignment(g), KV_GGUF_DEFAULT_ALIGNMENT);
        assert_int_equal(kv_gguf_kv_count(g), 17);
        // insertion order is kept
        assert_true(str_is(kv_gguf_kv_key(g, 0), "general.architecture"));
        assert_true(str_is(kv_gguf_kv_key(g, 1), "t.u8"));
        assert_true(str_is(kv_gguf_kv_key(g, 16), "t.arr_str"));
        check_scalars(g);
        check_arrays(g);
        check_tensors(g);
        kv_gguf_close(g);
        // Only the final file is left behind.
        assert_int_equal(count_dir_entries(f->dir), 1);
    }
}

// ---- a file made by the independent Python encoder (tools/make_bad_gguf.py) ----

static void test_python_made_file(void **state) {
    fixture *f = *state;
    const char *src = kv_test_source_path("tests/fuzz/corpus/fuzz_gguf/valid_all_types.gguf");
    kv_gguf *g = NULL;
    OK(kv_gguf_open(src, &g, E));
    assert_int_equal(kv_gguf_alignment(g), 64);
    assert_int_equal(kv_gguf_data_offset(g) % 64, 0);
    int64_t v = 0;
    OK(kv_gguf_get_int(g, "t.i16", &v, E));
    assert_int_equal(v, -300);
    OK(kv_gguf_get_int(g, "t.u8", &v, E));
    assert_int_equal(v, 254);
    OK(kv_gguf_get_int(g, "t.i8", &v, E));
    assert_int_equal(v, -2);
    kv_err err;
    assert_int_equal(kv_gguf_get_int(g, "t.u64", &v, &err), KV_ERR_FORMAT);
    assert_non_null(strstr(err.msg, "over the int64 range"));
    // t.nested = [[1, 2], ["x"], []]
    const kv_gguf_val *a = NULL;
    OK(kv_gguf_get_arr(g, "t.nested", KV_GGUF_ARRAY, &a, E));
    assert_int_equal(a->n, 3);
    kv_gguf_val e0, e1, e2;
    OK(kv_gguf_arr_elem(g, a, 0, &e0, E));
    OK(kv_gguf_arr_elem(g, a, 1, &e1, E));
    OK(kv_gguf_arr_elem(g, a, 2, &e2, E));
    assert_int_equal(e0.type, KV_GGUF_ARRAY);
    assert_int_equal(e0.elem_type, KV_GGUF_U8);
    assert_int_equal(e0.n, 2);
    assert_int_equal(e0.data[0], 1);
    assert_int_equal(e0.data[1], 2);
    assert_int_equal(e0.size, 14);
    assert_int_equal(e1.elem_type, KV_GGUF_STRING);
    kv_str s;
    OK(kv_gguf_arr_str(g, &e1, 0, &s, E));
    assert_true(str_is(s, "x"));
    assert_int_equal(e2.elem_type, KV_GGUF_ARRAY);
    assert_int_equal(e2.n, 0);
    assert_int_equal(e0.size + e1.size + e2.size + 12, a->size);

    // Copy it with set_from (nested arrays included): metadata bytes must match.
    kv_gguf_writer *w = NULL;
    OK(kv_gguf_writer_new(&w, E));
    for (int64_t i = 0; i < kv_gguf_kv_count(g); i++)
        OK(kv_gguf_set_from(w, g, i, E));
    const kv_gguf_tensor *t = kv_gguf_tensor_at(g, 0);
    OK(kv_gguf_add_tensor(w, "t", t->type, t->n_dims, t->ne, E));
    OK(kv_gguf_writer_begin(w, f->path, E));
    OK(kv_gguf_writer_write(w, t->data, t->size, E));
    OK(kv_gguf_writer_finish(w, E));
    kv_gguf_writer_free(w);
    char *a_buf = NULL, *b_buf = NULL;
    size_t a_n = 0, b_n = 0;
    OK(kv_read_file(src, 1 << 20, &a_buf, &a_n, E));
    OK(kv_read_file(f->path, 1 << 20, &b_buf, &b_n, E));
    assert_int_equal(a_n, b_n);
    assert_memory_equal(a_buf, b_buf, a_n);
    free(a_buf);
    free(b_buf);
    kv_gguf_close(g);
}

// ---- typed accessors ----

static void test_accessor_messages(void **state) {
    fixture *f = *state;
    kv_gguf_writer *w = NULL;
    OK(kv_gguf_writer_new(&w, E));
    OK(kv_gguf_set_str(w, "llama.context_length", "2048", E));
    OK(kv_gguf_set_u32(w, "n", 7, E));
    OK(kv_gguf_set_f32(w, "x", 1.0f, E));
    OK(kv_gguf_set_bool(w, "flag", false, E));
    OK(kv_gguf_set_arr(w, "ids", KV_GGUF_I32, I32S, 2, E));
    OK(kv_gguf_writer_begin(w, f->path, E));
    OK(kv_gguf_writer_finish(w, E));
    kv_gguf_writer_free(w);

    kv_gguf *g = NULL;
    OK(kv_gguf_open(f->path, &g, E));
    kv_err err;
    uint32_t u = 0;
    assert_int_equal(kv_gguf_get_u32(g, "llama.context_length", &u, &err), KV_ERR_FORMAT);
    assert_non_null(strstr(err.msg, "key 'llama.context_length' has type string, expected u32"));
    assert_non_null(strstr(err.msg, f->path));
    assert_int_equal(kv_gguf_get_u32(g, "absent", &u, &err), KV_ERR_FORMAT);
    assert_non_null(strstr(err.msg, "missing key 'absent'"));
    int32_t i = 0;
    assert_int_equal(kv_gguf_get_i32(g, "n", &i, &err), KV_ERR_FORMAT);
    assert_non_null(strstr(err.msg, "key 'n' has type u32, expected i32"));
    const kv_gguf_val *a = NULL;
    assert_int_equal(kv_gguf_get_arr(g, "ids", KV_GGUF_STRING, &a, &err), KV_ERR_FORMAT);
    assert_non_null(strstr(err.msg, "key 'ids' has type array of i32, expected array of string"));
    assert_int_equal(kv_gguf_get_arr(g, "n", KV_GGUF_TYPE_COUNT, &a, &err), KV_ERR_FORMAT);
    assert_non_null(strstr(err.msg, "key 'n' has type u32, expected array of any"));
    float x = 0;
    assert_int_equal(kv_gguf_get_f32(g, "ids", &x, &err), KV_ERR_FORMAT);
    assert_non_null(strstr(err.msg, "has type array of i32, expected f32"));
    int64_t v = 0;
    assert_int_equal(kv_gguf_get_int(g, "x", &v, &err), KV_ERR_FORMAT);
    assert_non_null(strstr(err.msg, "key 'x' has type f32, expected an integer"));
    OK(kv_gguf_get_int(g, "flag", &v, E));
    assert_int_equal(v, 0);
    OK(kv_gguf_get_int(g, "n", &v, E));
    assert_int_equal(v, 7);
    bool b = true;
    OK(kv_gguf_get_bool(g, "flag", &b, E));
    assert_false(b);
    assert_int_equal(kv_gguf_tensor_count(g), 0);
    kv_gguf_close(g);
}

// ---- writer: replace, unset, alignment ----

static void test_replace_unset_alignment(void **state) {
    fixture *f = *state;
    kv_gguf_writer *w = NULL;
    OK(kv_gguf_writer_new(&w, E));
    OK(kv_gguf_set_u32(w, "a", 1, E));
    OK(kv_gguf_set_u32(w, "b", 2, E));
    OK(kv_gguf_set_u32(w, "c", 3, E));
    OK(kv_gguf_set_str(w, "a", "now a string", E)); // keeps position 0
    kv_gguf_unset(w, "b");
    kv_gguf_unset(w, "never-set");
    OK(kv_gguf_set_u32(w, "general.alignment", 64, E));
    const int64_t ne[2] = {32, 3};
    OK(kv_gguf_add_tensor(w, "x", KV_TYPE_F32, 2, ne, E));
    OK(kv_gguf_add_tensor(w, "y", KV_TYPE_Q8_0, 1, ne, E));
    OK(kv_gguf_writer_begin(w, f->path, E));
    uint8_t buf[384] = {0};
    OK(kv_gguf_writer_write(w, buf, kv_gguf_writer_tensor_size(w, 0), E));
    OK(kv_gguf_writer_write(w, buf, kv_gguf_writer_tensor_size(w, 1), E));
    OK(kv_gguf_writer_finish(w, E));
    kv_gguf_writer_free(w);

    kv_gguf *g = NULL;
    OK(kv_gguf_open(f->path, &g, E));
    assert_int_equal(kv_gguf_kv_count(g), 3);
    assert_true(str_is(kv_gguf_kv_key(g, 0), "a"));
    assert_true(str_is(kv_gguf_kv_key(g, 1), "c"));
    assert_int_equal(kv_gguf_find(g, "b"), -1);
    kv_str s;
    OK(kv_gguf_get_str(g, "a", &s, E));
    assert_true(str_is(s, "now a string"));
    assert_int_equal(kv_gguf_alignment(g), 64);
    assert_int_equal(kv_gguf_data_offset(g) % 64, 0);
    assert_int_equal(kv_gguf_tensor_at(g, 1)->offset, 384);
    assert_int_equal(kv_gguf_file_size(g), kv_gguf_data_offset(g) + 384 + 64);
    kv_gguf_close(g);
}

// ---- writer misuse and abort ----

static void test_writer_abort(void **state) {
    fixture *f = *state;
    kv_gguf_writer *w = NULL;
    OK(kv_gguf_writer_new(&w, E));
    const int64_t ne[1] = {64};
    OK(kv_gguf_add_tensor(w, "x", KV_TYPE_F32, 1, ne, E));
    OK(kv_gguf_writer_begin(w, f->path, E));
    uint8_t buf[256] = {0};
    OK(kv_gguf_writer_write(w, buf, 100, E));
    assert_int_equal(count_dir_entries(f->dir), 1); // the temporary file
    kv_gguf_writer_free(w);
    assert_int_equal(count_dir_entries(f->dir), 0);
}

static void test_writer_misuse(void **state) {
    fixture *f = *state;
    kv_err err;
    kv_gguf_writer *w = NULL;
    OK(kv_gguf_writer_new(&w, E));
    const int64_t ne[5] = {64, 2, 1, 1, 1};
    assert_int_equal(kv_gguf_add_tensor(w, "x", 4, 1, ne, &err), KV_ERR_INVALID);
    assert_non_null(strstr(err.msg, "unknown type id 4"));
    assert_int_equal(kv_gguf_add_tensor(w, "x", KV_TYPE_Q4_K, 1, ne, &err), KV_ERR_INVALID);
    assert_non_null(strstr(err.msg, "not a multiple of the block size 256"));
    assert_int_equal(kv_gguf_add_tensor(w, "x", KV_TYPE_F32, 0, ne, &err), KV_ERR_INVALID);
    assert_int_equal(kv_gguf_add_tensor(w, "x", KV_TYPE_F32, 5, ne, &err), KV_ERR_INVALID);
    char long_name[80];
    memset(long_name, 'n', sizeof long_name - 1);
    long_name[sizeof long_name - 1] = '\0';
    assert_int_equal(kv_gguf_add_tensor(w, long_name, KV_TYPE_F32, 1, ne, &err), KV_ERR_INVALID);
    const int64_t neg[2] = {64, -1};
    assert_int_equal(kv_gguf_add_tensor(w, "x", KV_TYPE_F32, 2, neg, &err), KV_ERR_INVALID);
    OK(kv_gguf_add_tensor(w, "x", KV_TYPE_F32, 2, ne, E));
    assert_int_equal(kv_gguf_add_tensor(w, "x", KV_TYPE_F32, 1, ne, &err), KV_ERR_INVALID);
    assert_non_null(strstr(err.msg, "duplicate tensor name 'x'"));
    assert_int_equal(kv_gguf_set_u32(w, "", 1, &err), KV_ERR_INVALID);
    assert_int_equal(kv_gguf_set_arr(w, "s", KV_GGUF_STRING, NULL, 0, &err), KV_ERR_INVALID);
    uint8_t buf[512] = {0};
    assert_int_equal(kv_gguf_writer_write(w, buf, 4, &err), KV_ERR_INVALID);
    assert_int_equal(kv_gguf_writer_finish(w, &err), KV_ERR_INVALID);

    // A bad general.alignment is refused at begin, before any file exists.
    OK(kv_gguf_set_u32(w, "general.alignment", 3, E));
    assert_int_equal(kv_gguf_writer_begin(w, f->path, &err), KV_ERR_INVALID);
    assert_non_null(strstr(err.msg, "general.alignment"));
    OK(kv_gguf_set_u64(w, "general.alignment", 64, E));
    assert_int_equal(kv_gguf_writer_begin(w, f->path, &err), KV_ERR_INVALID);
    assert_int_equal(count_dir_entries(f->dir), 0);
    kv_gguf_unset(w, "general.alignment");

    OK(kv_gguf_writer_begin(w, f->path, E));
    assert_int_equal(kv_gguf_set_u32(w, "late", 1, &err), KV_ERR_INVALID);
    assert_non_null(strstr(err.msg, "frozen"));
    assert_int_equal(kv_gguf_add_tensor(w, "late", KV_TYPE_F32, 1, ne, &err), KV_ERR_INVALID);
    assert_int_equal(kv_gguf_writer_write(w, NULL, 4, &err), KV_ERR_INVALID);
    assert_int_equal(kv_gguf_writer_write(w, buf, 513, &err), KV_ERR_INVALID); // 512 bytes
    assert_non_null(strstr(err.msg, "takes 512 bytes"));
    OK(kv_gguf_writer_write(w, buf, 500, E));
    assert_int_equal(kv_gguf_writer_finish(w, &err), KV_ERR_INVALID);
    assert_non_null(strstr(err.msg, "has 500 of its 512 bytes written"));
    assert_int_equal(kv_gguf_writer_write(w, buf, 13, &err), KV_ERR_INVALID);
    OK(kv_gguf_writer_write(w, buf, 12, E));
    assert_int_equal(kv_gguf_writer_write(w, buf, 1, &err), KV_ERR_INVALID);
    assert_non_null(strstr(err.msg, "all 1 tensors are written"));
    OK(kv_gguf_writer_finish(w, E));
    assert_int_equal(kv_gguf_writer_finish(w, &err), KV_ERR_INVALID);
    kv_gguf_writer_free(w);
    assert_int_equal(count_dir_entries(f->dir), 1);
}

// ---- many keys and tensors (hash tables grow; lookups stay exact) ----

static void test_many_entries(void **state) {
    fixture *f = *state;
    enum { N_KV = 5000, N_T = 3000 };
    kv_gguf_writer *w = NULL;
    OK(kv_gguf_writer_new(&w, E));
    char name[64];
    for (int i = 0; i < N_KV; i++) {
        snprintf(name, sizeof name, "key.%d", i);
        OK(kv_gguf_set_u32(w, name, (uint32_t)i * 3, E));
    }
    const int64_t ne[1] = {32};
    for (int i = 0; i < N_T; i++) {
        snprintf(name, sizeof name, "blk.%d.w", i);
        OK(kv_gguf_add_tensor(w, name, KV_TYPE_Q8_0, 1, ne, E));
    }
    OK(kv_gguf_writer_begin(w, f->path, E));
    uint8_t block[34] = {0};
    for (int i = 0; i < N_T; i++)
        OK(kv_gguf_writer_write(w, block, sizeof block, E));
    OK(kv_gguf_writer_finish(w, E));
    kv_gguf_writer_free(w);

    kv_gguf *g = NULL;
    OK(kv_gguf_open(f->path, &g, E));
    for (int i = 0; i < N_KV; i++) {
        snprintf(name, sizeof name, "key.%d", i);
        uint32_t v = 0;
        OK(kv_gguf_get_u32(g, name, &v, E));
        assert_int_equal(v, (uint32_t)i * 3);
        assert_int_equal(kv_gguf_find(g, name), i);
    }
    for (int i = 0; i < N_T; i++) {
        snprintf(name, sizeof name, "blk.%d.w", i);
        assert_int_equal(kv_gguf_find_tensor(g, name), i);
    }
    kv_gguf_close(g);
}

// ---- version 2 and memory input ----

static void test_version2_and_mem(void **state) {
    (void)state;
    const char *src = kv_test_source_path("tests/fuzz/corpus/fuzz_gguf/valid_small.gguf");
    char *buf = NULL;
    size_t n = 0;
    OK(kv_read_file(src, 1 << 20, &buf, &n, E));
    kv_gguf *g = NULL;
    OK(kv_gguf_open_mem(buf, n, "small", &g, E));
    assert_string_equal(kv_gguf_path(g), "small");
    assert_int_equal(kv_gguf_tensor_count(g), 2);
    const kv_gguf_tensor *a = kv_gguf_tensor_at(g, 0);
    float v = 0;
    memcpy(&v, (const uint8_t *)a->data + 4 * 3, 4);
    assert_true(v == 1.5f); // python wrote i * 0.5
    kv_gguf_close(g);
    buf[4] = 2; // version 2 has the same layout
    OK(kv_gguf_open_mem(buf, n, "small", &g, E));
    assert_int_equal(kv_gguf_version(g), 2);
    kv_gguf_close(g);
    free(buf);
    kv_err err;
    g = (kv_gguf *)1;
    assert_int_equal(kv_gguf_open("/nonexistent/x.gguf", &g, &err), KV_ERR_IO);
    assert_null(g);
    assert_non_null(strstr(err.msg, "/nonexistent/x.gguf"));
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_roundtrip, setup, teardown),
        cmocka_unit_test_setup_teardown(test_python_made_file, setup, teardown),
        cmocka_unit_test_setup_teardown(test_accessor_messages, setup, teardown),
        cmocka_unit_test_setup_teardown(test_replace_unset_alignment, setup, teardown),
        cmocka_unit_test_setup_teardown(test_writer_abort, setup, teardown),
        cmocka_unit_test_setup_teardown(test_writer_misuse, setup, teardown),
        cmocka_unit_test_setup_teardown(test_many_entries, setup, teardown),
        cmocka_unit_test(test_version2_and_mem),
    };
    return cmocka_run_group_tests_name("formats_gguf", tests, NULL, NULL);
}
