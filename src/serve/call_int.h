// Calls: one HTTP request as the handlers see it; the route table that picks a
// handler (router.c) and the replies and errors written into a call (reply.c).
#ifndef KV_SERVE_CALL_INT_H
#define KV_SERVE_CALL_INT_H

#include <stdbool.h>
#include <stddef.h>

#include <jansson.h>

#include "kvant/kv_serve.h"
#include "kvant/kv_status.h"
#include "serve/buf_int.h"

typedef struct kv__job kv__job;

typedef enum { KV__API_OLLAMA, KV__API_OPENAI, KV__API_PLAIN } kv__api;

enum { KV__GET = 1, KV__POST = 2, KV__HEAD = 4, KV__DELETE = 8, KV__PUT = 16, KV__PATCH = 32 };

typedef struct {
    kv_serve *srv;
    kv__api api;         // decides the error shape
    unsigned method;     // KV__GET, ...
    const char *path;    // without the query string
    const char *arg;     // for prefix routes: what follows the prefix ("/v1/models/{arg}")
    const char *body;
    size_t body_len;
    double t_start;      // arrival, kv__now()
    // The reply, when the handler answers at once:
    unsigned status;     // 0: 200, or the one kv__http_status picks for a failure
    const char *code;    // OpenAI error code ("model_not_found"), or NULL
    kv__buf out;
    const char *ctype;   // NULL: application/json
    int retry_after;     // seconds, for 503; 0: no Retry-After header
    // ...or a file: has_file sends file_len bytes of file_fd from file_off (the
    // HTTP layer closes it), with Content-Range and Docker-Content-Digest when set.
    bool has_file;
    int file_fd;
    uint64_t file_off, file_len;
    char hdr_range[96];
    char hdr_digest[80];
    // An upload's answer (a /v2/ push): Location, Range and Docker-Upload-UUID when set.
    char hdr_location[640];
    char hdr_upload_range[48];
    char hdr_upload_uuid[40];
    const char *range; // the request's Range header, or NULL
    // ...or a body made while it is sent: stream_read copies up to max bytes
    // (waiting until some are ready) and returns 0 at its end; stream_free runs
    // once when the response is gone (also when it could not be made).
    size_t (*stream_read)(void *ctx, char *buf, size_t max);
    void (*stream_free)(void *ctx);
    void *stream_ctx;
    // ...or a job the HTTP layer streams or waits for.
    kv__job *job;
    // A body streamed to a file instead of held (a blob upload: kv__sink_open):
    // the open sink (the handler takes it; the HTTP layer aborts one left over),
    // the bytes received, and the query's digest parameter (PUT ?digest=).
    struct kv__sink *sink;
    uint64_t sink_len;
    const char *query_digest;
} kv__call;

// A handler fills c->out (or sets c->job); on failure the router writes the
// API's error shape from err, with c->status when the handler set one.
typedef kv_status (*kv__handler)(kv__call *c, kv_err *err);

typedef struct {
    unsigned methods;
    const char *path;
    bool prefix; // path ends with '/', the rest of the URL is the argument
    kv__api api;
    kv__handler fn;
} kv__route;

// The route for method and path; NULL with *status 404 (no such path) or 405
// (the path exists, the method does not). *api is the error shape to use either way.
const kv__route *kv__route_find(unsigned method, const char *path, unsigned *status,
                                kv__api *api);
// KV__GET etc. for a method name; 0 for others.
unsigned kv__method_from_name(const char *name);
// The name of KV__GET etc.; "?" for others.
const char *kv__method_name(unsigned method);
// Runs the route's handler and, when it fails, writes the error reply.
void kv__route_run(const kv__route *r, kv__call *c);

// HTTP status for a failure (STYLE's table): INVALID/FORMAT 400, LIMIT 413,
// UNSUPPORTED 422, NOMEM 503, anything else 500.
unsigned kv__http_status(kv_status st);
// Replaces c->out with the error body for msg in the shape of api: Ollama
// {"error": msg}; OpenAI {"error": {"message", "type", "param", "code"}}, where
// param is the field a "field 'x'" message names. Sets c->status.
void kv__call_error(kv__call *c, unsigned status, const char *msg);
// The error object for msg in api's shape (see kv__call_error); new reference.
json_t *kv__error_json(kv__api api, unsigned status, const char *code, const char *msg);
// A JSON string of s[0..n); bytes that are not UTF-8 become U+FFFD.
json_t *kv__json_text(const char *s, size_t n);
// Writes v as c's JSON reply (status 200 unless set); consumes v.
kv_status kv__call_json(kv__call *c, json_t *v, kv_err *err);

#endif
