// NEON versions of the reference kernels in kernels/ref (same signatures, _neon
// suffix), for aarch64 CPUs with the dot-product extension (ARMv8.2 dotprod:
// Cortex-A55/A76 and later, Apple M1 and later, Graviton 2 and later). The files
// in neon/ are compiled with -march=armv8.2-a+dotprod+fp16 and only on aarch64;
// callers must check the CPU (getauxval(AT_HWCAP) & HWCAP_ASIMDDP) before
// calling any of them. The declarations are visible everywhere; the definitions
// exist only in aarch64 builds.
//
// Results, against the references (tests/unit/test_kernels_neon.c):
//  - dot products: the same exact integer sums per block, but the float steps
//    run in vector lanes (fused multiply-adds, a different summation order), so
//    results differ from the references by float rounding only;
//  - activation quantizers: byte-identical.
#ifndef KV_KERNELS_NEON_H
#define KV_KERNELS_NEON_H

#include <stddef.h>
#include <stdint.h>

#include "kvant/kv_f16.h"

// *out = w . x; contracts as in kernels/ref/dot_ref.h: n a multiple of the weight
// type's block size, blocks contiguous, no allocation, thread-safe. Q8_K
// activations must carry their bsums as the quantizer writes them (the sums of
// each 16 quants): the K-quant and ternary kernels take their offsets from them.

// ---- 32-element block types: dot_q.c ----
void kv_dot_q4_1_q8_1_neon(int64_t n, float *out, const void *w, const void *x);
void kv_dot_q5_0_q8_0_neon(int64_t n, float *out, const void *w, const void *x);
void kv_dot_q5_1_q8_1_neon(int64_t n, float *out, const void *w, const void *x);
void kv_dot_iq4_nl_q8_0_neon(int64_t n, float *out, const void *w, const void *x);
// Q4_0 and Q8_0 are in tile_q.c, with register tiles (the contract of
// kv_tile_fn in kernels/kernels.h): the dot product is the 1 x 1 tile, so the
// tiles give its bits for every pair. 4 x 2 keeps the eight accumulators, the
// two activation blocks and the unpacked weights in registers (4 x 4 needs
// about 34 of the 32 vector registers: gcc and clang spill accumulators).
#define KV_NEON_TILE_NW 4 // weight rows of a full register tile
#define KV_NEON_TILE_NX 2 // activation rows of a full register tile
void kv_dot_q4_0_q8_0_neon(int64_t n, float *out, const void *w, const void *x);
void kv_dot_q8_0_q8_0_neon(int64_t n, float *out, const void *w, const void *x);
void kv_tile_q4_0_q8_0_neon(int64_t n, float *y, int64_t y_stride, const void *w,
                            size_t w_row_size, int64_t nw, const void *x, size_t x_row_size,
                            int64_t nx);
void kv_tile_q8_0_q8_0_neon(int64_t n, float *y, int64_t y_stride, const void *w,
                            size_t w_row_size, int64_t nw, const void *x, size_t x_row_size,
                            int64_t nx);

// ---- 256-element super-block types: dot_k.c ----
void kv_dot_q2_k_q8_k_neon(int64_t n, float *out, const void *w, const void *x);
void kv_dot_q3_k_q8_k_neon(int64_t n, float *out, const void *w, const void *x);
void kv_dot_q5_k_q8_k_neon(int64_t n, float *out, const void *w, const void *x);
// Q4_K and Q6_K are in tile_k.c, with tiles of one weight row by up to
// KV_NEON_TILE_K_NX activation rows; again the dot product is the 1 x 1 tile.
#define KV_NEON_TILE_K_NX 4
void kv_dot_q4_k_q8_k_neon(int64_t n, float *out, const void *w, const void *x);
void kv_dot_q6_k_q8_k_neon(int64_t n, float *out, const void *w, const void *x);
void kv_tile_q4_k_q8_k_neon(int64_t n, float *y, int64_t y_stride, const void *w,
                            size_t w_row_size, int64_t nw, const void *x, size_t x_row_size,
                            int64_t nx);
void kv_tile_q6_k_q8_k_neon(int64_t n, float *y, int64_t y_stride, const void *w,
                            size_t w_row_size, int64_t nw, const void *x, size_t x_row_size,
                            int64_t nx);
void kv_dot_iq4_xs_q8_k_neon(int64_t n, float *out, const void *w, const void *x);

// ---- 8-wide lattice i-quants: dot_iq.c (exact integer sums: equal to the reference) ----
void kv_dot_iq2_xxs_q8_k_neon(int64_t n, float *out, const void *w, const void *x);
void kv_dot_iq2_xs_q8_k_neon(int64_t n, float *out, const void *w, const void *x);
void kv_dot_iq2_s_q8_k_neon(int64_t n, float *out, const void *w, const void *x);
void kv_dot_iq1_s_q8_k_neon(int64_t n, float *out, const void *w, const void *x);
void kv_dot_iq1_m_q8_k_neon(int64_t n, float *out, const void *w, const void *x);
void kv_dot_tq1_0_q8_k_neon(int64_t n, float *out, const void *w, const void *x);
void kv_dot_tq2_0_q8_k_neon(int64_t n, float *out, const void *w, const void *x);
// IQ3_XXS and IQ3_S (dot_iq3.c): bit-identical to their references.
void kv_dot_iq3_xxs_q8_k_neon(int64_t n, float *out, const void *w, const void *x);
void kv_dot_iq3_s_q8_k_neon(int64_t n, float *out, const void *w, const void *x);
// Their register tiles: one weight row's super-blocks decoded once for up to
// KV_NEON_TILE_IQ3_NX activation rows; vec_dot's bits.
#define KV_NEON_TILE_IQ3_NX 8
void kv_tile_iq3_xxs_q8_k_neon(int64_t n, float *y, int64_t y_stride, const void *w,
                               size_t w_row_size, int64_t nw, const void *x, size_t x_row_size,
                               int64_t nx);
void kv_tile_iq3_s_q8_k_neon(int64_t n, float *y, int64_t y_stride, const void *w,
                             size_t w_row_size, int64_t nw, const void *x, size_t x_row_size,
                             int64_t nx);

// ---- float types: dot_f16.c (float lanes, not the reference's double sum) ----
void kv_dot_f32_f32_neon(int64_t n, float *out, const void *w, const void *x);
void kv_dot_f16_f16_neon(int64_t n, float *out, const void *w, const void *x);
void kv_dot_bf16_bf16_neon(int64_t n, float *out, const void *w, const void *x);

// ---- activation quantizers: quant_act.c ----
// n floats of x (n a multiple of 32, or 256 for Q8_K) -> n / block size blocks
// at y, byte-identical to the reference quantizers in quant/q8.c for every
// input, NaN and infinities included.
void kv_from_float_q8_0_neon(const float *x, void *y, int64_t n);
void kv_from_float_q8_1_neon(const float *x, void *y, int64_t n);
void kv_from_float_q8_k_neon(const float *x, void *y, int64_t n);

// ---- runtime row operations: rows.c and dot_f16.c (kernels/kernels.h) ----
void kv_dot_f16_f32_neon(int64_t n, float *out, const void *w, const void *x);
void kv_rmsnorm_neon(int64_t n, float *y, const float *x, const float *w, float eps);
void kv_softmax_neon(int64_t n, float *x);
void kv_silu_mul_neon(int64_t n, float *y, const float *gate, const float *up);
void kv_add_neon(int64_t n, float *y, const float *x);
void kv_axpy_f16_neon(int64_t n, float *y, float a, const kv_f16 *v);
// Attention's scores of a tile of keys against queries (attn.c; the contract of
// kv_kernels' dot_f16_tile): float lanes with FMA, not the reference's double sum.
void kv_dot_f16_tile_neon(int64_t n, const kv_f16 *k, size_t k_stride, int64_t nk, const float *q,
                          size_t q_stride, int64_t nq, float *out, size_t out_stride);
void kv_rope_neon(float *x, int64_t n_head, int64_t head_dim, int64_t n_rot, const float *cs);

// ---- the dispatch table: table.c ----
// Replaces the slots of k (a copy of the reference table) that have a NEON
// version; the others keep the reference.
struct kv_kernels;
void kv__kernels_fill_neon(struct kv_kernels *k);

#endif
