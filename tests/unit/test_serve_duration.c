// keep_alive durations (Go syntax, seconds, negatives meaning forever) and the
// RFC 3339 timestamps of Ollama's created_at.
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "kv_test.h"
#include "kvant/kv_serve.h"
#include "serve/duration_int.h"

static void test_durations(void **state) {
    (void)state;
    static const struct {
        const char *s;
        double want;
    } OK[] = {
        {"5m", 300},   {"1h30m", 5400},      {"1.5s", 1.5},
        {"0", 0},      {"300", 300},         {"-1", -1},
        {"-1m", -60},  {"250ms", 0.25},      {"2h45m30.5s", 9930.5},
        {"1us", 1e-6}, {"1\xc2\xb5s", 1e-6}, {"10ns", 1e-8},
        {"+5s", 5},    {".5h", 1800},
    };
    for (size_t i = 0; i < sizeof OK / sizeof OK[0]; i++) {
        double v = NAN;
        kv_err err;
        assert_int_equal(kv__duration_parse(OK[i].s, &v, &err), KV_OK);
        assert_true(fabs(v - OK[i].want) < 1e-9 * (1 + fabs(OK[i].want)));
    }
    static const char *const BAD[] = {"", "m", "5x", "1h 30m", "-", "1.2.3s", "h5", "5mm"};
    for (size_t i = 0; i < sizeof BAD / sizeof BAD[0]; i++) {
        double v;
        kv_err err;
        assert_int_equal(kv__duration_parse(BAD[i], &v, &err), KV_ERR_INVALID);
        assert_true(strlen(err.msg) > 0);
    }
    char longs[100];
    memset(longs, '1', sizeof longs - 2);
    longs[sizeof longs - 2] = 's';
    longs[sizeof longs - 1] = '\0';
    double v;
    assert_int_equal(kv__duration_parse(longs, &v, NULL), KV_ERR_INVALID);
}

static void test_keep_alive_json(void **state) {
    (void)state;
    double s;
    kv_err err;
    json_t *v = json_string("5m");
    assert_int_equal(kv__keep_alive_from_json(v, "keep_alive", &s, &err), KV_OK);
    assert_true(s == 300);
    json_decref(v);
    v = json_integer(-1);
    assert_int_equal(kv__keep_alive_from_json(v, "keep_alive", &s, &err), KV_OK);
    assert_true(isinf(s));
    json_decref(v);
    v = json_real(0);
    assert_int_equal(kv__keep_alive_from_json(v, "keep_alive", &s, &err), KV_OK);
    assert_true(s == 0);
    json_decref(v);
    v = json_true();
    assert_int_equal(kv__keep_alive_from_json(v, "keep_alive", &s, &err), KV_ERR_INVALID);
    assert_non_null(strstr(err.msg, "'keep_alive'"));
    json_decref(v);
    v = json_string("soon");
    assert_int_equal(kv__keep_alive_from_json(v, "keep_alive", &s, &err), KV_ERR_INVALID);
    assert_non_null(strstr(err.msg, "'keep_alive'"));
    json_decref(v);
    // durations beyond what a clock can add (Go's longest, ~292 years) are forever
    static const char *const HUGE[] = {"1e19", "1e18", "1.7976931348623157e308", "9223372037",
                                       "\"9999999999999999h\"", "\"2562048h\"",
                                       "\"99999999999999999999999999999s\"", "-1e308"};
    for (size_t i = 0; i < sizeof HUGE / sizeof HUGE[0]; i++) {
        v = json_loads(HUGE[i], JSON_DECODE_ANY, NULL);
        assert_non_null(v);
        s = 0;
        assert_int_equal(kv__keep_alive_from_json(v, "keep_alive", &s, &err), KV_OK);
        if (!isinf(s))
            print_error("keep_alive %s: %g seconds, wanted forever\n", HUGE[i], s);
        assert_true(isinf(s) && s > 0);
        json_decref(v);
    }
    v = json_string("2562047h"); // just under Go's longest duration: itself
    assert_int_equal(kv__keep_alive_from_json(v, "keep_alive", &s, &err), KV_OK);
    assert_true(s == 2562047.0 * 3600);
    json_decref(v);
    assert_true(isinf(kv__keep_alive_saturate(NAN)));
    assert_true(isinf(kv__keep_alive_saturate(-0.5)));
    assert_true(kv__keep_alive_saturate(0) == 0);
    // the public wrapper the CLI uses
    assert_int_equal(kv_serve_parse_duration("1h", &s, &err), KV_OK);
    assert_true(s == 3600);
}

static void test_rfc3339(void **state) {
    (void)state;
    char out[48];
    kv__rfc3339(0, out, sizeof out);
    assert_string_equal(out, "1970-01-01T00:00:00.000000000Z");
    kv__rfc3339(1714564800.5, out, sizeof out);
    assert_string_equal(out, "2024-05-01T12:00:00.500000000Z");
    // times a four-digit year cannot write are its bounds, never garbage
    kv__rfc3339(1e18, out, sizeof out);
    assert_string_equal(out, "9999-12-31T23:59:59.999999999Z");
    kv__rfc3339(INFINITY, out, sizeof out);
    assert_string_equal(out, "9999-12-31T23:59:59.999999999Z");
    kv__rfc3339(1e300, out, sizeof out);
    assert_string_equal(out, "9999-12-31T23:59:59.999999999Z");
    kv__rfc3339(-1e18, out, sizeof out);
    assert_string_equal(out, "1970-01-01T00:00:00.000000000Z");
    kv__rfc3339(NAN, out, sizeof out);
    assert_string_equal(out, "1970-01-01T00:00:00.000000000Z");
    kv__rfc3339(253402300799.0, out, sizeof out);
    assert_string_equal(out, "9999-12-31T23:59:59.000000000Z");
    // forever in /api/ps: about 292 years from now, still a four-digit year
    kv__rfc3339(1764979200.0 + KV__FOREVER_S, out, sizeof out);
    assert_memory_equal(out, "2318-", 5);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_durations),
        cmocka_unit_test(test_keep_alive_json),
        cmocka_unit_test(test_rfc3339),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
