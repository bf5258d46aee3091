// Private to src/core: the SIMD row conversions behind kv_f16.h's row functions.
#ifndef KV_CORE_INT_H
#define KV_CORE_INT_H

#include <stdbool.h>
#include <stdint.h>

#include "kvant/kv_f16.h"

// The scalar twin of kv_f16_to_f32_row: kv_f16_to_f32 element by element.
void kv__f16_to_f32_row_ref(const kv_f16 *x, float *y, int64_t n);

// True where the CPU converts halves in hardware (x86-64 with AVX and F16C).
bool kv__have_f16c(void);

// kv_f16_to_f32_row with F16C, 8 halves at a time: the same bits as the scalar
// twin (every finite half, subnormals included, converts exactly); a group of 8
// that holds an Inf or NaN, and the tail, go through the twin, which keeps NaN
// payloads as they are. Call only where kv__have_f16c() (the twin elsewhere).
void kv__f16_to_f32_row_f16c(const kv_f16 *x, float *y, int64_t n);

#endif
