// Metrics (metrics.c, metrics_proc.c): Prometheus counters, gauges and
// histograms, server-wide and per model, and the process' own series.
#ifndef KV_SERVE_METRICS_INT_H
#define KV_SERVE_METRICS_INT_H

#include <pthread.h>
#include <stdint.h>

#include "kvant/kv_serve.h"
#include "kvant/kv_status.h"
#include "serve/buf_int.h"
#include "serve/request_int.h" // KV__MAX_NAME

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
    uint64_t spec_drafts;     // speculative decoding: steps that checked guesses
    uint64_t spec_draft_tokens;    // tokens guessed (n-gram lookup or a draft model)
    uint64_t spec_accepted_tokens; // of those, kept by the target's check
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
// A step that checked n_drafted guesses of a request, n_accepted of them kept.
void kv__metrics_spec(kv__metrics *m, kv__model_stats *ms, uint64_t n_drafted,
                      uint64_t n_accepted);
void kv__metrics_ttft(kv__metrics *m, kv__model_stats *ms, double s);
void kv__metrics_itl(kv__metrics *m, kv__model_stats *ms, double s);
void kv__metrics_kv_usage(kv__metrics *m, kv__model_stats *ms, double fraction);
void kv__metrics_batch(kv__metrics *m, int n_seqs);
// Appends the Prometheus text exposition (version 0.0.4) of m and g to out.
kv_status kv__metrics_render(kv__metrics *m, const kv__gauges *g, kv__buf *out, kv_err *err);

// A job's times and lengths (kv__job's stats), as kv__metrics_finished counts them.
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
    int32_t n_drafted;       // speculative decoding (lookup or draft model): tokens guessed
    int32_t n_accepted;      // of those, kept
    bool spec;               // speculative decoding was on (lookup or a draft model)
} kv__job_stats;

// Counts a finished generation request of model ms (may be NULL) with its
// times and lengths: why it ended, end-to-end latency, queue, prefill and
// decode time, time per output token, prompt and generated tokens.
void kv__metrics_finished(kv__metrics *m, kv__model_stats *ms, const kv__job_stats *st,
                          kv__finish why);

#endif
