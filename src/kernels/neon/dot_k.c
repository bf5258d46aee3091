// NEON dot products of the 256-element super-block types against Q8_K
// activations (formats and reference arithmetic: kernels/ref/dot_k.c). Per
// super-block, the quants are unpacked to signed bytes 16 at a time and
// multiplied with the activation bytes by vdotq_s32; each 16- or 32-element
// group's four int32 lanes are multiplied by its integer sub-block scale and
// added up, so the super-block's sum stays exact in int32. Minimum terms come
// from Q8_K's bsums (the sums of each 16 activation quants, as its quantizer
// writes them). Then one float step per super-block, as the references do for
// Q2_K and the ternary types. Q4_K and Q6_K are in tile_k.c, with their
// register tiles.
#if defined(__ARM_NEON) && defined(__aarch64__)
#if !defined(__ARM_FEATURE_DOTPROD)
#error "kernels/neon needs -march=armv8.2-a+dotprod (cmake/kv_kernels.cmake)"
#endif

#include "kernels/neon/neon.h"
#include "kernels/neon/neon_util.h"
#include "kvant/kv_blocks.h"

enum { QK = KV_QK_K };

// acc + (a . y for 16 bytes) * scale
static inline int32x4_t dot16_scaled(int32x4_t acc, int8x16_t a, const int8_t *y, int scale) {
    return vmlaq_n_s32(acc, vdotq_s32(vdupq_n_s32(0), a, vld1q_s8(y)), scale);
}

// Sum of Q8_K's 16 bsums times 16 int16 factors f (f_lo: groups 0..7).
static inline int32_t bsums_dot(const int16_t bsums[16], int16x8_t f_lo, int16x8_t f_hi) {
    return kv_neon_dot_s16(vld1q_s16(bsums), f_lo) + kv_neon_dot_s16(vld1q_s16(bsums + 8), f_hi);
}

// ---- Q2_K: w = d * (sc & 15) * q - dmin * (sc >> 4), per 16 weights ----

// sum over e of (scales[e / 16] & 15) * q[e] * q8[e]. Bytes 32h..32h+31 of qs
// hold, at bits 2s, weights 128h + 32s + (0..31): scale groups 8h + 2s and +1.
static int32_t q2_k_block(const kv_block_q2_k *w, const int8_t *q8) {
    const uint8x16_t three = vdupq_n_u8(3);
    int32x4_t acc = vdupq_n_s32(0);
    for (int h = 0; h < 2; h++) {
        uint8x16_t b0 = vld1q_u8(w->qs + 32 * h), b1 = vld1q_u8(w->qs + 32 * h + 16);
        for (int s = 0; s < 4; s++) {
            const int g = 8 * h + 2 * s;
            const int8_t *y = q8 + 16 * g;
            acc = dot16_scaled(acc, vreinterpretq_s8_u8(vandq_u8(b0, three)), y, w->scales[g] & 15);
            acc = dot16_scaled(acc, vreinterpretq_s8_u8(vandq_u8(b1, three)), y + 16,
                               w->scales[g + 1] & 15);
            b0 = vshrq_n_u8(b0, 2);
            b1 = vshrq_n_u8(b1, 2);
        }
    }
    return vaddvq_s32(acc);
}

// w (n/256 blocks q2_k) . x (n/256 blocks q8_k)
void kv_dot_q2_k_q8_k_neon(int64_t n, float *out, const void *w, const void *x) {
    const kv_block_q2_k *wb = w;
    const kv_block_q8_k *xb = x;
    float sum = 0.0f;
    for (int64_t i = 0; i < n / QK; i++) {
        const uint8x16_t mins = vshrq_n_u8(vld1q_u8(wb[i].scales), 4);
        const int32_t summs =
            bsums_dot(xb[i].bsums, vreinterpretq_s16_u16(vmovl_u8(vget_low_u8(mins))),
                      vreinterpretq_s16_u16(vmovl_high_u8(mins)));
        const int32_t isum = q2_k_block(&wb[i], xb[i].qs);
        const float dall = xb[i].d * kv_neon_h2f(wb[i].d);
        const float dmin = xb[i].d * kv_neon_h2f(wb[i].dmin);
        sum += dall * (float)isum - dmin * (float)summs;
    }
    *out = sum;
}

// ---- Q3_K: w = d * (scale - 32) * (q - 4 * !hbit), per 16 weights ----

// The sixteen 6-bit scales minus 32. Scale j: low 4 bits in the nibbles of bytes
// 0..7 (j < 8 low nibbles, else high nibbles of byte j - 8), top 2 bits at bits
// 2 * (j / 4) of byte 8 + j % 4; done a 32-bit word (four scales) at a time.
static int8x16_t q3_k_scales(const uint8_t s[12]) {
    uint32_t a[3], v[4];
    memcpy(a, s, sizeof a);
    const uint32_t lo4 = 0x0F0F0F0Fu, lo2 = 0x03030303u;
    v[0] = (a[0] & lo4) | ((a[2] & lo2) << 4);
    v[1] = (a[1] & lo4) | (((a[2] >> 2) & lo2) << 4);
    v[2] = ((a[0] >> 4) & lo4) | (((a[2] >> 4) & lo2) << 4);
    v[3] = ((a[1] >> 4) & lo4) | (((a[2] >> 6) & lo2) << 4);
    return vsubq_s8(vreinterpretq_s8_u32(vld1q_u32(v)), vdupq_n_s8(32));
}

// sum over e of scale[e / 16] * q[e] * q8[e], q as Q2_K's layout minus 4 where
// bit 4h + s of hmask[l] (weight 128h + 32s + l) is clear.
static int32_t q3_k_block(const kv_block_q3_k *w, const int8_t *q8) {
    int8_t scale[16];
    vst1q_s8(scale, q3_k_scales(w->scales));
    const uint8x16_t m0 = vld1q_u8(w->hmask), m1 = vld1q_u8(w->hmask + 16);
    const uint8x16_t three = vdupq_n_u8(3), four = vdupq_n_u8(4);
    int32x4_t acc = vdupq_n_s32(0);
    for (int h = 0; h < 2; h++) {
        uint8x16_t b0 = vld1q_u8(w->qs + 32 * h), b1 = vld1q_u8(w->qs + 32 * h + 16);
        for (int s = 0; s < 4; s++) {
            const int g = 8 * h + 2 * s;
            const uint8x16_t bit = vdupq_n_u8((uint8_t)(1u << (4 * h + s)));
            const uint8x16_t off0 = vbicq_u8(four, vtstq_u8(m0, bit));
            const uint8x16_t off1 = vbicq_u8(four, vtstq_u8(m1, bit));
            const int8x16_t q0 = vreinterpretq_s8_u8(vsubq_u8(vandq_u8(b0, three), off0));
            const int8x16_t q1 = vreinterpretq_s8_u8(vsubq_u8(vandq_u8(b1, three), off1));
            acc = dot16_scaled(acc, q0, q8 + 16 * g, scale[g]);
            acc = dot16_scaled(acc, q1, q8 + 16 * g + 16, scale[g + 1]);
            b0 = vshrq_n_u8(b0, 2);
            b1 = vshrq_n_u8(b1, 2);
        }
    }
    return vaddvq_s32(acc);
}

// w (n/256 blocks q3_k) . x (n/256 blocks q8_k)
void kv_dot_q3_k_q8_k_neon(int64_t n, float *out, const void *w, const void *x) {
    const kv_block_q3_k *wb = w;
    const kv_block_q8_k *xb = x;
    float sum = 0.0f;
    for (int64_t i = 0; i < n / QK; i++)
        sum += kv_neon_h2f(wb[i].d) * xb[i].d * (float)q3_k_block(&wb[i], xb[i].qs);
    *out = sum;
}

// ---- Q5_K: w = d * sc * q - dmin * m, per 32 weights ----

// Sum of mins * x for Q5_K: sub-block j (32 weights) has min mn[j] and the
// two bsums 2j, 2j + 1.
static int32_t k4_mins(const uint8_t mn[8], const int16_t bsums[16]) {
    const int16x8_t pairs = vpaddq_s16(vld1q_s16(bsums), vld1q_s16(bsums + 8));
    return kv_neon_dot_s16(pairs, kv_neon_u8_to_s16(mn));
}

// 16 where bit `bit` of h's bytes is set, OR-ed into the nibbles q.
static inline int8x16_t with_bit4(int8x16_t q, uint8x16_t h, unsigned bit) {
    const uint8x16_t set = vtstq_u8(h, vdupq_n_u8((uint8_t)(1u << bit)));
    return vorrq_s8(q, vreinterpretq_s8_u8(vandq_u8(set, vdupq_n_u8(16))));
}

// sum over e of sc[e / 32] * q[e] * q8[e] for Q5_K: the low nibbles of
// qs[32j + l] are weights 64j + l, the high nibbles 64j + 32 + l, and weight e
// adds 16 where bit e / 32 of qh[e % 32] is set.
static int32_t q5_k_block(const uint8_t *qs, const uint8_t *qh, const uint8_t sc[8],
                          const int8_t *q8) {
    const uint8x16_t h0 = vld1q_u8(qh), h1 = vld1q_u8(qh + 16);
    int32x4_t acc = vdupq_n_s32(0);
    for (int j = 0; j < 4; j++) {
        const uint8x16_t b0 = vld1q_u8(qs + 32 * j), b1 = vld1q_u8(qs + 32 * j + 16);
        const unsigned lo = 2 * (unsigned)j, hi = lo + 1;
        const int8x16_t lo0 = with_bit4(kv_neon_lo4(b0), h0, lo);
        const int8x16_t lo1 = with_bit4(kv_neon_lo4(b1), h1, lo);
        const int8x16_t hi0 = with_bit4(kv_neon_hi4(b0), h0, hi);
        const int8x16_t hi1 = with_bit4(kv_neon_hi4(b1), h1, hi);
        acc = vmlaq_n_s32(acc, kv_neon_dot32(lo0, lo1, q8 + 64 * j), sc[lo]);
        acc = vmlaq_n_s32(acc, kv_neon_dot32(hi0, hi1, q8 + 64 * j + 32), sc[hi]);
    }
    return vaddvq_s32(acc);
}

// w (n/256 blocks q5_k) . x (n/256 blocks q8_k)
void kv_dot_q5_k_q8_k_neon(int64_t n, float *out, const void *w, const void *x) {
    const kv_block_q5_k *wb = w;
    const kv_block_q8_k *xb = x;
    float sum = 0.0f;
    for (int64_t i = 0; i < n / QK; i++) {
        uint8_t sc[8], mn[8];
        kv_neon_k4_scales(wb[i].scales, sc, mn);
        const int32_t isum = q5_k_block(wb[i].qs, wb[i].qh, sc, xb[i].qs);
        const int32_t imin = k4_mins(mn, xb[i].bsums);
        sum += kv_neon_h2f(wb[i].d) * xb[i].d * (float)isum -
               kv_neon_h2f(wb[i].dmin) * xb[i].d * (float)imin;
    }
    *out = sum;
}

// ---- IQ4_XS: w = d * (ls - 32) * levels[nibble], per 32 weights ----

// w (n/256 blocks iq4_xs) . x (n/256 blocks q8_k). Sub-block b: nibbles in
// qs[16b .. 16b + 15] (low: weights 32b + 0..15, high: 32b + 16..31), 6-bit scale
// from nibble b % 2 of scales_l[b / 2] and bits 2b of scales_h.
void kv_dot_iq4_xs_q8_k_neon(int64_t n, float *out, const void *w, const void *x) {
    const kv_block_iq4_xs *wb = w;
    const kv_block_q8_k *xb = x;
    const int8x16_t levels = vld1q_s8(KV_IQ4_LEVELS);
    const uint8x16_t m4 = vdupq_n_u8(0x0F);
    float sum = 0.0f;
    for (int64_t i = 0; i < n / QK; i++) {
        int32x4_t acc = vdupq_n_s32(0);
        for (int b = 0; b < QK / 32; b++) {
            const int ls = ((wb[i].scales_l[b / 2] >> (4 * (b % 2))) & 0x0F) |
                           ((wb[i].scales_h >> (2 * b)) & 3) << 4;
            const uint8x16_t qs = vld1q_u8(wb[i].qs + 16 * b);
            const int32x4_t p =
                kv_neon_dot32(vqtbl1q_s8(levels, vandq_u8(qs, m4)),
                              vqtbl1q_s8(levels, vshrq_n_u8(qs, 4)), xb[i].qs + 32 * b);
            acc = vmlaq_n_s32(acc, p, ls - 32);
        }
        sum += kv_neon_h2f(wb[i].d) * xb[i].d * (float)vaddvq_s32(acc);
    }
    *out = sum;
}

// ---- ternary: w = d * t, t in {-1, 0, 1}, stored as t + 1 ----

// Sum of all 256 activation quants: the t - 1 offset of the ternary types.
static inline int32_t q8_k_total(const int16_t bsums[16]) {
    return vaddlvq_s16(vaddq_s16(vld1q_s16(bsums), vld1q_s16(bsums + 8)));
}

// Trit n of TQ1_0 bytes already multiplied by 3^n (mod 256): the top of 3 * v,
// floor(3v / 256), computed in bytes as ((v + v / 2) / 2) / 64 (the halving add
// drops the same fraction floor(3v / 4) does).
static inline int8x16_t tq1_trit(uint8x16_t v) {
    return vreinterpretq_s8_u8(vshrq_n_u8(vhaddq_u8(v, vshrq_n_u8(v, 1)), 6));
}

// sum over e of (t[e] + 1) * q8[e]. Weight e < 160: trit e / 32 of qs[e % 32];
// e < 240: trit (e - 160) / 16 of qs[32 + (e - 160) % 16]; else trit (e - 240) / 4
// of qh[(e - 240) % 4].
static int32_t tq1_0_block(const kv_block_tq1_0 *w, const int8_t *q8) {
    static const uint8_t pow3_qh[16] = {1, 1, 1, 1, 3, 3, 3, 3, 9, 9, 9, 9, 27, 27, 27, 27};
    const uint8x16_t a0 = vld1q_u8(w->qs), a1 = vld1q_u8(w->qs + 16), a2 = vld1q_u8(w->qs + 32);
    int32x4_t acc = vdupq_n_s32(0);
    uint8_t pow3 = 1;
    for (int t = 0; t < 5; t++, pow3 = (uint8_t)(pow3 * 3)) {
        const uint8x16_t p = vdupq_n_u8(pow3);
        acc = vdotq_s32(acc, tq1_trit(vmulq_u8(a0, p)), vld1q_s8(q8 + 32 * t));
        acc = vdotq_s32(acc, tq1_trit(vmulq_u8(a1, p)), vld1q_s8(q8 + 32 * t + 16));
        acc = vdotq_s32(acc, tq1_trit(vmulq_u8(a2, p)), vld1q_s8(q8 + 160 + 16 * t));
    }
    uint32_t qh;
    memcpy(&qh, w->qh, sizeof qh);
    const uint8x16_t h = vmulq_u8(vreinterpretq_u8_u32(vdupq_n_u32(qh)), vld1q_u8(pow3_qh));
    acc = vdotq_s32(acc, tq1_trit(h), vld1q_s8(q8 + 240));
    return vaddvq_s32(acc);
}

// w (n/256 blocks tq1_0) . x (n/256 blocks q8_k)
void kv_dot_tq1_0_q8_k_neon(int64_t n, float *out, const void *w, const void *x) {
    const kv_block_tq1_0 *wb = w;
    const kv_block_q8_k *xb = x;
    float sum = 0.0f;
    for (int64_t i = 0; i < n / QK; i++) {
        const int32_t sumi = tq1_0_block(&wb[i], xb[i].qs) - q8_k_total(xb[i].bsums);
        sum += (float)sumi * (kv_neon_h2f(wb[i].d) * xb[i].d);
    }
    *out = sum;
}

// sum over e of (t[e] + 1) * q8[e]; Q2_K's 2-bit layout.
static int32_t tq2_0_block(const kv_block_tq2_0 *w, const int8_t *q8) {
    const uint8x16_t three = vdupq_n_u8(3);
    int32x4_t acc = vdupq_n_s32(0);
    for (int h = 0; h < 2; h++) {
        uint8x16_t b0 = vld1q_u8(w->qs + 32 * h), b1 = vld1q_u8(w->qs + 32 * h + 16);
        for (int s = 0; s < 4; s++) {
            const int8_t *y = q8 + 128 * h + 32 * s;
            acc = vdotq_s32(acc, vreinterpretq_s8_u8(vandq_u8(b0, three)), vld1q_s8(y));
            acc = vdotq_s32(acc, vreinterpretq_s8_u8(vandq_u8(b1, three)), vld1q_s8(y + 16));
            b0 = vshrq_n_u8(b0, 2);
            b1 = vshrq_n_u8(b1, 2);
        }
    }
    return vaddvq_s32(acc);
}

// w (n/256 blocks tq2_0) . x (n/256 blocks q8_k)
void kv_dot_tq2_0_q8_k_neon(int64_t n, float *out, const void *w, const void *x) {
    const kv_block_tq2_0 *wb = w;
    const kv_block_q8_k *xb = x;
    float sum = 0.0f;
    for (int64_t i = 0; i < n / QK; i++) {
        const int32_t sumi = tq2_0_block(&wb[i], xb[i].qs) - q8_k_total(xb[i].bsums);
        sum += (float)sumi * (xb[i].d * kv_neon_h2f(wb[i].d));
    }
    *out = sum;
}

#endif
