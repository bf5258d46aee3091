// keep_alive durations (Go syntax, seconds, negatives meaning forever) and the
// RFC 3339 timestamps of Ollama's created_at.
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "kv_test.h"
#include "serve/serve_int.h"

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
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_durations),
        cmocka_unit_test(test_keep_alive_json),
        cmocka_unit_test(test_rfc3339),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
