// Register tiles of the Q4_0 x Q8_0 and Q8_0 x Q8_0 products, shared by the
// AVX2 file (avx2/tile_q.c) and the AVX-VNNI file (avxvnni/tile_q.c), which
// include it with their own ISA flags. A tile multiplies TILE_NW (16) weight
// rows with 1 or TILE_NX activation rows, and the eight lanes of a register
// are the eight weight rows: loads and a dword transpose put bytes 4k..4k+3
// of the eight rows' block in one register, the activation's bytes 4k..4k+3 are broadcast, and
// the int32 lane r sums row r's products. So one convert and one FMA per block
// serve eight (weight row, activation row) pairs, and the weights are
// rearranged once for all the activation rows.
//
// Every pair follows the same steps whatever the tile (1 x 1 is the dot
// product itself): per block, the exact int32 sum of its 32 products, then
// acc = fma(d_w * d_x, (float)sum, acc), one rounding chain in block order, and
// the result is acc. Tiles with fewer rows repeat a row and drop its lanes. So
// a tile gives the bits of single dot products, and prompt processing (many
// rows) and generation (one row) give the same numbers for a sequence.
// maddubs + madd and VNNI's dpbusd give the same int32 sums, so the two files
// agree to the bit too.
//
// The including file defines TILE_SUFFIX (a token pasted onto the function
// names) and, for VNNI, TILE_VNNI.
#ifndef KV_KERNELS_AVX2_TILE_Q_H
#define KV_KERNELS_AVX2_TILE_Q_H

#include <math.h>

#include "kernels/avx2/avx2_util.h"
#include "kvant/kv_blocks.h"

#define TILE_NW KV_AVX2_TILE_NW
#define TILE_NX KV_AVX2_TILE_NX
_Static_assert(TILE_NW == 16, "tile_rows takes one or two groups of eight rows");

#define TILE_INLINE static inline __attribute__((always_inline))
// Loops over a tile's rows unroll fully, so the accumulators live in registers.
#define TILE_UNROLL _Pragma("GCC unroll 8")

// int32 lanes of acc + sum(u * s) over groups of four bytes: u unsigned, s
// signed, u * s pairs within int16 (the callers' value ranges guarantee it).
TILE_INLINE __m256i sum_u8_i8(__m256i acc, __m256i u, __m256i s) {
#if defined(TILE_VNNI)
    return _mm256_dpbusd_avx_epi32(acc, u, s);
#else
    const __m256i p = _mm256_maddubs_epi16(u, s);
    return _mm256_add_epi32(acc, _mm256_madd_epi16(p, _mm256_set1_epi16(1)));
#endif
}

// Q8_0 weight bytes q as the weight operand of sum_w_x: w + 128 (unsigned) for
// VNNI, whose int32 sums take it exactly; q itself for AVX2, which cannot
// (maddubs pairs of 255 * 127 overflow int16) and keeps |w| and sign(w) instead.
TILE_INLINE __m256i q8_bytes(__m256i q) {
#if defined(TILE_VNNI)
    return _mm256_xor_si256(q, _mm256_set1_epi8((char)0x80)); // w + 128
#else
    return q;
#endif
}

// acc + the int32 sums of weight bytes w (nibbles, or q8_bytes for Q8_0) times
// activation bytes x. AVX2 multiplies |w| by x * sign(w) for Q8_0.
TILE_INLINE __m256i sum_w_x(__m256i acc, __m256i w, __m256i x, bool q8) {
#if defined(TILE_VNNI)
    (void)q8;
    return sum_u8_i8(acc, w, x);
#else
    return q8 ? sum_u8_i8(acc, _mm256_sign_epi8(w, w), _mm256_sign_epi8(x, w))
              : sum_u8_i8(acc, w, x);
#endif
}

// Dwords m = 0..3 of 16 bytes at byte offset `off` of the eight rows (row r
// at base + rows[r]): out[m] holds dword m of rows 0..7 in its eight lanes. Two
// rows share each register (rows r and r + 4 in the two halves), then a 4 x 4
// dword transpose within the halves.
TILE_INLINE void rows_x4(const uint8_t *base, const size_t rows[8], int off, __m256i out[4]) {
    __m256i a[4];
    TILE_UNROLL
    for (int r = 0; r < 4; r++)
        a[r] = _mm256_inserti128_si256(_mm256_castsi128_si256(load_128(base + rows[r] + off)),
                                       load_128(base + rows[r + 4] + off), 1);
    const __m256i t0 = _mm256_unpacklo_epi32(a[0], a[1]), t1 = _mm256_unpackhi_epi32(a[0], a[1]);
    const __m256i t2 = _mm256_unpacklo_epi32(a[2], a[3]), t3 = _mm256_unpackhi_epi32(a[2], a[3]);
    out[0] = _mm256_unpacklo_epi64(t0, t2);
    out[1] = _mm256_unpackhi_epi64(t0, t2);
    out[2] = _mm256_unpacklo_epi64(t1, t3);
    out[3] = _mm256_unpackhi_epi64(t1, t3);
}

// The F16 at the start of each of the eight rows' block, as floats
TILE_INLINE __m256 rows_f16(const uint8_t *base, const size_t rows[8]) {
    __m128i h = _mm_setzero_si128();
    h = _mm_insert_epi16(h, *(const uint16_t *)(const void *)(base + rows[0]), 0);
    h = _mm_insert_epi16(h, *(const uint16_t *)(const void *)(base + rows[1]), 1);
    h = _mm_insert_epi16(h, *(const uint16_t *)(const void *)(base + rows[2]), 2);
    h = _mm_insert_epi16(h, *(const uint16_t *)(const void *)(base + rows[3]), 3);
    h = _mm_insert_epi16(h, *(const uint16_t *)(const void *)(base + rows[4]), 4);
    h = _mm_insert_epi16(h, *(const uint16_t *)(const void *)(base + rows[5]), 5);
    h = _mm_insert_epi16(h, *(const uint16_t *)(const void *)(base + rows[6]), 6);
    h = _mm_insert_epi16(h, *(const uint16_t *)(const void *)(base + rows[7]), 7);
    return _mm256_cvtph_ps(h);
}

// One activation block: its 32 bytes, its scale, and -zp * sum of its bytes
// broadcast (zp: what the unsigned weight bytes exceed the weights by).
typedef struct {
    const int8_t *qs;
    float d;
    __m256i neg_off;
} x_block;

TILE_INLINE x_block load_x(const uint8_t *row, int64_t b, int zp) {
    const kv_block_q8_0 *xb = (const kv_block_q8_0 *)row + b;
    if (zp == 0) // the AVX2 build's Q8_0: signed weights, no offset to take off
        return (x_block){xb->qs, f16_at(&xb->d), _mm256_setzero_si256()};
    const __m256i x = load_256(xb->qs);
    const __m256i s = sum_u8_i8(_mm256_setzero_si256(), _mm256_set1_epi8((char)zp), x);
    return (x_block){xb->qs, f16_at(&xb->d), _mm256_set1_epi32(-hsum_i32(s))};
}

// Broadcast of activation bytes 4k..4k+3 (a load, no shuffle)
TILE_INLINE __m256i x_group(const x_block *x, int k) {
    return _mm256_set1_epi32((int32_t)load_u32(x->qs + 4 * k));
}

// ---- the weights of eight rows, rearranged: w8[k] holds bytes 4k..4k+3 of
// the eight rows' 32 weight bytes (Q4_0: nibbles; Q8_0: w + 128 with VNNI, w
// itself for the AVX2 sign trick) ----

// Q4_0: the 16 packed bytes give elements 0..15 (low nibbles) and 16..31 (high).
TILE_INLINE void unpack_q4_0(const uint8_t *blk, const size_t rows[8], __m256i w8[8], __m256 *d) {
    const __m256i lo4 = _mm256_set1_epi8(0x0F);
    *d = rows_f16(blk, rows);
    __m256i p[4];
    rows_x4(blk, rows, 2, p);
    TILE_UNROLL
    for (int m = 0; m < 4; m++) {
        w8[m] = _mm256_and_si256(p[m], lo4);
        w8[4 + m] = _mm256_and_si256(_mm256_srli_epi16(p[m], 4), lo4);
    }
}

// Q8_0: the weight bytes as q8_bytes gives them.
TILE_INLINE void unpack_q8_0(const uint8_t *blk, const size_t rows[8], __m256i w8[8], __m256 *d) {
    *d = rows_f16(blk, rows);
    rows_x4(blk, rows, 2, w8);
    rows_x4(blk, rows, 18, w8 + 4);
    TILE_UNROLL
    for (int k = 0; k < 8; k++)
        w8[k] = q8_bytes(w8[k]);
}

// int32 lane r: sum over the block of row r's weights times the activation,
// from the rearranged weights (zp already folded into x->neg_off).
TILE_INLINE __m256i block_sums(const __m256i w8[8], const x_block *x, bool q8) {
    __m256i s = x->neg_off;
    TILE_UNROLL
    for (int k = 0; k < 8; k++)
        s = sum_w_x(s, w8[k], x_group(x, k), q8);
    return s;
}

// The zero point of the weight bytes block_sums multiplies for a type
TILE_INLINE int zero_point(bool q8) {
#if defined(TILE_VNNI)
    return q8 ? 128 : 8;
#else
    return q8 ? 0 : 8;
#endif
}

// ng groups of eight weight rows (row r at w + rows[r], r < 8 ng) by nx
// activation rows xr[j]; ng (1 or 2) and nx (1 or TILE_NX) are constants after
// inlining. Each activation block is read once for all the groups.
TILE_INLINE void tile_rows(const uint8_t *w, const size_t rows[TILE_NW], size_t w_block, size_t ahead,
                           const uint8_t *const *xr, int64_t nb, bool q8, const int ng,
                           const int nx, __m256 out[2][TILE_NX]) {
    __m256 acc[2][TILE_NX];
    TILE_UNROLL
    for (int g = 0; g < ng; g++)
        TILE_UNROLL
        for (int j = 0; j < nx; j++)
            acc[g][j] = _mm256_setzero_ps();
    const int zp = zero_point(q8);
    for (int64_t b = 0; b < nb; b++) {
        x_block xs[TILE_NX];
        TILE_UNROLL
        for (int j = 0; j < nx; j++)
            xs[j] = load_x(xr[j], b, zp);
        TILE_UNROLL
        for (int g = 0; g < ng; g++) {
            const size_t *rg = rows + 8 * g;
            // Generation streams each row once, and the next tile's rows follow
            // these in memory: fetch the same place `ahead` bytes on, a line per two
            // blocks (see ref/matmul.c on this CPU's prefetcher and short rows).
            // With several activation rows the weights come again from cache.
            if (nx == 1 && b % 2 == 0) {
                TILE_UNROLL
                for (int r = 0; r < 8; r++)
                    _mm_prefetch((const char *)(w + rg[r] + (size_t)b * w_block + ahead), _MM_HINT_T0);
            }
            __m256i w8[8];
            __m256 dw;
            if (q8)
                unpack_q8_0(w + (size_t)b * w_block, rg, w8, &dw);
            else
                unpack_q4_0(w + (size_t)b * w_block, rg, w8, &dw);
            TILE_UNROLL
            for (int j = 0; j < nx; j++) {
                const __m256i sum = block_sums(w8, &xs[j], q8);
                acc[g][j] = _mm256_fmadd_ps(_mm256_mul_ps(dw, _mm256_set1_ps(xs[j].d)),
                                            _mm256_cvtepi32_ps(sum), acc[g][j]);
            }
        }
    }
    TILE_UNROLL
    for (int g = 0; g < ng; g++)
        TILE_UNROLL
        for (int j = 0; j < nx; j++)
            out[g][j] = acc[g][j];
}

// One pair, the same steps in one lane's worth of work
TILE_INLINE float dot_1(const uint8_t *w, size_t w_block, const uint8_t *x, int64_t nb,
                        bool q8) {
    float acc = 0.0f;
    const int zp = zero_point(q8);
    for (int64_t b = 0; b < nb; b++) {
        const uint8_t *blk = w + (size_t)b * w_block;
        const x_block xb = load_x(x, b, zp);
        const __m256i xq = load_256(xb.qs);
        __m256i s;
        if (q8)
            s = sum_w_x(xb.neg_off, q8_bytes(load_256(blk + 2)), xq, true);
        else
            s = sum_u8_i8(xb.neg_off, nibbles_32(blk + 2), xq);
        // neg_off is in every lane: count it once
        const int32_t sum = hsum_i32(s) - 7 * _mm256_cvtsi256_si32(xb.neg_off);
        const float dw = f16_at((const kv_f16 *)blk);
        acc = fmaf(dw * xb.d, (float)sum, acc);
    }
    return acc;
}

// y[j * y_stride + i] = lane i % 8 of out[i / 8][j] for weight rows i < nw
// and activation rows j < nx.
TILE_INLINE void store_tile(float *y, int64_t y_stride, const __m256 out[2][TILE_NX], int64_t nw,
                            int64_t nx) {
    for (int64_t j = 0; j < nx; j++)
        for (int g = 0; g < (nw > 8 ? 2 : 1); g++) {
            float lanes[8];
            _mm256_storeu_ps(lanes, out[g][j]);
            for (int64_t i = 8 * g; i < nw && i < 8 * g + 8; i++)
                y[j * y_stride + i] = lanes[i - 8 * g];
        }
}

#define TILE_CAT2(a, b) a##b
#define TILE_CAT(a, b) TILE_CAT2(a, b)

// Defines the dot product and the tile entry point of one type. A tile with
// fewer than TILE_NW (two groups of eight) weight or TILE_NX activation rows
// repeats its last row.
#define TILE_DEFINE(name, q8, w_block)                                                          \
    void TILE_CAT(kv_dot_##name, TILE_SUFFIX)(int64_t n, float *out, const void *w,           \
                                              const void *x) {                                \
        *out = dot_1(w, sizeof(w_block), x, n / 32, q8);                                      \
    }                                                                                         \
    void TILE_CAT(kv_tile_##name, TILE_SUFFIX)(int64_t n, float *y, int64_t y_stride,         \
                                               const void *w, size_t w_row_size, int64_t nw,  \
                                               const void *x, size_t x_row_size, int64_t nx) { \
        size_t rows[TILE_NW];                                                                 \
        for (int r = 0; r < TILE_NW; r++)                                                     \
            rows[r] = (size_t)(r < nw ? r : nw - 1) * w_row_size;                             \
        const uint8_t *xr[TILE_NX];                                                           \
        for (int j = 0; j < TILE_NX; j++)                                                     \
            xr[j] = (const uint8_t *)x + (size_t)(j < nx ? j : nx - 1) * x_row_size;          \
        __m256 out[2][TILE_NX];                                                               \
        const size_t bs = sizeof(w_block);                                                    \
        const int64_t nb = n / 32;                                                            \
        const size_t ahead = TILE_NW * w_row_size; /* the next tile's rows */                 \
        if (nw > 8 && nx > 1)                                                                 \
            tile_rows(w, rows, bs, ahead, xr, nb, q8, 2, TILE_NX, out);                       \
        else if (nw > 8)                                                                      \
            tile_rows(w, rows, bs, ahead, xr, nb, q8, 2, 1, out);                             \
        else if (nx > 1)                                                                      \
            tile_rows(w, rows, bs, ahead, xr, nb, q8, 1, TILE_NX, out);                       \
        else                                                                                  \
            tile_rows(w, rows, bs, ahead, xr, nb, q8, 1, 1, out);                             \
        store_tile(y, y_stride, out, nw, nx);                                                 \
    }

#endif
