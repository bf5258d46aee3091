// Small AVX2 building blocks shared by the kernels in src/kernels/avx2/: loads,
// horizontal sums, unpacking of nibbles, bit planes and K-quant scales, exact
// byte products, F16C scale conversion and e^x. Only files compiled with -mavx2 -mfma -mf16c
// include it; it holds no kernel logic of its own.
#ifndef KV_KERNELS_AVX2_UTIL_H
#define KV_KERNELS_AVX2_UTIL_H

#include <immintrin.h>
#include <stdint.h>
#include <string.h>

#include "kvant/kv_f16.h"

// ---- loads ----

static inline __m256i load_256(const void *p) { return _mm256_loadu_si256((const __m256i *)p); }
static inline __m128i load_128(const void *p) { return _mm_loadu_si128((const __m128i *)p); }

static inline uint32_t load_u32(const void *p) {
    uint32_t u;
    memcpy(&u, p, sizeof u);
    return u;
}

// ---- scales ----

// Exact F16 -> F32 (F16C handles subnormals, infinities and NaN as kv_f16_to_f32).
static inline float f16_to_f32(kv_f16 h) { return _cvtsh_ss(h); }

// The F16 at p, converted straight from memory: an 8-byte load, so 6 more
// bytes after p must be readable (true for the scales at the head of the
// 32-element blocks). Cheaper than f16_to_f32 on Intel: no shuffle-port move.
static inline float f16_at(const kv_f16 *p) {
    return _mm_cvtss_f32(_mm_cvtph_ps(_mm_loadl_epi64((const __m128i *)p)));
}

// F32 -> F16, rounding to nearest even: the same bits as kv_f32_to_f16.
static inline kv_f16 f32_to_f16(float f) {
    return (kv_f16)_cvtss_sh(f, _MM_FROUND_TO_NEAREST_INT);
}

// ---- exact rounding ----

// The references are built without FMA contraction: each product is rounded
// before it is added. An empty asm makes v opaque, so no compiler setting can
// fuse the product that made it into the next add or subtract.
static inline __m256 rounded(__m256 v) {
    __asm__("" : "+x"(v));
    return v;
}

// ---- horizontal reductions ----

static inline float hsum_f32(__m256 v) {
    __m128 s = _mm_add_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
    s = _mm_add_ps(s, _mm_movehl_ps(s, s));
    s = _mm_add_ss(s, _mm_movehdup_ps(s));
    return _mm_cvtss_f32(s);
}

// Largest of 8 floats; none may be NaN.
static inline float hmax_f32(__m256 v) {
    __m128 m = _mm_max_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
    m = _mm_max_ps(m, _mm_movehl_ps(m, m));
    m = _mm_max_ss(m, _mm_movehdup_ps(m));
    return _mm_cvtss_f32(m);
}

static inline int32_t hsum_i32(__m256i v) {
    __m128i s = _mm_add_epi32(_mm256_castsi256_si128(v), _mm256_extracti128_si256(v, 1));
    s = _mm_add_epi32(s, _mm_unpackhi_epi64(s, s));
    s = _mm_add_epi32(s, _mm_shuffle_epi32(s, _MM_SHUFFLE(2, 3, 0, 1)));
    return _mm_cvtsi128_si32(s);
}

// ---- unpacking ----

// The 32 nibbles of 16 bytes as bytes 0..15: the low nibbles first (bytes 0..15
// of the result), then the high nibbles (bytes 16..31), the order of ggml's
// 32-element blocks. The high lane is shifted by 4 as a whole 64-bit word; the
// mask drops what crossed byte borders.
static inline __m256i nibbles_32(const uint8_t *p) {
    const __m256i b = _mm256_broadcastsi128_si256(load_128(p));
    const __m256i s = _mm256_srlv_epi64(b, _mm256_setr_epi64x(0, 0, 4, 4));
    return _mm256_and_si256(s, _mm256_set1_epi8(0x0F));
}

// Bit c (0..7) of each of 32 bytes, as bit 4 (16) of the byte: the fifth bit of
// a Q5_K quant whose bit plane c is q. The 16-bit shifts move no other byte's
// bit into bit 4, and the mask drops the rest.
static inline __m256i fifth_bit(__m256i q, int c) {
    const __m256i s = c < 4 ? _mm256_slli_epi16(q, 4 - c) : _mm256_srli_epi16(q, c - 4);
    return _mm256_and_si256(s, _mm256_set1_epi8(0x10));
}

// Byte j (0..31) is 0xFF when bit j of the little-endian 32-bit word at p is set, else 0.
static inline __m256i bits_to_bytes(const uint8_t *p) {
    const __m256i w = _mm256_set1_epi32((int32_t)load_u32(p));
    const __m256i spread = _mm256_shuffle_epi8(
        w, _mm256_setr_epi8(0, 0, 0, 0, 0, 0, 0, 0, 1, 1, 1, 1, 1, 1, 1, 1, //
                            2, 2, 2, 2, 2, 2, 2, 2, 3, 3, 3, 3, 3, 3, 3, 3));
    const __m256i bit = _mm256_set1_epi64x(0x8040201008040201);
    return _mm256_cmpeq_epi8(_mm256_and_si256(spread, bit), bit);
}

// The eight 6-bit scales (bytes 0..7 of the result) and mins (bytes 8..15) of
// the twelve packed scale bytes of a Q4_K/Q5_K super-block: pairs 0..3 are the
// low 6 bits of bytes 0..3 / 4..7; pairs 4..7 take their low 4 bits from the
// nibbles of bytes 8..11 and their top 2 bits from the spare top bits of bytes
// 0..3 / 4..7.
// In dwords a0..a2 of the twelve bytes: {a0 & m6, (a2 & m4) | (a0 >> 6 & m2) << 4,
// a1 & m6, (a2 >> 4 & m4) | (a1 >> 6 & m2) << 4}, four bytes per dword at once.
static inline __m128i k4_scales_mins(const uint8_t *b) {
    const __m128i v = load_128(b); // the four bytes after the scales are the block's quants
    const __m128i m6 = _mm_set1_epi8(0x3F), m4 = _mm_set1_epi8(0x0F), m2 = _mm_set1_epi8(3);
    const __m128i low = _mm_srlv_epi32(_mm_shuffle_epi32(v, _MM_SHUFFLE(2, 1, 2, 0)),
                                       _mm_setr_epi32(0, 0, 0, 4)); // a0, a2, a1, a2 >> 4
    const __m128i keep = _mm_blend_epi16(m6, m4, 0xCC);              // m6, m4, m6, m4
    const __m128i top = _mm_and_si128(_mm_srli_epi32(_mm_shuffle_epi32(v, _MM_SHUFFLE(1, 1, 0, 0)), 6),
                                      _mm_blend_epi16(_mm_setzero_si128(), m2, 0xCC));
    return _mm_or_si128(_mm_and_si128(low, keep), _mm_slli_epi32(top, 4));
}

// Transposes an 8 x 8 matrix of dwords in place: r[i] lane j <-> r[j] lane i.
static inline void transpose_8x8_i32(__m256i r[8]) {
    __m256i t[8], u[8];
    for (int i = 0; i < 8; i += 2) {
        t[i] = _mm256_unpacklo_epi32(r[i], r[i + 1]);
        t[i + 1] = _mm256_unpackhi_epi32(r[i], r[i + 1]);
    }
    for (int i = 0; i < 8; i += 4) {
        u[i] = _mm256_unpacklo_epi64(t[i], t[i + 2]);
        u[i + 1] = _mm256_unpackhi_epi64(t[i], t[i + 2]);
        u[i + 2] = _mm256_unpacklo_epi64(t[i + 1], t[i + 3]);
        u[i + 3] = _mm256_unpackhi_epi64(t[i + 1], t[i + 3]);
    }
    for (int i = 0; i < 4; i++) {
        r[i] = _mm256_permute2x128_si256(u[i], u[i + 4], 0x20);
        r[i + 4] = _mm256_permute2x128_si256(u[i], u[i + 4], 0x31);
    }
}

// ---- integer products ----

// Sums of 4 adjacent products a * b of signed bytes, as 8 int32. The sign of a
// moves onto b so that maddubs (unsigned x signed) applies: exact for any a,
// -128 included, as long as b is never -128 (Q8 activations are within ±127).
static inline __m256i dot_i8(__m256i a, __m256i b) {
    const __m256i p = _mm256_maddubs_epi16(_mm256_sign_epi8(a, a), _mm256_sign_epi8(b, a));
    return _mm256_madd_epi16(p, _mm256_set1_epi16(1));
}

// Like dot_i8, but the pairs (16 int16) are summed with int16 weights w instead of 1.
static inline __m256i dot_i8_weighted(__m256i a, __m256i b, __m256i w) {
    const __m256i p = _mm256_maddubs_epi16(_mm256_sign_epi8(a, a), _mm256_sign_epi8(b, a));
    return _mm256_madd_epi16(p, w);
}

// ---- picking int16 scales ----

// v holds the same 8 int16 in both 128-bit lanes. Returns int16 number k in
// every slot.
static inline __m256i pick_i16(__m256i v, int k) {
    const int16_t ctrl = (int16_t)((2 * k) | (2 * k + 1) << 8);
    return _mm256_shuffle_epi8(v, _mm256_set1_epi16(ctrl));
}

// v holds the same 8 int16 in both 128-bit lanes. Returns int16 number 2s in the
// low lane and number 2s + 1 in the high lane: the scales of two consecutive
// 16-element groups covered by one 32-byte register.
static inline __m256i pick_pair_i16(__m256i v, int s) {
    const int16_t lo = (int16_t)((4 * s) | (4 * s + 1) << 8);
    const int16_t hi = (int16_t)((4 * s + 2) | (4 * s + 3) << 8);
    const __m256i ctrl = _mm256_setr_epi16(lo, lo, lo, lo, lo, lo, lo, lo, //
                                           hi, hi, hi, hi, hi, hi, hi, hi);
    return _mm256_shuffle_epi8(v, ctrl);
}

// ---- e^x ----

// e^x for 8 floats, within 1 ulp of glibc's expf (a sweep of 7.5 million points
// from -110 to 92; the row tests hold softmax and SiLU to their tolerances).
// x = n ln2 + r with |r| <= ln2 / 2 (ln2 in two parts, so r is exact), a
// degree-6 polynomial fitted to e^r on that interval (relative error 4e-9),
// then 2^n applied as two powers of two, so results overflow to Inf above 88.73
// and fall through the subnormals to 0 with a single rounding. Below -104 the
// result is 0; NaN stays NaN.
static inline __m256 exp_ps(__m256 x) {
    // min/max return their second operand when one is NaN: NaN passes through
    x = _mm256_min_ps(_mm256_set1_ps(89.0f), _mm256_max_ps(_mm256_set1_ps(-104.0f), x));
    const __m256 n = _mm256_round_ps(_mm256_mul_ps(x, _mm256_set1_ps(1.44269504f)),
                                     _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
    __m256 r = _mm256_fnmadd_ps(n, _mm256_set1_ps(0.693359375f), x); // n * ln2_hi is exact
    r = _mm256_fnmadd_ps(n, _mm256_set1_ps(-2.12194440e-4f), r);
    __m256 q = _mm256_set1_ps(1.38146128e-3f);
    q = _mm256_fmadd_ps(q, r, _mm256_set1_ps(8.36871006e-3f));
    q = _mm256_fmadd_ps(q, r, _mm256_set1_ps(4.16683890e-2f));
    q = _mm256_fmadd_ps(q, r, _mm256_set1_ps(1.66665211e-1f));
    q = _mm256_fmadd_ps(q, r, _mm256_set1_ps(4.99999940e-1f));
    const __m256 r_plus = _mm256_fmadd_ps(q, _mm256_mul_ps(r, r), r); // e^r - 1
    const __m256 p = _mm256_add_ps(r_plus, _mm256_set1_ps(1.0f));
    // n is within -150..129: halves of it are valid float exponents
    const __m256i ni = _mm256_cvtps_epi32(n);
    const __m256i n1 = _mm256_srai_epi32(ni, 1), n2 = _mm256_sub_epi32(ni, n1);
    const __m256i bias = _mm256_set1_epi32(127);
    const __m256 s1 = _mm256_castsi256_ps(_mm256_slli_epi32(_mm256_add_epi32(n1, bias), 23));
    const __m256 s2 = _mm256_castsi256_ps(_mm256_slli_epi32(_mm256_add_epi32(n2, bias), 23));
    return _mm256_mul_ps(_mm256_mul_ps(p, s1), s2);
}

#endif
