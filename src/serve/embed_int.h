// Embeddings (embed.c): the pooled, normalised final hidden state of an input.
#ifndef KV_SERVE_EMBED_INT_H
#define KV_SERVE_EMBED_INT_H

#include <stdint.h>

#include "kvant/kv_model.h"
#include "kvant/kv_status.h"
#include "kvant/kv_threadpool.h"

typedef struct kv__embedder kv__embedder;

// A context of one sequence over m that keeps final hidden states, sharing the
// thread pool (borrowed). n_ctx caps the tokens of one input.
kv_status kv__embedder_new(const kv_model *m, int32_t n_ctx, kv_threadpool *pool,
                           kv__embedder **out, kv_err *err);
void kv__embedder_free(kv__embedder *e); // accepts NULL
// The mean over tokens[0..n) of the final hidden state (after the output norm),
// or token 0's when the model's pooling_type is CLS (2), scaled to unit length, into out (n_embd floats). KV_ERR_LIMIT over n_ctx.
kv_status kv__embed_tokens(kv__embedder *e, const int32_t *tokens, int32_t n, float *out,
                           kv_err *err);

#endif
