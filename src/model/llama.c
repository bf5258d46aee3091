// The Llama forward pass over a batch: embedding lookup, then per layer
// RMS norm -> q/k/v projections (+ optional biases) -> RoPE -> F16 KV cache ->
// causal attention within each sequence (grouped-query heads) -> output
// projection -> residual, RMS norm -> SwiGLU feed-forward -> residual; finally
// the output norm and logits for the requested rows. Every stage is a parallel
// loop whose iterations write disjoint outputs, so results do not depend on the
// thread count. Shapes below: T = tokens in the batch, O = output rows.
#include "kvant/kv_model.h"

#include <math.h>
#include <string.h>

#include "model/model_int.h"

#define GRAIN_ROWS 1    // batch rows per chunk for row-wise stages
#define GRAIN_MATMUL 4  // weight rows per chunk

// ---- matrix products ----

typedef struct {
    const kv_ctx *c;
    kv_matmul_args a;
} matmul_job;

static void matmul_run(void *arg, int64_t o0, int64_t o1, int thread) {
    const matmul_job *j = arg;
    const kv_ctx *c = j->c;
    c->k->matmul(c->k, &j->a, o0, o1, c->ts[thread].pack, c->pack_size);
}

typedef struct {
    kv_from_float_fn fn;
    const float *x;
    int64_t n_in;
    uint8_t *y;
    size_t y_row;
} convert_job;

static void convert_run(void *arg, int64_t r0, int64_t r1, int thread) {
    (void)thread;
    const convert_job *j = arg;
    for (int64_t r = r0; r < r1; r++)
        j->fn(j->x + r * j->n_in, j->y + (size_t)r * j->y_row, j->n_in);
}

// w (ne1, ne0) @ x (n_rows, ne0) -> y (n_rows, ne1)
static void matmul(kv_ctx *c, const kv_tensor *w, const float *x, int64_t n_rows, float *y) {
    const int64_t n_in = w->ne[0];
    if (c->hook)
        c->hook(c->hook_user, w->name, x, n_rows, n_in);
    const kv_type vt = c->k->types[w->type].vec_dot_type;
    matmul_job j = {c, {w->type, w->data, w->row_size, x, (size_t)n_in * sizeof(float), y,
                           w->ne[1], n_in, n_rows}};
    if (vt != KV_TYPE_F32) { // activations to the weight type's dot format, once per row
        convert_job cj = {c->k->from_float[vt], x, n_in, c->act, kv_type_row_size(vt, n_in)};
        kv_threadpool_parallel_for(c->pool, n_rows, GRAIN_ROWS, convert_run, &cj);
        j.a.x = c->act;
        j.a.x_row_size = cj.y_row;
    }
    kv_threadpool_parallel_for(c->pool, w->ne[1], GRAIN_MATMUL, matmul_run, &j);
}

// ---- row-wise stages ----

typedef struct {
    kv_ctx *c;
    int64_t layer;
    const float *src;
    float *dst;
    const kv_tensor *weight;
    const int32_t *tokens; // embedding lookup only
} rows_job;

// dst (T, n_embd) = rmsnorm(src) * weight
static void norm_run(void *arg, int64_t t0, int64_t t1, int thread) {
    (void)thread;
    const rows_job *j = arg;
    const int64_t n = j->c->model->hp.n_embd;
    for (int64_t t = t0; t < t1; t++)
        j->c->k->rmsnorm(n, j->dst + t * n, j->src + t * n, j->weight->data,
                         j->c->model->hp.norm_rms_eps);
}

// dst (T, n_embd) += src (T, n_embd)
static void residual_run(void *arg, int64_t t0, int64_t t1, int thread) {
    (void)thread;
    const rows_job *j = arg;
    const int64_t n = j->c->model->hp.n_embd;
    for (int64_t t = t0; t < t1; t++)
        j->c->k->add(n, j->dst + t * n, j->src + t * n);
}

// ff_gate (T, n_ff) = silu(ff_gate) * ff_up
static void swiglu_run(void *arg, int64_t t0, int64_t t1, int thread) {
    (void)thread;
    const rows_job *j = arg;
    const int64_t n = j->c->model->hp.n_ff;
    for (int64_t t = t0; t < t1; t++)
        j->c->k->silu_mul(n, j->c->ff_gate + t * n, j->c->ff_gate + t * n, j->c->ff_up + t * n);
}

static void add_bias(const kv_ctx *c, const kv_tensor *b, float *y, int64_t t) {
    if (b->name)
        c->k->add(b->ne[0], y + t * b->ne[0], b->data);
}

// Biases, RoPE on q and k, then k and v into the token's cache cell as F16.
static void rope_store_run(void *arg, int64_t t0, int64_t t1, int thread) {
    (void)thread;
    const rows_job *j = arg;
    kv_ctx *c = j->c;
    const kv_hparams *hp = &c->model->hp;
    const kv_layer *L = &c->model->layers[j->layer];
    const int64_t nq = hp->n_head * hp->n_embd_head_k;
    const int64_t nk = c->cache.k_row;
    const int64_t nv = c->cache.v_row;
    for (int64_t t = t0; t < t1; t++) {
        add_bias(c, &L->bq, c->q, t);
        add_bias(c, &L->bk, c->kx, t);
        add_bias(c, &L->bv, c->vx, t);
        const float *cs = c->cs + t * hp->n_rot;
        c->k->rope(c->q + t * nq, hp->n_head, hp->n_embd_head_k, hp->n_rot, cs);
        c->k->rope(c->kx + t * nk, hp->n_head_kv, hp->n_embd_head_k, hp->n_rot, cs);
        const int32_t b = c->tok_cell[t] / KV_CTX_BLOCK_CELLS;
        const int32_t i = c->tok_cell[t] % KV_CTX_BLOCK_CELLS;
        const kv_from_float_fn to_f16 = c->k->from_float[KV_TYPE_F16];
        to_f16(c->kx + t * nk, kv__cache_k(&c->cache, b, j->layer) + i * nk, nk);
        to_f16(c->vx + t * nv, kv__cache_v(&c->cache, b, j->layer) + i * nv, nv);
        // Keys are cached as F16 and ggml rounds q to F16 for that product; so do we.
        to_f16(c->q + t * nq, c->q16 + t * nq, nq);
        c->k->to_float[KV_TYPE_F16](c->q16 + t * nq, c->q + t * nq, nq);
    }
}

// ---- attention ----

// scores[m] = q . K[m] * scale for the n cells of a sequence whose blocks are
// given, -inf for cells past position p (causal mask).
static int32_t attention_scores(const kv_ctx *c, const int32_t *blocks, int32_t n, int64_t layer,
                             int64_t kvh, int32_t p, const float *q, float *scores) {
    const kv_cache *kc = &c->cache;
    const int64_t hd_k = c->model->hp.n_embd_head_k;
    const float scale = 1.0f / sqrtf((float)hd_k);
    const kv_vec_dot_fn dot_f16 = c->k->dot_f16_f32;
    int32_t used = 0;
    for (int32_t m0 = 0; m0 < n; m0 += KV_CTX_BLOCK_CELLS) {
        const int32_t b = blocks[m0 / KV_CTX_BLOCK_CELLS];
        const int32_t nb = n - m0 < KV_CTX_BLOCK_CELLS ? n - m0 : KV_CTX_BLOCK_CELLS;
        const int32_t *pos = kv__cache_pos(kc, b);
        const kv_f16 *k = kv__cache_k(kc, b, layer) + kvh * hd_k;
        float *sb = scores + m0;
        int32_t last = -1; // last visible cell of the block
        for (int32_t i = 0; i < nb; i++)
            if (pos[i] <= p)
                last = i;
        if (last < 0) {
            for (int32_t i = 0; i < nb; i++)
                sb[i] = -INFINITY;
            continue;
        }
        for (int32_t i = 0; i <= last; i++)
            dot_f16(hd_k, &sb[i], k + i * kc->k_row, q);
        for (int32_t i = 0; i < nb; i++)
            sb[i] = pos[i] <= p ? sb[i] * scale : -INFINITY;
        used = m0 + last + 1;
    }
    return used;
}

// out (n_embd_head_v) = sum over the cells of scores[m] * V[m].
static void attention_values(const kv_ctx *c, const int32_t *blocks, int32_t n, int64_t layer,
                             int64_t kvh, const float *scores, float *out) {
    const kv_cache *kc = &c->cache;
    const int64_t hd_v = c->model->hp.n_embd_head_v;
    memset(out, 0, (size_t)hd_v * sizeof *out);
    for (int32_t m0 = 0; m0 < n; m0 += KV_CTX_BLOCK_CELLS) {
        const int32_t b = blocks[m0 / KV_CTX_BLOCK_CELLS];
        const int32_t nb = n - m0 < KV_CTX_BLOCK_CELLS ? n - m0 : KV_CTX_BLOCK_CELLS;
        const kv_f16 *v = kv__cache_v(kc, b, layer) + kvh * hd_v;
        if (c->k->axpy_f16_rows) {
            c->k->axpy_f16_rows(hd_v, nb, (size_t)kc->v_row, v, scores + m0, out);
            continue;
        }
        for (int32_t i = 0; i < nb; i++)
            if (scores[m0 + i] != 0.0f)
                c->k->axpy_f16(hd_v, out, scores[m0 + i], v + i * kc->v_row);
    }
}

// One (token, head) pair per index: softmax(q . K^T * scale, causal within the
// sequence) @ V -> attn (T, n_head * n_embd_head_v). The sequence's cells are
// visited block by block, in cell order.
static void attention_run(void *arg, int64_t i0, int64_t i1, int thread) {
    const rows_job *j = arg;
    kv_ctx *c = j->c;
    const kv_hparams *hp = &c->model->hp;
    const int64_t hd_k = hp->n_embd_head_k;
    const int64_t hd_v = hp->n_embd_head_v;
    const int64_t group = hp->n_head / hp->n_head_kv;
    float *scores = c->ts[thread].scores;
    for (int64_t i = i0; i < i1; i++) {
        const int64_t t = i / hp->n_head;
        const int64_t h = i % hp->n_head;
        const kv_cache_seq *sq = &c->cache.seqs[c->tok_seq[t]];
        const float *q = c->q + t * hp->n_head * hd_k + h * hd_k; // rounded through F16
        // Cells past the last visible one only add exact zeros: leave them out.
        const int32_t n = attention_scores(c, sq->blocks, sq->n_cells, j->layer, h / group,
                                           c->tok_pos[t], q, scores);
        c->k->softmax(n, scores);
        attention_values(c, sq->blocks, n, j->layer, h / group, scores,
                         c->attn + t * hp->n_head * hd_v + h * hd_v);
    }
}

// ---- embedding and outputs ----

static void embed_run(void *arg, int64_t t0, int64_t t1, int thread) {
    (void)thread;
    const rows_job *j = arg;
    kv_ctx *c = j->c;
    const kv_model *m = c->model;
    const kv_hparams *hp = &m->hp;
    const int32_t *tokens = j->tokens;
    for (int64_t t = t0; t < t1; t++) {
        const uint8_t *row = (const uint8_t *)m->tok_embd.data + (size_t)tokens[t] * m->tok_embd.row_size;
        c->k->to_float[m->tok_embd.type](row, c->x + t * hp->n_embd, hp->n_embd);
        kv_rope_cos_sin(c->cs + t * hp->n_rot, hp->n_rot, c->tok_pos[t], hp->rope_freq_base,
                        hp->rope_freq_scale, m->rope_freqs.name ? m->rope_freqs.data : NULL);
    }
}

static void outputs(kv_ctx *c) {
    const kv_model *m = c->model;
    const int64_t n = m->hp.n_embd;
    const int32_t n_out = c->n_outputs;
    if (n_out == 0)
        return;
    for (int32_t r = 0; r < n_out; r++)
        memcpy(c->out_h + (size_t)r * n, c->x + (size_t)c->out_tok[r] * n, (size_t)n * sizeof(float));
    if (c->hidden)
        memcpy(c->hidden, c->out_h, (size_t)n_out * (size_t)n * sizeof(float));
    rows_job nj = {c, 0, c->out_h, c->out_h, &m->output_norm, NULL};
    kv_threadpool_parallel_for(c->pool, n_out, GRAIN_ROWS, norm_run, &nj);
    if (c->hidden_norm)
        memcpy(c->hidden_norm, c->out_h, (size_t)n_out * (size_t)n * sizeof(float));
    if (c->logits)
        matmul(c, &m->output, c->out_h, n_out, c->logits);
}

// ---- the pass ----

static void layer(kv_ctx *c, int64_t il, int64_t T) {
    const kv_layer *L = &c->model->layers[il];
    kv_threadpool *pool = c->pool;
    rows_job j = {c, il, c->x, c->xn, &L->attn_norm, NULL};
    kv_threadpool_parallel_for(pool, T, GRAIN_ROWS, norm_run, &j);
    matmul(c, &L->wq, c->xn, T, c->q);
    matmul(c, &L->wk, c->xn, T, c->kx);
    matmul(c, &L->wv, c->xn, T, c->vx);
    kv_threadpool_parallel_for(pool, T, GRAIN_ROWS, rope_store_run, &j);
    kv_threadpool_parallel_for(pool, T * c->model->hp.n_head, GRAIN_ROWS, attention_run, &j);
    matmul(c, &L->wo, c->attn, T, c->xn);
    if (L->bo.name)
        for (int64_t t = 0; t < T; t++)
            add_bias(c, &L->bo, c->xn, t);
    j = (rows_job){c, il, c->xn, c->x, NULL, NULL};
    kv_threadpool_parallel_for(pool, T, GRAIN_ROWS, residual_run, &j);

    j = (rows_job){c, il, c->x, c->xn, &L->ffn_norm, NULL};
    kv_threadpool_parallel_for(pool, T, GRAIN_ROWS, norm_run, &j);
    matmul(c, &L->ffn_gate, c->xn, T, c->ff_gate);
    matmul(c, &L->ffn_up, c->xn, T, c->ff_up);
    kv_threadpool_parallel_for(pool, T, GRAIN_ROWS, swiglu_run, &j);
    matmul(c, &L->ffn_down, c->ff_gate, T, c->xn);
    j = (rows_job){c, il, c->xn, c->x, NULL, NULL};
    kv_threadpool_parallel_for(pool, T, GRAIN_ROWS, residual_run, &j);
}

void kv__llama_forward(kv_ctx *c, const int32_t *tokens, int32_t n_tokens) {
    rows_job ej = {c, 0, NULL, NULL, NULL, tokens};
    kv_threadpool_parallel_for(c->pool, n_tokens, GRAIN_ROWS, embed_run, &ej);
    for (int64_t il = 0; il < c->model->hp.n_layer; il++)
        layer(c, il, n_tokens);
    outputs(c);
}
