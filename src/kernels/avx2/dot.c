// AVX2 versions of ref/dot.c: conversions between F32 and F16 / BF16 (activation
// converters, embedding lookups), and attention's F16 axpy and F16-key dot with
// F32 queries. Conversions and axpy round as the references do, so they match to
// the bit; the dot sums in float lanes where the reference sums in double. Tails
// go to the reference.
#if defined(__AVX2__)
#include "kernels/avx2/avx2.h"

#include "kernels/avx2/avx2_util.h"
#include "kernels/kernels.h"

// ---- conversions ----

// x (n floats) -> y (n halves), rounding to nearest even (F16C), NaN kept quiet
void kv_from_float_f16_avx2(const float *x, void *y, int64_t n) {
    kv_f16 *h = y;
    int64_t i = 0;
    for (; i + 8 <= n; i += 8) {
        const __m128i v = _mm256_cvtps_ph(_mm256_loadu_ps(x + i), _MM_FROUND_TO_NEAREST_INT);
        _mm_storeu_si128((__m128i *)(h + i), v);
    }
    if (i < n)
        kv_from_float_f16_ref(x + i, h + i, n - i);
}

// 8 floats -> 8 bfloat16 in the low 16 bits of each lane: round to nearest even
// by adding 0x7FFF plus the lowest kept bit; NaN becomes a quiet NaN with its sign.
static inline __m256i bf16_bits(__m256 f) {
    const __m256i u = _mm256_castps_si256(f);
    const __m256i odd = _mm256_and_si256(_mm256_srli_epi32(u, 16), _mm256_set1_epi32(1));
    const __m256i rounded_u = _mm256_add_epi32(u, _mm256_add_epi32(odd, _mm256_set1_epi32(0x7FFF)));
    const __m256i nan = _mm256_or_si256(_mm256_srli_epi32(u, 16), _mm256_set1_epi32(64));
    const __m256 is_nan = _mm256_cmp_ps(f, f, _CMP_UNORD_Q);
    return _mm256_blendv_epi8(_mm256_srli_epi32(rounded_u, 16), nan, _mm256_castps_si256(is_nan));
}

// x (n floats) -> y (n bfloat16), bit-exact with kv_f32_to_bf16
void kv_from_float_bf16_avx2(const float *x, void *y, int64_t n) {
    kv_bf16 *h = y;
    int64_t i = 0;
    for (; i + 16 <= n; i += 16) {
        const __m256i a = bf16_bits(_mm256_loadu_ps(x + i));
        const __m256i b = bf16_bits(_mm256_loadu_ps(x + i + 8));
        // packus keeps 16-bit values (all below 0x10000) in lane order: fix the halves
        const __m256i packed = _mm256_packus_epi32(a, b);
        const __m256i p = _mm256_permute4x64_epi64(packed, _MM_SHUFFLE(3, 1, 2, 0));
        _mm256_storeu_si256((__m256i *)(h + i), p);
    }
    if (i < n)
        kv_from_float_bf16_ref(x + i, h + i, n - i);
}

// x (n halves) -> y (n floats), exact
void kv_to_float_f16_avx2(const void *x, float *y, int64_t n) {
    const kv_f16 *h = x;
    int64_t i = 0;
    for (; i + 8 <= n; i += 8)
        _mm256_storeu_ps(y + i, _mm256_cvtph_ps(load_128(h + i)));
    if (i < n)
        kv_to_float_f16_ref(h + i, y + i, n - i);
}

// 8 bfloat16 -> 8 floats in order, exact
static inline __m256 bf16_to_ps(const kv_bf16 *p) {
    return _mm256_castsi256_ps(_mm256_slli_epi32(_mm256_cvtepu16_epi32(load_128(p)), 16));
}

// x (n bfloat16) -> y (n floats), exact
void kv_to_float_bf16_avx2(const void *x, float *y, int64_t n) {
    const kv_bf16 *h = x;
    int64_t i = 0;
    for (; i + 8 <= n; i += 8)
        _mm256_storeu_ps(y + i, bf16_to_ps(h + i));
    if (i < n)
        kv_to_float_bf16_ref(h + i, y + i, n - i);
}

// y (n) += a * v (n), v in F16: product then sum, each rounded as in the
// reference, the product the sum's first operand (a NaN's payload) as there
void kv_axpy_f16_avx2(int64_t n, float *y, float a, const kv_f16 *v) {
    const __m256 va = _mm256_set1_ps(a);
    int64_t i = 0;
    for (; i + 8 <= n; i += 8) {
        const __m256 p = rounded(_mm256_mul_ps(va, _mm256_cvtph_ps(load_128(v + i))));
        _mm256_storeu_ps(y + i, _mm256_add_ps(p, _mm256_loadu_ps(y + i)));
    }
    if (i < n)
        kv_axpy_f16_ref(n - i, y + i, a, v + i);
}

// ---- attention ----

// w (n halves) . x (n floats)
void kv_dot_f16_f32_avx2(int64_t n, float *out, const void *w, const void *x) {
    const kv_f16 *a = w;
    const float *b = x;
    __m256 s[4] = {_mm256_setzero_ps(), _mm256_setzero_ps(), _mm256_setzero_ps(),
                   _mm256_setzero_ps()};
    int64_t i = 0;
    for (; i + 32 <= n; i += 32)
        for (int k = 0; k < 4; k++) {
            const __m256 wk = _mm256_cvtph_ps(load_128(a + i + 8 * k));
            s[k] = _mm256_fmadd_ps(wk, _mm256_loadu_ps(b + i + 8 * k), s[k]);
        }
    float rest = 0.0f;
    if (i < n)
        kv_dot_f16_f32_ref(n - i, &rest, a + i, b + i);
    *out = hsum_f32(_mm256_add_ps(_mm256_add_ps(s[0], s[1]), _mm256_add_ps(s[2], s[3]))) + rest;
}

#endif
