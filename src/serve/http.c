// libmicrohttpd glue: a thread pool reads requests (bodies capped), routes them,
// and sends the replies. Generation replies wait on jobs without blocking a pool
// thread: the connection is suspended until the scheduler wakes it (new text or
// the end). While suspended, MHD cannot see a client leave, so the scheduler asks
// kv__http_alive, which looks at the socket itself.
//
// Hardening: the pool threads poll their sockets (epoll), so a slow client costs
// a socket, not a thread. Before a handler runs, the guard (http_guard.c) checks
// framing, Host and Origin. Connections are capped in all and per client
// address, and a reaper thread closes any connection whose request headers have
// not all arrived within the header timeout of its start (or of the end of its
// previous request), or whose body is slower than that plus 1 s per 64 KiB:
// libmicrohttpd's own idle timeout restarts with every byte, so it cannot stop
// a client that sends one byte at a time.
#define _GNU_SOURCE // POLLRDHUP
#include "serve/api_int.h"
#include "serve/auth_int.h"
#include "serve/buf_int.h"
#include "serve/call_int.h"
#include "serve/duration_int.h"
#include "serve/http_guard_int.h"
#include "serve/http_int.h"
#include "serve/job_int.h"
#include "serve/metrics_int.h"
#include "serve/server_int.h"

#include <arpa/inet.h>
#include <netdb.h>
#include <netinet/in.h>
#include <poll.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <microhttpd.h>

// Seconds an idle keep-alive connection stays open.
#define IDLE_TIMEOUT_S 60
// A request body may take the header timeout plus a second per this many bytes.
#define BODY_MIN_RATE ((double)(64 << 10))
// Sockets kept free for everything but client connections.
#define FD_RESERVE 64
// How often the reaper looks for late request headers, and logs what it closed.
#define REAP_EVERY_S 0.2
#define REAP_LOG_EVERY_S 10.0
// libmicrohttpd's log lines (one per refused or broken connection under a
// flood) pass at most this many per second; the rest are counted.
#define LOG_PER_S 10
// CORS preflight replies.
#define CORS_METHODS "GET, POST, HEAD, DELETE, PUT, PATCH, OPTIONS"
#define CORS_HEADERS "Authorization, Content-Type, Accept, User-Agent, X-Requested-With"
#define CORS_MAX_AGE "600"
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
    const char *origin; // an allowed Origin to echo in Access-Control-Allow-Origin
    bool close;         // the reply closes the connection (a framing error)
    bool preflight;     // OPTIONS
    char who[KV__WHO_MAX]; // the API key's name, or "-"
    char client[64];    // the client's address
    bool audit;         // the request goes into the audit log (kv__audited)
    bool audited;       // it has
} conn_state;

// One client connection, from accept to close (libmicrohttpd's socket context).
typedef struct track {
    struct track *prev, *next;
    int fd;
    double deadline; // kv__now() by which the request headers must be in; 0: in a request
    bool shut;       // the reaper has shut it down
} track;

// The HTTP side of a server.
struct kv__http {
    kv__http_guard guard;
    double header_timeout_s;
    pthread_mutex_t mu; // conns, quit
    pthread_cond_t cv;
    track *conns;
    bool quit;
    pthread_t reaper;
    bool reaper_started;
    uint64_t n_late;    // connections closed for late headers, not yet logged
    double t_logged;
    int listen_fd;      // after kv__http_quiesce, closed once the daemon stops
    volatile int quiesced;
    pthread_mutex_t log_mu; // the log limiter
    double log_t0;
    unsigned log_n, log_dropped;
};

static track *conn_track(struct MHD_Connection *conn) {
    const union MHD_ConnectionInfo *ci =
        MHD_get_connection_info(conn, MHD_CONNECTION_INFO_SOCKET_CONTEXT);
    return ci ? ci->socket_context : NULL;
}

// Gives conn in_s seconds from now to send what is due (the next request's
// headers, or the body); in_s 0: nothing is due.
static void conn_deadline(kv__http *h, struct MHD_Connection *conn, double in_s) {
    track *t = conn_track(conn);
    if (!t)
        return;
    pthread_mutex_lock(&h->mu);
    t->deadline = in_s > 0 ? kv__now() + in_s : 0;
    pthread_mutex_unlock(&h->mu);
}

// ---- replies ----

// The headers every reply of cs carries: CORS for an allowed cross-site
// caller, and Connection: close after a framing error (what follows the
// headers cannot be trusted to be a next request).
static void add_common(struct MHD_Response *r, const conn_state *cs) {
    if (cs && cs->origin) {
        MHD_add_response_header(r, MHD_HTTP_HEADER_ACCESS_CONTROL_ALLOW_ORIGIN, cs->origin);
        MHD_add_response_header(r, MHD_HTTP_HEADER_VARY, "Origin");
    }
    if (cs && cs->close)
        MHD_add_response_header(r, MHD_HTTP_HEADER_CONNECTION, "close");
}

// Queues r with status, releases it and counts the request.
static enum MHD_Result send_response(kv_serve *s, struct MHD_Connection *conn, unsigned status,
                                     struct MHD_Response *r) {
    enum MHD_Result ok = MHD_queue_response(conn, status, r);
    MHD_destroy_response(r);
    kv__metrics_request(&s->metrics, status);
    return ok;
}

// The headers of a streamed reply: ctype, no caching, and add_common's.
static void add_stream_headers(struct MHD_Response *r, const conn_state *cs, const char *ctype) {
    MHD_add_response_header(r, MHD_HTTP_HEADER_CONTENT_TYPE, ctype);
    MHD_add_response_header(r, MHD_HTTP_HEADER_CACHE_CONTROL, "no-cache");
    add_common(r, cs);
}

static enum MHD_Result queue_buf(kv_serve *s, struct MHD_Connection *conn, const conn_state *cs,
                                 unsigned status, const char *ctype, kv__buf *body,
                                 int retry_after) {
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
    add_common(r, cs);
    if (cs && cs->call.hdr_digest[0])
        MHD_add_response_header(r, "Docker-Content-Digest", cs->call.hdr_digest);
    if (cs && cs->call.hdr_range[0])
        MHD_add_response_header(r, MHD_HTTP_HEADER_CONTENT_RANGE, cs->call.hdr_range);
    if (cs && cs->call.hdr_location[0])
        MHD_add_response_header(r, MHD_HTTP_HEADER_LOCATION, cs->call.hdr_location);
    if (cs && cs->call.hdr_upload_range[0])
        MHD_add_response_header(r, MHD_HTTP_HEADER_RANGE, cs->call.hdr_upload_range);
    if (cs && cs->call.hdr_upload_uuid[0])
        MHD_add_response_header(r, "Docker-Upload-UUID", cs->call.hdr_upload_uuid);
    return send_response(s, conn, status, r);
}

// c's file reply (a stored blob, or part of it: Range).
static enum MHD_Result queue_file(kv_serve *s, struct MHD_Connection *conn, const conn_state *cs,
                                  kv__call *c) {
    c->has_file = false;
    struct MHD_Response *r =
        MHD_create_response_from_fd_at_offset64(c->file_len, c->file_fd, c->file_off);
    if (!r) {
        close(c->file_fd);
        return MHD_NO;
    }
    MHD_add_response_header(r, MHD_HTTP_HEADER_CONTENT_TYPE,
                            c->ctype ? c->ctype : "application/octet-stream");
    MHD_add_response_header(r, MHD_HTTP_HEADER_ACCEPT_RANGES, "bytes");
    if (c->hdr_range[0])
        MHD_add_response_header(r, MHD_HTTP_HEADER_CONTENT_RANGE, c->hdr_range);
    if (c->hdr_digest[0])
        MHD_add_response_header(r, "Docker-Content-Digest", c->hdr_digest);
    add_common(r, cs);
    unsigned status = c->status ? c->status : 200;
    return send_response(s, conn, status, r);
}

// c's body made while it is sent (a pull's progress lines).
typedef struct {
    size_t (*rd)(void *ctx, char *buf, size_t max);
    void (*fr)(void *ctx);
    void *ctx;
} live_body;

static ssize_t live_read(void *cls, uint64_t pos, char *buf, size_t max) {
    live_body *b = cls;
    (void)pos;
    size_t n = b->rd(b->ctx, buf, max);
    return n ? (ssize_t)n : MHD_CONTENT_READER_END_OF_STREAM;
}

static void live_free(void *cls) {
    live_body *b = cls;
    b->fr(b->ctx);
    free(b);
}

static enum MHD_Result queue_live(kv_serve *s, struct MHD_Connection *conn, const conn_state *cs,
                                  kv__call *c) {
    live_body *b = malloc(sizeof *b);
    struct MHD_Response *r = NULL;
    if (b) {
        *b = (live_body){c->stream_read, c->stream_free, c->stream_ctx};
        r = MHD_create_response_from_callback(MHD_SIZE_UNKNOWN, 16 * 1024, live_read, b,
                                              live_free);
    }
    c->stream_read = NULL;
    if (!r) {
        free(b);
        c->stream_free(c->stream_ctx);
        return MHD_NO;
    }
    add_stream_headers(r, cs, c->ctype ? c->ctype : "application/x-ndjson");
    return send_response(s, conn, MHD_HTTP_OK, r);
}

static enum MHD_Result queue_error(kv_serve *s, struct MHD_Connection *conn, conn_state *cs,
                                   unsigned status, const char *msg) {
    kv__call_error(&cs->call, status, msg);
    return queue_buf(s, conn, cs, status, cs->call.ctype, &cs->call.out, cs->call.retry_after);
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

static enum MHD_Result start_stream(kv_serve *s, struct MHD_Connection *conn, conn_state *cs,
                                   kv__job *j) {
    struct MHD_Response *r =
        MHD_create_response_from_callback(MHD_SIZE_UNKNOWN, 16 * 1024, stream_read, j, stream_free);
    if (!r)
        return MHD_NO;
    kv__job_ref(j); // the response's reference, dropped by stream_free
    pthread_mutex_lock(&j->mu);
    j->conn = conn;
    j->fd = conn_fd(conn);
    pthread_mutex_unlock(&j->mu);
    add_stream_headers(r, cs, j->ctype);
    return send_response(s, conn, MHD_HTTP_OK, r);
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

// ---- audit ----

// Records cs's request with status when it is audited and not yet recorded;
// false when the audit log could not be written (the reply must fail).
static bool audit_now(kv_serve *s, conn_state *cs, unsigned status, kv__job *j) {
    if (!cs->audit || cs->audited)
        return true;
    cs->audited = true;
    kv_err e;
    if (kv__audit_call(s, &cs->call, cs->who, cs->client, status, j, &e) == KV_OK)
        return true;
    kv__log(s, "audit: %s %s: %s", cs->who, cs->call.path, e.msg);
    return false;
}

// The client's address, for the audit log.
static void client_addr(struct MHD_Connection *conn, char *out, size_t cap) {
    snprintf(out, cap, "?");
    const union MHD_ConnectionInfo *ci =
        MHD_get_connection_info(conn, MHD_CONNECTION_INFO_CLIENT_ADDRESS);
    if (!ci || !ci->client_addr)
        return;
    const struct sockaddr *sa = ci->client_addr;
    if (sa->sa_family == AF_INET)
        inet_ntop(AF_INET, &((const struct sockaddr_in *)(const void *)sa)->sin_addr, out,
                  (socklen_t)cap);
    else if (sa->sa_family == AF_INET6)
        inet_ntop(AF_INET6, &((const struct sockaddr_in6 *)(const void *)sa)->sin6_addr, out,
                  (socklen_t)cap);
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
    if (!audit_now(s, cs, status, j)) {
        kv__buf_free(&body);
        return queue_error(s, conn, cs, 500, "cannot write the audit log");
    }
    return queue_buf(s, conn, cs, status, "application/json", &body, 0);
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

static enum MHD_Result collect_header(void *cls, enum MHD_ValueKind kind, const char *key,
                                      const char *value) {
    (void)kind;
    kv__http_hdrs_add(cls, key, value);
    return MHD_YES;
}

// Answers a CORS preflight (or a plain OPTIONS) for an allowed origin.
static enum MHD_Result preflight(kv_serve *s, struct MHD_Connection *conn, conn_state *cs) {
    struct MHD_Response *r = MHD_create_response_from_buffer(0, (void *)"", MHD_RESPMEM_PERSISTENT);
    if (!r)
        return MHD_NO;
    MHD_add_response_header(r, MHD_HTTP_HEADER_ALLOW, CORS_METHODS);
    if (cs->origin) {
        MHD_add_response_header(r, "Access-Control-Allow-Methods", CORS_METHODS);
        const char *want =
            MHD_lookup_connection_value(conn, MHD_HEADER_KIND, "Access-Control-Request-Headers");
        char allow[1200];
        if (want && *want && kv__http_token_list(want))
            snprintf(allow, sizeof allow, "%s, %s", CORS_HEADERS, want);
        else
            snprintf(allow, sizeof allow, "%s", CORS_HEADERS);
        MHD_add_response_header(r, "Access-Control-Allow-Headers", allow);
        MHD_add_response_header(r, "Access-Control-Max-Age", CORS_MAX_AGE);
    }
    add_common(r, cs);
    return send_response(s, conn, MHD_HTTP_NO_CONTENT, r);
}

// The guard, before anything else looks at the request: framing, Host, Origin.
// Returns true when it has answered.
static bool guard(kv_serve *s, struct MHD_Connection *conn, conn_state *cs, const char *version,
                  uint64_t *body_len, enum MHD_Result *res) {
    kv__http_hdrs h = {0};
    MHD_get_connection_values(conn, MHD_HEADER_KIND, collect_header, &h);
    char msg[256];
    bool http11 = !version || strcmp(version, MHD_HTTP_VERSION_1_0) != 0;
    unsigned st = kv__http_framing(&h, http11, body_len, msg, sizeof msg);
    if (st == 0)
        st = kv__http_host_check(&s->http->guard, h.host, msg, sizeof msg);
    if (st == 0)
        st = kv__http_origin_check(&s->http->guard, h.origin, h.host, msg, sizeof msg);
    if (st != 0) {
        cs->close = true;
        *res = queue_error(s, conn, cs, st, msg);
        return true;
    }
    cs->origin = h.origin;
    return false;
}

static enum MHD_Result begin(kv_serve *s, struct MHD_Connection *conn, const char *url,
                             const char *method, const char *version, void **con_cls) {
    conn_state *cs = calloc(1, sizeof *cs);
    if (!cs)
        return MHD_NO;
    *con_cls = cs;
    conn_deadline(s->http, conn, 0); // the headers are in
    cs->call.srv = s;
    cs->call.t_start = kv__now();
    cs->call.path = url;
    cs->call.method = kv__method_from_name(method);
    snprintf(cs->who, sizeof cs->who, "-");
    cs->body.max = s->p.body_max;
    cs->route = kv__route_find(cs->call.method, url, &cs->route_status, &cs->call.api);
    uint64_t len = 0;
    enum MHD_Result res;
    if (guard(s, conn, cs, version, &len, &res))
        return res;
    // answered with the body read, like any other request, so the connection stays open
    cs->preflight = strcmp(method, MHD_HTTP_METHOD_OPTIONS) == 0;
    unsigned m = cs->call.method;
    if (cs->route && !s->stopping &&
        ((m == KV__POST && strncmp(url, "/api/blobs/", 11) == 0) ||
         ((m == KV__PATCH || m == KV__PUT) && strncmp(url, "/v2/", 4) == 0))) {
        // A blob's bytes go to a file as they come (kv__sink_open); the key is
        // checked first, so nobody without the right writes to the disk.
        kv__call *c = &cs->call;
        c->query_digest = MHD_lookup_connection_value(conn, MHD_GET_ARGUMENT_KIND, "digest");
        char msg[256];
        const char *authz = MHD_lookup_connection_value(conn, MHD_HEADER_KIND,
                                                        MHD_HTTP_HEADER_AUTHORIZATION);
        char who[KV__WHO_MAX];
        unsigned st = kv__auth_check(s, c->method, c->path, authz, who, sizeof who, msg,
                                     sizeof msg);
        if (st == 0)
            st = kv__sink_open(c, msg, sizeof msg);
        else
            c->code = st == 401 ? "invalid_api_key" : "insufficient_permissions";
        if (st != 0) {
            if (st == 401 || st == 403) {
                snprintf(cs->who, sizeof cs->who, "%s", who);
                cs->audit = kv__audited(s, c->method, c->path);
                if (cs->audit)
                    client_addr(conn, cs->client, sizeof cs->client);
                audit_now(s, cs, st, NULL);
            }
            cs->close = true; // the body is not read
            return queue_error(s, conn, cs, st, msg);
        }
    }
    if (cs->call.sink) {
        double bytes = len == UINT64_MAX ? (double)MAX_DISCARD : (double)len;
        conn_deadline(s->http, conn, s->http->header_timeout_s + bytes / BODY_MIN_RATE);
        return MHD_YES;
    }
    if (len != UINT64_MAX && len > s->p.body_max) {
        char msg[128];
        snprintf(msg, sizeof msg, "request body of %llu bytes is over the limit of %zu bytes",
                 (unsigned long long)len, s->p.body_max);
        return queue_error(s, conn, cs, 413, msg);
    }
    if (len > 0) { // a body is due too, at a rate no slow client can hold forever
        double bytes = len == UINT64_MAX ? (double)s->p.body_max : (double)len;
        conn_deadline(s->http, conn, s->http->header_timeout_s + bytes / BODY_MIN_RATE);
    }
    return MHD_YES;
}

// Collects upload data; false when the client has sent too much to wait for.
static bool take_body(kv__http *h, struct MHD_Connection *conn, conn_state *cs,
                      const char *data, size_t n) {
    if (cs->call.sink) {
        if (!kv__sink_write(&cs->call, data, n))
            cs->discarded += n;
        else if (cs->call.sink_len > MAX_DISCARD) // a long body of unknown length: so far, so good
            conn_deadline(h, conn, h->header_timeout_s + (double)MAX_DISCARD / BODY_MIN_RATE);
        return cs->discarded <= MAX_DISCARD;
    }
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
    conn_deadline(s->http, conn, 0); // the body is in
    if (s->stopping || s->http->quiesced) {
        c->retry_after = 5;
        cs->close = true;
        return queue_error(s, conn, cs, 503, "server is shutting down");
    }
    if (cs->preflight)
        return preflight(s, conn, cs);
    {
        // the key check, before routing (unknown paths need admin, so nothing is probed)
        char msg[256];
        const char *authz = MHD_lookup_connection_value(conn, MHD_HEADER_KIND,
                                                        MHD_HTTP_HEADER_AUTHORIZATION);
        unsigned ast = kv__auth_check(s, c->method, c->path, authz, cs->who, sizeof cs->who, msg,
                                      sizeof msg);
        cs->audit = kv__audited(s, c->method, c->path);
        if (cs->audit)
            client_addr(conn, cs->client, sizeof cs->client);
        if (ast != 0) {
            audit_now(s, cs, ast, NULL); // refused either way
            c->code = ast == 401 ? "invalid_api_key" : "insufficient_permissions";
            return queue_error(s, conn, cs, ast, msg);
        }
    }
    if (cs->too_big) {
        char msg[96];
        snprintf(msg, sizeof msg, "request body is over the limit of %zu bytes", s->p.body_max);
        return queue_error(s, conn, cs, 413, msg);
    }
    if (c->sink) {
        char msg[256];
        unsigned st = kv__sink_failed(c, msg, sizeof msg);
        if (st) {
            kv__sink_abort(c);
            return queue_error(s, conn, cs, st, msg);
        }
    }
    if (!cs->route)
        return queue_error(s, conn, cs, cs->route_status,
                           cs->route_status == 405 ? "method not allowed" : "not found");
    c->body = cs->body.p ? cs->body.p : "";
    c->body_len = cs->body.n;
    c->range = MHD_lookup_connection_value(conn, MHD_HEADER_KIND, MHD_HTTP_HEADER_RANGE);
    kv__route_run(cs->route, c);
    kv__sink_abort(c); // one the handler did not take (it failed before)
    if (!c->job) {
        if (!audit_now(s, cs, c->status ? c->status : 200, NULL)) {
            if (c->has_file)
                close(c->file_fd);
            c->has_file = false;
            if (c->stream_read)
                c->stream_free(c->stream_ctx);
            c->stream_read = NULL;
            c->ctype = NULL;
            return queue_error(s, conn, cs, 500, "cannot write the audit log");
        }
        if (c->has_file)
            return queue_file(s, conn, cs, c);
        if (c->stream_read)
            return queue_live(s, conn, cs, c);
        return queue_buf(s, conn, cs, c->status ? c->status : 200, c->ctype, &c->out,
                         c->retry_after);
    }
    if (c->job->req.stream)
        return start_stream(s, conn, cs, c->job);
    return wait_job(s, conn, cs);
}

static enum MHD_Result on_request(void *cls, struct MHD_Connection *conn, const char *url,
                                  const char *method, const char *version, const char *upload_data,
                                  size_t *upload_data_size, void **con_cls) {
    kv_serve *s = cls;
    conn_state *cs = *con_cls;
    if (!cs)
        return begin(s, conn, url, method, version, con_cls);
    if (*upload_data_size) {
        bool more = take_body(s->http, conn, cs, upload_data, *upload_data_size);
        *upload_data_size = 0;
        return more ? MHD_YES : MHD_NO;
    }
    if (cs->call.job && !cs->call.job->req.stream)
        return wait_job(s, conn, cs); // resumed by kv__http_wake
    return dispatch(s, conn, cs);
}

static void on_completed(void *cls, struct MHD_Connection *conn, void **con_cls,
                         enum MHD_RequestTerminationCode toe) {
    kv_serve *s = cls;
    conn_state *cs = *con_cls;
    (void)toe;
    conn_deadline(s->http, conn, s->http->header_timeout_s); // the next request's headers
    if (!cs)
        return;
    kv__job *j = cs->call.job;
    if (j && cs->audit && !cs->audited) {
        // A stream is recorded at its end, with how it ended (its 200 is long
        // sent); a waiting reply that was never recorded ended early: the client
        // left (499) or its reply could not be made (500).
        pthread_mutex_lock(&j->mu);
        unsigned fail = j->http_status ? j->http_status : 500;
        unsigned st = !j->done ? 499 : j->st != KV_OK ? fail : j->req.stream ? 200 : 500;
        pthread_mutex_unlock(&j->mu);
        audit_now(s, cs, st, j);
    }
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
    kv__sink_abort(&cs->call); // a client gone mid-body, or a request refused
    kv__buf_free(&cs->body);
    kv__buf_free(&cs->call.out);
    free(cs);
    *con_cls = NULL;
}

// ---- the daemon ----

static void on_log(void *cls, const char *fmt, va_list ap) {
    const kv_serve *s = cls;
    kv__http *h = s->http;
    pthread_mutex_lock(&h->log_mu);
    double now = kv__now();
    unsigned dropped = 0;
    if (now - h->log_t0 >= 1.0) {
        dropped = h->log_dropped;
        h->log_t0 = now;
        h->log_n = h->log_dropped = 0;
    }
    bool pass = h->log_n < LOG_PER_S;
    if (pass)
        h->log_n++;
    else
        h->log_dropped++;
    pthread_mutex_unlock(&h->log_mu);
    if (dropped > 0)
        kv__log(s, "http: %u more message(s) suppressed (at most %d a second)", dropped,
                LOG_PER_S);
    if (!pass)
        return;
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

// ---- connections and the reaper ----

static void on_connection(void *cls, struct MHD_Connection *conn, void **socket_context,
                          enum MHD_ConnectionNotificationCode code) {
    kv__http *h = ((kv_serve *)cls)->http;
    if (code == MHD_CONNECTION_NOTIFY_STARTED) {
        track *t = calloc(1, sizeof *t);
        *socket_context = t;
        if (!t)
            return; // untracked: only the idle timeout applies to it
        t->fd = conn_fd(conn);
        pthread_mutex_lock(&h->mu);
        t->deadline = kv__now() + h->header_timeout_s;
        t->next = h->conns;
        if (h->conns)
            h->conns->prev = t;
        h->conns = t;
        pthread_mutex_unlock(&h->mu);
        return;
    }
    // MHD_CONNECTION_NOTIFY_CLOSED, before libmicrohttpd closes the socket: once
    // the entry is gone (under mu) the reaper cannot touch a reused descriptor.
    track *t = *socket_context;
    if (!t)
        return;
    pthread_mutex_lock(&h->mu);
    if (t->prev)
        t->prev->next = t->next;
    else
        h->conns = t->next;
    if (t->next)
        t->next->prev = t->prev;
    pthread_mutex_unlock(&h->mu);
    free(t);
    *socket_context = NULL;
}

// Closes connections whose request is late. No 408 goes out: on an idle
// keep-alive connection the client could take it for the answer to the request
// it is just sending. shutdown makes libmicrohttpd see the end of the stream
// and close the connection itself.
static void reap(kv__http *h, double now) {
    for (track *t = h->conns; t; t = t->next) {
        if (t->shut || t->deadline == 0 || now < t->deadline || t->fd < 0)
            continue;
        shutdown(t->fd, SHUT_RDWR);
        t->shut = true;
        h->n_late++;
    }
}

static void *reaper_main(void *arg) {
    kv_serve *s = arg;
    kv__http *h = s->http;
    pthread_mutex_lock(&h->mu);
    while (!h->quit) {
        struct timespec ts;
        clock_gettime(CLOCK_MONOTONIC, &ts);
        long ns = ts.tv_nsec + (long)(REAP_EVERY_S * 1e9);
        ts.tv_sec += ns / 1000000000L;
        ts.tv_nsec = ns % 1000000000L;
        pthread_cond_timedwait(&h->cv, &h->mu, &ts);
        if (h->quit)
            break;
        double now = kv__now();
        reap(h, now);
        if (h->n_late > 0 && now - h->t_logged >= REAP_LOG_EVERY_S) {
            uint64_t n = h->n_late;
            h->n_late = 0;
            h->t_logged = now;
            pthread_mutex_unlock(&h->mu);
            kv__log(s,
                    "http: closed %llu connection(s) whose request headers took over %g s "
                    "(or body, over that and 1 s per 64 KiB)",
                    (unsigned long long)n, h->header_timeout_s);
            pthread_mutex_lock(&h->mu);
        }
    }
    pthread_mutex_unlock(&h->mu);
    return NULL;
}

// ---- the daemon ----

static void http_free(kv__http *h) {
    if (!h)
        return;
    if (h->reaper_started) {
        pthread_mutex_lock(&h->mu);
        h->quit = true;
        pthread_cond_signal(&h->cv);
        pthread_mutex_unlock(&h->mu);
        pthread_join(h->reaper, NULL);
    }
    if (h->listen_fd >= 0)
        close(h->listen_fd);
    kv__http_guard_free(&h->guard);
    pthread_mutex_destroy(&h->log_mu);
    pthread_cond_destroy(&h->cv);
    pthread_mutex_destroy(&h->mu);
    free(h);
}

static kv_status http_new(kv_serve *s, kv_err *err) {
    kv__http *h = calloc(1, sizeof *h);
    if (!h)
        return KV_FAIL(err, KV_ERR_NOMEM, "out of memory for the server");
    h->listen_fd = -1;
    h->header_timeout_s = s->p.header_timeout_s;
    pthread_mutex_init(&h->mu, NULL);
    pthread_mutex_init(&h->log_mu, NULL);
    pthread_condattr_t ca;
    pthread_condattr_init(&ca);
    pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
    pthread_cond_init(&h->cv, &ca);
    pthread_condattr_destroy(&ca);
    s->http = h;
    char name[KV__HTTP_MAX_NAME] = "";
    if (gethostname(name, sizeof name) != 0)
        name[0] = '\0';
    name[sizeof name - 1] = '\0';
    return kv__http_guard_init(&h->guard, s->host, s->p.origins, s->p.allowed_hosts, name, err);
}

// Client connections the process's descriptor limit leaves room for.
static unsigned conn_limit(const kv_serve *s) {
    unsigned n = (unsigned)s->p.max_connections;
    struct rlimit rl;
    if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur != RLIM_INFINITY &&
        rl.rlim_cur < (rlim_t)n + FD_RESERVE) {
        unsigned fit =
            rl.rlim_cur > 2 * FD_RESERVE ? (unsigned)rl.rlim_cur - FD_RESERVE : FD_RESERVE;
        kv__log(s,
                "http: --max-connections %u lowered to %u to fit the limit of %llu open "
                "files (ulimit -n)",
                n, fit, (unsigned long long)rl.rlim_cur);
        n = fit;
    }
    return n;
}

kv_status kv__http_start(kv_serve *s, kv_err *err) {
    kv_status st = http_new(s, err);
    if (st != KV_OK)
        return st;
    struct sockaddr_storage ss;
    bool v6 = false;
    st = resolve(s, &ss, &v6, err);
    if (st != KV_OK)
        return st;
    // A pool of internal polling threads: a connection costs a socket and a
    // little memory, never a thread, however slowly its client sends (thread
    // per connection would give each slow client a thread). epoll, else poll;
    // never select, which cannot watch descriptors past FD_SETSIZE (1024).
    unsigned flags = MHD_ALLOW_SUSPEND_RESUME | MHD_USE_ERROR_LOG;
    flags |= MHD_is_feature_supported(MHD_FEATURE_EPOLL) == MHD_YES
                 ? MHD_USE_EPOLL_INTERNAL_THREAD
                 : MHD_USE_POLL_INTERNAL_THREAD;
    if (v6)
        flags |= MHD_USE_IPv6;
    unsigned limit = conn_limit(s);
    // the logger goes first, or MHD logs the options before it its own way
    s->daemon = MHD_start_daemon(
        flags, s->p.port, NULL, NULL, on_request, s, MHD_OPTION_EXTERNAL_LOGGER, on_log, s,
        MHD_OPTION_SOCK_ADDR, (struct sockaddr *)&ss, MHD_OPTION_THREAD_POOL_SIZE,
        (unsigned)s->p.n_http_threads, MHD_OPTION_NOTIFY_COMPLETED, on_completed, s,
        MHD_OPTION_NOTIFY_CONNECTION, on_connection, s, MHD_OPTION_CONNECTION_TIMEOUT,
        (unsigned)IDLE_TIMEOUT_S, MHD_OPTION_CONNECTION_LIMIT, limit,
        MHD_OPTION_PER_IP_CONNECTION_LIMIT, (unsigned)s->p.max_conn_per_ip, MHD_OPTION_END);
    if (!s->daemon)
        return KV_FAIL(err, KV_ERR_IO,
                       "cannot listen on %s port %u (in use, or not an address "
                       "of this machine)",
                       s->host, (unsigned)s->p.port);
    const union MHD_DaemonInfo *di = MHD_get_daemon_info(s->daemon, MHD_DAEMON_INFO_BIND_PORT);
    s->port = di ? di->port : s->p.port;
    if (pthread_create(&s->http->reaper, NULL, reaper_main, s) != 0)
        return KV_FAIL(err, KV_ERR_NOMEM, "cannot start the connection reaper thread");
    s->http->reaper_started = true;
    return KV_OK;
}

void kv__http_quiesce(kv_serve *s) {
    kv__http *h = s->http;
    if (!s->daemon || !h || h->quiesced)
        return;
    h->quiesced = 1;
    MHD_socket fd = MHD_quiesce_daemon(s->daemon);
    if (fd != MHD_INVALID_SOCKET) {
        // Refuse new connections now rather than leave them in the backlog; the
        // descriptor itself stays open until the daemon has stopped.
        shutdown(fd, SHUT_RDWR);
        h->listen_fd = fd;
    }
}

void kv__http_stop(kv_serve *s) {
    if (s->daemon) {
        MHD_stop_daemon(s->daemon);
        s->daemon = NULL;
    }
    http_free(s->http);
    s->http = NULL;
}
