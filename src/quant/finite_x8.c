// The input check of kv_quant_rows: the first element that is Inf or NaN. The
// scalar twin tests element by element; the AVX2 path tests the exponent bits of
// 32 values per step (all ones: Inf or NaN) and lets the twin find the element
// inside the first group that has one. Same answer; the check was a fifth of a
// Q4_0 quantization before.
#include "quant/quant_int.h"

#include <math.h>

#include "quant/kquant_util.h" // kv__kq_have_x8

int64_t kv__find_nonfinite_ref(const float *x, int64_t n) {
    for (int64_t i = 0; i < n; i++)
        if (!isfinite(x[i]))
            return i;
    return -1;
}

#if defined(__x86_64__) && (defined(__GNUC__) || defined(__clang__))
#include <immintrin.h>

__attribute__((target("avx2"))) int64_t kv__find_nonfinite_avx2(const float *x, int64_t n) {
    const __m256i e = _mm256_set1_epi32(0x7f800000);
    int64_t i = 0;
    for (; i + 32 <= n; i += 32) {
        __m256i bad = _mm256_setzero_si256();
        for (int k = 0; k < 4; k++) {
            const __m256i v = _mm256_loadu_si256((const __m256i *)(x + i + 8 * k));
            bad = _mm256_or_si256(bad, _mm256_cmpeq_epi32(_mm256_and_si256(v, e), e));
        }
        if (!_mm256_testz_si256(bad, bad))
            return i + kv__find_nonfinite_ref(x + i, 32);
    }
    const int64_t r = kv__find_nonfinite_ref(x + i, n - i);
    return r < 0 ? -1 : i + r;
}

int64_t kv__find_nonfinite(const float *x, int64_t n) {
    return kv__kq_have_x8() ? kv__find_nonfinite_avx2(x, n) : kv__find_nonfinite_ref(x, n);
}

#else

int64_t kv__find_nonfinite_avx2(const float *x, int64_t n) { return kv__find_nonfinite_ref(x, n); }

int64_t kv__find_nonfinite(const float *x, int64_t n) { return kv__find_nonfinite_ref(x, n); }

#endif
