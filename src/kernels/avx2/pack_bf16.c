// The packed path of BF16 weights (against BF16 activations) for the AVX2
// table, for CPUs without AVX-512 (avx512/pack_bf16.c is the wider one):
// three weight rows widened to floats once per batch block, and a tile of
// those rows by one activation row, whose chunks are widened once for the
// three rows. A pair needs the dot's four 8-lane chain sums (avx2/dot_f16.c),
// so three pairs take 12 of the 16 ymm registers.
//
// The bits are the AVX2 BF16 dot's, pair for pair: the same chains
// (positions 0-15 of a 32-element chunk as even and odd elements, then 16-31),
// each acc = fma(w, x, acc) over the chunks in order from zero, the same
// unpack into s0..s3, hsum_f32((s0 + s1) + (s2 + s3)) and the reference's dot
// of the n % 32 tail (kept in the pack as BF16). No integer products: the
// AVX-VNNI build uses the same functions.
#if defined(__AVX2__)
#include "kernels/avx2/avx2.h"

#include "kernels/avx2/avx2_util.h"
#include "kernels/avx2/bf16_util.h"
#include "kernels/ref/dot_ref.h"

#define NW KV_AVX2_PACK_BF16_NW
_Static_assert(NW == 3 && KV_AVX2_PACK_BF16_NX == 1, "three rows by one activation row");
// The pack: n / 32 chunks of float w[NW][4][8] (row r: its chunk's quarters
// 0..3), then the n % 32 tail elements of each row as BF16 (CHUNK per row).
size_t kv_pack_size_bf16_x3(int64_t n) {
    return (size_t)(n / CHUNK) * NW * CHUNK * sizeof(float) + NW * CHUNK * sizeof(kv_bf16);
}

void kv_pack_bf16_x3(int64_t n, const void *w, size_t w_row_size, int64_t nw, void *out) {
    const kv_bf16 *rows[NW];
    for (int r = 0; r < NW; r++)
        rows[r] = (const kv_bf16 *)((const uint8_t *)w + (size_t)(r < nw ? r : nw - 1) * w_row_size);
    float *p = out;
    const int64_t nc = n / CHUNK;
    for (int64_t c = 0; c < nc; c++)
        for (int r = 0; r < NW; r++)
            for (int q = 0; q < 4; q++, p += 8)
                _mm256_storeu_ps(p, quarter(rows[r] + CHUNK * c, q));
    kv_bf16 *tail = (kv_bf16 *)p;
    for (int r = 0; r < NW; r++)
        for (int64_t e = 0; e < n - CHUNK * nc; e++)
            tail[CHUNK * r + e] = rows[r][CHUNK * nc + e];
}

void kv_packed_bf16_bf16_avx2(int64_t n, float *y, int64_t y_stride, const void *wp, int64_t nw,
                              const void *x, size_t x_row_size, int64_t nx) {
    (void)y_stride, (void)x_row_size, (void)nx; // one activation row
    const kv_bf16 *xr = x;
    const float *wf = wp;
    __m256 acc[NW][4];
    BF16_UNROLL
    for (int r = 0; r < NW; r++)
        BF16_UNROLL
        for (int q = 0; q < 4; q++)
            acc[r][q] = _mm256_setzero_ps();
    const int64_t nc = n / CHUNK, done = CHUNK * nc;
    for (int64_t c = 0; c < nc; c++) {
        const float *wc = wf + (size_t)c * NW * CHUNK;
        BF16_UNROLL
        for (int q = 0; q < 4; q++) {
            const __m256 xv = quarter(xr + CHUNK * c, q);
            BF16_UNROLL
            for (int r = 0; r < NW; r++)
                acc[r][q] = _mm256_fmadd_ps(_mm256_loadu_ps(wc + CHUNK * r + 8 * q), xv, acc[r][q]);
        }
    }
    const kv_bf16 *tail = (const kv_bf16 *)(wf + (size_t)nc * NW * CHUNK);
    for (int64_t r = 0; r < nw; r++) {
        float rest = 0.0f;
        if (done < n)
            kv_dot_bf16_bf16_ref(n - done, &rest, tail + CHUNK * r, xr + done);
        y[r] = chains_sum(acc[r]) + rest;
    }
}

#endif
