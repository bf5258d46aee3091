// IQ4_NL and IQ4_XS reference quantizers and dequantizers, bit-exact with ggml.
// Both map each value to one of 16 non-linear levels times a block scale: IQ4_NL
// has an F16 scale per 32 values; IQ4_XS has a 6-bit scale per 32 values against
// an F16 super scale per 256. Without an importance matrix the fit weighs each
// value by x^2, with one by imatrix * sqrt(sigma2 + x^2).
#include "quant/quant_int.h"

#include <math.h>

#include "quant/kquant_util.h"

// The non-linear levels, sorted (GGUF's IQ4 codebook).

// Scale search: inverse scales (IQ4_NTRY steps either side of the largest level).
#define IQ4_NTRY 7

// Index of the level nearest x; a tie goes to the upper level. Compares 2x with
// the sum of neighbouring levels, both exact in float.
static int iq4_nearest(float x) {
    const float x2 = x + x;
    int idx = 0;
    for (int j = 1; j < 16; j++)
        if (x2 >= (float)(KV_IQ4_LEVELS[j - 1] + KV_IQ4_LEVELS[j]))
            idx = j;
    return idx;
}

// Weighted sums of q*x and q*q for the levels nearest id*x.
static void iq4_sums(const float *x, const float *w, float id, float *sumqx, float *sumq2) {
    float sqx = 0;
    float sq2 = 0;
    for (int j = 0; j < 32; j++) {
        const float q = (float)KV_IQ4_LEVELS[iq4_nearest(id * x[j])];
        sqx += w[j] * q * x[j];
        sq2 += w[j] * q * q;
    }
    *sumqx = sqx;
    *sumq2 = sq2;
}

// Best scale for 32 values with weights w: a least-squares fit for the levels
// found at each trial inverse scale. An all-zero group gets 0.
static float iq4_fit(const float *x, const float *w) {
    float amax = 0;
    float max = 0;
    for (int j = 0; j < 32; j++) {
        if (fabsf(x[j]) > amax) {
            amax = fabsf(x[j]);
            max = x[j];
        }
    }
    if (amax < KV_KQ_GROUP_EPS)
        return 0;
    float sumqx;
    float sumq2;
    iq4_sums(x, w, 1 / (-max / (float)KV_IQ4_LEVELS[0]), &sumqx, &sumq2);
    // ggml divides unguarded here; a group whose weights are all zero would get
    // a NaN scale there and gets 0 here.
    float d = sumq2 > 0 ? sumqx / sumq2 : 0.f;
    float best = d * sumqx;
    for (int t = -IQ4_NTRY; t <= IQ4_NTRY; t++) {
        iq4_sums(x, w, (float)(t + KV_IQ4_LEVELS[0]) / max, &sumqx, &sumq2);
        if (sumq2 > 0 && sumqx * sumqx > best * sumq2) {
            d = sumqx / sumq2;
            best = d * sumqx;
        }
    }
    return d;
}

// Weights for 32 values: qw * sqrt(sigma2 + x^2) with an importance matrix, else x^2.
static void iq4_weights(const float *x, const float *qw, float sigma2, float w[32]) {
    for (int j = 0; j < 32; j++)
        w[j] = qw ? qw[j] * sqrtf(sigma2 + x[j] * x[j]) : x[j] * x[j];
}

static float iq4_sigma2(const float *x, int n) {
    float s = 0;
    for (int j = 0; j < n; j++)
        s += x[j] * x[j];
    return s * (2.f / (float)n);
}

// Byte 16*i + j holds element 32*i + j (low nibble) and 32*i + 16 + j (high).
static void iq4_pack(const float *x, float id, int n, uint8_t *qs) {
    for (int i = 0; i < n / 32; i++)
        for (int j = 0; j < 16; j++)
            qs[16 * i + j] = (uint8_t)(iq4_nearest(id * x[32 * i + j]) |
                                       (iq4_nearest(id * x[32 * i + 16 + j]) << 4));
}

void kv__quantize_iq4_nl(const float *src, void *dst, int64_t n_rows, int64_t n_per_row,
                         const float *imatrix) {
    kv_block_iq4_nl *y = dst;
    const int64_t nb = n_per_row / KV_QK4_NL;
    float w[32];
    for (int64_t r = 0; r < n_rows; r++) {
        for (int64_t b = 0; b < nb; b++) {
            const float *x = src + (r * nb + b) * KV_QK4_NL;
            const float *qw = imatrix ? imatrix + b * KV_QK4_NL : NULL;
            iq4_weights(x, qw, iq4_sigma2(x, KV_QK4_NL), w);
            const float d = iq4_fit(x, w);
            y[r * nb + b].d = kv_f32_to_f16(d);
            iq4_pack(x, d != 0 ? 1 / d : 0, KV_QK4_NL, y[r * nb + b].qs);
        }
    }
}

static void iq4_xs_block(const float *x, const float *qw, void *dst) {
    kv_block_iq4_xs *y = dst;
    float scales[8];
    float w[32];
    const float sigma2 = iq4_sigma2(x, KV_QK_K);
    float amax = 0;
    float max_scale = 0;
    for (int ib = 0; ib < 8; ib++) {
        iq4_weights(x + 32 * ib, qw ? qw + 32 * ib : NULL, sigma2, w);
        scales[ib] = iq4_fit(x + 32 * ib, w);
        if (fabsf(scales[ib]) > amax) {
            amax = fabsf(scales[ib]);
            max_scale = scales[ib];
        }
    }
    const float d = -max_scale / 32; // -0 for an all-zero block, as in ggml
    const float id = d != 0 ? 1 / d : 0.f;
    y->d = kv_f32_to_f16(d);
    y->scales_h = 0;
    for (int ib = 0; ib < 8; ib++) {
        const int l = kv__kq_clamp(kv__nearest_int(id * scales[ib]), -32, 31);
        const float dl = d * (float)l;
        iq4_pack(x + 32 * ib, dl != 0 ? 1 / dl : 0.f, 32, y->qs + 16 * ib);
        const unsigned u = (unsigned)(l + 32);
        if (ib % 2 == 0)
            y->scales_l[ib / 2] = (uint8_t)(u & 0xF);
        else
            y->scales_l[ib / 2] = (uint8_t)(y->scales_l[ib / 2] | ((u & 0xF) << 4));
        y->scales_h = (uint16_t)(y->scales_h | ((u >> 4) << (2 * ib)));
    }
}

void kv__quantize_iq4_xs(const float *src, void *dst, int64_t n_rows, int64_t n_per_row,
                         const float *imatrix) {
    kv__kq_quantize_rows(src, dst, sizeof(kv_block_iq4_xs), n_rows, n_per_row, imatrix,
                         iq4_xs_block);
}

void kv__dequantize_iq4_nl(const void *src, float *dst, int64_t k) {
    const kv_block_iq4_nl *x = src;
    for (int64_t b = 0; b < k / KV_QK4_NL; b++) {
        const float d = kv_f16_to_f32(x[b].d);
        float *y = dst + b * KV_QK4_NL;
        for (int j = 0; j < 16; j++) {
            y[j] = d * (float)KV_IQ4_LEVELS[x[b].qs[j] & 0xF];
            y[j + 16] = d * (float)KV_IQ4_LEVELS[x[b].qs[j] >> 4];
        }
    }
}

void kv__dequantize_iq4_xs(const void *src, float *dst, int64_t k) {
    const kv_block_iq4_xs *x = src;
    for (int64_t b = 0; b < k / KV_QK_K; b++) {
        const float d = kv_f16_to_f32(x[b].d);
        for (int ib = 0; ib < 8; ib++) {
            const int ls = ((x[b].scales_l[ib / 2] >> (4 * (ib % 2))) & 0xF) |
                           (((x[b].scales_h >> (2 * ib)) & 3) << 4);
            const float dl = d * (float)(ls - 32);
            const uint8_t *qs = x[b].qs + 16 * ib;
            float *y = dst + b * KV_QK_K + 32 * ib;
            for (int j = 0; j < 16; j++) {
                y[j] = dl * (float)KV_IQ4_LEVELS[qs[j] & 0xF];
                y[j + 16] = dl * (float)KV_IQ4_LEVELS[qs[j] >> 4];
            }
        }
    }
}
