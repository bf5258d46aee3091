// Reference dot products of the float weight types against activations of the
// same type (ggml converts activations to F16 / BF16 for those weights). As in
// ggml's scalar path, each product is rounded to float and the products are
// summed in double (ggml_float), then rounded to float once at the end.
// ggml's SIMD paths accumulate in float lanes instead; that is their business.
#include "kernels/ref/dot_ref.h"

#include "kvant/kv_f16.h"

// w (n floats) . x (n floats)
void kv_dot_f32_f32_ref(int64_t n, float *out, const void *w, const void *x) {
    const float *wf = w;
    const float *xf = x;
    double sum = 0.0;
    for (int64_t i = 0; i < n; i++)
        sum += (double)(wf[i] * xf[i]);
    *out = (float)sum;
}

// w (n halves) . x (n halves)
void kv_dot_f16_f16_ref(int64_t n, float *out, const void *w, const void *x) {
    const kv_f16 *wh = w;
    const kv_f16 *xh = x;
    double sum = 0.0;
    for (int64_t i = 0; i < n; i++)
        sum += (double)(kv_f16_to_f32(wh[i]) * kv_f16_to_f32(xh[i]));
    *out = (float)sum;
}

// w (n bfloat16) . x (n bfloat16)
void kv_dot_bf16_bf16_ref(int64_t n, float *out, const void *w, const void *x) {
    const kv_bf16 *wh = w;
    const kv_bf16 *xh = x;
    double sum = 0.0;
    for (int64_t i = 0; i < n; i++)
        sum += (double)(kv_bf16_to_f32(wh[i]) * kv_bf16_to_f32(xh[i]));
    *out = (float)sum;
}
