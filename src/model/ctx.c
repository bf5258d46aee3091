// Contexts: parameter checks, one arena for all scratch sized from the model
// and the context parameters, batch validation and output bookkeeping around
// the forward pass (llama.c). After kv_ctx_new only the KV cache allocates
// (blocks, in kv_cache.c), while a decode is checked and before its forward pass.
#include "kvant/kv_model.h"

#include <stdlib.h>
#include <string.h>

#include "kvant/kv_core.h"
#include "model/model_int.h"

#define ARENA_ALIGN 64
#define ARENA_MAX_PARTS 32

kv_ctx_params kv_ctx_default_params(void) {
    kv_ctx_params p = {0};
    p.n_batch = 512;
    p.n_seq_max = 1;
    p.logits = true;
    p.type_k = p.type_v = KV_TYPE_F16;
    return p;
}

// ---- arena ----

typedef struct {
    void **ptr[ARENA_MAX_PARTS];
    size_t size[ARENA_MAX_PARTS];
    int n;
    bool overflow;
} arena_plan;

// Plans a buffer of n elements of elem_size bytes; *ptr is set by arena_alloc.
static void plan(arena_plan *a, void **ptr, size_t n, size_t elem_size) {
    size_t bytes = 0;
    if (!kv_mul_ok(n, elem_size, &bytes) || a->n == ARENA_MAX_PARTS) {
        a->overflow = true;
        return;
    }
    a->ptr[a->n] = ptr;
    a->size[a->n] = bytes;
    a->n++;
}

static kv_status arena_alloc(arena_plan *a, void **arena, kv_err *err) {
    size_t total = 0;
    for (int i = 0; i < a->n && !a->overflow; i++) {
        size_t aligned;
        if (!kv_align_ok(a->size[i], ARENA_ALIGN, &aligned) || !kv_add_ok(total, aligned, &total))
            a->overflow = true;
    }
    if (a->overflow)
        return KV_FAIL(err, KV_ERR_LIMIT, "context scratch size overflows");
    *arena = aligned_alloc(ARENA_ALIGN, total > 0 ? total : ARENA_ALIGN);
    if (!*arena)
        return KV_FAIL(err, KV_ERR_NOMEM, "out of memory for %zu bytes of context scratch", total);
    size_t off = 0;
    for (int i = 0; i < a->n; i++) {
        *a->ptr[i] = (uint8_t *)*arena + off;
        size_t aligned = 0;
        kv_align_ok(a->size[i], ARENA_ALIGN, &aligned);
        off += aligned;
    }
    return KV_OK;
}

// ---- creation ----

typedef size_t (*weight_bytes_fn)(const kv_kernels *k, const kv_tensor *w);

// The largest f over the model's matrix-product weights.
static size_t max_over_weights(const kv_model *m, weight_bytes_fn f) {
    size_t max = 0;
    for (int64_t il = 0; il < m->hp.n_layer; il++) {
        const kv_layer *L = &m->layers[il];
        const kv_tensor *ts[] = {&L->wq, &L->wk, &L->wv, &L->wo, &L->ffn_gate, &L->ffn_up,
                                 &L->ffn_down, &m->output};
        for (size_t i = 0; i < sizeof ts / sizeof ts[0]; i++) {
            const size_t n = f(m->kernels, ts[i]);
            if (n > max)
                max = n;
        }
    }
    return max;
}

// Bytes per row of w's activations converted to its dot format.
static size_t act_row_bytes(const kv_kernels *k, const kv_tensor *w) {
    return kv_type_row_size(k->types[w->type].vec_dot_type, w->ne[0]);
}

// Per-thread scratch bytes of the matmul packed path for w, rounded up to a
// cache line (0: none).
static size_t pack_bytes(const kv_kernels *k, const kv_tensor *w) {
    return (kv_matmul_scratch_size(k, w->type, w->ne[0]) + 63) / 64 * 64;
}

static kv_status check_params(const kv_model *m, kv_ctx_params *p, kv_err *err) {
    if (p->n_ctx == 0)
        p->n_ctx = m->hp.n_ctx_train > KV_CTX_MAX_CTX ? KV_CTX_MAX_CTX : (int32_t)m->hp.n_ctx_train;
    if (p->n_outputs_max == 0)
        p->n_outputs_max = p->n_batch;
    if (p->n_ctx < 1 || p->n_ctx > KV_CTX_MAX_CTX)
        return KV_FAIL(err, KV_ERR_INVALID, "n_ctx %d is outside 1..%d", p->n_ctx, KV_CTX_MAX_CTX);
    if (p->n_batch < 1 || p->n_batch > KV_CTX_MAX_CTX)
        return KV_FAIL(err, KV_ERR_INVALID, "n_batch %d is outside 1..%d", p->n_batch,
                       KV_CTX_MAX_CTX);
    if (p->n_seq_max < 1 || p->n_seq_max > KV_CTX_MAX_SEQ)
        return KV_FAIL(err, KV_ERR_INVALID, "n_seq_max %d is outside 1..%d", p->n_seq_max,
                       KV_CTX_MAX_SEQ);
    if (p->n_outputs_max < 1 || p->n_outputs_max > p->n_batch)
        return KV_FAIL(err, KV_ERR_INVALID, "n_outputs_max %d is outside 1..n_batch (%d)",
                       p->n_outputs_max, p->n_batch);
    kv_status st = kv_threads_resolve(p->n_threads, "n_threads", &p->n_threads, err);
    if (st != KV_OK)
        return st;
    if (p->n_cells_max < 0)
        return KV_FAIL(err, KV_ERR_INVALID, "n_cells_max %lld is negative",
                       (long long)p->n_cells_max);
    return KV_OK;
}

// Blocks the cache may hold: n_cells_max, or n_ctx cells for every sequence.
static kv_status blocks_max(const kv_ctx_params *p, int32_t *out, kv_err *err) {
    const int64_t per_seq = ((int64_t)p->n_ctx + KV_CTX_BLOCK_CELLS - 1) / KV_CTX_BLOCK_CELLS;
    const int64_t n = p->n_cells_max > 0
                          ? (p->n_cells_max - 1) / KV_CTX_BLOCK_CELLS + 1
                          : per_seq * p->n_seq_max;
    if (n > KV_CTX_MAX_BLOCKS)
        return KV_FAIL(err, KV_ERR_LIMIT,
                       "KV cache of %lld blocks of %d cells is over the limit of %d blocks; "
                       "set n_cells_max",
                       (long long)n, KV_CTX_BLOCK_CELLS, KV_CTX_MAX_BLOCKS);
    *out = (int32_t)n;
    return KV_OK;
}

static void plan_scratch(kv_ctx *c, arena_plan *a, int n_threads) {
    const kv_hparams *hp = &c->model->hp;
    const size_t B = (size_t)c->p.n_batch;
    const size_t O = (size_t)c->p.n_outputs_max;
    const size_t S = (size_t)c->p.n_seq_max;
    const size_t F = sizeof(float);
    const size_t I = sizeof(int32_t);
    plan(a, (void **)&c->x, B * (size_t)hp->n_embd, F);
    plan(a, (void **)&c->xn, B * (size_t)hp->n_embd, F);
    plan(a, (void **)&c->q, B * (size_t)(hp->n_head * hp->n_embd_head_k), F);
    plan(a, (void **)&c->kx, B * (size_t)(hp->n_head_kv * hp->n_embd_head_k), F);
    plan(a, (void **)&c->vx, B * (size_t)(hp->n_head_kv * hp->n_embd_head_v), F);
    plan(a, (void **)&c->q16, B * (size_t)(hp->n_head * hp->n_embd_head_k), sizeof(kv_f16));
    plan(a, (void **)&c->attn, B * (size_t)(hp->n_head * hp->n_embd_head_v), F);
    plan(a, (void **)&c->ff_gate, B * (size_t)hp->n_ff, F);
    plan(a, (void **)&c->ff_up, B * (size_t)hp->n_ff, F);
    plan(a, (void **)&c->cs, B * 2 * (size_t)(hp->n_rot > 0 ? hp->n_rot : 1), F);
    plan(a, (void **)&c->act, B, c->act_row_max);
    plan(a, (void **)&c->tok_pos, B, I);
    plan(a, (void **)&c->tok_seq, B, I);
    plan(a, (void **)&c->tok_cell, B, I);
    plan(a, (void **)&c->out_row, B, I);
    plan(a, (void **)&c->out_tok, O, I);
    plan(a, (void **)&c->seq_max, S, I);
    plan(a, (void **)&c->seq_new, S, I);
    plan(a, (void **)&c->out_h, O * (size_t)hp->n_embd, F);
    if (c->p.embeddings) {
        plan(a, (void **)&c->hidden, O * (size_t)hp->n_embd, F);
        plan(a, (void **)&c->hidden_norm, O * (size_t)hp->n_embd, F);
    }
    if (c->p.logits)
        plan(a, (void **)&c->logits, O * (size_t)hp->n_vocab, F);
    plan(a, (void **)&c->att_t0, B + 1, I);
    plan(a, (void **)&c->ts, (size_t)n_threads, sizeof *c->ts);
    // per thread: the scores and the gathered queries of one attention item
    const size_t Q = (size_t)c->att_hq * (size_t)c->att_tq;
    size_t n_scores = 0, n_q = 0;
    if (!kv_mul_ok((size_t)n_threads * Q, (size_t)c->p.n_ctx, &n_scores) ||
        !kv_mul_ok((size_t)n_threads * Q, (size_t)hp->n_embd_head_k, &n_q))
        a->overflow = true;
    plan(a, (void **)&c->ts_scores, n_scores, F);
    plan(a, (void **)&c->ts_q, n_q, F);
    size_t n_pack = 0;
    if (!kv_mul_ok((size_t)n_threads, c->pack_size, &n_pack))
        a->overflow = true;
    plan(a, (void **)&c->ts_pack, n_pack, 1);
    size_t n_qk = 0;
    if (!kv_mul_ok((size_t)n_threads * Q, c->qk_row, &n_qk))
        a->overflow = true;
    plan(a, (void **)&c->ts_qk, n_qk, 1);
}

static void split_threads(kv_ctx *c, int n_threads) {
    const size_t Q = (size_t)c->att_hq * (size_t)c->att_tq;
    for (int t = 0; t < n_threads; t++) {
        c->ts[t].scores = c->ts_scores + (size_t)t * Q * (size_t)c->p.n_ctx;
        c->ts[t].q = c->ts_q + (size_t)t * Q * (size_t)c->model->hp.n_embd_head_k;
        c->ts[t].pack = c->pack_size ? c->ts_pack + (size_t)t * c->pack_size : NULL;
        c->ts[t].qk = c->ts_qk + (size_t)t * Q * c->qk_row;
    }
}

kv_status kv_ctx_new(const kv_model *m, const kv_ctx_params *params, kv_ctx **out, kv_err *err) {
    *out = NULL;
    kv_ctx_params p = params ? *params : kv_ctx_default_params();
    kv_status st = check_params(m, &p, err);
    if (st != KV_OK)
        return st;
    kv_ctx *c = calloc(1, sizeof *c);
    if (!c)
        return KV_FAIL(err, KV_ERR_NOMEM, "out of memory for a context");
    c->model = m;
    c->k = m->kernels;
    c->p = p;
    c->pool = p.pool;
    if (!c->pool) {
        st = kv_threadpool_new(p.n_threads, &c->pool, err);
        c->own_pool = true;
    }
    const int n_threads = c->pool ? kv_threadpool_n_threads(c->pool) : 1;
    c->act_row_max = max_over_weights(m, act_row_bytes);
    c->pack_size = max_over_weights(m, pack_bytes);
    int32_t n_blocks = 0;
    if (st == KV_OK)
        st = blocks_max(&p, &n_blocks, err);
    if (st == KV_OK)
        st = kv__cache_init(&c->cache, &m->hp, p.n_ctx, p.n_seq_max, n_blocks, p.type_k,
                            p.type_v, err);
    if (st == KV_OK && p.type_k != KV_TYPE_F16)
        c->qk_row = kv_type_row_size(c->k->types[p.type_k].vec_dot_type, m->hp.n_embd_head_k);
    kv__llama_attention_shape(&m->hp, &c->att_hq, &c->att_tq);
    arena_plan a = {0};
    plan_scratch(c, &a, n_threads);
    if (st == KV_OK)
        st = arena_alloc(&a, &c->arena, err);
    if (st == KV_OK)
        split_threads(c, n_threads);
    if (st != KV_OK) {
        kv_ctx_free(c);
        return st;
    }
    *out = c;
    return KV_OK;
}

void kv_ctx_free(kv_ctx *c) {
    if (!c)
        return;
    if (c->own_pool)
        kv_threadpool_free(c->pool);
    kv__cache_free(&c->cache);
    free(c->arena);
    free(c);
}

int32_t kv_ctx_n_ctx(const kv_ctx *c) { return c->p.n_ctx; }
int32_t kv_ctx_n_batch(const kv_ctx *c) { return c->p.n_batch; }
int32_t kv_ctx_n_seq_max(const kv_ctx *c) { return c->p.n_seq_max; }
const kv_model *kv_ctx_model(const kv_ctx *c) { return c->model; }

void kv_ctx_set_matmul_hook(kv_ctx *c, kv_matmul_hook fn, void *user) {
    c->hook = fn;
    c->hook_user = fn ? user : NULL;
}

// ---- decode ----

// Checks token i, resolves its position and counts it against its sequence.
static kv_status resolve_token(kv_ctx *c, const kv_batch *b, int32_t i, kv_err *err) {
    const int32_t s = b->seq_id ? b->seq_id[i] : 0;
    if (s < 0 || s >= c->p.n_seq_max)
        return KV_FAIL(err, KV_ERR_INVALID, "batch token %d: sequence %d is outside 0..%d", i, s,
                       c->p.n_seq_max - 1);
    const int32_t tok = b->tokens[i];
    if (tok < 0 || tok >= c->model->hp.n_vocab)
        return KV_FAIL(err, KV_ERR_INVALID, "batch token %d: token id %d is outside 0..%lld", i,
                       tok, (long long)c->model->hp.n_vocab - 1);
    const int32_t p = b->pos ? b->pos[i] : c->seq_max[s] + 1;
    if (p < 0 || p == INT32_MAX)
        return KV_FAIL(err, KV_ERR_INVALID, "batch token %d: position %d is out of range", i, p);
    if (c->model->pos_embd.name && p >= c->model->hp.n_ctx_train) // rows of position_embd
        return KV_FAIL(err, KV_ERR_LIMIT, "batch token %d: position %d is past the model's %lld "
                       "position embeddings", i, p, (long long)c->model->hp.n_ctx_train);
    if (p <= c->seq_max[s]) { // not past everything seen: look for a repeat
        bool dup = kv__cache_has_pos(&c->cache, s, p);
        for (int32_t j = 0; j < i && !dup; j++)
            dup = c->tok_seq[j] == s && c->tok_pos[j] == p;
        if (dup)
            return KV_FAIL(err, KV_ERR_INVALID,
                           "batch token %d: sequence %d already has position %d", i, s, p);
    }
    if (p > c->seq_max[s])
        c->seq_max[s] = p;
    const int32_t used = c->cache.seqs[s].n_cells + c->seq_new[s];
    if (used >= c->p.n_ctx)
        return KV_FAIL(err, KV_ERR_LIMIT, "sequence %d is full: %d cells of n_ctx %d are used", s,
                       used, c->p.n_ctx);
    c->tok_seq[i] = s;
    c->tok_pos[i] = p;
    c->tok_cell[i] = used;
    c->seq_new[s]++;
    return KV_OK;
}

static kv_status resolve_outputs(kv_ctx *c, const kv_batch *b, kv_err *err) {
    int32_t n = 0;
    for (int32_t i = 0; i < b->n_tokens; i++) {
        bool want = b->logits ? b->logits[i] != 0 : i == b->n_tokens - 1;
        c->out_row[i] = -1;
        if (!want)
            continue;
        if (n == c->p.n_outputs_max)
            return KV_FAIL(err, KV_ERR_LIMIT, "batch asks for more than n_outputs_max (%d) outputs",
                           c->p.n_outputs_max);
        c->out_row[i] = n;
        c->out_tok[n++] = i;
    }
    c->n_outputs = n;
    return KV_OK;
}

kv_status kv_ctx_decode(kv_ctx *c, const kv_batch *b, kv_err *err) {
    c->n_last = 0;
    c->n_outputs = 0;
    if (!b || !b->tokens || b->n_tokens < 1)
        return KV_FAIL(err, KV_ERR_INVALID, "empty batch");
    if (b->n_tokens > c->p.n_batch)
        return KV_FAIL(err, KV_ERR_LIMIT, "batch of %d tokens exceeds n_batch %d", b->n_tokens,
                       c->p.n_batch);
    kv_cache *kc = &c->cache;
    for (int32_t s = 0; s < c->p.n_seq_max; s++) {
        c->seq_max[s] = kc->seqs[s].pos_max;
        c->seq_new[s] = 0;
    }
    kv_status st = KV_OK;
    for (int32_t i = 0; i < b->n_tokens && st == KV_OK; i++)
        st = resolve_token(c, b, i, err);
    if (st == KV_OK)
        st = resolve_outputs(c, b, err);
    if (st == KV_OK)
        st = kv__cache_reserve(kc, c->seq_new, err);
    if (st != KV_OK) {
        c->n_outputs = 0;
        return st;
    }
    // Commit the cells; the forward pass fills their K and V rows.
    for (int32_t i = 0; i < b->n_tokens; i++) {
        const int32_t cell = kv__cache_cell(kc, c->tok_seq[i], c->tok_cell[i]);
        kv__cache_pos(kc, cell / KV_CTX_BLOCK_CELLS)[cell % KV_CTX_BLOCK_CELLS] = c->tok_pos[i];
        c->tok_cell[i] = cell;
    }
    for (int32_t s = 0; s < c->p.n_seq_max; s++) {
        kc->seqs[s].n_cells += c->seq_new[s];
        kc->seqs[s].pos_max = c->seq_max[s];
    }
    c->n_last = b->n_tokens;
    kv__llama_forward(c, b->tokens, b->n_tokens);
    return KV_OK;
}

static int32_t out_row(const kv_ctx *c, int32_t i) {
    if (i < 0 || i >= c->n_last)
        return -1;
    return c->out_row[i];
}

const float *kv_ctx_logits(const kv_ctx *c, int32_t i) {
    int32_t r = out_row(c, i);
    if (r < 0 || !c->logits)
        return NULL;
    return c->logits + (size_t)r * (size_t)c->model->hp.n_vocab;
}

const float *kv_ctx_hidden(const kv_ctx *c, int32_t i, bool post_norm) {
    int32_t r = out_row(c, i);
    if (r < 0 || !c->hidden)
        return NULL;
    const float *base = post_norm ? c->hidden_norm : c->hidden;
    return base + (size_t)r * (size_t)c->model->hp.n_embd;
}
