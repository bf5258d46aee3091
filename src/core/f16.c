// Half-precision conversions done on the bit patterns, so results do not depend
// on the compiler or the CPU (round to nearest, ties to even, like F16C and numpy).
#include "kvant/kv_f16.h"

#include "core/core_int.h"

float kv_f16_to_f32(kv_f16 h) {
    uint32_t sign = (uint32_t)(h & 0x8000u) << 16;
    uint32_t exp = (h >> 10) & 0x1fu;
    uint32_t mant = h & 0x3ffu;
    if (exp == 0x1f) // Inf or NaN
        return kv_f32_from_bits(sign | 0x7f800000u | (mant << 13));
    if (exp == 0) {
        if (mant == 0)
            return kv_f32_from_bits(sign);
        // subnormal: value = mant * 2^-24, exact in float
        float v = (float)mant * (1.0f / 16777216.0f);
        return sign ? -v : v;
    }
    return kv_f32_from_bits(sign | ((exp + 112u) << 23) | (mant << 13));
}

kv_f16 kv_f32_to_f16(float f) {
    uint32_t u = kv_f32_bits(f);
    uint16_t sign = (uint16_t)((u >> 16) & 0x8000u);
    uint32_t abs = u & 0x7fffffffu;
    if (abs > 0x7f800000u) // NaN: quiet, keep the top mantissa bits
        return (kv_f16)(sign | 0x7e00u | ((abs >> 13) & 0x3ffu));
    if (abs >= 0x47800000u) // >= 65536 (after rounding everything from 65520 up overflows)
        return (kv_f16)(sign | 0x7c00u);
    if (abs >= 0x38800000u) { // normal half range (>= 2^-14)
        uint32_t mant = abs & 0x7fffffu;
        uint32_t exp = (abs >> 23) - 112u;
        uint32_t h = (exp << 10) | (mant >> 13);
        uint32_t rest = mant & 0x1fffu;
        if (rest > 0x1000u || (rest == 0x1000u && (h & 1u)))
            h++; // may carry into the exponent, up to Inf: that is the right result
        return (kv_f16)(sign | h);
    }
    if (abs < 0x33000000u) // below half the smallest subnormal (2^-25): rounds to zero
        return sign;
    // subnormal half: value = m * 2^-24 with m in [0, 1024]
    uint32_t e = abs >> 23;            // float exponent field, 102..112
    uint32_t mant = (abs & 0x7fffffu) | 0x800000u;
    uint32_t shift = 126u - e;         // bits to drop so the unit is 2^-24
    uint32_t h = mant >> shift;
    uint32_t rest = mant & ((1u << shift) - 1u);
    uint32_t half = 1u << (shift - 1u);
    if (rest > half || (rest == half && (h & 1u)))
        h++;
    return (kv_f16)(sign | h);
}

void kv__f16_to_f32_row_ref(const kv_f16 *x, float *y, int64_t n) {
    for (int64_t i = 0; i < n; i++)
        y[i] = kv_f16_to_f32(x[i]);
}

void kv_f16_to_f32_row(const kv_f16 *x, float *y, int64_t n) {
    if (kv__have_f16c()) // same bits, 8 at a time (f16_row_x86.c)
        kv__f16_to_f32_row_f16c(x, y, n);
    else
        kv__f16_to_f32_row_ref(x, y, n);
}

void kv_f32_to_f16_row(const float *x, kv_f16 *y, int64_t n) {
    for (int64_t i = 0; i < n; i++)
        y[i] = kv_f32_to_f16(x[i]);
}

void kv_bf16_to_f32_row(const kv_bf16 *x, float *y, int64_t n) {
    for (int64_t i = 0; i < n; i++)
        y[i] = kv_bf16_to_f32(x[i]);
}

void kv_f32_to_bf16_row(const float *x, kv_bf16 *y, int64_t n) {
    for (int64_t i = 0; i < n; i++)
        y[i] = kv_f32_to_bf16(x[i]);
}
