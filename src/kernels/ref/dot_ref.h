// Scalar reference dot products of each weight type against the activation type
// ggml pairs it with (its vec_dot_type), with ggml's arithmetic: exact integer
// sums per block or sub-block, then float scale products and float accumulation
// in the order ggml's generic (scalar) kernels use, so results match to the bit.
// These are the spec the SIMD kernels are tested against; dispatch lives elsewhere.
#ifndef KV_KERNELS_DOT_REF_H
#define KV_KERNELS_DOT_REF_H

#include <stdint.h>

#include "kvant/kv_types.h"

// *out = w . x, where w holds n elements of the weight type and x n elements of
// the paired activation type (both packed blocks, contiguous). n must be a
// multiple of the weight type's block size (32, or 256 for the *_k, iq4_xs and
// tq types). Pure functions: no allocation, thread-safe.
typedef void (*kv__dot_ref_fn)(int64_t n, float *out, const void *w, const void *x);

// ---- 32-element block types: dot_q.c ----
void kv_dot_q4_0_q8_0_ref(int64_t n, float *out, const void *w, const void *x);
void kv_dot_q4_1_q8_1_ref(int64_t n, float *out, const void *w, const void *x);
void kv_dot_q5_0_q8_0_ref(int64_t n, float *out, const void *w, const void *x);
void kv_dot_q5_1_q8_1_ref(int64_t n, float *out, const void *w, const void *x);
void kv_dot_q8_0_q8_0_ref(int64_t n, float *out, const void *w, const void *x);
void kv_dot_iq4_nl_q8_0_ref(int64_t n, float *out, const void *w, const void *x);

// ---- 256-element super-block types: dot_k.c ----
void kv_dot_q2_k_q8_k_ref(int64_t n, float *out, const void *w, const void *x);
void kv_dot_q3_k_q8_k_ref(int64_t n, float *out, const void *w, const void *x);
void kv_dot_q4_k_q8_k_ref(int64_t n, float *out, const void *w, const void *x);
void kv_dot_q5_k_q8_k_ref(int64_t n, float *out, const void *w, const void *x);
void kv_dot_q6_k_q8_k_ref(int64_t n, float *out, const void *w, const void *x);
void kv_dot_iq4_xs_q8_k_ref(int64_t n, float *out, const void *w, const void *x);
void kv_dot_tq1_0_q8_k_ref(int64_t n, float *out, const void *w, const void *x);
void kv_dot_tq2_0_q8_k_ref(int64_t n, float *out, const void *w, const void *x);

// ---- IQ3_XXS, IQ3_S: dot_iq3.c ----
void kv_dot_iq3_xxs_q8_k_ref(int64_t n, float *out, const void *w, const void *x);
void kv_dot_iq3_s_q8_k_ref(int64_t n, float *out, const void *w, const void *x);
// ---- 8-wide lattice i-quants: dot_iq.c ----
void kv_dot_iq2_xxs_q8_k_ref(int64_t n, float *out, const void *w, const void *x);
void kv_dot_iq2_xs_q8_k_ref(int64_t n, float *out, const void *w, const void *x);
void kv_dot_iq2_s_q8_k_ref(int64_t n, float *out, const void *w, const void *x);
void kv_dot_iq1_s_q8_k_ref(int64_t n, float *out, const void *w, const void *x);
void kv_dot_iq1_m_q8_k_ref(int64_t n, float *out, const void *w, const void *x);

// ---- float types: dot_f16.c (ggml's scalar path: float products, double sum) ----
void kv_dot_f32_f32_ref(int64_t n, float *out, const void *w, const void *x);
void kv_dot_f16_f16_ref(int64_t n, float *out, const void *w, const void *x);
void kv_dot_bf16_bf16_ref(int64_t n, float *out, const void *w, const void *x);

// ---- pairing table: dot_pairs.c ----

typedef struct {
    kv_type act;        // type the activations must be converted to
    kv__dot_ref_fn dot; // reference dot product of (weight, act)
} kv__dot_pair;

// The activation type and reference dot for weight type w, or NULL when kvant
// has no dot product with w as weights (activation-only types such as Q8_K,
// unknown ids, types not implemented). The pointer is to static data.
const kv__dot_pair *kv__dot_pair_ref(kv_type w);

#endif
