// The JSON prefix automaton: whole documents and every prefix of them accepted,
// each kind of invalid text refused at the byte where it goes wrong, escapes and
// surrogate pairs, UTF-8, numbers (-0, 1e5, 01), literals, the depth and
// whitespace bounds, completeness, and closings that jansson parses.
#include "kvant/kv_json_prefix.h"

#include <stdio.h>
#include <string.h>

#include <jansson.h>

#include "kv_test.h"

// Feeds s one byte at a time; returns how many bytes were accepted.
static size_t accepted(kv_json_prefix *p, const char *s, size_t n) {
    for (size_t i = 0; i < n; i++)
        if (!kv_json_prefix_feed(p, s + i, 1))
            return i;
    return n;
}

static bool parses(const char *s, size_t n) {
    json_error_t e;
    json_t *v = json_loadb(s, n, JSON_DECODE_ANY | JSON_DECODE_INT_AS_REAL | JSON_ALLOW_NUL, &e);
    json_decref(v);
    return v != NULL;
}

// s is a whole document of root kind: all of it is accepted, whole only at
// the end, and every prefix closes to text jansson parses.
static void whole(kv_json_root root, const char *s) {
    const size_t n = strlen(s);
    kv_json_prefix p;
    kv_json_prefix_init(&p, root);
    for (size_t i = 0; i < n; i++) {
        char buf[4096];
        char close[KV_JSON_CLOSING_MAX];
        size_t k = kv_json_prefix_closing(&p, close);
        assert_true(i + k < sizeof buf);
        memcpy(buf, s, i);
        memcpy(buf + i, close, k);
        kv_json_prefix q = p;
        assert_true(kv_json_prefix_feed(&q, close, k));
        assert_true(kv_json_prefix_complete(&q));
        if (!parses(buf, i + k))
            fail_msg("closing '%.*s' after '%.*s' does not parse", (int)k, close, (int)i, s);
        if (!kv_json_prefix_feed(&p, s + i, 1))
            fail_msg("'%s' refused at byte %zu", s, i);
    }
    if (!kv_json_prefix_complete(&p))
        fail_msg("'%s' is not complete", s);
    assert_true(parses(s, n)); // the test's own documents are valid
}

// s is refused at byte bad (and accepted up to it).
static void refused_at(kv_json_root root, const char *s, size_t bad) {
    kv_json_prefix p;
    kv_json_prefix_init(&p, root);
    size_t got = accepted(&p, s, strlen(s));
    if (got != bad)
        fail_msg("'%s': refused at byte %zu, expected %zu", s, got, bad);
}

// s is accepted but not whole.
static void incomplete(kv_json_root root, const char *s) {
    kv_json_prefix p;
    kv_json_prefix_init(&p, root);
    assert_int_equal(accepted(&p, s, strlen(s)), strlen(s));
    if (kv_json_prefix_complete(&p))
        fail_msg("'%s' should not be complete", s);
}

static void test_valid_documents(void **state) {
    (void)state;
    static const char *const OBJECTS[] = {
        "{}",
        "{ }",
        " {\"a\":1}",
        "{\"a\": [1, 2.5, -3e2, true, false, null, \"x\", {}, []], \"b\": {\"c\": {}}}",
        "{\"\":\"\"}",
        "{\"k\" : \"v\" , \"k2\":\t[ ]\r\n}",
        "{\"esc\":\"\\\" \\\\ \\/ \\b \\f \\n \\r \\t \\u00e9 \\uD83D\\uDE00 \\u0000\"}",
        "{\"utf8\":\"\xc3\xa9 \xe2\x82\xac \xf0\x9f\x98\x80 \xef\xbf\xbf \x7f\"}",
        "{\"n\":[0,-0,0.5,-0.0,1e5,1E+5,1e-5,12.25e10,-0e0,123456789012345678901234567890]}",
    };
    for (size_t i = 0; i < sizeof OBJECTS / sizeof OBJECTS[0]; i++) {
        whole(KV_JSON_ROOT_OBJECT, OBJECTS[i]);
        whole(KV_JSON_ROOT_ANY, OBJECTS[i]);
    }
    static const char *const VALUES[] = {
        "[]", "[[[]]]", "\"text\"", "true", "false", "null", "0", "-0", "1e5", "1.5E-3", "[1,[2,[3]]]",
    };
    for (size_t i = 0; i < sizeof VALUES / sizeof VALUES[0]; i++)
        whole(KV_JSON_ROOT_ANY, VALUES[i]);
}

static void test_invalid_structure(void **state) {
    (void)state;
    const kv_json_root A = KV_JSON_ROOT_ANY;
    refused_at(A, "{,", 1);
    refused_at(A, "{\"a\" 1", 5);
    refused_at(A, "{\"a\":}", 5);
    refused_at(A, "{\"a\":1,}", 7);
    refused_at(A, "{\"a\":1 \"b\"", 7);
    refused_at(A, "{a:1}", 1);
    refused_at(A, "{1:2}", 1);
    refused_at(A, "[1,]", 3);
    refused_at(A, "[1 2]", 3);
    refused_at(A, "[,1]", 1);
    refused_at(A, "[}", 1);
    refused_at(A, "{]", 1);
    refused_at(A, "[1}", 2);
    refused_at(A, "]", 0);
    refused_at(A, ":", 0);
    refused_at(A, "[] []", 3);
    refused_at(A, "{} x", 3);
    refused_at(A, "'a'", 0);
    refused_at(A, "tru e", 3);
    refused_at(A, "nul", 3); // accepted so far ...
    incomplete(A, "nul");    // ... but not whole
    refused_at(A, "True", 0);
    refused_at(A, "[nulL]", 4);
    refused_at(A, "[NaN]", 1);
    refused_at(A, "[Infinity]", 1);
    // a top-level object is required for format "json"
    refused_at(KV_JSON_ROOT_OBJECT, "[]", 0);
    refused_at(KV_JSON_ROOT_OBJECT, "\"a\"", 0);
    refused_at(KV_JSON_ROOT_OBJECT, "1", 0);
    refused_at(KV_JSON_ROOT_OBJECT, "  null", 2);
}

static void test_numbers(void **state) {
    (void)state;
    const kv_json_root A = KV_JSON_ROOT_ANY;
    refused_at(A, "01", 1);
    refused_at(A, "-01", 2);
    refused_at(A, "00", 1);
    refused_at(A, "[01]", 2);
    refused_at(A, "+1", 0);
    refused_at(A, ".5", 0);
    refused_at(A, "1.e5", 2);
    refused_at(A, "1e+-5", 3);
    refused_at(A, "-a", 1);
    refused_at(A, "1x", 1);
    refused_at(A, "[1.5.2]", 4);
    refused_at(A, "0x10", 1);
    incomplete(A, "-");
    incomplete(A, "1.");
    incomplete(A, "1e");
    incomplete(A, "1e+");
    incomplete(A, "[1");
    // a top-level number is whole yet may grow; whitespace ends it
    kv_json_prefix p;
    kv_json_prefix_init(&p, A);
    assert_true(kv_json_prefix_feed(&p, "12", 2));
    assert_true(kv_json_prefix_complete(&p));
    assert_false(kv_json_prefix_done(&p));
    assert_true(kv_json_prefix_feed(&p, "3 ", 2));
    assert_true(kv_json_prefix_done(&p));
    assert_false(kv_json_prefix_feed(&p, "4", 1));
}

static void test_strings(void **state) {
    (void)state;
    const kv_json_root A = KV_JSON_ROOT_ANY;
    refused_at(A, "\"a\nb\"", 2);     // raw control characters must be escaped
    refused_at(A, "\"\t\"", 1);
    refused_at(A, "\"\\x\"", 2);      // unknown escape
    refused_at(A, "\"\\u12G4\"", 5);
    refused_at(A, "\"\\U0041\"", 2);
    refused_at(A, "\"\\uDC00\"", 4);  // a lone low surrogate, refused at its second digit
    refused_at(A, "\"\\udfff\"", 4);
    refused_at(A, "\"\\uD800x\"", 7); // a high surrogate needs its low half
    refused_at(A, "\"\\uD800\\n\"", 8);
    refused_at(A, "\"\\uD800\\uD800\"", 10);
    refused_at(A, "\"\\uD800\\u0041\"", 9);
    incomplete(A, "\"\\uD83D");
    incomplete(A, "\"\\uD83D\\u");
    incomplete(A, "\"abc");
    // UTF-8: no stray continuation bytes, overlong forms, surrogates or > U+10FFFF
    refused_at(A, "\"\x80\"", 1);
    refused_at(A, "\"\xc0\x80\"", 1);
    refused_at(A, "\"\xc1\xbf\"", 1);
    refused_at(A, "\"\xe0\x80\x80\"", 2);
    refused_at(A, "\"\xed\xa0\x80\"", 2);
    refused_at(A, "\"\xf0\x80\x80\x80\"", 2);
    refused_at(A, "\"\xf4\x90\x80\x80\"", 2);
    refused_at(A, "\"\xf5\x80\x80\x80\"", 1);
    refused_at(A, "\"\xc3\"", 2);        // a character cut short by the quote
    refused_at(A, "\"\xe2\x82\"", 3);
    refused_at(A, "\xc3\xa9", 0);        // outside strings only ASCII
    incomplete(A, "\"\xf0\x9f\x98");     // a character split across tokens is fine
    whole(A, "\"\xf4\x8f\xbf\xbf\"");    // U+10FFFF
    whole(A, "\"\xed\x9f\xbf\"");        // U+D7FF
}

static void test_depth_and_whitespace(void **state) {
    (void)state;
    char buf[2 * KV_JSON_MAX_DEPTH + 8];
    size_t n = 0;
    for (int i = 0; i < KV_JSON_MAX_DEPTH; i++)
        buf[n++] = '[';
    for (int i = 0; i < KV_JSON_MAX_DEPTH; i++)
        buf[n++] = ']';
    buf[n] = '\0';
    whole(KV_JSON_ROOT_ANY, buf);
    memmove(buf + 1, buf, n + 1);
    buf[0] = '[';
    refused_at(KV_JSON_ROOT_ANY, buf, KV_JSON_MAX_DEPTH); // one more level is refused
    // whitespace runs: KV_JSON_MAX_WS bytes pass, one more does not; any other byte resets the run
    char ws[KV_JSON_MAX_WS + 8];
    memset(ws, ' ', sizeof ws);
    kv_json_prefix p;
    kv_json_prefix_init(&p, KV_JSON_ROOT_OBJECT);
    assert_true(kv_json_prefix_feed(&p, ws, KV_JSON_MAX_WS));
    assert_false(kv_json_prefix_feed(&p, "\n", 1));
    assert_true(kv_json_prefix_feed(&p, "{", 1));
    assert_true(kv_json_prefix_feed(&p, ws, KV_JSON_MAX_WS));
    assert_false(kv_json_prefix_feed(&p, "\t", 1));
    assert_true(kv_json_prefix_feed(&p, "\"", 1));
    assert_true(kv_json_prefix_feed(&p, ws, sizeof ws)); // inside a string: no limit
    assert_true(kv_json_prefix_feed(&p, "\":1}", 4));
    assert_true(kv_json_prefix_done(&p));
    assert_true(kv_json_prefix_feed(&p, ws, KV_JSON_MAX_WS));
    assert_false(kv_json_prefix_feed(&p, " ", 1));
    assert_true(kv_json_prefix_complete(&p)); // so generation can still end
    // one line feed per run, as pretty printing needs; other whitespace around it is fine
    refused_at(KV_JSON_ROOT_ANY, "[\n\n1]", 2);
    refused_at(KV_JSON_ROOT_ANY, "[ \r\n\t \n1]", 6);
    whole(KV_JSON_ROOT_ANY, "[\n  1,\n  {\n    \"a\": 2\n  }\n]");
    whole(KV_JSON_ROOT_ANY, "[\r\n 1\r\n]");
}

static void test_completeness_and_feed(void **state) {
    (void)state;
    kv_json_prefix p, before;
    kv_json_prefix_init(&p, KV_JSON_ROOT_OBJECT);
    assert_false(kv_json_prefix_complete(&p));
    char close[KV_JSON_CLOSING_MAX];
    assert_int_equal(kv_json_prefix_closing(&p, close), 2);
    assert_memory_equal(close, "{}", 2);
    assert_true(kv_json_prefix_feed(&p, "{\"a\":[{\"b\":\"\\uD8", 16));
    size_t k = kv_json_prefix_closing(&p, close);
    assert_int_equal(k, 12);
    assert_memory_equal(close, "00\\uDC00\"}]}", 12);
    // a refused feed changes nothing, even when its first bytes were fine
    before = p;
    assert_false(kv_json_prefix_feed(&p, "00\\n", 4));
    assert_memory_equal(&p, &before, sizeof p);
    assert_true(kv_json_prefix_feed(&p, "", 0));
    assert_true(kv_json_prefix_feed(&p, close, k));
    assert_true(kv_json_prefix_done(&p));
    assert_int_equal(kv_json_prefix_closing(&p, close), 0);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_valid_documents),   cmocka_unit_test(test_invalid_structure),
        cmocka_unit_test(test_numbers),           cmocka_unit_test(test_strings),
        cmocka_unit_test(test_depth_and_whitespace), cmocka_unit_test(test_completeness_and_feed),
    };
    return cmocka_run_group_tests_name("model_json_prefix", tests, NULL, NULL);
}
