// The packed path of F16 weights (against F16 activations) for AVX-512
// (avx512.h): eight weight rows converted to floats once per batch block, two
// rows to a zmm (a row per 256-bit half), and a tile of those rows by up to
// four activation rows: each activation chunk is widened once into both
// halves, and one FMA serves two pairs.
//
// The bits are those of the AVX2 table's F16 dot product (avx2/tile_f16.c),
// half for half: per pair one 8-lane float accumulator, acc = fma(w, x, acc)
// over the 8-element chunks in order from zero, then hsum_f32 of those eight
// lanes, plus the reference's dot of the n % 8 tail (kept in the pack as F16).
#if defined(__AVX512VNNI__) && defined(__AVX512BW__) && defined(__AVX512VL__)
#include "kernels/avx512/avx512.h"

#include "kernels/avx512/avx512_util.h"
#include "kernels/ref/dot_ref.h"

#define NW KV_AVX512_PACK_F16_NW
#define NX KV_AVX512_PACK_F16_NX
#define PAIRS (NW / 2)
_Static_assert(NW == 8 && NX == 4, "four zmm of row pairs by four activation rows");

// The pack: n / 8 chunks of float w[PAIRS][16] (pair p: row 2p's eight floats,
// then row 2p + 1's), then the n % 8 tail halves of each row.
size_t kv_pack_size_f16_x8_avx512(int64_t n) {
    return (size_t)(n / 8) * PAIRS * 16 * sizeof(float) + NW * 8 * sizeof(kv_f16);
}

void kv_pack_f16_x8_avx512(int64_t n, const void *w, size_t w_row_size, int64_t nw, void *out) {
    const kv_f16 *rows[NW];
    for (int r = 0; r < NW; r++)
        rows[r] = (const kv_f16 *)((const uint8_t *)w + (size_t)(r < nw ? r : nw - 1) * w_row_size);
    float *p = out;
    const int64_t n8 = n / 8;
    for (int64_t c = 0; c < n8; c++)
        for (int q = 0; q < PAIRS; q++, p += 16) {
            const __m256i h = _mm256_inserti128_si256(_mm256_castsi128_si256(load_128(rows[2 * q] + 8 * c)),
                                                      load_128(rows[2 * q + 1] + 8 * c), 1);
            _mm512_storeu_ps(p, _mm512_cvtph_ps(h));
        }
    kv_f16 *tail = (kv_f16 *)p;
    for (int r = 0; r < NW; r++)
        for (int64_t e = 0; e < n - 8 * n8; e++)
            tail[8 * r + e] = rows[r][8 * n8 + e];
}

// nx (1, 2 or 4, a constant after inlining) activation rows xr[j] by the
// packed rows' n8 chunks: acc[q][j] holds the pairs (2q, j) and (2q + 1, j).
AVX512_INLINE void packed_f16(int64_t n8, const float *wp, const kv_f16 *const xr[NX],
                              const int nx, __m512 acc[PAIRS][NX]) {
    AVX512_UNROLL
    for (int q = 0; q < PAIRS; q++)
        AVX512_UNROLL
        for (int j = 0; j < nx; j++)
            acc[q][j] = _mm512_setzero_ps();
    for (int64_t c = 0; c < n8; c++) {
        const float *wc = wp + (size_t)c * PAIRS * 16;
        __m512 xv[NX];
        AVX512_UNROLL
        for (int j = 0; j < nx; j++)
            xv[j] = _mm512_cvtph_ps(_mm256_broadcastsi128_si256(load_128(xr[j] + 8 * c)));
        AVX512_UNROLL
        for (int q = 0; q < PAIRS; q++) {
            const __m512 wv = _mm512_loadu_ps(wc + 16 * q);
            AVX512_UNROLL
            for (int j = 0; j < nx; j++)
                acc[q][j] = _mm512_fmadd_ps(wv, xv[j], acc[q][j]);
        }
    }
}

void kv_packed_f16_f16_avx512(int64_t n, float *y, int64_t y_stride, const void *wp, int64_t nw,
                              const void *x, size_t x_row_size, int64_t nx) {
    const kv_f16 *xr[NX];
    for (int j = 0; j < NX; j++)
        xr[j] = (const kv_f16 *)((const uint8_t *)x + (size_t)(j < nx ? j : nx - 1) * x_row_size);
    __m512 acc[PAIRS][NX];
    const int64_t n8 = n / 8, done = 8 * n8;
    if (nx > 2)
        packed_f16(n8, wp, xr, 4, acc);
    else if (nx == 2)
        packed_f16(n8, wp, xr, 2, acc);
    else
        packed_f16(n8, wp, xr, 1, acc);
    const kv_f16 *tail = (const kv_f16 *)((const float *)wp + (size_t)n8 * PAIRS * 16);
    for (int64_t j = 0; j < nx; j++)
        for (int64_t r = 0; r < nw; r++) {
            const __m512 a = acc[r / 2][j];
            const __m256 half = r % 2 == 0 ? _mm512_castps512_ps256(a) : _mm512_extractf32x8_ps(a, 1);
            float rest = 0.0f;
            if (done < n)
                kv_dot_f16_f16_ref(n - done, &rest, tail + 8 * r, xr[j] + done);
            y[j * y_stride + r] = hsum_f32(half) + rest;
        }
}

#endif
