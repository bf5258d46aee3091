// AVX2 dot products of the F32 and BF16 weight types against activations of
// the same type (ref/dot_f16.c is the spec; F16 is in tile_f16.c). 32 elements
// per step in four float accumulators with FMA. The reference rounds each
// product and sums in double; these sum in float lanes, as ggml's SIMD paths
// do. A tail of fewer than 32 elements goes to the reference.
//
// BF16's bits (which the AVX-512 packed path, avx512/pack_bf16.c, reproduces):
// element p of every 32-element step has its own float chain, acc_p =
// fma(w_p, x_p, acc_p) over the steps in order from zero; the 32 chains sit in
// four 8-lane sums s0..s3, s0 holding positions 0-3 and 8-11, s1 4-7 and
// 12-15, s2 and s3 the same plus 16, and the dot is
// hsum_f32((s0 + s1) + (s2 + s3)) plus the reference's dot of the tail.
// (That lane order is the one a per-128-bit unpack of zero and bf16 gives.)
#if defined(__AVX2__)
#include "kernels/avx2/avx2.h"

#include "kernels/avx2/avx2_util.h"
#include "kernels/ref/dot_ref.h"

enum { STEP = 32 };

// 16 bfloat16 as floats without a shuffle: read as 8 dwords, element 2i is
// the low half of dword i and 2i + 1 its high half, so shifting each dword up
// 16 bits gives *even (elements 0, 2, .., 14) and clearing its low half *odd
// (1, 3, .., 15): the exact floats, on ALU ports rather than the shuffle port.
static inline void load_bf16_eo(const kv_bf16 *p, __m256 *even, __m256 *odd) {
    const __m256i v = load_256(p);
    *even = _mm256_castsi256_ps(_mm256_slli_epi32(v, 16));
    *odd = _mm256_castsi256_ps(_mm256_and_si256(v, _mm256_set1_epi32((int)0xFFFF0000u)));
}

static inline float sum_4(__m256 a, __m256 b, __m256 c, __m256 d) {
    return hsum_f32(_mm256_add_ps(_mm256_add_ps(a, b), _mm256_add_ps(c, d)));
}

// w (n floats) . x (n floats)
void kv_dot_f32_f32_avx2(int64_t n, float *out, const void *w, const void *x) {
    const float *a = w, *b = x;
    __m256 s0 = _mm256_setzero_ps(), s1 = s0, s2 = s0, s3 = s0;
    int64_t i = 0;
    for (; i + STEP <= n; i += STEP) {
        s0 = _mm256_fmadd_ps(_mm256_loadu_ps(a + i), _mm256_loadu_ps(b + i), s0);
        s1 = _mm256_fmadd_ps(_mm256_loadu_ps(a + i + 8), _mm256_loadu_ps(b + i + 8), s1);
        s2 = _mm256_fmadd_ps(_mm256_loadu_ps(a + i + 16), _mm256_loadu_ps(b + i + 16), s2);
        s3 = _mm256_fmadd_ps(_mm256_loadu_ps(a + i + 24), _mm256_loadu_ps(b + i + 24), s3);
    }
    float rest = 0.0f;
    if (i < n)
        kv_dot_f32_f32_ref(n - i, &rest, a + i, b + i);
    *out = sum_4(s0, s1, s2, s3) + rest;
}

// w (n bfloat16) . x (n bfloat16). The chains of a step's positions 0-15
// are in e0 (even positions) and o0 (odd), 16-31 in e1 and o1; unpacking
// them per 128-bit lane puts them back in the order s0..s3 above
// (unpacklo(e0, o0) = positions 0, 1, 2, 3, 8, 9, 10, 11).
void kv_dot_bf16_bf16_avx2(int64_t n, float *out, const void *w, const void *x) {
    const kv_bf16 *a = w, *b = x;
    __m256 e0 = _mm256_setzero_ps(), o0 = e0, e1 = e0, o1 = e0;
    int64_t i = 0;
    for (; i + STEP <= n; i += STEP) {
        __m256 ae0, ao0, ae1, ao1, be0, bo0, be1, bo1;
        load_bf16_eo(a + i, &ae0, &ao0);
        load_bf16_eo(a + i + 16, &ae1, &ao1);
        load_bf16_eo(b + i, &be0, &bo0);
        load_bf16_eo(b + i + 16, &be1, &bo1);
        e0 = _mm256_fmadd_ps(ae0, be0, e0);
        o0 = _mm256_fmadd_ps(ao0, bo0, o0);
        e1 = _mm256_fmadd_ps(ae1, be1, e1);
        o1 = _mm256_fmadd_ps(ao1, bo1, o1);
    }
    float rest = 0.0f;
    if (i < n)
        kv_dot_bf16_bf16_ref(n - i, &rest, a + i, b + i);
    *out = sum_4(_mm256_unpacklo_ps(e0, o0), _mm256_unpackhi_ps(e0, o0), _mm256_unpacklo_ps(e1, o1),
                 _mm256_unpackhi_ps(e1, o1)) +
           rest;
}

#endif
