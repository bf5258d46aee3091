// NEON dot products of IQ3_XXS and IQ3_S against Q8_K (ref/dot_iq3.c is the
// spec). A group of 32 weights is 8 grid points, looked up into two vectors of
// 16 bytes (values <= 62 fit signed bytes); the signs go onto those values
// (each sign byte spread over its 8 lanes and tested against the lane's bit), and
// vdotq_s32 multiplies them with the activations; the group's four int32 lanes are weighted by 2 ls + 1.
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

// 16 grid values (<= 62) with the signs of sign bytes s0 (lanes 0..7) and s1
// (8..15) applied. The signs go onto the weights, not the activations, so any
// activation byte works (-128 included: a negated activation would wrap).
static inline int8x16_t apply_signs(int8x16_t v, uint8_t s0, uint8_t s1) {
    static const uint8_t bits[16] = {1, 2, 4, 8, 16, 32, 64, 128, 1, 2, 4, 8, 16, 32, 64, 128};
    const uint8x16_t s = vcombine_u8(vdup_n_u8(s0), vdup_n_u8(s1));
    const int8x16_t m = vreinterpretq_s8_u8(vtstq_u8(s, vld1q_u8(bits)));
    return vsubq_s8(veorq_s8(v, m), m);
}

// Points idx[0..3] as 16 bytes.
static inline int8x16_t points4(const uint32_t *grid, const int *idx) {
    const uint32_t p[4] = {grid[idx[0]], grid[idx[1]], grid[idx[2]], grid[idx[3]]};
    return vreinterpretq_s8_u32(vld1q_u32(p));
}

// acc + ls * (sum over the group of value * sign * q8), in four int32 lanes
static inline int32x4_t group_dot(int32x4_t acc, const uint32_t *grid, const int idx[8],
                                  const uint8_t signs[4], const int8_t *q8, int ls) {
    int32x4_t p = vdotq_s32(vdupq_n_s32(0), apply_signs(points4(grid, idx), signs[0], signs[1]),
                            vld1q_s8(q8));
    p = vdotq_s32(p, apply_signs(points4(grid, idx + 4), signs[2], signs[3]), vld1q_s8(q8 + 16));
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

// ---- register tiles: a weight row's super-block decoded once for nx activation rows ----

typedef struct {
    int8x16_t values[N_GROUPS][2]; // the group's 32 grid values, signed
    int ls[N_GROUPS];              // 2 ls + 1
    float d;
} iq3_decoded;

static inline void put_group(iq3_decoded *o, int b, const uint32_t *grid, const int idx[8],
                             const uint8_t signs[4]) {
    o->values[b][0] = apply_signs(points4(grid, idx), signs[0], signs[1]);
    o->values[b][1] = apply_signs(points4(grid, idx + 4), signs[2], signs[3]);
}

static void decode_xxs(const kv_block_iq3_xxs *w, const uint32_t *grid, iq3_decoded *o) {
    for (int b = 0; b < N_GROUPS; b++) {
        const uint8_t *ss = w->qs + QK / 4 + 4 * b;
        const uint32_t v = (uint32_t)ss[0] | ((uint32_t)ss[1] << 8) | ((uint32_t)ss[2] << 16) |
                           ((uint32_t)ss[3] << 24);
        int idx[8];
        for (int k = 0; k < 8; k++)
            idx[k] = w->qs[8 * b + k];
        uint8_t signs[4];
        for (int k = 0; k < 4; k++)
            signs[k] = kv__iq3_xxs_signs((v >> (7 * k)) & 127);
        put_group(o, b, grid, idx, signs);
        o->ls[b] = (int)(2 * (v >> 28) + 1);
    }
    o->d = kv_neon_h2f(w->d);
}

static void decode_s(const kv_block_iq3_s *w, const uint32_t *grid, iq3_decoded *o) {
    for (int b = 0; b < N_GROUPS; b++) {
        int idx[8];
        for (int k = 0; k < 8; k++)
            idx[k] = w->qs[8 * b + k] | (((w->qh[b] >> k) & 1) << 8);
        put_group(o, b, grid, idx, w->signs + 4 * b);
        o->ls[b] = 2 * ((w->scales[b / 2] >> (4 * (b % 2))) & 0xF) + 1;
    }
    o->d = kv_neon_h2f(w->d);
}

// The reference's bsum of a decoded super-block against one Q8_K block.
static inline int32_t decoded_dot(const iq3_decoded *w, const int8_t *q8) {
    int32x4_t acc = vdupq_n_s32(0);
    for (int b = 0; b < N_GROUPS; b++) {
        int32x4_t p = vdotq_s32(vdupq_n_s32(0), w->values[b][0], vld1q_s8(q8 + GROUP * b));
        p = vdotq_s32(p, w->values[b][1], vld1q_s8(q8 + GROUP * b + 16));
        acc = vmlaq_n_s32(acc, p, w->ls[b]);
    }
    return vaddvq_s32(acc);
}

// One weight row against nx <= KV_NEON_TILE_IQ3_NX activation rows; each
// column's float steps are vec_dot's, in its order.
static void tile_iq3(kv_type t, int64_t n, float *y, int64_t y_stride, const void *w,
                     const void *x, size_t x_row_size, int64_t nx) {
    const uint32_t *grid = kv__iq3_grid(t);
    float sum[KV_NEON_TILE_IQ3_NX] = {0};
    iq3_decoded dec;
    for (int64_t i = 0; i < n / QK; i++) {
        if (t == KV_TYPE_IQ3_XXS)
            decode_xxs((const kv_block_iq3_xxs *)w + i, grid, &dec);
        else
            decode_s((const kv_block_iq3_s *)w + i, grid, &dec);
        for (int64_t j = 0; j < nx; j++) {
            const kv_block_q8_k *xb =
                (const kv_block_q8_k *)((const uint8_t *)x + j * x_row_size) + i;
            sum[j] += opaque(dec.d * xb->d * (float)decoded_dot(&dec, xb->qs));
        }
    }
    for (int64_t j = 0; j < nx; j++)
        y[j * y_stride] = t == KV_TYPE_IQ3_XXS ? 0.25f * sum[j] : sum[j];
}

void kv_tile_iq3_xxs_q8_k_neon(int64_t n, float *y, int64_t y_stride, const void *w,
                               size_t w_row_size, int64_t nw, const void *x, size_t x_row_size,
                               int64_t nx) {
    for (int64_t r = 0; r < nw; r++)
        tile_iq3(KV_TYPE_IQ3_XXS, n, y + r, y_stride, (const uint8_t *)w + r * w_row_size, x,
                 x_row_size, nx);
}

void kv_tile_iq3_s_q8_k_neon(int64_t n, float *y, int64_t y_stride, const void *w,
                             size_t w_row_size, int64_t nw, const void *x, size_t x_row_size,
                             int64_t nx) {
    for (int64_t r = 0; r < nw; r++)
        tile_iq3(KV_TYPE_IQ3_S, n, y + r, y_stride, (const uint8_t *)w + r * w_row_size, x,
                 x_row_size, nx);
}
#endif
