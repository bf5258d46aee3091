// Reference dot products of float weight rows (F32, F16, BF16) with F32
// activations, the activation converters, and attention's F16 key tile and axpy.
// Sums are kept in double so the reference is the most accurate version.
#include "kernels/kernels.h"

// w (n) . x (n) -> *out
void kv_dot_f32_ref(int64_t n, float *out, const void *w, const void *x) {
    const float *a = w;
    const float *b = x;
    double sum = 0.0;
    for (int64_t i = 0; i < n; i++)
        sum += (double)a[i] * (double)b[i];
    *out = (float)sum;
}

void kv_dot_f16_f32_ref(int64_t n, float *out, const void *w, const void *x) {
    const kv_f16 *a = w;
    const float *b = x;
    double sum = 0.0;
    for (int64_t i = 0; i < n; i++)
        sum += (double)kv_f16_to_f32(a[i]) * (double)b[i];
    *out = (float)sum;
}

// k (nk, n) . q (nq, n) -> out (nq, nk), pair by pair
void kv_dot_f16_tile_ref(int64_t n, const kv_f16 *k, size_t k_stride, int64_t nk, const float *q,
                         size_t q_stride, int64_t nq, float *out, size_t out_stride) {
    for (int64_t iq = 0; iq < nq; iq++)
        for (int64_t ik = 0; ik < nk; ik++)
            kv_dot_f16_f32_ref(n, &out[(size_t)iq * out_stride + (size_t)ik],
                               k + (size_t)ik * k_stride, q + (size_t)iq * q_stride);
}

void kv_dot_bf16_f32_ref(int64_t n, float *out, const void *w, const void *x) {
    const kv_bf16 *a = w;
    const float *b = x;
    double sum = 0.0;
    for (int64_t i = 0; i < n; i++)
        sum += (double)kv_bf16_to_f32(a[i]) * (double)b[i];
    *out = (float)sum;
}

void kv_from_float_f32_ref(const float *x, void *y, int64_t n) {
    float *d = y;
    for (int64_t i = 0; i < n; i++)
        d[i] = x[i];
}

void kv_from_float_f16_ref(const float *x, void *y, int64_t n) { kv_f32_to_f16_row(x, y, n); }

void kv_from_float_bf16_ref(const float *x, void *y, int64_t n) { kv_f32_to_bf16_row(x, y, n); }

void kv_to_float_f32_ref(const void *x, float *y, int64_t n) { kv_from_float_f32_ref(x, y, n); }

// Element by element: the reference stays scalar (kv_f16_to_f32_row may use F16C).
void kv_to_float_f16_ref(const void *x, float *y, int64_t n) {
    const kv_f16 *h = x;
    for (int64_t i = 0; i < n; i++)
        y[i] = kv_f16_to_f32(h[i]);
}

void kv_to_float_bf16_ref(const void *x, float *y, int64_t n) { kv_bf16_to_f32_row(x, y, n); }

// y (n) += a * v (n). The product is the sum's first operand, in the SIMD
// versions too: where both are NaN, x86 keeps the first one's payload.
void kv_axpy_f16_ref(int64_t n, float *y, float a, const kv_f16 *v) {
    for (int64_t i = 0; i < n; i++)
        y[i] = a * kv_f16_to_f32(v[i]) + y[i];
}
