// Register tiles of the Q4_0 x Q8_0 and Q8_0 x Q8_0 products, shared by the
// AVX2 file (avx2/tile_q.c) and the AVX-VNNI file (avxvnni/tile_q.c), which
// include it with their own ISA flags. A tile multiplies NW weight rows with NX
// activation rows; each weight block is unpacked once for the NX activation
// rows and each activation block once for the NW weight rows.
//
// Every (weight row, activation row) pair follows the same steps whatever the
// tile's shape, so a tile gives the bits of NW * NX single dot products (1 x 1
// is the dot product itself): per block, the exact int32 sums of four byte
// products in eight lanes, then acc += (d_w * d_x) * (float)sum with one FMA
// into one accumulator of eight lanes, blocks in order; finally a fixed
// horizontal sum. maddubs + madd and VNNI's dpbusd give the same int32 lanes,
// so the two files agree to the bit too. Prompt processing (many rows) and
// generation (one row) thus give the same numbers for a sequence.
//
// The including file defines TILE_SUFFIX (a token pasted onto the function
// names) and, for VNNI, TILE_VNNI.
#ifndef KV_KERNELS_AVX2_TILE_Q_H
#define KV_KERNELS_AVX2_TILE_Q_H

#include "kernels/avx2/avx2_util.h"
#include "quant/blocks.h"

#define TILE_NW KV_AVX2_TILE_NW
#define TILE_NX KV_AVX2_TILE_NX

#define TILE_INLINE static inline __attribute__((always_inline))
// Loops over a tile's rows unroll fully, so the accumulators live in registers.
#define TILE_UNROLL _Pragma("GCC unroll 4")

typedef struct {
    const uint8_t *w;
    size_t w_row_size;
    const uint8_t *x;
    size_t x_row_size;
    float *y;         // y[j * y_stride + i]: weight row i, activation row j
    int64_t y_stride;
    int64_t nb;       // blocks per row
} tile_args;

// int32 lanes of sum(u * s) over groups of four bytes: u unsigned, s signed,
// u * s pairs within int16 (the callers' value ranges guarantee it); acc added.
TILE_INLINE __m256i sum_u8_i8(__m256i acc, __m256i u, __m256i s) {
#if defined(TILE_VNNI)
    return _mm256_dpbusd_avx_epi32(acc, u, s);
#else
    const __m256i p = _mm256_maddubs_epi16(u, s);
    return _mm256_add_epi32(acc, _mm256_madd_epi16(p, _mm256_set1_epi16(1)));
#endif
}

TILE_INLINE __m256 scale_acc(__m256 acc, float dw, float dx, __m256i sum) {
    return _mm256_fmadd_ps(_mm256_set1_ps(dw * dx), _mm256_cvtepi32_ps(sum), acc);
}

TILE_INLINE void store_tile(const tile_args *a, __m256 acc[TILE_NW][TILE_NX], const int nw,
                            const int nx) {
    TILE_UNROLL
    for (int i = 0; i < nw; i++)
        TILE_UNROLL
        for (int j = 0; j < nx; j++)
            a->y[j * a->y_stride + i] = hsum_f32(acc[i][j]);
}

// ---- Q4_0: w = d * (nibble - 8): sum((q - 8) x) = sum(q x) - sum(8 x) ----

TILE_INLINE void tile_q4_0(const tile_args *a, const int nw, const int nx) {
    __m256 acc[TILE_NW][TILE_NX];
    TILE_UNROLL
    for (int i = 0; i < nw; i++)
        TILE_UNROLL
        for (int j = 0; j < nx; j++)
            acc[i][j] = _mm256_setzero_ps();
    const __m256i eight = _mm256_set1_epi8(8);
    for (int64_t b = 0; b < a->nb; b++) {
        __m256i xq[TILE_NX], neg_off[TILE_NX];
        float dx[TILE_NX];
        TILE_UNROLL
        for (int j = 0; j < nx; j++) {
            const kv_block_q8_0 *xb = (const kv_block_q8_0 *)(a->x + j * a->x_row_size) + b;
            xq[j] = load_256(xb->qs);
            neg_off[j] = _mm256_sub_epi32(_mm256_setzero_si256(),
                                          sum_u8_i8(_mm256_setzero_si256(), eight, xq[j]));
            dx[j] = f16_at(&xb->d);
        }
        TILE_UNROLL
        for (int i = 0; i < nw; i++) {
            const kv_block_q4_0 *wb = (const kv_block_q4_0 *)(a->w + i * a->w_row_size) + b;
            const __m256i q = nibbles_32(wb->qs);
            const float dw = f16_at(&wb->d);
            TILE_UNROLL
            for (int j = 0; j < nx; j++)
                acc[i][j] = scale_acc(acc[i][j], dw, dx[j], sum_u8_i8(neg_off[j], q, xq[j]));
        }
    }
    store_tile(a, acc, nw, nx);
}

// ---- Q8_0: signed x signed through the sign trick (|w| and x * sign(w)) ----

TILE_INLINE void tile_q8_0(const tile_args *a, const int nw, const int nx) {
    __m256 acc[TILE_NW][TILE_NX];
    TILE_UNROLL
    for (int i = 0; i < nw; i++)
        TILE_UNROLL
        for (int j = 0; j < nx; j++)
            acc[i][j] = _mm256_setzero_ps();
    for (int64_t b = 0; b < a->nb; b++) {
        __m256i xq[TILE_NX];
        float dx[TILE_NX];
        TILE_UNROLL
        for (int j = 0; j < nx; j++) {
            const kv_block_q8_0 *xb = (const kv_block_q8_0 *)(a->x + j * a->x_row_size) + b;
            xq[j] = load_256(xb->qs);
            dx[j] = f16_at(&xb->d);
        }
        TILE_UNROLL
        for (int i = 0; i < nw; i++) {
            const kv_block_q8_0 *wb = (const kv_block_q8_0 *)(a->w + i * a->w_row_size) + b;
            const __m256i q = load_256(wb->qs);
            const __m256i abs_q = _mm256_sign_epi8(q, q);
            const float dw = f16_at(&wb->d);
            TILE_UNROLL
            for (int j = 0; j < nx; j++) {
                const __m256i s = sum_u8_i8(_mm256_setzero_si256(), abs_q,
                                            _mm256_sign_epi8(xq[j], q));
                acc[i][j] = scale_acc(acc[i][j], dw, dx[j], s);
            }
        }
    }
    store_tile(a, acc, nw, nx);
}

#define TILE_CAT2(a, b) a##b
#define TILE_CAT(a, b) TILE_CAT2(a, b)

// Defines the dot product and the tile entry point of one type from its tile.
#define TILE_DEFINE(name, tile, w_block, x_block, qk)                                           \
    void TILE_CAT(kv_dot_##name, TILE_SUFFIX)(int64_t n, float *out, const void *w,           \
                                              const void *x) {                                \
        tile_args a = {w, sizeof(w_block), x, sizeof(x_block), out, 1, n / (qk)};            \
        tile(&a, 1, 1);                                                                       \
    }                                                                                         \
    void TILE_CAT(kv_tile_##name, TILE_SUFFIX)(int64_t n, float *y, int64_t y_stride,         \
                                               const void *w, size_t w_row_size, int64_t nw,  \
                                               const void *x, size_t x_row_size, int64_t nx) { \
        tile_args a = {w, w_row_size, x, x_row_size, y, y_stride, n / (qk)};                  \
        if (nw == TILE_NW && nx == TILE_NX) {                                                 \
            tile(&a, TILE_NW, TILE_NX);                                                       \
            return;                                                                           \
        }                                                                                     \
        for (int64_t i = 0; i < nw; i++)                                                      \
            for (int64_t j = 0; j < nx; j++) {                                                \
                tile_args one = {a.w + i * w_row_size, w_row_size, a.x + j * x_row_size,      \
                                 x_row_size, y + j * y_stride + i, 1, a.nb};                  \
                tile(&one, 1, 1);                                                             \
            }                                                                                 \
    }

#endif
