// Rotary position embedding in GGUF's "normal" layout (llama.cpp rope type 0):
// each head's values are rotated in adjacent pairs (x[2i], x[2i+1]) by theta_i;
// values past n_rot pass through. The HF converter permutes q/k weights so this
// equals HF's rotate-half form.
#include "kernels/kernels.h"

#include <math.h>

void kv_rope_cos_sin(float *cs, int64_t n_rot, int64_t pos, float base, float freq_scale,
                     const float *factors) {
    for (int64_t i = 0; i < n_rot / 2; i++) {
        double theta = (double)pos * (double)freq_scale *
                       pow((double)base, -2.0 * (double)i / (double)n_rot);
        if (factors)
            theta /= (double)factors[i];
        cs[2 * i] = (float)cos(theta);
        cs[2 * i + 1] = (float)sin(theta);
    }
}

// x (n_head, head_dim), rotated in place
void kv_rope_ref(float *x, int64_t n_head, int64_t head_dim, int64_t n_rot, const float *cs) {
    for (int64_t h = 0; h < n_head; h++) {
        float *v = x + h * head_dim;
        for (int64_t i = 0; i < n_rot / 2; i++) {
            const float c = cs[2 * i];
            const float s = cs[2 * i + 1];
            const float x0 = v[2 * i];
            const float x1 = v[2 * i + 1];
            v[2 * i] = x0 * c - x1 * s;
            v[2 * i + 1] = x0 * s + x1 * c;
        }
    }
}
