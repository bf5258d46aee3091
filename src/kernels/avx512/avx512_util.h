// Small AVX-512 building blocks of src/kernels/avx512/: row gathers for the
// repacking, activation sums and stores of a tile's lanes. Only files compiled
// with the AVX-512 flags include it; it holds no kernel logic of its own.
#ifndef KV_KERNELS_AVX512_UTIL_H
#define KV_KERNELS_AVX512_UTIL_H

#include <immintrin.h>
#include <stdint.h>
#include <string.h>

#include "kernels/avx2/avx2_util.h"

#define AVX512_INLINE static inline __attribute__((always_inline))
#define AVX512_UNROLL _Pragma("GCC unroll 16")

// The byte offsets of sixteen weight rows (rows past nw repeat the last one,
// their lanes are computed and dropped) as gather indices. False when the
// offsets do not fit int32 (rows over 143 MB): the caller copies instead.
AVX512_INLINE bool row_offsets(size_t w_row_size, int64_t nw, __m512i *idx) {
    if (w_row_size > (size_t)INT32_MAX / 16)
        return false;
    int32_t off[16];
    for (int r = 0; r < 16; r++)
        off[r] = (int32_t)((size_t)(r < nw ? r : nw - 1) * w_row_size);
    *idx = _mm512_loadu_si512(off);
    return true;
}

// The dword at byte p + idx[r] of each of the sixteen rows
AVX512_INLINE __m512i gather_rows(const uint8_t *p, __m512i idx) {
    return _mm512_i32gather_epi32(idx, (const void *)p, 1);
}

// The F16 at byte p + idx[r] of each row, as floats (the dword read at a
// block's start holds it in its low half; F16C converts exactly)
AVX512_INLINE __m512 gather_f16_lo(const uint8_t *p, __m512i idx) {
    return _mm512_cvtph_ps(_mm512_cvtepi32_epi16(gather_rows(p, idx)));
}

// Dwords g = 0..3 of the 16 bytes at p of sixteen rows `stride` bytes apart
// (row r at p + r * stride): out[g] lane r holds dword g of row r. Four rows share each
// register (rows r, r + 4, r + 8, r + 12 in its four 128-bit lanes), then a
// 4 x 4 dword transpose within the lanes.
AVX512_INLINE void rows16_x4(const uint8_t *p, size_t stride, __m512i out[4]) {
    __m512i a[4];
    for (int r = 0; r < 4; r++) {
        __m512i v = _mm512_castsi128_si512(load_128(p + (size_t)r * stride));
        v = _mm512_inserti32x4(v, load_128(p + (size_t)(r + 4) * stride), 1);
        v = _mm512_inserti32x4(v, load_128(p + (size_t)(r + 8) * stride), 2);
        a[r] = _mm512_inserti32x4(v, load_128(p + (size_t)(r + 12) * stride), 3);
    }
    const __m512i t0 = _mm512_unpacklo_epi32(a[0], a[1]), t1 = _mm512_unpackhi_epi32(a[0], a[1]);
    const __m512i t2 = _mm512_unpacklo_epi32(a[2], a[3]), t3 = _mm512_unpackhi_epi32(a[2], a[3]);
    out[0] = _mm512_unpacklo_epi64(t0, t2);
    out[1] = _mm512_unpackhi_epi64(t0, t2);
    out[2] = _mm512_unpacklo_epi64(t1, t3);
    out[3] = _mm512_unpackhi_epi64(t1, t3);
}

// int32 lane j (< 8) of the result: the sum of the 32 signed bytes at q[j]
// (the activation bytes of eight Q8 blocks); exact.
AVX512_INLINE __m256i sums_8x32(const int8_t *const q[8]) {
    const __m256i ones = _mm256_set1_epi8(1);
    __m256i v[8];
    AVX512_UNROLL
    for (int j = 0; j < 8; j++)
        v[j] = _mm256_dpbusd_epi32(_mm256_setzero_si256(), ones, load_256(q[j]));
    const __m256i a = _mm256_hadd_epi32(_mm256_hadd_epi32(v[0], v[1]), _mm256_hadd_epi32(v[2], v[3]));
    const __m256i b = _mm256_hadd_epi32(_mm256_hadd_epi32(v[4], v[5]), _mm256_hadd_epi32(v[6], v[7]));
    return _mm256_add_epi32(_mm256_permute2x128_si256(a, b, 0x20),
                            _mm256_permute2x128_si256(a, b, 0x31));
}

// y[j * y_stride + i] = lane i of out[j] for i < nw, j < nx
AVX512_INLINE void store_lanes(float *y, int64_t y_stride, const __m512 *out, int64_t nw,
                               int64_t nx) {
    const __mmask16 keep = (__mmask16)(nw >= 16 ? 0xFFFF : (1u << nw) - 1);
    for (int64_t j = 0; j < nx; j++)
        _mm512_mask_storeu_ps(y + j * y_stride, keep, out[j]);
}

#endif
