// AVX2 + FMA + F16C versions of the reference kernels: the dot products of
// ref/dot_ref.h, and the activation converters and row ops of kernels.h. The
// files that define them are compiled only on x86-64 (with -mavx2 -mfma -mf16c),
// so call them only when kv__cpu_has_avx2() says so; elsewhere the symbols do
// not exist. dispatch.c chooses between this table and the reference.
#ifndef KV_KERNELS_AVX2_H
#define KV_KERNELS_AVX2_H

#include <stdbool.h>
#include <stdint.h>

#include "kernels/kernels.h"

// True when this CPU (and OS) runs AVX2, FMA and F16C code. Defined on every
// platform (false off x86-64), compiled without ISA flags (kernels/cpu.c).
// Thread-safe.
bool kv__cpu_has_avx2(void);
// True when kv__cpu_has_avx2() and the CPU has AVX-VNNI (256-bit dpbusd).
bool kv__cpu_has_avxvnni(void);

// Sets every slot of k that has an AVX2 version (k starts as a copy of the
// reference table) and names it "avx2". Weight slots keep their activation type.
// With vnni (only where kv__cpu_has_avxvnni()), the kernels that have AVX-VNNI
// builds take them and the table is named "avx2-vnni"; results are the same bits.
void kv__kernels_fill_avx2(kv_kernels *k, bool vnni);

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
// Attention's weighted sum over a block of cached values (attn.c; the contract
// of kv_kernels' axpy_f16_rows: the bits of kv_axpy_f16_avx2 row after row).
void kv_axpy_f16_rows_avx2(int64_t n, int64_t rows, size_t stride, const kv_f16 *v,
                           const float *a, float *y);
// The same for values cached as F32, Q8_0 or Q4_0 (attn.c; the contract of
// kv_kernels' axpy_rows: the bits of kv_axpy_rows_*_ref).
void kv_axpy_rows_f32_avx2(int64_t n, int64_t rows, size_t stride, const void *v, const float *a,
                           float *y);
void kv_axpy_rows_q8_0_avx2(int64_t n, int64_t rows, size_t stride, const void *v, const float *a,
                            float *y);
void kv_axpy_rows_q4_0_avx2(int64_t n, int64_t rows, size_t stride, const void *v, const float *a,
                            float *y);
// Attention's scores of a tile of cached keys against queries (attn.c; the
// contract of kv_kernels' dot_f16_tile): per pair one 8-lane FMA accumulator
// and hsum_f32's lane order, within the F16-key dot bound of the reference.
void kv_dot_f16_tile_avx2(int64_t n, const kv_f16 *k, size_t k_stride, int64_t nk, const float *q,
                          size_t q_stride, int64_t nq, float *out, size_t out_stride);

#define KV_AVX2_TILE_NW 16 // weight rows of a full tile (two groups of one per lane)
#define KV_AVX2_TILE_NX 4 // activation rows of a full register tile
// Q4_0 and Q8_0 are in tile_q.c, with register tiles (tile_q.h; the contract
// of kv_tile_fn in kernels.h); their AVX-VNNI builds (avxvnni/tile_q.c) give
// the same bits and exist only in builds for x86-64.
void kv_dot_q4_0_q8_0_avx2(int64_t n, float *out, const void *w, const void *x);
void kv_dot_q4_1_q8_1_avx2(int64_t n, float *out, const void *w, const void *x);
void kv_dot_q5_0_q8_0_avx2(int64_t n, float *out, const void *w, const void *x);
void kv_dot_q5_1_q8_1_avx2(int64_t n, float *out, const void *w, const void *x);
void kv_dot_q8_0_q8_0_avx2(int64_t n, float *out, const void *w, const void *x);
void kv_tile_q4_0_q8_0_avx2(int64_t n, float *y, int64_t y_stride, const void *w,
                            size_t w_row_size, int64_t nw, const void *x, size_t x_row_size,
                            int64_t nx);
void kv_tile_q8_0_q8_0_avx2(int64_t n, float *y, int64_t y_stride, const void *w,
                            size_t w_row_size, int64_t nw, const void *x, size_t x_row_size,
                            int64_t nx);
void kv_dot_q4_0_q8_0_avxvnni(int64_t n, float *out, const void *w, const void *x);
void kv_dot_q8_0_q8_0_avxvnni(int64_t n, float *out, const void *w, const void *x);
void kv_tile_q4_0_q8_0_avxvnni(int64_t n, float *y, int64_t y_stride, const void *w,
                               size_t w_row_size, int64_t nw, const void *x,
                               size_t x_row_size, int64_t nx);
void kv_tile_q8_0_q8_0_avxvnni(int64_t n, float *y, int64_t y_stride, const void *w,
                               size_t w_row_size, int64_t nw, const void *x,
                               size_t x_row_size, int64_t nx);
void kv_dot_iq4_nl_q8_0_avx2(int64_t n, float *out, const void *w, const void *x);

// 256-element super-blocks against Q8_K (dot_k.c).
void kv_dot_q2_k_q8_k_avx2(int64_t n, float *out, const void *w, const void *x);
void kv_dot_q3_k_q8_k_avx2(int64_t n, float *out, const void *w, const void *x);
void kv_dot_q4_k_q8_k_avx2(int64_t n, float *out, const void *w, const void *x);
void kv_dot_q5_k_q8_k_avx2(int64_t n, float *out, const void *w, const void *x);
void kv_dot_q6_k_q8_k_avx2(int64_t n, float *out, const void *w, const void *x);
// Q4_K and Q6_K are in tile_k.c, with tiles of one weight row by
// KV_AVX2_TILE_K_NX activation rows (tile_k.h), and AVX-VNNI builds.
#define KV_AVX2_TILE_K_NX 4
#define KV_AVX2_TILE_K_NW 4 // weight rows of the one-activation-row kernel (generation)
void kv_tile_q4_k_q8_k_avx2(int64_t n, float *y, int64_t y_stride, const void *w,
    size_t w_row_size, int64_t nw, const void *x, size_t x_row_size, int64_t nx);
void kv_dot_q4_k_q8_k_avxvnni(int64_t n, float *out, const void *w, const void *x);
void kv_tile_q4_k_q8_k_avxvnni(int64_t n, float *y, int64_t y_stride, const void *w,
    size_t w_row_size, int64_t nw, const void *x, size_t x_row_size, int64_t nx);
void kv_tile_q6_k_q8_k_avx2(int64_t n, float *y, int64_t y_stride, const void *w,
    size_t w_row_size, int64_t nw, const void *x, size_t x_row_size, int64_t nx);
void kv_dot_q6_k_q8_k_avxvnni(int64_t n, float *out, const void *w, const void *x);
void kv_tile_q6_k_q8_k_avxvnni(int64_t n, float *y, int64_t y_stride, const void *w,
    size_t w_row_size, int64_t nw, const void *x, size_t x_row_size, int64_t nx);
// Q5_K and IQ4_XS too (tile_k.c, tile_k.h): the same tiles and bits contract.
void kv_tile_q5_k_q8_k_avx2(int64_t n, float *y, int64_t y_stride, const void *w,
    size_t w_row_size, int64_t nw, const void *x, size_t x_row_size, int64_t nx);
void kv_dot_q5_k_q8_k_avxvnni(int64_t n, float *out, const void *w, const void *x);
void kv_tile_q5_k_q8_k_avxvnni(int64_t n, float *y, int64_t y_stride, const void *w,
    size_t w_row_size, int64_t nw, const void *x, size_t x_row_size, int64_t nx);
void kv_tile_iq4_xs_q8_k_avx2(int64_t n, float *y, int64_t y_stride, const void *w,
    size_t w_row_size, int64_t nw, const void *x, size_t x_row_size, int64_t nx);
void kv_dot_iq4_xs_q8_k_avxvnni(int64_t n, float *out, const void *w, const void *x);
void kv_tile_iq4_xs_q8_k_avxvnni(int64_t n, float *y, int64_t y_stride, const void *w,
    size_t w_row_size, int64_t nw, const void *x, size_t x_row_size, int64_t nx);
// The packed paths of Q4_K and Q6_K (pack_k.c, pack_k.h): eight rows repacked per
// super-block, tiles of those eight rows by up to 4 activation rows, used for
// batches of at least 8 rows; bits equal to the dot product's.
#define KV_AVX2_PACK_K_NW 8
#define KV_AVX2_PACK_K_NX 4
#define KV_AVX2_PACK_K_MIN_ROWS 8
size_t kv_pack_size_q4_k_x8(int64_t n);
void kv_pack_q4_k_x8(int64_t n, const void *w, size_t w_row_size, int64_t nw, void *out);
void kv_packed_q4_k_q8_k_avx2(int64_t n, float *y, int64_t y_stride, const void *wp, int64_t nw,
                              const void *x, size_t x_row_size, int64_t nx);
void kv_packed_q4_k_q8_k_avxvnni(int64_t n, float *y, int64_t y_stride, const void *wp,
                                 int64_t nw, const void *x, size_t x_row_size, int64_t nx);
size_t kv_pack_size_q6_k_x8(int64_t n);
void kv_pack_q6_k_x8(int64_t n, const void *w, size_t w_row_size, int64_t nw, void *out);
void kv_packed_q6_k_q8_k_avx2(int64_t n, float *y, int64_t y_stride, const void *wp, int64_t nw,
                              const void *x, size_t x_row_size, int64_t nx);
void kv_packed_q6_k_q8_k_avxvnni(int64_t n, float *y, int64_t y_stride, const void *wp,
                                 int64_t nw, const void *x, size_t x_row_size, int64_t nx);
// Q5_K (Q4_K's layout plus the fifth bits) and IQ4_XS (level indexes as
// nibbles, scales and scale pairs per row) alike.
size_t kv_pack_size_q5_k_x8(int64_t n);
void kv_pack_q5_k_x8(int64_t n, const void *w, size_t w_row_size, int64_t nw, void *out);
void kv_packed_q5_k_q8_k_avx2(int64_t n, float *y, int64_t y_stride, const void *wp, int64_t nw,
                              const void *x, size_t x_row_size, int64_t nx);
void kv_packed_q5_k_q8_k_avxvnni(int64_t n, float *y, int64_t y_stride, const void *wp,
                                 int64_t nw, const void *x, size_t x_row_size, int64_t nx);
size_t kv_pack_size_iq4_xs_x8(int64_t n);
void kv_pack_iq4_xs_x8(int64_t n, const void *w, size_t w_row_size, int64_t nw, void *out);
void kv_packed_iq4_xs_q8_k_avx2(int64_t n, float *y, int64_t y_stride, const void *wp,
                                int64_t nw, const void *x, size_t x_row_size, int64_t nx);
void kv_packed_iq4_xs_q8_k_avxvnni(int64_t n, float *y, int64_t y_stride, const void *wp,
                                   int64_t nw, const void *x, size_t x_row_size, int64_t nx);
// The packed path of Q4_0 (pack_q.c, pack_q.h): sixteen rows repacked per
// block in tile_q.h's transposed order, tiles of those rows by up to 4
// activation rows for batches of at least 8 rows; bits equal to the dot product's.
#define KV_AVX2_PACK_Q_NW 16
#define KV_AVX2_PACK_Q_NX 4
#define KV_AVX2_PACK_Q_MIN_ROWS 8
size_t kv_pack_size_q4_0_x16(int64_t n);
void kv_pack_q4_0_x16(int64_t n, const void *w, size_t w_row_size, int64_t nw, void *out);
void kv_packed_q4_0_q8_0_avx2(int64_t n, float *y, int64_t y_stride, const void *wp, int64_t nw,
                              const void *x, size_t x_row_size, int64_t nx);
void kv_packed_q4_0_q8_0_avxvnni(int64_t n, float *y, int64_t y_stride, const void *wp,
                                 int64_t nw, const void *x, size_t x_row_size, int64_t nx);
void kv_dot_iq4_xs_q8_k_avx2(int64_t n, float *out, const void *w, const void *x);
void kv_dot_tq1_0_q8_k_avx2(int64_t n, float *out, const void *w, const void *x);
void kv_dot_tq2_0_q8_k_avx2(int64_t n, float *out, const void *w, const void *x);
// IQ3_XXS and IQ3_S (dot_iq3.c): bit-identical to their references.
void kv_dot_iq3_xxs_q8_k_avx2(int64_t n, float *out, const void *w, const void *x);
void kv_dot_iq3_s_q8_k_avx2(int64_t n, float *out, const void *w, const void *x);
// Their register tiles: one weight row's super-blocks decoded once for up to 8
// activation rows (the grid lookups are most of a dot's work); vec_dot's bits.
#define KV_AVX2_TILE_IQ3_NW 1
#define KV_AVX2_TILE_IQ3_NX 8
void kv_tile_iq3_xxs_q8_k_avx2(int64_t n, float *y, int64_t y_stride, const void *w,
                               size_t w_row_size, int64_t nw, const void *x, size_t x_row_size,
                               int64_t nx);
void kv_tile_iq3_s_q8_k_avx2(int64_t n, float *y, int64_t y_stride, const void *w,
                             size_t w_row_size, int64_t nw, const void *x, size_t x_row_size,
                             int64_t nx);
// The 8-wide lattice i-quants (dot_iq.c): equal to the reference to the bit.
void kv_dot_iq2_xxs_q8_k_avx2(int64_t n, float *out, const void *w, const void *x);
void kv_dot_iq2_xs_q8_k_avx2(int64_t n, float *out, const void *w, const void *x);
void kv_dot_iq2_s_q8_k_avx2(int64_t n, float *out, const void *w, const void *x);
void kv_dot_iq1_s_q8_k_avx2(int64_t n, float *out, const void *w, const void *x);
void kv_dot_iq1_m_q8_k_avx2(int64_t n, float *out, const void *w, const void *x);
// Their register tiles (dot_iq.c), as IQ3's: one weight row's super-blocks
// decoded once for up to 8 activation rows; vec_dot's bits.
#define KV_AVX2_TILE_IQ_NW 1
#define KV_AVX2_TILE_IQ_NX 8
void kv_tile_iq2_xxs_q8_k_avx2(int64_t n, float *y, int64_t y_stride, const void *w,
                               size_t w_row_size, int64_t nw, const void *x, size_t x_row_size,
                               int64_t nx);
void kv_tile_iq2_xs_q8_k_avx2(int64_t n, float *y, int64_t y_stride, const void *w,
                              size_t w_row_size, int64_t nw, const void *x, size_t x_row_size,
                              int64_t nx);
void kv_tile_iq2_s_q8_k_avx2(int64_t n, float *y, int64_t y_stride, const void *w,
                             size_t w_row_size, int64_t nw, const void *x, size_t x_row_size,
                             int64_t nx);
void kv_tile_iq1_s_q8_k_avx2(int64_t n, float *y, int64_t y_stride, const void *w,
                             size_t w_row_size, int64_t nw, const void *x, size_t x_row_size,
                             int64_t nx);
void kv_tile_iq1_m_q8_k_avx2(int64_t n, float *y, int64_t y_stride, const void *w,
                             size_t w_row_size, int64_t nw, const void *x, size_t x_row_size,
                             int64_t nx);

// Float types (dot_f16.c): float lanes with FMA, where the reference rounds each
// product and sums in double; n need not be a multiple of anything.
void kv_dot_f32_f32_avx2(int64_t n, float *out, const void *w, const void *x);
// F16 (tile_f16.c): one float accumulator per pair over 8-element chunks, the
// dot product being the 1 x 1 tile of up to KV_AVX2_TILE_F16_NW weight rows by
// KV_AVX2_TILE_F16_NX activation rows.
#define KV_AVX2_TILE_F16_NW 4
#define KV_AVX2_TILE_F16_NX 3
void kv_dot_f16_f16_avx2(int64_t n, float *out, const void *w, const void *x);
void kv_tile_f16_f16_avx2(int64_t n, float *y, int64_t y_stride, const void *w, size_t w_row_size,
                          int64_t nw, const void *x, size_t x_row_size, int64_t nx);
void kv_dot_bf16_bf16_avx2(int64_t n, float *out, const void *w, const void *x);
// The register tile of BF16 (tile_bf16.c): up to 3 weight rows by one
// activation row, the dot's bits (both builds).
#define KV_AVX2_TILE_BF16_NW 3
#define KV_AVX2_TILE_BF16_NX 1
void kv_tile_bf16_bf16_avx2(int64_t n, float *y, int64_t y_stride, const void *w,
                            size_t w_row_size, int64_t nw, const void *x, size_t x_row_size,
                            int64_t nx);
// The packed path of BF16 (pack_bf16.c): three rows widened to floats per
// 32-element chunk, the n % 32 tail kept as BF16; tiles of those rows by one
// activation row with the dot's bits, for batches of at least 8 rows (both
// builds: no integer products).
#define KV_AVX2_PACK_BF16_NW 3
#define KV_AVX2_PACK_BF16_NX 1
#define KV_AVX2_PACK_BF16_MIN_ROWS 8
size_t kv_pack_size_bf16_x3(int64_t n);
void kv_pack_bf16_x3(int64_t n, const void *w, size_t w_row_size, int64_t nw, void *out);
void kv_packed_bf16_bf16_avx2(int64_t n, float *y, int64_t y_stride, const void *wp, int64_t nw,
                              const void *x, size_t x_row_size, int64_t nx);

// ---- activation converters (quant_act.c, dot.c) ----
// Same contract and the same bytes as kv_from_float_<type>_ref (kernels.h): Q8
// blocks as quant/q8.c writes them (n a multiple of 32, or 256 for Q8_K), zeros
// for a row holding Inf or NaN; F16/BF16 rounded to nearest even, any n.
void kv_from_float_q8_0_avx2(const float *x, void *y, int64_t n);
void kv_from_float_q8_1_avx2(const float *x, void *y, int64_t n);
void kv_from_float_q8_k_avx2(const float *x, void *y, int64_t n);
void kv_from_float_f16_avx2(const float *x, void *y, int64_t n);
void kv_from_float_bf16_avx2(const float *x, void *y, int64_t n);
void kv_to_float_f16_avx2(const void *x, float *y, int64_t n);
void kv_to_float_bf16_avx2(const void *x, float *y, int64_t n);

// ---- row ops (norm.c, act.c, rope.c, dot.c) ----
// Same contracts as the _ref functions of kernels.h. add, rope and axpy_f16 give
// the reference's bits; rmsnorm, softmax and silu_mul stay within a few ulp of
// it, and the F16-key dot within the float-dot bound above
// (tests/unit/test_kernels_avx2_rows.c names each tolerance).
void kv_rmsnorm_avx2(int64_t n, float *y, const float *x, const float *w, float eps);
void kv_softmax_avx2(int64_t n, float *x);
void kv_silu_mul_avx2(int64_t n, float *y, const float *gate, const float *up);
void kv_add_avx2(int64_t n, float *y, const float *x);
void kv_rope_avx2(float *x, int64_t n_head, int64_t head_dim, int64_t n_rot, const float *cs);
void kv_axpy_f16_avx2(int64_t n, float *y, float a, const kv_f16 *v);
void kv_dot_f16_f32_avx2(int64_t n, float *out, const void *w, const void *x);

#endif
