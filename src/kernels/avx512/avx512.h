// The AVX-512 kernel table (F, BW, VL and VNNI): 512-bit packed paths for
// prompt batches, sixteen weight rows to a register (one per int32 lane),
// products formed with vpdpbusd on zmm. Every other slot is the AVX2 table's
// (its AVX-VNNI builds where the CPU has them): a table reuses another
// table's entries where it has nothing better. The files that define these
// are compiled only on x86-64 (with cmake/kv_kernels.cmake's AVX-512 flags),
// so call them only when kv__cpu_has_avx512() says so.
//
// The bits contract is the AVX2 table's, lane for lane: per block (Q4_0, Q8_0)
// or super-block (Q4_K) the exact int32 sums, then the same float scale
// products and one FMA per block into the pair's accumulator, blocks in order.
// A 512-bit lane does what a 256-bit lane of avx2/pack_q.h and avx2/pack_k.h
// does, so each pair of a packed tile here has exactly the bits of the AVX2
// table's vec_dot (tests/unit/test_kernels_tiles.c checks both), and the
// chosen table never changes a model's numbers.
#ifndef KV_KERNELS_AVX512_H
#define KV_KERNELS_AVX512_H

#include <stdbool.h>
#include <stdint.h>

#include "kernels/kernels.h"

// True when this CPU (and OS) runs AVX-512 F, BW, VL and VNNI code, besides
// kv__cpu_has_avx2(). Defined on every platform (false off x86-64), compiled
// without ISA flags (kernels/cpu.c). Thread-safe.
bool kv__cpu_has_avx512(void);

// Sets every slot of k that has an AVX-512 version, on top of the AVX2 table
// (k starts as a copy of the reference table), and names it "avx512". Only
// where kv__cpu_has_avx512().
void kv__kernels_fill_avx512(kv_kernels *k);

// Attention's weighted sum over values cached as F32, Q8_0 or Q4_0 (attn.c; the
// contract of kv_kernels' axpy_rows: the bits of kv_axpy_rows_*_ref).
void kv_axpy_rows_f32_avx512(int64_t n, int64_t rows, size_t stride, const void *v,
                             const float *a, float *y);
void kv_axpy_rows_q8_0_avx512(int64_t n, int64_t rows, size_t stride, const void *v,
                              const float *a, float *y);
void kv_axpy_rows_q4_0_avx512(int64_t n, int64_t rows, size_t stride, const void *v,
                              const float *a, float *y);

// ---- packed paths (pack_q.c, pack_k.c): the kv_pack_fn / kv_packed_tile_fn
// contracts of kernels.h ----

// Q4_0 and Q8_0: sixteen rows per block, dword-transposed (a zmm holds bytes
// 4m..4m+3 of the sixteen rows), scales as floats; Q8_0's bytes stored as
// w + 128 for vpdpbusd. Tiles of those rows by up to 8 activation rows.
#define KV_AVX512_PACK_Q_NW 16
#define KV_AVX512_PACK_Q_NX 8
#define KV_AVX512_PACK_Q_MIN_ROWS 8
size_t kv_pack_size_q4_0_x16_avx512(int64_t n);
void kv_pack_q4_0_x16_avx512(int64_t n, const void *w, size_t w_row_size, int64_t nw, void *out);
void kv_packed_q4_0_q8_0_avx512(int64_t n, float *y, int64_t y_stride, const void *wp,
                                int64_t nw, const void *x, size_t x_row_size, int64_t nx);
size_t kv_pack_size_q8_0_x16_avx512(int64_t n);
void kv_pack_q8_0_x16_avx512(int64_t n, const void *w, size_t w_row_size, int64_t nw, void *out);
void kv_packed_q8_0_q8_0_avx512(int64_t n, float *y, int64_t y_stride, const void *wp,
                                int64_t nw, const void *x, size_t x_row_size, int64_t nx);

// Q4_K and Q6_K: sixteen rows per super-block, scales (and mins) per row lane,
// quants dword-transposed (Q6_K's as bytes q + 32). Tiles of those rows by up
// to 4 activation rows.
#define KV_AVX512_PACK_K_NW 16
#define KV_AVX512_PACK_K_NX 4
#define KV_AVX512_PACK_K_MIN_ROWS 8
size_t kv_pack_size_q4_k_x16_avx512(int64_t n);
void kv_pack_q4_k_x16_avx512(int64_t n, const void *w, size_t w_row_size, int64_t nw, void *out);
void kv_packed_q4_k_q8_k_avx512(int64_t n, float *y, int64_t y_stride, const void *wp,
                                int64_t nw, const void *x, size_t x_row_size, int64_t nx);
size_t kv_pack_size_q6_k_x16_avx512(int64_t n);
void kv_pack_q6_k_x16_avx512(int64_t n, const void *w, size_t w_row_size, int64_t nw, void *out);
void kv_packed_q6_k_q8_k_avx512(int64_t n, float *y, int64_t y_stride, const void *wp,
                                int64_t nw, const void *x, size_t x_row_size, int64_t nx);
// Q5_K (Q4_K's column plus the qh bytes dword-transposed) and IQ4_XS (nibbles
// dword-transposed per sub-block, looked up as level + 128) alike.
size_t kv_pack_size_q5_k_x16_avx512(int64_t n);
void kv_pack_q5_k_x16_avx512(int64_t n, const void *w, size_t w_row_size, int64_t nw, void *out);
void kv_packed_q5_k_q8_k_avx512(int64_t n, float *y, int64_t y_stride, const void *wp,
                                int64_t nw, const void *x, size_t x_row_size, int64_t nx);
size_t kv_pack_size_iq4_xs_x16_avx512(int64_t n);
void kv_pack_iq4_xs_x16_avx512(int64_t n, const void *w, size_t w_row_size, int64_t nw,
                               void *out);
void kv_packed_iq4_xs_q8_k_avx512(int64_t n, float *y, int64_t y_stride, const void *wp,
                                  int64_t nw, const void *x, size_t x_row_size, int64_t nx);

// F16 (against F16 activations): eight rows converted to floats, two per zmm
// (a row per 256-bit half), the n % 8 tail kept as F16; tiles of those rows by
// up to 4 activation rows with the bits of the AVX2 F16 dot (pack_f16.c).
#define KV_AVX512_PACK_F16_NW 8
#define KV_AVX512_PACK_F16_NX 4
#define KV_AVX512_PACK_F16_MIN_ROWS 8
size_t kv_pack_size_f16_x8_avx512(int64_t n);
void kv_pack_f16_x8_avx512(int64_t n, const void *w, size_t w_row_size, int64_t nw, void *out);
void kv_packed_f16_f16_avx512(int64_t n, float *y, int64_t y_stride, const void *wp, int64_t nw,
                              const void *x, size_t x_row_size, int64_t nx);

// BF16 (against BF16 activations): four rows widened to floats per 32-element
// chunk (even elements, then odd ones), the n % 32 tail kept as BF16; tiles of
// those rows by up to 3 activation rows with the bits of the AVX2 BF16 dot
// (pack_bf16.c).
#define KV_AVX512_PACK_BF16_NW 4
#define KV_AVX512_PACK_BF16_NX 3
#define KV_AVX512_PACK_BF16_MIN_ROWS 8
size_t kv_pack_size_bf16_x4_avx512(int64_t n);
void kv_pack_bf16_x4_avx512(int64_t n, const void *w, size_t w_row_size, int64_t nw, void *out);
void kv_packed_bf16_bf16_avx512(int64_t n, float *y, int64_t y_stride, const void *wp,
                                int64_t nw, const void *x, size_t x_row_size, int64_t nx);

#endif
