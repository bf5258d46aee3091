// Reference dot products of the 32-element block types against Q8_0 / Q8_1
// activations. Each block's products are summed exactly in integers; the float
// part (scale products, then one float accumulator over the blocks) follows
// ggml's generic kernels operation by operation, including where the integer sum
// enters the product: (sumi * d_w) * d_x for Q4_0 but sumi * (d_w * d_x) elsewhere.
// Block layouts are in kvant/kv_blocks.h; nothing here allocates.
#include "kernels/ref/dot_ref.h"

#include "kvant/kv_blocks.h"

// 4-bit quant of element e (0..31) of a block: the low nibbles of qs[0..15] hold
// elements 0..15, the high nibbles elements 16..31.
static inline int nibble(const uint8_t *qs, int e) {
    return e < 16 ? qs[e] & 0x0F : qs[e - 16] >> 4;
}

// 5th bit of element e: bit e of qh read as a little-endian 32-bit word.
static inline int fifth_bit(const uint8_t qh[4], int e) { return (qh[e / 8] >> (e % 8)) & 1; }

// w (n/32 blocks q4_0) . x (n/32 blocks q8_0); weights are nibble - 8
void kv_dot_q4_0_q8_0_ref(int64_t n, float *out, const void *w, const void *x) {
    const kv_block_q4_0 *wb = w;
    const kv_block_q8_0 *xb = x;
    float sum = 0.0f;
    for (int64_t i = 0; i < n / KV_QK4_0; i++) {
        int32_t sumi = 0;
        for (int e = 0; e < KV_QK4_0; e++)
            sumi += (nibble(wb[i].qs, e) - 8) * xb[i].qs[e];
        sum += (float)sumi * kv_f16_to_f32(wb[i].d) * kv_f16_to_f32(xb[i].d);
    }
    *out = sum;
}

// w (n/32 blocks q4_1) . x (n/32 blocks q8_1); weights are d * nibble + m, so the
// m part is m * sum(x), which Q8_1 carries as s.
void kv_dot_q4_1_q8_1_ref(int64_t n, float *out, const void *w, const void *x) {
    const kv_block_q4_1 *wb = w;
    const kv_block_q8_1 *xb = x;
    float sum = 0.0f;
    for (int64_t i = 0; i < n / KV_QK4_1; i++) {
        int32_t sumi = 0;
        for (int e = 0; e < KV_QK4_1; e++)
            sumi += nibble(wb[i].qs, e) * xb[i].qs[e];
        const float d = kv_f16_to_f32(wb[i].d) * kv_f16_to_f32(xb[i].d);
        sum += d * (float)sumi + kv_f16_to_f32(wb[i].m) * kv_f16_to_f32(xb[i].s);
    }
    *out = sum;
}

// w (n/32 blocks q5_0) . x (n/32 blocks q8_0); weights are (nibble | bit << 4) - 16
void kv_dot_q5_0_q8_0_ref(int64_t n, float *out, const void *w, const void *x) {
    const kv_block_q5_0 *wb = w;
    const kv_block_q8_0 *xb = x;
    float sum = 0.0f;
    for (int64_t i = 0; i < n / KV_QK5_0; i++) {
        int32_t sumi = 0;
        for (int e = 0; e < KV_QK5_0; e++) {
            const int q = (nibble(wb[i].qs, e) | fifth_bit(wb[i].qh, e) << 4) - 16;
            sumi += q * xb[i].qs[e];
        }
        sum += kv_f16_to_f32(wb[i].d) * kv_f16_to_f32(xb[i].d) * (float)sumi;
    }
    *out = sum;
}

// w (n/32 blocks q5_1) . x (n/32 blocks q8_1); weights are d * (nibble | bit << 4) + m
void kv_dot_q5_1_q8_1_ref(int64_t n, float *out, const void *w, const void *x) {
    const kv_block_q5_1 *wb = w;
    const kv_block_q8_1 *xb = x;
    float sum = 0.0f;
    for (int64_t i = 0; i < n / KV_QK5_1; i++) {
        int32_t sumi = 0;
        for (int e = 0; e < KV_QK5_1; e++)
            sumi += (nibble(wb[i].qs, e) | fifth_bit(wb[i].qh, e) << 4) * xb[i].qs[e];
        const float d = kv_f16_to_f32(wb[i].d) * kv_f16_to_f32(xb[i].d);
        sum += d * (float)sumi + kv_f16_to_f32(wb[i].m) * kv_f16_to_f32(xb[i].s);
    }
    *out = sum;
}

// w (n/32 blocks q8_0) . x (n/32 blocks q8_0)
void kv_dot_q8_0_q8_0_ref(int64_t n, float *out, const void *w, const void *x) {
    const kv_block_q8_0 *wb = w;
    const kv_block_q8_0 *xb = x;
    float sum = 0.0f;
    for (int64_t i = 0; i < n / KV_QK8_0; i++) {
        int32_t sumi = 0;
        for (int e = 0; e < KV_QK8_0; e++)
            sumi += wb[i].qs[e] * xb[i].qs[e];
        sum += (float)sumi * (kv_f16_to_f32(wb[i].d) * kv_f16_to_f32(xb[i].d));
    }
    *out = sum;
}

// w (n/32 blocks iq4_nl) . x (n/32 blocks q8_0); weights are d * levels[nibble]
void kv_dot_iq4_nl_q8_0_ref(int64_t n, float *out, const void *w, const void *x) {
    const kv_block_iq4_nl *wb = w;
    const kv_block_q8_0 *xb = x;
    float sum = 0.0f;
    for (int64_t i = 0; i < n / KV_QK4_NL; i++) {
        int32_t sumi = 0;
        for (int e = 0; e < KV_QK4_NL; e++)
            sumi += KV_IQ4_LEVELS[nibble(wb[i].qs, e)] * xb[i].qs[e];
        const float d = kv_f16_to_f32(xb[i].d) * kv_f16_to_f32(wb[i].d);
        sum += d * (float)sumi;
    }
    *out = sum;
}
