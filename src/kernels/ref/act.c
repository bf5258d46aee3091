// Reference element-wise ops of the feed-forward block and the residual stream.
#include "kernels/kernels.h"

#include <math.h>

// gate (n), up (n) -> y (n) = gate / (1 + exp(-gate)) * up
void kv_silu_mul_ref(int64_t n, float *y, const float *gate, const float *up) {
    for (int64_t i = 0; i < n; i++) {
        float g = gate[i];
        y[i] = g / (1.0f + expf(-g)) * up[i];
    }
}

// y (n) += x (n)
void kv_add_ref(int64_t n, float *y, const float *x) {
    for (int64_t i = 0; i < n; i++)
        y[i] += x[i];
}
