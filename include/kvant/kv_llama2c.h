// Karpathy's llama2.c checkpoints (model.bin) and their tokenizer.bin, read by
// mmap with every size checked against the file: the legacy header (7 int32s,
// a negative vocab_size meaning a separate classifier, RoPE tables after the
// weights) and export.py's "ak42" headers, version 1 (float32) and version 2
// (int8 in groups with float32 scales, dequantized on read).
#ifndef KV_LLAMA2C_H
#define KV_LLAMA2C_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "kvant/kv_status.h"

#define KV_LLAMA2C_MAGIC 0x616b3432u // "ak42" as a little-endian uint32

typedef struct {
    int version; // 0: legacy (no magic), 1: float32, 2: int8 groups
    int32_t dim, hidden_dim, n_layers, n_heads, n_kv_heads, vocab_size, seq_len;
    bool shared_classifier; // output weights are the token embeddings
    int32_t group_size;     // version 2 only
    uint64_t data_offset;   // where the weights start
} kv_llama2c_header;

// One weight with its GGUF name and shape (ne[0] = row length).
typedef struct {
    char name[48];
    int n_dims;
    int64_t ne[2];
    int64_t n_elements;
    const uint8_t *f32;    // float32 data (versions 0 and 1), else NULL
    const uint8_t *q;      // int8 data (version 2), else NULL
    const uint8_t *scales; // version 2: one float32 per group_size elements
    int32_t group_size;
} kv_llama2c_tensor;

typedef struct kv_llama2c kv_llama2c;

// Maps model_path and tokenizer_path and checks both against each other.
// tokenizer_path may be NULL: no vocabulary (n_tokens 0), for describing a file.
kv_status kv_llama2c_open(const char *model_path, const char *tokenizer_path, kv_llama2c **out,
                          kv_err *err);
// The same over borrowed bytes (names are used in messages); the bytes must
// outlive the handle.
kv_status kv_llama2c_open_mem(const void *model, size_t model_size, const char *model_name,
                              const void *tok, size_t tok_size, const char *tok_name,
                              kv_llama2c **out, kv_err *err);
void kv_llama2c_close(kv_llama2c *m);

// True when the first bytes carry the "ak42" magic of export.py's versions.
bool kv_llama2c_has_magic(const void *data, size_t size);

const kv_llama2c_header *kv_llama2c_header_of(const kv_llama2c *m);
const char *kv_llama2c_path(const kv_llama2c *m);
// Tensors in GGUF order: token_embd, output_norm, output (the embeddings again
// when shared), then each layer's attn_norm, attn_q/k/v/output, ffn_norm,
// ffn_gate/down/up.
int64_t kv_llama2c_tensor_count(const kv_llama2c *m);
const kv_llama2c_tensor *kv_llama2c_tensor_at(const kv_llama2c *m, int64_t i);
// Reads n elements from element i0 as float32 (dequantizing version 2).
kv_status kv_llama2c_read_f32(const kv_llama2c_tensor *t, int64_t i0, int64_t n, float *dst,
                              kv_err *err);

// The vocabulary as GGUF's SentencePiece ("llama") model keeps it: spaces as
// U+2581, "<s>"/"</s>" without llama2.c's newlines, and token types
// (1 normal, 2 unknown, 3 control, 6 byte).
typedef struct {
    int64_t n_tokens;
    const char *const *tokens; // NUL-terminated
    const float *scores;
    const int32_t *types;
} kv_llama2c_vocab;

void kv_llama2c_vocab_of(const kv_llama2c *m, kv_llama2c_vocab *v);

#endif
