// The capped byte buffer (kv_buf.h): appends grow it and keep it NUL-terminated,
// the cap refuses an append that would pass it and leaves the buffer as it was,
// consume drops a prefix, free empties it and keeps the cap.
#include "kvant/kv_buf.h"

#include <string.h>

#include "kv_test.h"

static void test_grows_and_terminates(void **state) {
    (void)state;
    kv_buf b = {0};
    kv_err err = {0};
    assert_int_equal(kv_buf_add(&b, "", 0, &err), KV_OK);
    assert_non_null(b.p);
    assert_string_equal(b.p, "");
    // past the first 256-byte allocation, byte by byte
    for (int i = 0; i < 1000; i++) {
        char c = (char)('a' + i % 26);
        assert_int_equal(kv_buf_add(&b, &c, 1, &err), KV_OK);
    }
    assert_int_equal(b.n, 1000);
    assert_true(b.cap > b.n);
    assert_int_equal(b.p[1000], '\0');
    assert_int_equal(b.p[999], 'a' + 999 % 26);
    assert_int_equal(kv_buf_adds(&b, "xyz", &err), KV_OK);
    assert_string_equal(b.p + 1000, "xyz");
    kv_buf_free(&b);
    assert_null(b.p);
    assert_int_equal(b.n, 0);
    kv_buf_free(&b); // twice is fine
}

static void test_cap(void **state) {
    (void)state;
    kv_buf b = {.max = 10};
    kv_err err = {0};
    assert_int_equal(kv_buf_adds(&b, "0123456", &err), KV_OK);
    assert_int_equal(kv_buf_adds(&b, "7890", &err), KV_ERR_LIMIT);
    assert_non_null(strstr(err.msg, "cap of 10 bytes"));
    assert_string_equal(b.p, "0123456"); // unchanged
    assert_int_equal(kv_buf_adds(&b, "789", &err), KV_OK); // exactly the cap
    assert_int_equal(b.n, 10);
    assert_int_equal(kv_buf_add(&b, "x", 1, NULL), KV_ERR_LIMIT);
    kv_buf_free(&b);
    assert_int_equal(b.max, 10);
}

static void test_consume(void **state) {
    (void)state;
    kv_buf b = {0};
    kv_buf_consume(&b, 5); // empty, never allocated
    assert_int_equal(kv_buf_adds(&b, "hello world", NULL), KV_OK);
    kv_buf_consume(&b, 6);
    assert_string_equal(b.p, "world");
    assert_int_equal(b.n, 5);
    kv_buf_consume(&b, 99);
    assert_int_equal(b.n, 0);
    assert_string_equal(b.p, "");
    kv_buf_free(&b);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_grows_and_terminates),
        cmocka_unit_test(test_cap),
        cmocka_unit_test(test_consume),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
