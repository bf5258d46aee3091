// AVX2 dot products of the F32 and BF16 weight types against activations of
// the same type (ref/dot_f16.c is the spec; F16 is in tile_f16.c). 32 elements
// per step in four float accumulators with FMA; BF16 is widened by unpacking. The
// reference rounds each product and sums in double; these sum in float lanes,
// as ggml's SIMD paths do. A tail of fewer than 32 elements goes to the reference.
#if defined(__AVX2__)
#include "kernels/avx2/avx2.h"

#include "kernels/avx2/avx2_util.h"
#include "kernels/ref/dot_ref.h"

enum { STEP = 32 };

// 16 bfloat16 widened to floats by putting each below 16 zero bits: *lo gets
// elements 0..3 and 8..11, *hi 4..7 and 12..15 (unpack works per 128-bit lane).
// w and x come out in the same order, which is all a dot product needs.
static inline void load_bf16_16(const kv_bf16 *p, __m256 *lo, __m256 *hi) {
    const __m256i v = load_256(p), zero = _mm256_setzero_si256();
    *lo = _mm256_castsi256_ps(_mm256_unpacklo_epi16(zero, v));
    *hi = _mm256_castsi256_ps(_mm256_unpackhi_epi16(zero, v));
}

static inline float sum_4(__m256 a, __m256 b, __m256 c, __m256 d) {
    return hsum_f32(_mm256_add_ps(_mm256_add_ps(a, b), _mm256_add_ps(c, d)));
}

// w (n floats) . x (n floats)
void kv_dot_f32_f32_avx2(int64_t n, float *out, const void *w, const void *x) {
    const float *a = w, *b = x;
    __m256 s0 = _mm256_setzero_ps(), s1 = s0, s2 = s0, s3 = s0;
    int64_t i = 0;
    for (; i + STEP <= n; i += STEP) {
        s0 = _mm256_fmadd_ps(_mm256_loadu_ps(a + i), _mm256_loadu_ps(b + i), s0);
        s1 = _mm256_fmadd_ps(_mm256_loadu_ps(a + i + 8), _mm256_loadu_ps(b + i + 8), s1);
        s2 = _mm256_fmadd_ps(_mm256_loadu_ps(a + i + 16), _mm256_loadu_ps(b + i + 16), s2);
        s3 = _mm256_fmadd_ps(_mm256_loadu_ps(a + i + 24), _mm256_loadu_ps(b + i + 24), s3);
    }
    float rest = 0.0f;
    if (i < n)
        kv_dot_f32_f32_ref(n - i, &rest, a + i, b + i);
    *out = sum_4(s0, s1, s2, s3) + rest;
}

// w (n bfloat16) . x (n bfloat16)
void kv_dot_bf16_bf16_avx2(int64_t n, float *out, const void *w, const void *x) {
    const kv_bf16 *a = w, *b = x;
    __m256 s0 = _mm256_setzero_ps(), s1 = s0, s2 = s0, s3 = s0;
    int64_t i = 0;
    for (; i + STEP <= n; i += STEP) {
        __m256 a0, a1, a2, a3, b0, b1, b2, b3;
        load_bf16_16(a + i, &a0, &a1);
        load_bf16_16(a + i + 16, &a2, &a3);
        load_bf16_16(b + i, &b0, &b1);
        load_bf16_16(b + i + 16, &b2, &b3);
        s0 = _mm256_fmadd_ps(a0, b0, s0);
        s1 = _mm256_fmadd_ps(a1, b1, s1);
        s2 = _mm256_fmadd_ps(a2, b2, s2);
        s3 = _mm256_fmadd_ps(a3, b3, s3);
    }
    float rest = 0.0f;
    if (i < n)
        kv_dot_bf16_bf16_ref(n - i, &rest, a + i, b + i);
    *out = sum_4(s0, s1, s2, s3) + rest;
}

#endif
