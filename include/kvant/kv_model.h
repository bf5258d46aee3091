// Llama-family models on the CPU: a model (weights mapped read-only from a GGUF
// file, hyper-parameters, bound tensors) and contexts that run it (KV cache for
// several sequences, scratch allocated once, batched decode, logits out).
// Tokenization and sampling live elsewhere (kv_tokenizer.h, kv_sample.h).
#ifndef KV_MODEL_H
#define KV_MODEL_H

#include <stdbool.h>
#include <stdint.h>

#include "kvant/kv_gguf.h"
#include "kvant/kv_status.h"
#include "kvant/kv_threadpool.h"
#include "kvant/kv_vocab_gguf.h" // a model's vocabulary: kv_vocab_from_gguf(kv_model_gguf(m))

// Sanity caps on hyper-parameters, so scratch sizes cannot overflow.
#define KV_MODEL_MAX_LAYERS 1024
#define KV_MODEL_MAX_DIM ((int64_t)1 << 20) // n_embd, n_ff, n_vocab, heads * head size
#define KV_MODEL_MAX_VOCAB ((int64_t)1 << 24)
#define KV_CTX_MAX_CTX ((int32_t)1 << 24)   // KV cells per sequence
#define KV_CTX_MAX_SEQ 4096
#define KV_CTX_BLOCK_CELLS 16               // KV cells per cache block
#define KV_CTX_MAX_BLOCKS ((int32_t)1 << 27) // KV cache blocks per context

typedef struct {
    char arch[32];         // general.architecture ("llama", "qwen2", "qwen3", "gemma2", "gemma3", "phi3", "bert")
    int64_t n_vocab;
    int64_t n_ctx_train;   // {arch}.context_length
    int64_t n_embd;
    int64_t n_layer;
    int64_t n_head;
    int64_t n_head_kv;
    int64_t n_ff;
    int64_t n_embd_head_k; // {arch}.attention.key_length, default n_embd / n_head
    int64_t n_embd_head_v; // {arch}.attention.value_length, default n_embd / n_head
    int64_t n_rot;         // {arch}.rope.dimension_count, default n_embd_head_k
    float rope_freq_base;  // default 10000
    float rope_freq_scale; // 1 / {arch}.rope.scaling.factor for linear scaling, else 1
    float norm_rms_eps;
    bool tied_output;      // no output.weight: logits use token_embd.weight
    bool causal_attn;      // {arch}.attention.causal (default true; bert: false, every token
                           // sees its whole sequence, which must come in one batch)
    int32_t pooling_type;  // {arch}.pooling_type: 0 none (embeddings mean-pool), 1 mean, 2 CLS
} kv_hparams;

typedef struct kv_model kv_model;

// Opens a GGUF model: maps the file, reads the hyper-parameters from
// general.architecture and the {arch}.* keys, and binds every tensor the forward
// pass needs, checking shapes and types. Architectures: "llama" (also Mistral),
// "qwen2", "qwen3", "gemma2", "gemma3", "phi3" and "bert" (an encoder: its final
// hidden states are what it is for; its "logits" multiply by token_embd).
// Errors name the file and what is wrong: "model.gguf: missing tensor
// 'blk.3.attn_k.weight'", "model.gguf: architecture 'gpt2' is not supported".
// On success *out owns the mapping; release it with kv_model_close().
kv_status kv_model_open(const char *path, kv_model **out, kv_err *err);
// The same over a GGUF handle that the model then owns (closed by
// kv_model_close, or on failure).
kv_status kv_model_from_gguf(kv_gguf *g, kv_model **out, kv_err *err);
void kv_model_close(kv_model *m); // accepts NULL

// Valid until kv_model_close.
const kv_hparams *kv_model_hparams(const kv_model *m);
// The GGUF file (metadata, tokenizer keys); valid until kv_model_close.
const kv_gguf *kv_model_gguf(const kv_model *m);
// Name of the kernel table m's forward pass uses ("ref", "avx2", ...), chosen
// from the CPU (or KVANT_KERNELS) when the first model opened; static storage.
// With m NULL: the table every model of this process uses (chosen now if no
// model has opened yet).
const char *kv_model_kernels_name(const kv_model *m);
// Bytes of weight data the forward pass reads.
uint64_t kv_model_weight_bytes(const kv_model *m);
// Bytes of the weights repacked at load for the kernel table's packed paths
// (prompt batches), held beside the mapped weights; 0 when none were (the
// table has no packed path for the model's types, or KVANT_REPACK=off, which
// the CLIs' --repack off sets before loading).
uint64_t kv_model_repack_bytes(const kv_model *m);
// What --repack auto (KVANT_REPACK unset, auto or off; with it on, what on
// allocates: F16/BF16 weights too) for m's kernel table, whether or not m was
// repacked: the total in bytes, and per weight
// type the bytes (bytes[t]) and matrices (n[t]); either array may be NULL.
// Computed from the matrices' types and shapes and the table's packed layout
// sizes, without packing. Equals kv_model_repack_bytes of a repacked load.
uint64_t kv_model_repack_plan(const kv_model *m, uint64_t bytes[KV_TYPE_COUNT],
                              uint32_t n[KV_TYPE_COUNT]);
// Where m's repacked weights came from.
typedef enum {
    KV_REPACK_NONE = 0,    // nothing repacked
    KV_REPACK_MEMORY,      // packed at load, held in memory (no cache, or it failed)
    KV_REPACK_CACHE_WRITTEN, // packed at load and written to the cache file
    KV_REPACK_CACHE_MAPPED,  // mapped from the cache file (file-backed pages)
} kv_repack_source;
kv_repack_source kv_model_repack_source(const kv_model *m);
// The repack cache file of m (KVANT_REPACK_CACHE: on, beside the model, or a
// folder), or NULL when there is none; valid until kv_model_close.
const char *kv_model_repack_cache_path(const kv_model *m);
// One line about the cache from the load, naming the file and the reason (a
// stale, truncated or corrupt cache ignored and rebuilt; one that could not
// be written), or NULL; valid until kv_model_close. Such a load still
// succeeds, with weights packed in memory.
const char *kv_model_repack_note(const kv_model *m);

// ---- contexts ----

typedef struct {
    int32_t n_ctx;         // KV cells per sequence; 0: the model's context_length
    int64_t n_cells_max;   // KV cells over all sequences, rounded up to whole blocks of
                           // KV_CTX_BLOCK_CELLS; 0: n_seq_max * n_ctx
    int32_t n_batch;       // most tokens one kv_ctx_decode call takes (default 512)
    int32_t n_seq_max;     // sequences, ids 0..n_seq_max-1 (default 1)
    int32_t n_outputs_max; // most rows with outputs per decode; 0: n_batch
    int32_t n_threads;     // 0: the online CPUs; at most KV_THREADPOOL_MAX_THREADS (ignored
                           // when pool is given)
    kv_threadpool *pool;   // borrowed; NULL: the context starts its own. Contexts
                           // sharing a pool must not decode at the same time.
    bool logits;           // compute logits for output rows (default true)
    bool embeddings;       // keep final hidden states of output rows (default false)
    kv_type type_k, type_v; // what the KV cache stores keys and values as: F16 (the
                           // default), F32, Q8_0 or Q4_0 (the quantized types need a
                           // head size that is a multiple of 32)
} kv_ctx_params;

kv_ctx_params kv_ctx_default_params(void);

typedef struct kv_ctx kv_ctx;

// Creates a context: all scratch, allocated here once, and an empty F16 KV
// cache. The cache is paged: a pool of blocks of KV_CTX_BLOCK_CELLS cells (K and
// V rows of every layer), of which each sequence holds as many as its cells
// need. Block storage is allocated by kv_ctx_decode as sequences grow, up to
// n_cells_max cells in all, and kept for reuse when blocks are freed; the
// forward pass itself allocates nothing. The model must outlive the context.
// Fails with KV_ERR_INVALID for out-of-range parameters, KV_ERR_LIMIT when
// n_cells_max is over KV_CTX_MAX_BLOCKS blocks and KV_ERR_NOMEM.
kv_status kv_ctx_new(const kv_model *m, const kv_ctx_params *p, kv_ctx **out, kv_err *err);
void kv_ctx_free(kv_ctx *c); // accepts NULL

int32_t kv_ctx_n_ctx(const kv_ctx *c);
int32_t kv_ctx_n_batch(const kv_ctx *c);
int32_t kv_ctx_n_seq_max(const kv_ctx *c);
const kv_model *kv_ctx_model(const kv_ctx *c);

// A batch of tokens, possibly of several sequences. Token i has position pos[i]
// in sequence seq_id[i]; it attends to the cells of its own sequence at
// positions <= pos[i] (earlier batches and this one). Positions within a
// sequence must be unique.
typedef struct {
    int32_t n_tokens;
    const int32_t *tokens;
    const int32_t *pos;    // NULL: each sequence continues after its highest position
    const int32_t *seq_id; // NULL: all in sequence 0
    const int8_t *logits;  // which tokens get outputs; NULL: only the last one
} kv_batch;

// Runs the model over a batch, adds its tokens to the KV cache and computes
// outputs for the requested rows. The whole batch is checked before anything
// changes: KV_ERR_INVALID for bad tokens, sequence ids or repeated positions;
// KV_ERR_LIMIT when it exceeds n_batch or n_outputs_max or a sequence's cells,
// or when the cache has fewer free blocks than the batch needs (the message says
// how many; free some with kv_ctx_seq_rm or kv_ctx_seq_clear); KV_ERR_NOMEM
// when block storage cannot be allocated. Not thread-safe for one context; uses the context's thread pool.
kv_status kv_ctx_decode(kv_ctx *c, const kv_batch *b, kv_err *err);

// Logits (n_vocab) of token i of the last batch, or NULL when it requested none
// (or the context computes no logits). Valid until the next decode.
const float *kv_ctx_logits(const kv_ctx *c, int32_t i);
// Final hidden state (n_embd) of token i of the last batch: after the output
// norm (post_norm) or before it. NULL unless the context keeps embeddings and
// the token requested outputs. Valid until the next decode.
const float *kv_ctx_hidden(const kv_ctx *c, int32_t i, bool post_norm);

// ---- KV cache ----

// Sequences hold their cells in blocks from the context's pool. kv_ctx_seq_cp
// shares blocks instead of copying them: a block held by several sequences is
// copied when one of them writes to it (a later decode or kv_ctx_seq_rm), so a
// shared prefix costs its memory once.

// Removes every cell of sequence seq (seq < 0: of all sequences); blocks no
// other sequence holds return to the pool.
void kv_ctx_seq_clear(kv_ctx *c, int32_t seq);
// Removes the cells of sequence seq with p0 <= pos < p1 (p1 < 0: no upper
// bound), moving later cells down; blocks left empty return to the pool.
// KV_ERR_INVALID for a bad seq; KV_ERR_LIMIT (nothing changes) when moving
// cells into blocks shared with other sequences needs more free blocks than
// there are. Removing a tail never needs blocks.
kv_status kv_ctx_seq_rm(kv_ctx *c, int32_t seq, int32_t p0, int32_t p1, kv_err *err);
// Replaces sequence dst's cells with src's, sharing src's blocks (no new blocks
// are taken). KV_ERR_INVALID for a bad sequence id, KV_ERR_NOMEM.
kv_status kv_ctx_seq_cp(kv_ctx *c, int32_t src, int32_t dst, kv_err *err);
// Highest position in sequence seq, -1 when it is empty (or seq is out of range).
int32_t kv_ctx_seq_pos_max(const kv_ctx *c, int32_t seq);
// Cells sequence seq uses.
int32_t kv_ctx_seq_n_cells(const kv_ctx *c, int32_t seq);
// Free blocks that adding n cells at the end of sequence seq would take: the
// blocks they start, plus one when its last block is partly filled and shared
// (it is copied before it is written). 0 for a bad seq or n <= 0.
int32_t kv_ctx_seq_n_blocks_needed(const kv_ctx *c, int32_t seq, int32_t n);

// Blocks that hold cells of some sequence (a shared block counts once).
int32_t kv_ctx_kv_blocks_used(const kv_ctx *c);
// Most blocks the pool may hold: n_cells_max / KV_CTX_BLOCK_CELLS, rounded up.
int32_t kv_ctx_kv_blocks_max(const kv_ctx *c);
// Bytes of block storage allocated so far: it grows with the blocks in use at
// once and stays allocated (for reuse) until kv_ctx_free.
uint64_t kv_ctx_kv_size(const kv_ctx *c);

// ---- activation hook (importance matrices) ----

// Called on the decoding thread before each matrix product with its weight
// tensor's name and its input activations x (n_rows, n_in), row-major. For the
// output tensor only rows that produce logits are passed. x is valid during the
// call only.
typedef void (*kv_matmul_hook)(void *user, const char *tensor, const float *x, int64_t n_rows,
                               int64_t n_in);
// Sets (or, with fn NULL, removes) the hook.
void kv_ctx_set_matmul_hook(kv_ctx *c, kv_matmul_hook fn, void *user);

#endif
