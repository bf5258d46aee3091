// Server metrics: counters and histograms updated by the schedulers and the
// HTTP layer, rendered in Prometheus' text exposition format (version 0.0.4).
// Gauges (running, waiting, KV blocks) are read from the schedulers at render time.
#include "serve/serve_int.h"

#include <stdio.h>
#include <string.h>

static const double TTFT_BOUNDS[] = {0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60};
static const double ITL_BOUNDS[] = {0.001, 0.0025, 0.005, 0.01, 0.025, 0.05,
                                    0.1,   0.25,   0.5,   1,    2.5};
static const double BATCH_BOUNDS[] = {1, 2, 4, 8, 16, 32, 64, 128, 256};

#define N_OF(a) ((int)(sizeof(a) / sizeof((a)[0])))

void kv__hist_init(kv__hist *h, const double *bounds, int n_bounds) {
    memset(h, 0, sizeof *h);
    h->n_bounds = n_bounds < KV__HIST_MAX_BUCKETS ? n_bounds : KV__HIST_MAX_BUCKETS;
    memcpy(h->bounds, bounds, (size_t)h->n_bounds * sizeof *bounds);
}

void kv__hist_observe(kv__hist *h, double v) {
    int i = 0;
    while (i < h->n_bounds && v > h->bounds[i])
        i++;
    h->counts[i]++;
    h->sum += v;
    h->count++;
}

void kv__metrics_init(kv__metrics *m) {
    memset(m, 0, sizeof *m);
    pthread_mutex_init(&m->mu, NULL);
    kv__hist_init(&m->ttft, TTFT_BOUNDS, N_OF(TTFT_BOUNDS));
    kv__hist_init(&m->itl, ITL_BOUNDS, N_OF(ITL_BOUNDS));
    kv__hist_init(&m->batch_size, BATCH_BOUNDS, N_OF(BATCH_BOUNDS));
}

void kv__metrics_destroy(kv__metrics *m) {
    pthread_mutex_destroy(&m->mu);
}

void kv__metrics_request(kv__metrics *m, unsigned http_status) {
    pthread_mutex_lock(&m->mu);
    int i = 0;
    while (i < m->n_status && m->status_codes[i] != http_status)
        i++;
    if (i == m->n_status && i < KV__MAX_STATUS_CODES) {
        m->status_codes[i] = http_status;
        m->n_status++;
    }
    if (i < m->n_status)
        m->status_counts[i]++;
    pthread_mutex_unlock(&m->mu);
}

void kv__metrics_tokens(kv__metrics *m, uint64_t n_prompt, uint64_t n_generated) {
    pthread_mutex_lock(&m->mu);
    m->prompt_tokens += n_prompt;
    m->generated_tokens += n_generated;
    pthread_mutex_unlock(&m->mu);
}

void kv__metrics_cached(kv__metrics *m, uint64_t n_cached) {
    pthread_mutex_lock(&m->mu);
    m->cached_tokens += n_cached;
    pthread_mutex_unlock(&m->mu);
}

void kv__metrics_ttft(kv__metrics *m, double s) {
    pthread_mutex_lock(&m->mu);
    kv__hist_observe(&m->ttft, s);
    pthread_mutex_unlock(&m->mu);
}

void kv__metrics_itl(kv__metrics *m, double s) {
    pthread_mutex_lock(&m->mu);
    kv__hist_observe(&m->itl, s);
    pthread_mutex_unlock(&m->mu);
}

void kv__metrics_batch(kv__metrics *m, int n_seqs) {
    pthread_mutex_lock(&m->mu);
    kv__hist_observe(&m->batch_size, n_seqs);
    pthread_mutex_unlock(&m->mu);
}

// ---- text exposition ----

static kv_status head(kv__buf *o, const char *name, const char *type, const char *help,
                      kv_err *err) {
    char line[512];
    snprintf(line, sizeof line, "# HELP %s %s\n# TYPE %s %s\n", name, help, name, type);
    return kv__buf_adds(o, line, err);
}

static kv_status scalar(kv__buf *o, const char *name, const char *type, const char *help, double v,
                        kv_err *err) {
    char line[256];
    kv_status st = head(o, name, type, help, err);
    snprintf(line, sizeof line, "%s %.17g\n", name, v);
    if (st == KV_OK)
        st = kv__buf_adds(o, line, err);
    return st;
}

static kv_status hist(kv__buf *o, const char *name, const char *help, const kv__hist *h,
                      kv_err *err) {
    char line[256];
    kv_status st = head(o, name, "histogram", help, err);
    uint64_t cum = 0;
    for (int i = 0; st == KV_OK && i <= h->n_bounds; i++) {
        cum += h->counts[i];
        if (i < h->n_bounds)
            snprintf(line, sizeof line, "%s_bucket{le=\"%g\"} %llu\n", name, h->bounds[i],
                     (unsigned long long)cum);
        else
            snprintf(line, sizeof line, "%s_bucket{le=\"+Inf\"} %llu\n", name,
                     (unsigned long long)cum);
        st = kv__buf_adds(o, line, err);
    }
    snprintf(line, sizeof line, "%s_sum %.17g\n%s_count %llu\n", name, h->sum, name,
             (unsigned long long)h->count);
    if (st == KV_OK)
        st = kv__buf_adds(o, line, err);
    return st;
}

static kv_status statuses(kv__buf *o, const kv__metrics *m, kv_err *err) {
    kv_status st =
        head(o, "kvant_requests_total", "counter", "HTTP requests answered, by status code.", err);
    for (int i = 0; st == KV_OK && i < m->n_status; i++) {
        char line[128];
        snprintf(line, sizeof line, "kvant_requests_total{status=\"%u\"} %llu\n",
                 m->status_codes[i], (unsigned long long)m->status_counts[i]);
        st = kv__buf_adds(o, line, err);
    }
    return st;
}

kv_status kv__metrics_render(kv__metrics *m, const kv__gauges *g, kv__buf *out, kv_err *err) {
    pthread_mutex_lock(&m->mu);
    kv__metrics c = *m; // a consistent copy; rendering happens unlocked
    pthread_mutex_unlock(&m->mu);
    kv_status st = scalar(out, "kvant_requests_running", "gauge",
                          "Requests that hold a sequence slot (prompt or generation).",
                          (double)g->running, err);
    if (st == KV_OK)
        st = scalar(out, "kvant_requests_waiting", "gauge",
                    "Requests waiting in the models' queues.", (double)g->waiting, err);
    if (st == KV_OK)
        st = scalar(out, "kvant_models_loaded", "gauge", "Models in memory.",
                    (double)g->models_loaded, err);
    if (st == KV_OK)
        st = scalar(out, "kvant_kv_blocks_in_use", "gauge",
                    "KV cache blocks of 16 cells that hold tokens of running requests or of "
                    "cached prompts (dropped when room is needed), over the loaded models.",
                    (double)g->kv_blocks, err);
    if (st == KV_OK)
        st = scalar(out, "kvant_kv_blocks_total", "gauge",
                    "KV cache blocks of 16 cells the loaded models may hold (--kv-cells / 16).",
                    (double)g->kv_blocks_max, err);
    if (st == KV_OK)
        st = scalar(out, "kvant_kv_bytes", "gauge",
                    "Bytes allocated for KV cache blocks; they stay allocated for reuse.",
                    (double)g->kv_size, err);
    if (st == KV_OK)
        st = scalar(out, "kvant_prompt_tokens_total", "counter", "Prompt tokens received.",
                    (double)c.prompt_tokens, err);
    if (st == KV_OK)
        st = scalar(out, "kvant_prompt_tokens_cached_total", "counter",
                    "Prompt tokens taken from a cached prefix instead of being decoded.",
                    (double)c.cached_tokens, err);
    if (st == KV_OK)
        st = scalar(out, "kvant_generated_tokens_total", "counter", "Tokens generated.",
                    (double)c.generated_tokens, err);
    if (st == KV_OK)
        st = hist(out, "kvant_time_to_first_token_seconds",
                  "Seconds from a request's arrival to its first generated token.", &c.ttft, err);
    if (st == KV_OK)
        st = hist(out, "kvant_inter_token_latency_seconds",
                  "Seconds between consecutive generated tokens of a request.", &c.itl, err);
    if (st == KV_OK)
        st = hist(out, "kvant_decode_batch_size", "Sequences decoded together in one step.",
                  &c.batch_size, err);
    if (st == KV_OK)
        st = statuses(out, &c, err);
    return st;
}
