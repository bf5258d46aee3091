// The register tile of F16 weights against F16 activations (ggml's pairing for
// F16 weights): up to 4 weight rows by up to 3 activation rows, each
// activation chunk widened once for the 4 rows and each weight chunk once for
// the 3 activation rows. Each pair has one float accumulator: acc = fma(w, x,
// acc) over the 8-element chunks in order from zero, then hsum_f32, then the
// reference's dot of the n % 8 tail added; the dot product is the 1 x 1 tile,
// so every pair keeps the same bits whatever the batch. One activation row
// (generation) takes 4 independent rows, which also hides the FMA latency.
#if defined(__AVX2__)
#include "kernels/avx2/avx2.h"

#include "kernels/avx2/avx2_util.h"
#include "kernels/ref/dot_ref.h"

#define F16_NW KV_AVX2_TILE_F16_NW
#define F16_NX KV_AVX2_TILE_F16_NX
#define F16_INLINE static inline __attribute__((always_inline))
#define F16_UNROLL _Pragma("GCC unroll 8")

static inline __m256 widen(const kv_f16 *p) { return _mm256_cvtph_ps(load_128(p)); }

// acc[r][j] = the chunk sums of w[r] . x[j] over n8 chunks; nw and nx are
// constants after inlining. With one activation row the next tile's rows
// (`ahead` bytes on, where they follow in memory) are prefetched.
F16_INLINE void f16_tile(const kv_f16 *const w[F16_NW], const kv_f16 *const x[F16_NX], int64_t n8,
                         size_t ahead, const int nw, const int nx, __m256 acc[F16_NW][F16_NX]) {
    F16_UNROLL
    for (int r = 0; r < nw; r++)
        F16_UNROLL
        for (int j = 0; j < nx; j++)
            acc[r][j] = _mm256_setzero_ps();
    for (int64_t c = 0; c < n8; c++) {
        __m256 xv[F16_NX];
        F16_UNROLL
        for (int j = 0; j < nx; j++)
            xv[j] = widen(x[j] + 8 * c);
        F16_UNROLL
        for (int r = 0; r < nw; r++) {
            if (nx == 1 && c % 4 == 0)
                _mm_prefetch((const char *)(w[r] + 8 * c) + ahead, _MM_HINT_T0);
            const __m256 wv = widen(w[r] + 8 * c);
            F16_UNROLL
            for (int j = 0; j < nx; j++)
                acc[r][j] = _mm256_fmadd_ps(wv, xv[j], acc[r][j]);
        }
    }
}

// y[j * y_stride + r] for the real rows: hsum of the chunk sums plus the tail
static void f16_store(const __m256 acc[F16_NW][F16_NX], const kv_f16 *const w[F16_NW],
                      const kv_f16 *const x[F16_NX], int64_t n, int64_t nw, int64_t nx, float *y,
                      int64_t y_stride) {
    const int64_t done = n / 8 * 8;
    for (int64_t r = 0; r < nw; r++)
        for (int64_t j = 0; j < nx; j++) {
            float rest = 0.0f;
            if (done < n)
                kv_dot_f16_f16_ref(n - done, &rest, w[r] + done, x[j] + done);
            y[j * y_stride + r] = hsum_f32(acc[r][j]) + rest;
        }
}

void kv_tile_f16_f16_avx2(int64_t n, float *y, int64_t y_stride, const void *w, size_t w_row_size,
                          int64_t nw, const void *x, size_t x_row_size, int64_t nx) {
    const kv_f16 *wr[F16_NW], *xr[F16_NX];
    for (int r = 0; r < F16_NW; r++)
        wr[r] = (const kv_f16 *)((const uint8_t *)w + (size_t)(r < nw ? r : nw - 1) * w_row_size);
    for (int j = 0; j < F16_NX; j++)
        xr[j] = (const kv_f16 *)((const uint8_t *)x + (size_t)(j < nx ? j : nx - 1) * x_row_size);
    __m256 acc[F16_NW][F16_NX];
    const size_t ahead = F16_NW * w_row_size; // the next tile's rows
    if (nx == 1)
        f16_tile(wr, xr, n / 8, ahead, F16_NW, 1, acc);
    else
        f16_tile(wr, xr, n / 8, ahead, F16_NW, F16_NX, acc);
    f16_store(acc, wr, xr, n, nw, nx, y, y_stride);
}

// w (n halves) . x (n halves): the 1 x 1 tile
void kv_dot_f16_f16_avx2(int64_t n, float *out, const void *w, const void *x) {
    const kv_f16 *wr[F16_NW] = {w}, *xr[F16_NX] = {x};
    __m256 acc[F16_NW][F16_NX];
    f16_tile(wr, xr, n / 8, 0, 1, 1, acc);
    f16_store(acc, wr, xr, n, 1, 1, out, 1);
}

#endif
