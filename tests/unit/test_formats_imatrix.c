// imatrix.dat reader: the golden matrix llama-imatrix computed for the demo model,
// files built here (call-count division, duplicates, no trailer) and broken ones
// (every truncation, absurd counts, bad names, trailing bytes, a GGUF imatrix).
#include "kvant/kv_imatrix.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "kv_test.h"

// ---- building files ----

typedef struct {
    unsigned char b[4096];
    size_t n;
} buf;

static void put_i32(buf *f, int32_t v) {
    const uint32_t u = (uint32_t)v;
    for (int i = 0; i < 4; i++)
        f->b[f->n++] = (unsigned char)(u >> (8 * i));
}

static void put_f32(buf *f, float v) {
    uint32_t u;
    memcpy(&u, &v, 4);
    put_i32(f, (int32_t)u);
}

static void put_bytes(buf *f, const char *s, size_t n) {
    memcpy(f->b + f->n, s, n);
    f->n += n;
}

static void put_entry(buf *f, const char *name, int32_t ncall, int32_t nval, float first) {
    put_i32(f, (int32_t)strlen(name));
    put_bytes(f, name, strlen(name));
    put_i32(f, ncall);
    put_i32(f, nval);
    for (int32_t j = 0; j < nval; j++)
        put_f32(f, first + (float)j);
}

static void put_trailer(buf *f, int32_t chunks, const char *dataset) {
    put_i32(f, chunks);
    put_i32(f, (int32_t)strlen(dataset));
    put_bytes(f, dataset, strlen(dataset));
}

typedef struct {
    char *dir;
    char path[4200];
} fixture;

static int setup(void **state) {
    fixture *fx = calloc(1, sizeof *fx);
    fx->dir = kv_test_tmpdir();
    if (!fx->dir)
        return -1;
    snprintf(fx->path, sizeof fx->path, "%s/m.imatrix.dat", fx->dir);
    *state = fx;
    return 0;
}

static int teardown(void **state) {
    fixture *fx = *state;
    kv_test_rmdir(fx->dir);
    free(fx);
    return 0;
}

// Writes n bytes of f and opens them; returns the status, err filled.
static kv_status open_bytes(fixture *fx, const unsigned char *p, size_t n, kv_imatrix **im,
                            kv_err *err) {
    assert_int_equal(kv_test_write_file(fx->path, p, n), 0);
    kv_err_clear(err);
    return kv_imatrix_open(fx->path, im, err);
}

static void expect_error(fixture *fx, const buf *f, kv_status want, const char *fragment) {
    kv_imatrix *im = (kv_imatrix *)1;
    kv_err err;
    const kv_status st = open_bytes(fx, f->b, f->n, &im, &err);
    assert_int_equal(st, want);
    assert_null(im);
    if (!strstr(err.msg, fragment) || !strstr(err.msg, fx->path))
        fail_msg("message \"%s\" should name the file and say \"%s\"", err.msg, fragment);
}

// ---- the golden matrix ----

static void test_golden(void **state) {
    (void)state;
    KV_NEED_SHARED();
    const char *path = kv_test_shared_path("testdata/golden/kjv-llama-7m.imatrix.dat");
    kv_imatrix *im = NULL;
    kv_err err;
    if (kv_imatrix_open(path, &im, &err) != KV_OK)
        fail_msg("%s", err.msg);
    assert_int_equal(kv_imatrix_count(im), 42);
    assert_int_equal(kv_imatrix_chunk_count(im), 212);
    assert_non_null(strstr(kv_imatrix_dataset(im), "kjv-train-sample.txt"));
    // every matmul weight of the 6 layers, sized by its input: n_embd 256, n_ff 768
    static const char *const kinds[] = {"attn_q", "attn_k", "attn_v", "attn_output",
                                        "ffn_gate", "ffn_up", "ffn_down"};
    for (int layer = 0; layer < 6; layer++) {
        for (int k = 0; k < 7; k++) {
            char name[64];
            size_t n = 0;
            snprintf(name, sizeof name, "blk.%d.%s.weight", layer, kinds[k]);
            const float *v = kv_imatrix_find(im, name, &n);
            if (!v)
                fail_msg("no entry '%s'", name);
            assert_int_equal(n, strcmp(kinds[k], "ffn_down") == 0 ? 768 : 256);
            for (size_t j = 0; j < n; j++)
                assert_true(v[j] >= 0.0f); // means of squares
        }
    }
    assert_null(kv_imatrix_find(im, "token_embd.weight", NULL));
    assert_null(kv_imatrix_name(im, 42));
    kv_imatrix_close(im);
}

// The stored values are sums over ncall calls; the reader returns means, as
// llama-quantize does. Checked against the file's own bytes for its first entry.
static void test_golden_values_are_means(void **state) {
    (void)state;
    KV_NEED_SHARED();
    const char *path = kv_test_shared_path("testdata/golden/kjv-llama-7m.imatrix.dat");
    FILE *fp = fopen(path, "rb");
    assert_non_null(fp);
    unsigned char head[4 + 4 + 64 + 8 + 4];
    assert_int_equal(fread(head, 1, sizeof head, fp), sizeof head);
    fclose(fp);
    int32_t len, ncall;
    float raw;
    memcpy(&len, head + 4, 4);
    assert_true(len > 0 && len <= 64);
    memcpy(&ncall, head + 8 + len, 4);
    memcpy(&raw, head + 8 + len + 8, 4);
    kv_imatrix *im = NULL;
    assert_int_equal(kv_imatrix_open(path, &im, NULL), KV_OK);
    assert_int_equal(ncall, 212);
    assert_memory_equal(kv_imatrix_name(im, 0), head + 8, (size_t)len);
    assert_true(kv_imatrix_values(im, 0, NULL)[0] == raw / (float)ncall);
    kv_imatrix_close(im);
}

// ---- files built here ----

static void test_built_file(void **state) {
    fixture *fx = *state;
    buf f = {.n = 0};
    put_i32(&f, 3);
    put_entry(&f, "blk.0.ffn_up.weight", 4, 3, 2.0f);  // 2,3,4 over 4 calls
    put_entry(&f, "blk.0.attn_q.weight", 0, 2, 10.0f); // no calls: kept as stored
    put_entry(&f, "output.weight", -2, 1, 7.0f);       // negative: kept as stored
    put_trailer(&f, 17, "calib.txt");
    kv_imatrix *im = NULL;
    kv_err err;
    if (open_bytes(fx, f.b, f.n, &im, &err) != KV_OK)
        fail_msg("%s", err.msg);
    assert_int_equal(kv_imatrix_count(im), 3);
    assert_string_equal(kv_imatrix_name(im, 0), "blk.0.ffn_up.weight");
    assert_string_equal(kv_imatrix_name(im, 2), "output.weight");
    size_t n;
    const float *v = kv_imatrix_find(im, "blk.0.ffn_up.weight", &n);
    assert_int_equal(n, 3);
    assert_true(v[0] == 0.5f && v[1] == 0.75f && v[2] == 1.0f);
    v = kv_imatrix_find(im, "blk.0.attn_q.weight", &n);
    assert_true(n == 2 && v[0] == 10.0f && v[1] == 11.0f);
    v = kv_imatrix_find(im, "output.weight", &n);
    assert_true(n == 1 && v[0] == 7.0f);
    assert_null(kv_imatrix_find(im, "blk.0.ffn_up", &n));
    assert_int_equal(n, 0);
    assert_int_equal(kv_imatrix_chunk_count(im), 17);
    assert_string_equal(kv_imatrix_dataset(im), "calib.txt");
    kv_imatrix_close(im);
}

// Older files end after the entries; a repeated name keeps its first place and
// takes the later values (llama-quantize's map does the same).
static void test_no_trailer_and_duplicates(void **state) {
    fixture *fx = *state;
    buf f = {.n = 0};
    put_i32(&f, 4);
    put_entry(&f, "b", 1, 2, 1.0f);
    put_entry(&f, "a", 1, 1, 5.0f);
    put_entry(&f, "b", 2, 4, 8.0f);
    put_entry(&f, "c", 1, 1, 9.0f);
    kv_imatrix *im = NULL;
    kv_err err;
    if (open_bytes(fx, f.b, f.n, &im, &err) != KV_OK)
        fail_msg("%s", err.msg);
    assert_int_equal(kv_imatrix_count(im), 3);
    assert_string_equal(kv_imatrix_name(im, 0), "b");
    assert_string_equal(kv_imatrix_name(im, 1), "a");
    assert_string_equal(kv_imatrix_name(im, 2), "c");
    size_t n;
    const float *v = kv_imatrix_values(im, 0, &n);
    assert_true(n == 4 && v[0] == 4.0f && v[3] == 5.5f);
    assert_true(kv_imatrix_find(im, "c", NULL)[0] == 9.0f);
    assert_true(kv_imatrix_find(im, "a", NULL)[0] == 5.0f);
    assert_int_equal(kv_imatrix_chunk_count(im), -1);
    assert_null(kv_imatrix_dataset(im));
    kv_imatrix_close(im);
}

// ---- broken files ----

// Every prefix of a valid file fails cleanly, except the one that ends right after
// the entries (a file without the optional trailer).
static void test_every_truncation(void **state) {
    fixture *fx = *state;
    buf f = {.n = 0};
    put_i32(&f, 2);
    put_entry(&f, "blk.1.attn_v.weight", 3, 5, 1.0f);
    put_entry(&f, "x", 1, 1, 1.0f);
    const size_t entries_end = f.n;
    put_trailer(&f, 9, "data.txt");
    for (size_t len = 0; len < f.n; len++) {
        kv_imatrix *im = NULL;
        kv_err err;
        const kv_status st = open_bytes(fx, f.b, len, &im, &err);
        if (len == entries_end) {
            assert_int_equal(st, KV_OK);
            kv_imatrix_close(im);
            continue;
        }
        if (st != KV_ERR_TRUNCATED)
            fail_msg("prefix of %zu bytes: status %d (%s)", len, st, err.msg);
        assert_null(im);
        assert_non_null(strstr(err.msg, "truncated"));
    }
}

static void test_bad_counts(void **state) {
    fixture *fx = *state;
    buf f = {.n = 0};
    put_i32(&f, 0);
    expect_error(fx, &f, KV_ERR_FORMAT, "entry count");
    f.n = 0;
    put_i32(&f, -5);
    expect_error(fx, &f, KV_ERR_FORMAT, "entry count at offset 0 is -5");
    f.n = 0;
    put_i32(&f, INT32_MAX);
    expect_error(fx, &f, KV_ERR_LIMIT, "entry count");
    f.n = 0;
    put_i32(&f, 1);
    put_i32(&f, 1 << 30); // name length
    expect_error(fx, &f, KV_ERR_LIMIT, "entry 0 name length");
    f.n = 0;
    put_i32(&f, 2);
    put_entry(&f, "ok", 1, 1, 1.0f);
    put_i32(&f, 0); // empty name
    expect_error(fx, &f, KV_ERR_FORMAT, "entry 1 name length");
    f.n = 0;
    put_i32(&f, 1);
    put_entry(&f, "w", 1, 0, 1.0f); // no values
    expect_error(fx, &f, KV_ERR_FORMAT, "entry 0 ('w') value count");
    f.n = 0;
    put_i32(&f, 1);
    put_entry(&f, "w", 1, 0, 1.0f);
    f.n -= 4;
    put_i32(&f, INT32_MAX); // absurd value count
    expect_error(fx, &f, KV_ERR_LIMIT, "entry 0 ('w') value count");
    f.n = 0;
    put_i32(&f, 1);
    put_entry(&f, "w", 1, 0, 1.0f);
    f.n -= 4;
    put_i32(&f, 1000); // within the limit, beyond the file
    expect_error(fx, &f, KV_ERR_TRUNCATED, "entry 0 ('w') values");
}

static void test_bad_names_and_tails(void **state) {
    fixture *fx = *state;
    buf f = {.n = 0};
    put_i32(&f, 1);
    put_i32(&f, 3);
    put_bytes(&f, "a\0b", 3);
    put_i32(&f, 1);
    put_i32(&f, 1);
    put_f32(&f, 1.0f);
    expect_error(fx, &f, KV_ERR_FORMAT, "NUL");
    f.n = 0;
    put_i32(&f, 1);
    put_entry(&f, "w", 1, 1, 1.0f);
    put_trailer(&f, 3, "d.txt");
    put_bytes(&f, "junk", 4);
    expect_error(fx, &f, KV_ERR_FORMAT, "4 unexpected bytes");
    f.n = 0;
    put_i32(&f, 1);
    put_entry(&f, "w", 1, 1, 1.0f);
    put_i32(&f, -1);
    put_i32(&f, 0);
    expect_error(fx, &f, KV_ERR_FORMAT, "chunk count");
    f.n = 0;
    put_i32(&f, 1);
    put_entry(&f, "w", 1, 1, 1.0f);
    put_i32(&f, 3);
    put_i32(&f, -7);
    expect_error(fx, &f, KV_ERR_FORMAT, "dataset name length");
    f.n = 0;
    put_bytes(&f, "GGUF", 4);
    put_i32(&f, 3);
    expect_error(fx, &f, KV_ERR_UNSUPPORTED, "GGUF");
}

static void test_missing_file(void **state) {
    fixture *fx = *state;
    kv_imatrix *im = (kv_imatrix *)1;
    kv_err err;
    char path[4300];
    snprintf(path, sizeof path, "%s/absent.dat", fx->dir);
    assert_int_equal(kv_imatrix_open(path, &im, &err), KV_ERR_IO);
    assert_null(im);
    assert_non_null(strstr(err.msg, "absent.dat"));
    kv_imatrix_close(NULL);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_golden),
        cmocka_unit_test(test_golden_values_are_means),
        cmocka_unit_test_setup_teardown(test_built_file, setup, teardown),
        cmocka_unit_test_setup_teardown(test_no_trailer_and_duplicates, setup, teardown),
        cmocka_unit_test_setup_teardown(test_every_truncation, setup, teardown),
        cmocka_unit_test_setup_teardown(test_bad_counts, setup, teardown),
        cmocka_unit_test_setup_teardown(test_bad_names_and_tails, setup, teardown),
        cmocka_unit_test_setup_teardown(test_missing_file, setup, teardown),
    };
    return cmocka_run_group_tests_name("formats_imatrix", tests, NULL, NULL);
}
