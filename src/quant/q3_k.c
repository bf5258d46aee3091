// Q3_K reference quantizer and dequantizer, bit-exact with ggml: 16 sub-blocks
// of 16 values, signed 3-bit levels (2 low bits in qs, the high bit in hmask)
// with a signed 6-bit scale each against one F16 super scale.
#include "quant/quant_int.h"

#include <math.h>

#include "quant/kquant_util.h"

// The 6-bit scale level (0..63, stored value + 32) of sub-block j: low nibbles in
// bytes 0..7, top two bits in bytes 8..11.
static void q3_put_scale(uint8_t scales[12], int j, unsigned l) {
    if (j < 8)
        scales[j] = (uint8_t)(l & 0xF);
    else
        scales[j - 8] = (uint8_t)(scales[j - 8] | ((l & 0xF) << 4));
    scales[8 + j % 4] = (uint8_t)(scales[8 + j % 4] | ((l >> 4) << (2 * (j / 4))));
}

static int q3_get_scale(const uint8_t scales[12], int j) {
    const int lo = j < 8 ? scales[j] & 0xF : scales[j - 8] >> 4;
    const int hi = (scales[8 + j % 4] >> (2 * (j / 4))) & 3;
    return (lo | (hi << 4)) - 32;
}

static void q3_fit_ref(const float *x, kv_block_q3_k *y, int8_t L[256]) {
    float scales[16];
    float amax = 0;
    float max_scale = 0;
    for (int j = 0; j < 16; j++) {
        scales[j] = kv__kq_fit_sym_refine(16, 4, x + 16 * j, L + 16 * j);
        if (fabsf(scales[j]) > amax) {
            amax = fabsf(scales[j]);
            max_scale = scales[j];
        }
    }
    memset(y->scales, 0, sizeof y->scales);
    if (max_scale == 0) {
        y->d = kv_f32_to_f16(0.f);
        return;
    }
    const float iscale = -32.f / max_scale;
    for (int j = 0; j < 16; j++) {
        const int8_t l = (int8_t)kv__nearest_int(iscale * scales[j]);
        q3_put_scale(y->scales, j, (unsigned)(kv__kq_clamp(l, -32, 31) + 32));
    }
    y->d = kv_f32_to_f16(1 / iscale);
}

static void q3_fit_imatrix(const float *x, const float *qw, kv_block_q3_k *y, int8_t L[256]) {
    float scales[16];
    float sw[16];
    float w[256];
    int8_t Ls[16];
    float sumx2 = 0;
    for (int j = 0; j < 256; j++)
        sumx2 += x[j] * x[j];
    const float sigma2 = 2 * sumx2 / 256;
    for (int j = 0; j < 16; j++) {
        float *wj = w + 16 * j;
        for (int l = 0; l < 16; l++)
            wj[l] = qw[16 * j + l] * sqrtf(sigma2 + x[16 * j + l] * x[16 * j + l]);
        float sumw = 0;
        for (int l = 0; l < 16; l++)
            sumw += wj[l];
        sw[j] = sumw;
    }
    kv__kq_fit_sym_x16(x, w, 4, L, scales); // the 16 sub-block fits side by side
    memset(y->scales, 0, sizeof y->scales);
    const float d_block = kv__kq_fit_sym(16, 32, scales, Ls, sw);
    for (int j = 0; j < 16; j++)
        q3_put_scale(y->scales, j, (unsigned)Ls[j]);
    y->d = kv_f32_to_f16(d_block);
}

static void q3_block(const float *x, const float *qw, void *dst) {
    kv_block_q3_k *y = dst;
    int8_t L[256];
    if (qw)
        q3_fit_imatrix(x, qw, y, L);
    else
        q3_fit_ref(x, y, L);
    // Requantize against the stored scales; a zero scale keeps the search's levels.
    const float d = kv_f16_to_f32(y->d);
    for (int j = 0; j < 16; j++) {
        const float dl = d * (float)q3_get_scale(y->scales, j);
        if (dl == 0)
            continue;
        for (int i = 0; i < 16; i++)
            L[16 * j + i] = (int8_t)(kv__kq_clamp(kv__nearest_int(x[16 * j + i] / dl), -4, 3) + 4);
    }
    // Level bit 2 of element e goes to hmask[e % 32], bit e / 32.
    uint8_t low[256];
    memset(y->hmask, 0, sizeof y->hmask);
    for (int e = 0; e < 256; e++) {
        int l = L[e];
        if (l > 3) {
            y->hmask[e % 32] = (uint8_t)(y->hmask[e % 32] | (1u << (e / 32)));
            l -= 4;
        }
        low[e] = (uint8_t)l;
    }
    kv__kq_pack_2bit(low, y->qs);
}

void kv__quantize_q3_k(const float *src, void *dst, int64_t n_rows, int64_t n_per_row,
                       const float *imatrix) {
    kv__kq_quantize_rows(src, dst, sizeof(kv_block_q3_k), n_rows, n_per_row, imatrix, q3_block);
}

void kv__dequantize_q3_k(const void *src, float *dst, int64_t k) {
    const kv_block_q3_k *x = src;
    for (int64_t b = 0; b < k / KV_QK_K; b++) {
        const float d = kv_f16_to_f32(x[b].d);
        float *y = dst + b * KV_QK_K;
        for (int e = 0; e < KV_QK_K; e++) {
            const float dl = d * (float)q3_get_scale(x[b].scales, e / 16);
            const int q = (x[b].qs[32 * (e / 128) + e % 32] >> (2 * ((e % 128) / 32))) & 3;
            const int high = (x[b].hmask[e % 32] >> (e / 32)) & 1;
            y[e] = dl * (float)(q - (high ? 0 : 4));
        }
    }
}
