// Q2_K reference quantizer and dequantizer, bit-exact with ggml: 16 sub-blocks
// of 16 values, 2-bit levels with a 4-bit scale and 4-bit minimum each, against
// two F16 super scales. Without an importance matrix the levels come from
// ggml's reference search (mean absolute error), with one from its weighted search.
#include "quant/quant_int.h"

#include <math.h>

#include "quant/kquant_util.h"

// Quantizes the 16 sub-block scales (or minimums) linearly against their max
// into the low (shift 0) or high (shift 4) nibble of each scale byte.
static float q2_pack_levels(const float v[16], uint8_t scales[16], int shift) {
    float max = 0;
    for (int j = 0; j < 16; j++)
        if (v[j] > max)
            max = v[j];
    if (!(max > 0))
        return 0.f;
    const float iscale = 15.f / max;
    for (int j = 0; j < 16; j++) {
        const unsigned l = (unsigned)kv__nearest_int(iscale * v[j]);
        scales[j] = (uint8_t)(scales[j] | (l << shift));
    }
    return max / 15.f;
}

static void q2_fit_ref(const float *x, kv_block_q2_k *y, uint8_t L[256]) {
    float scales[16];
    float mins[16];
    float w[16];
    uint8_t Laux[16];
    for (int j = 0; j < 16; j++) {
        for (int l = 0; l < 16; l++)
            w[l] = fabsf(x[16 * j + l]);
        scales[j] = kv__kq_fit_affine(16, 3, x + 16 * j, w, L + 16 * j, &mins[j], Laux, -0.5f,
                                      0.1f, 15, 1);
    }
    memset(y->scales, 0, sizeof y->scales);
    y->d = kv_f32_to_f16(q2_pack_levels(scales, y->scales, 0));
    y->dmin = kv_f32_to_f16(q2_pack_levels(mins, y->scales, 4));
}

static void q2_fit_imatrix(const float *x, const float *qw, kv_block_q2_k *y, uint8_t L[256]) {
    float scales[16];
    float mins[16];
    float sw[16];
    float w[16];
    uint8_t Laux[16];
    uint8_t Ls[16];
    uint8_t Lm[16];
    float sumx2 = 0;
    for (int j = 0; j < 256; j++)
        sumx2 += x[j] * x[j];
    const float sigma2 = sumx2 / 256;
    for (int j = 0; j < 16; j++) {
        sw[j] = 0;
        for (int l = 0; l < 16; l++)
            w[l] = qw[16 * j + l] * sqrtf(sigma2 + x[16 * j + l] * x[16 * j + l]);
        for (int l = 0; l < 16; l++)
            sw[j] += w[l];
        scales[j] = kv__kq_fit_affine(16, 3, x + 16 * j, w, L + 16 * j, &mins[j], Laux, -0.9f,
                                      0.05f, 36, 0);
    }
    y->d = kv_f32_to_f16(kv__kq_fit_positive(16, 15, scales, Ls, sw));
    y->dmin = kv_f32_to_f16(kv__kq_fit_positive(16, 15, mins, Lm, sw));
    for (int j = 0; j < 16; j++)
        y->scales[j] = (uint8_t)(Ls[j] | (Lm[j] << 4));
}

static void q2_block(const float *x, const float *qw, void *dst) {
    kv_block_q2_k *y = dst;
    uint8_t L[256];
    if (qw)
        q2_fit_imatrix(x, qw, y, L);
    else
        q2_fit_ref(x, y, L);
    // Requantize against the stored scales; a sub-block whose scale is zero keeps
    // the levels of its search.
    const float d = kv_f16_to_f32(y->d);
    const float dmin = kv_f16_to_f32(y->dmin);
    for (int j = 0; j < 16; j++) {
        const float dl = d * (float)(y->scales[j] & 0xF);
        if (dl == 0)
            continue;
        const float ml = dmin * (float)(y->scales[j] >> 4);
        for (int i = 0; i < 16; i++)
            L[16 * j + i] = (uint8_t)kv__kq_clamp(kv__nearest_int((x[16 * j + i] + ml) / dl), 0, 3);
    }
    kv__kq_pack_2bit(L, y->qs);
}

void kv__quantize_q2_k(const float *src, void *dst, int64_t n_rows, int64_t n_per_row,
                       const float *imatrix) {
    kv__kq_quantize_rows(src, dst, sizeof(kv_block_q2_k), n_rows, n_per_row, imatrix, q2_block);
}

void kv__dequantize_q2_k(const void *src, float *dst, int64_t k) {
    const kv_block_q2_k *x = src;
    for (int64_t b = 0; b < k / KV_QK_K; b++) {
        const float d = kv_f16_to_f32(x[b].d);
        const float dmin = kv_f16_to_f32(x[b].dmin);
        float *y = dst + b * KV_QK_K;
        for (int e = 0; e < KV_QK_K; e++) {
            const uint8_t sc = x[b].scales[e / 16];
            const float dl = d * (float)(sc & 0xF);
            const float ml = dmin * (float)(sc >> 4);
            const int q = (x[b].qs[32 * (e / 128) + e % 32] >> (2 * ((e % 128) / 32))) & 3;
            y[e] = dl * (float)q - ml;
        }
    }
}
