// NEON dot products of the 32-element block types against Q8_0 / Q8_1
// activations (formats and reference arithmetic: kernels/ref/dot_q.c). Each
// block's weights are unpacked to signed bytes and multiplied with the
// activation bytes by vdotq_s32 into four exact int32 lanes; those are converted
// to float and fused-multiply-added with the block's scale product d_w * d_x into
// a float vector. Two blocks per step, two accumulators; an odd last block goes
// to the reference kernel. Q4_0 and Q8_0 are in tile_q.c, with their register tiles.
#if defined(__ARM_NEON) && defined(__aarch64__)
#if !defined(__ARM_FEATURE_DOTPROD)
#error "kernels/neon needs -march=armv8.2-a+dotprod (cmake/kv_kernels.cmake)"
#endif

#include "kernels/neon/neon.h"
#include "kernels/neon/neon_util.h"
#include "kvant/kv_blocks.h"

// ---- one block's integer dot, in four int32 lanes ----

// Q4_1: weights nibble (the minimum enters through Q8_1's s)
static inline int32x4_t q4_1_lanes(const kv_block_q4_1 *w, const kv_block_q8_1 *x) {
    const uint8x16_t qs = vld1q_u8(w->qs);
    return kv_neon_dot32(kv_neon_lo4(qs), kv_neon_hi4(qs), x->qs);
}

// Q5_0: weights (nibble | bit << 4) - 16, i.e. nibble - 16 where the bit is clear.
// Bits 0..15 of qh belong to the low nibbles, bits 16..31 to the high ones.
static inline int32x4_t q5_0_lanes(const kv_block_q5_0 *w, const kv_block_q8_0 *x) {
    uint32_t qh;
    memcpy(&qh, w->qh, sizeof qh);
    const uint8x16_t qs = vld1q_u8(w->qs);
    const uint8x16_t sixteen = vdupq_n_u8(16);
    const uint8x16_t off_lo = vbicq_u8(sixteen, kv_neon_bits16(qh));
    const uint8x16_t off_hi = vbicq_u8(sixteen, kv_neon_bits16(qh >> 16));
    return kv_neon_dot32(vsubq_s8(kv_neon_lo4(qs), vreinterpretq_s8_u8(off_lo)),
                         vsubq_s8(kv_neon_hi4(qs), vreinterpretq_s8_u8(off_hi)), x->qs);
}

// Q5_1: weights nibble | bit << 4
static inline int32x4_t q5_1_lanes(const kv_block_q5_1 *w, const kv_block_q8_1 *x) {
    uint32_t qh;
    memcpy(&qh, w->qh, sizeof qh);
    const uint8x16_t qs = vld1q_u8(w->qs);
    const uint8x16_t sixteen = vdupq_n_u8(16);
    const uint8x16_t top_lo = vandq_u8(sixteen, kv_neon_bits16(qh));
    const uint8x16_t top_hi = vandq_u8(sixteen, kv_neon_bits16(qh >> 16));
    return kv_neon_dot32(vorrq_s8(kv_neon_lo4(qs), vreinterpretq_s8_u8(top_lo)),
                         vorrq_s8(kv_neon_hi4(qs), vreinterpretq_s8_u8(top_hi)), x->qs);
}

// IQ4_NL: weights levels[nibble], a 16-byte table lookup
static inline int32x4_t iq4_nl_lanes(const kv_block_iq4_nl *w, const kv_block_q8_0 *x,
                                     int8x16_t levels) {
    const uint8x16_t qs = vld1q_u8(w->qs);
    return kv_neon_dot32(vqtbl1q_s8(levels, vandq_u8(qs, vdupq_n_u8(0x0F))),
                         vqtbl1q_s8(levels, vshrq_n_u8(qs, 4)), x->qs);
}

// acc + lanes * d (the block's scale product), one rounding per lane
static inline float32x4_t scaled_add(float32x4_t acc, int32x4_t lanes, float d) {
    return vfmaq_n_f32(acc, vcvtq_f32_s32(lanes), d);
}

// ---- the types with a minimum (Q4_1, Q5_1) against Q8_1 ----

_Static_assert(KV_QK4_1 == KV_QK8_1 && KV_QK5_1 == KV_QK8_1, "dot_min_q8_1 pairs blocks 1:1");

// Block i of w against x: its four int32 lanes, and its scale *d and minimum *m.
typedef int32x4_t (*min_block_fn)(const void *w, int64_t i, const kv_block_q8_1 *x, float *d,
                                  float *m);

static inline int32x4_t q4_1_block(const void *w, int64_t i, const kv_block_q8_1 *x, float *d,
                                   float *m) {
    const kv_block_q4_1 *b = (const kv_block_q4_1 *)w + i;
    *d = kv_neon_h2f(b->d);
    *m = kv_neon_h2f(b->m);
    return q4_1_lanes(b, x);
}

static inline int32x4_t q5_1_block(const void *w, int64_t i, const kv_block_q8_1 *x, float *d,
                                   float *m) {
    const kv_block_q5_1 *b = (const kv_block_q5_1 *)w + i;
    *d = kv_neon_h2f(b->d);
    *m = kv_neon_h2f(b->m);
    return q5_1_lanes(b, x);
}

// w (n/32 blocks of w_block bytes, read through blk) . x (n/32 blocks q8_1),
// two blocks a step, an odd last one by ref; the minimum part is m_w * s_x.
// Inlined with blk a constant, so blk is inlined too.
static inline __attribute__((always_inline)) float
dot_min_q8_1(int64_t n, const void *w, size_t w_block, const kv_block_q8_1 *xb, min_block_fn blk,
             kv__dot_ref_fn ref) {
    const int64_t nb = n / KV_QK8_1;
    float32x4_t acc0 = vdupq_n_f32(0.0f), acc1 = vdupq_n_f32(0.0f);
    float mins = 0.0f;
    int64_t i = 0;
    for (; i + 2 <= nb; i += 2) {
        float d0, m0, d1, m1;
        const int32x4_t l0 = blk(w, i, &xb[i], &d0, &m0);
        const int32x4_t l1 = blk(w, i + 1, &xb[i + 1], &d1, &m1);
        acc0 = scaled_add(acc0, l0, d0 * kv_neon_h2f(xb[i].d));
        acc1 = scaled_add(acc1, l1, d1 * kv_neon_h2f(xb[i + 1].d));
        mins += m0 * kv_neon_h2f(xb[i].s) + m1 * kv_neon_h2f(xb[i + 1].s);
    }
    return vaddvq_f32(vaddq_f32(acc0, acc1)) + mins +
           kv_neon_ref_tail(ref, n - i * KV_QK8_1, (const uint8_t *)w + i * w_block, xb + i);
}

// ---- the kernels ----

// w (n/32 blocks q4_1) . x (n/32 blocks q8_1)
void kv_dot_q4_1_q8_1_neon(int64_t n, float *out, const void *w, const void *x) {
    *out = dot_min_q8_1(n, w, sizeof(kv_block_q4_1), x, q4_1_block, kv_dot_q4_1_q8_1_ref);
}

// w (n/32 blocks q5_0) . x (n/32 blocks q8_0)
void kv_dot_q5_0_q8_0_neon(int64_t n, float *out, const void *w, const void *x) {
    const kv_block_q5_0 *wb = w;
    const kv_block_q8_0 *xb = x;
    const int64_t nb = n / KV_QK5_0;
    float32x4_t acc0 = vdupq_n_f32(0.0f), acc1 = vdupq_n_f32(0.0f);
    int64_t i = 0;
    for (; i + 2 <= nb; i += 2) {
        acc0 = scaled_add(acc0, q5_0_lanes(&wb[i], &xb[i]),
                          kv_neon_h2f(wb[i].d) * kv_neon_h2f(xb[i].d));
        acc1 = scaled_add(acc1, q5_0_lanes(&wb[i + 1], &xb[i + 1]),
                          kv_neon_h2f(wb[i + 1].d) * kv_neon_h2f(xb[i + 1].d));
    }
    *out = vaddvq_f32(vaddq_f32(acc0, acc1)) +
           kv_neon_ref_tail(kv_dot_q5_0_q8_0_ref, n - i * KV_QK5_0, wb + i, xb + i);
}

// w (n/32 blocks q5_1) . x (n/32 blocks q8_1)
void kv_dot_q5_1_q8_1_neon(int64_t n, float *out, const void *w, const void *x) {
    *out = dot_min_q8_1(n, w, sizeof(kv_block_q5_1), x, q5_1_block, kv_dot_q5_1_q8_1_ref);
}

// w (n/32 blocks iq4_nl) . x (n/32 blocks q8_0)
void kv_dot_iq4_nl_q8_0_neon(int64_t n, float *out, const void *w, const void *x) {
    const kv_block_iq4_nl *wb = w;
    const kv_block_q8_0 *xb = x;
    const int64_t nb = n / KV_QK4_NL;
    const int8x16_t levels = vld1q_s8(KV_IQ4_LEVELS);
    float32x4_t acc0 = vdupq_n_f32(0.0f), acc1 = vdupq_n_f32(0.0f);
    int64_t i = 0;
    for (; i + 2 <= nb; i += 2) {
        acc0 = scaled_add(acc0, iq4_nl_lanes(&wb[i], &xb[i], levels),
                          kv_neon_h2f(wb[i].d) * kv_neon_h2f(xb[i].d));
        acc1 = scaled_add(acc1, iq4_nl_lanes(&wb[i + 1], &xb[i + 1], levels),
                          kv_neon_h2f(wb[i + 1].d) * kv_neon_h2f(xb[i + 1].d));
    }
    *out = vaddvq_f32(vaddq_f32(acc0, acc1)) +
           kv_neon_ref_tail(kv_dot_iq4_nl_q8_0_ref, n - i * KV_QK4_NL, wb + i, xb + i);
}

#endif
