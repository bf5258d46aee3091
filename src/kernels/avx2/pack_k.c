// The packed paths of Q4_K, Q5_K, Q6_K and IQ4_XS (pack_k.h): the repacking of eight rows
// and the AVX2 builds of the packed tiles (avxvnni/pack_k.c has the VNNI ones).
#if defined(__AVX2__)
#include "kernels/avx2/avx2.h"

#include <stddef.h>
#include <string.h>

#define TILE_SUFFIX _avx2
#include "kernels/avx2/pack_k.h"

PACK_K_DEFINE(q4_k_q8_k, kv_q4_k_x8, packed_q4_k)
PACK_K_DEFINE(q6_k_q8_k, kv_q6_k_x8, packed_q6_k)
PACK_K_DEFINE(q5_k_q8_k, kv_q5_k_x8, packed_q5_k)
PACK_K_DEFINE(iq4_xs_q8_k, kv_iq4_xs_x8, packed_iq4_xs)

size_t kv_pack_size_q4_k_x8(int64_t n) { return (size_t)(n / KV_QK_K) * sizeof(kv_q4_k_x8); }
size_t kv_pack_size_q6_k_x8(int64_t n) { return (size_t)(n / KV_QK_K) * sizeof(kv_q6_k_x8); }
size_t kv_pack_size_q5_k_x8(int64_t n) { return (size_t)(n / KV_QK_K) * sizeof(kv_q5_k_x8); }
size_t kv_pack_size_iq4_xs_x8(int64_t n) { return (size_t)(n / KV_QK_K) * sizeof(kv_iq4_xs_x8); }

// The eight rows' super-block i: rows past nw repeat the last one (their lanes
// are computed and dropped).
static void rows_at(const void *w, size_t w_row_size, int64_t nw, size_t block, int64_t i,
                    const uint8_t *rows[K4X8_ROWS]) {
    for (int64_t r = 0; r < K4X8_ROWS; r++)
        rows[r] = (const uint8_t *)w + (size_t)(r < nw ? r : nw - 1) * w_row_size + (size_t)i * block;
}

// 32 bytes at offset off of each row, dword-transposed into out[0..7]
static void store_transposed(const uint8_t *const rows[K4X8_ROWS], size_t off, uint8_t *out) {
    __m256i v[8];
    for (int r = 0; r < 8; r++)
        v[r] = load_256(rows[r] + off);
    transpose_8x8_i32(v);
    for (int m = 0; m < 8; m++)
        _mm256_storeu_si256((__m256i *)(out + 32 * m), v[m]);
}

// ---- Q4_K ----

// Q5_K's scales sit where Q4_K's do: the Q4_K part of a Q5_K column is packed alike
_Static_assert(offsetof(kv_block_q5_k, d) == offsetof(kv_block_q4_k, d) &&
                   offsetof(kv_block_q5_k, dmin) == offsetof(kv_block_q4_k, dmin) &&
                   offsetof(kv_block_q5_k, scales) == offsetof(kv_block_q4_k, scales),
               "q4_k / q5_k scale layout");

// The Q4_K column of eight rows whose 4-bit quants start qs bytes into a block
static void pack_k4_block(kv_q4_k_x8 *p, const uint8_t *const rows[K4X8_ROWS], size_t qs) {
    __m128i sm[K4X8_ROWS]; // per row: scales in bytes 0..7, mins in 8..15
    __m256i mins[K4X8_ROWS];
    for (int r = 0; r < K4X8_ROWS; r++) {
        const kv_block_q4_k *b = (const kv_block_q4_k *)rows[r];
        p->d[r] = f16_to_f32(b->d);
        p->dmin[r] = f16_to_f32(b->dmin);
        sm[r] = k4_scales_mins(b->scales);
        // the mins as int16 pairs (2q, 2q + 1) in dwords 0..3; dwords 4..7 spare
        mins[r] = _mm256_set_m128i(_mm_setzero_si128(), _mm_cvtepu8_epi16(_mm_srli_si128(sm[r], 8)));
    }
    // scales[s][r]: an 8 x 8 byte transpose
    __m128i a[4], c[4];
    for (int k = 0; k < 4; k++)
        a[k] = _mm_unpacklo_epi8(sm[2 * k], sm[2 * k + 1]);
    for (int k = 0; k < 2; k++) {
        c[2 * k] = _mm_unpacklo_epi16(a[2 * k], a[2 * k + 1]);
        c[2 * k + 1] = _mm_unpackhi_epi16(a[2 * k], a[2 * k + 1]);
    }
    _mm_storeu_si128((__m128i *)p->scales[0], _mm_unpacklo_epi32(c[0], c[2]));
    _mm_storeu_si128((__m128i *)p->scales[2], _mm_unpackhi_epi32(c[0], c[2]));
    _mm_storeu_si128((__m128i *)p->scales[4], _mm_unpacklo_epi32(c[1], c[3]));
    _mm_storeu_si128((__m128i *)p->scales[6], _mm_unpackhi_epi32(c[1], c[3]));
    transpose_8x8_i32(mins); // mins[q] lane r: row r's pair q
    for (int q = 0; q < 4; q++)
        _mm256_storeu_si256((__m256i *)p->mins[q], mins[q]);
    for (int c4 = 0; c4 < 4; c4++)
        store_transposed(rows, qs + 32 * (size_t)c4, p->qs[c4][0]);
}

static void pack_q4_k_block(void *out, const uint8_t *const rows[K4X8_ROWS]) {
    pack_k4_block(out, rows, offsetof(kv_block_q4_k, qs));
}

// ---- Q5_K ----

static void pack_q5_k_block(void *out, const uint8_t *const rows[K4X8_ROWS]) {
    kv_q5_k_x8 *p = out;
    pack_k4_block(&p->k4, rows, offsetof(kv_block_q5_k, qs));
    store_transposed(rows, offsetof(kv_block_q5_k, qh), p->qh[0]);
}

// ---- IQ4_XS ----

static void pack_iq4_xs_block(void *out, const uint8_t *const rows[K4X8_ROWS]) {
    kv_iq4_xs_x8 *p = out;
    for (int r = 0; r < K4X8_ROWS; r++) {
        const kv_block_iq4_xs *b = (const kv_block_iq4_xs *)rows[r];
        p->d[r] = f16_to_f32(b->d);
        for (int s = 0; s < 8; s++) { // 6-bit ls: nibble s of scales_l, bits 2s, 2s + 1 of scales_h
            const int ls = (b->scales_l[s / 2] >> 4 * (s % 2) & 0x0F) | (b->scales_h >> 2 * s & 3) << 4;
            p->sc[s][r] = (int8_t)(ls - 32);
            p->sc_pair[s / 2][r][s % 2] = (int16_t)(ls - 32);
        }
    }
    // 32 bytes (sub-blocks 2c, 2c + 1) of each row, dword-transposed
    for (int c = 0; c < 4; c++)
        store_transposed(rows, offsetof(kv_block_iq4_xs, qs) + 32 * (size_t)c, p->qs[2 * c][0]);
}

// ---- Q6_K ----

// The quants of chunk k (elements 32k..32k+31) of a Q6_K super-block as bytes
// u = q + 32: element 128 h + 32 s + l has the nibble (low for s < 2) of
// ql[64 h + 32 (s % 2) + l] and bits 2s, 2s+1 of qh[32 h + l] on top.
static __m256i q6_k_chunk(const kv_block_q6_k *b, int k) {
    const int h = k / 4, s = k % 4;
    const __m256i lo4 = _mm256_set1_epi8(0x0F), lo2 = _mm256_set1_epi8(3);
    const __m256i ql = load_256(b->ql + 64 * h + 32 * (s % 2));
    const __m256i qh = load_256(b->qh + 32 * h);
    const __m256i nib = s < 2 ? _mm256_and_si256(ql, lo4)
                              : _mm256_and_si256(_mm256_srli_epi16(ql, 4), lo4);
    const __m256i top = _mm256_slli_epi16(_mm256_and_si256(_mm256_srli_epi16(qh, 2 * s), lo2), 4);
    return _mm256_or_si256(nib, top);
}

static void pack_q6_k_block(void *out, const uint8_t *const rows[K4X8_ROWS]) {
    kv_q6_k_x8 *p = out;
    __m256i v[K4X8_ROWS];
    for (int r = 0; r < K4X8_ROWS; r++) {
        const kv_block_q6_k *b = (const kv_block_q6_k *)rows[r];
        p->d[r] = f16_to_f32(b->d);
        v[r] = _mm256_cvtepi8_epi16(load_128(b->scales)); // int16 pairs (2q, 2q + 1)
    }
    transpose_8x8_i32(v);
    for (int q = 0; q < 8; q++) {
        _mm256_storeu_si256((__m256i *)p->sc_pair[q], v[q]);
        const __m256i even = _mm256_shufflehi_epi16(_mm256_shufflelo_epi16(v[q], 0xA0), 0xA0);
        const __m256i odd = _mm256_shufflehi_epi16(_mm256_shufflelo_epi16(v[q], 0xF5), 0xF5);
        _mm256_storeu_si256((__m256i *)p->sc2[2 * q], even);
        _mm256_storeu_si256((__m256i *)p->sc2[2 * q + 1], odd);
    }
    for (int k = 0; k < 8; k++) {
        for (int r = 0; r < K4X8_ROWS; r++)
            v[r] = q6_k_chunk((const kv_block_q6_k *)rows[r], k);
        transpose_8x8_i32(v);
        for (int m = 0; m < 8; m++)
            _mm256_storeu_si256((__m256i *)p->u[2 * k + m / 4][m % 4], v[m]);
    }
}

typedef void (*pack_block_fn)(void *p, const uint8_t *const rows[K4X8_ROWS]);

// Every super-block of nw rows (w_block bytes each) into out_block-byte packs.
static void pack_rows(int64_t n, const void *w, size_t w_row_size, int64_t nw, size_t w_block,
                      void *out, size_t out_block, pack_block_fn pack) {
    for (int64_t i = 0; i < n / KV_QK_K; i++) {
        const uint8_t *rows[K4X8_ROWS];
        rows_at(w, w_row_size, nw, w_block, i, rows);
        pack((uint8_t *)out + (size_t)i * out_block, rows);
    }
}

void kv_pack_q4_k_x8(int64_t n, const void *w, size_t w_row_size, int64_t nw, void *out) {
    pack_rows(n, w, w_row_size, nw, sizeof(kv_block_q4_k), out, sizeof(kv_q4_k_x8),
              pack_q4_k_block);
}

void kv_pack_q6_k_x8(int64_t n, const void *w, size_t w_row_size, int64_t nw, void *out) {
    pack_rows(n, w, w_row_size, nw, sizeof(kv_block_q6_k), out, sizeof(kv_q6_k_x8),
              pack_q6_k_block);
}

void kv_pack_q5_k_x8(int64_t n, const void *w, size_t w_row_size, int64_t nw, void *out) {
    pack_rows(n, w, w_row_size, nw, sizeof(kv_block_q5_k), out, sizeof(kv_q5_k_x8),
              pack_q5_k_block);
}

void kv_pack_iq4_xs_x8(int64_t n, const void *w, size_t w_row_size, int64_t nw, void *out) {
    pack_rows(n, w, w_row_size, nw, sizeof(kv_block_iq4_xs), out, sizeof(kv_iq4_xs_x8),
              pack_iq4_xs_block);
}

#endif
