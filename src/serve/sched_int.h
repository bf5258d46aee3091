// Schedulers (sched.c, sched_setup.c): one per loaded model, decoding the jobs
// queued on it together. What the rest of the server sees; sched_impl_int.h has
// the insides.
#ifndef KV_SERVE_SCHED_INT_H
#define KV_SERVE_SCHED_INT_H

#include <stdbool.h>
#include <stdint.h>

#include "kvant/kv_chat.h"
#include "kvant/kv_jinja.h"
#include "kvant/kv_model.h"
#include "kvant/kv_status.h"
#include "kvant/kv_tokenizer.h"
#include "serve/metrics_int.h"

typedef struct kv__job kv__job;
typedef struct kv__sched kv__sched;

typedef struct {
    int32_t n_parallel;  // sequences decoded together
    int32_t n_ctx;       // per sequence; 0: min(model's, 4096)
    int64_t n_kv_cells;  // KV cache cells over all sequences; 0: n_parallel * n_ctx
    kv_type type_k, type_v; // KV cache types
    int32_t n_threads;   // 0: online CPUs
    int32_t queue_max;   // jobs waiting beyond the free slots
    kv_chat_tmpl tmpl;   // chat template family
    bool tmpl_set;       // false: detect from tokenizer.chat_template
    const char *draft;   // a draft model (same vocabulary) for speculative decoding; NULL: none
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
// Checks that draft model file dpath has target tpath's vocabulary (the same
// tokens, id for id); KV_ERR_INVALID naming both files when not.
kv_status kv__draft_check_files(const char *tpath, const char *dpath, kv_err *err);
// Ends queued and running jobs with "server is shutting down" and joins the thread.
void kv__sched_shutdown(kv__sched *s);
void kv__sched_free(kv__sched *s); // shuts down first; accepts NULL

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

#endif
