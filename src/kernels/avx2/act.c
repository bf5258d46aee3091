// AVX2 element-wise ops of the feed-forward block and the residual stream
// (ref/act.c is the spec). add rounds as the reference does, so it matches to
// the bit; SiLU uses exp_ps (within 1 ulp of expf). Tails go to the reference.
#if defined(__AVX2__)
#include "kernels/avx2/avx2.h"

#include "kernels/avx2/avx2_util.h"
#include "kernels/kernels.h"

// gate (n), up (n) -> y (n) = gate / (1 + e^-gate) * up; y may alias either
void kv_silu_mul_avx2(int64_t n, float *y, const float *gate, const float *up) {
    const __m256 one = _mm256_set1_ps(1.0f), sign = _mm256_set1_ps(-0.0f);
    int64_t i = 0;
    for (; i + 8 <= n; i += 8) {
        const __m256 g = _mm256_loadu_ps(gate + i);
        const __m256 e = exp_ps(_mm256_xor_ps(g, sign));
        const __m256 s = _mm256_div_ps(g, _mm256_add_ps(one, e));
        _mm256_storeu_ps(y + i, _mm256_mul_ps(s, _mm256_loadu_ps(up + i)));
    }
    if (i < n)
        kv_silu_mul_ref(n - i, y + i, gate + i, up + i);
}

// y (n) += x (n), bit-exact with the reference
void kv_add_avx2(int64_t n, float *y, const float *x) {
    int64_t i = 0;
    for (; i + 8 <= n; i += 8)
        _mm256_storeu_ps(y + i, _mm256_add_ps(_mm256_loadu_ps(y + i), _mm256_loadu_ps(x + i)));
    if (i < n)
        kv_add_ref(n - i, y + i, x + i);
}

#endif
