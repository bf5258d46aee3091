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

// ---- K-quants and IQ4 (q2_k.c .. q6_k.c, iq4.c) ----
// Bit-exact with ggml's quantize_<type>(): without an imatrix Q2_K..Q6_K use
// ggml's reference search, with one (n_per_row weights, the same for every row)
// its weighted search; IQ4_NL/IQ4_XS always use their weighted search (x^2
// weights without an imatrix). n_per_row must be a multiple of the block size
// (256; 32 for IQ4_NL). Rows are independent: any split of the rows across
// calls or threads gives the same bytes. Inputs must be finite.
void kv__quantize_q2_k(const float *src, void *dst, int64_t n_rows, int64_t n_per_row,
                       const float *imatrix);
void kv__quantize_q3_k(const float *src, void *dst, int64_t n_rows, int64_t n_per_row,
                       const float *imatrix);
void kv__quantize_q4_k(const float *src, void *dst, int64_t n_rows, int64_t n_per_row,
                       const float *imatrix);
void kv__quantize_q5_k(const float *src, void *dst, int64_t n_rows, int64_t n_per_row,
                       const float *imatrix);
void kv__quantize_q6_k(const float *src, void *dst, int64_t n_rows, int64_t n_per_row,
                       const float *imatrix);
void kv__quantize_iq4_nl(const float *src, void *dst, int64_t n_rows, int64_t n_per_row,
                         const float *imatrix);
void kv__quantize_iq4_xs(const float *src, void *dst, int64_t n_rows, int64_t n_per_row,
                         const float *imatrix);

// k elements (a multiple of the block size) -> floats, as ggml's dequantize_row_<type>.
void kv__dequantize_q2_k(const void *src, float *dst, int64_t k);
void kv__dequantize_q3_k(const void *src, float *dst, int64_t k);
void kv__dequantize_q4_k(const void *src, float *dst, int64_t k);
void kv__dequantize_q5_k(const void *src, float *dst, int64_t k);
void kv__dequantize_q6_k(const void *src, float *dst, int64_t k);
void kv__dequantize_iq4_nl(const void *src, float *dst, int64_t k);
void kv__dequantize_iq4_xs(const void *src, float *dst, int64_t k);

#endif
