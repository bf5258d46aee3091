// AVX2 activation converters: rows of floats to Q8_0, Q8_1 and Q8_K blocks, byte
// for byte what the reference converters write (ref/act_quant.c: the quantizers
// of quant/q8.c, and zeros for a row holding Inf or NaN). That means the
// quantizers' exact arithmetic: roundf (halves away from zero, not the
// nearest-even of _mm256_round_ps) then truncation to the low byte for
// Q8_0/Q8_1, ggml's 1.5 * 2^23 rounding trick for Q8_K, and the x86 answers the
// reference's helpers spell out for the infinities that tiny blocks produce.
#if defined(__AVX2__)
#include "kernels/avx2/avx2.h"

#include <math.h>

#include "kernels/avx2/avx2_util.h"
#include "kvant/kv_blocks.h"

static inline __m256 abs_ps(__m256 v) { return _mm256_andnot_ps(_mm256_set1_ps(-0.0f), v); }

// bad | (lanes of v that are Inf or NaN)
static inline __m256 non_finite(__m256 v, __m256 bad) {
    const __m256 inf = _mm256_set1_ps(INFINITY);
    return _mm256_or_ps(bad, _mm256_cmp_ps(abs_ps(v), inf, _CMP_NLT_UQ));
}

// A row holding Inf or NaN cannot be quantized: the reference writes zeros.
static void zero_if_bad(__m256 bad, void *y, size_t size) {
    if (_mm256_movemask_ps(bad) != 0)
        memset(y, 0, size);
}

// max(|v|, m) per lane; a NaN in v leaves m, as fmaxf(m, fabsf(v)) and the
// reference's `fabsf(v) > m` do (maxps returns its second operand on NaN).
static inline __m256 absmax_acc(__m256 v, __m256 m) { return _mm256_max_ps(abs_ps(v), m); }

// roundf of each lane, exact for every float: v - trunc(v) is exact, and a
// fraction of at least one half moves one step away from zero. Infinities give
// Inf - Inf = NaN there, which compares false and leaves them as they are.
static inline __m256 round_away(__m256 v) {
    const __m256 t = _mm256_round_ps(v, _MM_FROUND_TO_ZERO | _MM_FROUND_NO_EXC);
    const __m256 frac = abs_ps(_mm256_sub_ps(v, t));
    const __m256 step = _mm256_or_ps(_mm256_and_ps(v, _mm256_set1_ps(-0.0f)), _mm256_set1_ps(1.0f));
    const __m256 half = _mm256_cmp_ps(frac, _mm256_set1_ps(0.5f), _CMP_GE_OQ);
    return _mm256_add_ps(t, _mm256_and_ps(half, step));
}

// The low bytes of 32 int32 (a holds elements 0..7, b 8..15, ...), in order.
static inline __m256i low_bytes(__m256i a, __m256i b, __m256i c, __m256i d) {
    const __m256i m = _mm256_set1_epi32(0xFF);
    const __m256i ab = _mm256_packus_epi32(_mm256_and_si256(a, m), _mm256_and_si256(b, m));
    const __m256i cd = _mm256_packus_epi32(_mm256_and_si256(c, m), _mm256_and_si256(d, m));
    // packs work per 128-bit lane: dwords come out as a0 b0 c0 d0 | a1 b1 c1 d1
    const __m256i abcd = _mm256_packus_epi16(ab, cd);
    return _mm256_permutevar8x32_epi32(abcd, _mm256_setr_epi32(0, 4, 1, 5, 2, 6, 3, 7));
}

// ---- Q8_0 / Q8_1: d = max|x| / 127, q = roundf(x / d) ----

// Quantizes 32 floats with the reference's arithmetic: returns the 32 quant
// bytes, sets *d and marks Inf and NaN in *bad. cvttps gives INT_MIN for NaN
// and out-of-range values (x * id overflows when d is subnormal), whose low
// byte is 0: the x86 answer the reference's kv__trunc_i8 gives.
static inline __m256i quantize_32(const float *x, float *d, __m256 *bad) {
    __m256 v[4];
    __m256 amax = _mm256_setzero_ps();
    for (int k = 0; k < 4; k++) {
        v[k] = _mm256_loadu_ps(x + 8 * k);
        amax = absmax_acc(v[k], amax);
        *bad = non_finite(v[k], *bad);
    }
    *d = hmax_f32(amax) / 127;
    const __m256 mul = _mm256_set1_ps(*d != 0.0f ? 1.0f / *d : 0.0f);
    __m256i q[4];
    for (int k = 0; k < 4; k++)
        q[k] = _mm256_cvttps_epi32(round_away(rounded(_mm256_mul_ps(v[k], mul))));
    return low_bytes(q[0], q[1], q[2], q[3]);
}

// Quantizes a row of n floats (n % 32 == 0) to Q8_0 blocks
void kv_from_float_q8_0_avx2(const float *x, void *y, int64_t n) {
    kv_block_q8_0 *yb = y;
    __m256 bad = _mm256_setzero_ps();
    for (int64_t i = 0; i < n / KV_QK8_0; i++) {
        float d;
        _mm256_storeu_si256((__m256i *)yb[i].qs, quantize_32(x + i * KV_QK8_0, &d, &bad));
        yb[i].d = f32_to_f16(d);
    }
    zero_if_bad(bad, y, (size_t)(n / KV_QK8_0) * sizeof *yb);
}

// Quantizes a row of n floats (n % 32 == 0) to Q8_1 blocks: Q8_0 plus
// s = d * sum(q), summed from the bytes as stored
void kv_from_float_q8_1_avx2(const float *x, void *y, int64_t n) {
    kv_block_q8_1 *yb = y;
    __m256 bad = _mm256_setzero_ps();
    for (int64_t i = 0; i < n / KV_QK8_1; i++) {
        float d;
        const __m256i q = quantize_32(x + i * KV_QK8_1, &d, &bad);
        _mm256_storeu_si256((__m256i *)yb[i].qs, q);
        const __m256i pairs = _mm256_maddubs_epi16(_mm256_set1_epi8(1), q);
        const int32_t sum = hsum_i32(_mm256_madd_epi16(pairs, _mm256_set1_epi16(1)));
        yb[i].d = f32_to_f16(d);
        yb[i].s = f32_to_f16((float)sum * d);
    }
    zero_if_bad(bad, y, (size_t)(n / KV_QK8_1) * sizeof *yb);
}

// ---- Q8_K: q = nearest(-127 * x / max), max the first value of largest |x| ----

// Index of the first of 256 floats whose magnitude equals amax (one does).
static int first_of_magnitude(const float *x, float amax) {
    const __m256 target = _mm256_set1_ps(amax);
    for (int k = 0; k < KV_QK_K / 8; k++) {
        const __m256 eq = _mm256_cmp_ps(abs_ps(_mm256_loadu_ps(x + 8 * k)), target, _CMP_EQ_OQ);
        const int mask = _mm256_movemask_ps(eq);
        if (mask != 0)
            return 8 * k + __builtin_ctz((unsigned)mask);
    }
    return 0;
}

// The reference's kv__nearest_int of iscale * x (adding 1.5 * 2^23 rounds to
// nearest even and leaves the integer in the low mantissa bits), capped at 127,
// for 8 floats.
static inline __m256i nearest_capped(__m256 x, __m256 iscale) {
    const __m256 product = rounded(_mm256_mul_ps(iscale, x));
    const __m256 shifted = _mm256_add_ps(product, _mm256_set1_ps(12582912.0f));
    const __m256i mantissa = _mm256_set1_epi32(0x007FFFFF);
    const __m256i bits = _mm256_and_si256(_mm256_castps_si256(shifted), mantissa);
    const __m256i v = _mm256_sub_epi32(bits, _mm256_set1_epi32(0x00400000));
    return _mm256_min_epi32(v, _mm256_set1_epi32(127));
}

// bsums from per-32 partial sums: part[g] holds, in lanes 0..3 and 4..7, the
// pieces of the sums of quants 32g..32g+15 and 32g+16..32g+31.
static void store_bsums(const __m256i part[8], int16_t bsums[KV_QK_K / 16]) {
    const __m256i h01 = _mm256_hadd_epi32(part[0], part[1]);
    const __m256i h23 = _mm256_hadd_epi32(part[2], part[3]);
    const __m256i h45 = _mm256_hadd_epi32(part[4], part[5]);
    const __m256i h67 = _mm256_hadd_epi32(part[6], part[7]);
    // lanes: sums 0 2 4 6 | 1 3 5 7, and 8 10 12 14 | 9 11 13 15
    const __m256i s = _mm256_packs_epi32(_mm256_hadd_epi32(h01, h23), _mm256_hadd_epi32(h45, h67));
    const __m128i even = _mm256_castsi256_si128(s), odd = _mm256_extracti128_si256(s, 1);
    _mm_storeu_si128((__m128i *)bsums, _mm_unpacklo_epi16(even, odd));
    _mm_storeu_si128((__m128i *)(bsums + 8), _mm_unpackhi_epi16(even, odd));
}

// One block, marking Inf and NaN in *bad
static void quantize_block_q8_k(const float *x, kv_block_q8_k *y, __m256 *bad) {
    __m256 amax8 = _mm256_setzero_ps();
    for (int k = 0; k < KV_QK_K / 8; k++) {
        const __m256 v = _mm256_loadu_ps(x + 8 * k);
        amax8 = absmax_acc(v, amax8);
        *bad = non_finite(v, *bad);
    }
    const float amax = hmax_f32(amax8);
    if (amax == 0.0f) {
        memset(y, 0, sizeof *y);
        return;
    }
    const float iscale = -127.0f / x[first_of_magnitude(x, amax)];
    const __m256 mul = _mm256_set1_ps(iscale);
    const __m256i ones8 = _mm256_set1_epi8(1), ones16 = _mm256_set1_epi16(1);
    __m256i part[8];
    for (int g = 0; g < 8; g++) {
        const float *xg = x + 32 * g;
        const __m256i q = low_bytes(nearest_capped(_mm256_loadu_ps(xg), mul),
                                    nearest_capped(_mm256_loadu_ps(xg + 8), mul),
                                    nearest_capped(_mm256_loadu_ps(xg + 16), mul),
                                    nearest_capped(_mm256_loadu_ps(xg + 24), mul));
        _mm256_storeu_si256((__m256i *)(y->qs + 32 * g), q);
        part[g] = _mm256_madd_epi16(_mm256_maddubs_epi16(ones8, q), ones16);
    }
    store_bsums(part, y->bsums);
    y->d = 1 / iscale;
}

// Quantizes a row of n floats (n % 256 == 0) to Q8_K blocks
void kv_from_float_q8_k_avx2(const float *x, void *y, int64_t n) {
    kv_block_q8_k *yb = y;
    __m256 bad = _mm256_setzero_ps();
    for (int64_t i = 0; i < n / KV_QK_K; i++)
        quantize_block_q8_k(x + i * KV_QK_K, &yb[i], &bad);
    zero_if_bad(bad, y, (size_t)(n / KV_QK_K) * sizeof *yb);
}

#endif
