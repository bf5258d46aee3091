// Server metrics: counters and histograms updated by the schedulers, the jobs
// and the HTTP layer, rendered in Prometheus' text exposition format (version
// 0.0.4). Names start with kvant_ (a colon is reserved for recording rules);
// series of one model carry a model="name" label. Gauges over all models
// (running, waiting, KV blocks) are read from the schedulers at render time,
// the process_* series from /proc/self (metrics_proc.c).
#include "serve/buf_int.h"
#include "serve/metrics_int.h"
#include "serve/request_int.h"

#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "kvant/kv_model.h"


static const double TTFT_BOUNDS[] = {0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60};
static const double ITL_BOUNDS[] = {0.001, 0.0025, 0.005, 0.01, 0.025, 0.05,
                                    0.1,   0.25,   0.5,   1,    2.5};
static const double BATCH_BOUNDS[] = {1, 2, 4, 8, 16, 32, 64, 128, 256};
// Whole requests: from milliseconds (the demo model) to the default --timeout.
static const double LATENCY_BOUNDS[] = {0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1,   2.5,
                                        5,    10,    20,   30,  60,   120, 300, 600};
// Parts of a request (queue, prefill).
static const double PART_BOUNDS[] = {0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25,
                                     0.5,   1,      2.5,   5,    10,    30,   60,  600};
// Token counts, 1-2-5 steps as vLLM's.
static const double LEN_BOUNDS[] = {1,    2,    5,    10,    20,    50,    100,   200,
                                    500,  1000, 2000, 5000, 10000, 20000, 50000, 100000};

#define N_OF(a) ((int)(sizeof(a) / sizeof((a)[0])))

static const char *const FINISH_NAMES[KV__FIN_COUNT] = {"stop", "length", "abort", "error"};

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
    kv__hist_init(&m->batch_size, BATCH_BOUNDS, N_OF(BATCH_BOUNDS));
}

void kv__metrics_destroy(kv__metrics *m) {
    for (int i = 0; i < m->n_models; i++)
        free(m->models[i]);
    free(m->models);
    m->models = NULL;
    m->n_models = m->cap_models = 0;
    pthread_mutex_destroy(&m->mu);
}

static kv__model_stats *model_new(const char *name) {
    kv__model_stats *ms = calloc(1, sizeof *ms);
    if (!ms)
        return NULL;
    snprintf(ms->name, sizeof ms->name, "%s", name);
    kv__hist_init(&ms->e2e, LATENCY_BOUNDS, N_OF(LATENCY_BOUNDS));
    kv__hist_init(&ms->queue, PART_BOUNDS, N_OF(PART_BOUNDS));
    kv__hist_init(&ms->prefill, PART_BOUNDS, N_OF(PART_BOUNDS));
    kv__hist_init(&ms->decode, LATENCY_BOUNDS, N_OF(LATENCY_BOUNDS));
    kv__hist_init(&ms->ttft, TTFT_BOUNDS, N_OF(TTFT_BOUNDS));
    kv__hist_init(&ms->tpot, ITL_BOUNDS, N_OF(ITL_BOUNDS));
    kv__hist_init(&ms->itl, ITL_BOUNDS, N_OF(ITL_BOUNDS));
    kv__hist_init(&ms->prompt_len, LEN_BOUNDS, N_OF(LEN_BOUNDS));
    kv__hist_init(&ms->gen_len, LEN_BOUNDS, N_OF(LEN_BOUNDS));
    return ms;
}

kv__model_stats *kv__metrics_model(kv__metrics *m, const char *name) {
    kv__model_stats *ms = NULL;
    pthread_mutex_lock(&m->mu);
    for (int i = 0; i < m->n_models && !ms; i++)
        if (strcmp(m->models[i]->name, name) == 0)
            ms = m->models[i];
    if (!ms && m->n_models < KV__METRICS_MAX_MODELS) {
        if (m->n_models == m->cap_models) {
            int cap = m->cap_models ? m->cap_models * 2 : 4;
            kv__model_stats **p = realloc(m->models, (size_t)cap * sizeof *p);
            if (p) {
                m->models = p;
                m->cap_models = cap;
            }
        }
        if (m->n_models < m->cap_models && (ms = model_new(name)) != NULL)
            m->models[m->n_models++] = ms;
    }
    pthread_mutex_unlock(&m->mu);
    return ms;
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

void kv__metrics_tokens(kv__metrics *m, kv__model_stats *ms, uint64_t n_prompt,
                        uint64_t n_generated) {
    if (!ms)
        return;
    pthread_mutex_lock(&m->mu);
    ms->prompt_tokens += n_prompt;
    ms->generated_tokens += n_generated;
    pthread_mutex_unlock(&m->mu);
}

void kv__metrics_cached(kv__metrics *m, kv__model_stats *ms, uint64_t n_cached) {
    if (!ms)
        return;
    pthread_mutex_lock(&m->mu);
    ms->cached_tokens += n_cached;
    pthread_mutex_unlock(&m->mu);
}

void kv__metrics_spec(kv__metrics *m, kv__model_stats *ms, uint64_t n_drafted,
                      uint64_t n_accepted) {
    if (!ms)
        return;
    pthread_mutex_lock(&m->mu);
    ms->spec_drafts++;
    ms->spec_draft_tokens += n_drafted;
    ms->spec_accepted_tokens += n_accepted;
    pthread_mutex_unlock(&m->mu);
}

void kv__metrics_ttft(kv__metrics *m, kv__model_stats *ms, double s) {
    if (!ms)
        return;
    pthread_mutex_lock(&m->mu);
    kv__hist_observe(&ms->ttft, s);
    pthread_mutex_unlock(&m->mu);
}

void kv__metrics_itl(kv__metrics *m, kv__model_stats *ms, double s) {
    if (!ms)
        return;
    pthread_mutex_lock(&m->mu);
    kv__hist_observe(&ms->itl, s);
    pthread_mutex_unlock(&m->mu);
}

void kv__metrics_kv_usage(kv__metrics *m, kv__model_stats *ms, double fraction) {
    if (!ms)
        return;
    pthread_mutex_lock(&m->mu);
    ms->kv_usage = fraction < 0 ? 0 : fraction > 1 ? 1 : fraction;
    pthread_mutex_unlock(&m->mu);
}

void kv__metrics_batch(kv__metrics *m, int n_seqs) {
    pthread_mutex_lock(&m->mu);
    kv__hist_observe(&m->batch_size, n_seqs);
    pthread_mutex_unlock(&m->mu);
}

void kv__metrics_finished(kv__metrics *m, kv__model_stats *ms, const kv__job_stats *st,
                          kv__finish why) {
    if (!ms || why < 0 || why >= KV__FIN_COUNT)
        return;
    pthread_mutex_lock(&m->mu);
    ms->finished[why]++;
    kv__hist_observe(&ms->e2e, st->total_s);
    kv__hist_observe(&ms->prompt_len, st->n_prompt);
    kv__hist_observe(&ms->gen_len, st->n_gen);
    if (st->queue_s >= 0) { // it took a slot: it was queued, then read its prompt
        kv__hist_observe(&ms->queue, st->queue_s);
        kv__hist_observe(&ms->prefill, st->prompt_s);
    }
    if (st->n_gen > 0)
        kv__hist_observe(&ms->decode, st->gen_s);
    if (st->n_gen > 1)
        kv__hist_observe(&ms->tpot, st->gen_s / (st->n_gen - 1));
    pthread_mutex_unlock(&m->mu);
}

// ---- text exposition ----

static kv_status head(kv__buf *o, const char *name, const char *type, const char *help,
                      kv_err *err) {
    char line[640];
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

// A label value with backslash, double quote and newline escaped, as the
// format asks; cut to fit out.
static void label_value(const char *s, char *out, size_t cap) {
    size_t n = 0;
    for (; *s && n + 3 < cap; s++) {
        if (*s == '\\' || *s == '"') {
            out[n++] = '\\';
            out[n++] = *s;
        } else if (*s == '\n') {
            out[n++] = '\\';
            out[n++] = 'n';
        } else {
            out[n++] = *s;
        }
    }
    out[n] = '\0';
}

// `model="name"` for ms, or "" for server-wide series.
typedef struct {
    char text[2 * (KV__MAX_NAME + 16) + 16];
} labels;

static labels model_label(const kv__model_stats *ms) {
    labels l = {{0}};
    if (ms) {
        char v[sizeof l.text - 16];
        label_value(ms->name, v, sizeof v);
        snprintf(l.text, sizeof l.text, "model=\"%s\"", v);
    }
    return l;
}

// The samples of one histogram with labels lb ("" or `k="v"`).
static kv_status hist_samples(kv__buf *o, const char *name, const char *lb, const kv__hist *h,
                              kv_err *err) {
    char line[1024];
    const char *sep = *lb ? "," : "";
    kv_status st = KV_OK;
    uint64_t cum = 0;
    for (int i = 0; st == KV_OK && i <= h->n_bounds; i++) {
        cum += h->counts[i];
        char le[32];
        if (i < h->n_bounds)
            snprintf(le, sizeof le, "%g", h->bounds[i]);
        else
            snprintf(le, sizeof le, "+Inf");
        snprintf(line, sizeof line, "%s_bucket{%s%sle=\"%s\"} %llu\n", name, lb, sep, le,
                 (unsigned long long)cum);
        st = kv__buf_adds(o, line, err);
    }
    const char *open = *lb ? "{" : "", *close = *lb ? "}" : "";
    snprintf(line, sizeof line, "%s_sum%s%s%s %.17g\n%s_count%s%s%s %llu\n", name, open, lb, close,
             h->sum, name, open, lb, close, (unsigned long long)h->count);
    if (st == KV_OK)
        st = kv__buf_adds(o, line, err);
    return st;
}

// A per-model family: which field of kv__model_stats, and how to print it.
typedef enum { F_HIST, F_COUNTER, F_GAUGE } field_kind;

typedef struct {
    const char *name;
    field_kind kind;
    const char *help;
    size_t off; // of the kv__hist, uint64_t or double in kv__model_stats
} model_family;

#define OFF(f) offsetof(kv__model_stats, f)

static const model_family MODEL_FAMILIES[] = {
    {"kvant_prompt_tokens_total", F_COUNTER, "Prompt tokens received.", OFF(prompt_tokens)},
    {"kvant_prompt_tokens_cached_total", F_COUNTER,
     "Prompt tokens taken from a cached prefix instead of being decoded.", OFF(cached_tokens)},
    {"kvant_generated_tokens_total", F_COUNTER, "Tokens generated.", OFF(generated_tokens)},
    // vLLM's spec_decode_* counters, under kvant's prefix: acceptance rate is
    // accepted / draft tokens
    {"kvant_spec_decode_num_drafts_total", F_COUNTER,
     "Decode steps of a request that checked speculative guesses.", OFF(spec_drafts)},
    {"kvant_spec_decode_num_draft_tokens_total", F_COUNTER,
     "Tokens guessed by speculative decoding (n-gram lookup or a draft model).",
     OFF(spec_draft_tokens)},
    {"kvant_spec_decode_num_accepted_tokens_total", F_COUNTER,
     "Guessed tokens the target model's check kept.", OFF(spec_accepted_tokens)},
    {"kvant_kv_cache_usage_perc", F_GAUGE,
     "Fraction (0 to 1) of the model's KV cache blocks in use, by running requests or by cached "
     "prompts (those are dropped when room is needed).",
     OFF(kv_usage)},
    {"kvant_e2e_request_latency_seconds", F_HIST,
     "Seconds from a generation request's arrival to its end (loading, queue, prefill, decode).",
     OFF(e2e)},
    {"kvant_request_queue_time_seconds", F_HIST,
     "Seconds a generation request waited in the model's queue for a sequence slot.", OFF(queue)},
    {"kvant_request_prefill_time_seconds", F_HIST,
     "Seconds from taking a slot to the first generated token (reading the prompt).",
     OFF(prefill)},
    {"kvant_request_decode_time_seconds", F_HIST,
     "Seconds from a request's first generated token to its last.", OFF(decode)},
    {"kvant_time_to_first_token_seconds", F_HIST,
     "Seconds from a request's arrival to its first generated token.", OFF(ttft)},
    {"kvant_request_time_per_output_token_seconds", F_HIST,
     "A request's decode time over its generated tokens after the first.", OFF(tpot)},
    {"kvant_inter_token_latency_seconds", F_HIST,
     "Seconds between consecutive generated tokens of a request.", OFF(itl)},
    {"kvant_request_prompt_tokens", F_HIST, "Prompt tokens of a generation request.",
     OFF(prompt_len)},
    {"kvant_request_generation_tokens", F_HIST, "Tokens generated for a request.", OFF(gen_len)},
};

static kv_status model_family_render(kv__buf *o, const model_family *f, kv__model_stats *const *ms,
                                     int n, kv_err *err) {
    static const char *const TYPES[] = {"histogram", "counter", "gauge"};
    kv_status st = head(o, f->name, TYPES[f->kind], f->help, err);
    for (int i = 0; st == KV_OK && i < n; i++) {
        labels lb = model_label(ms[i]);
        const char *p = (const char *)ms[i] + f->off;
        char line[1024];
        if (f->kind == F_HIST) {
            st = hist_samples(o, f->name, lb.text, (const kv__hist *)(const void *)p, err);
            continue;
        }
        if (f->kind == F_COUNTER) {
            uint64_t v;
            memcpy(&v, p, sizeof v);
            snprintf(line, sizeof line, "%s{%s} %llu\n", f->name, lb.text, (unsigned long long)v);
        } else {
            double v;
            memcpy(&v, p, sizeof v);
            snprintf(line, sizeof line, "%s{%s} %.17g\n", f->name, lb.text, v);
        }
        st = kv__buf_adds(o, line, err);
    }
    return st;
}

static kv_status finished_render(kv__buf *o, kv__model_stats *const *ms, int n, kv_err *err) {
    kv_status st = head(o, "kvant_requests_finished_total", "counter",
                        "Generation requests that ended, by model and reason: stop, length, "
                        "abort (the client went away) or error.",
                        err);
    for (int i = 0; st == KV_OK && i < n; i++) {
        labels lb = model_label(ms[i]);
        for (int r = 0; st == KV_OK && r < KV__FIN_COUNT; r++) {
            char line[1024];
            snprintf(line, sizeof line,
                     "kvant_requests_finished_total{%s,finished_reason=\"%s\"} %llu\n", lb.text,
                     FINISH_NAMES[r], (unsigned long long)ms[i]->finished[r]);
            st = kv__buf_adds(o, line, err);
        }
    }
    return st;
}

static kv_status statuses(kv__buf *o, const unsigned *codes, const uint64_t *counts, int n,
                          kv_err *err) {
    kv_status st =
        head(o, "kvant_requests_total", "counter", "HTTP requests answered, by status code.", err);
    for (int i = 0; st == KV_OK && i < n; i++) {
        char line[128];
        snprintf(line, sizeof line, "kvant_requests_total{status=\"%u\"} %llu\n", codes[i],
                 (unsigned long long)counts[i]);
        st = kv__buf_adds(o, line, err);
    }
    return st;
}

static kv_status build_info(kv__buf *o, kv_err *err) {
    char v[64], k[64], line[256];
    label_value(KV_VERSION, v, sizeof v);
    label_value(kv_model_kernels_name(NULL), k, sizeof k);
    kv_status st = head(o, "kvant_build_info", "gauge",
                        "Always 1; the labels say kvant's version and the kernels in use.", err);
    snprintf(line, sizeof line, "kvant_build_info{version=\"%s\",kernels=\"%s\"} 1\n", v, k);
    if (st == KV_OK)
        st = kv__buf_adds(o, line, err);
    return st;
}

static kv_status process_render(kv__buf *o, kv_err *err) {
    kv__proc_stats p;
    kv__proc_stats_read(&p);
    const struct {
        const char *name, *type, *help;
        double v;
    } S[] = {
        {"process_cpu_seconds_total", "counter", "Total user and system CPU time spent in seconds.",
         p.cpu_s},
        {"process_resident_memory_bytes", "gauge", "Resident memory size in bytes.", p.rss_bytes},
        {"process_virtual_memory_bytes", "gauge", "Virtual memory size in bytes.", p.vsize_bytes},
        {"process_open_fds", "gauge", "Number of open file descriptors.", p.open_fds},
        {"process_max_fds", "gauge", "Maximum number of open file descriptors.", p.max_fds},
        {"process_start_time_seconds", "gauge",
         "Start time of the process since unix epoch in seconds.", p.start_time_s},
    };
    kv_status st = KV_OK;
    for (int i = 0; st == KV_OK && i < N_OF(S); i++)
        if (S[i].v >= 0) // left out when /proc could not say
            st = scalar(o, S[i].name, S[i].type, S[i].help, S[i].v, err);
    return st;
}

static kv_status gauges_render(kv__buf *o, const kv__gauges *g, kv_err *err) {
    const struct {
        const char *name, *help;
        int64_t v;
    } S[] = {
        {"kvant_requests_running",
         "Requests that hold a sequence slot (prompt or generation), over all models.", g->running},
        {"kvant_requests_waiting", "Requests waiting in the models' queues.", g->waiting},
        {"kvant_models_loaded", "Models in memory.", g->models_loaded},
        {"kvant_kv_blocks_in_use",
         "KV cache blocks of 16 cells that hold tokens of running requests or of cached prompts "
         "(dropped when room is needed), over the loaded models.",
         g->kv_blocks},
        {"kvant_kv_blocks_total",
         "KV cache blocks of 16 cells the loaded models may hold (--kv-cells / 16).",
         g->kv_blocks_max},
        {"kvant_kv_bytes", "Bytes allocated for KV cache blocks; they stay allocated for reuse.",
         g->kv_size},
    };
    kv_status st = KV_OK;
    for (int i = 0; st == KV_OK && i < N_OF(S); i++)
        st = scalar(o, S[i].name, "gauge", S[i].help, (double)S[i].v, err);
    return st;
}

kv_status kv__metrics_render(kv__metrics *m, const kv__gauges *g, kv__buf *out, kv_err *err) {
    // A consistent copy, taken under the lock; rendering happens unlocked.
    kv__hist batch;
    unsigned codes[KV__MAX_STATUS_CODES];
    uint64_t counts[KV__MAX_STATUS_CODES];
    pthread_mutex_lock(&m->mu);
    int n_status = m->n_status, n = m->n_models;
    batch = m->batch_size;
    memcpy(codes, m->status_codes, sizeof codes);
    memcpy(counts, m->status_counts, sizeof counts);
    kv__model_stats *copy = n ? malloc((size_t)n * sizeof *copy) : NULL;
    kv__model_stats **ms = n ? malloc((size_t)n * sizeof *ms) : NULL;
    for (int i = 0; copy && ms && i < n; i++) {
        copy[i] = *m->models[i];
        ms[i] = &copy[i];
    }
    pthread_mutex_unlock(&m->mu);
    kv_status st = KV_OK;
    if (n && (!copy || !ms))
        st = KV_FAIL(err, KV_ERR_NOMEM, "out of memory for the metrics of %d models", n);
    if (st == KV_OK)
        st = build_info(out, err);
    if (st == KV_OK)
        st = process_render(out, err);
    if (st == KV_OK)
        st = gauges_render(out, g, err);
    for (int i = 0; st == KV_OK && i < N_OF(MODEL_FAMILIES); i++)
        st = model_family_render(out, &MODEL_FAMILIES[i], ms, n, err);
    if (st == KV_OK)
        st = finished_render(out, ms, n, err);
    if (st == KV_OK)
        st = head(out, "kvant_decode_batch_size", "histogram",
                  "Sequences decoded together in one step, over all models.", err);
    if (st == KV_OK)
        st = hist_samples(out, "kvant_decode_batch_size", "", &batch, err);
    if (st == KV_OK)
        st = statuses(out, codes, counts, n_status, err);
    free(copy);
    free(ms);
    return st;
}
