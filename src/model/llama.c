// The Llama forward pass over a batch, which also runs Qwen2, Qwen3, Gemma 2 and 3 (what
// differs is in load.c's kv_arch table): embedding lookup, then per layer
// RMS norm -> q/k/v projections (+ optional biases) -> per-head q/k norms (qwen3)
// -> RoPE (normal, or NEOX for qwen2/3) -> KV cache (F16, or F32/Q8_0/Q4_0) ->
// causal attention within each sequence (grouped-query heads; several query
// rows that share their cached keys per work item) -> output projection ->
// residual, RMS norm -> SwiGLU feed-forward -> residual; finally the output
// norm and logits for the requested rows. Gemma 2 adds: the embedding scaled by
// sqrt(n_embd), norms on the attention and feed-forward outputs, GeGLU,
// soft-capped attention scores and logits, and a sliding window on even layers;
// Gemma 3: q/k norms, no attention cap, 5 local layers (own RoPE base) per global.
// BERT (an encoder): token-type and learned position embeddings with a LayerNorm, no
// RoPE, attention over the whole sequence (not causal), LayerNorm after each
// residual, a GELU feed-forward without gate, and no output norm. Every stage is a parallel
// loop whose iterations write disjoint outputs, so results do not depend on the
// thread count. Shapes below: T = tokens in the batch, O = output rows.
#include "kvant/kv_model.h"

#include <math.h>
#include <string.h>

#include "kvant/kv_quant.h"
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
    if (c->hook && !w->no_hook)
        c->hook(c->hook_user, w->name, x, n_rows, n_in);
    const kv_type vt = c->k->types[w->type].vec_dot_type;
    matmul_job j = {c, {w->type, w->data, w->row_size, x, (size_t)n_in * sizeof(float), y,
                           w->ne[1], n_in, n_rows, w->packed, w->packed_with}};
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

// ff_gate (T, n_ff) = gelu_tanh(ff_gate) * ff_up (Gemma's GeGLU; scalar, as
// transformers' gelu_pytorch_tanh)
static void geglu_run(void *arg, int64_t t0, int64_t t1, int thread) {
    (void)thread;
    const rows_job *j = arg;
    const int64_t n = j->c->model->hp.n_ff;
    const float k = 0.7978845608028654f; // sqrt(2 / pi)
    for (int64_t t = t0; t < t1; t++) {
        float *g = j->c->ff_gate + t * n;
        const float *u = j->c->ff_up + t * n;
        for (int64_t i = 0; i < n; i++) {
            const float x = g[i];
            g[i] = 0.5f * x * (1.0f + tanhf(k * (x + 0.044715f * x * x * x))) * u[i];
        }
    }
}

// y (n) = (x - mean) / sqrt(var + eps) * w + b: BERT's LayerNorm, sums in double.
static void layer_norm(int64_t n, float *y, const float *x, const float *w, const float *b,
                       float eps) {
    double sum = 0.0, sq = 0.0;
    for (int64_t i = 0; i < n; i++)
        sum += x[i];
    const double mean = sum / (double)n;
    for (int64_t i = 0; i < n; i++)
        sq += (x[i] - mean) * (x[i] - mean);
    const float inv = (float)(1.0 / sqrt(sq / (double)n + eps));
    for (int64_t i = 0; i < n; i++)
        y[i] = (float)(x[i] - mean) * inv * w[i] + b[i];
}

typedef struct {
    kv_ctx *c;
    float *x;            // (T, n_embd), normed in place
    const kv_tensor *w, *b;
} lnorm_job;

static void lnorm_run(void *arg, int64_t t0, int64_t t1, int thread) {
    (void)thread;
    const lnorm_job *j = arg;
    const int64_t n = j->c->model->hp.n_embd;
    for (int64_t t = t0; t < t1; t++)
        layer_norm(n, j->x + t * n, j->x + t * n, j->w->data, j->b->data,
                   j->c->model->hp.norm_rms_eps);
}

static void lnorm(kv_ctx *c, float *x, int64_t T, const kv_tensor *w, const kv_tensor *b) {
    lnorm_job j = {c, x, w, b};
    kv_threadpool_parallel_for(c->pool, T, GRAIN_ROWS, lnorm_run, &j);
}

// ff_gate (T, n_ff) = gelu(ff_gate + b_up), the exact (erf) GELU of BERT's "gelu"
static void gelu_run(void *arg, int64_t t0, int64_t t1, int thread) {
    (void)thread;
    const rows_job *j = arg;
    const int64_t n = j->c->model->hp.n_ff;
    const float *bias = j->weight->data;
    for (int64_t t = t0; t < t1; t++) {
        float *g = j->c->ff_gate + t * n;
        for (int64_t i = 0; i < n; i++) {
            const float x = g[i] + bias[i];
            g[i] = 0.5f * x * (1.0f + erff(x * 0.70710678118654752f));
        }
    }
}

static void add_bias(const kv_ctx *c, const kv_tensor *b, float *y, int64_t t) {
    if (b->name)
        c->k->add(b->ne[0], y + t * b->ne[0], b->data);
}

// RoPE in the NEOX layout (qwen2, qwen3; llama.cpp rope type 2): pair i of a
// head is (x[i], x[i + n_rot/2]), HF's rotate-half order, so q/k rows are not
// permuted. cs as kv_rope_cos_sin fills it.
static void rope_neox(float *x, int64_t n_head, int64_t head_dim, int64_t n_rot, const float *cs) {
    const int64_t half = n_rot / 2;
    for (int64_t h = 0; h < n_head; h++) {
        float *v = x + h * head_dim;
        for (int64_t i = 0; i < half; i++) {
            const float c = cs[2 * i], s = cs[2 * i + 1];
            const float x0 = v[i], x1 = v[i + half];
            v[i] = x0 * c - x1 * s;
            v[i + half] = x0 * s + x1 * c;
        }
    }
}

// x (n_head, head_dim) = rmsnorm per head * w (qwen3's q_norm / k_norm)
static void head_norm(const kv_ctx *c, float *x, int64_t n_head, const kv_tensor *w) {
    const int64_t hd = w->ne[0];
    for (int64_t h = 0; h < n_head; h++)
        c->k->rmsnorm(hd, x + h * hd, x + h * hd, w->data, c->model->hp.norm_rms_eps);
}

// n values into a cache row of type t (F32, F16, Q8_0 or Q4_0, kv__cache_type_ok).
// Quantized blocks never cross heads (the head size is a multiple of 32).
static void store_row(const kv_ctx *c, kv_type t, const float *x, uint8_t *row, int64_t n) {
    if (c->k->from_float[t]) {
        c->k->from_float[t](x, row, n);
    } else if (kv_quant_rows(t, x, row, 1, n, NULL, NULL) != KV_OK) {
        memset(row, 0, kv_type_row_size(t, n)); // NaN or Inf in the row: a zero row
    }
}

// Biases, RoPE on q and k, then k and v into the token's cache cell (F16 or the
// cache's types).
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
        if (L->q_norm.name) {
            head_norm(c, c->q + t * nq, hp->n_head, &L->q_norm);
            head_norm(c, c->kx + t * nk, hp->n_head_kv, &L->k_norm);
        }
        const bool local = c->model->rope_base_swa > 0.0f && kv__llama_window(c->model, j->layer);
        const float *cs = c->cs + (2 * t + (local ? 1 : 0)) * hp->n_rot;
        void (*rope)(float *, int64_t, int64_t, int64_t, const float *) =
            c->model->arch->rope_neox ? rope_neox : c->k->rope;
        rope(c->q + t * nq, hp->n_head, hp->n_embd_head_k, hp->n_rot, cs);
        rope(c->kx + t * nk, hp->n_head_kv, hp->n_embd_head_k, hp->n_rot, cs);
        const int32_t b = c->tok_cell[t] / KV_CTX_BLOCK_CELLS;
        const int32_t i = c->tok_cell[t] % KV_CTX_BLOCK_CELLS;
        const kv_cache *kc = &c->cache;
        store_row(c, kc->type_k, c->kx + t * nk, kv__cache_k(kc, b, j->layer) + i * kc->k_row_bytes,
                  nk);
        store_row(c, kc->type_v, c->vx + t * nv, kv__cache_v(kc, b, j->layer) + i * kc->v_row_bytes,
                  nv);
        // Keys cached as F16: ggml rounds q to F16 for that product; so do we (and
        // for the quantized caches, as llama.cpp's F16 q). An F32 cache keeps q
        // as it is, rounding nothing.
        if (kc->type_k == KV_TYPE_F32)
            continue;
        const kv_from_float_fn to_f16 = c->k->from_float[KV_TYPE_F16];
        to_f16(c->q + t * nq, c->q16 + t * nq, nq);
        c->k->to_float[KV_TYPE_F16](c->q16 + t * nq, c->q + t * nq, nq);
    }
}

// ---- attention ----

// An attention item: the queries of heads [h0, h0 + hq) of nt consecutive
// tokens of one sequence, all against the same cached keys and values (one KV
// head). Query row it * hq + ih belongs to token it and head h0 + ih; its
// scores are row it * hq + ih of the thread's scores, n_ctx floats apart.
typedef struct {
    const int32_t *blocks; // the sequence's blocks, in cell order
    int32_t n;             // the sequence's cells
    int64_t layer, kvh;
    int32_t nt, hq;
    const int32_t *pos;    // the tokens' positions (nt)
    const float *q;        // query rows (rounded through F16 unless the K cache is F32), q_stride floats apart
    size_t q_stride;
    const uint8_t *qk;     // a K cache not in F16: the rows in its vec_dot_type, qk_row apart
    float *scores;
    int32_t used[KV_ATT_MAX_Q]; // per token: cells up to its last visible one
    bool prefetch;         // the cells are likely cold: no other item reads them
    int32_t window;        // > 0: a token sees positions p - window + 1 .. p only
} att_item;

int32_t kv__llama_window(const kv_model *m, int64_t il) {
    const int period = m->arch->swa_period;
    return period > 0 && il % period != period - 1 ? m->n_swa : 0;
}

void kv__llama_attention_shape(const kv_hparams *hp, int32_t *hq, int32_t *tq) {
    const int64_t group = hp->n_head / hp->n_head_kv;
    int32_t h = KV_ATT_MAX_Q;
    while (group % h != 0)
        h--;
    *hq = h;
    *tq = KV_ATT_MAX_Q / h;
}

// Splits the batch into runs of at most att_tq consecutive tokens of one sequence.
static void attention_runs(kv_ctx *c, int32_t n_tokens) {
    int32_t n = 0;
    for (int32_t t = 0; t < n_tokens;) {
        c->att_t0[n++] = t;
        int32_t e = t + 1;
        while (e < n_tokens && e - t < c->att_tq && c->tok_seq[e] == c->tok_seq[t])
            e++;
        t = e;
    }
    c->att_t0[n] = n_tokens;
    c->att_n_runs = n;
}

// Asks for rows [0, n_rows) of n halves, stride halves apart, to be cached: the
// next block's keys or values of a head, while this block's are used. A head's
// rows are far apart, a pattern the hardware prefetcher misses; this matters
// when generating, where each item reads its cells once from far memory.
static void prefetch_rows(const uint8_t *p, size_t stride, int32_t n_rows, size_t n) {
    for (int32_t r = 0; r < n_rows; r++)
        for (size_t i = 0; i < n; i += 64) // 64-byte lines
            __builtin_prefetch(p + (size_t)r * stride + i, 0, 3);
}

// The smallest and largest positions of a block's nb cells.
static void block_range(const int32_t *pos, int32_t nb, int32_t *lo, int32_t *hi) {
    *lo = INT32_MAX;
    *hi = INT32_MIN;
    for (int32_t i = 0; i < nb; i++) {
        *lo = pos[i] < *lo ? pos[i] : *lo;
        *hi = pos[i] > *hi ? pos[i] : *hi;
    }
}

// The last of a block's cells that a token at position p sees, or -1.
static int32_t last_visible(const int32_t *pos, int32_t nb, int32_t lo, int32_t hi, int32_t p) {
    if (hi <= p)
        return nb - 1;
    if (lo > p)
        return -1;
    int32_t last = -1;
    for (int32_t i = 0; i < nb; i++)
        if (pos[i] <= p)
            last = i;
    return last;
}

// Cells [0, nb) of a block for the query rows of token it: q . K[m] * scale
// (soft-capped: cap * tanh(x / cap) when cap > 0) where the cell is visible
// (position <= the token's, and within the sliding window if any), -inf
// elsewhere. lo, hi: the block's smallest and largest positions.
static void mask_scale(const att_item *a, size_t stride, int32_t it, const int32_t *pos,
                       int32_t nb, int32_t lo, int32_t hi, float scale, float cap, float *sb) {
    const int32_t p = a->pos[it];
    // positions below p0 are out of the window
    const int64_t p0 = a->window > 0 ? (int64_t)p - a->window + 1 : INT64_MIN;
    for (int32_t ih = 0; ih < a->hq; ih++) {
        float *row = sb + (size_t)(it * a->hq + ih) * stride;
        if (hi <= p && lo >= p0)
            for (int32_t i = 0; i < nb; i++)
                row[i] *= scale;
        else
            for (int32_t i = 0; i < nb; i++)
                row[i] = pos[i] <= p && pos[i] >= p0 ? row[i] * scale : -INFINITY;
        if (cap > 0.0f)
            for (int32_t i = 0; i < nb; i++)
                row[i] = row[i] == -INFINITY ? row[i] : cap * tanhf(row[i] / cap);
    }
}

// The smallest position any of the item's tokens sees through its window.
static int64_t window_start(const att_item *a) {
    int64_t p0 = INT64_MAX;
    for (int32_t it = 0; it < a->nt; it++)
        p0 = (int64_t)a->pos[it] - a->window + 1 < p0 ? (int64_t)a->pos[it] - a->window + 1 : p0;
    return p0;
}

// Scores of a block's first nk cells for the item's query rows when the K cache
// is not F16: the weight kernels with the key rows as weights and the queries
// (in the key type's vec_dot_type) as activations, in register tiles where the
// type has them. Each pair has vec_dot's bits, whatever the tile: batch-invariant.
static void quant_scores(const kv_ctx *c, const att_item *a, const uint8_t *kb, int32_t nk,
                         float *out, size_t stride) {
    const kv_type_kernels *tk = &c->k->types[c->cache.type_k];
    const int64_t hd_k = c->model->hp.n_embd_head_k;
    const size_t krow = c->cache.k_row_bytes;
    const int32_t nq = a->nt * a->hq;
    if (!tk->tile) {
        for (int32_t r = 0; r < nq; r++)
            for (int32_t i = 0; i < nk; i++)
                tk->vec_dot(hd_k, out + (size_t)r * stride + i, kb + (size_t)i * krow,
                            a->qk + (size_t)r * c->qk_row);
        return;
    }
    for (int32_t r0 = 0; r0 < nq; r0 += tk->tile_nx)
        for (int32_t i0 = 0; i0 < nk; i0 += tk->tile_nw) {
            const int32_t nx = nq - r0 < tk->tile_nx ? nq - r0 : tk->tile_nx;
            const int32_t nw = nk - i0 < tk->tile_nw ? nk - i0 : tk->tile_nw;
            tk->tile(hd_k, out + (size_t)r0 * stride + i0, (int64_t)stride,
                     kb + (size_t)i0 * krow, krow, nw, a->qk + (size_t)r0 * c->qk_row, c->qk_row,
                     nx);
        }
}

// Scores of every query row of the item over the cells up to the last one any
// of its tokens sees (softmax and the values read no further), block by block:
// one tile per block, up to the block's last cell that any token sees.
static void attention_scores(const kv_ctx *c, att_item *a) {
    const kv_cache *kc = &c->cache;
    const int64_t hd_k = c->model->hp.n_embd_head_k;
    const float scale = c->model->attn_scale, cap = c->model->attn_softcap;
    const size_t stride = (size_t)c->p.n_ctx;
    int32_t n_used = 0, lo, hi;
    for (int32_t it = 0; it < a->nt; it++)
        a->used[it] = 0;
    for (int32_t m0 = 0; m0 < a->n; m0 += KV_CTX_BLOCK_CELLS) {
        const int32_t nb = a->n - m0 < KV_CTX_BLOCK_CELLS ? a->n - m0 : KV_CTX_BLOCK_CELLS;
        const int32_t *pos = kv__cache_pos(kc, a->blocks[m0 / KV_CTX_BLOCK_CELLS]);
        block_range(pos, nb, &lo, &hi);
        for (int32_t it = 0; it < a->nt; it++) {
            const int32_t last = last_visible(pos, nb, lo, hi, a->pos[it]);
            a->used[it] = last >= 0 ? m0 + last + 1 : a->used[it];
            n_used = a->used[it] > n_used ? a->used[it] : n_used;
        }
    }
    for (int32_t m0 = 0; m0 < n_used; m0 += KV_CTX_BLOCK_CELLS) {
        const int32_t b = a->blocks[m0 / KV_CTX_BLOCK_CELLS];
        const int32_t nb = a->n - m0 < KV_CTX_BLOCK_CELLS ? a->n - m0 : KV_CTX_BLOCK_CELLS;
        const int32_t *pos = kv__cache_pos(kc, b);
        block_range(pos, nb, &lo, &hi);
        int32_t last_any = -1;
        for (int32_t it = 0; it < a->nt; it++) {
            const int32_t last = last_visible(pos, nb, lo, hi, a->pos[it]);
            last_any = last > last_any ? last : last_any;
        }
        if (a->window > 0 && (int64_t)hi < window_start(a)) { // older than every window
            for (int32_t r = 0; r < a->nt * a->hq; r++)
                for (int32_t i = 0; i < nb; i++)
                    a->scores[(size_t)r * stride + (size_t)(m0 + i)] = -INFINITY;
            continue;
        }
        if (a->prefetch && m0 + KV_CTX_BLOCK_CELLS < n_used)
            prefetch_rows(kv__cache_k(kc, a->blocks[m0 / KV_CTX_BLOCK_CELLS + 1], a->layer) +
                              (size_t)a->kvh * kc->k_head_bytes,
                          kc->k_row_bytes, KV_CTX_BLOCK_CELLS, kc->k_head_bytes);
        const uint8_t *kb = kv__cache_k(kc, b, a->layer) + (size_t)a->kvh * kc->k_head_bytes;
        if (last_any >= 0 && kc->type_k == KV_TYPE_F16)
            c->k->dot_f16_tile(hd_k, (const kv_f16 *)kb, (size_t)kc->k_row, last_any + 1, a->q,
                               a->q_stride, (int64_t)a->nt * a->hq, a->scores + m0, stride);
        else if (last_any >= 0)
            quant_scores(c, a, kb, last_any + 1, a->scores + m0, stride);
        for (int32_t it = 0; it < a->nt; it++)
            mask_scale(a, stride, it, pos, nb, lo, hi, scale, cap, a->scores + m0);
    }
}

// out (n_embd_head_v) = sum over the item's first n cells of scores[m] * V[m],
// cell after cell, whatever the V cache's type (F16: axpy_f16; F32, Q8_0, Q4_0:
// axpy_rows, which read the cached rows as they are); with prefetch, each block
// asks for the next one's values.
static void attention_values(const kv_ctx *c, const att_item *a, int32_t n, const float *scores,
                             bool prefetch, float *out) {
    const kv_cache *kc = &c->cache;
    const int64_t hd_v = c->model->hp.n_embd_head_v;
    memset(out, 0, (size_t)hd_v * sizeof *out);
    for (int32_t m0 = 0; m0 < n; m0 += KV_CTX_BLOCK_CELLS) {
        const int32_t bi = m0 / KV_CTX_BLOCK_CELLS;
        const int32_t nb = n - m0 < KV_CTX_BLOCK_CELLS ? n - m0 : KV_CTX_BLOCK_CELLS;
        const uint8_t *vb = kv__cache_v(kc, a->blocks[bi], a->layer) + (size_t)a->kvh * kc->v_head_bytes;
        if (prefetch && m0 + KV_CTX_BLOCK_CELLS < n)
            prefetch_rows(kv__cache_v(kc, a->blocks[bi + 1], a->layer) +
                              (size_t)a->kvh * kc->v_head_bytes,
                          kc->v_row_bytes, KV_CTX_BLOCK_CELLS, kc->v_head_bytes);
        if (kc->type_v != KV_TYPE_F16) {
            c->k->axpy_rows[kc->type_v](hd_v, nb, kc->v_row_bytes, vb, scores + m0, out);
            continue;
        }
        const kv_f16 *v = (const kv_f16 *)vb;
        if (c->k->axpy_f16_rows) {
            c->k->axpy_f16_rows(hd_v, nb, (size_t)kc->v_row, v, scores + m0, out);
            continue;
        }
        for (int32_t i = 0; i < nb; i++)
            if (scores[m0 + i] != 0.0f)
                c->k->axpy_f16(hd_v, out, scores[m0 + i], v + i * kc->v_row);
    }
}

// softmax(q . K^T * scale, causal within the sequence) @ V for the item of
// tokens [t0, t0 + nt) and heads [h0, h0 + att_hq) -> their rows of attn. Each
// query's numbers are the same in any item: the tile's pairs do not depend on
// its shape, and softmax and the values run per query, cell after cell.
static void attention_item(kv_ctx *c, int64_t layer, int32_t t0, int32_t nt, int64_t h0,
                           int thread) {
    const kv_hparams *hp = &c->model->hp;
    const int64_t hd_k = hp->n_embd_head_k, hd_v = hp->n_embd_head_v;
    const kv_thread_scratch *ts = &c->ts[thread];
    const kv_cache_seq *sq = &c->cache.seqs[c->tok_seq[t0]];
    att_item a = {sq->blocks, sq->n_cells, layer, h0 / (hp->n_head / hp->n_head_kv), nt,
                  c->att_hq, c->tok_pos + t0, NULL, 0, NULL, ts->scores, {0},
                  c->seq_new[c->tok_seq[t0]] <= KV_ATT_MAX_Q,
                  kv__llama_window(c->model, layer)};
    int32_t all[KV_ATT_MAX_Q]; // non-causal (bert): every token sees the whole sequence
    if (!hp->causal_attn) {
        for (int32_t i = 0; i < nt; i++)
            all[i] = INT32_MAX - 1;
        a.pos = all;
    }
    const size_t q_tok = (size_t)(hp->n_head * hd_k); // floats between tokens' queries
    const float *q0 = c->q + t0 * q_tok + (size_t)(h0 * hd_k);
    if (nt == 1 || a.hq == 1) { // the rows are evenly spaced already
        a.q = q0;
        a.q_stride = nt == 1 ? (size_t)hd_k : q_tok;
    } else {
        for (int32_t r = 0; r < nt * a.hq; r++)
            memcpy(ts->q + r * hd_k, q0 + (r / a.hq) * q_tok + (size_t)((r % a.hq) * hd_k),
                   (size_t)hd_k * sizeof(float));
        a.q = ts->q;
        a.q_stride = (size_t)hd_k;
    }
    if (c->cache.type_k != KV_TYPE_F16) { // the queries in the key type's vec_dot_type
        const kv_type vt = c->k->types[c->cache.type_k].vec_dot_type;
        for (int32_t r = 0; r < nt * a.hq; r++)
            c->k->from_float[vt](a.q + (size_t)r * a.q_stride, ts->qk + (size_t)r * c->qk_row,
                                 hd_k);
        a.qk = ts->qk;
    }
    attention_scores(c, &a);
    for (int32_t r = 0; r < nt * a.hq; r++) {
        // Cells past a token's last visible one only add exact zeros: leave them out.
        const int32_t n = a.used[r / a.hq];
        float *sr = a.scores + (size_t)r * (size_t)c->p.n_ctx;
        c->k->softmax(n, sr);
        attention_values(c, &a, n, sr, a.prefetch && r == 0, // the others find them cached
                         c->attn + (t0 + r / a.hq) * hp->n_head * hd_v + (h0 + r % a.hq) * hd_v);
    }
}

// One item per index, the runs of the batch from the last: in a prompt the
// last tokens see the most cells, and handing out the largest items first
// evens out the threads' shares. attn (T, n_head * n_embd_head_v).
static void attention_run(void *arg, int64_t i0, int64_t i1, int thread) {
    const rows_job *j = arg;
    kv_ctx *c = j->c;
    const int64_t n_hc = c->model->hp.n_head / c->att_hq; // head chunks
    for (int64_t i = i0; i < i1; i++) {
        const int32_t r = c->att_n_runs - 1 - (int32_t)(i / n_hc);
        const int32_t t0 = c->att_t0[r];
        attention_item(c, j->layer, t0, c->att_t0[r + 1] - t0, (i % n_hc) * c->att_hq, thread);
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
        if (m->arch->gemma) // Gemma scales the embedding by sqrt(n_embd)
            for (int64_t i = 0; i < hp->n_embd; i++)
                c->x[t * hp->n_embd + i] *= sqrtf((float)hp->n_embd);
        if (m->arch->bert) { // + token type 0 + learned position, then LayerNorm
            float *x = c->x + t * hp->n_embd, *tmp = c->xn + t * hp->n_embd;
            const kv_tensor *te[] = {&m->tok_types, &m->pos_embd};
            const int64_t at[] = {0, c->tok_pos[t]};
            for (int k = 0; k < 2; k++) {
                c->k->to_float[te[k]->type]((const uint8_t *)te[k]->data +
                                                (size_t)at[k] * te[k]->row_size,
                                            tmp, hp->n_embd);
                c->k->add(hp->n_embd, x, tmp);
            }
            layer_norm(hp->n_embd, x, x, m->tok_norm.data, m->tok_norm_b.data, hp->norm_rms_eps);
            continue;
        }
        // llama.cpp: rope_freqs if any, else LongRoPE's long factors when the
        // context per sequence exceeds the original one, else the short ones
        const kv_tensor *ff = m->rope_freqs.name                ? &m->rope_freqs
                              : c->p.n_ctx > m->n_ctx_orig      ? &m->rope_long
                                                                : &m->rope_short;
        float *cs = c->cs + 2 * t * hp->n_rot;
        kv_rope_cos_sin(cs, hp->n_rot, c->tok_pos[t], hp->rope_freq_base, hp->rope_freq_scale,
                        ff->name ? ff->data : NULL);
        if (m->rope_attn_factor != 1.0f)
            for (int64_t i = 0; i < hp->n_rot; i++)
                cs[i] *= m->rope_attn_factor;
        if (m->rope_base_swa > 0.0f) // gemma3's local layers: their own base, unscaled
            kv_rope_cos_sin(c->cs + (2 * t + 1) * hp->n_rot, hp->n_rot, c->tok_pos[t],
                            m->rope_base_swa, 1.0f, NULL);
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
    if (m->output_norm.name) // bert has none: its last layer ends in a LayerNorm
        kv_threadpool_parallel_for(c->pool, n_out, GRAIN_ROWS, norm_run, &nj);
    if (c->hidden_norm)
        memcpy(c->hidden_norm, c->out_h, (size_t)n_out * (size_t)n * sizeof(float));
    if (c->logits)
        matmul(c, &m->output, c->out_h, n_out, c->logits);
    const float cap = m->final_softcap;
    if (c->logits && cap > 0.0f)
        for (size_t i = 0; i < (size_t)n_out * (size_t)m->hp.n_vocab; i++)
            c->logits[i] = cap * tanhf(c->logits[i] / cap);
}

// ---- the pass ----

static void layer(kv_ctx *c, int64_t il, int64_t T) {
    const kv_layer *L = &c->model->layers[il];
    kv_threadpool *pool = c->pool;
    rows_job j = {c, il, c->x, c->xn, &L->attn_norm, NULL};
    const float *in = c->x; // bert: no norm before the block
    if (L->attn_norm.name) {
        kv_threadpool_parallel_for(pool, T, GRAIN_ROWS, norm_run, &j);
        in = c->xn;
    }
    matmul(c, &L->wq, in, T, c->q);
    matmul(c, &L->wk, in, T, c->kx);
    matmul(c, &L->wv, in, T, c->vx);
    kv_threadpool_parallel_for(pool, T, GRAIN_ROWS, rope_store_run, &j);
    kv_threadpool_parallel_for(pool, c->att_n_runs * (c->model->hp.n_head / c->att_hq),
                               GRAIN_ROWS, attention_run, &j);
    matmul(c, &L->wo, c->attn, T, c->xn);
    if (L->bo.name)
        for (int64_t t = 0; t < T; t++)
            add_bias(c, &L->bo, c->xn, t);
    if (L->attn_post_norm.name) { // gemma: norm the block's output before the residual
        j = (rows_job){c, il, c->xn, c->xn, &L->attn_post_norm, NULL};
        kv_threadpool_parallel_for(pool, T, GRAIN_ROWS, norm_run, &j);
    }
    j = (rows_job){c, il, c->xn, c->x, NULL, NULL};
    kv_threadpool_parallel_for(pool, T, GRAIN_ROWS, residual_run, &j);
    if (L->attn_out_norm.name) // bert: LayerNorm after the residual
        lnorm(c, c->x, T, &L->attn_out_norm, &L->attn_out_norm_b);

    if (!L->ffn_gate.name) { // bert: up (+ bias), GELU, down (+ bias)
        matmul(c, &L->ffn_up, c->x, T, c->ff_gate);
        j = (rows_job){c, il, NULL, NULL, &L->b_up, NULL};
        kv_threadpool_parallel_for(pool, T, GRAIN_ROWS, gelu_run, &j);
        matmul(c, &L->ffn_down, c->ff_gate, T, c->xn);
        for (int64_t t = 0; t < T; t++)
            add_bias(c, &L->b_down, c->xn, t);
        j = (rows_job){c, il, c->xn, c->x, NULL, NULL};
        kv_threadpool_parallel_for(pool, T, GRAIN_ROWS, residual_run, &j);
        lnorm(c, c->x, T, &L->out_norm, &L->out_norm_b);
        return;
    }
    j = (rows_job){c, il, c->x, c->xn, &L->ffn_norm, NULL};
    kv_threadpool_parallel_for(pool, T, GRAIN_ROWS, norm_run, &j);
    matmul(c, &L->ffn_gate, c->xn, T, c->ff_gate);
    matmul(c, &L->ffn_up, c->xn, T, c->ff_up);
    kv_threadpool_parallel_for(pool, T, GRAIN_ROWS, c->model->arch->gemma ? geglu_run : swiglu_run,
                               &j);
    matmul(c, &L->ffn_down, c->ff_gate, T, c->xn);
    if (L->ffn_post_norm.name) {
        j = (rows_job){c, il, c->xn, c->xn, &L->ffn_post_norm, NULL};
        kv_threadpool_parallel_for(pool, T, GRAIN_ROWS, norm_run, &j);
    }
    j = (rows_job){c, il, c->xn, c->x, NULL, NULL};
    kv_threadpool_parallel_for(pool, T, GRAIN_ROWS, residual_run, &j);
}

void kv__llama_forward(kv_ctx *c, const int32_t *tokens, int32_t n_tokens) {
    rows_job ej = {c, 0, NULL, NULL, NULL, tokens};
    kv_threadpool_parallel_for(c->pool, n_tokens, GRAIN_ROWS, embed_run, &ej);
    attention_runs(c, n_tokens);
    for (int64_t il = 0; il < c->model->hp.n_layer; il++)
        layer(c, il, n_tokens);
    outputs(c);
}
