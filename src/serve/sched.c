// Continuous batching for one model. A thread takes jobs from a bounded queue
// into sequence slots and runs decode steps over all active slots at once: one
// token for each generating slot plus chunks of new prompts, up to the batch
// size. Finished jobs leave their slot (and their tokens stay cached, so a later
// prompt with the same prefix skips it). The KV cache is paged (blocks of
// KV_CTX_BLOCK_CELLS cells from a pool of --kv-cells): a job leaves the queue
// only when the pool has blocks for its prompt, beyond those promised to
// prompts in progress; cached prompts of finished jobs are dropped to make
// room. A generating job that finds no free block skips steps until one frees;
// when no job can go on, the newest one ends.
#include "serve/buf_int.h"
#include "serve/duration_int.h"
#include "serve/embed_int.h"
#include "serve/job_int.h"
#include "serve/metrics_int.h"
#include "serve/request_int.h"
#include "serve/sched_impl_int.h"
#include "serve/sched_int.h"
#include "serve/stop_int.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

// ---- the queue ----

kv_status kv__sched_submit(kv__sched *s, kv__job *j, int *retry_after, kv_err *err) {
    kv_status st = KV_OK;
    pthread_mutex_lock(&s->mu);
    int32_t n_free = s->n_slots - s->n_active;
    int64_t need = ((int64_t)j->n_tokens + KV_CTX_BLOCK_CELLS) / KV_CTX_BLOCK_CELLS;
    if (s->stop) {
        st = KV_FAIL(err, KV_ERR_IO, "server is shutting down");
    } else if (j->kind == KV__JOB_GENERATE && (j->n_tokens < 1 || j->n_tokens >= s->n_ctx)) {
        // the handlers fit prompts to the context; a slot's cache holds n_ctx tokens
        st = KV_FAIL(err, KV_ERR_INVALID, "a prompt of %d tokens does not fit the context of %d",
                     j->n_tokens, s->n_ctx);
    } else if (j->kind == KV__JOB_GENERATE && need > s->kv_blocks_max) {
        st = KV_FAIL(err, KV_ERR_LIMIT,
                     "a prompt of %d tokens needs %lld KV cache blocks of %d cells, more than "
                     "the %d the cache holds (--kv-cells)",
                     j->n_tokens, (long long)need, KV_CTX_BLOCK_CELLS, s->kv_blocks_max);
    } else if (j->kind == KV__JOB_GENERATE && j->req.draft == 1 && !s->dctx) {
        st = KV_FAIL(err, KV_ERR_INVALID,
                     "field '%s': true, but this model has no draft model (kvant serve --draft)",
                     j->req.ep == KV__EP_GENERATE || j->req.ep == KV__EP_CHAT
                         ? "options.draft"
                         : "speculative.draft");
    } else if (s->q_len >= s->queue_max + n_free) {
        *retry_after = 1 + s->q_len / s->n_slots;
        st = KV_FAIL(err, KV_ERR_LIMIT, "server busy: %d requests are waiting (--queue %d)",
                     s->q_len, s->queue_max);
    } else {
        int32_t cap = s->queue_max + s->n_slots;
        s->q[(s->q_head + s->q_len) % cap] = j;
        s->q_len++;
        kv__job_ref(j);
        pthread_cond_signal(&s->cv);
    }
    pthread_mutex_unlock(&s->mu);
    return st;
}

static kv__job *queue_pop_locked(kv__sched *s) {
    int32_t cap = s->queue_max + s->n_slots;
    kv__job *j = s->q[s->q_head];
    s->q_head = (s->q_head + 1) % cap;
    s->q_len--;
    return j;
}

static void end_job(kv__job *j, kv_status st, unsigned http, const char *msg) {
    pthread_mutex_lock(&j->mu);
    kv__job_finish_locked(j, st, http, msg);
    pthread_mutex_unlock(&j->mu);
    kv__job_unref(j);
}

// Ends queued jobs whose client left or whose time ran out, moving them to
// s->dead (their references are dropped by the caller, outside s->mu, since
// the last one releases the model in the registry). Under s->mu.
static int32_t queue_sweep_locked(kv__sched *s, double now) {
    int32_t cap = s->queue_max + s->n_slots;
    int32_t kept = 0, n_dead = 0;
    for (int32_t i = 0; i < s->q_len; i++) {
        kv__job *j = s->q[(s->q_head + i) % cap];
        pthread_mutex_lock(&j->mu);
        bool gone = j->cancelled || !j->alive(j);
        bool late = j->deadline > 0 && now > j->deadline;
        if (gone || late)
            kv__job_finish_locked(j, KV_ERR_IO, 503,
                                  gone ? "client disconnected" : "timed out waiting in the queue");
        pthread_mutex_unlock(&j->mu);
        if (gone || late)
            s->dead[n_dead++] = j;
        else
            s->q[(s->q_head + kept++) % cap] = j;
    }
    s->q_len = kept;
    return n_dead;
}

// ---- slots ----

static int32_t common_prefix(const int32_t *a, int32_t na, const int32_t *b, int32_t nb) {
    int32_t n = na < nb ? na : nb, i = 0;
    while (i < n && a[i] == b[i])
        i++;
    return i;
}

// Picks a free slot for j and makes its sequence hold the longest cached prefix
// of j's prompt: the slot's own cells, or a copy of another slot's. Returns the
// number of prompt tokens already cached.
static int32_t place(kv__sched *s, slot *dst, const kv__job *j) {
    int32_t best = -1, best_n = 0;
    for (int32_t i = 0; i < s->n_slots; i++) {
        int32_t n = common_prefix(s->slots[i].cache, s->slots[i].n_cache, j->tokens, j->n_tokens);
        if (n > best_n) {
            best_n = n;
            best = i;
        }
    }
    int32_t keep = common_prefix(dst->cache, dst->n_cache, j->tokens, j->n_tokens);
    if (best >= 0 && best_n > keep && &s->slots[best] != dst &&
        kv_ctx_seq_cp(s->ctx, s->slots[best].seq, dst->seq, NULL) == KV_OK) {
        memcpy(dst->cache, s->slots[best].cache, (size_t)best_n * sizeof *dst->cache);
        dst->n_cache = s->slots[best].n_cache;
        keep = best_n;
    }
    if (keep >= j->n_tokens)
        keep = j->n_tokens - 1; // the last prompt token is decoded again for its logits
    if (kv_ctx_seq_rm(s->ctx, dst->seq, keep, -1, NULL) != KV_OK) {
        kv_ctx_seq_clear(s->ctx, dst->seq);
        keep = 0;
    }
    dst->n_cache = keep;
    return keep;
}

static slot *free_slot_for(kv__sched *s, const kv__job *j) {
    slot *pick = NULL;
    int32_t pick_n = -1;
    for (int32_t i = 0; i < s->n_slots; i++) {
        slot *sl = &s->slots[i];
        if (sl->job)
            continue;
        int32_t n = common_prefix(sl->cache, sl->n_cache, j->tokens, j->n_tokens);
        if (n > pick_n || (n == pick_n && sl->used < pick->used)) {
            pick = sl;
            pick_n = n;
        }
    }
    return pick;
}

// ---- KV cache room ----

// Free KV blocks not promised to prompts in progress: a slot still reading its
// prompt is owed the blocks for the rest of it and its first generated token.
static int64_t blocks_avail(const kv__sched *s) {
    int64_t n = kv_ctx_kv_blocks_max(s->ctx) - kv_ctx_kv_blocks_used(s->ctx);
    for (int32_t i = 0; i < s->n_slots; i++) {
        const slot *sl = &s->slots[i];
        if (sl->job && sl->n_cache < sl->job->n_tokens)
            n -= kv_ctx_seq_n_blocks_needed(s->ctx, sl->seq, sl->job->n_tokens - sl->n_cache + 1);
    }
    return n;
}

// Drops the cached cells of an idle slot other than keep: of those holding
// cells, the one sharing the shortest prefix with j's prompt (j may be NULL),
// then the least recently used. False when there is none.
static bool evict_one(kv__sched *s, const kv__job *j, const slot *keep) {
    slot *pick = NULL;
    int32_t pick_n = 0;
    for (int32_t i = 0; i < s->n_slots; i++) {
        slot *sl = &s->slots[i];
        if (sl->job || sl == keep || sl->n_cache == 0)
            continue;
        int32_t n = j ? common_prefix(sl->cache, sl->n_cache, j->tokens, j->n_tokens) : 0;
        if (!pick || n < pick_n || (n == pick_n && sl->used < pick->used)) {
            pick = sl;
            pick_n = n;
        }
    }
    if (!pick)
        return false;
    kv_ctx_seq_clear(s->ctx, pick->seq);
    pick->n_cache = 0;
    kv__draft_forget(s, pick);
    return true;
}

// Whether the cache has blocks for the rest of j's prompt (beyond what place()
// left in sl) and its first generated token, dropping idle cached prompts as needed.
static bool room_for(kv__sched *s, const slot *sl, const kv__job *j) {
    int32_t need = kv_ctx_seq_n_blocks_needed(s->ctx, sl->seq, j->n_tokens - sl->n_cache + 1);
    while (blocks_avail(s) < need)
        if (!evict_one(s, j, sl))
            return false;
    return true;
}

static kv_sample_params sample_params(const kv__sampling *x) {
    kv_sample_params p = kv_sample_default_params();
    p.temp = x->temp;
    p.top_k = x->top_k;
    p.top_p = x->top_p;
    p.min_p = x->min_p;
    p.seed = x->seed;
    p.penalty_last_n = x->repeat_last_n;
    p.penalty_repeat = x->repeat_penalty;
    p.penalty_freq = x->freq_penalty;
    p.penalty_present = x->presence_penalty;
    return p;
}

// Starts the job admit() put in slot sl (cached: prompt tokens place() found
// cached): sampler, timers.
static void start_job(kv__sched *s, slot *sl, int32_t cached) {
    kv__job *j = sl->job;
    kv_sample_params sp = sample_params(&j->req.smp);
    if (sp.penalty_last_n < 0) // -1: the whole context, as far as the sampler looks
        sp.penalty_last_n = s->n_ctx < KV_SAMPLE_MAX_LAST_N ? s->n_ctx : KV_SAMPLE_MAX_LAST_N;
    kv_sample_free(sl->smp);
    sl->smp = NULL;
    kv_err e;
    free(sl->match);
    sl->match = j->req.schema ? malloc(sizeof *sl->match) : NULL;
    if (j->req.schema && !sl->match)
        KV_FAIL(&e, KV_ERR_NOMEM, "out of memory for the JSON schema matcher");
    if ((j->req.schema && !sl->match) ||
        kv_sample_new(&sp, (int32_t)kv_vocab_n_tokens(s->vocab), &sl->smp, &e) != KV_OK) {
        end_job(j, e.status, 0, e.msg);
        free(sl->match);
        sl->match = NULL;
        sl->job = NULL;
        pthread_mutex_lock(&s->mu);
        s->n_active--;
        pthread_mutex_unlock(&s->mu);
        return;
    }
    for (int32_t i = 0; i < j->n_tokens; i++)
        kv_sample_accept(sl->smp, j->tokens[i]);
    sl->n_ctx = j->req.n_ctx > 0 && j->req.n_ctx < s->n_ctx ? j->req.n_ctx : s->n_ctx;
    sl->n_gen = 0;
    sl->i_out = -1;
    sl->n_draft = sl->n_drafted = sl->n_accepted = 0;
    // a draft model (serve --draft) unless the request says no or asks for lookup
    sl->use_draft = s->dctx && j->req.draft != 0 && j->req.lookup <= 0;
    sl->u8 = (kv_utf8_stream){0};
    kv_json_prefix_init(&sl->json, KV_JSON_ROOT_OBJECT);
    if (sl->match)
        kv_json_match_init(sl->match, j->req.schema);
    kv__buf_consume(&sl->held, sl->held.n);
    sl->t_slot = kv__now();
    sl->used = s->step;
    pthread_mutex_lock(&j->mu);
    j->running = true;
    j->stats.n_prompt = j->n_tokens;
    j->stats.n_cached = cached;
    j->stats.spec = sl->use_draft || j->req.lookup > 0;
    j->stats.queue_s = sl->t_slot - j->t_queued;
    pthread_mutex_unlock(&j->mu);
    s->ms = j->ms; // the same for every job of the model
    kv__metrics_tokens(s->metrics, j->ms, (uint64_t)j->n_tokens, 0);
    kv__metrics_cached(s->metrics, j->ms, (uint64_t)cached);
}

// Hands text to the job's reader.
static void emit(slot *sl, const char *text, size_t n) {
    if (n == 0)
        return;
    kv__job *j = sl->job;
    pthread_mutex_lock(&j->mu);
    if (kv__buf_add(&j->text, text, n, NULL) != KV_OK)
        j->cancelled = true;
    j->wake(j);
    pthread_mutex_unlock(&j->mu);
}

// Ends the slot's job. For a normal end (st KV_OK) held text is flushed first;
// after a failure (the client left, for one) the slot's cells are freed.
static void finish_slot(kv__sched *s, slot *sl, kv_status st, unsigned http, const char *msg,
                        const char *reason, bool flush) {
    kv__job *j = sl->job;
    if (flush) {
        char tail[KV_UTF8_STREAM_HOLD];
        size_t n = kv_utf8_stream_flush(&sl->u8, tail);
        emit(sl, sl->held.p, sl->held.n);
        emit(sl, tail, n);
    }
    kv__buf_consume(&sl->held, sl->held.n);
    pthread_mutex_lock(&j->mu);
    j->stats.n_gen = sl->n_gen;
    j->stats.n_drafted = sl->n_drafted;
    j->stats.n_accepted = sl->n_accepted;
    j->stats.done_reason = reason;
    if (sl->n_gen > 0) {
        j->stats.prompt_s = sl->t_first - sl->t_slot;
        j->stats.gen_s = sl->t_last - sl->t_first;
    } else {
        j->stats.prompt_s = kv__now() - sl->t_slot;
    }
    kv__job_finish_locked(j, st, http, msg);
    pthread_mutex_unlock(&j->mu);
    kv__job_unref(j);
    free(sl->match); // it points into the job's schema
    sl->match = NULL;
    sl->job = NULL;
    sl->i_out = -1;
    if (st != KV_OK) {
        kv_ctx_seq_clear(s->ctx, sl->seq);
        sl->n_cache = 0;
        kv__draft_forget(s, sl);
    }
    pthread_mutex_lock(&s->mu);
    s->n_active--;
    pthread_mutex_unlock(&s->mu);
}

// ---- one decode step ----

static void add_row(kv__sched *s, int32_t *n, int32_t tok, int32_t pos, int32_t seq, bool out) {
    s->b_tok[*n] = tok;
    s->b_pos[*n] = pos;
    s->b_seq[*n] = seq;
    s->b_out[*n] = out ? 1 : 0;
    (*n)++;
}

// Takes the blocks generating slot sl needs for its next token from the free
// ones not promised to prompts, dropping idle cached prompts as needed; *taken
// counts the blocks this step's batch has taken so far.
static bool gen_room(kv__sched *s, const slot *sl, int64_t *taken) {
    int32_t need = kv_ctx_seq_n_blocks_needed(s->ctx, sl->seq, 1);
    if (need == 0)
        return true;
    while (blocks_avail(s) - *taken < need)
        if (!evict_one(s, NULL, NULL))
            return false;
    *taken += need;
    return true;
}

// options.lookup or a draft model (serve --draft): after slot sl's sampled
// token, the tokens n-gram lookup in its prompt and reply or the draft model
// guesses come next (in blocks that are free without evicting), each row with
// logits; step() checks them. Leaves a row for every other slot.
static void add_drafts(kv__sched *s, slot *sl, int32_t *n, int64_t *taken) {
    const kv__req *r = &sl->job->req;
    sl->n_draft = 0;
    if ((r->lookup <= 0 && !sl->use_draft) || sl->match || r->format_json)
        return;
    int64_t max_k = r->draft_max;
    const int64_t room[3] = {(int64_t)sl->n_ctx - sl->n_cache - 2, // take_token's limit stays ahead
                             (int64_t)s->n_batch - *n - s->n_slots,
                             r->n_predict >= 0 ? (int64_t)r->n_predict - sl->n_gen - 1 : max_k};
    for (int i = 0; i < 3; i++)
        max_k = room[i] < max_k ? room[i] : max_k;
    if (max_k < 1)
        return;
    sl->cache[sl->n_cache] = sl->last; // written there by commit_batch anyway
    int32_t k = sl->use_draft ? kv__draft_propose(s, sl, (int32_t)max_k)
                              : kv_spec_lookup(sl->cache, sl->n_cache + 1, r->lookup,
                                               (int32_t)max_k, sl->drafts);
    if (k < 1)
        return;
    const int32_t extra = kv_ctx_seq_n_blocks_needed(s->ctx, sl->seq, 1 + k) -
                          kv_ctx_seq_n_blocks_needed(s->ctx, sl->seq, 1);
    if (blocks_avail(s) - *taken < extra)
        return;
    *taken += extra;
    for (int32_t i = 0; i < k; i++)
        add_row(s, n, sl->drafts[i], sl->n_cache + 1 + i, sl->seq, true);
    sl->n_draft = k;
}

// Fills the batch: the sampled token of each generating slot that has room in
// the KV cache, then prompt chunks (their blocks are promised) in the room
// left, starting from a rotating slot. Returns rows; *n_seqs is the number of
// sequences in it.
static int32_t build_batch(kv__sched *s, int32_t *n_seqs) {
    int32_t n = 0;
    int64_t taken = 0;
    *n_seqs = 0;
    s->gen_waiting = false;
    for (int32_t i = 0; i < s->n_slots; i++) {
        slot *sl = &s->slots[i];
        sl->i_out = -1;
        if (!sl->job || sl->n_cache < sl->job->n_tokens)
            continue;
        if (!gen_room(s, sl, &taken)) {
            s->gen_waiting = true;
            continue;
        }
        sl->i_out = n;
        add_row(s, &n, sl->last, sl->n_cache, sl->seq, true);
        add_drafts(s, sl, &n, &taken);
        (*n_seqs)++;
    }
    for (int32_t k = 0; k < s->n_slots && n < s->n_batch; k++) {
        slot *sl = &s->slots[(s->rr + k) % s->n_slots];
        if (!sl->job || sl->n_cache >= sl->job->n_tokens)
            continue;
        int32_t left = sl->job->n_tokens - sl->n_cache;
        int32_t take = left < s->n_batch - n ? left : s->n_batch - n;
        for (int32_t t = 0; t < take; t++) {
            bool last = t == left - 1;
            if (last)
                sl->i_out = n;
            add_row(s, &n, sl->job->tokens[sl->n_cache + t], sl->n_cache + t, sl->seq, last);
        }
        (*n_seqs)++;
    }
    s->rr = (s->rr + 1) % s->n_slots;
    return n;
}

// Records the batch's tokens in the slots' caches after a successful decode.
static void commit_batch(kv__sched *s, int32_t n) {
    for (int32_t r = 0; r < n; r++) {
        slot *sl = &s->slots[s->b_seq[r]];
        sl->cache[s->b_pos[r]] = s->b_tok[r];
        if (s->b_pos[r] + 1 > sl->n_cache)
            sl->n_cache = s->b_pos[r] + 1;
    }
}

// A sampled token: its text goes out (through the UTF-8 holder and the stop
// strings), then the limits are checked.
static void take_token(kv__sched *s, slot *sl, int32_t tok, double now) {
    kv__job *j = sl->job;
    if (j->req.n_predict == 0) {
        finish_slot(s, sl, KV_OK, 0, NULL, "length", false); // asked for no tokens
        return;
    }
    sl->n_gen++;
    if (sl->n_gen == 1) {
        sl->t_first = now;
        kv__metrics_ttft(s->metrics, j->ms, now - j->t_start);
    } else {
        kv__metrics_itl(s->metrics, j->ms, now - sl->t_last);
    }
    sl->t_last = now;
    kv__metrics_tokens(s->metrics, j->ms, 0, 1);
    if (kv_vocab_is_eog(s->vocab, tok)) {
        finish_slot(s, sl, KV_OK, 0, NULL, "stop", true);
        return;
    }
    size_t len = 0;
    const char *piece = kv_vocab_piece(s->vocab, tok, false, &len);
    char buf[256 + KV_UTF8_STREAM_HOLD];
    kv__buf out = {0};
    kv_status st = KV_OK;
    bool stopped = false;
    for (size_t off = 0; piece && off < len && !stopped && st == KV_OK; off += 256) {
        size_t k = len - off < 256 ? len - off : 256;
        size_t m = kv_utf8_stream_push(&sl->u8, piece + off, k, buf);
        stopped = kv__stop_feed(&sl->held, j->req.stop, j->req.n_stop, buf, m, &out, &st, NULL);
    }
    if (sl->match && piece)
        kv_json_match_feed(sl->match, piece, len); // the sampler allowed only pieces that fit
    else if (j->req.format_json && piece)
        kv_json_prefix_feed(&sl->json, piece, len);
    emit(sl, out.p, out.n);
    kv__buf_free(&out);
    if (st != KV_OK)
        finish_slot(s, sl, st, 0, "out of memory for generated text", NULL, false);
    else if (stopped)
        finish_slot(s, sl, KV_OK, 0, NULL, "stop", false);
    else if (sl->match ? kv_json_match_done(sl->match)
                       : j->req.format_json && kv_json_prefix_done(&sl->json))
        finish_slot(s, sl, KV_OK, 0, NULL, "stop", true); // the JSON document closed
    else if ((j->req.n_predict >= 0 && sl->n_gen >= j->req.n_predict) || sl->n_cache >= sl->n_ctx)
        finish_slot(s, sl, KV_OK, 0, NULL, "length", true);
    else
        sl->last = tok;
}

// Every running job waits for a KV block: ends the newest, so that the others
// can go on. A job alone ends as if its context were full.
static void preempt(kv__sched *s) {
    slot *pick = NULL;
    int32_t n_running = 0;
    for (int32_t i = 0; i < s->n_slots; i++) {
        slot *sl = &s->slots[i];
        if (!sl->job)
            continue;
        n_running++;
        if (!pick || sl->t_slot > pick->t_slot)
            pick = sl;
    }
    if (!pick)
        return;
    if (n_running == 1) {
        finish_slot(s, pick, KV_OK, 0, NULL, "length", true);
        return;
    }
    char msg[200];
    snprintf(msg, sizeof msg,
             "the KV cache is full: the request stopped after %d tokens so that others can go "
             "on (--kv-cells %lld)",
             pick->n_gen, (long long)s->kv_blocks_max * KV_CTX_BLOCK_CELLS);
    finish_slot(s, pick, KV_ERR_NOMEM, 503, msg, NULL, false);
}

// Slot sl's guesses in rows i_out + 1 .. i_out + n_draft: each stands while the
// target's check (rejection sampling, a certain guess) keeps it; the first that
// falls is replaced by the check's token and its cells and the later ones go.
// Every guess kept stands, then the last row gives one more token.
static void verify_drafts(kv__sched *s, slot *sl, double now) {
    const int32_t p0 = s->b_pos[sl->i_out], k = sl->n_draft;
    sl->n_draft = 0;
    sl->n_drafted += k;
    kv__model_stats *ms = sl->job->ms; // the job may end inside the loop
    int32_t n_kept = 0;
    for (int32_t i = 0; i <= k; i++) {
        const float *logits = kv_ctx_logits(s->ctx, sl->i_out + i);
        const int32_t tok = i < k ? kv_sample_verify(sl->smp, logits, sl->drafts[i], NULL,
                                                     s->spec_scratch)
                                  : kv_sample_next(sl->smp, logits);
        const bool kept = i < k && tok == sl->drafts[i];
        sl->n_accepted += kept;
        n_kept += kept;
        if (!kept && i < k) { // a tail removal needs no block: it cannot fail
            kv_ctx_seq_rm(s->ctx, sl->seq, p0 + 1 + i, -1, NULL);
            sl->n_cache = p0 + 1 + i;
        }
        kv_sample_accept(sl->smp, tok);
        take_token(s, sl, tok, now);
        if (!sl->job || !kept)
            break;
    }
    kv__metrics_spec(s->metrics, ms, (uint64_t)k, (uint64_t)n_kept);
}

static void step(kv__sched *s) {
    int32_t n_seqs;
    int32_t n = build_batch(s, &n_seqs);
    if (n == 0) {
        if (s->gen_waiting)
            preempt(s);
        return;
    }
    kv_err e;
    kv_batch b = {
        .n_tokens = n, .tokens = s->b_tok, .pos = s->b_pos, .seq_id = s->b_seq, .logits = s->b_out};
    s->step++;
    if (kv_ctx_decode(s->ctx, &b, &e) != KV_OK) {
        for (int32_t i = 0; i < s->n_slots; i++)
            if (s->slots[i].job)
                finish_slot(s, &s->slots[i], e.status, 500, e.msg, NULL, false);
        return;
    }
    kv__metrics_batch(s->metrics, n_seqs);
    commit_batch(s, n);
    double now = kv__now();
    for (int32_t i = 0; i < s->n_slots; i++) {
        slot *sl = &s->slots[i];
        if (!sl->job || sl->i_out < 0)
            continue;
        sl->used = s->step;
        if (sl->n_draft > 0) {
            verify_drafts(s, sl, now);
            continue;
        }
        const float *logits = kv_ctx_logits(s->ctx, sl->i_out);
        int32_t tok = sl->match ? kv_sample_next_schema(sl->smp, logits, s->vocab, sl->match)
                      : sl->job->req.format_json
                          ? kv_sample_next_json(sl->smp, logits, s->vocab, &sl->json)
                          : kv_sample_next(sl->smp, logits);
        if (tok < 0) {
            finish_slot(s, sl, KV_ERR_UNSUPPORTED, 0,
                        "no token of the model's vocabulary continues the JSON reply", NULL,
                        false);
            continue;
        }
        kv_sample_accept(sl->smp, tok);
        take_token(s, sl, tok, now);
    }
}

// Ends jobs whose client left or whose time ran out.
static void sweep_slots(kv__sched *s, double now) {
    for (int32_t i = 0; i < s->n_slots; i++) {
        slot *sl = &s->slots[i];
        kv__job *j = sl->job;
        if (!j)
            continue;
        pthread_mutex_lock(&j->mu);
        bool gone = j->cancelled || !j->alive(j);
        bool late = j->deadline > 0 && now > j->deadline;
        pthread_mutex_unlock(&j->mu);
        if (gone)
            finish_slot(s, sl, KV_ERR_IO, 503, "client disconnected", NULL, false);
        else if (late)
            finish_slot(s, sl, KV_ERR_IO, 503, "request timed out (--timeout)", NULL, false);
    }
}

// ---- embeddings ----

static void run_embed(kv__sched *s, kv__job *j) {
    kv_err e;
    kv_status st = KV_OK;
    if (!s->emb)
        st = kv__embedder_new(s->model, s->n_ctx, s->pool, &s->emb, &e);
    int64_t n_embd = kv_model_hparams(s->model)->n_embd;
    float *v = st == KV_OK ? malloc((size_t)j->n_inputs * (size_t)n_embd * sizeof *v) : NULL;
    if (st == KV_OK && !v)
        st = KV_FAIL(&e, KV_ERR_NOMEM, "out of memory for %d embeddings", j->n_inputs);
    double t0 = kv__now();
    for (int32_t i = 0; st == KV_OK && i < j->n_inputs; i++) {
        int32_t off = j->input_off[i];
        st = kv__embed_tokens(s->emb, j->tokens + off, j->input_off[i + 1] - off,
                              v + (size_t)i * (size_t)n_embd, &e);
    }
    kv__metrics_tokens(s->metrics, j->ms, (uint64_t)j->n_tokens, 0);
    pthread_mutex_lock(&j->mu);
    if (st == KV_OK) {
        j->embd = v;
        j->n_embd = (int32_t)n_embd;
        v = NULL;
    }
    j->stats.n_prompt = j->n_tokens;
    j->stats.prompt_s = kv__now() - t0;
    kv__job_finish_locked(j, st, 0, st == KV_OK ? NULL : e.msg);
    pthread_mutex_unlock(&j->mu);
    free(v);
    kv__job_unref(j);
}

// ---- the thread ----

// Moves queued jobs into free slots, in order, while the KV cache has room for
// their prompts and no generating job waits for a block (embedding jobs run at
// once). Returns with s->mu unlocked.
static void admit(kv__sched *s) {
    slot *take[KV_SERVE_MAX_PARALLEL];
    int32_t cached[KV_SERVE_MAX_PARALLEL];
    int32_t n_take = 0;
    kv__job *embed = NULL;
    int32_t n_dead = queue_sweep_locked(s, kv__now());
    if (s->q_len > 0 && s->q[s->q_head]->kind == KV__JOB_EMBED) {
        embed = queue_pop_locked(s);
    } else {
        while (s->q_len > 0 && s->q[s->q_head]->kind == KV__JOB_GENERATE &&
               s->n_active < s->n_slots && !s->gen_waiting) {
            kv__job *j = s->q[s->q_head];
            slot *sl = free_slot_for(s, j);
            int32_t n = place(s, sl, j);
            if (!room_for(s, sl, j))
                break; // it waits for blocks to free up
            queue_pop_locked(s);
            s->n_active++;
            sl->job = j;
            cached[n_take] = n;
            take[n_take++] = sl;
        }
    }
    pthread_mutex_unlock(&s->mu);
    for (int32_t i = 0; i < n_dead; i++)
        kv__job_unref(s->dead[i]);
    for (int32_t i = 0; i < n_take; i++)
        start_job(s, take[i], cached[i]);
    if (embed)
        run_embed(s, embed);
}

static void update_gauges(kv__sched *s) {
    int64_t used = kv_ctx_kv_blocks_used(s->ctx);
    int64_t size = (int64_t)kv_ctx_kv_size(s->ctx);
    pthread_mutex_lock(&s->mu);
    s->kv_used = used;
    s->kv_size = size;
    pthread_mutex_unlock(&s->mu);
    kv__metrics_kv_usage(s->metrics, s->ms, s->kv_blocks_max ? (double)used / s->kv_blocks_max : 0);
}

static void fail_all(kv__sched *s) {
    for (int32_t i = 0; i < s->n_slots; i++)
        if (s->slots[i].job)
            finish_slot(s, &s->slots[i], KV_ERR_IO, 503, "server is shutting down", NULL, false);
    pthread_mutex_lock(&s->mu);
    while (s->q_len > 0) {
        kv__job *j = queue_pop_locked(s);
        pthread_mutex_unlock(&s->mu);
        end_job(j, KV_ERR_IO, 503, "server is shutting down");
        pthread_mutex_lock(&s->mu);
    }
    pthread_mutex_unlock(&s->mu);
}

void *kv__sched_run(void *arg) {
    kv__sched *s = arg;
    for (;;) {
        pthread_mutex_lock(&s->mu);
        while (!s->stop && s->q_len == 0 && s->n_active == 0)
            pthread_cond_wait(&s->cv, &s->mu);
        if (s->stop) {
            pthread_mutex_unlock(&s->mu);
            break;
        }
        admit(s);
        sweep_slots(s, kv__now());
        step(s);
        update_gauges(s);
    }
    fail_all(s);
    update_gauges(s);
    return NULL;
}
