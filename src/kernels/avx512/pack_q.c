// The packed paths of Q4_0 and Q8_0 for AVX-512 (avx512.h): sixteen weight
// rows repacked per block so that one zmm holds the same four quant bytes of
// all sixteen rows (one row per int32 lane), their scales as floats. A tile
// multiplies them with up to eight activation rows: per activation row and
// block, the activation's dwords are broadcast and vpdpbusd forms every
// row's int32 sum at once.
//
// The bits are the AVX2 table's dot product's (avx2/tile_q.h), lane for lane:
// per block the exact int32 sum of the products (the unsigned weight bytes
// exceed the weights by zp = 8 for Q4_0's nibbles, 128 for Q8_0's w + 128,
// so zp * sum(x) is taken off), then acc = fma(d_w * d_x, (float)sum, acc),
// blocks in order.
#if defined(__AVX512VNNI__) && defined(__AVX512BW__) && defined(__AVX512VL__)
#include "kernels/avx512/avx512.h"

#include "kernels/avx512/avx512_util.h"
#include "kvant/kv_blocks.h"

#define NW KV_AVX512_PACK_Q_NW
#define NX KV_AVX512_PACK_Q_NX
_Static_assert(NW == 16 && NX == 8, "one zmm of rows by sums_8x32's eight activation rows");

typedef struct {
    float d[NW];
    uint8_t qs[4][4 * NW]; // [dword m][row r, byte]: bytes 4m..4m+3 of row r's 16 quant bytes
} q4_0_x16;

typedef struct {
    float d[NW];
    uint8_t qs[8][4 * NW]; // [dword m][row r, byte]: bytes 4m..4m+3 of row r's quants, + 128
} q8_0_x16;

// nx (1, 2, 4 or 8, a constant after inlining) activation rows xr[j] by the
// sixteen packed rows of nb blocks (wp: a q4_0_x16 or q8_0_x16 per block).
AVX512_INLINE void packed_q(int64_t nb, const uint8_t *wp, const uint8_t *const xr[NX], bool q8,
                            const int nx, __m512 out[NX]) {
    __m512 acc[NX];
    AVX512_UNROLL
    for (int j = 0; j < nx; j++)
        acc[j] = _mm512_setzero_ps();
    const __m512i lo4 = _mm512_set1_epi8(0x0F);
    const size_t pb = q8 ? sizeof(q8_0_x16) : sizeof(q4_0_x16);
    for (int64_t b = 0; b < nb; b++) {
        const kv_block_q8_0 *xb[NX];
        const int8_t *xq[NX];
        AVX512_UNROLL
        for (int j = 0; j < NX; j++) {
            xb[j] = (const kv_block_q8_0 *)xr[j] + b;
            xq[j] = xb[j]->qs;
        }
        // zp * sum(x) of each activation row, negated: where the sums start
        int32_t neg[NX];
        const __m256i sx = _mm256_slli_epi32(sums_8x32(xq), q8 ? 7 : 3);
        _mm256_storeu_si256((__m256i *)neg, _mm256_sub_epi32(_mm256_setzero_si256(), sx));
        // two sums per pair (alternate dwords) keep more dpbusd chains in flight
        __m512i s0[NX], s1[NX];
        AVX512_UNROLL
        for (int j = 0; j < nx; j++) {
            s0[j] = _mm512_set1_epi32(neg[j]);
            s1[j] = _mm512_setzero_si512();
        }
        const uint8_t *p = wp + (size_t)b * pb;
        if (q8) {
            const q8_0_x16 *blk = (const q8_0_x16 *)p;
            AVX512_UNROLL
            for (int m = 0; m < 8; m += 2) {
                const __m512i w0 = _mm512_loadu_si512(blk->qs[m]);
                const __m512i w1 = _mm512_loadu_si512(blk->qs[m + 1]);
                AVX512_UNROLL
                for (int j = 0; j < nx; j++) {
                    s0[j] = _mm512_dpbusd_epi32(s0[j], w0, _mm512_set1_epi32((int32_t)load_u32(xq[j] + 4 * m)));
                    s1[j] = _mm512_dpbusd_epi32(s1[j], w1, _mm512_set1_epi32((int32_t)load_u32(xq[j] + 4 * m + 4)));
                }
            }
        } else {
            const q4_0_x16 *blk = (const q4_0_x16 *)p;
            AVX512_UNROLL
            for (int m = 0; m < 4; m++) {
                const __m512i q = _mm512_loadu_si512(blk->qs[m]);
                const __m512i lo = _mm512_and_si512(q, lo4);
                const __m512i hi = _mm512_and_si512(_mm512_srli_epi16(q, 4), lo4);
                AVX512_UNROLL
                for (int j = 0; j < nx; j++) {
                    s0[j] = _mm512_dpbusd_epi32(s0[j], lo, _mm512_set1_epi32((int32_t)load_u32(xq[j] + 4 * m)));
                    s1[j] = _mm512_dpbusd_epi32(s1[j], hi, _mm512_set1_epi32((int32_t)load_u32(xq[j] + 16 + 4 * m)));
                }
            }
        }
        const __m512 dw = _mm512_loadu_ps((const float *)p); // d[] leads both layouts
        AVX512_UNROLL
        for (int j = 0; j < nx; j++) {
            const __m512i sum = _mm512_add_epi32(s0[j], s1[j]);
            acc[j] = _mm512_fmadd_ps(_mm512_mul_ps(dw, _mm512_set1_ps(f16_at(&xb[j]->d))),
                                     _mm512_cvtepi32_ps(sum), acc[j]);
        }
    }
    AVX512_UNROLL
    for (int j = 0; j < nx; j++)
        out[j] = acc[j];
}

// The packed tile of a type: activation rows past nx repeat the last one.
static void packed_tile(int64_t n, float *y, int64_t y_stride, const void *wp, int64_t nw,
                        const void *x, size_t x_row_size, int64_t nx, bool q8) {
    const uint8_t *xr[NX];
    for (int j = 0; j < NX; j++)
        xr[j] = (const uint8_t *)x + (size_t)(j < nx ? j : nx - 1) * x_row_size;
    __m512 out[NX];
    const int64_t nb = n / 32;
    if (nx > 4)
        packed_q(nb, wp, xr, q8, 8, out);
    else if (nx > 2)
        packed_q(nb, wp, xr, q8, 4, out);
    else if (nx == 2)
        packed_q(nb, wp, xr, q8, 2, out);
    else
        packed_q(nb, wp, xr, q8, 1, out);
    store_lanes(y, y_stride, out, nw, nx);
}

void kv_packed_q4_0_q8_0_avx512(int64_t n, float *y, int64_t y_stride, const void *wp,
                                int64_t nw, const void *x, size_t x_row_size, int64_t nx) {
    packed_tile(n, y, y_stride, wp, nw, x, x_row_size, nx, false);
}

void kv_packed_q8_0_q8_0_avx512(int64_t n, float *y, int64_t y_stride, const void *wp,
                                int64_t nw, const void *x, size_t x_row_size, int64_t nx) {
    packed_tile(n, y, y_stride, wp, nw, x, x_row_size, nx, true);
}

size_t kv_pack_size_q4_0_x16_avx512(int64_t n) { return (size_t)(n / 32) * sizeof(q4_0_x16); }
size_t kv_pack_size_q8_0_x16_avx512(int64_t n) { return (size_t)(n / 32) * sizeof(q8_0_x16); }

// Sixteen rows' blocks (row r at w + r * w_row_size, rows past nw repeating the
// last) into dword-transposed packed blocks: d at offset 0 of each block, ng
// quant dwords from byte 2 on, xor-ed with flip.
static void pack_rows(int64_t n, const void *w, size_t w_row_size, int64_t nw, size_t block,
                      int ng, int flip, float *out_d, size_t out_block) {
    const uint8_t *src = w;
    uint8_t *dst = (uint8_t *)out_d;
    __m512i idx;
    if (row_offsets(w_row_size, nw, &idx)) {
        const __m512i fx = _mm512_set1_epi8((char)flip);
        for (int64_t b = 0; b < n / 32; b++) {
            const uint8_t *blk = src + (size_t)b * block;
            uint8_t *o = dst + (size_t)b * out_block;
            _mm512_storeu_ps(o, gather_f16_lo(blk, idx));
            for (int m = 0; m < ng; m++)
                _mm512_storeu_si512(o + 64 + 64 * m, _mm512_xor_si512(gather_rows(blk + 2 + 4 * m, idx), fx));
        }
        return;
    }
    for (int64_t b = 0; b < n / 32; b++) // rows too far apart for int32 gather indices
        for (int r = 0; r < NW; r++) {
            const uint8_t *blk = src + (size_t)(r < nw ? r : nw - 1) * w_row_size + (size_t)b * block;
            uint8_t *o = dst + (size_t)b * out_block;
            kv_f16 h;
            memcpy(&h, blk, sizeof h);
            const float d = f16_to_f32(h);
            memcpy(o + 4 * r, &d, sizeof d);
            for (int m = 0; m < ng; m++)
                for (int k = 0; k < 4; k++)
                    o[64 + 64 * m + 4 * r + k] = (uint8_t)(blk[2 + 4 * m + k] ^ flip);
        }
}

void kv_pack_q4_0_x16_avx512(int64_t n, const void *w, size_t w_row_size, int64_t nw, void *out) {
    pack_rows(n, w, w_row_size, nw, sizeof(kv_block_q4_0), 4, 0, out, sizeof(q4_0_x16));
}

void kv_pack_q8_0_x16_avx512(int64_t n, const void *w, size_t w_row_size, int64_t nw, void *out) {
    pack_rows(n, w, w_row_size, nw, sizeof(kv_block_q8_0), 8, 0x80, out, sizeof(q8_0_x16));
}

#endif
