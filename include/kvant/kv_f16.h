// IEEE half precision (F16) and bfloat16 (BF16) conversions, bit-exact with
// ggml and numpy: float -> half/bf16 rounds to nearest, ties to even; NaN stays NaN.
#ifndef KV_F16_H
#define KV_F16_H

#include <stddef.h>
#include <stdint.h>
#include <string.h>

typedef uint16_t kv_f16;
typedef uint16_t kv_bf16;

static inline uint32_t kv_f32_bits(float f) {
    uint32_t u;
    memcpy(&u, &f, 4);
    return u;
}

static inline float kv_f32_from_bits(uint32_t u) {
    float f;
    memcpy(&f, &u, 4);
    return f;
}

float kv_f16_to_f32(kv_f16 h);
kv_f16 kv_f32_to_f16(float f);

static inline float kv_bf16_to_f32(kv_bf16 h) { return kv_f32_from_bits((uint32_t)h << 16); }

static inline kv_bf16 kv_f32_to_bf16(float f) {
    uint32_t u = kv_f32_bits(f);
    if ((u & 0x7fffffffu) > 0x7f800000u) // NaN: keep it quiet, keep the sign
        return (kv_bf16)((u >> 16) | 64);
    return (kv_bf16)((u + (0x7fffu + ((u >> 16) & 1u))) >> 16);
}

// Row conversions (n elements).
void kv_f16_to_f32_row(const kv_f16 *x, float *y, int64_t n);
void kv_f32_to_f16_row(const float *x, kv_f16 *y, int64_t n);
void kv_bf16_to_f32_row(const kv_bf16 *x, float *y, int64_t n);
void kv_f32_to_bf16_row(const float *x, kv_bf16 *y, int64_t n);

#endif
