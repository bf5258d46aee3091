// Reference row normalisations: RMS norm and softmax. Sums run in double, as
// ggml's scalar code does, and the per-element order follows ggml (scale, then
// weight) so results match it closely.
#include "kernels/kernels.h"

#include <math.h>

// x (n) -> y (n) = x * 1/sqrt(mean(x^2) + eps) * w
void kv_rmsnorm_ref(int64_t n, float *y, const float *x, const float *w, float eps) {
    double sum = 0.0;
    for (int64_t i = 0; i < n; i++)
        sum += (double)x[i] * (double)x[i];
    const float mean = (float)(sum / (double)n);
    const float scale = 1.0f / sqrtf(mean + eps);
    for (int64_t i = 0; i < n; i++) {
        float v = x[i] * scale;
        y[i] = w ? v * w[i] : v;
    }
}

// x (n) -> softmax(x), in place
void kv_softmax_ref(int64_t n, float *x) {
    float max = -INFINITY;
    for (int64_t i = 0; i < n; i++)
        if (x[i] > max)
            max = x[i];
    if (max == -INFINITY) { // nothing to attend to: all zero, never NaN
        for (int64_t i = 0; i < n; i++)
            x[i] = 0.0f;
        return;
    }
    double sum = 0.0;
    for (int64_t i = 0; i < n; i++) {
        float e = expf(x[i] - max);
        x[i] = e;
        sum += e;
    }
    const float inv = (float)(1.0 / sum);
    for (int64_t i = 0; i < n; i++)
        x[i] *= inv;
}
