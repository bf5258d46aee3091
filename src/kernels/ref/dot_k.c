// Reference dot products of the 256-element super-block types (Q2_K..Q6_K,
// IQ4_XS, TQ1_0, TQ2_0) against Q8_K activations, with ggml's arithmetic.
// Integer sums are exact; the float steps follow ggml's generic kernels:
//  - Q3_K..Q6_K keep eight float accumulators, one per lane (element index mod 8),
//    each adding d * (its integer lane sum) per super-block, and add them up in
//    lane order at the end; Q4_K/Q5_K subtract their min terms from the running
//    sum before that.
//  - Q2_K, TQ1_0, TQ2_0 add one term per super-block, IQ4_XS one per 32 weights.
// Each kernel first unpacks a super-block's quants to plain integers (one
// function per layout), then does the one obvious loop over them.
#include "kernels/ref/dot_ref.h"

#include "kvant/kv_blocks.h"

enum { QK = KV_QK_K, N_SUB16 = KV_QK_K / 16, N_LANES = 8 };

// ---- shared pieces ----

// lane[l] = sum over e = l (mod 8) of scale[e / 16] * q[e] * q8[e]
static void lane_sums(const int8_t q[QK], const int scale[N_SUB16], const int8_t q8[QK],
                      int32_t lane[N_LANES]) {
    for (int l = 0; l < N_LANES; l++)
        lane[l] = 0;
    for (int e = 0; e < QK; e++)
        lane[e % N_LANES] += scale[e / 16] * (q[e] * q8[e]);
}

// acc[l] += d * lane[l], as ggml's per-lane float accumulators do
static void lane_add(float acc[N_LANES], float d, const int32_t lane[N_LANES]) {
    for (int l = 0; l < N_LANES; l++)
        acc[l] += d * (float)lane[l];
}

// sum + acc[0] + ... + acc[7], left to right
static float lane_total(float sum, const float acc[N_LANES]) {
    for (int l = 0; l < N_LANES; l++)
        sum += acc[l];
    return sum;
}

// The twelve packed scale bytes of Q4_K/Q5_K: eight 6-bit scales and eight 6-bit
// mins. Pairs 0..3 sit in the low 6 bits of bytes 0..3 / 4..7; pairs 4..7 take
// their low 4 bits from the nibbles of bytes 8..11 and their top 2 bits from the
// spare top bits of bytes 0..3 / 4..7.
static void unpack_scale_min_k4(const uint8_t b[KV_K_SCALE_SIZE], int sc[8], int mn[8]) {
    for (int j = 0; j < 4; j++) {
        sc[j] = b[j] & 63;
        mn[j] = b[j + 4] & 63;
    }
    for (int j = 4; j < 8; j++) {
        sc[j] = (b[j + 4] & 0x0F) | (b[j - 4] >> 6) << 4;
        mn[j] = (b[j + 4] >> 4) | (b[j] >> 6) << 4;
    }
}

// ---- Q2_K: w = d * (sc & 15) * q - dmin * (sc >> 4), per 16 weights ----

// w (n/256 blocks q2_k) . x (n/256 blocks q8_k). Weight e is 2 bits of
// qs[32 * (e / 128) + e % 32] at shift 2 * (e % 128 / 32).
void kv_dot_q2_k_q8_k_ref(int64_t n, float *out, const void *w, const void *x) {
    const kv_block_q2_k *wb = w;
    const kv_block_q8_k *xb = x;
    float sum = 0.0f;
    for (int64_t i = 0; i < n / QK; i++) {
        const uint8_t *sc = wb[i].scales;
        int32_t summs = 0; // sum of mins * x, from Q8_K's 16-element sums
        for (int j = 0; j < N_SUB16; j++)
            summs += xb[i].bsums[j] * (sc[j] >> 4);
        int32_t isum = 0;
        for (int e = 0; e < QK; e++) {
            const int q = (wb[i].qs[32 * (e / 128) + e % 32] >> (2 * (e % 128 / 32))) & 3;
            isum += (sc[e / 16] & 0x0F) * (q * xb[i].qs[e]);
        }
        const float dall = xb[i].d * kv_f16_to_f32(wb[i].d);
        const float dmin = xb[i].d * kv_f16_to_f32(wb[i].dmin);
        sum += dall * (float)isum - dmin * (float)summs;
    }
    *out = sum;
}

// ---- Q3_K: w = d * (scale - 32) * (q - 4 * !hbit), per 16 weights ----

// Weight e: 2 bits of qs[32 * (e / 128) + e % 32] at shift 2 * (e % 128 / 32),
// minus 4 unless bit e / 32 of hmask[e % 32] is set.
static void unpack_q3_k(const kv_block_q3_k *b, int8_t q[QK], int scale[N_SUB16]) {
    for (int e = 0; e < QK; e++) {
        const int lo = (b->qs[32 * (e / 128) + e % 32] >> (2 * (e % 128 / 32))) & 3;
        const int hbit = (b->hmask[e % 32] >> (e / 32)) & 1;
        q[e] = (int8_t)(lo - (hbit ? 0 : 4));
    }
    // sixteen 6-bit scales: low 4 bits in the nibbles of bytes 0..7 (scales 0..7
    // low nibbles, 8..15 high nibbles), top 2 bits in bytes 8..11
    const uint8_t *s = b->scales;
    for (int j = 0; j < N_SUB16; j++) {
        const int lo = j < 8 ? s[j] & 0x0F : s[j - 8] >> 4;
        const int hi = (s[8 + j % 4] >> (2 * (j / 4))) & 3;
        scale[j] = (lo | hi << 4) - 32;
    }
}

// w (n/256 blocks q3_k) . x (n/256 blocks q8_k)
void kv_dot_q3_k_q8_k_ref(int64_t n, float *out, const void *w, const void *x) {
    const kv_block_q3_k *wb = w;
    const kv_block_q8_k *xb = x;
    float acc[N_LANES] = {0};
    for (int64_t i = 0; i < n / QK; i++) {
        int8_t q[QK];
        int scale[N_SUB16];
        int32_t lane[N_LANES];
        unpack_q3_k(&wb[i], q, scale);
        lane_sums(q, scale, xb[i].qs, lane);
        lane_add(acc, kv_f16_to_f32(wb[i].d) * xb[i].d, lane);
    }
    *out = lane_total(0.0f, acc);
}

// ---- Q4_K / Q5_K: w = d * sc * q - dmin * m, per 32 weights ----

// Weight e: nibble of qs[32 * (e / 64) + e % 32], low for e % 64 < 32, else high;
// Q5_K adds 16 when bit e / 32 of qh[e % 32] is set (qh NULL for Q4_K).
static void unpack_q45_k(const uint8_t *qs, const uint8_t *qh, int8_t q[QK]) {
    for (int e = 0; e < QK; e++) {
        const uint8_t byte = qs[32 * (e / 64) + e % 32];
        int v = e % 64 < 32 ? byte & 0x0F : byte >> 4;
        if (qh != NULL && (qh[e % 32] >> (e / 32)) & 1)
            v += 16;
        q[e] = (int8_t)v;
    }
}

// One Q4_K/Q5_K super-block: adds the scale part to the lanes and returns the
// integer sum of mins * x (sub-block j of 32 uses min j, bsums come in 16s).
static int32_t q45_k_block(const int8_t q[QK], const uint8_t scales[KV_K_SCALE_SIZE],
                           const kv_block_q8_k *xb, int32_t lane[N_LANES]) {
    int sc[8], mn[8], scale[N_SUB16];
    unpack_scale_min_k4(scales, sc, mn);
    int32_t sumi = 0;
    for (int j = 0; j < N_SUB16; j++) {
        scale[j] = sc[j / 2];
        sumi += xb->bsums[j] * mn[j / 2];
    }
    lane_sums(q, scale, xb->qs, lane);
    return sumi;
}

// w (n/256 blocks q4_k) . x (n/256 blocks q8_k)
void kv_dot_q4_k_q8_k_ref(int64_t n, float *out, const void *w, const void *x) {
    const kv_block_q4_k *wb = w;
    const kv_block_q8_k *xb = x;
    float acc[N_LANES] = {0};
    float sum = 0.0f;
    for (int64_t i = 0; i < n / QK; i++) {
        int8_t q[QK];
        int32_t lane[N_LANES];
        unpack_q45_k(wb[i].qs, NULL, q);
        const int32_t sumi = q45_k_block(q, wb[i].scales, &xb[i], lane);
        lane_add(acc, kv_f16_to_f32(wb[i].d) * xb[i].d, lane);
        sum -= kv_f16_to_f32(wb[i].dmin) * xb[i].d * (float)sumi;
    }
    *out = lane_total(sum, acc);
}

// w (n/256 blocks q5_k) . x (n/256 blocks q8_k)
void kv_dot_q5_k_q8_k_ref(int64_t n, float *out, const void *w, const void *x) {
    const kv_block_q5_k *wb = w;
    const kv_block_q8_k *xb = x;
    float acc[N_LANES] = {0};
    float sum = 0.0f;
    for (int64_t i = 0; i < n / QK; i++) {
        int8_t q[QK];
        int32_t lane[N_LANES];
        unpack_q45_k(wb[i].qs, wb[i].qh, q);
        const int32_t sumi = q45_k_block(q, wb[i].scales, &xb[i], lane);
        lane_add(acc, kv_f16_to_f32(wb[i].d) * xb[i].d, lane);
        sum -= kv_f16_to_f32(wb[i].dmin) * xb[i].d * (float)sumi;
    }
    *out = lane_total(sum, acc);
}

// ---- Q6_K: w = d * scale * (q - 32), per 16 weights ----

// Weight e = 128 h + 32 s + l: low 4 bits from ql[64 h + 32 (s % 2) + l] (low
// nibble for s < 2, high for s >= 2), top 2 bits from qh[32 h + l] at shift 2 s.
static void unpack_q6_k(const kv_block_q6_k *b, int8_t q[QK]) {
    for (int e = 0; e < QK; e++) {
        const int h = e / 128, s = e % 128 / 32, l = e % 32;
        const uint8_t byte = b->ql[64 * h + 32 * (s % 2) + l];
        const int lo = s < 2 ? byte & 0x0F : byte >> 4;
        const int hi = (b->qh[32 * h + l] >> (2 * s)) & 3;
        q[e] = (int8_t)((lo | hi << 4) - 32);
    }
}

// w (n/256 blocks q6_k) . x (n/256 blocks q8_k)
void kv_dot_q6_k_q8_k_ref(int64_t n, float *out, const void *w, const void *x) {
    const kv_block_q6_k *wb = w;
    const kv_block_q8_k *xb = x;
    float acc[N_LANES] = {0};
    for (int64_t i = 0; i < n / QK; i++) {
        int8_t q[QK];
        int scale[N_SUB16];
        int32_t lane[N_LANES];
        unpack_q6_k(&wb[i], q);
        for (int j = 0; j < N_SUB16; j++)
            scale[j] = wb[i].scales[j];
        lane_sums(q, scale, xb[i].qs, lane);
        lane_add(acc, kv_f16_to_f32(wb[i].d) * xb[i].d, lane);
    }
    *out = lane_total(0.0f, acc);
}

// ---- IQ4_XS: w = d * (ls - 32) * levels[nibble], per 32 weights ----

// w (n/256 blocks iq4_xs) . x (n/256 blocks q8_k). Sub-block b (32 weights) has
// the 6-bit scale ls = nibble b % 2 of scales_l[b / 2] | bits 2b..2b+1 of
// scales_h << 4, and its nibbles in qs[16 b .. 16 b + 15] (low first, as IQ4_NL).
void kv_dot_iq4_xs_q8_k_ref(int64_t n, float *out, const void *w, const void *x) {
    const kv_block_iq4_xs *wb = w;
    const kv_block_q8_k *xb = x;
    float sum = 0.0f;
    for (int64_t i = 0; i < n / QK; i++) {
        const float d4d8 = kv_f16_to_f32(wb[i].d) * xb[i].d;
        for (int b = 0; b < QK / 32; b++) {
            const int ls = ((wb[i].scales_l[b / 2] >> (4 * (b % 2))) & 0x0F) |
                           ((wb[i].scales_h >> (2 * b)) & 3) << 4;
            const uint8_t *qs = wb[i].qs + 16 * b;
            const int8_t *q8 = xb[i].qs + 32 * b;
            int32_t sumi = 0;
            for (int e = 0; e < 32; e++) {
                const int nib = e < 16 ? qs[e] & 0x0F : qs[e - 16] >> 4;
                sumi += KV_IQ4_LEVELS[nib] * q8[e];
            }
            sum += d4d8 * (float)(ls - 32) * (float)sumi;
        }
    }
    *out = sum;
}

// ---- ternary: w = d * t, t in {-1, 0, 1} ----

// Trit n (0..4) of a TQ1_0 byte, 0..2: the byte is a base-3 fraction scaled to
// 256, so multiplying by 3^n (mod 256) brings trit n to the top.
static inline int tq1_trit(uint8_t byte, int n) {
    static const uint8_t pow3[5] = {1, 3, 9, 27, 81};
    const uint8_t q = (uint8_t)(byte * pow3[n]);
    return ((uint16_t)q * 3) >> 8;
}

// Weight e: e < 160 trit e / 32 of qs[e % 32]; e < 240 trit (e - 160) / 16 of
// qs[32 + (e - 160) % 16]; else trit (e - 240) / 4 of qh[(e - 240) % 4].
static int tq1_0_weight(const kv_block_tq1_0 *b, int e) {
    if (e < 160)
        return tq1_trit(b->qs[e % 32], e / 32) - 1;
    if (e < 240)
        return tq1_trit(b->qs[32 + (e - 160) % 16], (e - 160) / 16) - 1;
    return tq1_trit(b->qh[(e - 240) % 4], (e - 240) / 4) - 1;
}

// w (n/256 blocks tq1_0) . x (n/256 blocks q8_k)
void kv_dot_tq1_0_q8_k_ref(int64_t n, float *out, const void *w, const void *x) {
    const kv_block_tq1_0 *wb = w;
    const kv_block_q8_k *xb = x;
    float sum = 0.0f;
    for (int64_t i = 0; i < n / QK; i++) {
        int32_t sumi = 0;
        for (int e = 0; e < QK; e++)
            sumi += tq1_0_weight(&wb[i], e) * xb[i].qs[e];
        sum += (float)sumi * (kv_f16_to_f32(wb[i].d) * xb[i].d);
    }
    *out = sum;
}

// w (n/256 blocks tq2_0) . x (n/256 blocks q8_k). Weight e is 2 bits (t + 1) of
// qs[32 * (e / 128) + e % 32] at shift 2 * (e % 128 / 32).
void kv_dot_tq2_0_q8_k_ref(int64_t n, float *out, const void *w, const void *x) {
    const kv_block_tq2_0 *wb = w;
    const kv_block_q8_k *xb = x;
    float sum = 0.0f;
    for (int64_t i = 0; i < n / QK; i++) {
        int32_t sumi = 0;
        for (int e = 0; e < QK; e++) {
            const int t = ((wb[i].qs[32 * (e / 128) + e % 32] >> (2 * (e % 128 / 32))) & 3) - 1;
            sumi += t * xb[i].qs[e];
        }
        sum += (float)sumi * (xb[i].d * kv_f16_to_f32(wb[i].d));
    }
    *out = sum;
}
