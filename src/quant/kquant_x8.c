// kv__kq_fit_affine for the 8 sub-blocks of a Q4_K/Q5_K super-block at once,
// one sub-block per AVX2 lane. Each lane runs exactly the scalar twin's
// operations in the scalar twin's order (the sums still go element by element),
// so the bits are the same; only the 8 independent sub-blocks run side by side.
// No FMA: this file's target is "avx2" alone (and -ffp-contract=off applies).
#include "quant/kquant_util.h"

#include <stdbool.h>

#if defined(__x86_64__) && (defined(__GNUC__) || defined(__clang__))
#include <immintrin.h>

bool kv__kq_have_x8(void) {
    static int have = -1;
    if (have < 0)
        have = __builtin_cpu_supports("avx2") ? 1 : 0;
    return have == 1;
}

#define KV_X8 __attribute__((target("avx2")))

// Levels clamp(nearest_int(iscale * (x - min)), 0, nmax) for 32 rows of 8 lanes.
KV_X8 static void levels_x8(const float xt[32][8], __m256 iscale, __m256 min, __m256i nmax,
                            __m256i Lt[32]) {
    const __m256 magic = _mm256_set1_ps(12582912.0f);
    const __m256i mant = _mm256_set1_epi32(0x007fffff), bias = _mm256_set1_epi32(0x00400000);
    const __m256i zero = _mm256_setzero_si256();
    for (int i = 0; i < 32; i++) {
        __m256 v = _mm256_mul_ps(iscale, _mm256_sub_ps(_mm256_loadu_ps(xt[i]), min));
        __m256i q = _mm256_castps_si256(_mm256_add_ps(v, magic));
        q = _mm256_sub_epi32(_mm256_and_si256(q, mant), bias);
        Lt[i] = _mm256_min_epi32(_mm256_max_epi32(q, zero), nmax);
    }
}

// sum_i w * (scale * L + min - x)^2, in the scalar order.
KV_X8 static __m256 error_x8(const float xt[32][8], const float wt[32][8], const __m256i Lt[32],
                             __m256 scale, __m256 min) {
    __m256 err = _mm256_setzero_ps();
    for (int i = 0; i < 32; i++) {
        __m256 d = _mm256_add_ps(_mm256_mul_ps(scale, _mm256_cvtepi32_ps(Lt[i])), min);
        d = _mm256_sub_ps(d, _mm256_loadu_ps(xt[i]));
        err = _mm256_add_ps(err, _mm256_mul_ps(_mm256_loadu_ps(wt[i]), _mm256_mul_ps(d, d)));
    }
    return err;
}

KV_X8 void kv__kq_fit_affine_x8(const float x[256], const float w[256], int nmax, float rmin,
                                float rdelta, int nstep, uint8_t L[256], float scales[8],
                                float neg_mins[8]) {
    float xt[32][8], wt[32][8];
    for (int j = 0; j < 8; j++)
        for (int i = 0; i < 32; i++) {
            xt[i][j] = x[32 * j + i];
            wt[i][j] = w[32 * j + i];
        }
    __m256 x0 = _mm256_loadu_ps(xt[0]);
    __m256 mn = x0, mx = x0;
    __m256 sum_w = _mm256_loadu_ps(wt[0]);
    __m256 sum_x = _mm256_mul_ps(sum_w, x0);
    for (int i = 1; i < 32; i++) {
        const __m256 xi = _mm256_loadu_ps(xt[i]), wi = _mm256_loadu_ps(wt[i]);
        mn = _mm256_blendv_ps(mn, xi, _mm256_cmp_ps(xi, mn, _CMP_LT_OQ));
        mx = _mm256_blendv_ps(mx, xi, _mm256_cmp_ps(xi, mx, _CMP_GT_OQ));
        sum_w = _mm256_add_ps(sum_w, wi);
        sum_x = _mm256_add_ps(sum_x, _mm256_mul_ps(wi, xi));
    }
    const __m256 zero = _mm256_setzero_ps();
    mn = _mm256_blendv_ps(mn, zero, _mm256_cmp_ps(mn, zero, _CMP_GT_OQ));
    const __m256 flat = _mm256_cmp_ps(mx, mn, _CMP_EQ_OQ); // the scalar twin's early return
    const __m256i nmax_i = _mm256_set1_epi32(nmax);
    const __m256 nmax_f = _mm256_set1_ps((float)nmax);
    __m256 iscale = _mm256_div_ps(nmax_f, _mm256_sub_ps(mx, mn));
    __m256 scale = _mm256_div_ps(_mm256_set1_ps(1.0f), iscale);
    __m256 fmin = mn;
    __m256i Lt[32], Laux[32];
    levels_x8(xt, iscale, mn, nmax_i, Lt);
    __m256 err = error_x8(xt, wt, Lt, scale, mn);
    for (int k = 0; k <= nstep; k++) {
        const float num = rmin + rdelta * (float)k + (float)nmax;
        iscale = _mm256_div_ps(_mm256_set1_ps(num), _mm256_sub_ps(mx, fmin));
        levels_x8(xt, iscale, fmin, nmax_i, Laux);
        __m256 sum_l = zero, sum_l2 = zero, sum_xl = zero;
        for (int i = 0; i < 32; i++) {
            const __m256 l = _mm256_cvtepi32_ps(Laux[i]);
            const __m256 wl = _mm256_mul_ps(_mm256_loadu_ps(wt[i]), l);
            sum_l = _mm256_add_ps(sum_l, wl);
            sum_l2 = _mm256_add_ps(sum_l2, _mm256_mul_ps(wl, l));
            sum_xl = _mm256_add_ps(sum_xl, _mm256_mul_ps(wl, _mm256_loadu_ps(xt[i])));
        }
        const __m256 D =
            _mm256_sub_ps(_mm256_mul_ps(sum_w, sum_l2), _mm256_mul_ps(sum_l, sum_l));
        const __m256 ok = _mm256_cmp_ps(D, zero, _CMP_GT_OQ);
        if (_mm256_movemask_ps(ok) == 0)
            continue;
        __m256 ts = _mm256_div_ps(
            _mm256_sub_ps(_mm256_mul_ps(sum_w, sum_xl), _mm256_mul_ps(sum_x, sum_l)), D);
        __m256 tm = _mm256_div_ps(
            _mm256_sub_ps(_mm256_mul_ps(sum_l2, sum_x), _mm256_mul_ps(sum_l, sum_xl)), D);
        const __m256 pos = _mm256_cmp_ps(tm, zero, _CMP_GT_OQ);
        tm = _mm256_blendv_ps(tm, zero, pos);
        ts = _mm256_blendv_ps(ts, _mm256_div_ps(sum_xl, sum_l2), pos);
        const __m256 e = error_x8(xt, wt, Laux, ts, tm);
        const __m256 better = _mm256_and_ps(ok, _mm256_cmp_ps(e, err, _CMP_LT_OQ));
        if (_mm256_movemask_ps(better) == 0)
            continue;
        const __m256i bi = _mm256_castps_si256(better);
        for (int i = 0; i < 32; i++)
            Lt[i] = _mm256_blendv_epi8(Lt[i], Laux[i], bi);
        err = _mm256_blendv_ps(err, e, better);
        scale = _mm256_blendv_ps(scale, ts, better);
        fmin = _mm256_blendv_ps(fmin, tm, better);
    }
    // flat sub-blocks: L = 0, scale 0, -min as the scalar twin returns them
    scale = _mm256_blendv_ps(scale, zero, flat);
    fmin = _mm256_blendv_ps(fmin, mn, flat);
    const __m256i flat_i = _mm256_castps_si256(flat);
    int32_t lv[32][8];
    for (int i = 0; i < 32; i++)
        _mm256_storeu_si256((__m256i *)lv[i], _mm256_andnot_si256(flat_i, Lt[i]));
    for (int j = 0; j < 8; j++)
        for (int i = 0; i < 32; i++)
            L[32 * j + i] = (uint8_t)lv[i][j];
    _mm256_storeu_ps(scales, scale);
    _mm256_storeu_ps(neg_mins, _mm256_xor_ps(fmin, _mm256_set1_ps(-0.0f))); // -min, as C negates
}

#else

bool kv__kq_have_x8(void) { return false; }

void kv__kq_fit_affine_x8(const float x[256], const float w[256], int nmax, float rmin,
                          float rdelta, int nstep, uint8_t L[256], float scales[8],
                          float neg_mins[8]) {
    uint8_t Laux[32];
    for (int j = 0; j < 8; j++)
        scales[j] = kv__kq_fit_affine(32, nmax, x + 32 * j, w + 32 * j, L + 32 * j, &neg_mins[j],
                                      Laux, rmin, rdelta, nstep, 0);
}

#endif
