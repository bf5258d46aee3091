// NEON row operations of the runtime (references: kernels/ref/norm.c, act.c,
// rope.c, dot.c): RMS norm, softmax, SiLU * up, residual add, the F16 axpy of
// attention, RoPE. Four floats per vector; element-wise tails go to the
// reference kernels, and the reductions (RMS norm, softmax) pad their last
// partial vector instead (zeros, -inf), since the reference cannot take part
// of a sum. Softmax sums in float lanes where the reference uses double, e^x is
// a polynomial (exp4 below), so results differ from the references by float
// rounding: a few ulps of each value, n / 16 roundings of softmax's sum.
#if defined(__ARM_NEON) && defined(__aarch64__)
#if !defined(__ARM_FEATURE_DOTPROD)
#error "kernels/neon needs -march=armv8.2-a+dotprod (cmake/kv_kernels.cmake)"
#endif

#include <math.h>

#include "kernels/kernels.h"
#include "kernels/neon/neon.h"
#include "kernels/neon/neon_util.h"

// e^x for four floats, within 2 ulps of expf (subnormal results included):
// e^x = 2^n * e^r with n = round(x / ln 2), r = x - n ln 2 (|r| <= ln 2 / 2, ln 2
// in two parts), e^r by its Taylor polynomial to r^7 (error < 2^-27), and 2^n
// applied as two powers of two so that results down to the subnormals and up to
// overflow come out rounded once. x is clamped to [-104, 89] first: e^-104 rounds
// to 0 and e^89 overflows, as expf does; NaN stays NaN.
static inline float32x4_t exp4(float32x4_t x) {
    static const float TAYLOR[8] = {1.0f,      1.0f,       1.0f / 2,   1.0f / 6,
                                    1.0f / 24, 1.0f / 120, 1.0f / 720, 1.0f / 5040};
    x = vminq_f32(vmaxq_f32(x, vdupq_n_f32(-104.0f)), vdupq_n_f32(89.0f));
    const float32x4_t n = vrndnq_f32(vmulq_n_f32(x, 1.44269504089f));
    float32x4_t r = vfmsq_f32(x, n, vdupq_n_f32(0.693145751953125f)); // ln 2, high bits
    r = vfmsq_f32(r, n, vdupq_n_f32(1.428606765330187e-06f));         // ln 2, the rest
    float32x4_t p = vdupq_n_f32(TAYLOR[7]);
    for (int k = 6; k >= 0; k--)
        p = vfmaq_f32(vdupq_n_f32(TAYLOR[k]), p, r);
    const int32x4_t ni = vcvtq_s32_f32(n); // -150..128
    const int32x4_t n1 = vshrq_n_s32(ni, 1), n2 = vsubq_s32(ni, n1);
    const int32x4_t bias = vdupq_n_s32(127);
    const float32x4_t s1 = vreinterpretq_f32_s32(vshlq_n_s32(vaddq_s32(n1, bias), 23));
    const float32x4_t s2 = vreinterpretq_f32_s32(vshlq_n_s32(vaddq_s32(n2, bias), 23));
    return vmulq_f32(vmulq_f32(p, s1), s2);
}

// The last n_left (< 4) floats of a row as a vector, padded with pad.
static inline float32x4_t load_tail(const float *x, int64_t n_left, float pad) {
    float t[4] = {pad, pad, pad, pad};
    memcpy(t, x, (size_t)n_left * sizeof(float));
    return vld1q_f32(t);
}

static inline void store_tail(float *y, int64_t n_left, float32x4_t v) {
    float t[4];
    vst1q_f32(t, v);
    memcpy(y, t, (size_t)n_left * sizeof(float));
}

// acc + the squares of four floats, in double (exact products)
static inline float64x2_t add_squares(float64x2_t acc, float32x4_t v) {
    const float64x2_t lo = vcvt_f64_f32(vget_low_f32(v)), hi = vcvt_high_f64_f32(v);
    return vfmaq_f64(vfmaq_f64(acc, lo, lo), hi, hi);
}

// x (n) -> y (n) = x * 1/sqrt(mean(x^2) + eps) * w. The mean square is summed in
// double, as the reference does: float lanes would overflow for |x| > 2^63 / n.
void kv_rmsnorm_neon(int64_t n, float *y, const float *x, const float *w, float eps) {
    float64x2_t s0 = vdupq_n_f64(0.0), s1 = s0;
    int64_t i = 0;
    for (; i + 8 <= n; i += 8) {
        s0 = add_squares(s0, vld1q_f32(x + i));
        s1 = add_squares(s1, vld1q_f32(x + i + 4));
    }
    for (; i < n; i += 4)
        s0 = add_squares(s0, i + 4 <= n ? vld1q_f32(x + i) : load_tail(x + i, n - i, 0.0f));
    const float mean = (float)(vaddvq_f64(vaddq_f64(s0, s1)) / (double)n);
    const float scale = 1.0f / sqrtf(mean + eps);
    for (i = 0; i + 4 <= n; i += 4) {
        const float32x4_t v = vmulq_n_f32(vld1q_f32(x + i), scale);
        vst1q_f32(y + i, w ? vmulq_f32(v, vld1q_f32(w + i)) : v);
    }
    if (i < n) {
        const float32x4_t v = vmulq_n_f32(load_tail(x + i, n - i, 0.0f), scale);
        store_tail(y + i, n - i, w ? vmulq_f32(v, load_tail(w + i, n - i, 0.0f)) : v);
    }
}

// Largest of n floats, ignoring NaN (as the reference's x > max does); -inf
// when there is none.
static float row_max(int64_t n, const float *x) {
    float32x4_t m = vdupq_n_f32(-INFINITY);
    int64_t i = 0;
    for (; i + 4 <= n; i += 4)
        m = vmaxnmq_f32(m, vld1q_f32(x + i));
    if (i < n)
        m = vmaxnmq_f32(m, load_tail(x + i, n - i, -INFINITY));
    return vmaxnmvq_f32(m); // FMAXNM takes the number over a NaN
}

// x (n) -> softmax(x), in place; a row with no value above -inf becomes zeros
void kv_softmax_neon(int64_t n, float *x) {
    const float max = row_max(n, x);
    if (max == -INFINITY) {
        memset(x, 0, (size_t)n * sizeof(float));
        return;
    }
    const float32x4_t vmax = vdupq_n_f32(max);
    float32x4_t s0 = vdupq_n_f32(0.0f), s1 = s0;
    int64_t i = 0;
    for (; i + 8 <= n; i += 8) {
        const float32x4_t e0 = exp4(vsubq_f32(vld1q_f32(x + i), vmax));
        const float32x4_t e1 = exp4(vsubq_f32(vld1q_f32(x + i + 4), vmax));
        vst1q_f32(x + i, e0);
        vst1q_f32(x + i + 4, e1);
        s0 = vaddq_f32(s0, e0);
        s1 = vaddq_f32(s1, e1);
    }
    for (; i < n; i += 4) {
        const int64_t k = n - i < 4 ? n - i : 4;
        const float32x4_t e = exp4(vsubq_f32(load_tail(x + i, k, -INFINITY), vmax));
        store_tail(x + i, k, e);
        s0 = vaddq_f32(s0, e);
    }
    const float inv = 1.0f / vaddvq_f32(vaddq_f32(s0, s1));
    for (i = 0; i + 4 <= n; i += 4)
        vst1q_f32(x + i, vmulq_n_f32(vld1q_f32(x + i), inv));
    if (i < n)
        store_tail(x + i, n - i, vmulq_n_f32(load_tail(x + i, n - i, 0.0f), inv));
}

// gate (n), up (n) -> y (n) = gate / (1 + e^-gate) * up
void kv_silu_mul_neon(int64_t n, float *y, const float *gate, const float *up) {
    const float32x4_t one = vdupq_n_f32(1.0f);
    int64_t i = 0;
    for (; i + 4 <= n; i += 4) {
        const float32x4_t g = vld1q_f32(gate + i);
        const float32x4_t s = vdivq_f32(g, vaddq_f32(one, exp4(vnegq_f32(g))));
        vst1q_f32(y + i, vmulq_f32(s, vld1q_f32(up + i)));
    }
    if (i < n)
        kv_silu_mul_ref(n - i, y + i, gate + i, up + i);
}

// y (n) += x (n)
void kv_add_neon(int64_t n, float *y, const float *x) {
    int64_t i = 0;
    for (; i + 4 <= n; i += 4)
        vst1q_f32(y + i, vaddq_f32(vld1q_f32(y + i), vld1q_f32(x + i)));
    if (i < n)
        kv_add_ref(n - i, y + i, x + i);
}

// y (n) += a * v (n), v in F16
void kv_axpy_f16_neon(int64_t n, float *y, float a, const kv_f16 *v) {
    int64_t i = 0;
    for (; i + 8 <= n; i += 8) {
        const float16x8_t h = vreinterpretq_f16_u16(vld1q_u16(v + i));
        vst1q_f32(y + i, vfmaq_n_f32(vld1q_f32(y + i), vcvt_f32_f16(vget_low_f16(h)), a));
        vst1q_f32(y + i + 4, vfmaq_n_f32(vld1q_f32(y + i + 4), vcvt_high_f32_f16(h), a));
    }
    if (i < n)
        kv_axpy_f16_ref(n - i, y + i, a, v + i);
}

// x (n_head, head_dim), pairs (2i, 2i + 1) for 2i < n_rot rotated in place by
// cs = {cos, sin} pairs; four pairs per step, deinterleaved by vld2q.
void kv_rope_neon(float *x, int64_t n_head, int64_t head_dim, int64_t n_rot, const float *cs) {
    const int64_t n_pairs = n_rot / 2;
    for (int64_t h = 0; h < n_head; h++) {
        float *v = x + h * head_dim;
        int64_t i = 0;
        for (; i + 4 <= n_pairs; i += 4) {
            const float32x4x2_t p = vld2q_f32(v + 2 * i), t = vld2q_f32(cs + 2 * i);
            float32x4x2_t r;
            r.val[0] = vfmsq_f32(vmulq_f32(p.val[0], t.val[0]), p.val[1], t.val[1]);
            r.val[1] = vfmaq_f32(vmulq_f32(p.val[0], t.val[1]), p.val[1], t.val[0]);
            vst2q_f32(v + 2 * i, r);
        }
        if (i < n_pairs)
            kv_rope_ref(v + 2 * i, 1, head_dim, 2 * (n_pairs - i), cs + 2 * i);
    }
}

#endif
