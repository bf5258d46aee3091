// AVX2 + FMA + F16C versions of the reference kernels: the dot products of
// ref/dot_ref.h and the activation quantizers of quant/q8.c. The files that
// define them are compiled only on x86-64 (with -mavx2 -mfma -mf16c), so call
// these only after checking that the CPU has AVX2, FMA and F16C; elsewhere the
// symbols do not exist. Choosing between them and the references is dispatch's job.
#ifndef KV_KERNELS_AVX2_H
#define KV_KERNELS_AVX2_H

#include <stdint.h>

// ---- dot products ----
// Same contract as the _ref function of the same name (ref/dot_ref.h): *out = w . x
// for n elements, n a multiple of the weight type's block size (any n for the
// float types), x in the paired activation type as the Q8 quantizers write it
// (quants within ±127, Q8_K bsums equal to the sums of its quants). Pure
// functions: no allocation, thread-safe, unaligned pointers are fine.
//
// Integer sums are exact and each block's scale product is formed as the
// reference forms it; only the order in which float terms are added differs
// (eight lanes, two accumulators, then a tree). So each result lies within
// (2 * n / 32 + R) * 2^-24 * MAG of the reference, where MAG is the sum over the
// elements of |x| times |w|, with a min-type weight d*q - m counted as
// |d*q| + |m|, and R a few roundings per term named per kernel in
// tests/unit/test_kernels_avx2.c (TOL_*), which checks it; plus, for the
// float types, n * 2^-149 when products fall into the subnormal range.

// 32-element blocks (dot_q.c). Q8_0 weights may hold -128.
void kv_dot_q4_0_q8_0_avx2(int64_t n, float *out, const void *w, const void *x);
void kv_dot_q4_1_q8_1_avx2(int64_t n, float *out, const void *w, const void *x);
void kv_dot_q5_0_q8_0_avx2(int64_t n, float *out, const void *w, const void *x);
void kv_dot_q5_1_q8_1_avx2(int64_t n, float *out, const void *w, const void *x);
void kv_dot_q8_0_q8_0_avx2(int64_t n, float *out, const void *w, const void *x);
void kv_dot_iq4_nl_q8_0_avx2(int64_t n, float *out, const void *w, const void *x);

// 256-element super-blocks against Q8_K (dot_k.c).
void kv_dot_q2_k_q8_k_avx2(int64_t n, float *out, const void *w, const void *x);
void kv_dot_q3_k_q8_k_avx2(int64_t n, float *out, const void *w, const void *x);
void kv_dot_q4_k_q8_k_avx2(int64_t n, float *out, const void *w, const void *x);
void kv_dot_q5_k_q8_k_avx2(int64_t n, float *out, const void *w, const void *x);
void kv_dot_q6_k_q8_k_avx2(int64_t n, float *out, const void *w, const void *x);
void kv_dot_iq4_xs_q8_k_avx2(int64_t n, float *out, const void *w, const void *x);
void kv_dot_tq1_0_q8_k_avx2(int64_t n, float *out, const void *w, const void *x);
void kv_dot_tq2_0_q8_k_avx2(int64_t n, float *out, const void *w, const void *x);

// Float types (dot_f16.c): float lanes with FMA, where the reference rounds each
// product and sums in double; n need not be a multiple of anything.
void kv_dot_f32_f32_avx2(int64_t n, float *out, const void *w, const void *x);
void kv_dot_f16_f16_avx2(int64_t n, float *out, const void *w, const void *x);
void kv_dot_bf16_bf16_avx2(int64_t n, float *out, const void *w, const void *x);

// ---- activation quantizers (quant_act.c) ----
// Quantize a row of n floats (n a multiple of 32, or 256 for Q8_K) to blocks at y,
// writing exactly the bytes of kv__quantize_q8_0 / _q8_1 / _q8_k (quant/q8.c) for
// every input, infinities and NaN included. Thread-safe, no allocation.
void kv_from_float_q8_0_avx2(const float *x, void *y, int64_t n);
void kv_from_float_q8_1_avx2(const float *x, void *y, int64_t n);
void kv_from_float_q8_k_avx2(const float *x, void *y, int64_t n);

#endif
