// The HTTP layer's request guard (http_guard.c): pure checks of the request
// headers that decide, before any handler runs, whether a request is answered at
// all. Kept apart from libmicrohttpd so they can be unit-tested and fuzzed.
//  - framing: one Content-Length of digits, or Transfer-Encoding: chunked alone
//    (RFC 9112 §6.1-6.3), one Host (required in HTTP/1.1), one Origin;
//  - Host: against DNS rebinding, a name must be a loopback name, this
//    machine's, the bound one or an allowed one; address literals are the bound
//    address, loopback, or (bound to a wildcard) any;
//  - Origin: cross-site requests from browsers only from allowed origins (the
//    defaults are Ollama's: http(s)://localhost, 127.0.0.1, 0.0.0.0 on any port,
//    app://, file://, tauri://, vscode-webview://, vscode-file://), or the same
//    origin as the Host.
#ifndef KV_SERVE_HTTP_GUARD_INT_H
#define KV_SERVE_HTTP_GUARD_INT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "kvant/kv_status.h"

#define KV__HTTP_MAX_PATTERNS 64  // --origins or --allowed-hosts entries
#define KV__HTTP_MAX_PATTERN 256  // bytes in one entry
#define KV__HTTP_MAX_NAME 256     // bytes in a host name

typedef struct {
    char *origins[KV__HTTP_MAX_PATTERNS]; // extra origin patterns, lowercase, owned
    int n_origins;
    bool any_origin;                      // "*" among them
    char *hosts[KV__HTTP_MAX_PATTERNS];   // extra host names (".d": d and below), owned
    int n_hosts;
    bool any_host;                        // "*" among them
    bool bind_wildcard;                   // bound to 0.0.0.0 or ::
    char bind_name[KV__HTTP_MAX_NAME];    // the bound name or address, lowercase; "" for a wildcard
    char hostname[KV__HTTP_MAX_NAME];     // this machine's name, lowercase; "" when unknown
} kv__http_guard;

// Builds the guard for a server bound to bind_host (a name or an address,
// IPv6 with or without brackets), with comma-separated extra origins and hosts
// (either may be NULL), and this machine's name (may be NULL). KV_ERR_INVALID
// names a bad entry. Free with kv__http_guard_free (also after a failure).
kv_status kv__http_guard_init(kv__http_guard *g, const char *bind_host, const char *origins,
                              const char *hosts, const char *hostname, kv_err *err);
void kv__http_guard_free(kv__http_guard *g);

// The headers that decide framing and access, gathered one by one.
typedef struct {
    unsigned n_host, n_cl, n_te, n_origin;
    const char *host, *cl, *te, *origin; // the first of each (borrowed)
} kv__http_hdrs;

// Notes header name: value (name compared without case; others ignored).
void kv__http_hdrs_add(kv__http_hdrs *h, const char *name, const char *value);

// 0 when the framing headers are sound, otherwise the status to answer (400,
// or 501 for a transfer coding other than chunked) with the reason in msg. The
// connection must be closed after such an answer. *body_len is the
// Content-Length (0 without one, UINT64_MAX for chunked).
unsigned kv__http_framing(const kv__http_hdrs *h, bool http11, uint64_t *body_len, char *msg,
                          size_t cap);

// 0 when the Host header value (NULL: absent, as HTTP/1.0 allows) may reach
// this server; 400 when it is malformed, 403 when it names another site; msg
// says which.
unsigned kv__http_host_check(const kv__http_guard *g, const char *host, char *msg, size_t cap);

// Whether a request with Origin origin (NULL: none, not from a browser's
// cross-site request) and Host host (already checked) may go on: no Origin,
// the same origin as the Host, or an allowed one.
bool kv__http_origin_allowed(const kv__http_guard *g, const char *origin, const char *host);
// The same as a status: 0 when allowed, else 403 with the reason in msg.
unsigned kv__http_origin_check(const kv__http_guard *g, const char *origin, const char *host,
                               char *msg, size_t cap);

// Whether s matches pattern, where '*' stands for any run of characters;
// letters compare without case.
bool kv__http_glob(const char *pattern, const char *s);

// Whether a CORS preflight's Access-Control-Request-Headers value is a plain
// list of header names (tokens, commas, spaces; at most 1024 bytes), safe to
// echo back.
bool kv__http_token_list(const char *s);

#endif
