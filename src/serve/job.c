// Jobs: the unit of work between an API handler and a model's scheduler. A job
// is shared by the scheduler (text and results in) and the HTTP side (bytes
// out), with a reference count and one mutex; the server keeps a list of live
// jobs so stopping can wait for them.
#include "serve/buf_int.h"
#include "serve/call_int.h"
#include "serve/duration_int.h"
#include "serve/http_int.h"
#include "serve/job_int.h"
#include "serve/metrics_int.h"
#include "serve/registry_int.h"
#include "serve/request_int.h"
#include "serve/server_int.h"

#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static atomic_uint_fast64_t next_id = 1;

static void live_add(kv_serve *s, kv__job *j) {
    pthread_mutex_lock(&s->live_mu);
    j->live_next = s->live;
    if (s->live)
        s->live->live_prev = j;
    s->live = j;
    s->n_live++;
    pthread_mutex_unlock(&s->live_mu);
}

static void live_remove(kv_serve *s, kv__job *j) {
    pthread_mutex_lock(&s->live_mu);
    if (j->live_prev)
        j->live_prev->live_next = j->live_next;
    else
        s->live = j->live_next;
    if (j->live_next)
        j->live_next->live_prev = j->live_prev;
    s->n_live--;
    pthread_mutex_unlock(&s->live_mu);
}

kv_status kv__job_new(kv__call *c, kv__job_kind kind, kv__req *req, kv__model_ent *e, double load_s,
                      kv__job **out, kv_err *err) {
    kv__job *j = calloc(1, sizeof *j);
    if (!j)
        return KV_FAIL(err, KV_ERR_NOMEM, "out of memory for a job");
    kv_serve *s = c->srv;
    j->srv = s;
    j->kind = kind;
    j->req = *req;
    memset(req, 0, sizeof *req); // taken over
    j->api = c->api;
    j->ent = e;
    j->created = kv__wall_now();
    j->t_start = c->t_start;
    j->deadline = s->p.timeout_s > 0 ? c->t_start + s->p.timeout_s : 0;
    j->stats.load_s = load_s;
    j->stats.queue_s = -1;
    j->ms = e ? kv__metrics_model(&s->metrics, kv__ent_name(e)) : NULL;
    j->t_queued = kv__now(); // it goes to the scheduler next
    j->fd = -1;
    j->refs = 1;
    j->wake = kv__http_wake;
    j->alive = kv__http_alive;
    uint64_t id = atomic_fetch_add(&next_id, 1);
    snprintf(j->id, sizeof j->id, "%s-%08llx%08llx",
             j->req.ep == KV__EP_OAI_CHAT ? "chatcmpl" : "cmpl",
             (unsigned long long)((uint64_t)j->created & 0xffffffffu), (unsigned long long)id);
    pthread_mutex_init(&j->mu, NULL);
    live_add(s, j);
    *out = j;
    return KV_OK;
}

void kv__job_ref(kv__job *j) {
    pthread_mutex_lock(&j->mu);
    j->refs++;
    pthread_mutex_unlock(&j->mu);
}

void kv__job_unref(kv__job *j) {
    if (!j)
        return;
    pthread_mutex_lock(&j->mu);
    int refs = --j->refs;
    pthread_mutex_unlock(&j->mu);
    if (refs > 0)
        return;
    kv_serve *s = j->srv;
    if (j->ent)
        kv__registry_release(s->reg, j->ent);
    live_remove(s, j);
    kv__req_free(&j->req);
    kv__buf_free(&j->text);
    kv__buf_free(&j->outbox);
    free(j->tokens);
    free(j->input_off);
    free(j->embd);
    pthread_mutex_destroy(&j->mu);
    free(j);
}

// Why j ended, for the metrics (under j->mu): its done_reason when it
// succeeded; abort when the client is gone; error otherwise.
static kv__finish finish_reason(kv__job *j) {
    if (j->st == KV_OK)
        return j->stats.done_reason && strcmp(j->stats.done_reason, "length") == 0
                   ? KV__FIN_LENGTH
                   : KV__FIN_STOP;
    return j->cancelled || !j->alive(j) ? KV__FIN_ABORT : KV__FIN_ERROR;
}

void kv__job_finish_locked(kv__job *j, kv_status st, unsigned http_status, const char *msg) {
    if (j->done)
        return;
    j->done = true;
    j->running = false;
    j->st = st;
    if (st != KV_OK) {
        j->http_status = http_status ? http_status : kv__http_status(st);
        snprintf(j->msg, sizeof j->msg, "%s", msg ? msg : kv_status_str(st));
    }
    j->stats.total_s = kv__now() - j->t_start;
    if (j->kind == KV__JOB_GENERATE)
        kv__metrics_finished(&j->srv->metrics, j->ms, &j->stats, finish_reason(j));
    j->wake(j);
}
