// AVX2 attention's weighted sum of a block of cached F16 values. Each row
// gives the bits of kv_axpy_f16_avx2 (dot.c), the same steps; the block kernel
// saves the call per row and the load and store of the output per row: it
// stays in registers, 64 columns at a time.
#if defined(__AVX2__)
#include "kernels/avx2/avx2.h"

#include "kernels/avx2/avx2_util.h"

// y += a[r] * v_r for each row with a[r] != 0, in row order, as
// kv_axpy_f16_avx2 called row after row: y + rounded(a * v), no FMA.
void kv_axpy_f16_rows_avx2(int64_t n, int64_t rows, size_t stride, const kv_f16 *v,
                           const float *a, float *y) {
    enum { COLS = 64, VECS = COLS / 8 };
    int64_t c = 0;
    for (; c + COLS <= n; c += COLS) {
        __m256 acc[VECS];
        for (int i = 0; i < VECS; i++)
            acc[i] = _mm256_loadu_ps(y + c + 8 * i);
        for (int64_t r = 0; r < rows; r++) {
            if (a[r] == 0.0f)
                continue;
            const __m256 va = _mm256_set1_ps(a[r]);
            const kv_f16 *vr = v + (size_t)r * stride + c;
            for (int i = 0; i < VECS; i++) {
                const __m256 p = rounded(_mm256_mul_ps(va, _mm256_cvtph_ps(load_128(vr + 8 * i))));
                acc[i] = _mm256_add_ps(acc[i], p);
            }
        }
        for (int i = 0; i < VECS; i++)
            _mm256_storeu_ps(y + c + 8 * i, acc[i]);
    }
    if (c < n)
        for (int64_t r = 0; r < rows; r++)
            if (a[r] != 0.0f)
                kv_axpy_f16_avx2(n - c, y + c, a[r], v + (size_t)r * stride + c);
}

#endif
