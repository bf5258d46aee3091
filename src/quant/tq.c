// Ternary types TQ1_0 and TQ2_0 (BitNet b1.58 / TriLM weights): each weight is
// -1, 0 or +1 times the block's absolute maximum. Bit-identical to ggml's reference
// quantizers; an importance matrix is ignored, as in ggml.
//
// TQ1_0 packs 5 trits per byte as a base-3 number scaled to a byte,
// q = ceil(t * 256 / 243), so trit n of byte q is ((q * 3^n mod 256) * 3) >> 8.
// Its 256 weights: qs[0..31] hold weights m + 32 n (n = 0..4, most significant
// first), qs[32..47] weights 160 + m + 16 n, qh[0..3] (4 trits, one spare) weights
// 240 + j + 4 n. TQ2_0 stores 2 bits per weight (t + 1), weight m + 32 n of each
// 128 in bits 2n of byte m.
#include "quant/quant_int.h"

static const uint8_t POW3[6] = {1, 3, 9, 27, 81, 243};

// ternary level of v = x / max, shifted to 0..2
static inline int trit(float v) { return kv__lround_int(v) + 1; }

// Scales a base-3 number of 5 trits (0..242) up to a byte, rounding up.
static inline uint8_t trits_to_byte(uint8_t q) {
    return (uint8_t)(((uint16_t)q * 256 + 242) / 243);
}

static float block_amax(const float *x) {
    float amax = 0.0f;
    for (int j = 0; j < KV_QK_K; j++)
        amax = amax > fabsf(x[j]) ? amax : fabsf(x[j]);
    return amax;
}

// ---- TQ1_0 ----

// n_bytes bytes of 5 trits each; byte m takes weights m + stride * n.
static void pack_5trits(const float *x, float id, int n_bytes, int stride, uint8_t *out) {
    for (int m = 0; m < n_bytes; m++) {
        uint8_t q = 0;
        for (int n = 0; n < 5; n++)
            q = (uint8_t)(q * 3 + trit(x[m + n * stride] * id));
        out[m] = trits_to_byte(q);
    }
}

static void quantize_block_tq1_0(const float *x, kv_block_tq1_0 *y) {
    const float d = block_amax(x);
    const float id = d != 0.0f ? 1.0f / d : 0.0f;
    y->d = kv_f32_to_f16(d);
    pack_5trits(x, id, 32, 32, y->qs);
    pack_5trits(x + 160, id, 16, 16, y->qs + 32);
    for (int j = 0; j < 4; j++) {
        uint8_t q = 0;
        for (int n = 0; n < 4; n++)
            q = (uint8_t)(q * 3 + trit(x[240 + j + 4 * n] * id));
        y->qh[j] = trits_to_byte((uint8_t)(q * 3)); // the spare trit is the least significant
    }
}

void kv__quantize_tq1_0(const float *src, void *dst, int64_t n_rows, int64_t n_per_row,
                        const float *imatrix) {
    (void)imatrix;
    kv_block_tq1_0 *y = dst;
    const int64_t nb = n_rows * (n_per_row / KV_QK_K);
    for (int64_t i = 0; i < nb; i++)
        quantize_block_tq1_0(src + i * KV_QK_K, &y[i]);
}

static inline float trit_value(uint8_t byte, int n, float d) {
    const uint8_t q = (uint8_t)(byte * POW3[n]);
    const int t = ((uint16_t)q * 3) >> 8;
    return (float)(t - 1) * d;
}

void kv__dequantize_tq1_0(const void *src, float *dst, int64_t k) {
    const kv_block_tq1_0 *x = src;
    for (int64_t i = 0; i < k / KV_QK_K; i++) {
        const float d = kv_f16_to_f32(x[i].d);
        float *y = dst + i * KV_QK_K;
        for (int n = 0; n < 5; n++)
            for (int m = 0; m < 32; m++)
                y[m + 32 * n] = trit_value(x[i].qs[m], n, d);
        for (int n = 0; n < 5; n++)
            for (int m = 0; m < 16; m++)
                y[160 + m + 16 * n] = trit_value(x[i].qs[32 + m], n, d);
        for (int n = 0; n < 4; n++)
            for (int j = 0; j < 4; j++)
                y[240 + j + 4 * n] = trit_value(x[i].qh[j], n, d);
    }
}

// ---- TQ2_0 ----

static void quantize_block_tq2_0(const float *x, kv_block_tq2_0 *y) {
    const float d = block_amax(x);
    const float id = d != 0.0f ? 1.0f / d : 0.0f;
    y->d = kv_f32_to_f16(d);
    for (int j = 0; j < KV_QK_K / 4; j += 32, x += 128) {
        for (int m = 0; m < 32; m++) {
            uint8_t q = 0;
            for (int n = 0; n < 4; n++)
                q = (uint8_t)(q + ((trit(x[m + 32 * n] * id) & 3) << (2 * n)));
            y->qs[j + m] = q;
        }
    }
}

void kv__quantize_tq2_0(const float *src, void *dst, int64_t n_rows, int64_t n_per_row,
                        const float *imatrix) {
    (void)imatrix;
    kv_block_tq2_0 *y = dst;
    const int64_t nb = n_rows * (n_per_row / KV_QK_K);
    for (int64_t i = 0; i < nb; i++)
        quantize_block_tq2_0(src + i * KV_QK_K, &y[i]);
}

void kv__dequantize_tq2_0(const void *src, float *dst, int64_t k) {
    const kv_block_tq2_0 *x = src;
    for (int64_t i = 0; i < k / KV_QK_K; i++) {
        const float d = kv_f16_to_f32(x[i].d);
        float *y = dst + i * KV_QK_K;
        for (int j = 0; j < KV_QK_K / 4; j += 32)
            for (int n = 0; n < 4; n++)
                for (int m = 0; m < 32; m++)
                    y[4 * j + 32 * n + m] = (float)(((x[i].qs[j + m] >> (2 * n)) & 3) - 1) * d;
    }
}
