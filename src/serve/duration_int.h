// Durations and time (duration.c): keep_alive values, clocks, RFC 3339.
#ifndef KV_SERVE_DURATION_INT_H
#define KV_SERVE_DURATION_INT_H

#include <stddef.h>

#include <jansson.h>

#include "kvant/kv_status.h"

// Parses a duration as Ollama's keep_alive takes it, into seconds: a Go duration
// string ("5m", "1h30m", "1.5s", "-1m", "0"; units ns us µs ms s m h) or a
// plain number of seconds. KV_ERR_INVALID, naming what was wrong, otherwise.
kv_status kv__duration_parse(const char *s, double *seconds, kv_err *err);
// The keep_alive field value v (string or number) in seconds; what is negative
// or KV__FOREVER_S and more means forever and comes out as INFINITY.
// KV_ERR_INVALID names field.
kv_status kv__keep_alive_from_json(const json_t *v, const char *field, double *seconds,
                                   kv_err *err);
// Go's longest duration, 2^63 - 1 ns (about 292 years): what Ollama gives a
// negative keep_alive. A keep_alive this long or longer is forever.
#define KV__FOREVER_S 9223372036.854775807
// seconds as a keep_alive: negative, NaN or KV__FOREVER_S and more is INFINITY
// (forever); anything else is itself.
double kv__keep_alive_saturate(double seconds);
// Seconds on a monotonic clock.
double kv__now(void);
// Writes UTC time t (seconds since the epoch, with fraction) as RFC 3339 with
// nanoseconds, "2024-05-01T12:00:00.123456789Z", into out (>= 40 bytes). Times
// before 1970 or after 9999 (infinities too) are written as those bounds; NaN
// as 1970.
void kv__rfc3339(double t, char *out, size_t cap);
// Seconds since the epoch, with fraction.
double kv__wall_now(void);

#endif
