// Q4_0's reference block quantizer (no importance matrix) with AVX2: the same
// operations as quantize_block_sym_ref in q4_q5.c (its scalar twin), element by
// element, so the same bits. cvttps2dq answers INT_MIN out of range as
// kv__trunc_i32 does. No FMA: the target is "avx2" alone.
#include "quant/quant_int.h"

#if defined(__x86_64__) && (defined(__GNUC__) || defined(__clang__))
#include <immintrin.h>

__attribute__((target("avx2"))) void kv__q4_0_block_avx2(const float x[32], kv_f16 *d_out,
                                                          uint8_t qs[16]) {
    const __m256 sign = _mm256_set1_ps(-0.0f);
    __m256 v[4], a[4];
    for (int k = 0; k < 4; k++) {
        v[k] = _mm256_loadu_ps(x + 8 * k);
        a[k] = _mm256_andnot_ps(sign, v[k]);
    }
    __m256 m = _mm256_max_ps(_mm256_max_ps(a[0], a[1]), _mm256_max_ps(a[2], a[3]));
    __m128 h = _mm_max_ps(_mm256_castps256_ps128(m), _mm256_extractf128_ps(m, 1));
    h = _mm_max_ps(h, _mm_movehl_ps(h, h));
    h = _mm_max_ss(h, _mm_shuffle_ps(h, h, 1));
    const float amax = _mm_cvtss_f32(h);
    // the scalar twin keeps the first element of largest magnitude, with its sign
    float max = 0.0f;
    if (amax > 0.0f) {
        const __m256 am = _mm256_set1_ps(amax);
        uint32_t hit = 0;
        for (int k = 0; k < 4; k++)
            hit |= (uint32_t)_mm256_movemask_ps(_mm256_cmp_ps(a[k], am, _CMP_EQ_OQ)) << (8 * k);
        max = x[__builtin_ctz(hit)];
    }
    const float d = max / (float)-8;
    const float id = d != 0.0f ? 1.0f / d : 0.0f;
    *d_out = kv_f32_to_f16(d);
    const __m256 vid = _mm256_set1_ps(id), off = _mm256_set1_ps(8.5f);
    const __m256i fifteen = _mm256_set1_epi32(15);
    int32_t l[32];
    for (int k = 0; k < 4; k++) {
        __m256i q = _mm256_cvttps_epi32(_mm256_add_ps(_mm256_mul_ps(v[k], vid), off));
        q = _mm256_srai_epi32(_mm256_slli_epi32(q, 24), 24); // the low byte, signed
        _mm256_storeu_si256((__m256i *)(l + 8 * k), _mm256_min_epi32(q, fifteen));
    }
    for (int j = 0; j < 16; j++)
        qs[j] = (uint8_t)((l[j] & 0x0f) | ((l[j + 16] & 0x0f) << 4));
}

// Q8_0's block (quantize_block_q8_0 in q8.c is the twin): d = max|x| / 127,
// q = roundf(x / d) as kv__round_i8 does it (trunc, then +-1 when the exact
// fraction reaches one half; the fallback for |v| >= 2^23, Inf, NaN is per element).
__attribute__((target("avx2"))) void kv__q8_0_block_avx2(const float x[32], kv_f16 *d_out,
                                                          int8_t qs[32]) {
    const __m256 sign = _mm256_set1_ps(-0.0f);
    __m256 v[4];
    __m256 m = _mm256_setzero_ps();
    for (int k = 0; k < 4; k++) {
        v[k] = _mm256_loadu_ps(x + 8 * k);
        m = _mm256_max_ps(_mm256_andnot_ps(sign, v[k]), m); // NaN |x| keeps m, as fmaxf
    }
    __m128 h = _mm_max_ps(_mm256_castps256_ps128(m), _mm256_extractf128_ps(m, 1));
    h = _mm_max_ps(h, _mm_movehl_ps(h, h));
    h = _mm_max_ss(h, _mm_shuffle_ps(h, h, 1));
    const float amax = _mm_cvtss_f32(h);
    const float d = amax / 127;
    const float id = d != 0.0f ? 1.0f / d : 0.0f;
    *d_out = kv_f32_to_f16(d);
    const __m256 vid = _mm256_set1_ps(id), half = _mm256_set1_ps(0.5f);
    const __m256 mhalf = _mm256_set1_ps(-0.5f), big = _mm256_set1_ps(8388608.0f);
    int32_t q[32];
    for (int k = 0; k < 4; k++) {
        const __m256 f = _mm256_mul_ps(v[k], vid);
        if (_mm256_movemask_ps(_mm256_cmp_ps(_mm256_andnot_ps(sign, f), big, _CMP_LT_OQ)) != 0xff) {
            for (int j = 0; j < 8; j++) // a lane out of the fast range: scalar, same bits
                q[8 * k + j] = kv__round_i8(x[8 * k + j] * id);
            continue;
        }
        __m256i t = _mm256_cvttps_epi32(f);
        const __m256 r = _mm256_sub_ps(f, _mm256_cvtepi32_ps(t));
        // (r >= 0.5) - (r <= -0.5): compare masks are -1 where true
        t = _mm256_sub_epi32(t, _mm256_castps_si256(_mm256_cmp_ps(r, half, _CMP_GE_OQ)));
        t = _mm256_add_epi32(t, _mm256_castps_si256(_mm256_cmp_ps(r, mhalf, _CMP_LE_OQ)));
        _mm256_storeu_si256((__m256i *)(q + 8 * k), t);
    }
    for (int j = 0; j < 32; j++)
        qs[j] = (int8_t)(uint8_t)((uint32_t)q[j] & 0xffu);
}

#endif
