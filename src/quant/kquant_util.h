// Shared pieces of the K-quant and IQ4 reference quantizers: rounding, the
// scale/minimum searches that pick the integer levels of a group, and the
// 6-bit scale packing of Q4_K/Q5_K. The arithmetic (operation order, float
// precision, tie rules) follows ggml exactly, so that quantized bytes match
// llama.cpp's; callers compile with -ffp-contract=off for the same reason.
#ifndef KV_QUANT_KQUANT_UTIL_H
#define KV_QUANT_KQUANT_UTIL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "quant/quant_int.h" // kv__nearest_int

// Groups whose largest magnitude is below this are treated as all zero.
#define KV_KQ_GROUP_EPS 1e-15f

static inline int kv__kq_clamp(int v, int lo, int hi) {
    return v < lo ? lo : (v > hi ? hi : v);
}

// Symmetric levels l in [-nmax, nmax-1] for n values, stored as l + nmax in L,
// chosen with a weighted least-squares scale search (weights w, or x^2 when w is
// NULL). Returns the scale: x ~ scale * (L - nmax). An all-zero group gets L = 0
// and scale 0.
float kv__kq_fit_sym(int n, int nmax, const float *x, int8_t *L, const float *w);

// kv__kq_fit_sym (n = 16) of the 16 sub-blocks of a Q3_K/Q6_K super-block at
// once: x, w (256 weights, or NULL for x^2) and L hold them one after the other;
// scales[j] is sub-block j's scale. Same bits as 16 calls of kv__kq_fit_sym (the
// _ref twin). kv__kq_sym_x16_level() says which path kv__kq_fit_sym_x16 takes on
// this CPU: 2 AVX-512 (16 lanes), 1 AVX2 (8 lanes, twice), 0 the scalar twin;
// the _avx2 and _avx512 variants may be called only at that level or above
// (they are the scalar twin on a non-x86 build).
int kv__kq_sym_x16_level(void);
void kv__kq_fit_sym_x16(const float x[256], const float *w, int nmax, int8_t L[256],
                        float scales[16]);
void kv__kq_fit_sym_x16_ref(const float x[256], const float *w, int nmax, int8_t L[256],
                            float scales[16]);
void kv__kq_fit_sym_x16_avx2(const float x[256], const float *w, int nmax, int8_t L[256],
                             float scales[16]);
void kv__kq_fit_sym_x16_avx512(const float x[256], const float *w, int nmax, int8_t L[256],
                               float scales[16]);

// Q3_K's symmetric fit (weights x^2) with a coordinate-descent refinement of
// single levels. Stores l + nmax in L; returns the scale.
float kv__kq_fit_sym_refine(int n, int nmax, const float *x, int8_t *L);

// Asymmetric levels L in [0, nmax] with x ~ scale * L - *neg_min: a grid of
// nstep+1 inverse scales (nmax + rmin + rdelta*k) / range, each refit by
// weighted least squares. use_mad selects |error| instead of error^2.
// Laux is n bytes of scratch. Returns the scale. (ggml has two copies of this
// search, make_qkx2_quants and make_qkx3_quants; at llama.cpp c392e50, the
// version our goldens come from, they compute the same for finite input.)
float kv__kq_fit_affine(int n, int nmax, const float *x, const float *w, uint8_t *L,
                        float *neg_min, uint8_t *Laux, float rmin, float rdelta, int nstep,
                        int use_mad);

// kv__kq_fit_affine (n = 32, squared error) of the 8 sub-blocks of a super-block
// at once: x, w and L hold them one after the other. Same bits as 8 calls of
// the scalar one (its twin), which it is where kv__kq_have_x8() is false.
bool kv__kq_have_x8(void);
void kv__kq_fit_affine_x8(const float x[256], const float w[256], int nmax, float rmin,
                          float rdelta, int nstep, uint8_t L[256], float scales[8],
                          float neg_mins[8]);

// Quantizes n non-negative super-block values (sub-block scales or minimums) to
// levels L in [0, nmax] with weighted refinement; returns the super scale.
float kv__kq_fit_positive(int n, int nmax, const float *x, uint8_t *L, const float *w);

// ---- Q4_K / Q5_K: 8 sub-blocks of 32, each with a 6-bit scale and minimum ----

// Packs sub-block scale/minimum levels (0..63) into the 12-byte layout: bytes
// 0..7 hold sub-blocks 0..3 whole, bytes 8..11 the low nibbles of 4..7, whose
// top two bits go to the top of bytes 0..7. Like ggml, it does not clamp.
void kv__kq_pack_scale_min(const uint8_t ls[8], const uint8_t lm[8], uint8_t out[12]);

// Reads sub-block j's scale and minimum levels from the 12-byte layout.
void kv__kq_unpack_scale_min(int j, const uint8_t packed[12], uint8_t *sc, uint8_t *m);

// Sub-block j's factors of w = dl * q - ml: dl = d * scale, ml = dmin * minimum,
// with the levels read from the 12-byte layout.
void kv__kq_sub_scale_min(int j, const uint8_t packed[12], float d, float dmin, float *dl,
                          float *ml);

// Fits one 256-value super-block (Q4_K: nmax 15, Q5_K: nmax 31): writes levels to
// L, the packed scales to scales[12] and the super scales to *d and *dmin.
// imatrix (the super-block's 256 weights) may be NULL for the reference search.
void kv__kq_fit_k4(const float *x, int nmax, const float *imatrix, uint8_t L[256],
                   uint8_t scales[12], uint16_t *d, uint16_t *dmin);

// Packs 256 two-bit levels the way Q2_K and Q3_K store them: byte 32*h + l
// holds elements 128*h + l + 32*s in bits 2*s.
void kv__kq_pack_2bit(const uint8_t L[256], uint8_t qs[64]);

// Dequantizes one Q4_K or Q5_K super-block to y[256]: w = dl * (nibble + 16 *
// high bit) - ml per sub-block, with d and dmin its super scales as floats, qs its
// 128 nibble bytes and qh its 32 high-bit bytes (Q5_K) or NULL (Q4_K).
void kv__kq_dequant_k4(const uint8_t scales[12], float d, float dmin, const uint8_t qs[128],
                       const uint8_t *qh, float y[256]);

// ---- rows of super-blocks ----

// Quantizes one super-block: x (QK_K values) and qw (their importance weights,
// or NULL) into the block at y.
typedef void (*kv__kq_block_fn)(const float *x, const float *qw, void *y);

// Quantizes n_rows rows of n_per_row values (a multiple of QK_K) to blocks of
// block_size bytes, one super-block at a time, in order; imatrix (n_per_row
// weights, shared by every row) may be NULL.
void kv__kq_quantize_rows(const float *src, void *dst, size_t block_size, int64_t n_rows,
                          int64_t n_per_row, const float *imatrix, kv__kq_block_fn block);

#endif
