// Internals of the model module: bound tensors, the model and context structs,
// and the functions the loader, the KV cache and the forward pass share.
#ifndef KV_MODEL_INT_H
#define KV_MODEL_INT_H

#include <stddef.h>
#include <stdint.h>

#include "kernels/kernels.h"
#include "kvant/kv_f16.h"
#include "kvant/kv_model.h"

// A view of a weight tensor in the mapped file; never owns its data.
typedef struct {
    const char *name; // NUL-terminated, owned by the model; NULL when absent
    kv_type type;
    int64_t ne[2];    // ne[0] is the row length
    size_t row_size;  // bytes per row
    const void *data;
} kv_tensor;

typedef struct {
    kv_tensor attn_norm, wq, wk, wv, wo;
    kv_tensor bq, bk, bv, bo; // optional biases (name NULL when absent)
    kv_tensor ffn_norm, ffn_gate, ffn_up, ffn_down;
} kv_layer;

struct kv_model {
    kv_gguf *gguf;
    kv_hparams hp;
    const kv_kernels *kernels;
    kv_tensor tok_embd, output_norm, output;
    kv_tensor rope_freqs; // optional per-frequency divisors (n_rot / 2)
    kv_layer *layers;
    char *names;          // storage for the tensor names
};

// The KV cache: for each layer and sequence, n_ctx cells of K and V rows (F16),
// filled in insertion order; pos[seq * n_ctx + j] is the position of cell j.
typedef struct {
    int32_t n_ctx;
    int32_t n_seq;
    int64_t k_row; // values per K row (n_head_kv * n_embd_head_k)
    int64_t v_row;
    kv_f16 *k;     // [n_layer][n_seq][n_ctx][k_row]
    kv_f16 *v;     // [n_layer][n_seq][n_ctx][v_row]
    int32_t *pos;  // [n_seq][n_ctx]
    int32_t *n_cells;  // [n_seq]
    int32_t *pos_max;  // [n_seq], -1 when empty
} kv_cache;

// Scratch for one thread of the attention loop.
typedef struct {
    float *scores; // n_ctx
} kv_thread_scratch;

struct kv_ctx {
    const kv_model *model;
    const kv_kernels *k;
    kv_ctx_params p;
    kv_threadpool *pool;
    bool own_pool;
    kv_cache cache;

    void *arena; // every buffer below lives in it
    // per batch row (n_batch rows)
    float *x;        // residual stream (n_embd)
    float *xn;       // normed input to a block (n_embd)
    float *q, *kx, *vx; // projections (q rounded through F16 before attention)
    kv_f16 *q16;     // q as F16 (n_head * n_embd_head_k)
    float *attn;     // attention output (n_head * n_embd_head_v)
    float *ff_gate, *ff_up; // (n_ff)
    float *cs;       // rope cos/sin (n_rot)
    uint8_t *act;    // activations converted to a vec_dot_type
    size_t act_row_max; // bytes per row of act
    int32_t *tok_pos, *tok_seq, *tok_cell; // resolved position, sequence, cache cell
    int32_t *out_row; // batch index -> output row, -1 when none
    int32_t *out_tok; // output row -> batch index
    int32_t *seq_max; // per sequence, while checking a batch: highest position so far
    int32_t *seq_new; // per sequence, while checking a batch: cells the batch adds
    int32_t n_last;   // tokens in the last batch
    // per output row (n_outputs_max rows)
    float *out_h;    // final hidden states (n_embd)
    float *hidden, *hidden_norm; // kept when p.embeddings
    float *logits;   // n_vocab per row
    int32_t n_outputs;
    kv_thread_scratch *ts; // one per thread, pointing into ts_scores
    float *ts_scores;

    kv_matmul_hook hook;
    void *hook_user;
};

// ---- kv_cache.c ----
kv_status kv__cache_init(kv_cache *kc, const kv_hparams *hp, int32_t n_ctx, int32_t n_seq,
                         kv_err *err);
void kv__cache_free(kv_cache *kc);
// Row of K (or V) of cell j of sequence s in layer l.
kv_f16 *kv__cache_k(const kv_cache *kc, int64_t l, int32_t s, int32_t j);
kv_f16 *kv__cache_v(const kv_cache *kc, int64_t l, int32_t s, int32_t j);
// True when sequence s already has a cell at position p.
bool kv__cache_has_pos(const kv_cache *kc, int32_t s, int32_t p);

// ---- llama.c ----
// Runs the forward pass over a checked batch whose positions, sequences and
// cells are already resolved in c->tok_*; fills the outputs.
void kv__llama_forward(kv_ctx *c, const int32_t *tokens, int32_t n_tokens);

#endif
