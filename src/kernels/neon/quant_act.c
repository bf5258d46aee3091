// NEON activation quantizers to Q8_0, Q8_1 and Q8_K, byte-identical to the
// reference quantizers in quant/q8.c (which are ggml's). The same float
// operations in the same order, per lane: scale from the largest magnitude,
// x * (1 / d) or x * iscale, and the reference's rounding (roundf, ties away
// from zero: vcvtaq; ggml's nearest_int, ties to even: vcvtnq). The vector
// conversions saturate where C's wrap or differ, so a block is quantized in
// vectors only when every scaled value is provably in range: finite inputs and
// a finite, not-too-large inverse scale. Other blocks (NaN or infinite inputs,
// scales so small their inverse overflows) go to the reference quantizer.
#if defined(__ARM_NEON) && defined(__aarch64__)
#if !defined(__ARM_FEATURE_DOTPROD)
#error "kernels/neon needs -march=armv8.2-a+dotprod (cmake/kv_kernels.cmake)"
#endif

#include <math.h>

#include "kernels/neon/neon.h"
#include "kernels/neon/neon_util.h"
#include "kvant/kv_blocks.h"

// Largest |x[i]| of n (a multiple of 16) floats, NaN when any is NaN (FMAX
// propagates NaN, where the reference's fmaxf skips it: such blocks go to the
// reference).
static float absmax(const float *x, int n) {
    float32x4_t m0 = vdupq_n_f32(0.0f), m1 = m0, m2 = m0, m3 = m0;
    for (int i = 0; i < n; i += 16) {
        m0 = vmaxq_f32(m0, vabsq_f32(vld1q_f32(x + i)));
        m1 = vmaxq_f32(m1, vabsq_f32(vld1q_f32(x + i + 4)));
        m2 = vmaxq_f32(m2, vabsq_f32(vld1q_f32(x + i + 8)));
        m3 = vmaxq_f32(m3, vabsq_f32(vld1q_f32(x + i + 12)));
    }
    return vmaxvq_f32(vmaxq_f32(vmaxq_f32(m0, m1), vmaxq_f32(m2, m3)));
}

// roundf(x[i] * id) for 16 floats, as bytes (ties away from zero). Exact when
// every |x[i] * id| < 2^31, where vcvtaq and the reference's conversion agree.
static inline int8x16_t round16(const float *x, float id) {
    return kv_neon_narrow_s32(vcvtaq_s32_f32(vmulq_n_f32(vld1q_f32(x), id)),
                              vcvtaq_s32_f32(vmulq_n_f32(vld1q_f32(x + 4), id)),
                              vcvtaq_s32_f32(vmulq_n_f32(vld1q_f32(x + 8), id)),
                              vcvtaq_s32_f32(vmulq_n_f32(vld1q_f32(x + 12), id)));
}

// One Q8_0 / Q8_1 block's scale d = amax / 127 and id = 1 / d (0 for d = 0),
// the reference's operations. Returns 0 when the block must go to the
// reference: NaN inputs, or some |x * id| >= 2^31 (the largest is amax * id).
static int q8_scale(const float *x, float *d, float *id) {
    const float amax = absmax(x, 32);
    *d = amax / 127;
    *id = *d != 0.0f ? 1.0f / *d : 0.0f;
    return amax * *id < 2147483648.0f;
}

static void q8_0_block(const float *x, kv_block_q8_0 *y) {
    float d, id;
    if (!q8_scale(x, &d, &id)) {
        kv__quantize_q8_0(x, y, 1, KV_QK8_0, NULL);
        return;
    }
    y->d = kv_f32_to_f16(d);
    vst1q_s8(y->qs, round16(x, id));
    vst1q_s8(y->qs + 16, round16(x + 16, id));
}

// Q8_0 plus s = F16(sum(q) * d)
static void q8_1_block(const float *x, kv_block_q8_1 *y) {
    float d, id;
    if (!q8_scale(x, &d, &id)) {
        kv__quantize_q8_1(x, y, 1, KV_QK8_1, NULL);
        return;
    }
    const int8x16_t q0 = round16(x, id), q1 = round16(x + 16, id);
    y->d = kv_f32_to_f16(d);
    vst1q_s8(y->qs, q0);
    vst1q_s8(y->qs + 16, q1);
    const int sum = vaddlvq_s8(q0) + vaddlvq_s8(q1);
    y->s = kv_f32_to_f16((float)sum * d);
}

// min(nearest(x[i] * iscale), 127) for 16 floats, as bytes (ties to even). Exact
// when every |x[i] * iscale| < 2^22, the range of ggml's nearest_int.
static inline int8x16_t nearest16(const float *x, float iscale) {
    const int32x4_t cap = vdupq_n_s32(127);
    return kv_neon_narrow_s32(
        vminq_s32(vcvtnq_s32_f32(vmulq_n_f32(vld1q_f32(x), iscale)), cap),
        vminq_s32(vcvtnq_s32_f32(vmulq_n_f32(vld1q_f32(x + 4), iscale)), cap),
        vminq_s32(vcvtnq_s32_f32(vmulq_n_f32(vld1q_f32(x + 8), iscale)), cap),
        vminq_s32(vcvtnq_s32_f32(vmulq_n_f32(vld1q_f32(x + 12), iscale)), cap));
}

// Q8_K: the scale comes from the first element of largest magnitude, with its
// sign; an all-zero block is all zero bytes (d = 0).
static void q8_k_block(const float *x, kv_block_q8_k *y) {
    const float amax = absmax(x, KV_QK_K);
    if (amax == 0.0f) {
        memset(y, 0, sizeof *y);
        return;
    }
    float iscale = NAN;
    if (isfinite(amax)) { // then some |x[j]| equals it
        int j = 0;
        while (fabsf(x[j]) != amax)
            j++;
        iscale = -127.0f / x[j];
    }
    if (!(fabsf(iscale) * amax < 4194304.0f)) {
        kv__quantize_q8_k(x, y, 1, KV_QK_K, NULL);
        return;
    }
    for (int g = 0; g < KV_QK_K / 16; g++) {
        const int8x16_t q = nearest16(x + 16 * g, iscale);
        vst1q_s8(y->qs + 16 * g, q);
        y->bsums[g] = vaddlvq_s8(q);
    }
    y->d = 1 / iscale;
}

void kv_from_float_q8_0_neon(const float *x, void *y, int64_t n) {
    kv_block_q8_0 *yb = y;
    for (int64_t i = 0; i < n / KV_QK8_0; i++)
        q8_0_block(x + i * KV_QK8_0, &yb[i]);
}

void kv_from_float_q8_1_neon(const float *x, void *y, int64_t n) {
    kv_block_q8_1 *yb = y;
    for (int64_t i = 0; i < n / KV_QK8_1; i++)
        q8_1_block(x + i * KV_QK8_1, &yb[i]);
}

void kv_from_float_q8_k_neon(const float *x, void *y, int64_t n) {
    kv_block_q8_k *yb = y;
    for (int64_t i = 0; i < n / KV_QK_K; i++)
        q8_k_block(x + i * KV_QK_K, &yb[i]);
}

#endif
