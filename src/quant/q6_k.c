// Q6_K reference quantizer and dequantizer, bit-exact with ggml: 16 sub-blocks
// of 16 values, signed 6-bit levels (low 4 bits in ql, high 2 in qh) with a
// signed 8-bit scale each against one F16 super scale.
#include "quant/quant_int.h"

#include <math.h>

#include "quant/kquant_util.h"

// Element e = 128*h + 32*s + l (s < 4, l < 32): low nibble in ql[64*h + 32*(s&1) + l]
// at bit 4*(s>>1), high two bits in qh[32*h + l] at bit 2*s.
static void q6_pack(const int8_t L[KV_QK_K], kv_block_q6_k *y) {
    for (int h = 0; h < 2; h++) {
        const uint8_t *v = (const uint8_t *)L + 128 * h; // s = 0..3 at v + 32 * s
        for (int l = 0; l < 32; l++) {
            y->ql[64 * h + l] = (uint8_t)((v[l] & 0xF) | ((v[l + 64] & 0xF) << 4));
            y->ql[64 * h + 32 + l] = (uint8_t)((v[l + 32] & 0xF) | ((v[l + 96] & 0xF) << 4));
            y->qh[32 * h + l] = (uint8_t)((v[l] >> 4) | ((v[l + 32] >> 4) << 2) |
                                          ((v[l + 64] >> 4) << 4) | ((v[l + 96] >> 4) << 6));
        }
    }
}

static void q6_block(const float *x, const float *qw, void *dst) {
    kv_block_q6_k *y = dst;
    int8_t L[KV_QK_K];
    float scales[16];
    float max_abs = 0;
    float max_scale = 0;
    kv__kq_fit_sym_x16(x, qw, 32, L, scales); // the 16 sub-block fits side by side
    for (int j = 0; j < 16; j++) {
        if (fabsf(scales[j]) > max_abs) {
            max_abs = fabsf(scales[j]);
            max_scale = scales[j];
        }
    }
    if (max_abs < KV_KQ_GROUP_EPS) {
        memset(y, 0, sizeof *y);
        return;
    }
    const float iscale = -128.f / max_scale;
    y->d = kv_f32_to_f16(1 / iscale);
    for (int j = 0; j < 16; j++) {
        const int l = kv__nearest_int(iscale * scales[j]);
        y->scales[j] = (int8_t)(l < 127 ? l : 127);
    }
    // Requantize against the stored scales; a zero scale keeps the search's levels.
    const float d = kv_f16_to_f32(y->d);
    for (int j = 0; j < 16; j++) {
        const float dl = d * (float)y->scales[j];
        if (dl == 0)
            continue;
        for (int i = 0; i < 16; i++)
            L[16 * j + i] = (int8_t)(kv__kq_clamp(kv__nearest_int(x[16 * j + i] / dl), -32, 31) + 32);
    }
    q6_pack(L, y);
}

void kv__quantize_q6_k(const float *src, void *dst, int64_t n_rows, int64_t n_per_row,
                       const float *imatrix) {
    kv__kq_quantize_rows(src, dst, sizeof(kv_block_q6_k), n_rows, n_per_row, imatrix, q6_block);
}

void kv__dequantize_q6_k(const void *src, float *dst, int64_t k) {
    const kv_block_q6_k *x = src;
    for (int64_t b = 0; b < k / KV_QK_K; b++) {
        const float d = kv_f16_to_f32(x[b].d);
        float *y = dst + b * KV_QK_K;
        for (int e = 0; e < KV_QK_K; e++) {
            const int h = e / 128;
            const int s = (e % 128) / 32;
            const int l = e % 32;
            const int lo = (x[b].ql[64 * h + 32 * (s & 1) + l] >> (4 * (s >> 1))) & 0xF;
            const int hi = (x[b].qh[32 * h + l] >> (2 * s)) & 3;
            y[e] = d * (float)x[b].scales[e / 16] * (float)((lo | (hi << 4)) - 32);
        }
    }
}
