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

#endif
