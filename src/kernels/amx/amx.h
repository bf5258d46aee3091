// The AMX kernel table (Intel AMX-TILE and AMX-INT8, on top of AVX-512):
// prompt batches of Q4_0 and Q8_0 weights multiplied with TDPBSSD tiles (and
// Q4_K, Q6_K as pack_k.c says: scale * quant in two B tiles per super-block).
// Sixteen weight rows are repacked per 32-element block as a B tile (eight
// rows of sixteen dwords: the block's signed weight bytes, four per row
// lane), the activation rows' quant bytes are loaded straight from their Q8_0
// blocks as an A tile (up to sixteen rows of 32 bytes, one row stride apart),
// and one TDPBSSD gives the exact int32 block sums of up to 16 x 16 pairs.
// The float part is the AVX2 table's, lane for lane: acc = fma(d_w * d_x,
// (float)sum, acc), blocks in order, so each pair has the bits of the AVX2
// table's vec_dot (tests/unit/test_kernels_tiles.c). Every other slot is the
// AVX-512 table's. The files that define these are compiled only on x86-64
// (with -mamx-tile -mamx-int8 besides the AVX-512 flags), so call them only
// when kv__cpu_has_amx() says so.
#ifndef KV_KERNELS_AMX_H
#define KV_KERNELS_AMX_H

#include <stdbool.h>
#include <stdint.h>

#include "kernels/kernels.h"

// True when kv__cpu_has_avx512(), the CPU has AMX-TILE and AMX-INT8, and the
// OS lets this process use the tile registers (on Linux the first call asks
// for them with arch_prctl(ARCH_REQ_XCOMP_PERM, XFEATURE_XTILEDATA)). False
// elsewhere, never a fault. Compiled without ISA flags (kernels/cpu.c);
// thread-safe, the answer is computed once.
bool kv__cpu_has_amx(void);

// Sets every slot of k that has an AMX version on top of the AVX-512 table (k
// starts as a copy of the reference table) and names it "amx". Only where
// kv__cpu_has_amx().
void kv__kernels_fill_amx(kv_kernels *k);

// The packed paths (pack_q.c): kv_pack_fn / kv_packed_tile_fn of kernels.h.
#define KV_AMX_PACK_Q_NW 16
#define KV_AMX_PACK_Q_NX 16
#define KV_AMX_PACK_Q_MIN_ROWS 8
size_t kv_pack_size_q_x16_amx(int64_t n);
void kv_pack_q4_0_x16_amx(int64_t n, const void *w, size_t w_row_size, int64_t nw, void *out);
void kv_pack_q8_0_x16_amx(int64_t n, const void *w, size_t w_row_size, int64_t nw, void *out);
void kv_packed_q_q8_0_amx(int64_t n, float *y, int64_t y_stride, const void *wp, int64_t nw,
                          const void *x, size_t x_row_size, int64_t nx);
// Q4_K and Q6_K (pack_k.c): scale * quant split into two B tiles, a super-block per C tile
#define KV_AMX_PACK_K_NW 16
#define KV_AMX_PACK_K_NX 32
#define KV_AMX_PACK_K_MIN_ROWS 8
size_t kv_pack_size_q4_k_amx(int64_t n);
void kv_pack_q4_k_amx(int64_t n, const void *w, size_t w_row_size, int64_t nw, void *out);
void kv_packed_q4_k_q8_k_amx(int64_t n, float *y, int64_t y_stride, const void *wp, int64_t nw,
                             const void *x, size_t x_row_size, int64_t nx);
size_t kv_pack_size_q6_k_amx(int64_t n);
void kv_pack_q6_k_amx(int64_t n, const void *w, size_t w_row_size, int64_t nw, void *out);
void kv_packed_q6_k_q8_k_amx(int64_t n, float *y, int64_t y_stride, const void *wp, int64_t nw,
                             const void *x, size_t x_row_size, int64_t nx);

#endif
