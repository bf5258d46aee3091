// Per-type reference quantizers and dequantizers, shared inside quant/ only.
// quantize: n_rows rows of n_per_row floats -> blocks; imatrix may be NULL.
// dequantize: k elements (a multiple of the block size) -> floats.
#ifndef KV_QUANT_INT_H
#define KV_QUANT_INT_H

#include <stddef.h>
#include <stdint.h>

#include "quant/blocks.h"

typedef void (*kv__quantize_fn)(const float *src, void *dst, int64_t n_rows, int64_t n_per_row,
                                const float *imatrix);
typedef void (*kv__dequantize_fn)(const void *src, float *dst, int64_t k);

#endif
