// kv_imatrix_save round trips through the reader: names, counts, values / ncall,
// chunk count and dataset; a failed write leaves nothing behind.
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "kv_test.h"
#include "kvant/kv_imatrix.h"

static void test_round_trip(void **state) {
    (void)state;
    char *dir = kv_test_tmpdir();
    char path[4200];
    snprintf(path, sizeof path, "%s/im.dat", dir);
    float a[4] = {4, 8, 12, 16}, b[2] = {3, 6};
    kv_imatrix_entry e[2] = {{"blk.0.attn_q.weight", 4, 4, a}, {"blk.0.ffn_down.weight", 3, 2, b}};
    kv_err err = {0};
    assert_int_equal(kv_imatrix_save(path, e, 2, 17, "calib.txt", &err), KV_OK);
    kv_imatrix *im = NULL;
    assert_int_equal(kv_imatrix_open(path, &im, &err), KV_OK);
    assert_int_equal(kv_imatrix_count(im), 2);
    assert_int_equal(kv_imatrix_chunk_count(im), 17);
    assert_string_equal(kv_imatrix_dataset(im), "calib.txt");
    size_t n = 0;
    const float *v = kv_imatrix_find(im, "blk.0.attn_q.weight", &n);
    assert_non_null(v);
    assert_int_equal(n, 4);
    for (int j = 0; j < 4; j++) // stored values are divided by ncall on reading
        assert_true(v[j] == a[j] / 4.0f);
    v = kv_imatrix_find(im, "blk.0.ffn_down.weight", &n);
    assert_int_equal(n, 2);
    assert_true(v[1] == 2.0f);
    kv_imatrix_close(im);
    kv_test_rmdir(dir);
}

static void test_missing_dir(void **state) {
    (void)state;
    float a[1] = {1};
    kv_imatrix_entry e = {"x", 1, 1, a};
    kv_err err = {0};
    assert_int_equal(kv_imatrix_save("/nonexistent-dir/im.dat", &e, 1, 1, NULL, &err), KV_ERR_IO);
    assert_non_null(strstr(err.msg, "/nonexistent-dir/im.dat"));
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_round_trip),
        cmocka_unit_test(test_missing_dir),
    };
    return cmocka_run_group_tests_name("formats_imatrix_write", tests, NULL, NULL);
}
