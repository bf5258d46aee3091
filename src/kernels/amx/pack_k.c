// The AMX packed paths of Q4_K and Q6_K (amx.h). A sub-block's scale differs
// per weight row, so one TDPBSSD per sub-block would need a tile store and a
// vpmulld per sub-block to apply it. Instead the repacked weights carry the
// scale: w = scale * q (Q4_K: 0..945; Q6_K: scale * (u - 32), -4096..4096) is
// split into its low byte (unsigned) and the bits above (Q4_K 0..3, Q6_K
// signed -16..16), two B tiles, and TDPBSUD (TDPBSSD for Q6_K's high part)
// sums a whole super-block (four K = 64 steps) against the signed Q8_K
// activation bytes into two C tiles: isum = lo + 256 hi, the exact integer
// sum of the super-block (Q6_K: with the -32 part the AVX2 table takes off as
// 32 * sum of scale * bsum already in). Two C tiles stored per super-block and
// 16 activation rows, not eight or sixteen, and no integer multiply.
//
// Q4_K's min part, imin = sum of min * (32-sum of x), is the AVX-512 table's
// (vpmaddwd / vpdpwssd on the mins against the activation bsums), and the
// float part is the AVX2 table's, lane for lane: acc += (d * d_x) * isum (and acc_min +=
// (dmin * d_x) * imin) with FMA, super-blocks in order, y = acc (- acc_min);
// so each pair has the bits of the AVX2 table's vec_dot
// (tests/unit/test_kernels_tiles.c). The copies take 8576 (Q4_K) and 8256
// (Q6_K) bytes per super-block of sixteen rows: 3.7 and 2.5 times the rows.
#if (defined(__AMX_INT8__) || defined(__AMXINT8__)) && defined(__AVX512VNNI__) // gcc, clang names
#include "kernels/amx/amx.h"

#include <stddef.h>

#include "kernels/avx512/avx512_util.h"
#include "kvant/kv_blocks.h"

#define NW KV_AMX_PACK_K_NW
#define NX KV_AMX_PACK_K_NX
_Static_assert(NW == 16 && NX == 32, "two groups of 16 x 16 int32 sums");

// One super-block column of sixteen Q4_K rows. B tile c of lo (hi) holds
// elements 64c.. of the rows: [dword k][row r, byte i] = the low byte (the
// bits above it) of scale * q of element 64c + 4k + i of row r.
typedef struct {
    uint8_t lo[4][16][4 * NW];
    uint8_t hi[4][16][4 * NW];
} split_tiles;

typedef struct {
    float d[NW], dmin[NW];
    int16_t mins[4][NW][2]; // [sub-block pair][row][sub-block of the pair]
    split_tiles t;
} q4_k_amx;
_Static_assert(offsetof(q4_k_amx, t) % 64 == 0 && sizeof(q4_k_amx) % 64 == 0, "tile rows");

// Q6_K: w = scale * (u - 32), |w| <= 4096: hi is signed (-16..16), lo unsigned.
typedef struct {
    float d[NW];
    split_tiles t;
} q6_k_amx;
_Static_assert(offsetof(q6_k_amx, t) % 64 == 0 && sizeof(q6_k_amx) % 64 == 0, "tile rows");

// The tile configuration (palette 1): tiles 0, 1 the lo, hi C tiles of
// activation rows 0..15 (n0 rows), 2, 3 those of rows 16..31 (n1 rows, none
// when n1 is 0), 4, 5 the two groups' A tiles (64 bytes of Q8_K quants per
// row), 6, 7 the lo, hi B tiles (16 rows of 64 bytes).
typedef struct {
    uint8_t palette, start_row;
    uint8_t reserved[14];
    uint16_t colsb[16];
    uint8_t rows[16];
} tile_config;

static void configure(int n0, int n1) {
    tile_config c;
    memset(&c, 0, sizeof c);
    c.palette = 1;
    for (int t = 0; t < 2; t++) {
        c.colsb[t] = 64, c.rows[t] = (uint8_t)n0;
        c.colsb[6 + t] = 64, c.rows[6 + t] = 16;
        if (n1)
            c.colsb[2 + t] = 64, c.rows[2 + t] = (uint8_t)n1;
    }
    c.colsb[4] = 64, c.rows[4] = (uint8_t)n0;
    if (n1)
        c.colsb[5] = 64, c.rows[5] = (uint8_t)n1;
    _tile_loadconfig(&c);
}

// The int32 sums of super-block i: C tiles 0, 1 (and 2, 3 when two groups)
// from the Q8_K quants at xq (row j at xq + j * x_row_size) and packed b.
// Q6_K's hi tile is signed (TDPBSSD), Q4_K's unsigned (TDPBSUD).
AVX512_INLINE void super_block(const split_tiles *b, const uint8_t *xq, size_t x_row_size,
                               const bool two, const bool hi_signed) {
    _tile_zero(0);
    _tile_zero(1);
    if (two) {
        _tile_zero(2);
        _tile_zero(3);
    }
    for (int c = 0; c < 4; c++) {
        _tile_loadd(4, xq + 64 * c, (long)x_row_size);
        _tile_loadd(6, b->lo[c], 64);
        _tile_loadd(7, b->hi[c], 64);
        _tile_dpbsud(0, 4, 6);
        if (hi_signed)
            _tile_dpbssd(1, 4, 7);
        else
            _tile_dpbsud(1, 4, 7);
        if (two) {
            _tile_loadd(5, xq + 16 * x_row_size + 64 * c, (long)x_row_size);
            _tile_dpbsud(2, 5, 6);
            if (hi_signed)
                _tile_dpbssd(3, 5, 7);
            else
                _tile_dpbsud(3, 5, 7);
        }
    }
}

// isum of activation row j from the tile sums: lo + 256 hi
AVX512_INLINE __m512i isum_of(const int32_t (*lo)[NW], const int32_t (*hi)[NW], int j) {
    return _mm512_add_epi32(_mm512_loadu_si512(lo[j]), _mm512_slli_epi32(_mm512_loadu_si512(hi[j]), 8));
}

// The float part of Q4_K super-block i for activation rows j < nx, from the
// tile sums: acc[j] += (d * d_x) * isum, acc_min[j] += (dmin * d_x) * imin,
// with FMA (the AVX2 table's steps).
AVX512_INLINE void scale_add_q4_k(__m512 *acc, __m512 *acc_min, const int32_t (*lo)[NW],
                                  const int32_t (*hi)[NW], const q4_k_amx *b, const uint8_t *x,
                                  size_t x_row_size, int64_t i, int nx) {
    const __m512 d = _mm512_loadu_ps(b->d), dmin = _mm512_loadu_ps(b->dmin);
    const __m512i m0 = _mm512_loadu_si512(b->mins[0]), m1 = _mm512_loadu_si512(b->mins[1]);
    const __m512i m2 = _mm512_loadu_si512(b->mins[2]), m3 = _mm512_loadu_si512(b->mins[3]);
    for (int j = 0; j < nx; j++) {
        const kv_block_q8_k *xb = (const kv_block_q8_k *)(x + (size_t)j * x_row_size) + i;
        // the 32-sums of x of sub-blocks 2q, 2q + 1 as the int16 pair of dword q of p
        const __m256i pair = _mm256_hadd_epi16(load_256(xb->bsums), _mm256_setzero_si256());
        const __m512i p = _mm512_broadcast_i32x4(
            _mm256_castsi256_si128(_mm256_permute4x64_epi64(pair, _MM_SHUFFLE(3, 1, 2, 0))));
        __m512i imin = _mm512_madd_epi16(m0, _mm512_shuffle_epi32(p, _MM_PERM_AAAA));
        imin = _mm512_dpwssd_epi32(imin, m1, _mm512_shuffle_epi32(p, _MM_PERM_BBBB));
        imin = _mm512_dpwssd_epi32(imin, m2, _mm512_shuffle_epi32(p, _MM_PERM_CCCC));
        imin = _mm512_dpwssd_epi32(imin, m3, _mm512_shuffle_epi32(p, _MM_PERM_DDDD));
        const __m512 dx = _mm512_set1_ps(xb->d);
        acc[j] = _mm512_fmadd_ps(_mm512_mul_ps(d, dx), _mm512_cvtepi32_ps(isum_of(lo, hi, j)), acc[j]);
        acc_min[j] = _mm512_fmadd_ps(_mm512_mul_ps(dmin, dx), _mm512_cvtepi32_ps(imin), acc_min[j]);
    }
}

// Q6_K: acc[j] += (d * d_x) * isum with FMA (the AVX2 table's step; isum
// already holds the -32 part, which the AVX2 table takes off as 32 * the sum
// of scale * bsum: the same integer).
AVX512_INLINE void scale_add_q6_k(__m512 *acc, const int32_t (*lo)[NW], const int32_t (*hi)[NW],
                                  const q6_k_amx *b, const uint8_t *x, size_t x_row_size,
                                  int64_t i, int nx) {
    const __m512 d = _mm512_loadu_ps(b->d);
    for (int j = 0; j < nx; j++) {
        const kv_block_q8_k *xb = (const kv_block_q8_k *)(x + (size_t)j * x_row_size) + i;
        acc[j] = _mm512_fmadd_ps(_mm512_mul_ps(d, _mm512_set1_ps(xb->d)),
                                 _mm512_cvtepi32_ps(isum_of(lo, hi, j)), acc[j]);
    }
}

// nx activation rows by the sixteen packed rows of nb super-blocks (blocks of
// `size` bytes, Q6_K's when q6). The sums of super-block i + 1 are issued
// before the float part of i, so that the tile unit and the vector units
// overlap.
AVX512_INLINE void packed(int64_t nb, const uint8_t *wp, const uint8_t *x, size_t x_row_size,
                          int nx, const bool two, const bool q6, __m512 *acc, __m512 *acc_min) {
    int32_t sums[2][NX][NW] __attribute__((aligned(64))); // [lo, hi][row j][lane]
    const size_t size = q6 ? sizeof(q6_k_amx) : sizeof(q4_k_amx);
    const size_t tiles = q6 ? offsetof(q6_k_amx, t) : offsetof(q4_k_amx, t);
    for (int j = 0; j < nx; j++)
        acc[j] = acc_min[j] = _mm512_setzero_ps();
    const uint8_t *xq = x + offsetof(kv_block_q8_k, qs);
    super_block((const split_tiles *)(wp + tiles), xq, x_row_size, two, q6);
    for (int64_t i = 0; i < nb; i++) {
        _tile_stored(0, sums[0][0], 64);
        _tile_stored(1, sums[1][0], 64);
        if (two) {
            _tile_stored(2, sums[0][16], 64);
            _tile_stored(3, sums[1][16], 64);
        }
        if (i + 1 < nb)
            super_block((const split_tiles *)(wp + (size_t)(i + 1) * size + tiles),
                        xq + (size_t)(i + 1) * sizeof(kv_block_q8_k), x_row_size, two, q6);
        const uint8_t *b = wp + (size_t)i * size;
        if (q6)
            scale_add_q6_k(acc, sums[0], sums[1], (const q6_k_amx *)b, x, x_row_size, i, nx);
        else
            scale_add_q4_k(acc, acc_min, sums[0], sums[1], (const q4_k_amx *)b, x, x_row_size, i, nx);
    }
}

static void packed_k(int64_t n, float *y, int64_t y_stride, const void *wp, int64_t nw,
                     const void *x, size_t x_row_size, int64_t nx, const bool q6) {
    __m512 acc[NX], acc_min[NX];
    const int n0 = nx > 16 ? 16 : (int)nx, n1 = (int)nx - n0;
    configure(n0, n1);
    if (n1)
        packed(n / KV_QK_K, wp, x, x_row_size, (int)nx, true, q6, acc, acc_min);
    else
        packed(n / KV_QK_K, wp, x, x_row_size, (int)nx, false, q6, acc, acc_min);
    _tile_release();
    if (!q6)
        for (int j = 0; j < nx; j++)
            acc[j] = _mm512_sub_ps(acc[j], acc_min[j]);
    store_lanes(y, y_stride, acc, nw, nx);
}

void kv_packed_q4_k_q8_k_amx(int64_t n, float *y, int64_t y_stride, const void *wp, int64_t nw,
                             const void *x, size_t x_row_size, int64_t nx) {
    packed_k(n, y, y_stride, wp, nw, x, x_row_size, nx, false);
}

void kv_packed_q6_k_q8_k_amx(int64_t n, float *y, int64_t y_stride, const void *wp, int64_t nw,
                             const void *x, size_t x_row_size, int64_t nx) {
    packed_k(n, y, y_stride, wp, nw, x, x_row_size, nx, true);
}

size_t kv_pack_size_q4_k_amx(int64_t n) { return (size_t)(n / KV_QK_K) * sizeof(q4_k_amx); }
size_t kv_pack_size_q6_k_amx(int64_t n) { return (size_t)(n / KV_QK_K) * sizeof(q6_k_amx); }

// The 64 products w of chunk c of a row (int16, in element order) as their low
// bytes and high bytes (arithmetic shift: Q6_K's are signed) at lo, hi.
AVX512_INLINE void split_store(__m512i w0, __m512i w1, uint8_t *lo, uint8_t *hi) {
    _mm256_storeu_si256((__m256i *)lo, _mm512_cvtepi16_epi8(w0));
    _mm256_storeu_si256((__m256i *)(lo + 32), _mm512_cvtepi16_epi8(w1));
    _mm256_storeu_si256((__m256i *)hi, _mm512_cvtepi16_epi8(_mm512_srai_epi16(w0, 8)));
    _mm256_storeu_si256((__m256i *)(hi + 32), _mm512_cvtepi16_epi8(_mm512_srai_epi16(w1, 8)));
}

// Sixteen rows' bytes in element order (row r at lo[r], hi[r]) into B tiles.
static void to_tiles(const uint8_t lo[NW][KV_QK_K], const uint8_t hi[NW][KV_QK_K], split_tiles *t) {
    for (int c = 0; c < 4; c++)
        for (int g = 0; g < 4; g++) { // dwords k = 4g.. of chunk c, sixteen rows to a zmm
            __m512i v[4];
            rows16_x4(lo[0] + 64 * c + 16 * g, KV_QK_K, v);
            for (int k = 0; k < 4; k++)
                _mm512_storeu_si512(t->lo[c][4 * g + k], v[k]);
            rows16_x4(hi[0] + 64 * c + 16 * g, KV_QK_K, v);
            for (int k = 0; k < 4; k++)
                _mm512_storeu_si512(t->hi[c][4 * g + k], v[k]);
        }
}

// Super-block i of sixteen Q4_K rows into p.
static void pack_q4_k_block(q4_k_amx *p, const uint8_t *const rows[NW]) {
    uint8_t lo[NW][KV_QK_K], hi[NW][KV_QK_K];
    const __m512i lo4 = _mm512_set1_epi8(0x0F);
    for (int r = 0; r < NW; r++) {
        const kv_block_q4_k *b = (const kv_block_q4_k *)rows[r];
        p->d[r] = f16_to_f32(b->d);
        p->dmin[r] = f16_to_f32(b->dmin);
        uint8_t sm[16]; // scales in bytes 0..7, mins in 8..15
        _mm_storeu_si128((__m128i *)sm, k4_scales_mins(b->scales));
        for (int q = 0; q < 4; q++) {
            p->mins[q][r][0] = sm[8 + 2 * q];
            p->mins[q][r][1] = sm[8 + 2 * q + 1];
        }
        // elements 64c + l: the low nibble of qs[32c + l] for l < 32, else the high one
        for (int c = 0; c < 4; c++) {
            const __m512i q2 = _mm512_castsi256_si512(load_256(b->qs + 32 * c));
            const __m256i high = _mm512_castsi512_si256(_mm512_srli_epi16(q2, 4));
            const __m512i both = _mm512_inserti64x4(q2, high, 1);
            const __m512i q = _mm512_and_si512(both, lo4);
            const __m512i w0 = _mm512_mullo_epi16(_mm512_cvtepu8_epi16(_mm512_castsi512_si256(q)),
                                                  _mm512_set1_epi16(sm[2 * c]));
            const __m512i w1 = _mm512_mullo_epi16(_mm512_cvtepu8_epi16(_mm512_extracti64x4_epi64(q, 1)),
                                                  _mm512_set1_epi16(sm[2 * c + 1]));
            split_store(w0, w1, lo[r] + 64 * c, hi[r] + 64 * c);
        }
    }
    to_tiles((const uint8_t (*)[KV_QK_K])lo, (const uint8_t (*)[KV_QK_K])hi, &p->t);
}

// Super-block i of sixteen Q6_K rows into p. Element 128 h + 32 s + l has the
// nibble (low for s < 2) of ql[64 h + 32 (s % 2) + l] and bits 2s, 2s + 1 of
// qh[32 h + l] on top: u in 0..63, w = scale[e / 16] * (u - 32).
static void pack_q6_k_block(q6_k_amx *p, const uint8_t *const rows[NW]) {
    uint8_t lo[NW][KV_QK_K], hi[NW][KV_QK_K];
    const __m256i lo4 = _mm256_set1_epi8(0x0F), lo2 = _mm256_set1_epi8(3), k32 = _mm256_set1_epi8(32);
    for (int r = 0; r < NW; r++) {
        const kv_block_q6_k *b = (const kv_block_q6_k *)rows[r];
        p->d[r] = f16_to_f32(b->d);
        __m512i w[2];
        for (int k = 0; k < 8; k++) { // elements 32k..: h = k / 4, s = k % 4
            const int h = k / 4, s = k % 4;
            const __m256i ql = load_256(b->ql + 64 * h + 32 * (s % 2));
            const __m256i qh = load_256(b->qh + 32 * h);
            const __m256i nib = s < 2 ? _mm256_and_si256(ql, lo4)
                                      : _mm256_and_si256(_mm256_srli_epi16(ql, 4), lo4);
            const __m256i top = _mm256_slli_epi16(_mm256_and_si256(_mm256_srli_epi16(qh, 2 * s), lo2), 4);
            const __m256i q = _mm256_sub_epi8(_mm256_or_si256(nib, top), k32);
            // lanes 0..15 (elements 32k..) take scale 2k, lanes 16..31 scale 2k + 1
            w[k % 2] = _mm512_mullo_epi16(_mm512_cvtepi8_epi16(q),
                                          _mm512_inserti64x4(_mm512_set1_epi16(b->scales[2 * k]),
                                                             _mm256_set1_epi16(b->scales[2 * k + 1]), 1));
            if (k % 2)
                split_store(w[0], w[1], lo[r] + 32 * (k - 1), hi[r] + 32 * (k - 1));
        }
    }
    to_tiles((const uint8_t (*)[KV_QK_K])lo, (const uint8_t (*)[KV_QK_K])hi, &p->t);
}

// Row r of super-block i (rows past nw repeat the last one)
static void block_rows(const void *w, size_t w_row_size, int64_t nw, int64_t i, size_t block,
                       const uint8_t *rows[NW]) {
    for (int r = 0; r < NW; r++)
        rows[r] = (const uint8_t *)w + (size_t)(r < nw ? r : nw - 1) * w_row_size + (size_t)i * block;
}

void kv_pack_q4_k_amx(int64_t n, const void *w, size_t w_row_size, int64_t nw, void *out) {
    q4_k_amx *p = out;
    for (int64_t i = 0; i < n / KV_QK_K; i++, p++) {
        const uint8_t *rows[NW];
        block_rows(w, w_row_size, nw, i, sizeof(kv_block_q4_k), rows);
        pack_q4_k_block(p, rows);
    }
}

void kv_pack_q6_k_amx(int64_t n, const void *w, size_t w_row_size, int64_t nw, void *out) {
    q6_k_amx *p = out;
    for (int64_t i = 0; i < n / KV_QK_K; i++, p++) {
        const uint8_t *rows[NW];
        block_rows(w, w_row_size, nw, i, sizeof(kv_block_q6_k), rows);
        pack_q6_k_block(p, rows);
    }
}

#endif
