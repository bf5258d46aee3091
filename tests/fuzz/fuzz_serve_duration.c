// libFuzzer harness for keep_alive durations (Go duration syntax, as Ollama
// takes them): the input as a C string through kv_serve_parse_duration, and as a
// JSON value (string or number, as a request carries it) through
// kv__keep_alive_from_json. Checks: a parsed duration is a number (never NaN);
// a keep_alive is >= 0 or +infinity (negative means forever); failures say why.
#include <jansson.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "kvant/kv_serve.h"
#include "serve/duration_int.h"

#define CHECK(cond)                                                                              \
    do {                                                                                         \
        if (!(cond)) {                                                                           \
            fprintf(stderr, "fuzz_serve_duration: check failed: %s (line %d)\n", #cond, __LINE__); \
            abort();                                                                             \
        }                                                                                        \
    } while (0)

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    char *s = malloc(size + 1); // an exact copy, so reads past the end are caught
    CHECK(s);
    memcpy(s, data, size);
    s[size] = '\0';
    double sec = 0;
    kv_err err = {0};
    if (kv_serve_parse_duration(s, &sec, &err) == KV_OK)
        CHECK(!isnan(sec));
    else
        CHECK(err.msg[0] != '\0');

    json_error_t jerr;
    json_t *v = json_loadb((const char *)data, size, JSON_DECODE_ANY, &jerr);
    if (v) {
        err.msg[0] = '\0';
        if (kv__keep_alive_from_json(v, "keep_alive", &sec, &err) == KV_OK)
            CHECK(sec >= 0 && !isnan(sec));
        else
            CHECK(strstr(err.msg, "keep_alive") != NULL);
        json_decref(v);
    }
    free(s);
    return 0;
}
