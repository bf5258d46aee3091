// NEON dot products of IQ3_XXS and IQ3_S against Q8_K (ref/dot_iq3.c is the
// spec). A group of 32 weights is 8 grid points, looked up into two vectors of
// 16 bytes (values <= 62 fit signed bytes); the signs go onto the activations
// (each sign byte spread over its 8 lanes and tested against the lane's bit), and
// vdotq_s32 multiplies; the group's four int32 lanes are weighted by 2 ls + 1.
// The super-block's int32 sum equals the reference's bsum, and the float step
// after it is the reference's, unfused: bit-identical results.
#if defined(__ARM_NEON) && defined(__aarch64__)
#if !defined(__ARM_FEATURE_DOTPROD)
#error "kernels/neon needs -march=armv8.2-a+dotprod (cmake/kv_kernels.cmake)"
#endif

#include "kernels/neon/neon.h"
#include "kernels/neon/neon_util.h"
#include "kvant/kv_blocks.h"

enum { QK = KV_QK_K, GROUP = 32, N_GROUPS = KV_QK_K / 32 };

// A product rounded to float before it is added: no compiler may fuse it with
// the add (the reference does not).
static inline float opaque(float f) {
    __asm__("" : "+w"(f));
    return f;
}

// 16 activations with the signs of sign bytes s0 (lanes 0..7) and s1 (8..15) applied.
static inline int8x16_t signed_q8(const int8_t *q8, uint8_t s0, uint8_t s1) {
    static const uint8_t bits[16] = {1, 2, 4, 8, 16, 32, 64, 128, 1, 2, 4, 8, 16, 32, 64, 128};
    const uint8x16_t s = vcombine_u8(vdup_n_u8(s0), vdup_n_u8(s1));
    const int8x16_t m = vreinterpretq_s8_u8(vtstq_u8(s, vld1q_u8(bits)));
    return vsubq_s8(veorq_s8(vld1q_s8(q8), m), m);
}

// Points idx[0..3] as 16 bytes.
static inline int8x16_t points4(const uint32_t *grid, const int *idx) {
    const uint32_t p[4] = {grid[idx[0]], grid[idx[1]], grid[idx[2]], grid[idx[3]]};
    return vreinterpretq_s8_u32(vld1q_u32(p));
}

// acc + ls * (sum over the group of value * sign * q8), in four int32 lanes
static inline int32x4_t group_dot(int32x4_t acc, const uint32_t *grid, const int idx[8],
                                  const uint8_t signs[4], const int8_t *q8, int ls) {
    int32x4_t p = vdotq_s32(vdupq_n_s32(0), points4(grid, idx), signed_q8(q8, signs[0], signs[1]));
    p = vdotq_s32(p, points4(grid, idx + 4), signed_q8(q8 + 16, signs[2], signs[3]));
    return vmlaq_n_s32(acc, p, ls);
}

void kv_dot_iq3_xxs_q8_k_neon(int64_t n, float *out, const void *w, const void *x) {
    const kv_block_iq3_xxs *wb = w;
    const kv_block_q8_k *xb = x;
    const uint32_t *grid = kv__iq3_grid(KV_TYPE_IQ3_XXS);
    float sum = 0.0f;
    for (int64_t i = 0; i < n / QK; i++) {
        int32x4_t acc = vdupq_n_s32(0);
        for (int b = 0; b < N_GROUPS; b++) {
            const uint8_t *ss = wb[i].qs + QK / 4 + 4 * b;
            const uint32_t v = (uint32_t)ss[0] | ((uint32_t)ss[1] << 8) | ((uint32_t)ss[2] << 16) |
                               ((uint32_t)ss[3] << 24);
            uint8_t signs[4];
            int idx[8];
            for (int k = 0; k < 4; k++)
                signs[k] = kv__iq3_xxs_signs((v >> (7 * k)) & 127);
            for (int k = 0; k < 8; k++)
                idx[k] = wb[i].qs[8 * b + k];
            acc = group_dot(acc, grid, idx, signs, xb[i].qs + GROUP * b, (int)(2 * (v >> 28) + 1));
        }
        sum += opaque(kv_neon_h2f(wb[i].d) * xb[i].d * (float)vaddvq_s32(acc));
    }
    *out = 0.25f * sum;
}

void kv_dot_iq3_s_q8_k_neon(int64_t n, float *out, const void *w, const void *x) {
    const kv_block_iq3_s *wb = w;
    const kv_block_q8_k *xb = x;
    const uint32_t *grid = kv__iq3_grid(KV_TYPE_IQ3_S);
    float sum = 0.0f;
    for (int64_t i = 0; i < n / QK; i++) {
        int32x4_t acc = vdupq_n_s32(0);
        for (int b = 0; b < N_GROUPS; b++) {
            int idx[8];
            for (int k = 0; k < 8; k++)
                idx[k] = wb[i].qs[8 * b + k] | (((wb[i].qh[b] >> k) & 1) << 8);
            const int ls = (wb[i].scales[b / 2] >> (4 * (b % 2))) & 0xF;
            acc = group_dot(acc, grid, idx, wb[i].signs + 4 * b, xb[i].qs + GROUP * b, 2 * ls + 1);
        }
        sum += opaque(kv_neon_h2f(wb[i].d) * xb[i].d * (float)vaddvq_s32(acc));
    }
    *out = sum;
}
#endif
