// The packed path of BF16 weights (against BF16 activations) for AVX-512
// (avx512.h): four weight rows widened to floats once per batch block, and a
// tile of those rows by up to three activation rows. A bfloat16 is the top
// half of a float, so widening is a shift: a 32-element chunk read as 16
// dwords gives its even elements (each dword shifted up 16 bits) and its odd
// ones (low halves cleared) in two zmm, no shuffle. Each activation chunk is
// so widened once for the four rows; the rows' chunks are read as floats.
//
// The bits are those of the AVX2 table's BF16 dot (avx2/dot_f16.c), pair for
// pair: each of the 32 positions of a chunk has its own chain acc =
// fma(w, x, acc) over the chunks in order from zero (a pair's even chains in
// one zmm, its odd ones in another: the dot's e0|e1 and o0|o1), then the same
// unpack into s0..s3, hsum_f32((s0 + s1) + (s2 + s3)) and the reference's dot
// of the n % 32 tail (kept in the pack as BF16).
//
// Not vdpbf16ps (AVX512-BF16) nor AMX-BF16's tdpbf16ps, though the CPU may
// have them: vdpbf16ps adds two products (positions 2i and 2i + 1) into one
// float lane per step, where the contract keeps a chain per position, and it
// treats subnormal inputs and results as zero (DAZ/FTZ, whatever MXCSR says),
// where the dot's FMA keeps them; tdpbf16ps does the same per tile element
// with an accumulation order within a step that the ISA does not spell out.
// Either would give other bits than the AVX2 dot and the other tables.
#if defined(__AVX512VNNI__) && defined(__AVX512BW__) && defined(__AVX512VL__)
#include "kernels/avx512/avx512.h"

#include "kernels/avx512/avx512_util.h"
#include "kernels/ref/dot_ref.h"

#define NW KV_AVX512_PACK_BF16_NW
#define NX KV_AVX512_PACK_BF16_NX
_Static_assert(NW == 4 && NX == 3, "24 zmm of chains: four rows by three activation rows");

enum { CHUNK = 32 };

// The pack: n / 32 chunks of float w[NW][2][16] (row r: its chunk's even
// elements, then its odd ones), then the n % 32 tail elements of each row as
// BF16 (CHUNK per row).
size_t kv_pack_size_bf16_x4_avx512(int64_t n) {
    return (size_t)(n / CHUNK) * NW * CHUNK * sizeof(float) + NW * CHUNK * sizeof(kv_bf16);
}

// The 16 dwords at p: element 2i of the chunk is dword i's low half, 2i + 1
// its high half.
AVX512_INLINE __m512 bf16_even(const kv_bf16 *p) {
    return _mm512_castsi512_ps(_mm512_slli_epi32(_mm512_loadu_si512(p), 16));
}
AVX512_INLINE __m512 bf16_odd(const kv_bf16 *p) {
    return _mm512_castsi512_ps(
        _mm512_and_si512(_mm512_loadu_si512(p), _mm512_set1_epi32((int)0xFFFF0000u)));
}

void kv_pack_bf16_x4_avx512(int64_t n, const void *w, size_t w_row_size, int64_t nw, void *out) {
    const kv_bf16 *rows[NW];
    for (int r = 0; r < NW; r++)
        rows[r] = (const kv_bf16 *)((const uint8_t *)w + (size_t)(r < nw ? r : nw - 1) * w_row_size);
    float *p = out;
    const int64_t nc = n / CHUNK;
    for (int64_t c = 0; c < nc; c++)
        for (int r = 0; r < NW; r++, p += CHUNK) {
            _mm512_storeu_ps(p, bf16_even(rows[r] + CHUNK * c));
            _mm512_storeu_ps(p + 16, bf16_odd(rows[r] + CHUNK * c));
        }
    kv_bf16 *tail = (kv_bf16 *)p;
    for (int r = 0; r < NW; r++)
        for (int64_t e = 0; e < n - CHUNK * nc; e++)
            tail[CHUNK * r + e] = rows[r][CHUNK * nc + e];
}

// nx (1, 2 or 3, a constant after inlining) activation rows xr[j] by the
// packed rows' nc chunks: acc[r][j][0] holds the even chains of pair (r, j),
// acc[r][j][1] the odd ones. The even halves go first, then the odd ones, so
// only one activation half per row is live at a time. The empty asm keeps
// each weight vector in a register: gcc otherwise folds its load into all
// three FMAs, and 30 loads a chunk left the tile load-bound (54 against 70
// GMAC/s in bench/kernels_mb.c, 256x2048 at 512 rows, same bits).
AVX512_INLINE void packed_bf16(int64_t nc, const float *wp, const kv_bf16 *const xr[NX],
                               const int nx, __m512 acc[NW][NX][2]) {
    AVX512_UNROLL
    for (int r = 0; r < NW; r++)
        AVX512_UNROLL
        for (int j = 0; j < nx; j++)
            acc[r][j][0] = acc[r][j][1] = _mm512_setzero_ps();
    for (int64_t c = 0; c < nc; c++) {
        const float *wc = wp + (size_t)c * NW * CHUNK;
        __m512 xv[NX];
        AVX512_UNROLL
        for (int j = 0; j < nx; j++)
            xv[j] = bf16_even(xr[j] + CHUNK * c);
        AVX512_UNROLL
        for (int r = 0; r < NW; r++) {
            __m512 wv = _mm512_loadu_ps(wc + CHUNK * r);
            __asm__("" : "+v"(wv));
            AVX512_UNROLL
            for (int j = 0; j < nx; j++)
                acc[r][j][0] = _mm512_fmadd_ps(wv, xv[j], acc[r][j][0]);
        }
        AVX512_UNROLL
        for (int j = 0; j < nx; j++)
            xv[j] = bf16_odd(xr[j] + CHUNK * c);
        AVX512_UNROLL
        for (int r = 0; r < NW; r++) {
            __m512 wv = _mm512_loadu_ps(wc + CHUNK * r + 16);
            __asm__("" : "+v"(wv));
            AVX512_UNROLL
            for (int j = 0; j < nx; j++)
                acc[r][j][1] = _mm512_fmadd_ps(wv, xv[j], acc[r][j][1]);
        }
    }
}

// A pair's chains summed as the AVX2 dot sums them: unpacking the even and
// odd chains per 128-bit lane gives s0 | s2 (low) and s1 | s3 (high).
AVX512_INLINE float chains_sum(__m512 even, __m512 odd) {
    const __m512 t = _mm512_add_ps(_mm512_unpacklo_ps(even, odd), _mm512_unpackhi_ps(even, odd));
    return hsum_f32(_mm256_add_ps(_mm512_castps512_ps256(t), _mm512_extractf32x8_ps(t, 1)));
}

void kv_packed_bf16_bf16_avx512(int64_t n, float *y, int64_t y_stride, const void *wp, int64_t nw,
                                const void *x, size_t x_row_size, int64_t nx) {
    const kv_bf16 *xr[NX];
    for (int j = 0; j < NX; j++)
        xr[j] = (const kv_bf16 *)((const uint8_t *)x + (size_t)(j < nx ? j : nx - 1) * x_row_size);
    __m512 acc[NW][NX][2];
    const int64_t nc = n / CHUNK, done = CHUNK * nc;
    if (nx > 2)
        packed_bf16(nc, wp, xr, 3, acc);
    else if (nx == 2)
        packed_bf16(nc, wp, xr, 2, acc);
    else
        packed_bf16(nc, wp, xr, 1, acc);
    const kv_bf16 *tail = (const kv_bf16 *)((const float *)wp + (size_t)nc * NW * CHUNK);
    for (int64_t j = 0; j < nx; j++)
        for (int64_t r = 0; r < nw; r++) {
            float rest = 0.0f;
            if (done < n)
                kv_dot_bf16_bf16_ref(n - done, &rest, tail + CHUNK * r, xr[j] + done);
            y[j * y_stride + r] = chains_sum(acc[r][j][0], acc[r][j][1]) + rest;
        }
}

#endif
