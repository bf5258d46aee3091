// The server (server.c): struct kv_serve, which every part hangs off, and its log.
//
// The server's private headers, bottom up: buf_int.h and duration_int.h;
// request_int.h (JSON in, a kv__req out) and stop_int.h; call_int.h (one HTTP
// request as the handlers see it, routes, replies) and auth_int.h;
// metrics_int.h; registry_int.h, job_int.h, sched_int.h and embed_int.h (jobs
// in, text out; sched_impl_int.h is the scheduler's inside); api_int.h (the
// handlers that turn requests into jobs and job output into Ollama or OpenAI
// JSON); this file, http_int.h (the libmicrohttpd glue) with http_guard_int.h,
// and ui_int.h (the embedded web page).
#ifndef KV_SERVE_SERVER_INT_H
#define KV_SERVE_SERVER_INT_H

#include <pthread.h>
#include <stdint.h>

#include "kvant/kv_serve.h"
#include "serve/metrics_int.h"

typedef struct kv__job kv__job;
typedef struct kv__registry kv__registry;

typedef struct kv__http kv__http; // the HTTP side's own state (http.c)

struct kv_serve {
    kv_serve_params p;
    char *host;
    struct MHD_Daemon *daemon;
    uint16_t port;
    kv__metrics metrics;
    kv__registry *reg;
    pthread_mutex_t live_mu;
    kv__job *live;           // jobs alive now
    int n_live;
    volatile int stopping;
    kv__http *http;
};

// Logs a formatted line through the server's log callback.
void kv__log(const kv_serve *s, const char *fmt, ...)
#if defined(__GNUC__)
    __attribute__((format(printf, 2, 3)))
#endif
    ;

#endif
