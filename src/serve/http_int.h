// The HTTP side (http.c): libmicrohttpd's glue, which reads requests, runs the
// guard (http_guard_int.h), the key check and the router, and streams jobs'
// replies. What the rest of the server calls.
#ifndef KV_SERVE_HTTP_INT_H
#define KV_SERVE_HTTP_INT_H

#include <stdbool.h>

#include "kvant/kv_serve.h"
#include "kvant/kv_status.h"

typedef struct kv__job kv__job;

// The HTTP side's hooks for jobs (http.c).
void kv__http_wake(kv__job *j);
bool kv__http_alive(kv__job *j);
// Starts and stops libmicrohttpd for s.
kv_status kv__http_start(kv_serve *s, kv_err *err);
void kv__http_stop(kv_serve *s);
// Stops accepting connections; requests on open ones get 503 and a close.
void kv__http_quiesce(kv_serve *s);

#endif
