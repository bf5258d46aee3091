// kv_serve_start/kv_serve_stop: checks parameters, builds the model registry,
// starts the HTTP daemon, and on stop takes them down in the safe order
// (stop accepting, end jobs so suspended connections resume, stop the daemon).
#define _POSIX_C_SOURCE 200809L // strdup, nanosleep
#include "serve/api_int.h"
#include "serve/duration_int.h"
#include "serve/http_int.h"
#include "serve/metrics_int.h"
#include "serve/registry_int.h"
#include "serve/server_int.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "kvant/kv_threadpool.h"

// How long kv_serve_stop lets running replies finish sending.
#define DRAIN_TIMEOUT_S 3.0

kv_serve_params kv_serve_default_params(void) {
    kv_serve_params p = {0};
    p.host = "127.0.0.1";
    p.port = 11434;
    p.n_parallel = 4;
    p.type_k = p.type_v = KV_TYPE_F16;
    p.n_http_threads = 4;
    p.body_max = KV_SERVE_DEFAULT_BODY_MAX;
    p.queue_max = 64;
    p.timeout_s = 600;
    p.keep_alive_s = 300;
    p.header_timeout_s = 10;
    p.max_connections = 4096;
    p.max_conn_per_ip = 256;
    return p;
}

void kv__log(const kv_serve *s, const char *fmt, ...) {
    if (!s->p.log)
        return;
    char line[1024];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(line, sizeof line, fmt, ap);
    va_end(ap);
    s->p.log(s->p.log_user, line);
}

static kv_status check_params(const kv_serve_params *p, kv_err *err) {
    if (!p->host || !*p->host)
        return KV_FAIL(err, KV_ERR_INVALID, "--host must not be empty");
    if (p->n_parallel < 1 || p->n_parallel > KV_SERVE_MAX_PARALLEL)
        return KV_FAIL(err, KV_ERR_INVALID, "--parallel %d is outside 1..%d", p->n_parallel,
                       KV_SERVE_MAX_PARALLEL);
    if (p->n_ctx < 0)
        return KV_FAIL(err, KV_ERR_INVALID, "--ctx %d must not be negative", p->n_ctx);
    if (p->n_kv_cells < 0)
        return KV_FAIL(err, KV_ERR_INVALID, "--kv-cells %lld must not be negative",
                       (long long)p->n_kv_cells);
    for (int i = 0; i < 2; i++) {
        const kv_type t = i ? p->type_v : p->type_k;
        if (t != KV_TYPE_F32 && t != KV_TYPE_F16 && t != KV_TYPE_Q8_0 && t != KV_TYPE_Q4_0)
            return KV_FAIL(err, KV_ERR_INVALID, "--cache-type-%c %s: f32, f16, q8_0 or q4_0",
                           i ? 'v' : 'k', kv_type_name(t));
    }
    if (kv_threads_resolve(p->n_threads, "--threads", &(int){0}, err) != KV_OK)
        return KV_ERR_INVALID;
    if (p->n_http_threads < 1 || p->n_http_threads > 256)
        return KV_FAIL(err, KV_ERR_INVALID, "HTTP threads %d outside 1..256", p->n_http_threads);
    if (p->body_max < 1024)
        return KV_FAIL(err, KV_ERR_INVALID, "--max-body %zu is below 1024 bytes", p->body_max);
    if (p->queue_max < 0 || p->queue_max > KV_SERVE_MAX_QUEUE)
        return KV_FAIL(err, KV_ERR_INVALID, "--queue %d is outside 0..%d", p->queue_max,
                       KV_SERVE_MAX_QUEUE);
    if (p->n_models < 0 || p->n_models > KV_SERVE_MAX_MODELS)
        return KV_FAIL(err, KV_ERR_INVALID, "%d models, at most %d", p->n_models,
                       KV_SERVE_MAX_MODELS);
    if (!(p->header_timeout_s > 0 && p->header_timeout_s <= 3600))
        return KV_FAIL(err, KV_ERR_INVALID, "--header-timeout %g is outside (0, 3600] seconds",
                       p->header_timeout_s);
    if (p->max_connections < 1 || p->max_connections > KV_SERVE_MAX_CONNECTIONS)
        return KV_FAIL(err, KV_ERR_INVALID, "--max-connections %d is outside 1..%d",
                       p->max_connections, KV_SERVE_MAX_CONNECTIONS);
    if (p->max_conn_per_ip < 0 || p->max_conn_per_ip > KV_SERVE_MAX_CONNECTIONS)
        return KV_FAIL(err, KV_ERR_INVALID, "--max-conn-per-ip %d is outside 0..%d",
                       p->max_conn_per_ip, KV_SERVE_MAX_CONNECTIONS);
    if (p->n_models == 0 && !p->models_dir && !p->store) // a store may get models over HTTP
        return KV_FAIL(err, KV_ERR_INVALID,
                       "no models: give --model NAME=FILE.gguf or "
                       "--models DIR");
    return KV_OK;
}

kv_status kv_serve_start(const kv_serve_params *p, kv_serve **out, kv_err *err) {
    *out = NULL;
    kv_status st = check_params(p, err);
    if (st != KV_OK)
        return st;
    kv_serve *s = calloc(1, sizeof *s);
    if (!s)
        return KV_FAIL(err, KV_ERR_NOMEM, "out of memory for the server");
    s->p = *p;
    s->host = strdup(p->host);
    s->p.host = s->host;
    s->p.models = NULL; // borrowed for this call only; the registry copies them
    s->p.n_models = 0;
    s->p.models_dir = NULL;
    s->p.template_all = NULL;
    s->p.draft_all = NULL;
    kv__metrics_init(&s->metrics);
    pthread_mutex_init(&s->live_mu, NULL);
    if (!s->host) {
        st = KV_FAIL(err, KV_ERR_NOMEM, "out of memory for the server");
        goto fail;
    }
    st = kv__registry_new(p, &s->metrics, &s->reg, err);
    if (st == KV_OK)
        st = kv__http_start(s, err); // the guard copies the origins and hosts
    s->p.origins = NULL;
    s->p.allowed_hosts = NULL;
    if (st != KV_OK)
        goto fail;
    *out = s;
    return KV_OK;
fail:
    kv_serve_stop(s);
    return st;
}

uint16_t kv_serve_port(const kv_serve *s) {
    return s->port;
}

static int live_count(kv_serve *s) {
    pthread_mutex_lock(&s->live_mu);
    int n = s->n_live;
    pthread_mutex_unlock(&s->live_mu);
    return n;
}

void kv_serve_quiesce(kv_serve *s) {
    if (s)
        kv__http_quiesce(s);
}

int kv_serve_busy(kv_serve *s) {
    return s ? live_count(s) : 0;
}

void kv_serve_stop(kv_serve *s) {
    if (!s)
        return;
    s->stopping = 1;
    // End every job; their connections resume and send an error or the end.
    kv__registry_shutdown(s->reg);
    double t_end = kv__now() + DRAIN_TIMEOUT_S;
    while (s->daemon && live_count(s) > 0 && kv__now() < t_end) {
        struct timespec ts = {0, 10 * 1000 * 1000};
        nanosleep(&ts, NULL);
    }
    kv__http_stop(s);
    if (s->p.store)
        kv__uploads_end();
    kv__registry_free(s->reg);
    pthread_mutex_destroy(&s->live_mu);
    kv__metrics_destroy(&s->metrics);
    free(s->host);
    free(s);
}
