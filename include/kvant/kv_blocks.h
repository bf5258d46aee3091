// Block layouts of every quantized type, byte-identical to ggml's. This is the
// only place they are defined. QK_K = 256 elements per K-quant super-block.
#ifndef KV_BLOCKS_H
#define KV_BLOCKS_H

#include <stdint.h>

#include "kvant/kv_f16.h"

#define KV_QK4_0 32
#define KV_QK4_1 32
#define KV_QK5_0 32
#define KV_QK5_1 32
#define KV_QK8_0 32
#define KV_QK8_1 32
#define KV_QK4_NL 32
#define KV_QK_K 256
#define KV_K_SCALE_SIZE 12

typedef struct {
    kv_f16 d;                  // scale
    uint8_t qs[KV_QK4_0 / 2];  // 4-bit quants, nibbles: low = first half, high = second half
} kv_block_q4_0;               // 4.5 bits per weight
_Static_assert(sizeof(kv_block_q4_0) == 18, "q4_0 block layout");

typedef struct {
    kv_f16 d, m;               // scale and minimum
    uint8_t qs[KV_QK4_1 / 2];
} kv_block_q4_1;               // 5 bits per weight
_Static_assert(sizeof(kv_block_q4_1) == 20, "q4_1 block layout");

typedef struct {
    kv_f16 d;
    uint8_t qh[4];             // 5th bit of each quant
    uint8_t qs[KV_QK5_0 / 2];
} kv_block_q5_0;               // 5.5 bits per weight
_Static_assert(sizeof(kv_block_q5_0) == 22, "q5_0 block layout");

typedef struct {
    kv_f16 d, m;
    uint8_t qh[4];
    uint8_t qs[KV_QK5_1 / 2];
} kv_block_q5_1;               // 6 bits per weight
_Static_assert(sizeof(kv_block_q5_1) == 24, "q5_1 block layout");

typedef struct {
    kv_f16 d;
    int8_t qs[KV_QK8_0];
} kv_block_q8_0;               // 8.5 bits per weight
_Static_assert(sizeof(kv_block_q8_0) == 34, "q8_0 block layout");

typedef struct {
    kv_f16 d;                  // scale
    kv_f16 s;                  // d * sum(qs)
    int8_t qs[KV_QK8_1];
} kv_block_q8_1;               // activation format for q4_1/q5_1 dots
_Static_assert(sizeof(kv_block_q8_1) == 36, "q8_1 block layout");

typedef struct {
    uint8_t scales[KV_QK_K / 16]; // 4-bit scale (low) and min (high) per 16 weights
    uint8_t qs[KV_QK_K / 4];      // 2-bit quants
    kv_f16 d, dmin;               // super-block scales
} kv_block_q2_k;                  // 2.625 bits per weight
_Static_assert(sizeof(kv_block_q2_k) == 84, "q2_k block layout");

typedef struct {
    uint8_t hmask[KV_QK_K / 8];   // high bit of each quant
    uint8_t qs[KV_QK_K / 4];      // low 2 bits
    uint8_t scales[12];           // 6-bit scales, packed
    kv_f16 d;
} kv_block_q3_k;                  // 3.4375 bits per weight
_Static_assert(sizeof(kv_block_q3_k) == 110, "q3_k block layout");

typedef struct {
    kv_f16 d, dmin;                    // super-block scales
    uint8_t scales[KV_K_SCALE_SIZE];   // 6-bit sub-block scales and mins, packed
    uint8_t qs[KV_QK_K / 2];           // 4-bit quants
} kv_block_q4_k;                       // 4.5 bits per weight
_Static_assert(sizeof(kv_block_q4_k) == 144, "q4_k block layout");

typedef struct {
    kv_f16 d, dmin;
    uint8_t scales[KV_K_SCALE_SIZE];
    uint8_t qh[KV_QK_K / 8];           // 5th bits
    uint8_t qs[KV_QK_K / 2];           // low 4 bits
} kv_block_q5_k;                       // 5.5 bits per weight
_Static_assert(sizeof(kv_block_q5_k) == 176, "q5_k block layout");

typedef struct {
    uint8_t ql[KV_QK_K / 2];      // low 4 bits
    uint8_t qh[KV_QK_K / 4];      // high 2 bits
    int8_t scales[KV_QK_K / 16];  // 8-bit scales
    kv_f16 d;
} kv_block_q6_k;                  // 6.5625 bits per weight
_Static_assert(sizeof(kv_block_q6_k) == 210, "q6_k block layout");

typedef struct {
    float d;                       // scale
    int8_t qs[KV_QK_K];
    int16_t bsums[KV_QK_K / 16];   // sums of qs in groups of 16
} kv_block_q8_k;                   // activation format for K-quant dots
_Static_assert(sizeof(kv_block_q8_k) == 292, "q8_k block layout");

// The 16 non-linear levels IQ4_NL and IQ4_XS index (ggml's kvalues_iq4nl).
static const int8_t KV_IQ4_LEVELS[16] = {-127, -104, -83, -65, -49, -35, -22, -10,
                                         1,    13,   25,  38,  53,  69,  89,  113};

typedef struct {
    kv_f16 d;
    uint8_t qs[KV_QK4_NL / 2];     // 4-bit indexes into the non-linear table
} kv_block_iq4_nl;                 // 4.5 bits per weight
_Static_assert(sizeof(kv_block_iq4_nl) == 18, "iq4_nl block layout");

typedef struct {
    kv_f16 d;
    uint16_t scales_h;             // high 2 bits of the 6-bit sub-block scales
    uint8_t scales_l[KV_QK_K / 64]; // low 4 bits of the sub-block scales
    uint8_t qs[KV_QK_K / 2];
} kv_block_iq4_xs;                 // 4.25 bits per weight
_Static_assert(sizeof(kv_block_iq4_xs) == 136, "iq4_xs block layout");

// ---- IQ3_XXS and IQ3_S: 4 weights per index into a codebook of 4-wide points ----
// Every 4 weights are one point of a grid (quant/grid4.c) whose coordinates are
// levels 0..7, and 8 signs per 8 weights. kv__iq3_grid(t) gives the points as 4
// bytes each (byte j = coordinate j's value): IQ3_XXS's values for level l are
// 8l + 4 (l < 7) and 62 (l = 7), IQ3_S's are 2l + 1.

typedef struct {
    kv_f16 d;
    uint8_t qs[3 * KV_QK_K / 8]; // 64 grid indexes, then per 32 weights one
                                 // little-endian uint32: four 7-bit sign fields
                                 // (the 8th sign makes the count of minus signs
                                 // even) and a 4-bit scale ls in bits 28..31
} kv_block_iq3_xxs;              // w = d * (ls + 1/2) / 2 * value * sign; 3.0625 bits per weight
_Static_assert(sizeof(kv_block_iq3_xxs) == 98, "iq3_xxs block layout");

typedef struct {
    kv_f16 d;
    uint8_t qs[KV_QK_K / 4];     // low 8 bits of the 9-bit grid indexes
    uint8_t qh[KV_QK_K / 32];    // 9th bits: bit k of qh[b] for index 8b + k
    uint8_t signs[KV_QK_K / 8];  // bit j of signs[m] is the sign of weight 8m + j
    uint8_t scales[KV_QK_K / 64]; // 4-bit ls per 32 weights, low nibble first
} kv_block_iq3_s;                // w = d * (2 ls + 1) * value * sign; 3.4375 bits per weight
_Static_assert(sizeof(kv_block_iq3_s) == 110, "iq3_s block layout");

// The grid points of IQ3_XXS (256) or IQ3_S (512) as described above; NULL for
// any other type. Built once on first use, thread-safe (quant/grid4.c).
const uint32_t *kv__iq3_grid(int type);

// The 8 signs of IQ3_XXS's 7-bit field s: s plus an 8th bit that makes the count
// of set bits even.
static inline uint8_t kv__iq3_xxs_signs(uint32_t s) {
    return (uint8_t)(s | ((uint32_t)__builtin_parity(s & 127) << 7));
}

typedef struct {
    uint8_t qs[(KV_QK_K - 4 * KV_QK_K / 64) / 5]; // 5 trits per byte
    uint8_t qh[KV_QK_K / 64];                     // 4 trits per byte
    kv_f16 d;
} kv_block_tq1_0;                                 // 1.6875 bits per weight
_Static_assert(sizeof(kv_block_tq1_0) == 54, "tq1_0 block layout");

typedef struct {
    uint8_t qs[KV_QK_K / 4];       // 2 bits per element
    kv_f16 d;
} kv_block_tq2_0;                  // 2.0625 bits per weight
_Static_assert(sizeof(kv_block_tq2_0) == 66, "tq2_0 block layout");

// ---- the 8-wide lattice i-quants: IQ2_XXS, IQ2_XS, IQ2_S, IQ1_S, IQ1_M ----
// Groups of 8 values index a codebook point (quant/iq_grid.c); IQ2 types store
// 7 sign bits per 8 values (the 8th makes the count even), IQ1 types a shift.

typedef struct {
    kv_f16 d;
    uint16_t qs[KV_QK_K / 8];      // per 32: 4 grid bytes, then 4x7 sign bits + 4-bit scale
} kv_block_iq2_xxs;                // 2.0625 bits per weight
_Static_assert(sizeof(kv_block_iq2_xxs) == 66, "iq2_xxs block layout");

typedef struct {
    kv_f16 d;
    uint16_t qs[KV_QK_K / 8];      // 9-bit grid index | 7 sign bits << 9
    uint8_t scales[KV_QK_K / 32];  // two 4-bit scales per 32
} kv_block_iq2_xs;                 // 2.3125 bits per weight
_Static_assert(sizeof(kv_block_iq2_xs) == 74, "iq2_xs block layout");

typedef struct {
    kv_f16 d;
    uint8_t qs[KV_QK_K / 4];       // low 8 bits of the grid indexes, then 8 sign bits per 8
    uint8_t qh[KV_QK_K / 32];      // high 2 bits of the 4 grid indexes of each 32
    uint8_t scales[KV_QK_K / 32];  // two 4-bit scales per 32
} kv_block_iq2_s;                  // 2.5625 bits per weight
_Static_assert(sizeof(kv_block_iq2_s) == 82, "iq2_s block layout");

typedef struct {
    kv_f16 d;
    uint8_t qs[KV_QK_K / 8];       // low 8 bits of the grid indexes
    uint16_t qh[KV_QK_K / 32];     // per 32: 4x3 high index bits, 3-bit scale, shift sign
} kv_block_iq1_s;                  // 1.5625 bits per weight
_Static_assert(sizeof(kv_block_iq1_s) == 50, "iq1_s block layout");

typedef struct {
    uint8_t qs[KV_QK_K / 8];       // low 8 bits of the grid indexes
    uint8_t qh[KV_QK_K / 16];      // per 8: 3 high index bits + shift sign
    uint8_t scales[KV_QK_K / 32];  // 3-bit scales; the F16 super scale in the top nibbles
} kv_block_iq1_m;                  // 1.75 bits per weight
_Static_assert(sizeof(kv_block_iq1_m) == 56, "iq1_m block layout");

// IQ1_S/IQ1_M add +-1/8 (the shift) to every grid coordinate of a group.
#define KV_IQ1_DELTA 0.125f

typedef enum { KV_IQ_GRID_IQ2_XXS, KV_IQ_GRID_IQ2_XS, KV_IQ_GRID_IQ2_S, KV_IQ_GRID_IQ1_S,
               KV_IQ_GRID_COUNT } kv_iq_grid_id;

// The stored codebook of grid g (256, 512, 1024 or 2048 points; IQ1_M uses
// IQ1_S's): byte i of a point is coordinate i, 8/25/43 for IQ2 grids, -1/0/+1
// (as int8) for IQ1. Decoded on first use into static storage (thread-safe,
// no allocation); NULL only for an unknown g. Internal to kvant (kv__), here so
// the kernels need no quant/ header.
const uint64_t *kv__iq_grid_u64(kv_iq_grid_id g);

// ---- the reference activation quantizers (quant/q8.c) ----
// The kernels' SIMD activation quantizers fall back to these for the blocks they
// cannot do in vectors. n_rows rows of n_per_row floats (a multiple of the block
// size) -> blocks; imatrix is ignored (may be NULL). Callers check the sizes.
// Internal to kvant (kv__): declared here so the kernels need no quant/ header.
void kv__quantize_q8_0(const float *src, void *dst, int64_t n_rows, int64_t n_per_row,
                       const float *imatrix);
void kv__quantize_q8_1(const float *src, void *dst, int64_t n_rows, int64_t n_per_row,
                       const float *imatrix);
void kv__quantize_q8_k(const float *src, void *dst, int64_t n_rows, int64_t n_per_row,
                       const float *imatrix);

#endif
