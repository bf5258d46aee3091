// AVX2 rotary position embedding in GGUF's "normal" layout (ref/rope.c is the
// spec): four adjacent pairs per step, with the reference's products and sums
// exactly, so results match it to the bit. A ragged end goes to the reference.
#if defined(__AVX2__)
#include "kernels/avx2/avx2.h"

#include "kernels/avx2/avx2_util.h"
#include "kernels/kernels.h"

// x (n_head, head_dim) rotated in place, four pairs at a time: with cs = (c, s)
// pairs, v * (c, c) -/+ swapped(v) * (s, s) gives (x0 c - x1 s, x1 c + x0 s),
// the reference's products and sums exactly (the products are kept apart from
// the add so nothing fuses them).
void kv_rope_avx2(float *x, int64_t n_head, int64_t head_dim, int64_t n_rot, const float *cs) {
    for (int64_t h = 0; h < n_head; h++) {
        float *v = x + h * head_dim;
        int64_t i = 0;
        for (; i + 8 <= n_rot; i += 8) {
            const __m256 p = _mm256_loadu_ps(cs + i), a = _mm256_loadu_ps(v + i);
            const __m256 c = _mm256_moveldup_ps(p), s = _mm256_movehdup_ps(p);
            const __m256 swapped = _mm256_permute_ps(a, _MM_SHUFFLE(2, 3, 0, 1));
            const __m256 ac = rounded(_mm256_mul_ps(a, c)), bs = rounded(_mm256_mul_ps(swapped, s));
            _mm256_storeu_ps(v + i, _mm256_addsub_ps(ac, bs));
        }
        if (i < n_rot)
            kv_rope_ref(v + i, 1, head_dim - i, n_rot - i, cs + i);
    }
}

#endif
