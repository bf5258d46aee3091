// Internals shared by the eval module's files: writing llama.cpp logits files.
#ifndef KV_EVAL_INT_H
#define KV_EVAL_INT_H

#include <stdint.h>

#include "kvant/kv_core.h"
#include "kvant/kv_eval.h"

// Starts a logits file at path (through kv_out: it appears only on commit) and
// writes its header and the n_chunk * n_ctx tokens; rows follow with kv_out_write.
kv_status kv__logits_write_header(kv_out *o, const char *path, int32_t n_ctx, int32_t n_vocab,
                                  int32_t n_chunk, const int32_t *tokens, kv_err *err);

// Called for each scored position j (first <= j <= n_ctx - 2) with its logits.
typedef void (*kv__row_fn)(void *user, int32_t j, const float *logits);

// Evaluates one chunk of n_ctx tokens in sequence 0 (cleared first), with bos
// (>= 0) in place of the first token, in batches of the context's n_batch;
// calls row for each scored position in order. Uses `scratch` (3 * n_ctx int32).
kv_status kv__eval_chunk(kv_ctx *c, const int32_t *tokens, int32_t n_ctx, int32_t bos,
                         int32_t *scratch, kv__row_fn row, void *user, kv_err *err);

#endif
