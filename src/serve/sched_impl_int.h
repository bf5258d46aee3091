// Internals of the scheduler shared by sched.c (the queue, the slots and the
// decode loop) and sched_setup.c (creation, teardown and read-only views).
#ifndef KV_SERVE_SCHED_IMPL_INT_H
#define KV_SERVE_SCHED_IMPL_INT_H

#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>

#include "kvant/kv_chat.h"
#include "kvant/kv_jinja.h"
#include "kvant/kv_json_prefix.h"
#include "kvant/kv_json_schema.h"
#include "kvant/kv_model.h"
#include "kvant/kv_sample.h"
#include "kvant/kv_speculative.h"
#include "kvant/kv_threadpool.h"
#include "kvant/kv_tokenizer.h"
#include "serve/buf_int.h"
#include "serve/embed_int.h"
#include "serve/metrics_int.h"
#include "serve/sched_int.h"

// Context per sequence when neither the server nor the request says.
#define DEFAULT_N_CTX 4096

typedef struct {
    kv__job *job;   // NULL: free
    int32_t seq;    // sequence id in the context (the slot's index)
    int32_t *cache; // tokens whose cells the sequence holds, positions 0..n_cache-1
    int32_t n_cache;
    int32_t n_ctx; // the job's context limit (<= the server's)
    int32_t n_gen;
    int32_t last;  // sampled, to be decoded next step
    int32_t i_out; // row of this step's batch with the slot's logits; -1: none
    kv_sampler *smp;
    kv_utf8_stream u8;
    kv__buf held; // text that may still become a stop string
    kv_json_prefix json; // format "json": the reply so far, kept a JSON object prefix
    kv_json_match *match; // a JSON schema: the reply so far under it (NULL: none)
    int32_t drafts[KV_SPEC_MAX_DRAFT]; // options.lookup: guesses in this step's batch
    int32_t n_draft;
    int32_t n_drafted, n_accepted;     // over the job
    bool use_draft;                    // the job's guesses come from the draft model
    int32_t *dcache; // serve --draft: tokens whose cells the draft context's sequence holds
    int32_t n_dcache;
    double t_slot, t_first, t_last;
    uint64_t used; // step of last use, for picking a slot to overwrite
} slot;

struct kv__sched {
    kv_model *model;
    kv_vocab *vocab;
    kv_threadpool *pool;
    kv_ctx *ctx;
    kv__embedder *emb;
    kv_chat_tmpl tmpl;
    kv_jinja *jinja; // the model's own chat template, when kvant can run it
    int32_t n_ctx;
    int32_t n_batch;
    int32_t queue_max;
    kv__metrics *metrics;
    kv__model_stats *ms; // the model's series, from its first job; may be NULL
    slot *slots;
    int32_t n_slots;
    int32_t *b_tok, *b_pos, *b_seq;
    int8_t *b_out;
    float *spec_scratch; // n_vocab floats for kv_sample_verify
    // serve --draft: the draft model and its context, one sequence per slot
    // (NULL: none), and its batch buffers
    kv_model *dmodel;
    kv_ctx *dctx;
    int32_t dn_batch;
    int32_t d_last; // the row with logits of the draft context's last batch
    int32_t *db_tok, *db_pos, *db_seq;
    int8_t *db_out;
    uint64_t step;
    int32_t rr; // first slot offered prompt room, rotating
    int32_t kv_blocks_max;
    bool gen_waiting; // the last step left a generating slot without a KV block
    // Under mu.
    pthread_mutex_t mu;
    pthread_cond_t cv;
    kv__job **q;
    kv__job **dead; // queued jobs swept out, to release (as large as q)
    int32_t q_head, q_len;
    int32_t n_active;
    int64_t kv_used, kv_size; // KV cache blocks in use, bytes allocated
    bool stop;
    bool thread_started;
    pthread_t thread;
};

// serve --draft (sched_draft.c): opens the draft model at path beside s's
// target (its vocabulary must be the target's) with a context like the
// target's; frees it (accepts a scheduler without one).
kv_status kv__draft_open(kv__sched *s, const char *path, const char *target_path,
                         const kv__sched_params *p, kv_err *err);
void kv__draft_free(kv__sched *s);
// Greedy guesses of the draft model for what follows slot sl's tokens
// (sl->cache[0..n_cache] with its sampled token at n_cache), at most max_k
// into sl->drafts; returns how many (0: none, also when the draft context has
// no room). Brings the draft sequence up to date with the slot's first.
int32_t kv__draft_propose(kv__sched *s, slot *sl, int32_t max_k);
// Drops slot sl's draft cells (its target cells were dropped).
void kv__draft_forget(kv__sched *s, slot *sl);

// The scheduler thread's body (arg: the kv__sched); returns when s->stop is set.
void *kv__sched_run(void *arg);

#endif
