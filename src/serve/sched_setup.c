// Scheduler setup: opening the model and its context for the configured
// parallelism and KV budget, the slots and batch buffers, the thread, teardown,
// and the read-only views the API handlers use. The decode loop is in sched.c.
#define _POSIX_C_SOURCE 200809L // sysconf
#include "serve/buf_int.h"
#include "serve/embed_int.h"
#include "serve/metrics_int.h"
#include "serve/sched_impl_int.h"
#include "serve/sched_int.h"

#include <stdlib.h>
#include <unistd.h>

// ---- setup ----

static kv_status alloc_slots(kv__sched *s, kv_err *err) {
    size_t nb = (size_t)s->n_batch;
    s->slots = calloc((size_t)s->n_slots, sizeof *s->slots);
    s->q = calloc((size_t)(s->queue_max + s->n_slots), sizeof *s->q);
    s->dead = calloc((size_t)(s->queue_max + s->n_slots), sizeof *s->dead);
    s->b_tok = calloc(nb, sizeof *s->b_tok);
    s->b_pos = calloc(nb, sizeof *s->b_pos);
    s->b_seq = calloc(nb, sizeof *s->b_seq);
    s->b_out = calloc(nb, sizeof *s->b_out);
    if (!s->slots || !s->q || !s->dead || !s->b_tok || !s->b_pos || !s->b_seq || !s->b_out)
        return KV_FAIL(err, KV_ERR_NOMEM, "out of memory for %d slots", s->n_slots);
    for (int32_t i = 0; i < s->n_slots; i++) {
        s->slots[i].seq = i;
        s->slots[i].cache = calloc((size_t)s->n_ctx, sizeof(int32_t));
        if (!s->slots[i].cache)
            return KV_FAIL(err, KV_ERR_NOMEM, "out of memory for slot %d's token list", i);
    }
    return KV_OK;
}

static kv_status open_model(kv__sched *s, const char *path, const kv__sched_params *p,
                            kv_err *err) {
    kv_status st = kv_model_open(path, &s->model, err);
    if (st == KV_OK)
        st = kv_vocab_from_gguf(kv_model_gguf(s->model), &s->vocab, err);
    if (st != KV_OK)
        return st;
    int64_t train = kv_model_hparams(s->model)->n_ctx_train;
    s->n_ctx = p->n_ctx > 0 ? p->n_ctx
                            : (train > 0 && train < DEFAULT_N_CTX ? (int32_t)train : DEFAULT_N_CTX);
    if (!kv_model_hparams(s->model)->causal_attn && s->n_ctx > train) // bert: its positions
        s->n_ctx = (int32_t)train;
    int n_threads = 0;
    st = kv_threads_resolve(p->n_threads, "--threads", &n_threads, err);
    if (st == KV_OK)
        st = kv_threadpool_new(n_threads, &s->pool, err);
    if (st != KV_OK)
        return st;
    kv_ctx_params cp = kv_ctx_default_params();
    cp.n_ctx = s->n_ctx;
    cp.n_seq_max = p->n_parallel;
    cp.n_cells_max = p->n_kv_cells;
    cp.type_k = p->type_k;
    cp.type_v = p->type_v;
    cp.pool = s->pool;
    st = kv_ctx_new(s->model, &cp, &s->ctx, err);
    if (st != KV_OK)
        return st;
    s->kv_blocks_max = kv_ctx_kv_blocks_max(s->ctx);
    s->spec_scratch = malloc((size_t)kv_vocab_n_tokens(s->vocab) * sizeof *s->spec_scratch);
    if (!s->spec_scratch)
        return KV_FAIL(err, KV_ERR_NOMEM, "out of memory for the sampler's scratch");
    s->n_batch = kv_ctx_n_batch(s->ctx);
    s->tmpl = p->tmpl_set ? p->tmpl : kv_chat_detect_gguf(kv_model_gguf(s->model), NULL);
    // a template kvant cannot parse leaves the family renderer (s->tmpl) in charge
    if (!p->tmpl_set && kv_jinja_from_gguf(kv_model_gguf(s->model), &s->jinja, NULL) != KV_OK)
        s->jinja = NULL;
    return KV_OK;
}

kv_status kv__sched_new(const char *path, const kv__sched_params *p, kv__metrics *metrics,
                        kv__sched **out, kv_err *err) {
    *out = NULL;
    kv__sched *s = calloc(1, sizeof *s);
    if (!s)
        return KV_FAIL(err, KV_ERR_NOMEM, "out of memory for a scheduler");
    s->metrics = metrics;
    s->n_slots = p->n_parallel;
    s->queue_max = p->queue_max;
    pthread_mutex_init(&s->mu, NULL);
    pthread_cond_init(&s->cv, NULL);
    kv_status st = open_model(s, path, p, err);
    if (st == KV_OK)
        st = alloc_slots(s, err);
    if (st == KV_OK && p->draft)
        st = kv__draft_open(s, p->draft, path, p, err);
    if (st == KV_OK && pthread_create(&s->thread, NULL, kv__sched_run, s) != 0)
        st = KV_FAIL(err, KV_ERR_NOMEM, "cannot start the scheduler thread for %s", path);
    if (st != KV_OK) {
        kv__sched_free(s);
        return st;
    }
    s->thread_started = true;
    *out = s;
    return KV_OK;
}

void kv__sched_shutdown(kv__sched *s) {
    if (!s || !s->thread_started)
        return;
    pthread_mutex_lock(&s->mu);
    s->stop = true;
    pthread_cond_signal(&s->cv);
    pthread_mutex_unlock(&s->mu);
    pthread_join(s->thread, NULL);
    s->thread_started = false;
}

void kv__sched_free(kv__sched *s) {
    if (!s)
        return;
    kv__sched_shutdown(s);
    kv__metrics_kv_usage(s->metrics, s->ms, 0); // the cache goes with the scheduler
    kv__draft_free(s);
    for (int32_t i = 0; s->slots && i < s->n_slots; i++) {
        free(s->slots[i].cache);
        kv_sample_free(s->slots[i].smp);
        kv__buf_free(&s->slots[i].held);
    }
    free(s->slots);
    free(s->q);
    free(s->dead);
    free(s->b_tok);
    free(s->b_pos);
    free(s->b_seq);
    free(s->b_out);
    free(s->spec_scratch);
    kv__embedder_free(s->emb);
    kv_ctx_free(s->ctx);
    kv_threadpool_free(s->pool);
    kv_jinja_free(s->jinja);
    kv_vocab_free(s->vocab);
    kv_model_close(s->model);
    pthread_cond_destroy(&s->cv);
    pthread_mutex_destroy(&s->mu);
    free(s);
}

// ---- views ----

const kv_vocab *kv__sched_vocab(const kv__sched *s) {
    return s->vocab;
}

const kv_model *kv__sched_model(const kv__sched *s) {
    return s->model;
}

kv_chat_tmpl kv__sched_tmpl(const kv__sched *s) {
    return s->tmpl;
}

const kv_jinja *kv__sched_jinja(const kv__sched *s) {
    return s->jinja;
}

int32_t kv__sched_n_ctx(const kv__sched *s) {
    return s->n_ctx;
}

void kv__sched_gauges(kv__sched *s, kv__gauges *g) {
    pthread_mutex_lock(&s->mu);
    g->running += s->n_active;
    g->waiting += s->q_len;
    g->kv_blocks += s->kv_used;
    g->kv_blocks_max += s->kv_blocks_max;
    g->kv_size += s->kv_size;
    pthread_mutex_unlock(&s->mu);
}
