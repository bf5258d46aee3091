// Small NEON helpers shared by the kernels in neon/: scale conversion, nibble and
// bit unpacking to signed bytes, 32-byte integer dots, rounding floats to bytes.
// static inline only; included by files compiled with the neon/ flags
// (-march=armv8.2-a+dotprod+fp16), which guard themselves on __ARM_NEON.
#ifndef KV_KERNELS_NEON_UTIL_H
#define KV_KERNELS_NEON_UTIL_H

#include <arm_neon.h>
#include <stdint.h>
#include <string.h>

#include "kernels/ref/dot_ref.h"
#include "kvant/kv_f16.h"

#if __BYTE_ORDER__ != __ORDER_LITTLE_ENDIAN__
#error "kernels/neon reads packed words and bits little-endian"
#endif

// A half-precision scale as float (one FCVT: exact, subnormals included).
static inline float kv_neon_h2f(kv_f16 h) {
    __fp16 f;
    memcpy(&f, &h, sizeof f);
    return (float)f;
}

// Low / high nibbles of 16 bytes as bytes 0..15.
static inline int8x16_t kv_neon_lo4(uint8x16_t b) {
    return vreinterpretq_s8_u8(vandq_u8(b, vdupq_n_u8(0x0F)));
}
static inline int8x16_t kv_neon_hi4(uint8x16_t b) { return vreinterpretq_s8_u8(vshrq_n_u8(b, 4)); }

// 0xFF in byte i (0..15) where bit i of bits is set, 0 elsewhere.
static inline uint8x16_t kv_neon_bits16(uint32_t bits) {
    static const uint8_t byte_of[16] = {0, 0, 0, 0, 0, 0, 0, 0, 1, 1, 1, 1, 1, 1, 1, 1};
    static const uint8_t bit_of[16] = {1, 2, 4, 8, 16, 32, 64, 128, 1, 2, 4, 8, 16, 32, 64, 128};
    const uint8x16_t b = vreinterpretq_u8_u16(vdupq_n_u16((uint16_t)bits));
    return vtstq_u8(vqtbl1q_u8(b, vld1q_u8(byte_of)), vld1q_u8(bit_of));
}

// a . y for 32 signed bytes a = (a0, a1) and y[0..31], exactly, spread over four
// int32 lanes (add them for the total).
static inline int32x4_t kv_neon_dot32(int8x16_t a0, int8x16_t a1, const int8_t *y) {
    return vdotq_s32(vdotq_s32(vdupq_n_s32(0), a0, vld1q_s8(y)), a1, vld1q_s8(y + 16));
}

// a . b for eight int16 pairs, exactly.
static inline int32_t kv_neon_dot_s16(int16x8_t a, int16x8_t b) {
    return vaddvq_s32(vmlal_high_s16(vmull_s16(vget_low_s16(a), vget_low_s16(b)), a, b));
}

// Bytes 0..7 as int16.
static inline int16x8_t kv_neon_u8_to_s16(const uint8_t b[8]) {
    return vreinterpretq_s16_u16(vmovl_u8(vld1_u8(b)));
}

// The low bytes of four int32 vectors, in order (C's int -> int8 wrap-around).
static inline int8x16_t kv_neon_narrow_s32(int32x4_t a, int32x4_t b, int32x4_t c, int32x4_t d) {
    const int16x8_t ab = vcombine_s16(vmovn_s32(a), vmovn_s32(b));
    const int16x8_t cd = vcombine_s16(vmovn_s32(c), vmovn_s32(d));
    return vcombine_s8(vmovn_s16(ab), vmovn_s16(cd));
}

// The eight 6-bit scales and mins of a Q4_K or Q5_K super-block's 12 packed
// bytes (layout: ref/dot_k.c's unpack_scale_min_k4), four at a time: sub-blocks
// 0..3 are the low 6 bits of bytes 0..3 (scales) and 4..7 (mins); 4..7 take
// their low 4 bits from the nibbles of bytes 8..11 and their top 2 bits from the
// top of bytes 0..7.
static inline void kv_neon_k4_scales(const uint8_t b[12], uint8_t sc[8], uint8_t mn[8]) {
    uint32_t u[3], s[2], m[2];
    memcpy(u, b, sizeof u);
    const uint32_t lo6 = 0x3F3F3F3Fu, lo4 = 0x0F0F0F0Fu, top2 = 0x30303030u;
    s[0] = u[0] & lo6;
    m[0] = u[1] & lo6;
    s[1] = (u[2] & lo4) | ((u[0] >> 2) & top2);
    m[1] = ((u[2] >> 4) & lo4) | ((u[1] >> 2) & top2);
    memcpy(sc, s, sizeof s);
    memcpy(mn, m, sizeof m);
}

// The reference kernel's dot of the n_left elements at w and x, or 0 when n_left
// is 0: the SIMD loops hand it their remainder.
static inline float kv_neon_ref_tail(kv__dot_ref_fn ref, int64_t n_left, const void *w,
                                     const void *x) {
    float t = 0.0f;
    if (n_left > 0)
        ref(n_left, &t, w, x);
    return t;
}

#endif
