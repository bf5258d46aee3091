// libmicrohttpd glue: a thread pool reads requests (bodies capped), routes them,
// and sends the replies. Generation replies wait on jobs without blocking a pool
// thread: the connection is suspended until the scheduler wakes it (new text or
// the end). While suspended, MHD cannot see a client leave, so the scheduler asks
// kv__http_alive, which looks at the socket itself.
#define _GNU_SOURCE // POLLRDHUP
#include "serve/serve_int.h"

#include <arpa/inet.h>
#include <netdb.h>
#include <netinet/in.h>
#include <poll.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include <microhttpd.h>

// Seconds an idle keep-alive connection stays open.
#define IDLE_TIMEOUT_S 60
// Most connections at once (each holds a socket).
#define MAX_CONNECTIONS 1024
// Bytes of an over-long body (sent without Content-Length) read and dropped
// before the connection is closed without a reply; below this the client gets
// its 413 (libmicrohttpd can only answer once the upload is complete).
#define MAX_DISCARD ((size_t)16 << 20)
// Most generated text a job holds for a slow client before it is cancelled.
#define MAX_PENDING_TEXT ((size_t)16 << 20)

// One request's state across the access handler's calls.
typedef struct {
    kv__call call;
    kv__buf body;
    const kv__route *route;
    unsigned route_status;
    bool too_big;
    size_t discarded;
    bool counted;
} conn_state;

// ---- replies ----

static enum MHD_Result queue_buf(kv_serve *s, struct MHD_Connection *conn, unsigned status,
                                 const char *ctype, kv__buf *body, int retry_after) {
    struct MHD_Response *r;
    if (body->n > 0) {
        r = MHD_create_response_from_buffer(body->n, body->p, MHD_RESPMEM_MUST_FREE);
        body->p = NULL; // MHD frees it
        body->n = body->cap = 0;
    } else {
        r = MHD_create_response_from_buffer(0, (void *)"", MHD_RESPMEM_PERSISTENT);
    }
    if (!r)
        return MHD_NO;
    MHD_add_response_header(r, MHD_HTTP_HEADER_CONTENT_TYPE, ctype ? ctype : "application/json");
    if (retry_after > 0) {
        char v[16];
        snprintf(v, sizeof v, "%d", retry_after);
        MHD_add_response_header(r, MHD_HTTP_HEADER_RETRY_AFTER, v);
    }
    enum MHD_Result ok = MHD_queue_response(conn, status, r);
    MHD_destroy_response(r);
    kv__metrics_request(&s->metrics, status);
    return ok;
}

static enum MHD_Result queue_error(kv_serve *s, struct MHD_Connection *conn, conn_state *cs,
                                   unsigned status, const char *msg) {
    kv__call_error(&cs->call, status, msg);
    return queue_buf(s, conn, status, cs->call.ctype, &cs->call.out, cs->call.retry_after);
}

// ---- streaming ----

// Moves new text (and, at the end, the final lines) into j's outbox. Under j->mu.
static void fill_outbox(kv__job *j) {
    kv_err e;
    if (j->text.n > 0) {
        if (j->fmt(j, j->text.p, j->text.n, false, &j->outbox, &e) != KV_OK)
            j->cancelled = true;
        kv__buf_consume(&j->text, j->text.n);
    }
    if (j->done && !j->final_done) {
        j->fmt(j, NULL, 0, true, &j->outbox, &e);
        j->final_done = true;
    }
}

static ssize_t stream_read(void *cls, uint64_t pos, char *buf, size_t max) {
    kv__job *j = cls;
    (void)pos;
    if (j->outbox.n == 0) {
        pthread_mutex_lock(&j->mu);
        fill_outbox(j);
        if (j->outbox.n == 0 && !j->final_done) {
            // nothing yet: park the connection until the scheduler wakes it
            j->suspended = true;
            MHD_suspend_connection(j->conn);
            pthread_mutex_unlock(&j->mu);
            return 0;
        }
        pthread_mutex_unlock(&j->mu);
    }
    if (j->outbox.n == 0)
        return MHD_CONTENT_READER_END_OF_STREAM;
    size_t n = j->outbox.n < max ? j->outbox.n : max;
    memcpy(buf, j->outbox.p, n);
    kv__buf_consume(&j->outbox, n);
    return (ssize_t)n;
}

// The response is gone (sent, or the client left): the job may not wake it again.
static void stream_free(void *cls) {
    kv__job *j = cls;
    pthread_mutex_lock(&j->mu);
    j->conn = NULL;
    if (!j->done)
        j->cancelled = true;
    pthread_mutex_unlock(&j->mu);
    kv__job_unref(j);
}

static int conn_fd(struct MHD_Connection *conn) {
    const union MHD_ConnectionInfo *ci =
        MHD_get_connection_info(conn, MHD_CONNECTION_INFO_CONNECTION_FD);
    return ci ? ci->connect_fd : -1;
}

static enum MHD_Result start_stream(kv_serve *s, struct MHD_Connection *conn, kv__job *j) {
    struct MHD_Response *r =
        MHD_create_response_from_callback(MHD_SIZE_UNKNOWN, 16 * 1024, stream_read, j, stream_free);
    if (!r)
        return MHD_NO;
    kv__job_ref(j); // the response's reference, dropped by stream_free
    pthread_mutex_lock(&j->mu);
    j->conn = conn;
    j->fd = conn_fd(conn);
    pthread_mutex_unlock(&j->mu);
    MHD_add_response_header(r, MHD_HTTP_HEADER_CONTENT_TYPE, j->ctype);
    MHD_add_response_header(r, MHD_HTTP_HEADER_CACHE_CONTROL, "no-cache");
    enum MHD_Result ok = MHD_queue_response(conn, MHD_HTTP_OK, r);
    MHD_destroy_response(r);
    kv__metrics_request(&s->metrics, MHD_HTTP_OK);
    return ok;
}

void kv__http_wake(kv__job *j) {
    if (j->suspended && j->conn) {
        j->suspended = false;
        MHD_resume_connection(j->conn);
    }
    if (j->text.n > MAX_PENDING_TEXT)
        j->cancelled = true;
}

bool kv__http_alive(kv__job *j) {
    if (!j->suspended || j->fd < 0)
        return true;
    struct pollfd p = {.fd = j->fd, .events = POLLIN | POLLRDHUP};
    if (poll(&p, 1, 0) <= 0)
        return true;
    return !(p.revents & (POLLRDHUP | POLLHUP | POLLERR | POLLNVAL));
}

// ---- non-streaming jobs ----

// Called again after the job woke the connection: the reply is ready.
static enum MHD_Result finish_job(kv_serve *s, struct MHD_Connection *conn, conn_state *cs) {
    kv__job *j = cs->call.job;
    kv__buf body = {0};
    kv_err e;
    pthread_mutex_lock(&j->mu);
    unsigned status = j->st == KV_OK ? 200 : j->http_status;
    kv_status st = j->fmt(j, j->text.p ? j->text.p : "", j->text.n, true, &body, &e);
    pthread_mutex_unlock(&j->mu);
    if (st != KV_OK) {
        kv__buf_free(&body);
        return queue_error(s, conn, cs, kv__http_status(st), e.msg);
    }
    return queue_buf(s, conn, status, "application/json", &body, 0);
}

// Waits for a non-streaming job: answers now if it is already done, otherwise
// parks the connection until kv__http_wake.
static enum MHD_Result wait_job(kv_serve *s, struct MHD_Connection *conn, conn_state *cs) {
    kv__job *j = cs->call.job;
    pthread_mutex_lock(&j->mu);
    if (j->done) {
        pthread_mutex_unlock(&j->mu);
        return finish_job(s, conn, cs);
    }
    j->conn = conn;
    j->fd = conn_fd(conn);
    j->suspended = true;
    MHD_suspend_connection(conn);
    pthread_mutex_unlock(&j->mu);
    return MHD_YES;
}

// ---- the access handler ----

static enum MHD_Result begin(kv_serve *s, struct MHD_Connection *conn, const char *url,
                             const char *method, void **con_cls) {
    conn_state *cs = calloc(1, sizeof *cs);
    if (!cs)
        return MHD_NO;
    *con_cls = cs;
    cs->call.srv = s;
    cs->call.t_start = kv__now();
    cs->call.path = url;
    cs->call.method = kv__method_from_name(method);
    cs->body.max = s->p.body_max;
    cs->route = kv__route_find(cs->call.method, url, &cs->route_status, &cs->call.api);
    const char *len = MHD_lookup_connection_value(conn, MHD_HEADER_KIND, "Content-Length");
    if (len && strtoull(len, NULL, 10) > s->p.body_max) {
        char msg[128];
        snprintf(msg, sizeof msg, "request body of %s bytes is over the limit of %zu bytes", len,
                 s->p.body_max);
        return queue_error(s, conn, cs, 413, msg);
    }
    return MHD_YES;
}

// Collects upload data; false when the client has sent too much to wait for.
static bool take_body(conn_state *cs, const char *data, size_t n) {
    if (!cs->too_big && kv__buf_add(&cs->body, data, n, NULL) != KV_OK) {
        cs->too_big = true;
        kv__buf_free(&cs->body);
    }
    if (cs->too_big)
        cs->discarded += n;
    return cs->discarded <= MAX_DISCARD;
}

static enum MHD_Result dispatch(kv_serve *s, struct MHD_Connection *conn, conn_state *cs) {
    kv__call *c = &cs->call;
    if (s->stopping) {
        c->retry_after = 5;
        return queue_error(s, conn, cs, 503, "server is shutting down");
    }
    if (cs->too_big) {
        char msg[96];
        snprintf(msg, sizeof msg, "request body is over the limit of %zu bytes", s->p.body_max);
        return queue_error(s, conn, cs, 413, msg);
    }
    if (!cs->route)
        return queue_error(s, conn, cs, cs->route_status,
                           cs->route_status == 405 ? "method not allowed" : "not found");
    c->body = cs->body.p ? cs->body.p : "";
    c->body_len = cs->body.n;
    kv__route_run(cs->route, c);
    if (!c->job)
        return queue_buf(s, conn, c->status ? c->status : 200, c->ctype, &c->out, c->retry_after);
    if (c->job->req.stream)
        return start_stream(s, conn, c->job);
    return wait_job(s, conn, cs);
}

static enum MHD_Result on_request(void *cls, struct MHD_Connection *conn, const char *url,
                                  const char *method, const char *version, const char *upload_data,
                                  size_t *upload_data_size, void **con_cls) {
    kv_serve *s = cls;
    conn_state *cs = *con_cls;
    (void)version;
    if (!cs)
        return begin(s, conn, url, method, con_cls);
    if (*upload_data_size) {
        bool more = take_body(cs, upload_data, *upload_data_size);
        *upload_data_size = 0;
        return more ? MHD_YES : MHD_NO;
    }
    if (cs->call.job && !cs->call.job->req.stream)
        return wait_job(s, conn, cs); // resumed by kv__http_wake
    return dispatch(s, conn, cs);
}

static void on_completed(void *cls, struct MHD_Connection *conn, void **con_cls,
                         enum MHD_RequestTerminationCode toe) {
    conn_state *cs = *con_cls;
    (void)cls;
    (void)conn;
    (void)toe;
    if (!cs)
        return;
    kv__job *j = cs->call.job;
    if (j) {
        pthread_mutex_lock(&j->mu);
        if (!j->req.stream) {
            j->conn = NULL;
            j->suspended = false;
        }
        if (!j->done)
            j->cancelled = true;
        pthread_mutex_unlock(&j->mu);
        kv__job_unref(j);
    }
    kv__buf_free(&cs->body);
    kv__buf_free(&cs->call.out);
    free(cs);
    *con_cls = NULL;
}

// ---- the daemon ----

static void on_log(void *cls, const char *fmt, va_list ap) {
    const kv_serve *s = cls;
    char line[512];
    vsnprintf(line, sizeof line, fmt, ap);
    size_t n = strlen(line);
    while (n > 0 && (line[n - 1] == '\n' || line[n - 1] == '\r'))
        line[--n] = '\0';
    kv__log(s, "http: %s", line);
}

// Resolves s->host (a numeric address or a name) for binding.
static kv_status resolve(const kv_serve *s, struct sockaddr_storage *ss, bool *v6, kv_err *err) {
    struct addrinfo hints = {
        .ai_family = AF_UNSPEC, .ai_socktype = SOCK_STREAM, .ai_flags = AI_PASSIVE};
    struct addrinfo *ai = NULL;
    char port[8];
    snprintf(port, sizeof port, "%u", (unsigned)s->p.port);
    int rc = getaddrinfo(s->host, port, &hints, &ai);
    if (rc != 0 || !ai)
        return KV_FAIL(err, KV_ERR_INVALID, "--host '%s': %s", s->host, gai_strerror(rc));
    memset(ss, 0, sizeof *ss);
    memcpy(ss, ai->ai_addr, ai->ai_addrlen);
    *v6 = ai->ai_family == AF_INET6;
    freeaddrinfo(ai);
    return KV_OK;
}

kv_status kv__http_start(kv_serve *s, kv_err *err) {
    struct sockaddr_storage ss;
    bool v6 = false;
    kv_status st = resolve(s, &ss, &v6, err);
    if (st != KV_OK)
        return st;
    unsigned flags = MHD_USE_AUTO_INTERNAL_THREAD | MHD_ALLOW_SUSPEND_RESUME | MHD_USE_ERROR_LOG;
    if (v6)
        flags |= MHD_USE_IPv6;
    // the logger goes first, or MHD logs the options before it its own way
    s->daemon = MHD_start_daemon(
        flags, s->p.port, NULL, NULL, on_request, s, MHD_OPTION_EXTERNAL_LOGGER, on_log, s,
        MHD_OPTION_SOCK_ADDR, (struct sockaddr *)&ss, MHD_OPTION_THREAD_POOL_SIZE,
        (unsigned)s->p.n_http_threads, MHD_OPTION_NOTIFY_COMPLETED, on_completed, s,
        MHD_OPTION_CONNECTION_TIMEOUT, (unsigned)IDLE_TIMEOUT_S, MHD_OPTION_CONNECTION_LIMIT,
        (unsigned)MAX_CONNECTIONS, MHD_OPTION_END);
    if (!s->daemon)
        return KV_FAIL(err, KV_ERR_IO,
                       "cannot listen on %s port %u (in use, or not an address "
                       "of this machine)",
                       s->host, (unsigned)s->p.port);
    const union MHD_DaemonInfo *di = MHD_get_daemon_info(s->daemon, MHD_DAEMON_INFO_BIND_PORT);
    s->port = di ? di->port : s->p.port;
    return KV_OK;
}

void kv__http_stop(kv_serve *s) {
    if (!s->daemon)
        return;
    MHD_stop_daemon(s->daemon);
    s->daemon = NULL;
}
