// Activation converters to the 8-bit formats ggml's integer dot products take
// (Q8_0, Q8_1, Q8_K), through the reference quantizers, which match ggml's bit
// for bit. Non-finite activations cannot be quantized: the row becomes zeros.
#include "kernels/kernels.h"

#include <string.h>

#include "kvant/kv_quant.h"

static void quantize_row(kv_type t, const float *x, void *y, int64_t n) {
    if (kv_quant_rows(t, x, y, 1, n, NULL, NULL) != KV_OK)
        memset(y, 0, kv_type_row_size(t, n));
}

void kv_from_float_q8_0_ref(const float *x, void *y, int64_t n) {
    quantize_row(KV_TYPE_Q8_0, x, y, n);
}

void kv_from_float_q8_1_ref(const float *x, void *y, int64_t n) {
    quantize_row(KV_TYPE_Q8_1, x, y, n);
}

void kv_from_float_q8_k_ref(const float *x, void *y, int64_t n) {
    quantize_row(KV_TYPE_Q8_K, x, y, n);
}
