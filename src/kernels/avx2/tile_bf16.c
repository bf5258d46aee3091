// The register tile of BF16 weights against BF16 activations, for generation
// and small batches (larger ones take the packed paths, pack_bf16.c): up to 3
// weight rows by one activation row, each activation chunk widened once for
// the rows. A pair keeps the BF16 dot's four 8-lane chain sums
// (avx2/dot_f16.c), so three rows take 12 of the 16 ymm registers and give
// 12 independent FMA chains where the dot has 4, and three weight streams,
// each prefetched a tile ahead, where the dot has one: generation is a
// stream through the weights, and the dot alone waited on FMA latency in
// cache and on memory out of it.
//
// The bits are the dot's, pair for pair: per position of a 32-element chunk
// a chain acc = fma(w, x, acc) over the chunks in order from zero, the same
// unpack into s0..s3, hsum_f32((s0 + s1) + (s2 + s3)) and the reference's dot
// of the n % 32 tail.
#if defined(__AVX2__)
#include "kernels/avx2/avx2.h"

#include "kernels/avx2/avx2_util.h"
#include "kernels/avx2/bf16_util.h"
#include "kernels/ref/dot_ref.h"

#define NW KV_AVX2_TILE_BF16_NW
_Static_assert(NW == 3 && KV_AVX2_TILE_BF16_NX == 1, "three rows by one activation row");
// acc[r] = the chain sums of w[r] . x over nc chunks; nw is a constant after
// inlining. The rows `ahead` bytes on (the next tile's) are prefetched, a
// cache line (one chunk) per row and chunk.
BF16_INLINE void bf16_tile(const kv_bf16 *const w[NW], const kv_bf16 *x, int64_t nc, size_t ahead,
                           const int nw, __m256 acc[NW][4]) {
    BF16_UNROLL
    for (int r = 0; r < nw; r++)
        BF16_UNROLL
        for (int q = 0; q < 4; q++)
            acc[r][q] = _mm256_setzero_ps();
    for (int64_t c = 0; c < nc; c++) {
        BF16_UNROLL
        for (int r = 0; r < nw; r++)
            _mm_prefetch((const char *)(w[r] + CHUNK * c) + ahead, _MM_HINT_T0);
        BF16_UNROLL
        for (int q = 0; q < 4; q++) {
            const __m256 xv = quarter(x + CHUNK * c, q);
            BF16_UNROLL
            for (int r = 0; r < nw; r++)
                acc[r][q] = _mm256_fmadd_ps(quarter(w[r] + CHUNK * c, q), xv, acc[r][q]);
        }
    }
}

void kv_tile_bf16_bf16_avx2(int64_t n, float *y, int64_t y_stride, const void *w,
                            size_t w_row_size, int64_t nw, const void *x, size_t x_row_size,
                            int64_t nx) {
    (void)y_stride, (void)x_row_size, (void)nx; // one activation row
    const kv_bf16 *wr[NW], *xr = x;
    for (int r = 0; r < NW; r++)
        wr[r] = (const kv_bf16 *)((const uint8_t *)w + (size_t)(r < nw ? r : nw - 1) * w_row_size);
    __m256 acc[NW][4];
    const int64_t nc = n / CHUNK, done = CHUNK * nc;
    const size_t ahead = NW * w_row_size; // the next tile's rows
    if (nw == 3)
        bf16_tile(wr, xr, nc, ahead, 3, acc);
    else if (nw == 2)
        bf16_tile(wr, xr, nc, ahead, 2, acc);
    else
        bf16_tile(wr, xr, nc, ahead, 1, acc);
    for (int64_t r = 0; r < nw; r++) {
        float rest = 0.0f;
        if (done < n)
            kv_dot_bf16_bf16_ref(n - done, &rest, wr[r] + done, xr + done);
        y[r] = chains_sum(acc[r]) + rest;
    }
}

#endif
