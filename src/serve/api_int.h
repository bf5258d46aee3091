// The API: the route handlers (api_*.c, ui.c) that turn requests into replies or
// jobs, and the formatters that shape a job's output as Ollama or OpenAI JSON
// (api_format.c).
#ifndef KV_SERVE_API_INT_H
#define KV_SERVE_API_INT_H

#include "kvant/kv_status.h"
#include "serve/call_int.h"
#include "serve/job_int.h"
#include "serve/request_int.h"

// ---- handlers ----

kv_status kv__h_root(kv__call *c, kv_err *err);        // GET /
kv_status kv__h_version(kv__call *c, kv_err *err);     // GET /api/version
kv_status kv__h_health(kv__call *c, kv_err *err);      // GET /health
kv_status kv__h_metrics(kv__call *c, kv_err *err);     // GET /metrics
kv_status kv__h_tags(kv__call *c, kv_err *err);        // GET /api/tags
kv_status kv__h_show(kv__call *c, kv_err *err);        // POST /api/show
kv_status kv__h_ps(kv__call *c, kv_err *err);          // GET /api/ps
kv_status kv__h_oai_models(kv__call *c, kv_err *err);  // GET /v1/models
kv_status kv__h_oai_model(kv__call *c, kv_err *err);   // GET /v1/models/{id}
kv_status kv__h_generate(kv__call *c, kv_err *err);    // POST /api/generate
kv_status kv__h_chat(kv__call *c, kv_err *err);        // POST /api/chat
kv_status kv__h_embed(kv__call *c, kv_err *err);       // POST /api/embed
kv_status kv__h_embeddings(kv__call *c, kv_err *err);  // POST /api/embeddings
kv_status kv__h_oai_chat(kv__call *c, kv_err *err);    // POST /v1/chat/completions
kv_status kv__h_oai_complete(kv__call *c, kv_err *err); // POST /v1/completions
kv_status kv__h_oai_embed(kv__call *c, kv_err *err);   // POST /v1/embeddings
kv_status kv__h_ui(kv__call *c, kv_err *err);
kv_status kv__h_blob(kv__call *c, kv_err *err);        // HEAD, POST /api/blobs/{digest}
kv_status kv__h_create(kv__call *c, kv_err *err);      // POST /api/create
kv_status kv__h_v2_root(kv__call *c, kv_err *err);     // GET/HEAD /v2/ (api_oci.c)
kv_status kv__h_v2(kv__call *c, kv_err *err);          // GET/HEAD /v2/NAME/{manifests,blobs}/REF
kv_status kv__h_pull(kv__call *c, kv_err *err);        // POST /api/pull
kv_status kv__h_push(kv__call *c, kv_err *err);        // POST /api/push
kv_status kv__h_v2_push(kv__call *c, kv_err *err);     // POST/PATCH/PUT /v2/... (api_v2push.c)

// ---- blob bodies streamed to a file (api_v2push.c) ----

// True when d is "sha256:" and 64 lowercase hex digits (false for NULL).
bool kv__serve_digest_ok(const char *d);
// Before the body is read (the key checked): for POST /api/blobs/DIGEST and
// PATCH/PUT of a /v2/ upload on a store that takes files, opens where the bytes
// go (c->sink). 0: go on (c->sink NULL: the body is held as any other); else the
// HTTP status to refuse with, msg its text (nothing is left on disk).
unsigned kv__sink_open(kv__call *c, char *msg, size_t cap);
// Appends n bytes; false once the sink takes no more (over the limit, a write failed).
bool kv__sink_write(kv__call *c, const char *p, size_t n);
// 0, or the status (413, 507, 500) and msg for a sink that took less than it got.
unsigned kv__sink_failed(const kv__call *c, char *msg, size_t cap);
// Deletes c's sink and its file (its upload ends); nothing when none is open.
void kv__sink_abort(kv__call *c);
// /api/blobs: the sink's file becomes blob digest when its SHA-256 matches.
kv_status kv__blob_from_sink(kv__call *c, const char *digest, kv_err *err);
// Deletes every upload not being written (the server stops).
void kv__uploads_end(void);
kv_status kv__h_copy(kv__call *c, kv_err *err);        // POST /api/copy
kv_status kv__h_delete(kv__call *c, kv_err *err);      // DELETE /api/delete          // GET /ui and /ui/{file}

// ---- reply formats ----

// The formatter for an endpoint's replies (api_format.c).
kv__job_fmt kv__fmt_for(kv__endpoint ep);

#endif
