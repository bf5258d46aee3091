// NEON dot products of the float weight types against activations of the same
// type (references: kernels/ref/dot_f16.c), and of F16 keys against F32 queries
// for attention (kernels/ref/dot.c). Halves and bfloat16 are widened to
// float exactly; products are fused-multiply-added into four float vectors
// (16 lanes), added up at the end. The reference sums float products in double,
// so results differ from it by float rounding: at most about (n / 16 + 4)
// roundings of the running lane sums. The last n % 16 elements go to the
// reference kernel.
#if defined(__ARM_NEON) && defined(__aarch64__)
#if !defined(__ARM_FEATURE_DOTPROD)
#error "kernels/neon needs -march=armv8.2-a+dotprod (cmake/kv_kernels.cmake)"
#endif

#include "kernels/kernels.h"
#include "kernels/neon/neon.h"
#include "kernels/neon/neon_util.h"

enum { STEP = 16 };

static inline float sum4(float32x4_t a, float32x4_t b, float32x4_t c, float32x4_t d) {
    return vaddvq_f32(vaddq_f32(vaddq_f32(a, b), vaddq_f32(c, d)));
}

// Eight halves as two float vectors.
static inline void f16x8_to_f32(const kv_f16 *h, float32x4_t *lo, float32x4_t *hi) {
    const float16x8_t v = vreinterpretq_f16_u16(vld1q_u16(h));
    *lo = vcvt_f32_f16(vget_low_f16(v));
    *hi = vcvt_high_f32_f16(v);
}

// Eight bfloat16 as two float vectors: each is the top half of a float.
static inline void bf16x8_to_f32(const kv_bf16 *h, float32x4_t *lo, float32x4_t *hi) {
    const uint16x8_t v = vld1q_u16(h);
    *lo = vreinterpretq_f32_u32(vshll_n_u16(vget_low_u16(v), 16));
    *hi = vreinterpretq_f32_u32(vshll_high_n_u16(v, 16));
}

// Widens eight 16-bit floats (F16 or BF16) to two float vectors.
typedef void (*widen8_fn)(const uint16_t *h, float32x4_t *lo, float32x4_t *hi);

// a (n 16-bit floats) . b (n of the same type), widened by widen; the last n % 16
// go to ref. Inlined with widen a constant, so widen is inlined too.
static inline __attribute__((always_inline)) float dot_16bit(int64_t n, const uint16_t *a,
                                                             const uint16_t *b, widen8_fn widen,
                                                             kv__dot_ref_fn ref) {
    float32x4_t acc0 = vdupq_n_f32(0.0f), acc1 = acc0, acc2 = acc0, acc3 = acc0;
    int64_t i = 0;
    for (; i + STEP <= n; i += STEP) {
        float32x4_t a0, a1, a2, a3, b0, b1, b2, b3;
        widen(a + i, &a0, &a1);
        widen(a + i + 8, &a2, &a3);
        widen(b + i, &b0, &b1);
        widen(b + i + 8, &b2, &b3);
        acc0 = vfmaq_f32(acc0, a0, b0);
        acc1 = vfmaq_f32(acc1, a1, b1);
        acc2 = vfmaq_f32(acc2, a2, b2);
        acc3 = vfmaq_f32(acc3, a3, b3);
    }
    return sum4(acc0, acc1, acc2, acc3) + kv_neon_ref_tail(ref, n - i, a + i, b + i);
}

// w (n floats) . x (n floats)
void kv_dot_f32_f32_neon(int64_t n, float *out, const void *w, const void *x) {
    const float *a = w;
    const float *b = x;
    float32x4_t acc0 = vdupq_n_f32(0.0f), acc1 = acc0, acc2 = acc0, acc3 = acc0;
    int64_t i = 0;
    for (; i + STEP <= n; i += STEP) {
        acc0 = vfmaq_f32(acc0, vld1q_f32(a + i), vld1q_f32(b + i));
        acc1 = vfmaq_f32(acc1, vld1q_f32(a + i + 4), vld1q_f32(b + i + 4));
        acc2 = vfmaq_f32(acc2, vld1q_f32(a + i + 8), vld1q_f32(b + i + 8));
        acc3 = vfmaq_f32(acc3, vld1q_f32(a + i + 12), vld1q_f32(b + i + 12));
    }
    *out = sum4(acc0, acc1, acc2, acc3) + kv_neon_ref_tail(kv_dot_f32_f32_ref, n - i, a + i, b + i);
}

// w (n halves) . x (n halves)
void kv_dot_f16_f16_neon(int64_t n, float *out, const void *w, const void *x) {
    *out = dot_16bit(n, w, x, f16x8_to_f32, kv_dot_f16_f16_ref);
}

// k (n halves) . q (n floats): attention's cached key against a query
void kv_dot_f16_f32_neon(int64_t n, float *out, const void *w, const void *x) {
    const kv_f16 *a = w;
    const float *b = x;
    float32x4_t acc0 = vdupq_n_f32(0.0f), acc1 = acc0, acc2 = acc0, acc3 = acc0;
    int64_t i = 0;
    for (; i + STEP <= n; i += STEP) {
        float32x4_t a0, a1, a2, a3;
        f16x8_to_f32(a + i, &a0, &a1);
        f16x8_to_f32(a + i + 8, &a2, &a3);
        acc0 = vfmaq_f32(acc0, a0, vld1q_f32(b + i));
        acc1 = vfmaq_f32(acc1, a1, vld1q_f32(b + i + 4));
        acc2 = vfmaq_f32(acc2, a2, vld1q_f32(b + i + 8));
        acc3 = vfmaq_f32(acc3, a3, vld1q_f32(b + i + 12));
    }
    *out = sum4(acc0, acc1, acc2, acc3) + kv_neon_ref_tail(kv_dot_f16_f32_ref, n - i, a + i, b + i);
}

// w (n bfloat16) . x (n bfloat16)
void kv_dot_bf16_bf16_neon(int64_t n, float *out, const void *w, const void *x) {
    *out = dot_16bit(n, w, x, bf16x8_to_f32, kv_dot_bf16_bf16_ref);
}

#endif
