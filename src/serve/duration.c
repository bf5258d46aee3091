// keep_alive durations (Go's duration syntax, as Ollama takes them), clocks and
// RFC 3339 timestamps for the APIs' created_at fields.
#define _POSIX_C_SOURCE 200809L // gmtime_r, strnlen, clock_gettime
#include "serve/duration_int.h"

#include <math.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

// Longest duration string we read; Go's own limit is the int64 nanosecond range.
#define MAX_DURATION_LEN 64

static const struct {
    const char *name;
    double seconds;
} UNITS[] = {
    {"ns", 1e-9}, {"us", 1e-6}, {"\xc2\xb5s", 1e-6}, {"\xce\xbcs", 1e-6},
    {"ms", 1e-3}, {"s", 1.0},   {"m", 60.0},         {"h", 3600.0},
};

// Reads digits[.digits] at s[*i]; false when there is no digit at all.
static bool read_number(const char *s, size_t *i, double *v) {
    size_t j = *i;
    double x = 0;
    bool any = false;
    while (s[j] >= '0' && s[j] <= '9') {
        x = x * 10 + (s[j++] - '0');
        any = true;
    }
    if (s[j] == '.') {
        j++;
        double scale = 0.1;
        while (s[j] >= '0' && s[j] <= '9') {
            x += (s[j++] - '0') * scale;
            scale /= 10;
            any = true;
        }
    }
    *i = j;
    *v = x;
    return any;
}

// Matches the longest unit name at s[*i].
static bool read_unit(const char *s, size_t *i, double *unit) {
    size_t best = 0;
    for (size_t k = 0; k < sizeof UNITS / sizeof UNITS[0]; k++) {
        size_t n = strlen(UNITS[k].name);
        if (n > best && strncmp(s + *i, UNITS[k].name, n) == 0) {
            best = n;
            *unit = UNITS[k].seconds;
        }
    }
    *i += best;
    return best > 0;
}

// A string of only [sign]digits[.digits]: Ollama reads it as seconds.
static bool plain_seconds(const char *s, double *seconds) {
    size_t i = (s[0] == '-' || s[0] == '+') ? 1 : 0;
    double v;
    if (!read_number(s, &i, &v) || s[i] != '\0')
        return false;
    *seconds = s[0] == '-' ? -v : v;
    return true;
}

kv_status kv__duration_parse(const char *s, double *seconds, kv_err *err) {
    size_t len = strnlen(s, MAX_DURATION_LEN + 1);
    if (len == 0 || len > MAX_DURATION_LEN)
        return KV_FAIL(err, KV_ERR_INVALID, "duration '%.*s' must have 1 to %d characters",
                       (int)(len > 32 ? 32 : len), s, MAX_DURATION_LEN);
    if (plain_seconds(s, seconds))
        return KV_OK;
    size_t i = (s[0] == '-' || s[0] == '+') ? 1 : 0;
    double total = 0;
    while (s[i]) {
        double v, unit = 0;
        size_t at = i;
        if (!read_number(s, &i, &v))
            return KV_FAIL(err, KV_ERR_INVALID, "duration '%s': expected a number at offset %zu", s,
                           at);
        if (!read_unit(s, &i, &unit))
            return KV_FAIL(err, KV_ERR_INVALID,
                           "duration '%s': missing or unknown unit at offset %zu "
                           "(units: ns us ms s m h)",
                           s, i);
        total += v * unit;
    }
    if (i == 1)
        return KV_FAIL(err, KV_ERR_INVALID, "duration '%s' has no number", s);
    *seconds = s[0] == '-' ? -total : total;
    return KV_OK;
}

kv_status kv__keep_alive_from_json(const json_t *v, const char *field, double *seconds,
                                   kv_err *err) {
    double s;
    if (json_is_number(v)) {
        s = json_number_value(v);
    } else if (json_is_string(v)) {
        kv_err e;
        if (kv__duration_parse(json_string_value(v), &s, &e) != KV_OK)
            return KV_FAIL(err, KV_ERR_INVALID, "field '%s': %s", field, e.msg);
    } else {
        return KV_FAIL(err, KV_ERR_INVALID,
                       "field '%s': expected a duration string such as \"5m\" or seconds", field);
    }
    if (!isfinite(s))
        return KV_FAIL(err, KV_ERR_INVALID, "field '%s': duration is not finite", field);
    *seconds = kv__keep_alive_saturate(s);
    return KV_OK;
}

double kv__keep_alive_saturate(double seconds) {
    if (seconds >= 0 && seconds < KV__FOREVER_S)
        return seconds;
    return INFINITY; // negative, NaN or beyond what a clock can add
}

double kv__now(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + ts.tv_nsec * 1e-9;
}

double kv__wall_now(void) {
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (double)ts.tv_sec + ts.tv_nsec * 1e-9;
}

// 9999-12-31T23:59:59Z, the last second RFC 3339's four-digit year can write.
#define LAST_RFC3339_S 253402300799.0

void kv__rfc3339(double t, char *out, size_t cap) {
    if (!(t >= 0)) // NaN too
        t = 0;
    if (t >= LAST_RFC3339_S + 1) { // infinities too
        snprintf(out, cap, "9999-12-31T23:59:59.999999999Z");
        return;
    }
    double whole = floor(t);
    time_t sec = (time_t)whole;
    long ns = (long)((t - whole) * 1e9);
    if (ns < 0)
        ns = 0;
    if (ns > 999999999)
        ns = 999999999;
    struct tm tm;
    char base[32] = "1970-01-01T00:00:00";
    if (gmtime_r(&sec, &tm))
        strftime(base, sizeof base, "%Y-%m-%dT%H:%M:%S", &tm);
    snprintf(out, cap, "%s.%09ldZ", base, ns);
}

kv_status kv_serve_parse_duration(const char *s, double *seconds, kv_err *err) {
    return kv__duration_parse(s, seconds, err);
}
