// Reference quantizers and dequantizers for every GGUF block type. Without an
// importance matrix the results are bit-identical to ggml's reference quantizers.
#ifndef KV_QUANT_H
#define KV_QUANT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "kvant/kv_status.h"
#include "kvant/kv_types.h"

// True when kvant can quantize to t (write it), and dequantize it (read it).
bool kv_quant_can_quantize(kv_type t);
bool kv_quant_can_dequantize(kv_type t);

// Quantizes n_rows rows of n_per_row floats (row-major) to type t, writing
// n_rows * kv_type_row_size(t, n_per_row) bytes to dst. imatrix (n_per_row
// importance weights, may be NULL) guides the types that use one, as ggml does.
// Fails with KV_ERR_INVALID when n_per_row is not a multiple of the block size or
// the input holds NaN or Inf (the message gives the row and column), and
// KV_ERR_UNSUPPORTED for a type kvant cannot write. IQ2_XXS, IQ2_XS and IQ1_S
// need the imatrix (KV_ERR_INVALID without one). Thread-safe: rows may be
// split across threads, with the same bytes as one call.
kv_status kv_quant_rows(kv_type t, const float *src, void *dst, int64_t n_rows,
                        int64_t n_per_row, const float *imatrix, kv_err *err);

// Dequantizes n elements (a multiple of the block size) of type t.
kv_status kv_dequant_row(kv_type t, const void *src, float *dst, int64_t n, kv_err *err);

#endif
