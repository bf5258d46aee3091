// NEON register tiles and dot products of Q4_K and Q6_K weights against Q8_K
// activations (formats and reference arithmetic: kernels/ref/dot_k.c; the tile
// contract: kv_tile_fn in kernels/kernels.h). A tile multiplies one weight row
// with up to KV_NEON_TILE_K_NX activation rows: a super-block's quants are
// unpacked to bytes and its scales picked once per 32 elements, then multiplied
// with each activation row's bytes by vdotq_s32.
//
// Every (weight row, activation row) pair goes through the same steps whatever
// the number of activation rows, and the dot product is the 1 x 1 tile, so a
// tile gives the bits of vec_dot: per super-block, exact int32 sums in four
// lanes (each 16- or 32-element group's vdot lanes times its integer scale),
// then acc += (d * d_x) * (float)lanes with one fused multiply-add, Q4_K's min
// part in its own accumulator, super-blocks in order; finally vaddvq_f32. With
// any bytes the lanes stay far inside int32 (Q6_K, the largest: below 2^27).
#if defined(__ARM_NEON) && defined(__aarch64__)
#if !defined(__ARM_FEATURE_DOTPROD)
#error "kernels/neon needs -march=armv8.2-a+dotprod (cmake/kv_kernels.cmake)"
#endif

#include "kernels/neon/neon.h"
#include "kernels/neon/neon_util.h"
#include "kvant/kv_blocks.h"

#define NX KV_NEON_TILE_K_NX
_Static_assert(NX == 4, "tile_k_any's cases cover 1..4 activation rows");

#define TILE_INLINE static inline __attribute__((always_inline))
// Loops over a tile's rows unroll fully, so the accumulators live in registers
// (clang reads GCC's "unroll 4" as exactly 4, so it gets its own spelling).
#if defined(__clang__)
#define TILE_UNROLL _Pragma("clang loop unroll(full)")
#else
#define TILE_UNROLL _Pragma("GCC unroll 4")
#endif

typedef struct {
    const uint8_t *w; // one weight row
    const uint8_t *x; // activation rows, x_row_size bytes apart
    size_t x_row_size;
    float *y;         // y[j * y_stride]: activation row j
    int64_t y_stride;
    int64_t nb;       // super-blocks per row
} tile_k_args;

TILE_INLINE const kv_block_q8_k *x_block(const tile_k_args *a, int j, int64_t i) {
    return (const kv_block_q8_k *)(a->x + (size_t)j * a->x_row_size) + i;
}

// ---- Q4_K: w = d * sc * q - dmin * m, per 32 weights ----

// Bytes 32p..32p+31 of qs: low nibbles are weights 64p + (0..31) (scale and min
// 2p), high nibbles 64p + 32 + (0..31) (2p + 1). The min part of sub-block s is
// m[s] times its two bsums, in four int32 lanes.
TILE_INLINE void tile_q4_k(const tile_k_args *a, const int nx) {
    float32x4_t acc[NX], acc_min[NX];
    TILE_UNROLL
    for (int j = 0; j < nx; j++)
        acc[j] = acc_min[j] = vdupq_n_f32(0.0f);
    const kv_block_q4_k *wb = (const kv_block_q4_k *)a->w;
    for (int64_t i = 0; i < a->nb; i++) {
        uint8_t sc[8], mn[8];
        kv_neon_k4_scales(wb[i].scales, sc, mn);
        int32x4_t sum[NX];
        TILE_UNROLL
        for (int j = 0; j < nx; j++)
            sum[j] = vdupq_n_s32(0);
        TILE_UNROLL
        for (int p = 0; p < 4; p++) {
            const uint8_t *qs = wb[i].qs + 32 * p;
            const uint8x16_t b0 = vld1q_u8(qs), b1 = vld1q_u8(qs + 16);
            const int8x16_t lo0 = kv_neon_lo4(b0), lo1 = kv_neon_lo4(b1);
            const int8x16_t hi0 = kv_neon_hi4(b0), hi1 = kv_neon_hi4(b1);
            const int32_t s_lo = sc[2 * p], s_hi = sc[2 * p + 1];
            TILE_UNROLL
            for (int j = 0; j < nx; j++) {
                const int8_t *q8 = x_block(a, j, i)->qs + 64 * p;
                sum[j] = vmlaq_n_s32(sum[j], kv_neon_dot32(lo0, lo1, q8), s_lo);
                sum[j] = vmlaq_n_s32(sum[j], kv_neon_dot32(hi0, hi1, q8 + 32), s_hi);
            }
        }
        const int16x8_t mins = kv_neon_u8_to_s16(mn);
        const float d = kv_neon_h2f(wb[i].d), dmin = kv_neon_h2f(wb[i].dmin);
        TILE_UNROLL
        for (int j = 0; j < nx; j++) {
            const kv_block_q8_k *xb = x_block(a, j, i);
            const int16x8_t pairs = vpaddq_s16(vld1q_s16(xb->bsums), vld1q_s16(xb->bsums + 8));
            const int32x4_t m =
                vmlal_high_s16(vmull_s16(vget_low_s16(pairs), vget_low_s16(mins)), pairs, mins);
            acc[j] = vfmaq_n_f32(acc[j], vcvtq_f32_s32(sum[j]), d * xb->d);
            acc_min[j] = vfmaq_n_f32(acc_min[j], vcvtq_f32_s32(m), dmin * xb->d);
        }
    }
    TILE_UNROLL
    for (int j = 0; j < nx; j++)
        a->y[j * a->y_stride] = vaddvq_f32(vsubq_f32(acc[j], acc_min[j]));
}

// ---- Q6_K: w = d * scale * (q - 32), per 16 weights ----

// q unsigned (0..63); the -32 part is -32 * sum of scale * bsum. Weight
// 128h + 32s + l: low 4 bits from ql[64h + 32(s % 2) + l] (low nibble for
// s < 2), top 2 bits at bits 2s of qh[32h + l], scale group 8h + 2s + l / 16.
// Step p does s = p (low nibbles, qh bits 2p) and s = p + 2 (high nibbles, qh
// bits 2p + 4).
TILE_INLINE void tile_q6_k(const tile_k_args *a, const int nx) {
    float32x4_t acc[NX];
    TILE_UNROLL
    for (int j = 0; j < nx; j++)
        acc[j] = vdupq_n_f32(0.0f);
    const uint8x16_t lo4 = vdupq_n_u8(0x0F), three = vdupq_n_u8(3), top = vdupq_n_u8(0x30);
    const kv_block_q6_k *wb = (const kv_block_q6_k *)a->w;
    for (int64_t i = 0; i < a->nb; i++) {
        int32x4_t sum[NX];
        TILE_UNROLL
        for (int j = 0; j < nx; j++)
            sum[j] = vdupq_n_s32(0);
        TILE_UNROLL
        for (int h = 0; h < 2; h++) {
            uint8x16_t t0 = vld1q_u8(wb[i].qh + 32 * h), t1 = vld1q_u8(wb[i].qh + 32 * h + 16);
            TILE_UNROLL
            for (int p = 0; p < 2; p++) {
                const uint8_t *ql = wb[i].ql + 64 * h + 32 * p;
                const uint8x16_t l0 = vld1q_u8(ql), l1 = vld1q_u8(ql + 16);
                const uint8x16_t u[4] = {
                    vorrq_u8(vandq_u8(l0, lo4), vshlq_n_u8(vandq_u8(t0, three), 4)),
                    vorrq_u8(vandq_u8(l1, lo4), vshlq_n_u8(vandq_u8(t1, three), 4)),
                    vorrq_u8(vshrq_n_u8(l0, 4), vandq_u8(t0, top)),
                    vorrq_u8(vshrq_n_u8(l1, 4), vandq_u8(t1, top)),
                };
                const int g = 8 * h + 2 * p; // groups g, g + 1 (s = p) and g + 4, g + 5
                const int32_t sc[4] = {wb[i].scales[g], wb[i].scales[g + 1], wb[i].scales[g + 4],
                                       wb[i].scales[g + 5]};
                TILE_UNROLL
                for (int j = 0; j < nx; j++) {
                    const int8_t *q8 = x_block(a, j, i)->qs + 16 * g;
                    TILE_UNROLL
                    for (int k = 0; k < 4; k++) {
                        const int8_t *y = q8 + 16 * (k % 2) + 64 * (k / 2);
                        const int32x4_t dot =
                            vdotq_s32(vdupq_n_s32(0), vreinterpretq_s8_u8(u[k]), vld1q_s8(y));
                        sum[j] = vmlaq_n_s32(sum[j], dot, sc[k]);
                    }
                }
                t0 = vshrq_n_u8(t0, 2);
                t1 = vshrq_n_u8(t1, 2);
            }
        }
        const int8x16_t sc8 = vld1q_s8(wb[i].scales);
        const int16x8_t sc_lo = vmovl_s8(vget_low_s8(sc8)), sc_hi = vmovl_high_s8(sc8);
        const float d = kv_neon_h2f(wb[i].d);
        TILE_UNROLL
        for (int j = 0; j < nx; j++) {
            const kv_block_q8_k *xb = x_block(a, j, i);
            const int16x8_t b0 = vld1q_s16(xb->bsums), b1 = vld1q_s16(xb->bsums + 8);
            int32x4_t off = vmull_s16(vget_low_s16(b0), vget_low_s16(sc_lo));
            off = vmlal_high_s16(off, b0, sc_lo);
            off = vmlal_s16(off, vget_low_s16(b1), vget_low_s16(sc_hi));
            off = vmlal_high_s16(off, b1, sc_hi);
            const int32x4_t s = vsubq_s32(sum[j], vshlq_n_s32(off, 5));
            acc[j] = vfmaq_n_f32(acc[j], vcvtq_f32_s32(s), d * xb->d);
        }
    }
    TILE_UNROLL
    for (int j = 0; j < nx; j++)
        a->y[j * a->y_stride] = vaddvq_f32(acc[j]);
}

// ---- entry points ----

// nx (1..NX) activation rows with the tile of exactly that many.
#define TILE_K_ANY(tile, a, nx)                                                                    \
    switch (nx) {                                                                                  \
    case 1: tile(a, 1); break;                                                                     \
    case 2: tile(a, 2); break;                                                                     \
    case 3: tile(a, 3); break;                                                                     \
    default: tile(a, NX); break;                                                                   \
    }

// Defines the dot product (the 1 x 1 tile) and the tile entry point of a type;
// nw is at most the tile's 1, but any count works, a weight row at a time.
#define TILE_K_DEFINE(name, tile)                                                                  \
    void kv_dot_##name##_neon(int64_t n, float *out, const void *w, const void *x) {              \
        const tile_k_args a = {w, x, 0, out, 1, n / KV_QK_K};                                      \
        tile(&a, 1);                                                                               \
    }                                                                                              \
    void kv_tile_##name##_neon(int64_t n, float *y, int64_t y_stride, const void *w,              \
                               size_t w_row_size, int64_t nw, const void *x, size_t x_row_size,   \
                               int64_t nx) {                                                       \
        for (int64_t r = 0; r < nw; r++) {                                                         \
            const tile_k_args a = {(const uint8_t *)w + (size_t)r * w_row_size, x, x_row_size,    \
                                   y + r, y_stride, n / KV_QK_K};                                  \
            TILE_K_ANY(tile, &a, nx)                                                               \
        }                                                                                          \
    }

TILE_K_DEFINE(q4_k_q8_k, tile_q4_k)
TILE_K_DEFINE(q6_k_q8_k, tile_q6_k)

#endif
