// Per-type reference quantizers and dequantizers, shared inside quant/ only.
// quantize: n_rows rows of n_per_row floats -> blocks; imatrix may be NULL.
// dequantize: k elements (a multiple of the block size) -> floats.
// Callers (quant.c) have already checked the sizes and that the input is finite.
#ifndef KV_QUANT_INT_H
#define KV_QUANT_INT_H

#include <math.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "kvant/kv_blocks.h"

typedef void (*kv__quantize_fn)(const float *src, void *dst, int64_t n_rows, int64_t n_per_row,
                                const float *imatrix);
typedef void (*kv__dequantize_fn)(const void *src, float *dst, int64_t k);

// ---- rounding helpers that reproduce ggml's integer conversions ----

// Round to nearest, ties to even, by adding 1.5 * 2^23 so the float addition
// does the rounding and the integer lands in the low mantissa bits (ggml's
// nearest_int). Exact for |f| < 2^22; outside that range (or for NaN/Inf) the
// result is whatever those bits say, as in ggml: deterministic, never undefined.
static inline int kv__nearest_int(float f) {
    float shifted = f + 12582912.0f;
    uint32_t bits;
    memcpy(&bits, &shifted, sizeof bits);
    return (int)(bits & 0x007fffffu) - 0x00400000;
}

// C's float -> int conversion truncates toward zero, but is undefined for NaN and
// values outside int's range. ggml's reference quantizers can reach those cases
// only for blocks whose largest magnitude is below ~2^-125 (1/scale overflows,
// and the scale itself rounds to a zero half). We give them the x86 answer
// (cvttss2si yields INT_MIN, whose low byte is 0), which is what ggml's builds
// produce, without undefined behaviour.
static inline int32_t kv__trunc_i32(float f) {
    if (!(f > -2147483904.0f && f < 2147483648.0f))
        return INT32_MIN;
    return (int32_t)f;
}

// (int8_t)(float) / (uint8_t)(float) as ggml's code writes them: truncate to an
// int, keep the low byte.
static inline int8_t kv__trunc_i8(float f) {
    return (int8_t)(uint8_t)((uint32_t)kv__trunc_i32(f) & 0xffu);
}
static inline uint8_t kv__trunc_u8(float f) {
    return (uint8_t)((uint32_t)kv__trunc_i32(f) & 0xffu);
}

// The index of the first Inf or NaN of n floats, or -1 (finite_x8.c): the
// dispatcher, its AVX2 path (callable where kv__kq_have_x8(); the twin on other
// architectures) and the scalar twin.
int64_t kv__find_nonfinite(const float *x, int64_t n);
int64_t kv__find_nonfinite_avx2(const float *x, int64_t n);
int64_t kv__find_nonfinite_ref(const float *x, int64_t n);

// roundf then truncation to a byte (ggml's `int8_t q = roundf(v)`).
// Q4_0's reference block (no importance matrix) with AVX2, x86-64 only; the
// caller checks kv__kq_have_x8() (AVX2) and has the scalar twin in q4_q5.c.
void kv__q4_0_block_avx2(const float x[32], kv_f16 *d_out, uint8_t qs[16]);
void kv__q4_0_block_ref(const float x[32], kv_f16 *d_out, uint8_t qs[16]); // the twin
// Q8_0's block with AVX2 (same conditions; the twin is kv__q8_0_block_ref in q8.c).
void kv__q8_0_block_avx2(const float x[32], kv_f16 *d_out, int8_t qs[32]);
void kv__q8_0_block_ref(const float x[32], kv_f16 *d_out, int8_t qs[32]);

// Below 2^23 in magnitude this is done inline (a libm roundf call per element
// was a third of Q8_0's quantization time): trunc(f) is exact, so is f - trunc(f),
// and roundf adds the sign when that fraction's magnitude is at least one half.
// Larger magnitudes, Inf and NaN take roundf itself. Same bits either way.
static inline int8_t kv__round_i8(float f) {
    if (!(fabsf(f) < 8388608.0f))
        return kv__trunc_i8(roundf(f));
    int32_t t = (int32_t)f;
    const float r = f - (float)t;
    t += (r >= 0.5f) - (r <= -0.5f);
    return (int8_t)(uint8_t)((uint32_t)t & 0xffu);
}

// lroundf(f) converted to int, as ggml's ternary quantizers use it: halves round
// away from zero; a long result keeps its low 32 bits; NaN and values beyond
// long's range give 0 (the low half of LONG_MIN, x86's answer).
static inline int kv__lround_int(float f) {
    float r = roundf(f);
    if (!(r > -9223373136366403584.0f && r < 9223372036854775808.0f))
        return 0;
    return (int)(int32_t)(uint32_t)(uint64_t)(int64_t)r;
}

// ---- 8-bit: q8.c (the quantizers are in kvant/kv_blocks.h, for the kernels) ----
void kv__dequantize_q8_0(const void *src, float *dst, int64_t k);
void kv__dequantize_q8_1(const void *src, float *dst, int64_t k);
void kv__dequantize_q8_k(const void *src, float *dst, int64_t k);

// ---- 4- and 5-bit legacy types: q4_q5.c (imatrix -> weighted search, as ggml) ----
void kv__quantize_q4_0(const float *src, void *dst, int64_t n_rows, int64_t n_per_row,
                       const float *imatrix);
void kv__dequantize_q4_0(const void *src, float *dst, int64_t k);
void kv__quantize_q4_1(const float *src, void *dst, int64_t n_rows, int64_t n_per_row,
                       const float *imatrix);
void kv__dequantize_q4_1(const void *src, float *dst, int64_t k);
void kv__quantize_q5_0(const float *src, void *dst, int64_t n_rows, int64_t n_per_row,
                       const float *imatrix);
void kv__dequantize_q5_0(const void *src, float *dst, int64_t k);
void kv__quantize_q5_1(const float *src, void *dst, int64_t n_rows, int64_t n_per_row,
                       const float *imatrix);
void kv__dequantize_q5_1(const void *src, float *dst, int64_t k);

// ---- ternary: tq.c (imatrix ignored) ----
void kv__quantize_tq1_0(const float *src, void *dst, int64_t n_rows, int64_t n_per_row,
                        const float *imatrix);
void kv__dequantize_tq1_0(const void *src, float *dst, int64_t k);
void kv__quantize_tq2_0(const float *src, void *dst, int64_t n_rows, int64_t n_per_row,
                        const float *imatrix);
void kv__dequantize_tq2_0(const void *src, float *dst, int64_t k);

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

// IQ3_XXS and IQ3_S (iq3.c): bit-exact with ggml's quantize_iq3_xxs/_s, with an
// importance matrix or without (x^2 weights); n_per_row a multiple of 256.
void kv__quantize_iq3_xxs(const float *src, void *dst, int64_t n_rows, int64_t n_per_row,
                          const float *imatrix);
void kv__quantize_iq3_s(const float *src, void *dst, int64_t n_rows, int64_t n_per_row,
                        const float *imatrix);
void kv__dequantize_iq3_xxs(const void *src, float *dst, int64_t k);
void kv__dequantize_iq3_s(const void *src, float *dst, int64_t k);

// k elements (a multiple of the block size) -> floats, as ggml's dequantize_row_<type>.
void kv__dequantize_q2_k(const void *src, float *dst, int64_t k);
void kv__dequantize_q3_k(const void *src, float *dst, int64_t k);
void kv__dequantize_q4_k(const void *src, float *dst, int64_t k);
void kv__dequantize_q5_k(const void *src, float *dst, int64_t k);
void kv__dequantize_q6_k(const void *src, float *dst, int64_t k);
void kv__dequantize_iq4_nl(const void *src, float *dst, int64_t k);
void kv__dequantize_iq4_xs(const void *src, float *dst, int64_t k);

// ---- the 8-wide lattice i-quants (iq2.c, iq1.c; codebooks in iq_grid.c) ----
// Bit-exact with ggml's quantize_<type>(). imatrix (n_per_row weights) is
// required by IQ2_XXS, IQ2_XS and IQ1_S (kv_quant_rows refuses them without
// one); IQ2_S and IQ1_M use their own weights without one, as ggml. n_per_row is a
// multiple of 256; rows are independent. The codebook must be built
// (kv__iq_grid_get non-NULL), which kv_quant_rows checks first.
void kv__quantize_iq2_xxs(const float *src, void *dst, int64_t n_rows, int64_t n_per_row,
                          const float *imatrix);
void kv__quantize_iq2_xs(const float *src, void *dst, int64_t n_rows, int64_t n_per_row,
                         const float *imatrix);
void kv__quantize_iq2_s(const float *src, void *dst, int64_t n_rows, int64_t n_per_row,
                        const float *imatrix);
void kv__quantize_iq1_s(const float *src, void *dst, int64_t n_rows, int64_t n_per_row,
                        const float *imatrix);
void kv__quantize_iq1_m(const float *src, void *dst, int64_t n_rows, int64_t n_per_row,
                        const float *imatrix);
void kv__dequantize_iq1_s(const void *src, float *dst, int64_t k);
void kv__dequantize_iq1_m(const void *src, float *dst, int64_t k);
// The i-quants' sign step for 8 values (IQ2_*, IQ3_XXS; iq2.c): |x| to xval and the sign bits
// returned (7 stored, the 8th by parity); an odd count of negatives keeps the value of least
// w x^2 (the first of equals) negative in xval.
uint8_t kv__iq_sign_split8(const float *x, const float *w, float *xval);
void kv__dequantize_iq2_xxs(const void *src, float *dst, int64_t k);
void kv__dequantize_iq2_s(const void *src, float *dst, int64_t k);
void kv__dequantize_iq2_xs(const void *src, float *dst, int64_t k);

#endif
