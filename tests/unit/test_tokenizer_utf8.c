// UTF-8 validation (with the offset of the first bad byte) and the stream holder
// that keeps incomplete characters back while pieces are printed one at a time.
#include "kvant/kv_tokenizer.h"

#include <string.h>

#include "kv_test.h"

static void expect_valid(const char *s, size_t n) {
    size_t off = 12345;
    assert_true(kv_utf8_valid(s, n, &off));
    assert_int_equal(off, n);
}

static void expect_bad(const char *s, size_t n, size_t want_off) {
    size_t off = 12345;
    assert_false(kv_utf8_valid(s, n, &off));
    assert_int_equal(off, want_off);
}

#define VALID(s) expect_valid((s), sizeof(s) - 1)
#define BAD(s, off) expect_bad((s), sizeof(s) - 1, (off))

static void test_valid(void **state) {
    (void)state;
    VALID("");
    VALID("plain ASCII\n\t");
    VALID("F\xc3\xbchrer");                  // ü
    VALID("\xe2\x96\x81");                   // U+2581
    VALID("\xf0\x9f\xa6\x99");               // U+1F999 llama
    VALID("\xed\x9f\xbf");                   // U+D7FF, just below the surrogates
    VALID("\xf4\x8f\xbf\xbf");               // U+10FFFF
    VALID("a\0b");                           // NUL is a character
    assert_true(kv_utf8_valid("x", 1, NULL)); // bad_off may be NULL
}

static void test_invalid(void **state) {
    (void)state;
    BAD("ab\xff", 2);                 // never a UTF-8 byte
    BAD("a\x80", 1);                  // continuation without a lead
    BAD("abc\xc3", 3);                // truncated at the end
    BAD("\xc3(", 0);                  // lead followed by a non-continuation
    BAD("x\xc0\xaf", 1);              // overlong '/'
    BAD("\xe0\x80\xaf", 0);           // overlong, three bytes
    BAD("ok \xed\xa0\x80", 3);        // UTF-16 surrogate U+D800
    BAD("\xf4\x90\x80\x80", 0);       // U+110000
    BAD("\xf5\x80\x80\x80", 0);       // lead past U+10FFFF
    BAD("\xe2\x96\x81\xe2\x96", 3);   // second character cut short
    BAD("\xf0\x9f\xa6(", 0);          // third continuation missing
    assert_false(kv_utf8_valid("\xff", 1, NULL));
}

// Pushes the pieces one at a time and returns everything written, flush included.
static size_t stream_all(const char *const *pieces, size_t n_pieces, char *out,
                         size_t *per_push) {
    kv_utf8_stream s = {0};
    size_t total = 0;
    for (size_t i = 0; i < n_pieces; i++) {
        size_t n = kv_utf8_stream_push(&s, pieces[i], strlen(pieces[i]), out + total);
        if (per_push)
            per_push[i] = n;
        total += n;
    }
    return total + kv_utf8_stream_flush(&s, out + total);
}

static void test_stream_holds_partial(void **state) {
    (void)state;
    const char *llama[] = {"\xf0", "\x9f", "\xa6", "\x99", "!"};
    char out[64];
    size_t per[5];
    size_t n = stream_all(llama, 5, out, per);
    assert_int_equal(per[0], 0);
    assert_int_equal(per[1], 0);
    assert_int_equal(per[2], 0);
    assert_int_equal(per[3], 4); // the whole character at once
    assert_int_equal(per[4], 1);
    assert_int_equal(n, 5);
    assert_memory_equal(out, "\xf0\x9f\xa6\x99!", 5);

    const char *mixed[] = {"a\xc3", "\xa9 b\xe2\x96", "\x81"};
    n = stream_all(mixed, 3, out, per);
    assert_int_equal(per[0], 1);
    assert_int_equal(per[1], 4); // "é b"
    assert_int_equal(per[2], 3);
    assert_int_equal(n, 8);
    assert_memory_equal(out, "a\xc3\xa9 b\xe2\x96\x81", 8);
}

static void test_stream_passes_invalid(void **state) {
    (void)state;
    char out[64];
    size_t per[3];
    const char *bad[] = {"\xff", "\x80", "x"}; // never part of a character: not held
    size_t n = stream_all(bad, 3, out, per);
    assert_int_equal(per[0], 1);
    assert_int_equal(per[1], 1);
    assert_int_equal(n, 3);

    const char *broken[] = {"\xe2", "(", "\xe0\x80"}; // held, then released when it breaks
    n = stream_all(broken, 3, out, per);
    assert_int_equal(per[0], 0);
    assert_int_equal(per[1], 2);
    assert_int_equal(per[2], 2); // 0xE0 0x80 is an overlong start: passed on
    assert_int_equal(n, 4);
    assert_memory_equal(out, "\xe2(\xe0\x80", 4);

    kv_utf8_stream s = {0};
    assert_int_equal(kv_utf8_stream_push(&s, "ab\xf0\x9f", 4, out), 2);
    assert_int_equal(s.n_held, 2);
    assert_int_equal(kv_utf8_stream_flush(&s, out), 2); // end of stream: the rest as it is
    assert_memory_equal(out, "\xf0\x9f", 2);
    assert_int_equal(kv_utf8_stream_flush(&s, out), 0);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_valid),
        cmocka_unit_test(test_invalid),
        cmocka_unit_test(test_stream_holds_partial),
        cmocka_unit_test(test_stream_passes_invalid),
    };
    return cmocka_run_group_tests_name("tokenizer_utf8", tests, NULL, NULL);
}
