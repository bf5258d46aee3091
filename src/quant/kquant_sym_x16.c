// kv__kq_fit_sym for the 16 sub-blocks (16 values each) of a Q3_K/Q6_K
// super-block at once, one sub-block per SIMD lane: AVX-512 runs all 16 lanes,
// AVX2 two halves of 8. Each lane runs exactly the scalar twin's operations in
// the scalar twin's order (the sums still go element by element, the same
// comparisons decide, NaN included), so the bits are the same; only the 16
// independent sub-blocks run side by side. No FMA: the targets are "avx2" and
// "avx512f" alone, and -ffp-contract=off applies to src/quant.
//
// One difference in the bookkeeping, not in the arithmetic: the scalar twin
// stores the levels each time a trial scale wins; the lanes keep the winning
// inverse scale and compute its levels once at the end (the same function of
// the same numbers).
#include "quant/kquant_util.h"

void kv__kq_fit_sym_x16_ref(const float x[256], const float *w, int nmax, int8_t L[256],
                            float scales[16]) {
    for (int j = 0; j < 16; j++)
        scales[j] = kv__kq_fit_sym(16, nmax, x + 16 * j, L + 16 * j, w ? w + 16 * j : NULL);
}

#if defined(__x86_64__) && (defined(__GNUC__) || defined(__clang__))
#include <immintrin.h>

// The inverse-scale numerators in the scalar twin's order: -nmax first, then
// -(nmax + 0.1 k) for k = -9..9 without 0.
static void sym_numerators(int nmax, float num[19]) {
    num[0] = (float)-nmax;
    int n = 1;
    for (int k = -9; k <= 9; k++)
        if (k != 0)
            num[n++] = -((float)nmax + 0.1f * (float)k);
}

// x (and w) transposed so that row i holds element i of the 16 sub-blocks.
static void transpose16(const float *src, float dst[16][16]) {
    for (int j = 0; j < 16; j++)
        for (int i = 0; i < 16; i++)
            dst[i][j] = src[16 * j + i];
}

int kv__kq_sym_x16_level(void) {
    static int level = -1;
    if (level < 0) {
        __builtin_cpu_init();
        level = __builtin_cpu_supports("avx512f") ? 2 : __builtin_cpu_supports("avx2") ? 1 : 0;
    }
    return level;
}

// ---- AVX2: 8 lanes, called for sub-blocks 0..7 and 8..15 ----

#define KV_AVX2 __attribute__((target("avx2")))

// clamp(nearest_int(iscale * x), -nmax, nmax - 1), as kv__nearest_int does it.
KV_AVX2 static inline __m256i sym_level8(__m256 iscale, __m256 x, __m256i lo, __m256i hi) {
    __m256i q = _mm256_castps_si256(_mm256_add_ps(_mm256_mul_ps(iscale, x),
                                                  _mm256_set1_ps(12582912.0f)));
    q = _mm256_sub_epi32(_mm256_and_si256(q, _mm256_set1_epi32(0x007fffff)),
                         _mm256_set1_epi32(0x00400000));
    return _mm256_min_epi32(_mm256_max_epi32(q, lo), hi);
}

// Lanes lane0..lane0+7 of the transposed x and wx (= w * x, computed once).
KV_AVX2 static void fit_sym_half_avx2(const float xt[16][16], const float wt[16][16],
                                      const float wxt[16][16], int lane0, int nmax,
                                      const float num[19], int8_t Lt[16][16], float *scales) {
    const __m256 zero = _mm256_setzero_ps();
    const __m256i lo = _mm256_set1_epi32(-nmax), hi = _mm256_set1_epi32(nmax - 1);
    __m256 x[16], wv[16], wx[16];
    for (int i = 0; i < 16; i++) {
        x[i] = _mm256_loadu_ps(xt[i] + lane0);
        wv[i] = _mm256_loadu_ps(wt[i] + lane0);
        wx[i] = _mm256_loadu_ps(wxt[i] + lane0);
    }
    // the signed value of largest magnitude, the first one on ties
    const __m256 sign = _mm256_set1_ps(-0.0f);
    __m256 amax = zero, max = zero;
    for (int i = 0; i < 16; i++) {
        const __m256 ax = _mm256_andnot_ps(sign, x[i]);
        const __m256 gt = _mm256_cmp_ps(ax, amax, _CMP_GT_OQ);
        amax = _mm256_blendv_ps(amax, ax, gt);
        max = _mm256_blendv_ps(max, x[i], gt);
    }
    const __m256 tiny = _mm256_cmp_ps(amax, _mm256_set1_ps(KV_KQ_GROUP_EPS), _CMP_LT_OQ);
    __m256 scale = zero, best = zero, best_is = zero;
    for (int k = 0; k < 19; k++) {
        const __m256 iscale = _mm256_div_ps(_mm256_set1_ps(num[k]), max);
        __m256 slx = zero, sl2 = zero;
        for (int i = 0; i < 16; i++) {
            const __m256 l = _mm256_cvtepi32_ps(sym_level8(iscale, x[i], lo, hi));
            slx = _mm256_add_ps(slx, _mm256_mul_ps(wx[i], l));
            sl2 = _mm256_add_ps(sl2, _mm256_mul_ps(_mm256_mul_ps(wv[i], l), l));
        }
        const __m256 s = _mm256_div_ps(slx, sl2);
        if (k == 0) { // scale = suml2 != 0 ? sumlx / suml2 : 0
            scale = _mm256_and_ps(s, _mm256_cmp_ps(sl2, zero, _CMP_NEQ_UQ));
            best = _mm256_mul_ps(scale, slx);
            best_is = iscale;
            continue;
        }
        // suml2 > 0 && sumlx * sumlx > best * suml2
        const __m256 win =
            _mm256_and_ps(_mm256_cmp_ps(sl2, zero, _CMP_GT_OQ),
                          _mm256_cmp_ps(_mm256_mul_ps(slx, slx), _mm256_mul_ps(best, sl2),
                                        _CMP_GT_OQ));
        scale = _mm256_blendv_ps(scale, s, win);
        best = _mm256_blendv_ps(best, _mm256_mul_ps(s, slx), win);
        best_is = _mm256_blendv_ps(best_is, iscale, win);
    }
    _mm256_storeu_ps(scales, _mm256_andnot_ps(tiny, scale));
    const __m256i keep = _mm256_castps_si256(_mm256_xor_ps(tiny, _mm256_castsi256_ps(
                                                                     _mm256_set1_epi32(-1))));
    const __m256i off = _mm256_set1_epi32(nmax);
    for (int i = 0; i < 16; i++) {
        __m256i l = _mm256_add_epi32(sym_level8(best_is, x[i], lo, hi), off);
        l = _mm256_and_si256(l, keep);
        int32_t v[8];
        _mm256_storeu_si256((__m256i *)v, l);
        for (int j = 0; j < 8; j++)
            Lt[i][lane0 + j] = (int8_t)v[j];
    }
}

KV_AVX2 void kv__kq_fit_sym_x16_avx2(const float x[256], const float *w, int nmax,
                                     int8_t L[256], float scales[16]) {
    float xt[16][16], wt[16][16], wxt[16][16];
    int8_t Lt[16][16];
    float num[19];
    sym_numerators(nmax, num);
    transpose16(x, xt);
    if (w)
        transpose16(w, wt);
    for (int i = 0; i < 16; i++)
        for (int j = 0; j < 16; j++) {
            if (!w)
                wt[i][j] = xt[i][j] * xt[i][j];
            wxt[i][j] = wt[i][j] * xt[i][j];
        }
    fit_sym_half_avx2(xt, wt, wxt, 0, nmax, num, Lt, scales);
    fit_sym_half_avx2(xt, wt, wxt, 8, nmax, num, Lt, scales + 8);
    for (int j = 0; j < 16; j++)
        for (int i = 0; i < 16; i++)
            L[16 * j + i] = Lt[i][j];
}

// ---- AVX-512: all 16 lanes ----

#define KV_AVX512 __attribute__((target("avx512f")))

KV_AVX512 static inline __m512i sym_level16(__m512 iscale, __m512 x, __m512i lo, __m512i hi) {
    __m512i q = _mm512_castps_si512(_mm512_add_ps(_mm512_mul_ps(iscale, x),
                                                  _mm512_set1_ps(12582912.0f)));
    q = _mm512_sub_epi32(_mm512_and_si512(q, _mm512_set1_epi32(0x007fffff)),
                         _mm512_set1_epi32(0x00400000));
    return _mm512_min_epi32(_mm512_max_epi32(q, lo), hi);
}

KV_AVX512 void kv__kq_fit_sym_x16_avx512(const float x[256], const float *w, int nmax,
                                         int8_t L[256], float scales[16]) {
    float xt[16][16], wt[16][16];
    float num[19];
    sym_numerators(nmax, num);
    transpose16(x, xt);
    if (w)
        transpose16(w, wt);
    const __m512 zero = _mm512_setzero_ps();
    const __m512i lo = _mm512_set1_epi32(-nmax), hi = _mm512_set1_epi32(nmax - 1);
    __m512 xv[16], wv[16], wx[16];
    __m512 amax = zero, max = zero;
    for (int i = 0; i < 16; i++) {
        xv[i] = _mm512_loadu_ps(xt[i]);
        wv[i] = w ? _mm512_loadu_ps(wt[i]) : _mm512_mul_ps(xv[i], xv[i]);
        wx[i] = _mm512_mul_ps(wv[i], xv[i]);
        // the signed value of largest magnitude, the first one on ties
        const __m512 ax = _mm512_abs_ps(xv[i]);
        const __mmask16 gt = _mm512_cmp_ps_mask(ax, amax, _CMP_GT_OQ);
        amax = _mm512_mask_blend_ps(gt, amax, ax);
        max = _mm512_mask_blend_ps(gt, max, xv[i]);
    }
    const __mmask16 tiny =
        _mm512_cmp_ps_mask(amax, _mm512_set1_ps(KV_KQ_GROUP_EPS), _CMP_LT_OQ);
    __m512 scale = zero, best = zero, best_is = zero;
    for (int k = 0; k < 19; k++) {
        const __m512 iscale = _mm512_div_ps(_mm512_set1_ps(num[k]), max);
        __m512 slx = zero, sl2 = zero;
        for (int i = 0; i < 16; i++) {
            const __m512 l = _mm512_cvtepi32_ps(sym_level16(iscale, xv[i], lo, hi));
            slx = _mm512_add_ps(slx, _mm512_mul_ps(wx[i], l));
            sl2 = _mm512_add_ps(sl2, _mm512_mul_ps(_mm512_mul_ps(wv[i], l), l));
        }
        const __m512 s = _mm512_div_ps(slx, sl2);
        if (k == 0) { // scale = suml2 != 0 ? sumlx / suml2 : 0
            scale = _mm512_maskz_mov_ps(_mm512_cmp_ps_mask(sl2, zero, _CMP_NEQ_UQ), s);
            best = _mm512_mul_ps(scale, slx);
            best_is = iscale;
            continue;
        }
        // suml2 > 0 && sumlx * sumlx > best * suml2
        const __mmask16 win =
            _mm512_cmp_ps_mask(sl2, zero, _CMP_GT_OQ) &
            _mm512_cmp_ps_mask(_mm512_mul_ps(slx, slx), _mm512_mul_ps(best, sl2), _CMP_GT_OQ);
        scale = _mm512_mask_blend_ps(win, scale, s);
        best = _mm512_mask_blend_ps(win, best, _mm512_mul_ps(s, slx));
        best_is = _mm512_mask_blend_ps(win, best_is, iscale);
    }
    _mm512_storeu_ps(scales, _mm512_maskz_mov_ps((__mmask16)~tiny, scale));
    const __m512i off = _mm512_set1_epi32(nmax);
    int8_t Lt[16][16];
    for (int i = 0; i < 16; i++) {
        const __m512i l = _mm512_add_epi32(sym_level16(best_is, xv[i], lo, hi), off);
        _mm_storeu_si128((__m128i *)Lt[i], _mm512_cvtepi32_epi8(_mm512_maskz_mov_epi32(
                                               (__mmask16)~tiny, l)));
    }
    for (int j = 0; j < 16; j++)
        for (int i = 0; i < 16; i++)
            L[16 * j + i] = Lt[i][j];
}

#else

int kv__kq_sym_x16_level(void) { return 0; }

void kv__kq_fit_sym_x16_avx2(const float x[256], const float *w, int nmax, int8_t L[256],
                             float scales[16]) {
    kv__kq_fit_sym_x16_ref(x, w, nmax, L, scales);
}

void kv__kq_fit_sym_x16_avx512(const float x[256], const float *w, int nmax, int8_t L[256],
                               float scales[16]) {
    kv__kq_fit_sym_x16_ref(x, w, nmax, L, scales);
}

#endif

void kv__kq_fit_sym_x16(const float x[256], const float *w, int nmax, int8_t L[256],
                        float scales[16]) {
    switch (kv__kq_sym_x16_level()) {
    case 2:
        kv__kq_fit_sym_x16_avx512(x, w, nmax, L, scales);
        break;
    case 1:
        kv__kq_fit_sym_x16_avx2(x, w, nmax, L, scales);
        break;
    default:
        kv__kq_fit_sym_x16_ref(x, w, nmax, L, scales);
    }
}
