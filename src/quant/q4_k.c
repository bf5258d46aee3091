// Q4_K reference quantizer and dequantizer, bit-exact with ggml: 8 sub-blocks of
// 32 values, 4-bit levels with a 6-bit scale and 6-bit minimum each against two
// F16 super scales. The scale search is shared with Q5_K (kquant_util.c).
#include "quant/quant_int.h"

#include "quant/kquant_util.h"

void kv__quantize_q4_k(const float *src, void *dst, int64_t n_rows, int64_t n_per_row,
                       const float *imatrix) {
    kv_block_q4_k *y = dst;
    const int64_t nb = n_per_row / KV_QK_K;
    uint8_t L[KV_QK_K];
    for (int64_t r = 0; r < n_rows; r++) {
        for (int64_t b = 0; b < nb; b++) {
            const float *qw = imatrix ? imatrix + b * KV_QK_K : NULL;
            kv_block_q4_k *blk = &y[r * nb + b];
            kv__kq_fit_k4(src + (r * nb + b) * KV_QK_K, 15, qw, L, blk->scales, &blk->d,
                          &blk->dmin);
            // Byte 32*p + l: element 64*p + l in the low nibble, 64*p + 32 + l high.
            for (int p = 0; p < 4; p++)
                for (int l = 0; l < 32; l++)
                    blk->qs[32 * p + l] = (uint8_t)(L[64 * p + l] | (L[64 * p + 32 + l] << 4));
        }
    }
}

void kv__dequantize_q4_k(const void *src, float *dst, int64_t k) {
    const kv_block_q4_k *x = src;
    for (int64_t b = 0; b < k / KV_QK_K; b++)
        kv__kq_dequant_k4(x[b].scales, kv_f16_to_f32(x[b].d), kv_f16_to_f32(x[b].dmin), x[b].qs,
                          NULL, dst + b * KV_QK_K);
}
