// Internals of the model module: bound tensors, the model and context structs,
// and the functions the loader, the KV cache and the forward pass share.
#ifndef KV_MODEL_INT_H
#define KV_MODEL_INT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "kernels/kernels.h"
#include "kvant/kv_core.h"
#include "kvant/kv_f16.h"
#include "kvant/kv_model.h"

// A view of a weight tensor in the mapped file; never owns its data.
typedef struct {
    const char *name; // NUL-terminated, owned by the model; NULL when absent
    kv_type type;
    int64_t ne[2];    // ne[0] is the row length
    size_t row_size;  // bytes per row
    const void *data;
    bool no_hook;     // a later slice of a fused weight: the matmul hook saw the whole
    // The rows repacked at load for the kernel table's packed path (NULL:
    // none), with the pack function that made them; owned by the model.
    const void *packed;
    kv_pack_fn packed_with;
} kv_tensor;

// What sets one architecture's forward pass apart from Llama's (load.c's table).
typedef struct {
    const char *name; // general.architecture
    bool rope_neox;   // RoPE rotates (i, i + n_rot/2) pairs: q/k rows not permuted (qwen2/3)
    bool qk_norm;     // RMS norm per head on q and k before RoPE (qwen3)
    // Gemma: embedding scaled by sqrt(n_embd), norms after attention and the
    // feed-forward too, GeGLU (gelu-tanh), attention and output logits
    // soft-capped, sliding-window attention on layers il % swa_period != swa_period - 1
    bool gemma;
    int swa_period;
    // Phi-3: q/k/v stacked in attn_qkv.weight, gate and up in ffn_up.weight (2 x n_ff
    // rows); bound as row slices of the fused tensors, so each matmul reads its rows
    bool fused;
    // BERT: token-type and learned position embeddings added, LayerNorm (with bias)
    // on the embedding and after each block's residual (post-norm), no RoPE, GELU
    // feed-forward without a gate, biases everywhere, no output norm
    bool bert;
} kv_arch;

typedef struct {
    kv_tensor attn_norm, wq, wk, wv, wo;
    kv_tensor bq, bk, bv, bo; // optional biases (name NULL when absent)
    kv_tensor q_norm, k_norm; // per-head q/k norm weights (n_embd_head_k), qk_norm only
    kv_tensor ffn_norm, ffn_gate, ffn_up, ffn_down;
    kv_tensor attn_post_norm, ffn_post_norm; // gemma only
    kv_tensor attn_out_norm, attn_out_norm_b, out_norm, out_norm_b; // bert's post-norms
    kv_tensor b_up, b_down;                                         // bert's ffn biases
} kv_layer;

struct kv_model {
    kv_gguf *gguf;
    kv_hparams hp;
    const kv_arch *arch;
    const kv_kernels *kernels;
    kv_tensor tok_embd, output_norm, output;
    kv_tensor tok_types, pos_embd, tok_norm, tok_norm_b; // bert
    kv_tensor rope_freqs; // optional per-frequency divisors (n_rot / 2)
    kv_tensor rope_short, rope_long; // LongRoPE divisors (phi3), both or neither
    float rope_attn_factor; // cos and sin multiplied by it (LongRoPE; else 1)
    int32_t n_ctx_orig;     // rope.scaling.original_context_length: a context above
                            // it takes the long factors, as llama.cpp chooses
    float attn_scale;     // q . k scale: 1/sqrt(n_embd_head_k) unless the file says
    float attn_softcap, final_softcap; // 0: none; else cap * tanh(x / cap)
    int32_t n_swa;        // sliding window of the arch's local layers (0: none)
    float rope_base_swa;  // > 0: the local layers' RoPE base, unscaled (gemma3)
    kv_layer *layers;
    char *names;          // storage for the tensor names
    void *repacked;       // the packed copies of the matmul weights (repack.c)
    size_t repacked_bytes;
    kv_map repack_map;    // or the repack cache file they were mapped from
    kv_repack_source repack_source;
    char *repack_cache_path; // the cache file in use (NULL: none)
    char *repack_note;    // a warning about the cache from the load (NULL: none)
};

// Repacks the matmul weights whose type has a packed path in m->kernels, as
// KVANT_REPACK says (on, auto: the default; off), through the cache file that
// KVANT_REPACK_CACHE names (off: the default; on; a folder); repack.c.
kv_status kv__model_repack(kv_model *m, kv_err *err);

// ---- repack_cache.c: the packed copies kept in a file between loads ----
// One matrix of the plan: where its packed rows go in the block of all of them.
typedef struct {
    kv_tensor *t;
    size_t off, size;
} kv__repack_item;

// One matrix as a cache file records it (and as a load expects it).
typedef struct {
    uint64_t name_hash; // FNV-1a of the tensor's name
    uint32_t type;
    int64_t ne0, ne1;
    uint64_t src_off;   // the rows' offset in the GGUF's data section
    uint64_t off, size; // the packed rows' place in the cache's data
} kv__repack_entry;

// Everything a cache file must match to stand for a model's packed weights.
typedef struct {
    char version[32];    // kvant's (KV_VERSION)
    char table[16];      // kernel table name
    uint64_t layout;     // fingerprint of the table's packed layouts for these types
    uint64_t model_size; // the GGUF file: size, modification time
    int64_t model_mtime_s, model_mtime_ns;
    uint64_t model_hash; // the GGUF's header and tensor table, and a sample of each matrix
    uint64_t n_tensors;
    uint64_t data_size;  // bytes of packed rows
    const kv__repack_entry *tensors;
} kv__repack_key;

#define KV__REPACK_CACHE_VERSION 1u
#define KV__REPACK_CACHE_ALIGN 4096u // the data starts on a page
#define KV__REPACK_CACHE_MAX_TENSORS (1u << 20)

// FNV-1a, 64 bits, continuing from h (start: KV__FNV_INIT).
#define KV__FNV_INIT 1469598103934665603ull
uint64_t kv__fnv1a(uint64_t h, const void *p, size_t n);
// The checksum of a matrix's packed bytes (8 bytes at a time, four lanes).
uint64_t kv__repack_cache_sum(const void *p, size_t n);
// Bytes of a cache file's header for n tensors (a multiple of KV__REPACK_CACHE_ALIGN).
size_t kv__repack_cache_header_size(uint64_t n_tensors);
// Writes k's header with the matrices' checksums sums[n_tensors] to out
// (kv__repack_cache_header_size bytes).
void kv__repack_cache_header(const kv__repack_key *k, const uint64_t *sums, uint8_t *out);
// Checks a cache file's bytes [p, p+n) against want: magic, format version,
// header checksum, size (KV_ERR_TRUNCATED when short), kvant version, kernel
// table, layout, the model's binding and the tensor table; on success copies
// the stored checksums to sums[want->n_tensors]. The message names path and
// the first thing that differs. Reads only the header; never trusts a length
// before checking it against n.
kv_status kv__repack_cache_check(const char *path, const uint8_t *p, size_t n,
                                 const kv__repack_key *want, uint64_t *sums, kv_err *err);
// Maps m's cache file at path and points the plan's tensors at it when it
// matches and every checksum holds (true); else sets m->repack_note and false.
bool kv__repack_cache_map(kv_model *m, const char *path, const kv__repack_key *want,
                          kv__repack_item *items, kv_threadpool *tp);
// Writes the packed block mem to path (a temporary file renamed into place);
// on failure sets m->repack_note.
void kv__repack_cache_store(kv_model *m, const char *path, const kv__repack_key *want,
                            const uint8_t *mem, const kv__repack_item *items, kv_threadpool *tp);
// The key of m's plan (tensors: n entries the caller provides room for); its
// table, layout and binding to the model's file. False with m->repack_note
// set when the model's file cannot be examined.
bool kv__repack_cache_key(kv_model *m, const kv__repack_item *items, size_t n,
                          kv__repack_entry *tensors, kv__repack_key *out);
// The cache file for m under KVANT_REPACK_CACHE (malloc'd; NULL: no cache).
char *kv__repack_cache_path(const kv_model *m);

// The paged KV cache. A pool of blocks, each holding KV_CTX_BLOCK_CELLS cells:
// K rows [n_layer][cell][k_row], then V rows [n_layer][cell][v_row] (F16, or
// the type asked for: F32, Q8_0, Q4_0, whose blocks never cross heads), then
// the cells' positions [cell]; so one layer's cells of a block are contiguous.
// Block storage is allocated on first use and kept, unused ids on a free list.
// A sequence's cell j lives in block blocks[j / KV_CTX_BLOCK_CELLS] at slot
// j % KV_CTX_BLOCK_CELLS; refs counts the sequences that hold a block.
typedef struct {
    int32_t *blocks;  // block ids in cell order
    int32_t cap;      // entries blocks has room for
    int32_t n_cells;
    int32_t pos_max;  // -1 when empty
} kv_cache_seq;

typedef struct {
    int32_t n_ctx;        // cells per sequence
    int32_t n_seq;
    int64_t n_layer;
    int64_t k_row;        // values per K row (n_head_kv * n_embd_head_k)
    int64_t v_row;
    kv_type type_k, type_v; // what K and V rows are stored as (F16 unless asked)
    size_t k_row_bytes, v_row_bytes;   // bytes per K and V row
    size_t k_head_bytes, v_head_bytes; // bytes of one head's slice of a row
    size_t v_off;         // byte offsets in a block: V rows, positions
    size_t pos_off;
    size_t block_size;    // bytes per block (a multiple of 64)
    int32_t n_blocks_max; // the budget
    int32_t n_blocks;     // blocks with storage: ids 0..n_blocks-1
    int32_t n_free;       // of those, held by no sequence: free_ids[0..n_free)
    int32_t cap;          // entries mem, refs and free_ids have room for
    uint8_t **mem;        // storage per block
    int32_t *refs;
    int32_t *free_ids;
    kv_cache_seq *seqs;   // [n_seq]
} kv_cache;

// Attention works on items of up to KV_ATT_MAX_Q query rows that share their
// cached keys: att_hq heads of one group of grouped-query heads, for up to
// att_tq consecutive tokens of the batch that belong to one sequence.
#define KV_ATT_MAX_Q 8

// Scratch for one thread of the attention loop; att_hq * att_tq rows each.
typedef struct {
    float *scores; // rows of n_ctx
    float *q;      // rows of n_embd_head_k: an item's queries gathered
    uint8_t *pack; // pack_size bytes for matmul's packed path (NULL: none)
    uint8_t *qk;   // a quantized K cache: the item's queries in its vec_dot_type
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
    float *cs;       // rope cos/sin (2 x n_rot: all layers, then local layers)
    uint8_t *act;    // activations converted to a vec_dot_type
    size_t act_row_max; // bytes per row of act
    int32_t *tok_pos, *tok_seq; // resolved position and sequence
    int32_t *tok_cell; // cell index in the sequence, then (committed) pool cell:
                       // block * KV_CTX_BLOCK_CELLS + slot
    int32_t *out_row; // batch index -> output row, -1 when none
    int32_t *out_tok; // output row -> batch index
    int32_t *seq_max; // per sequence, while checking a batch: highest position so far
    int32_t *seq_new; // per sequence, while checking a batch: cells the batch adds
    int32_t n_last;   // tokens in the last batch
    int32_t att_hq, att_tq; // heads and tokens per attention item (llama.c)
    int32_t *att_t0;  // first token of each run of the batch's tokens that share
                      // an item (n_batch + 1: the last entry ends the last run)
    int32_t att_n_runs;
    // per output row (n_outputs_max rows)
    float *out_h;    // final hidden states (n_embd)
    float *hidden, *hidden_norm; // kept when p.embeddings
    float *logits;   // n_vocab per row
    int32_t n_outputs;
    kv_thread_scratch *ts; // one per thread, pointing into ts_scores, ts_q and ts_pack
    float *ts_scores, *ts_q;
    uint8_t *ts_pack, *ts_qk;
    size_t qk_row;    // bytes per query row in ts_qk (0: the K cache is F16)
    size_t pack_size; // per thread

    kv_matmul_hook hook;
    void *hook_user;
};

// ---- kv_cache.c ----
// An empty cache of at most n_blocks_max blocks; allocates only the sequences' headers.
kv_status kv__cache_init(kv_cache *kc, const kv_hparams *hp, int32_t n_ctx, int32_t n_seq,
                         int32_t n_blocks_max, kv_type type_k, kv_type type_v, kv_err *err);
void kv__cache_free(kv_cache *kc);
// True when sequence s already has a cell at position p.
bool kv__cache_has_pos(const kv_cache *kc, int32_t s, int32_t p);
// Gives each sequence s room for n_new[s] more cells after its n_cells: copies a
// shared, partly filled last block that will be written and appends blocks,
// allocating storage as needed. KV_ERR_LIMIT when the pool has too few free
// blocks, KV_ERR_NOMEM; on failure no sequence changes. The caller then sets
// the new cells' positions and n_cells.
kv_status kv__cache_reserve(kv_cache *kc, const int32_t *n_new, kv_err *err);

// K rows of layer l in block b: KV_CTX_BLOCK_CELLS rows of k_row_bytes.
static inline uint8_t *kv__cache_k(const kv_cache *kc, int32_t b, int64_t l) {
    return kc->mem[b] + (size_t)l * KV_CTX_BLOCK_CELLS * kc->k_row_bytes;
}
// V rows of layer l in block b: KV_CTX_BLOCK_CELLS rows of v_row_bytes.
static inline uint8_t *kv__cache_v(const kv_cache *kc, int32_t b, int64_t l) {
    return kc->mem[b] + kc->v_off + (size_t)l * KV_CTX_BLOCK_CELLS * kc->v_row_bytes;
}
// Whether the KV cache can store type t (F32, F16, Q8_0, Q4_0).
bool kv__cache_type_ok(kv_type t);
// Positions of block b's cells.
static inline int32_t *kv__cache_pos(const kv_cache *kc, int32_t b) {
    return (int32_t *)(kc->mem[b] + kc->pos_off);
}
// Pool cell (block * KV_CTX_BLOCK_CELLS + slot) of cell j of sequence s.
static inline int32_t kv__cache_cell(const kv_cache *kc, int32_t s, int32_t j) {
    return kc->seqs[s].blocks[j / KV_CTX_BLOCK_CELLS] * KV_CTX_BLOCK_CELLS +
           j % KV_CTX_BLOCK_CELLS;
}

// ---- llama.c ----
// Runs the forward pass over a checked batch whose positions, sequences and
// cells are already resolved in c->tok_*; fills the outputs.
void kv__llama_forward(kv_ctx *c, const int32_t *tokens, int32_t n_tokens);
// The attention item's shape for these hyper-parameters: *hq heads (the
// largest divisor of the group of heads sharing a KV head that is at most
// KV_ATT_MAX_Q) by *tq tokens (KV_ATT_MAX_Q / *hq).
void kv__llama_attention_shape(const kv_hparams *hp, int32_t *hq, int32_t *tq);
// The sliding window of layer il (0: the layer sees every earlier position).
int32_t kv__llama_window(const kv_model *m, int64_t il);

#endif
