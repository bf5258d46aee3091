// 8-bit block types: Q8_0 (weights), Q8_1 and Q8_K (activation formats for the
// dot products). Reference quantizers, bit-identical to ggml's; none of them
// uses an importance matrix (ggml ignores it for Q8_0 too).
#include "quant/quant_int.h"

#include "quant/kquant_util.h" // kv__kq_have_x8

// ---- Q8_0: d = max|x| / 127, q = round(x / d) ----

static void quantize_block_q8_0(const float *x, kv_block_q8_0 *y) {
    float amax = 0.0f;
    for (int j = 0; j < KV_QK8_0; j++) { // fmaxf(amax, |x|), inline: amax is never NaN
        const float ax = fabsf(x[j]);
        amax = ax > amax ? ax : amax;
    }
    const float d = amax / 127;
    const float id = d != 0.0f ? 1.0f / d : 0.0f;
    y->d = kv_f32_to_f16(d);
    for (int j = 0; j < KV_QK8_0; j++)
        y->qs[j] = kv__round_i8(x[j] * id);
}

void kv__q8_0_block_ref(const float x[32], kv_f16 *d_out, int8_t qs[32]) {
    kv_block_q8_0 b;
    quantize_block_q8_0(x, &b);
    *d_out = b.d;
    memcpy(qs, b.qs, sizeof b.qs);
}

void kv__quantize_q8_0(const float *src, void *dst, int64_t n_rows, int64_t n_per_row,
                       const float *imatrix) {
    (void)imatrix;
    kv_block_q8_0 *y = dst;
    const int64_t nb = n_rows * (n_per_row / KV_QK8_0);
#if defined(__x86_64__) && (defined(__GNUC__) || defined(__clang__))
    if (kv__kq_have_x8()) { // AVX2, same bits as the loop below
        for (int64_t i = 0; i < nb; i++)
            kv__q8_0_block_avx2(src + i * KV_QK8_0, &y[i].d, y[i].qs);
        return;
    }
#endif
    for (int64_t i = 0; i < nb; i++)
        quantize_block_q8_0(src + i * KV_QK8_0, &y[i]);
}

void kv__dequantize_q8_0(const void *src, float *dst, int64_t k) {
    const kv_block_q8_0 *x = src;
    for (int64_t i = 0; i < k / KV_QK8_0; i++) {
        const float d = kv_f16_to_f32(x[i].d);
        for (int j = 0; j < KV_QK8_0; j++)
            dst[i * KV_QK8_0 + j] = x[i].qs[j] * d;
    }
}

// ---- Q8_1: Q8_0 plus s = d * sum(q) ----

static void quantize_block_q8_1(const float *x, kv_block_q8_1 *y) {
    float amax = 0.0f;
    for (int j = 0; j < KV_QK8_1; j++) { // fmaxf(amax, |x|), inline: amax is never NaN
        const float ax = fabsf(x[j]);
        amax = ax > amax ? ax : amax;
    }
    const float d = amax / 127;
    const float id = d != 0.0f ? 1.0f / d : 0.0f;
    y->d = kv_f32_to_f16(d);
    int sum = 0;
    for (int j = 0; j < KV_QK8_1; j++) {
        y->qs[j] = kv__round_i8(x[j] * id);
        sum += y->qs[j];
    }
    y->s = kv_f32_to_f16((float)sum * d);
}

void kv__quantize_q8_1(const float *src, void *dst, int64_t n_rows, int64_t n_per_row,
                       const float *imatrix) {
    (void)imatrix;
    kv_block_q8_1 *y = dst;
    const int64_t nb = n_rows * (n_per_row / KV_QK8_1);
    for (int64_t i = 0; i < nb; i++)
        quantize_block_q8_1(src + i * KV_QK8_1, &y[i]);
}

// ggml has no Q8_1 to-float; this is the obvious one (s is redundant).
void kv__dequantize_q8_1(const void *src, float *dst, int64_t k) {
    const kv_block_q8_1 *x = src;
    for (int64_t i = 0; i < k / KV_QK8_1; i++) {
        const float d = kv_f16_to_f32(x[i].d);
        for (int j = 0; j < KV_QK8_1; j++)
            dst[i * KV_QK8_1 + j] = x[i].qs[j] * d;
    }
}

// ---- Q8_K: float scale, q = nearest(-127 * x / max) (max keeps its sign),
// capped at 127, plus sums of each 16 quants ----

static void quantize_block_q8_k(const float *x, kv_block_q8_k *y) {
    float max = 0.0f;
    float amax = 0.0f;
    for (int j = 0; j < KV_QK_K; j++) {
        const float ax = fabsf(x[j]);
        if (ax > amax) {
            amax = ax;
            max = x[j];
        }
    }
    if (amax == 0.0f) {
        memset(y, 0, sizeof *y);
        return;
    }
    const float iscale = -127.0f / max;
    for (int j = 0; j < KV_QK_K; j++) {
        const int v = kv__nearest_int(iscale * x[j]);
        y->qs[j] = (int8_t)(v < 127 ? v : 127);
    }
    for (int j = 0; j < KV_QK_K / 16; j++) {
        int sum = 0;
        for (int l = 0; l < 16; l++)
            sum += y->qs[16 * j + l];
        y->bsums[j] = (int16_t)sum;
    }
    y->d = 1 / iscale;
}

void kv__quantize_q8_k(const float *src, void *dst, int64_t n_rows, int64_t n_per_row,
                       const float *imatrix) {
    (void)imatrix;
    kv_block_q8_k *y = dst;
    const int64_t nb = n_rows * (n_per_row / KV_QK_K);
    for (int64_t i = 0; i < nb; i++)
        quantize_block_q8_k(src + i * KV_QK_K, &y[i]);
}

void kv__dequantize_q8_k(const void *src, float *dst, int64_t k) {
    const kv_block_q8_k *x = src;
    for (int64_t i = 0; i < k / KV_QK_K; i++)
        for (int j = 0; j < KV_QK_K; j++)
            dst[i * KV_QK_K + j] = x[i].d * x[i].qs[j];
}
