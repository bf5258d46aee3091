// The AMX packed path of Q4_0 and Q8_0 (amx.h). Both types repack to one
// layout: per block of sixteen weight rows, their scales as floats and a B
// tile of the signed weights (Q4_0: nibble - 8), B[k][4 r + i] = weight
// 4k + i of row r. The tile multiplies it with up to sixteen activation rows.
#if (defined(__AMX_INT8__) || defined(__AMXINT8__)) && defined(__AVX512VNNI__) // gcc, clang names
#include "kernels/amx/amx.h"

#include "kernels/avx512/avx512_util.h"
#include "kvant/kv_blocks.h"

#define NW KV_AMX_PACK_Q_NW
#define NX KV_AMX_PACK_Q_NX
_Static_assert(NW == 16 && NX == 16, "one tile of 16 x 16 int32 sums");

typedef struct {
    float d[NW];
    int8_t b[8][4 * NW]; // the B tile: [dword k][row r, byte i] = weight 4k + i of row r
} q_x16;

// The tile configuration (palette 1): tiles 0, 1 the C tiles of two blocks
// (nx rows of 16 int32), 2, 3 their A tiles (nx activation rows of 32 bytes),
// 4, 5 their B tiles (8 rows of 64 bytes).
typedef struct {
    uint8_t palette, start_row;
    uint8_t reserved[14];
    uint16_t colsb[16];
    uint8_t rows[16];
} tile_config;

static void configure(int nx) {
    tile_config c;
    memset(&c, 0, sizeof c);
    c.palette = 1;
    for (int t = 0; t < 2; t++) {
        c.colsb[t] = 64, c.rows[t] = (uint8_t)nx;         // C
        c.colsb[2 + t] = 32, c.rows[2 + t] = (uint8_t)nx; // A
        c.colsb[4 + t] = 64, c.rows[4 + t] = 8;           // B
    }
    _tile_loadconfig(&c);
}

// acc[j] = fma(d_w * d_x[j], (float)sums[j], acc[j]) for activation rows j < nx
// of block b: the float part of the AVX2 table's dot product, a lane per weight row.
AVX512_INLINE void scale_add(__m512 *acc, const int32_t sums[NX][NW], const float *dw,
                             const uint8_t *x, size_t x_row_size, int64_t b, const int nx) {
    const __m512 d = _mm512_loadu_ps(dw);
    AVX512_UNROLL
    for (int j = 0; j < nx; j++) {
        const kv_block_q8_0 *xb = (const kv_block_q8_0 *)(x + (size_t)j * x_row_size) + b;
        const __m512i s = _mm512_loadu_si512(sums[j]);
        acc[j] = _mm512_fmadd_ps(_mm512_mul_ps(d, _mm512_set1_ps(f16_at(&xb->d))),
                                 _mm512_cvtepi32_ps(s), acc[j]);
    }
}

// nx activation rows (nx a constant after inlining, or the generic tail) by the
// sixteen packed rows of nb blocks; two blocks per step, their float parts in
// block order.
AVX512_INLINE void packed(int64_t nb, const q_x16 *wp, const uint8_t *x, size_t x_row_size,
                          const int nx, __m512 acc[NX]) {
    int32_t sums[2][NX][NW] __attribute__((aligned(64)));
    for (int j = 0; j < nx; j++)
        acc[j] = _mm512_setzero_ps();
    const uint8_t *xq = x + offsetof(kv_block_q8_0, qs);
    int64_t b = 0;
    for (; b + 2 <= nb; b += 2) {
        _tile_zero(0);
        _tile_zero(1);
        _tile_loadd(2, xq + (size_t)b * sizeof(kv_block_q8_0), (long)x_row_size);
        _tile_loadd(4, wp[b].b, 64);
        _tile_loadd(3, xq + (size_t)(b + 1) * sizeof(kv_block_q8_0), (long)x_row_size);
        _tile_loadd(5, wp[b + 1].b, 64);
        _tile_dpbssd(0, 2, 4);
        _tile_dpbssd(1, 3, 5);
        _tile_stored(0, sums[0], 64);
        _tile_stored(1, sums[1], 64);
        scale_add(acc, sums[0], wp[b].d, x, x_row_size, b, nx);
        scale_add(acc, sums[1], wp[b + 1].d, x, x_row_size, b + 1, nx);
    }
    if (b < nb) {
        _tile_zero(0);
        _tile_loadd(2, xq + (size_t)b * sizeof(kv_block_q8_0), (long)x_row_size);
        _tile_loadd(4, wp[b].b, 64);
        _tile_dpbssd(0, 2, 4);
        _tile_stored(0, sums[0], 64);
        scale_add(acc, sums[0], wp[b].d, x, x_row_size, b, nx);
    }
}

static void packed_any(int64_t nb, const q_x16 *wp, const uint8_t *x, size_t x_row_size, int nx,
                       __m512 acc[NX]) {
    packed(nb, wp, x, x_row_size, nx, acc);
}

void kv_packed_q_q8_0_amx(int64_t n, float *y, int64_t y_stride, const void *wp, int64_t nw,
                          const void *x, size_t x_row_size, int64_t nx) {
    __m512 acc[NX];
    configure((int)nx);
    if (nx == NX)
        packed(n / 32, wp, x, x_row_size, NX, acc);
    else
        packed_any(n / 32, wp, x, x_row_size, (int)nx, acc);
    _tile_release();
    store_lanes(y, y_stride, acc, nw, nx);
}

size_t kv_pack_size_q_x16_amx(int64_t n) { return (size_t)(n / 32) * sizeof(q_x16); }

// Sixteen rows' blocks (rows past nw repeat the last one) into q_x16 blocks:
// the scale at byte 0 of each block, quant bytes from byte 2.
static void pack_rows(int64_t n, const void *w, size_t w_row_size, int64_t nw, size_t block,
                      bool q4, q_x16 *p) {
    __m512i idx;
    const bool gather = row_offsets(w_row_size, nw, &idx);
    const __m512i lo4 = _mm512_set1_epi8(0x0F), eight = _mm512_set1_epi8(8);
    for (int64_t b = 0; b < n / 32; b++, p++) {
        const uint8_t *blk = (const uint8_t *)w + (size_t)b * block;
        __m512i q[8];
        if (gather) {
            _mm512_storeu_ps(p->d, gather_f16_lo(blk, idx));
            for (int m = 0; m < (q4 ? 4 : 8); m++)
                q[m] = gather_rows(blk + 2 + 4 * m, idx);
        } else { // rows too far apart for int32 gather indices
            int32_t g[8][NW];
            for (int r = 0; r < NW; r++) {
                const uint8_t *row = blk + (size_t)(r < nw ? r : nw - 1) * w_row_size;
                kv_f16 h;
                memcpy(&h, row, sizeof h);
                p->d[r] = f16_to_f32(h);
                for (int m = 0; m < (q4 ? 4 : 8); m++)
                    memcpy(&g[m][r], row + 2 + 4 * m, 4);
            }
            for (int m = 0; m < (q4 ? 4 : 8); m++)
                q[m] = _mm512_loadu_si512(g[m]);
        }
        if (q4) // elements 4m.. in the low nibbles of dword m, 16 + 4m.. in the high
            for (int m = 0; m < 4; m++) {
                q[4 + m] = _mm512_sub_epi8(_mm512_and_si512(_mm512_srli_epi16(q[m], 4), lo4), eight);
                q[m] = _mm512_sub_epi8(_mm512_and_si512(q[m], lo4), eight);
            }
        for (int k = 0; k < 8; k++)
            _mm512_storeu_si512(p->b[k], q[k]);
    }
}

void kv_pack_q4_0_x16_amx(int64_t n, const void *w, size_t w_row_size, int64_t nw, void *out) {
    pack_rows(n, w, w_row_size, nw, sizeof(kv_block_q4_0), true, out);
}

void kv_pack_q8_0_x16_amx(int64_t n, const void *w, size_t w_row_size, int64_t nw, void *out) {
    pack_rows(n, w, w_row_size, nw, sizeof(kv_block_q8_0), false, out);
}

#endif
