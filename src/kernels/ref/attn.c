// Reference of attention's weighted sum over a block of cached values stored
// as F32, Q8_0 or Q4_0 (kv_kernels' axpy_rows; F16 has axpy_f16 in dot.c).
// Each value is what the type's dequantizer gives (d * q as one float product),
// then y = a * v + y, product and sum each rounded: the bits of converting the
// row to floats and adding a times it, row after row.
#include "kernels/kernels.h"
#include "kvant/kv_blocks.h"

// y (n) += a[r] * v_r (n floats) for the rows r < rows with a[r] != 0, in order;
// row r at v + r * stride bytes.
void kv_axpy_rows_f32_ref(int64_t n, int64_t rows, size_t stride, const void *v, const float *a,
                          float *y) {
    for (int64_t r = 0; r < rows; r++) {
        if (a[r] == 0.0f)
            continue;
        const float *vr = (const float *)((const uint8_t *)v + (size_t)r * stride);
        for (int64_t i = 0; i < n; i++)
            y[i] = a[r] * vr[i] + y[i];
    }
}

// The same over n / 32 Q8_0 blocks a row: v = q * d.
void kv_axpy_rows_q8_0_ref(int64_t n, int64_t rows, size_t stride, const void *v, const float *a,
                           float *y) {
    for (int64_t r = 0; r < rows; r++) {
        if (a[r] == 0.0f)
            continue;
        const kv_block_q8_0 *b = (const kv_block_q8_0 *)((const uint8_t *)v + (size_t)r * stride);
        for (int64_t i = 0; i < n / KV_QK8_0; i++) {
            const float d = kv_f16_to_f32(b[i].d);
            for (int j = 0; j < KV_QK8_0; j++) {
                const float x = (float)b[i].qs[j] * d;
                y[i * KV_QK8_0 + j] = a[r] * x + y[i * KV_QK8_0 + j];
            }
        }
    }
}

// The same over n / 32 Q4_0 blocks a row: v = (nibble - 8) * d, low nibbles
// the block's elements 0..15, high nibbles 16..31.
void kv_axpy_rows_q4_0_ref(int64_t n, int64_t rows, size_t stride, const void *v, const float *a,
                           float *y) {
    for (int64_t r = 0; r < rows; r++) {
        if (a[r] == 0.0f)
            continue;
        const kv_block_q4_0 *b = (const kv_block_q4_0 *)((const uint8_t *)v + (size_t)r * stride);
        for (int64_t i = 0; i < n / KV_QK4_0; i++) {
            const float d = kv_f16_to_f32(b[i].d);
            float *yb = y + i * KV_QK4_0;
            for (int j = 0; j < KV_QK4_0 / 2; j++) {
                const float lo = (float)((b[i].qs[j] & 0x0F) - 8) * d;
                const float hi = (float)((b[i].qs[j] >> 4) - 8) * d;
                yb[j] = a[r] * lo + yb[j];
                yb[j + KV_QK4_0 / 2] = a[r] * hi + yb[j + KV_QK4_0 / 2];
            }
        }
    }
}
