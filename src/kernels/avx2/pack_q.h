// Q4_0 weights repacked sixteen rows at a time for batches (the matmul
// driver's packed path): per block, two groups of eight rows whose quant bytes
// are already in the dword-transposed order the register tiles of tile_q.h
// build on the fly (dword m of the eight rows in one register), with their
// scales as floats. The tiles then only load: no transpose, no F16 convert.
//
// The bits are those of the dot product (tile_q.h): per block the exact int32
// sum of the products less 8 * sum(x), then acc = fma(d_w * d_x, sum, acc),
// blocks in order. Shared by avx2/pack_q.c and avxvnni/pack_q.c (TILE_VNNI).
#ifndef KV_KERNELS_AVX2_PACK_Q_H
#define KV_KERNELS_AVX2_PACK_Q_H

#include "kernels/avx2/tile_q.h"

#define Q4X16_GROUPS (KV_AVX2_PACK_Q_NW / 8)
#define Q4X16_NX KV_AVX2_PACK_Q_NX
_Static_assert(Q4X16_NX == 4 && Q4X16_NX == TILE_NX && Q4X16_GROUPS == 2, "load_x4 reads four activation rows");

// One block of eight Q4_0 rows (160 bytes).
typedef struct {
    float d[8];
    uint8_t qs[4][32]; // [dword m][row r, byte]: bytes 4m..4m+3 of row r's 16 quant bytes
} kv_q4_0_x8;

// The x_block of four activation rows' block b at once (load_x's numbers):
// their four zero-point sums are reduced together instead of one by one.
TILE_INLINE void load_x4(const uint8_t *const *xr, int64_t b, x_block xs[4]) {
    __m256i v[4];
    TILE_UNROLL
    for (int j = 0; j < 4; j++) {
        const kv_block_q8_0 *xb = (const kv_block_q8_0 *)xr[j] + b;
        xs[j].qs = xb->qs;
        xs[j].d = f16_at(&xb->d);
        v[j] = sum_u8_i8(_mm256_setzero_si256(), _mm256_set1_epi8(8), load_256(xb->qs));
    }
    // lanes 0..3 of each half: partial sums of rows 0..3; the halves added
    const __m256i h = _mm256_hadd_epi32(_mm256_hadd_epi32(v[0], v[1]), _mm256_hadd_epi32(v[2], v[3]));
    const __m256i sum = _mm256_add_epi32(h, _mm256_permute2x128_si256(h, h, 0x01));
    const __m256i neg = _mm256_sub_epi32(_mm256_setzero_si256(), sum);
    TILE_UNROLL
    for (int j = 0; j < 4; j++)
        xs[j].neg_off = _mm256_permutevar8x32_epi32(neg, _mm256_set1_epi32(j));
}

// ng groups of eight packed rows by nx activation rows over nb blocks (the
// packed blocks of a group follow one another, Q4X16_GROUPS per block).
TILE_INLINE void packed_q4_0(int64_t nb, const kv_q4_0_x8 *wp, const uint8_t *const *xr,
                             const int ng, const int nx, __m256 out[Q4X16_GROUPS][Q4X16_NX]) {
    __m256 acc[Q4X16_GROUPS][Q4X16_NX];
    TILE_UNROLL
    for (int g = 0; g < ng; g++)
        TILE_UNROLL
        for (int j = 0; j < nx; j++)
            acc[g][j] = _mm256_setzero_ps();
    const __m256i lo4 = _mm256_set1_epi8(0x0F);
    for (int64_t b = 0; b < nb; b++) {
        x_block xs[Q4X16_NX];
        if (nx == 4) {
            load_x4(xr, b, xs);
        } else {
            TILE_UNROLL
            for (int j = 0; j < nx; j++)
                xs[j] = load_x(xr[j], b, 8);
        }
        const kv_q4_0_x8 *p = wp + b * Q4X16_GROUPS;
        __m256i s[Q4X16_GROUPS][Q4X16_NX];
        TILE_UNROLL
        for (int g = 0; g < ng; g++)
            TILE_UNROLL
            for (int j = 0; j < nx; j++)
                s[g][j] = xs[j].neg_off;
        TILE_UNROLL
        for (int m = 0; m < 4; m++) {
            __m256i lo[Q4X16_GROUPS], hi[Q4X16_GROUPS];
            TILE_UNROLL
            for (int g = 0; g < ng; g++) {
                const __m256i q = load_256(p[g].qs[m]);
                lo[g] = _mm256_and_si256(q, lo4);
                hi[g] = _mm256_and_si256(_mm256_srli_epi16(q, 4), lo4);
            }
            TILE_UNROLL
            for (int j = 0; j < nx; j++) {
                const __m256i xl = x_group(&xs[j], m), xh = x_group(&xs[j], 4 + m);
                TILE_UNROLL
                for (int g = 0; g < ng; g++) {
                    s[g][j] = sum_u8_i8(s[g][j], lo[g], xl);
                    s[g][j] = sum_u8_i8(s[g][j], hi[g], xh);
                }
            }
        }
        TILE_UNROLL
        for (int g = 0; g < ng; g++) {
            const __m256 dw = _mm256_loadu_ps(p[g].d);
            TILE_UNROLL
            for (int j = 0; j < nx; j++)
                acc[g][j] = _mm256_fmadd_ps(_mm256_mul_ps(dw, _mm256_set1_ps(xs[j].d)),
                                            _mm256_cvtepi32_ps(s[g][j]), acc[g][j]);
        }
    }
    TILE_UNROLL
    for (int g = 0; g < ng; g++)
        TILE_UNROLL
        for (int j = 0; j < nx; j++)
            out[g][j] = acc[g][j];
}

// The packed tile entry point (kv_packed_tile_fn) of a build.
#define PACK_Q_DEFINE(name)                                                                    \
    void TILE_CAT(kv_packed_##name, TILE_SUFFIX)(int64_t n, float *y, int64_t y_stride,        \
                                                 const void *wp, int64_t nw, const void *x,    \
                                                 size_t x_row_size, int64_t nx) {              \
        const uint8_t *xr[Q4X16_NX];                                                           \
        for (int j = 0; j < Q4X16_NX; j++)                                                     \
            xr[j] = (const uint8_t *)x + (size_t)(j < nx ? j : nx - 1) * x_row_size;           \
        __m256 out[Q4X16_GROUPS][Q4X16_NX];                                                    \
        const int64_t nb = n / 32;                                                             \
        const int ng = nw > 8 ? 2 : 1;                                                         \
        if (ng == 2 && nx > 1)                                                                 \
            packed_q4_0(nb, wp, xr, 2, Q4X16_NX, out);                                         \
        else if (ng == 2)                                                                      \
            packed_q4_0(nb, wp, xr, 2, 1, out);                                                \
        else if (nx > 1)                                                                       \
            packed_q4_0(nb, wp, xr, 1, Q4X16_NX, out);                                         \
        else                                                                                   \
            packed_q4_0(nb, wp, xr, 1, 1, out);                                                \
        store_tile(y, y_stride, out, nw, nx);                                                  \
    }

#endif
