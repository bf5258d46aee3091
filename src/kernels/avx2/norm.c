// AVX2 row normalisations (ref/norm.c is the spec): RMS norm and softmax. Sums
// run in double as in the reference, so RMS norm differs from it only where the
// order of the double sum moves the float mean; softmax's e^x is exp_ps (within
// 1 ulp of expf). Ragged ends use masked loads and stores.
#if defined(__AVX2__)
#include "kernels/avx2/avx2.h"

#include <math.h>

#include "kernels/avx2/avx2_util.h"

// Lanes i (0..7) with i < left are all ones: the mask of a row's last
// 1..7 elements, for maskload / maskstore.
static inline __m256i tail_mask(int64_t left) {
    const __m256i idx = _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7);
    return _mm256_cmpgt_epi32(_mm256_set1_epi32((int32_t)left), idx);
}

// acc + the 8 floats of v, widened to double (two 4-lane halves)
static inline __m256d add_wide(__m256d acc, __m256 v) {
    acc = _mm256_add_pd(acc, _mm256_cvtps_pd(_mm256_castps256_ps128(v)));
    return _mm256_add_pd(acc, _mm256_cvtps_pd(_mm256_extractf128_ps(v, 1)));
}

static inline double hsum_f64(__m256d v) {
    __m128d s = _mm_add_pd(_mm256_castpd256_pd128(v), _mm256_extractf128_pd(v, 1));
    s = _mm_add_sd(s, _mm_unpackhi_pd(s, s));
    return _mm_cvtsd_f64(s);
}

// ---- RMS norm ----

// Sum of x^2 in double, as the reference: each square is exact in double.
static double sum_squares(int64_t n, const float *x) {
    __m256d acc0 = _mm256_setzero_pd(), acc1 = _mm256_setzero_pd();
    int64_t i = 0;
    for (; i + 8 <= n; i += 8) {
        const __m256 v = _mm256_loadu_ps(x + i);
        const __m256d lo = _mm256_cvtps_pd(_mm256_castps256_ps128(v));
        const __m256d hi = _mm256_cvtps_pd(_mm256_extractf128_ps(v, 1));
        acc0 = _mm256_fmadd_pd(lo, lo, acc0);
        acc1 = _mm256_fmadd_pd(hi, hi, acc1);
    }
    if (i < n) {
        const __m256 v = _mm256_maskload_ps(x + i, tail_mask(n - i));
        const __m256d lo = _mm256_cvtps_pd(_mm256_castps256_ps128(v));
        const __m256d hi = _mm256_cvtps_pd(_mm256_extractf128_ps(v, 1));
        acc0 = _mm256_fmadd_pd(lo, lo, acc0);
        acc1 = _mm256_fmadd_pd(hi, hi, acc1);
    }
    return hsum_f64(_mm256_add_pd(acc0, acc1));
}

// x (n) -> y (n) = x * 1/sqrt(mean(x^2) + eps) * w; y may be x
void kv_rmsnorm_avx2(int64_t n, float *y, const float *x, const float *w, float eps) {
    const float mean = (float)(sum_squares(n, x) / (double)n);
    const __m256 scale = _mm256_set1_ps(1.0f / sqrtf(mean + eps));
    int64_t i = 0;
    for (; i + 8 <= n; i += 8) {
        __m256 v = _mm256_mul_ps(_mm256_loadu_ps(x + i), scale);
        if (w != NULL)
            v = _mm256_mul_ps(v, _mm256_loadu_ps(w + i));
        _mm256_storeu_ps(y + i, v);
    }
    if (i < n) {
        const __m256i m = tail_mask(n - i);
        __m256 v = _mm256_mul_ps(_mm256_maskload_ps(x + i, m), scale);
        if (w != NULL)
            v = _mm256_mul_ps(v, _mm256_maskload_ps(w + i, m));
        _mm256_maskstore_ps(y + i, m, v);
    }
}

// ---- softmax ----

// Largest of n floats, skipping NaN like the reference's `x > max`; -Inf when n == 0.
static float row_max(int64_t n, const float *x) {
    const __m256 ninf = _mm256_set1_ps(-INFINITY);
    __m256 m = ninf;
    int64_t i = 0;
    for (; i + 8 <= n; i += 8)
        m = _mm256_max_ps(_mm256_loadu_ps(x + i), m); // NaN in x leaves m
    if (i < n) {
        const __m256i mask = tail_mask(n - i);
        const __m256 v =
            _mm256_blendv_ps(ninf, _mm256_maskload_ps(x + i, mask), _mm256_castsi256_ps(mask));
        m = _mm256_max_ps(v, m);
    }
    return hmax_f32(m);
}

// x (n) -> softmax(x), in place; e^(x - max) as the reference, summed in double
void kv_softmax_avx2(int64_t n, float *x) {
    const float max = row_max(n, x);
    if (max == -INFINITY) { // nothing to attend to: all zero, never NaN
        for (int64_t i = 0; i < n; i++)
            x[i] = 0.0f;
        return;
    }
    const __m256 vmax = _mm256_set1_ps(max);
    __m256d sum = _mm256_setzero_pd();
    int64_t i = 0;
    for (; i + 8 <= n; i += 8) {
        const __m256 e = exp_ps(_mm256_sub_ps(_mm256_loadu_ps(x + i), vmax));
        _mm256_storeu_ps(x + i, e);
        sum = add_wide(sum, e);
    }
    if (i < n) {
        const __m256i mask = tail_mask(n - i);
        const __m256 v = _mm256_sub_ps(_mm256_maskload_ps(x + i, mask), vmax);
        const __m256 e = _mm256_and_ps(exp_ps(v), _mm256_castsi256_ps(mask));
        _mm256_maskstore_ps(x + i, mask, e);
        sum = add_wide(sum, e);
    }
    const __m256 inv = _mm256_set1_ps((float)(1.0 / hsum_f64(sum)));
    for (i = 0; i + 8 <= n; i += 8)
        _mm256_storeu_ps(x + i, _mm256_mul_ps(_mm256_loadu_ps(x + i), inv));
    if (i < n) {
        const __m256i mask = tail_mask(n - i);
        _mm256_maskstore_ps(x + i, mask, _mm256_mul_ps(_mm256_maskload_ps(x + i, mask), inv));
    }
}

#endif
