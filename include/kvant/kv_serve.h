// The HTTP server behind `kvant serve`: Ollama- and OpenAI-compatible APIs over
// the models it is given, continuous batching per model, Prometheus metrics and a
// small web chat page. Built on libmicrohttpd in its own library (kvant_serve), so
// the core library never links an HTTP stack. The server prints nothing: it
// reports through the log callback of its parameters.
#ifndef KV_SERVE_H
#define KV_SERVE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "kvant/kv_status.h"
#include "kvant/kv_types.h"

// Named limits.
#define KV_SERVE_MAX_MODELS 1024        // models one server knows
#define KV_SERVE_MAX_PARALLEL 256       // sequences decoded together per model
#define KV_SERVE_MAX_QUEUE 65536        // waiting requests per model
#define KV_SERVE_DEFAULT_BODY_MAX ((size_t)8 << 20)
#define KV_SERVE_MAX_CONNECTIONS 1000000  // --max-connections at most

// One configured model: requests name it; path is a GGUF file, mapped on first use.
typedef struct {
    const char *name;     // "kjv:latest"; a name without ":tag" gets ":latest"
    const char *path;
    const char *template; // chat template family ("chatml", "llama3", ...); NULL: detect
    const char *draft;    // a GGUF file of a draft model of the same vocabulary for
                          // speculative decoding (checked at start); NULL: draft_all
} kv_serve_model;

// Receives one line of log text (no newline); may be called from any server thread.
typedef void (*kv_serve_log_fn)(void *user, const char *line);

// Access control: the role of the API key token (the text after "Authorization:
// Bearer"; NULL when the request has none): 1 viewer, 2 user, 3 operator,
// 4 admin, 0 for an unknown or revoked key, -1 when authentication is off (no
// keys configured: every request is let in). The key's name goes to who.
// Called from the HTTP threads, once per request, before routing.
typedef int (*kv_serve_auth_fn)(void *user, const char *token, char *who, size_t who_cap);

// One audited request: every one that generates or changes state (the routes
// that need the user role or above), including those refused 401/403.
typedef struct {
    const char *who;        // the key's name, or "-"
    const char *method;     // "POST"
    const char *path;       // "/api/generate"
    const char *model;      // "" when the request names none
    const char *client;     // the client's address
    unsigned status;        // the reply's status (a stream: 200, or the status of its failure)
    int64_t tokens_in;      // prompt tokens; -1 when not known
    int64_t tokens_out;     // generated tokens; -1 when not known
    double duration_s;      // from arrival to the reply (a stream: to its end)
    double time;            // wall clock at arrival, seconds since the epoch
    const char *body;       // the request body (the hook decides whether to keep it)
    size_t body_len;
    int stream;             // 1 for a streamed reply
} kv_serve_audit_rec;

// Records r. Called before a non-streaming reply is sent, and a failure turns
// the reply into a 500 (fail closed); for a stream, when it has ended (its
// status is already sent). Called from the HTTP threads.
typedef kv_status (*kv_serve_audit_fn)(void *user, const kv_serve_audit_rec *r, kv_err *err);

// What POST /api/create asks for (Ollama's API); a string is NULL when absent.
typedef struct {
    const char *model;       // the new model's name
    const char *from;        // an existing model to start from, or NULL
    const char *gguf;        // the digest of the GGUF blob named in "files", or NULL
    const char *tmpl, *system, *license;
    const char *params_json; // "parameters", a JSON object's text, or NULL
} kv_serve_create_req;

// Progress of a pull or push: status ("pulling 0123456789ab", "success", ...),
// the blob's digest or NULL, bytes completed of total (0 when not a transfer).
typedef void (*kv_serve_progress_fn)(void *user, const char *status, const char *digest,
                                     uint64_t completed, uint64_t total);

// A model store behind /api/create, /api/copy, /api/delete and /api/blobs/DIGEST
// (kvant serve --store). The server checks digests ("sha256:" and 64 lowercase
// hex digits) before calling and calls one at a time. name/path receive the
// model's name as requests give it ("model:tag") and its GGUF file.
typedef struct {
    kv_status (*blob_has)(void *user, const char *digest, kv_err *err); // KV_ERR_NOT_FOUND: absent
    // Stores data as the blob digest when its SHA-256 is digest (else KV_ERR_INVALID).
    kv_status (*blob_put)(void *user, const char *digest, const void *data, size_t n,
                          kv_err *err);
    kv_status (*create)(void *user, const kv_serve_create_req *rq, char *name, size_t name_cap,
                        char *path, size_t path_cap, kv_err *err);
    kv_status (*copy)(void *user, const char *src, const char *dst, char *name, size_t name_cap,
                      char *path, size_t path_cap, kv_err *err);
    kv_status (*remove)(void *user, const char *model, char *name, size_t name_cap, kv_err *err);
    void *user;
    // The read-only OCI distribution API (/v2/), so another kvant pulls from this
    // one (NULL: /v2/ answers 501). manifest: the bytes of repo:tag's manifest
    // (malloc'd; the caller frees) and its media type; blob_path: the file of a
    // stored blob. KV_ERR_NOT_FOUND when absent. digest: "sha256:HEX" of the bytes.
    kv_status (*manifest)(void *user, const char *repo, const char *tag, char **text, size_t *n,
                          char *media_type, size_t mt_cap, char *digest, size_t digest_cap,
                          kv_err *err);
    kv_status (*blob_path)(void *user, const char *digest, char *path, size_t cap, kv_err *err);
    // /api/pull and /api/push over a registry (NULL: 501). progress gets Ollama's
    // status lines (status, digest or NULL, completed and total bytes); pull puts
    // the model's name and GGUF file into name/path as create does.
    kv_status (*pull)(void *user, const char *model, bool insecure, kv_serve_progress_fn progress,
                      void *progress_user, char *name, size_t name_cap, char *path,
                      size_t path_cap, kv_err *err);
    kv_status (*push)(void *user, const char *model, bool insecure, kv_serve_progress_fn progress,
                      void *progress_user, kv_err *err);
    // /api/show's fields from the store (NULL, or KV_ERR_NOT_FOUND: the GGUF's
    // alone): a JSON object (malloc'd; the caller frees) with "modelfile",
    // "parameters" (Ollama's text), "template", "system", "license" (each absent
    // when the model has none) and "mtime" (seconds).
    kv_status (*show)(void *user, const char *model, char **json, kv_err *err);
    // A store model's Modelfile defaults for generation (NULL, or KV_ERR_NOT_FOUND:
    // none): a JSON object (malloc'd; the caller frees) with "system" (text),
    // "options" (the params layer's object) and "template" (a Go template in the
    // subset kv_gotmpl runs), each absent when the model has none.
    kv_status (*defaults)(void *user, const char *model, char **json, kv_err *err);
    // Pushes into /v2/ and POST /api/blobs bodies streamed to disk (NULL: /v2/
    // stays read-only, /api/blobs bodies are held in memory and go to blob_put).
    // upload_tmp: a new empty file on the blobs' file system for an upload's
    // bytes (its path); blob_commit: the file tmp becomes blob digest when its
    // SHA-256 is digest, else it is deleted and KV_ERR_FORMAT names both;
    // manifest_put: repo:tag's manifest (n bytes) is stored when every blob it
    // names is, its digest into digest, and into name/path the name the server
    // serves it as and its GGUF file (name "" when it serves none: a namespace or
    // no model layer). blob_max: bytes one upload may have (0: 1 TiB).
    kv_status (*upload_tmp)(void *user, char *path, size_t cap, kv_err *err);
    kv_status (*blob_commit)(void *user, const char *digest, const char *tmp, kv_err *err);
    kv_status (*manifest_put)(void *user, const char *repo, const char *tag, const char *text,
                              size_t n, char *digest, size_t digest_cap, char *name,
                              size_t name_cap, char *path, size_t path_cap, kv_err *err);
    uint64_t blob_max;
} kv_serve_store_ops;

typedef struct {
    const char *host;              // address to bind (default "127.0.0.1")
    uint16_t port;                 // 0: any free port (see kv_serve_port)
    const kv_serve_model *models;  // borrowed for the kv_serve_start call
    int32_t n_models;
    const char *models_dir;        // NULL, or a folder whose *.gguf files are models
    const char *template_all;      // chat template family for every model; NULL: detect
    const char *draft_all;         // draft model for every model without its own (models of
                                   // another vocabulary, from models_dir or the store, go
                                   // without, with a log line); NULL: none
    int32_t n_parallel;            // sequences decoded together per model (default 4)
    int32_t n_ctx;                 // context per sequence; 0: min(model's, 4096)
    int64_t n_kv_cells;            // KV cache cells per model over all its sequences, in
                                   // blocks of 16 (requests wait for room); 0: n_parallel * n_ctx
    kv_type type_k, type_v;        // what the KV caches store keys and values as (default F16;
                                   // F32, Q8_0, Q4_0)
    int32_t n_threads;             // compute threads per model; 0: online CPUs; at most 256
    int32_t n_http_threads;        // libmicrohttpd thread pool (default 4)
    size_t body_max;               // request body cap in bytes (413 above it)
    int32_t queue_max;             // requests waiting per model (503 above it; default 64)
    double timeout_s;              // per request, from arrival to the last token; <= 0: none
    double keep_alive_s;           // default keep_alive; < 0: forever (default 300)
    kv_serve_log_fn log;           // may be NULL
    void *log_user;
    // HTTP hardening (see kv_serve_default_params for the defaults).
    const char *origins;           // extra allowed browser Origins, comma-separated, '*' a
                                   // wildcard ("*" alone: any); NULL: the defaults only
                                   // (http(s)://localhost, 127.0.0.1, 0.0.0.0 on any port,
                                   // app://, file://, tauri://, vscode-webview://, vscode-file://)
    const char *allowed_hosts;     // extra Host names, comma-separated (".example.com": it
                                   // and below; "*": any); loopback names, this machine's
                                   // name and the bound address are always allowed
    double header_timeout_s;       // a request's headers must all arrive within this of the
                                   // connection's start or its previous request's end (10);
                                   // its body within that plus 1 s per 64 KiB
    int32_t max_connections;       // client connections at once (default 4096)
    int32_t max_conn_per_ip;       // of those, from one address (default 256; 0: no limit)
    // Access control and audit (NULL: none, as without keys); both get hook_user.
    kv_serve_auth_fn auth;
    kv_serve_audit_fn audit;
    void *hook_user;
    const kv_serve_store_ops *store; // NULL: the store's endpoints answer 501
} kv_serve_params;

kv_serve_params kv_serve_default_params(void);

typedef struct kv_serve kv_serve;

// Checks the parameters, indexes the models (the files are opened only to read
// their metadata when asked, and loaded on first use), and starts listening.
// KV_ERR_INVALID for bad parameters or model names (the message names which),
// KV_ERR_IO when a models folder cannot be read or the address cannot be bound.
// On success *out serves until kv_serve_stop.
kv_status kv_serve_start(const kv_serve_params *p, kv_serve **out, kv_err *err);

// The port the server listens on (the chosen one when the parameters said 0).
uint16_t kv_serve_port(const kv_serve *s);

// Parses a keep_alive duration as Ollama does: a Go duration ("5m", "1h30m",
// "1.5s", "-1m") or a number of seconds ("300"); negative means forever.
// KV_ERR_INVALID, naming what is wrong, otherwise. Thread-safe.
kv_status kv_serve_parse_duration(const char *s, double *seconds, kv_err *err);

// The first half of a graceful stop: stops accepting connections (new ones are
// refused; requests on open ones get 503 and the connection closes) while
// running requests go on. Thread-safe; idempotent. kv_serve_stop finishes.
void kv_serve_quiesce(kv_serve *s);

// Generation and embedding requests not yet fully answered (queued, running,
// or still sending). Thread-safe.
int kv_serve_busy(kv_serve *s);

// Stops accepting requests, ends running ones (streams get an error line),
// unloads the models and frees everything. Accepts NULL. Not to be called from
// a server thread.
void kv_serve_stop(kv_serve *s);

#endif
