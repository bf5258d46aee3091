// Tiny synthetic Llama models for the runtime tests: random weights from a
// seed, written as a GGUF file with the writer, and a deliberately naive
// forward pass (double precision, full recomputation, one explicit loop per
// formula) to compare the runtime with. It shares no code with src/model.
#ifndef KV_TEST_LLAMA_H
#define KV_TEST_LLAMA_H

#include <stdbool.h>
#include <stdint.h>

#include "kvant/kv_types.h"

#define KV_TEST_MAX_LAYERS 4

typedef struct {
    int n_vocab, n_embd, n_layer, n_head, n_head_kv, n_ff, n_rot, n_ctx_train;
    int head_dim;           // 0: n_embd / n_head
    float eps, rope_base;
    kv_type wtype;          // type of token_embd, output and the matmul weights
    bool tied;              // write no output.weight
    bool biases;            // write attn_{q,k,v,output}.bias
    uint64_t seed;
    const char *arch;       // general.architecture (default "llama")
    const char *skip_tensor; // leave this tensor out
    const char *skip_key;   // leave this key out
    const char *wide_tensor; // write this tensor one row longer than it should be
    kv_type norm_type;      // type of the norm weights (default F32)
} kv_test_llama_opts;

// Defaults: vocab 100, n_embd 64, 2 layers, 4 heads (2 KV heads), n_ff 96,
// full rotary, F32 weights, seed 1.
kv_test_llama_opts kv_test_llama_defaults(void);

typedef struct {
    float *attn_norm, *wq, *wk, *wv, *wo, *bq, *bk, *bv, *bo;
    float *ffn_norm, *gate, *up, *down;
} kv_test_layer;

// Weights as floats, already rounded to what the file stores (dequantized), so
// the naive pass sees what the runtime sees. Matrices are (n_out, n_in) row-major.
typedef struct {
    kv_test_llama_opts o;
    int hd; // head size
    float *tok_embd, *output_norm, *output;
    kv_test_layer layers[KV_TEST_MAX_LAYERS];
} kv_test_llama;

kv_test_llama *kv_test_llama_new(const kv_test_llama_opts *o);
void kv_test_llama_free(kv_test_llama *m);
// Writes the model as GGUF; returns 0 on success (prints the error otherwise).
int kv_test_llama_write(const kv_test_llama *m, const char *path);

// Naive forward pass of one sequence, tokens at positions 0..n-1: logits (n,
// n_vocab) and, if hidden is not NULL, the final residual before the output norm
// (n, n_embd). Keys, values and queries go through F16, as in the F16 KV cache.
void kv_test_llama_forward(const kv_test_llama *m, const int32_t *tokens, int n, float *logits,
                           float *hidden);

#endif
