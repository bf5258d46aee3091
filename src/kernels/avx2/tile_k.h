// Register tiles of the Q4_K and Q6_K dot products against Q8_K: one weight
// row by NX activation rows. A super-block's weights are unpacked and its
// scales picked once per 32 or 64 elements, then multiplied with each
// activation row's bytes, so the unpacking is shared by the NX rows. Shared by
// avx2/tile_k.c and avxvnni/tile_k.c (with -mavxvnni; see tile_q.h for the
// TILE_SUFFIX / TILE_VNNI convention).
//
// Each (weight row, activation row) pair goes through the same steps whatever
// NX is (1 is the dot product itself): per super-block the exact integer sum
// of its scale-weighted products (int32 lanes weighted by the int16 scales with
// madd, VNNI: dpwssd, then summed), then acc += (d * d_x) * (float)sum with
// FMA, the min part in its own accumulator, super-blocks in order. So a tile
// gives the bits of NX single dot products, and so do the packed tiles of
// pack_k.h, which form the same integers in another layout.
#ifndef KV_KERNELS_AVX2_TILE_K_H
#define KV_KERNELS_AVX2_TILE_K_H

#include <math.h>

#include "kernels/avx2/avx2_util.h"
#include "quant/blocks.h"

#define TILE_K_NX KV_AVX2_TILE_K_NX
#define TILE_K_INLINE static inline __attribute__((always_inline))
#define TILE_K_UNROLL _Pragma("GCC unroll 8")

typedef struct {
    const uint8_t *w;       // one weight row
    const uint8_t *x;       // NX activation rows, x_row_size bytes apart
    size_t x_row_size;
    float *y;               // y[j * y_stride]: activation row j
    int64_t y_stride;
    int64_t nb;             // super-blocks per row
} tile_k_args;

// acc + (int32 lanes of p, int16 pairs weighted by the int16 scales sc)
TILE_K_INLINE __m256i add_weighted(__m256i acc, __m256i p, __m256i sc) {
#if defined(TILE_VNNI)
    return _mm256_dpwssd_avx_epi32(acc, p, sc);
#else
    return _mm256_add_epi32(acc, _mm256_madd_epi16(p, sc));
#endif
}

TILE_K_INLINE const kv_block_q8_k *x_block(const tile_k_args *a, int j, int64_t i) {
    return (const kv_block_q8_k *)(a->x + j * a->x_row_size) + i;
}

// ---- Q4_K: w = d * scale * q - dmin * min, per 32 weights ----

// Weights are at most 15: maddubs pairs stay below 2 * 15 * 127.
// Per super-block the exact integers isum (scale-weighted quant sums) and imin
// (min-weighted bsums) of each pair, then acc += (d * d_x) * isum and
// acc_min += (dmin * d_x) * imin with FMA: the packed tiles (pack_k.h) compute
// the same numbers in another layout and so give the same bits.
TILE_K_INLINE void tile_q4_k(const tile_k_args *a, const int nx) {
    float acc[TILE_K_NX], acc_min[TILE_K_NX];
    TILE_K_UNROLL
    for (int j = 0; j < nx; j++)
        acc[j] = acc_min[j] = 0.0f;
    const __m256i lo4 = _mm256_set1_epi8(0x0F);
    const kv_block_q4_k *wb = (const kv_block_q4_k *)a->w;
    for (int64_t i = 0; i < a->nb; i++) {
        const __m128i sm = k4_scales_mins(wb[i].scales);
        const __m256i mn = _mm256_cvtepu8_epi16(_mm_unpackhi_epi8(sm, sm)); // a min per bsum
        const __m256i sc = _mm256_broadcastsi128_si256(_mm_cvtepu8_epi16(sm));
        __m256i sum[TILE_K_NX];
        TILE_K_UNROLL
        for (int j = 0; j < nx; j++)
            sum[j] = _mm256_setzero_si256();
        TILE_K_UNROLL
        for (int p = 0; p < 4; p++) {
            const __m256i q = load_256(wb[i].qs + 32 * p);
            const __m256i lo = _mm256_and_si256(q, lo4);
            const __m256i hi = _mm256_and_si256(_mm256_srli_epi16(q, 4), lo4);
            const __m256i sc_lo = pick_i16(sc, 2 * p), sc_hi = pick_i16(sc, 2 * p + 1);
            TILE_K_UNROLL
            for (int j = 0; j < nx; j++) {
                const int8_t *x8 = x_block(a, j, i)->qs + 64 * p;
                sum[j] = add_weighted(sum[j], _mm256_maddubs_epi16(lo, load_256(x8)), sc_lo);
                sum[j] = add_weighted(sum[j], _mm256_maddubs_epi16(hi, load_256(x8 + 32)), sc_hi);
            }
        }
        const float d = f16_to_f32(wb[i].d), dmin = f16_to_f32(wb[i].dmin);
        TILE_K_UNROLL
        for (int j = 0; j < nx; j++) {
            const kv_block_q8_k *xb = x_block(a, j, i);
            const int32_t imin = hsum_i32(_mm256_madd_epi16(load_256(xb->bsums), mn));
            acc[j] = fmaf(d * xb->d, (float)hsum_i32(sum[j]), acc[j]);
            acc_min[j] = fmaf(dmin * xb->d, (float)imin, acc_min[j]);
        }
    }
    TILE_K_UNROLL
    for (int j = 0; j < nx; j++)
        a->y[j * a->y_stride] = acc[j] - acc_min[j];
}

// ---- Q6_K: w = d * scale * (q - 32), per 16 weights ----

// Element 128 h + 32 s + l takes the nibble (low for s < 2) of
// ql[64 h + 32 (s % 2) + l] and bits 2s, 2s+1 of qh[32 h + l]: u in 0..63
// (maddubs pairs below 2 * 63 * 127); the -32 part is -32 * sum of scale * bsum.
// Per super-block the exact integer sum of scale * (u - 32) * x of each pair,
// then acc += (d * d_x) * sum with FMA (as the packed tiles of pack_k.h).
TILE_K_INLINE void tile_q6_k(const tile_k_args *a, const int nx) {
    float acc[TILE_K_NX];
    TILE_K_UNROLL
    for (int j = 0; j < nx; j++)
        acc[j] = 0.0f;
    const __m256i lo4 = _mm256_set1_epi8(0x0F), lo2 = _mm256_set1_epi8(3);
    const kv_block_q6_k *wb = (const kv_block_q6_k *)a->w;
    for (int64_t i = 0; i < a->nb; i++) {
        const __m256i scales = _mm256_cvtepi8_epi16(load_128(wb[i].scales));
        __m256i sum[TILE_K_NX];
        TILE_K_UNROLL
        for (int j = 0; j < nx; j++)
            sum[j] = _mm256_setzero_si256();
        TILE_K_UNROLL
        for (int h = 0; h < 2; h++) {
            const __m256i sc = h == 0 ? _mm256_permute2x128_si256(scales, scales, 0x00)
                                      : _mm256_permute2x128_si256(scales, scales, 0x11);
            const __m256i ql0 = load_256(wb[i].ql + 64 * h), ql1 = load_256(wb[i].ql + 64 * h + 32);
            const __m256i qh = load_256(wb[i].qh + 32 * h);
            TILE_K_UNROLL
            for (int s = 0; s < 4; s++) {
                const __m256i ql = s % 2 == 0 ? ql0 : ql1;
                const __m256i nib = s < 2 ? _mm256_and_si256(ql, lo4)
                                          : _mm256_and_si256(_mm256_srli_epi16(ql, 4), lo4);
                const __m256i top = _mm256_slli_epi16(
                    _mm256_and_si256(_mm256_srli_epi16(qh, 2 * s), lo2), 4);
                const __m256i u = _mm256_or_si256(nib, top);
                const __m256i sc_s = pick_pair_i16(sc, s);
                TILE_K_UNROLL
                for (int j = 0; j < nx; j++) {
                    const int8_t *x8 = x_block(a, j, i)->qs + 128 * h + 32 * s;
                    sum[j] = add_weighted(sum[j], _mm256_maddubs_epi16(u, load_256(x8)), sc_s);
                }
            }
        }
        const float d = f16_to_f32(wb[i].d);
        TILE_K_UNROLL
        for (int j = 0; j < nx; j++) {
            const kv_block_q8_k *xb = x_block(a, j, i);
            const __m256i offset = _mm256_madd_epi16(load_256(xb->bsums), scales);
            const __m256i s = _mm256_sub_epi32(sum[j], _mm256_slli_epi32(offset, 5));
            acc[j] = fmaf(d * xb->d, (float)hsum_i32(s), acc[j]);
        }
    }
    TILE_K_UNROLL
    for (int j = 0; j < nx; j++)
        a->y[j * a->y_stride] = acc[j];
}

#define TILE_K_CAT2(a, b) a##b
#define TILE_K_CAT(a, b) TILE_K_CAT2(a, b)

// Defines the dot product and the tile entry point (kv_tile_fn, nw = 1) of a type.
#define TILE_K_DEFINE(name, tile)                                                              \
    void TILE_K_CAT(kv_dot_##name, TILE_SUFFIX)(int64_t n, float *out, const void *w,          \
                                                const void *x) {                               \
        tile_k_args a = {w, x, 0, out, 1, n / KV_QK_K};                                        \
        tile(&a, 1);                                                                           \
    }                                                                                          \
    void TILE_K_CAT(kv_tile_##name, TILE_SUFFIX)(int64_t n, float *y, int64_t y_stride,        \
                                                 const void *w, size_t w_row_size, int64_t nw, \
                                                 const void *x, size_t x_row_size,             \
                                                 int64_t nx) {                                 \
        (void)w_row_size;                                                                      \
        (void)nw; /* always 1 */                                                               \
        tile_k_args a = {w, x, x_row_size, y, y_stride, n / KV_QK_K};                          \
        if (nx == TILE_K_NX) {                                                                 \
            tile(&a, TILE_K_NX);                                                               \
            return;                                                                            \
        }                                                                                      \
        for (int64_t j = 0; j < nx; j++) {                                                     \
            tile_k_args one = {w, a.x + j * x_row_size, x_row_size, y + j * y_stride, 1, a.nb}; \
            tile(&one, 1);                                                                     \
        }                                                                                      \
    }

#endif
