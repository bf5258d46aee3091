// Internals of the server, shared by the files of src/serve (and its unit tests).
// Layers, bottom up: byte buffers and durations; request validation (JSON in,
// a kv__req out); metrics; the model registry and per-model
// schedulers (jobs in, text out); the API handlers that turn requests into jobs
// and job output into Ollama or OpenAI JSON; the libmicrohttpd glue.
#ifndef KV_SERVE_INT_H
#define KV_SERVE_INT_H

#include <pthread.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <jansson.h>

#include "kvant/kv_buf.h"
#include "kvant/kv_chat.h"
#include "kvant/kv_jinja.h"
#include "kvant/kv_json_schema.h"
#include "kvant/kv_model.h"
#include "kvant/kv_serve.h"
#include "kvant/kv_status.h"
#include "kvant/kv_tokenizer.h"

// ---- byte buffers ----

// A growable byte buffer with a cap: core's kv_buf (kvant/kv_buf.h); the
// functions below are its serve-side names, plus JSON.
typedef kv_buf kv__buf;

// Appends n bytes. KV_ERR_LIMIT when that would pass b->max, KV_ERR_NOMEM.
kv_status kv__buf_add(kv__buf *b, const void *s, size_t n, kv_err *err);
kv_status kv__buf_adds(kv__buf *b, const char *s, kv_err *err);
// Appends compact JSON of v (not consumed).
kv_status kv__buf_add_json(kv__buf *b, const json_t *v, kv_err *err);
// Drops the first n bytes.
void kv__buf_consume(kv__buf *b, size_t n);
void kv__buf_free(kv__buf *b); // leaves an empty buffer with the same cap

// ---- durations and time ----

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

// ---- requests ----

typedef enum {
    KV__EP_GENERATE,     // POST /api/generate
    KV__EP_CHAT,         // POST /api/chat
    KV__EP_EMBED,        // POST /api/embed
    KV__EP_EMBEDDINGS,   // POST /api/embeddings (the older form: one prompt)
    KV__EP_SHOW,         // POST /api/show
    KV__EP_OAI_CHAT,     // POST /v1/chat/completions
    KV__EP_OAI_COMPLETE, // POST /v1/completions
    KV__EP_OAI_EMBED,    // POST /v1/embeddings
    KV__EP_COUNT,
} kv__endpoint;

// Sampling settings with kvant's defaults (those of llama.cpp) filled in.
typedef struct {
    float temp;             // <= 0: greedy
    int32_t top_k;          // <= 0: off
    float top_p;            // >= 1: off
    float min_p;            // <= 0: off
    uint64_t seed;
    bool seed_set;          // false: the server picks one
    int32_t repeat_last_n;
    float repeat_penalty;   // 1: off
    float freq_penalty;
    float presence_penalty;
} kv__sampling;

#define KV__MAX_STOP 16            // stop strings per request
#define KV__MAX_STOP_LEN 256       // bytes in one stop string
#define KV__MAX_MESSAGES 4096      // chat messages per request
#define KV__MAX_INPUTS 2048        // embedding inputs per request
#define KV__MAX_NAME 256           // bytes in a model name
#define KV__MIN_CTX 4              // smallest context of a request: num_ctx 1..3 reads as 4,
                                   // as Ollama does

// A validated request. Strings are borrowed from root (or from parts, for
// message content given as an array of text parts) and live until kv__req_free.
typedef struct {
    kv__endpoint ep;
    json_t *root;
    const char *model;
    const char *prompt;     // generate, completions, embeddings; NULL when absent
    const char *system;     // generate
    kv_chat_msg *msgs;      // chat
    size_t n_msgs;
    const char **inputs;    // embed
    size_t n_inputs;
    char **parts;           // joined text parts of messages, owned
    size_t n_parts;
    bool stream;
    bool stream_usage;      // OpenAI stream_options.include_usage
    bool raw;               // generate: no template
    bool format_json;       // format "json" or a schema, response_format json_object or
                            // json_schema: the reply is constrained to JSON and a hint is added
    kv_json_schema *schema; // owned: the schema given, compiled; NULL: one JSON object
    bool truncate;          // cut prompts that do not fit instead of failing
    bool b64;               // OpenAI embeddings encoding_format "base64"
    kv__sampling smp;
    int32_t n_predict;      // -1: until the context is full
    int32_t n_ctx;          // 0: the server's; else at least KV__MIN_CTX
    int32_t n_keep;         // tokens of a prompt's start that truncation keeps; -1: as
                            // many as it can; -2 (not given): BOS alone
    const char *stop[KV__MAX_STOP];
    size_t n_stop;
    bool keep_alive_set;
    double keep_alive_s;    // INFINITY: forever
} kv__req;

// Parses body as JSON and checks it against endpoint ep's fields. Malformed JSON
// is KV_ERR_FORMAT with jansson's line and column; a missing or bad field is
// KV_ERR_INVALID naming it ("field 'options.top_k': expected an integer");
// features kvant does not have (images, tools, n > 1) are KV_ERR_UNSUPPORTED.
// On success the caller frees *out with kv__req_free; on failure *out is empty.
kv_status kv__req_parse(kv__endpoint ep, const char *body, size_t len, kv__req *out,
                        kv_err *err);
void kv__req_free(kv__req *r);
// Parses JSON text with the server's limits (depth, duplicate keys refused).
kv_status kv__json_parse(const char *body, size_t len, json_t **out, kv_err *err);

// ---- stop strings ----

// Feeds piece[0..n) of generated text through the stop strings: text that can
// no longer be part of a stop string is appended to out; a suffix that may
// still become one stays in held. Returns true when a stop string appeared:
// the text before it is in out and the rest is dropped. Stop strings are
// non-empty; held grows by at most the longest of them.
bool kv__stop_feed(kv__buf *held, const char *const *stop, size_t n_stop, const char *piece,
                   size_t n, kv__buf *out, kv_status *st, kv_err *err);

// ---- calls: one HTTP request as the handlers see it ----

typedef enum { KV__API_OLLAMA, KV__API_OPENAI, KV__API_PLAIN } kv__api;

enum { KV__GET = 1, KV__POST = 2, KV__HEAD = 4, KV__DELETE = 8 };

typedef struct kv__job kv__job;
typedef struct kv__registry kv__registry;

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
    // ...or a job the HTTP layer streams or waits for.
    kv__job *job;
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

// ---- access control and audit (auth.c) ----

enum { KV__RIGHT_PUBLIC, KV__RIGHT_VIEWER, KV__RIGHT_USER, KV__RIGHT_OPERATOR, KV__RIGHT_ADMIN };
#define KV__MAX_TOKEN 256   // bytes in a bearer token we look at
#define KV__WHO_MAX 72      // a key's name and its NUL, with room

// The role path needs (KV__RIGHT_*); paths no table entry names need admin.
int kv__path_right(const char *path);
// The key check, before routing: 0 when the request may go on (who gets the
// key's name, or "-" with no auth); 401 (no, unknown or revoked key) or 403 (the
// key's role lacks the path's right) with msg for the reply.
unsigned kv__auth_check(const kv_serve *s, const char *path, const char *authorization,
                        char *who, size_t who_cap, char *msg, size_t msg_cap);
// Whether requests to path are audited: an audit hook is set and the path
// generates or changes state (needs user or above).
bool kv__audited(const kv_serve *s, const char *path);
// Hands the audit hook c's record with status; j (may be NULL) gives the model and
// token counts.
kv_status kv__audit_call(const kv_serve *s, const kv__call *c, const char *who,
                         const char *client, unsigned status, kv__job *j, kv_err *err);

// ---- handlers (api_*.c, ui.c) ----

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
kv_status kv__h_ui(kv__call *c, kv_err *err);          // GET /ui and /ui/{file}

// ---- metrics ----

#define KV__HIST_MAX_BUCKETS 16

typedef struct {
    int n_bounds;
    double bounds[KV__HIST_MAX_BUCKETS]; // upper bounds, increasing; +Inf is implied
    uint64_t counts[KV__HIST_MAX_BUCKETS + 1];
    double sum;
    uint64_t count;
} kv__hist;

#define KV__MAX_STATUS_CODES 32

// Why a generation request ended, as counted by kvant_requests_finished_total.
typedef enum {
    KV__FIN_STOP,   // an end-of-generation token, a stop string, or a closed JSON reply
    KV__FIN_LENGTH, // num_predict / max_tokens, or the context was full
    KV__FIN_ABORT,  // the client went away
    KV__FIN_ERROR,  // any other failure (timeout, shutdown, KV cache full, ...)
    KV__FIN_COUNT,
} kv__finish;

// One model's series (label model="name"). Entries are created on a model's
// first request and live as long as the metrics, so jobs and schedulers may
// keep a pointer; every field is under the metrics' mu.
typedef struct {
    char name[KV__MAX_NAME + 16];
    uint64_t prompt_tokens;
    uint64_t cached_tokens;   // prompt tokens whose cells were reused from a cached prefix
    uint64_t generated_tokens;
    uint64_t finished[KV__FIN_COUNT];
    double kv_usage;          // KV cache blocks in use / blocks the cache may hold
    kv__hist e2e;             // arrival to the end of the reply, seconds
    kv__hist queue;           // submitted to the scheduler until it took a slot
    kv__hist prefill;         // slot to first token
    kv__hist decode;          // first token to last
    kv__hist ttft;            // arrival to the first generated token
    kv__hist tpot;            // a request's decode time / (generated tokens - 1)
    kv__hist itl;             // between consecutive generated tokens
    kv__hist prompt_len;      // prompt tokens of a request
    kv__hist gen_len;         // generated tokens of a request
} kv__model_stats;

// Models with their own series; requests for more share no series (they are
// only counted in the server-wide ones).
#define KV__METRICS_MAX_MODELS KV_SERVE_MAX_MODELS

typedef struct {
    pthread_mutex_t mu;
    kv__hist batch_size;  // sequences in one decode step, over all models
    unsigned status_codes[KV__MAX_STATUS_CODES];
    uint64_t status_counts[KV__MAX_STATUS_CODES];
    int n_status;
    kv__model_stats **models;
    int n_models;
    int cap_models;
} kv__metrics;

// Gauges that are read from the schedulers when metrics are rendered.
typedef struct {
    int64_t running;
    int64_t waiting;
    int64_t kv_blocks;       // KV cache blocks in use
    int64_t kv_blocks_max;   // blocks the caches may hold
    int64_t kv_size;         // bytes allocated for blocks
    int64_t models_loaded;
} kv__gauges;

// The process as Prometheus' client libraries export it (process_* series),
// read from /proc/self; a field that cannot be read is negative.
typedef struct {
    double cpu_s;          // user + system CPU seconds
    double rss_bytes;
    double vsize_bytes;
    double open_fds;
    double max_fds;        // the soft RLIMIT_NOFILE
    double start_time_s;   // since the epoch
} kv__proc_stats;

void kv__proc_stats_read(kv__proc_stats *out);

void kv__metrics_init(kv__metrics *m);
void kv__metrics_destroy(kv__metrics *m);
void kv__hist_init(kv__hist *h, const double *bounds, int n_bounds);
void kv__hist_observe(kv__hist *h, double v);
// The series of model name, created on first use; NULL when out of memory or
// past KV__METRICS_MAX_MODELS. The functions below take such a pointer and do
// nothing for NULL. These lock m and may be called from any thread.
kv__model_stats *kv__metrics_model(kv__metrics *m, const char *name);
void kv__metrics_request(kv__metrics *m, unsigned http_status);
void kv__metrics_tokens(kv__metrics *m, kv__model_stats *ms, uint64_t n_prompt,
                        uint64_t n_generated);
void kv__metrics_cached(kv__metrics *m, kv__model_stats *ms, uint64_t n_cached);
void kv__metrics_ttft(kv__metrics *m, kv__model_stats *ms, double s);
void kv__metrics_itl(kv__metrics *m, kv__model_stats *ms, double s);
void kv__metrics_kv_usage(kv__metrics *m, kv__model_stats *ms, double fraction);
void kv__metrics_batch(kv__metrics *m, int n_seqs);
// Appends the Prometheus text exposition (version 0.0.4) of m and g to out.
kv_status kv__metrics_render(kv__metrics *m, const kv__gauges *g, kv__buf *out, kv_err *err);

// ---- models and their schedulers ----

typedef struct kv__model_ent kv__model_ent;
typedef struct kv__sched kv__sched;

// What one file says about itself, for /api/tags, /api/show and /v1/models.
typedef struct {
    char family[32];         // general.architecture
    char quant[32];          // general.file_type's name ("Q8_0"), or ""
    char param_size[16];     // "6.8M"
    uint64_t n_params;
    int64_t n_ctx_train;
    int64_t n_embd;
    char tmpl_name[16];      // the chat template family in use
} kv__model_info;

// The registry: every model the server knows (configured and found in the
// models folder) and the ones loaded. Thread-safe.
kv_status kv__registry_new(const kv_serve_params *p, kv__metrics *metrics, kv__registry **out,
                           kv_err *err);
// Ends every running job with an error, unloads everything and frees. Accepts NULL.
void kv__registry_free(kv__registry *r);
// Stops the schedulers: queued and running jobs end with "server is shutting down".
void kv__registry_shutdown(kv__registry *r);

// The entry called name (a name without a tag means ":latest"), looking in the
// models folder again when it is unknown; NULL when there is none.
kv__model_ent *kv__registry_find(kv__registry *r, const char *name);
// Loads e if needed and takes a reference that keeps it loaded. keep_alive_s
// (0: at once; negative or INFINITY: never) is how long it stays loaded after
// the last reference goes; as in Ollama, the latest request's value counts.
// *load_s is the time this call spent loading (0 when it was in memory).
kv_status kv__registry_acquire(kv__registry *r, kv__model_ent *e, double keep_alive_s,
                               double *load_s, kv_err *err);
// Drops a reference taken by kv__registry_acquire.
void kv__registry_release(kv__registry *r, kv__model_ent *e);

const char *kv__ent_name(const kv__model_ent *e);
const char *kv__ent_path(const kv__model_ent *e);
// Reads the file's metadata (cached after the first call). KV_ERR_* as kv_gguf_open.
kv_status kv__ent_info(kv__registry *r, kv__model_ent *e, kv__model_info *out, kv_err *err);
// The entry's scheduler; valid while a reference is held (kv__registry_acquire).
kv__sched *kv__ent_sched(kv__model_ent *e);

// Calls fn for each entry (from a snapshot; fn may call kv__ent_info). loaded:
// in memory; expires: wall-clock seconds when it unloads (INFINITY: never, or
// in use); size: file bytes; mtime: wall seconds. rescan looks in the models
// folder for new files first.
typedef void (*kv__ent_fn)(void *user, kv__model_ent *e, bool loaded, double expires,
                           uint64_t size, double mtime);
void kv__registry_each(kv__registry *r, bool rescan, kv__ent_fn fn, void *user);
// Gauges over all loaded models' schedulers.
void kv__registry_gauges(kv__registry *r, kv__gauges *g);

// ---- jobs ----

typedef struct {
    int32_t n_prompt;        // prompt tokens (all inputs, for embeddings)
    int32_t n_cached;        // of those, reused from a cached prefix
    int32_t n_gen;           // tokens generated
    double load_s;           // loading the model for this request
    double queue_s;          // from submission to taking a slot; < 0: it never took one
    double prompt_s;         // from taking a slot to the first token
    double gen_s;            // from the first token to the last
    double total_s;          // from arrival to done
    const char *done_reason; // "stop" or "length"
} kv__job_stats;

// Counts a finished generation request of model ms (may be NULL) with its
// times and lengths: why it ended, end-to-end latency, queue, prefill and
// decode time, time per output token, prompt and generated tokens.
void kv__metrics_finished(kv__metrics *m, kv__model_stats *ms, const kv__job_stats *st,
                          kv__finish why);

// Turns a job's output into response bytes (api_*.c). Streaming replies call it
// with each piece of new text (final false), then once with final true for the
// last line(s); non-streaming replies call it once, final true, with all text.
// When j->st is not KV_OK the final call writes the API's error instead.
typedef kv_status (*kv__job_fmt)(kv__job *j, const char *text, size_t n, bool final,
                                 kv__buf *out, kv_err *err);

typedef enum { KV__JOB_GENERATE, KV__JOB_EMBED } kv__job_kind;

// A request handed to a model's scheduler, shared by the scheduler and the HTTP
// side (refs counts both); freed by the last kv__job_unref.
struct kv__job {
    // Set before it is submitted, read-only afterwards.
    kv_serve *srv;
    kv__job_kind kind;
    kv__req req;
    kv__api api;
    kv__job_fmt fmt;
    const char *ctype;       // of a streaming reply
    kv__model_ent *ent;      // acquired; released by kv__job_unref
    char id[48];             // "chatcmpl-..." for OpenAI
    double created;          // wall clock, seconds
    double t_start;          // arrival, kv__now()
    double t_queued;         // handed to the scheduler, kv__now()
    kv__model_stats *ms;     // the model's metrics; may be NULL
    double deadline;         // kv__now() limit; 0: none
    int32_t *tokens;         // the prompt (generation) or all inputs one after another
    int32_t n_tokens;
    int32_t *input_off;      // embeddings: input i is tokens[input_off[i]..input_off[i+1])
    int32_t n_inputs;
    // Shared, under mu.
    pthread_mutex_t mu;
    int refs;
    bool running;            // holds a sequence slot
    bool done;
    bool cancelled;          // the client went away, or the server is stopping
    kv_status st;            // KV_OK, or why the job failed
    unsigned http_status;    // for a failure: the reply's status
    char msg[KV_ERR_MSG_SIZE];
    kv__buf text;            // generated text not yet taken by the HTTP side
    kv__job_stats stats;
    float *embd;             // n_inputs x n_embd, normalised
    int32_t n_embd;
    void (*wake)(kv__job *j);   // called (under mu) when text arrives or the job ends
    bool (*alive)(kv__job *j);  // under mu: false when the client is known to be gone
    void *conn;              // the HTTP connection while it may be suspended
    int fd;                  // its socket, -1 when unknown
    bool suspended;
    // The HTTP side's own (one thread at a time).
    kv__buf outbox;
    bool final_done;
    bool sent_any;           // a stream chunk went out (OpenAI's first carries the role)
    kv__job *live_prev, *live_next; // the server's list of jobs (under srv->live_mu)
};

// A job for call c and request req (taken over: req is emptied), holding model e
// (acquired by the caller; the job releases it). refs starts at 1.
kv_status kv__job_new(kv__call *c, kv__job_kind kind, kv__req *req, kv__model_ent *e,
                      double load_s, kv__job **out, kv_err *err);
void kv__job_ref(kv__job *j);
void kv__job_unref(kv__job *j); // accepts NULL
// Ends j (under j->mu): sets done and wakes the HTTP side. A failure st with
// its message and HTTP status is recorded when st != KV_OK.
void kv__job_finish_locked(kv__job *j, kv_status st, unsigned http_status, const char *msg);

// ---- schedulers: one per loaded model ----

typedef struct {
    int32_t n_parallel;  // sequences decoded together
    int32_t n_ctx;       // per sequence; 0: min(model's, 4096)
    int64_t n_kv_cells;  // KV cache cells over all sequences; 0: n_parallel * n_ctx
    int32_t n_threads;   // 0: online CPUs
    int32_t queue_max;   // jobs waiting beyond the free slots
    kv_chat_tmpl tmpl;   // chat template family
    bool tmpl_set;       // false: detect from tokenizer.chat_template
} kv__sched_params;

// Loads the model at path (mapped), its vocabulary and a context with one
// sequence per parallel slot, and starts the scheduling thread: each step runs
// one decode over every active sequence (new prompts join in chunks, finished
// ones leave), reusing cached prefixes of earlier prompts. A job is taken from
// the queue only when the KV cache has free blocks for its prompt (cached
// prompts of finished jobs are dropped to make room). Errors as kv_model_open
// and kv_ctx_new.
kv_status kv__sched_new(const char *path, const kv__sched_params *p, kv__metrics *metrics,
                        kv__sched **out, kv_err *err);
// Ends queued and running jobs with "server is shutting down" and joins the thread.
void kv__sched_shutdown(kv__sched *s);
void kv__sched_free(kv__sched *s); // shuts down first; accepts NULL

// The formatter for an endpoint's replies (api_format.c).
kv__job_fmt kv__fmt_for(kv__endpoint ep);

// Queues j on scheduler s (taking a reference). KV_ERR_LIMIT when the queue is
// full (*retry_after: seconds a client should wait) or when j's prompt needs
// more KV cache blocks than the whole cache has; KV_ERR_IO when stopping.
kv_status kv__sched_submit(kv__sched *s, kv__job *j, int *retry_after, kv_err *err);

// Read-only views, valid as long as s.
const kv_vocab *kv__sched_vocab(const kv__sched *s);
const kv_model *kv__sched_model(const kv__sched *s);
kv_chat_tmpl kv__sched_tmpl(const kv__sched *s);
// The model's own chat template (tokenizer.chat_template) when it parses and no
// --template overrides it; NULL otherwise.
const kv_jinja *kv__sched_jinja(const kv__sched *s);
int32_t kv__sched_n_ctx(const kv__sched *s);
// Adds s's running and waiting jobs and its KV cache blocks and bytes to g.
void kv__sched_gauges(kv__sched *s, kv__gauges *g);

// ---- embeddings ----

typedef struct kv__embedder kv__embedder;

// A context of one sequence over m that keeps final hidden states, sharing the
// thread pool (borrowed). n_ctx caps the tokens of one input.
kv_status kv__embedder_new(const kv_model *m, int32_t n_ctx, kv_threadpool *pool,
                           kv__embedder **out, kv_err *err);
void kv__embedder_free(kv__embedder *e); // accepts NULL
// The mean over tokens[0..n) of the final hidden state (after the output norm),
// scaled to unit length, into out (n_embd floats). KV_ERR_LIMIT over n_ctx.
kv_status kv__embed_tokens(kv__embedder *e, const int32_t *tokens, int32_t n, float *out,
                           kv_err *err);

// ---- the server ----

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

// The HTTP side's hooks for jobs (http.c).
void kv__http_wake(kv__job *j);
bool kv__http_alive(kv__job *j);
// Starts and stops libmicrohttpd for s.
kv_status kv__http_start(kv_serve *s, kv_err *err);
void kv__http_stop(kv_serve *s);
// Stops accepting connections; requests on open ones get 503 and a close.
void kv__http_quiesce(kv_serve *s);

// ---- embedded files (the web page), generated from src/serve/ui/ ----

typedef struct {
    const char *name;
    const unsigned char *data;
    size_t size;
} kv__serve_file;

extern const kv__serve_file kv__serve_files[]; // ends with a NULL name

#endif
