// The BF16 pieces shared by the AVX2 BF16 register tile (tile_bf16.c) and
// packed path (pack_bf16.c): the 32-element chunk split into the BF16 dot's
// four quarters (avx2/dot_f16.c) and the final reduction of its four chain
// sums. Only files compiled with -mavx2 -mfma include it, after avx2_util.h.
#ifndef KV_KERNELS_AVX2_BF16_UTIL_H
#define KV_KERNELS_AVX2_BF16_UTIL_H

#include "kernels/avx2/avx2_util.h"

#define BF16_INLINE static inline __attribute__((always_inline))
#define BF16_UNROLL _Pragma("GCC unroll 8")

enum { CHUNK = 32 };

// The quarter q of the 32-element chunk at p as floats: 0 the even elements
// of 0-15, 1 the odd ones, 2 and 3 the same of 16-31 (the dot's e0, o0, e1, o1).
BF16_INLINE __m256 quarter(const kv_bf16 *p, int q) {
    const __m256i v = load_256(p + (q / 2) * 16);
    if (q % 2 == 0)
        return _mm256_castsi256_ps(_mm256_slli_epi32(v, 16));
    return _mm256_castsi256_ps(_mm256_and_si256(v, _mm256_set1_epi32((int)0xFFFF0000u)));
}

// The dot's sum of its four chains acc[0..3] (e0, o0, e1, o1): the same
// unpack into s0..s3 and hsum_f32((s0 + s1) + (s2 + s3)).
BF16_INLINE float chains_sum(const __m256 acc[4]) {
    const __m256 s01 = _mm256_add_ps(_mm256_unpacklo_ps(acc[0], acc[1]),
                                     _mm256_unpackhi_ps(acc[0], acc[1]));
    const __m256 s23 = _mm256_add_ps(_mm256_unpacklo_ps(acc[2], acc[3]),
                                     _mm256_unpackhi_ps(acc[2], acc[3]));
    return hsum_f32(_mm256_add_ps(s01, s23));
}

#endif
