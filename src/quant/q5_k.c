// Q5_K reference quantizer and dequantizer, bit-exact with ggml: Q4_K's layout
// of 8 sub-blocks with 6-bit scales and minimums, with a fifth level bit per
// value in qh. The scale search is shared with Q4_K (kquant_util.c).
#include "quant/quant_int.h"

#include "quant/kquant_util.h"

// Element 64*p + l goes to the low nibble of qs[32*p + l] and 64*p + 32 + l to
// its high nibble; their fifth bits are bits 2*p and 2*p + 1 of qh[l].
static void q5_pack(const uint8_t L[KV_QK_K], kv_block_q5_k *y) {
    memset(y->qh, 0, sizeof y->qh);
    for (int p = 0; p < 4; p++) {
        for (int l = 0; l < 32; l++) {
            const unsigned lo = L[64 * p + l];
            const unsigned hi = L[64 * p + 32 + l];
            y->qh[l] = (uint8_t)(y->qh[l] | ((lo >> 4) << (2 * p)) | ((hi >> 4) << (2 * p + 1)));
            y->qs[32 * p + l] = (uint8_t)((lo & 0xF) | ((hi & 0xF) << 4));
        }
    }
}

void kv__quantize_q5_k(const float *src, void *dst, int64_t n_rows, int64_t n_per_row,
                       const float *imatrix) {
    kv_block_q5_k *y = dst;
    const int64_t nb = n_per_row / KV_QK_K;
    uint8_t L[KV_QK_K];
    for (int64_t r = 0; r < n_rows; r++) {
        for (int64_t b = 0; b < nb; b++) {
            const float *qw = imatrix ? imatrix + b * KV_QK_K : NULL;
            kv_block_q5_k *blk = &y[r * nb + b];
            kv__kq_fit_k4(src + (r * nb + b) * KV_QK_K, 31, qw, L, blk->scales, &blk->d,
                          &blk->dmin);
            q5_pack(L, blk);
        }
    }
}

void kv__dequantize_q5_k(const void *src, float *dst, int64_t k) {
    const kv_block_q5_k *x = src;
    for (int64_t b = 0; b < k / KV_QK_K; b++)
        kv__kq_dequant_k4(x[b].scales, kv_f16_to_f32(x[b].d), kv_f16_to_f32(x[b].dmin), x[b].qs,
                          x[b].qh, dst + b * KV_QK_K);
}
