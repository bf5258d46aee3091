// Jobs (job.c): a request handed to a model's scheduler, shared by the
// scheduler and the HTTP side.
#ifndef KV_SERVE_JOB_INT_H
#define KV_SERVE_JOB_INT_H

#include <pthread.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "kvant/kv_serve.h"
#include "kvant/kv_status.h"
#include "serve/buf_int.h"
#include "serve/call_int.h"
#include "serve/metrics_int.h"
#include "serve/request_int.h"

typedef struct kv__model_ent kv__model_ent;

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

#endif
