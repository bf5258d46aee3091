// The packed paths of Q4_K, Q5_K, Q6_K and IQ4_XS for AVX-512 (avx512.h): sixteen weight rows
// repacked per super-block, one row per int32 lane: the same four quant bytes
// of the sixteen rows in one zmm, the sub-block scales and mins unpacked into
// row lanes. A tile multiplies them with up to four activation rows: per
// 32-weight sub-block vpdpbusd sums the quants against broadcast activation
// bytes, then the sub-block's scale multiplies the int32 sum once.
//
// The bits are those of the AVX2 table's dot product (avx2/tile_k.h) and
// packed tile (avx2/pack_k.h), lane for lane: per super-block the exact
// integers isum = sum of scale * (q . x) and imin = sum of min * bsum, then
// acc += (d * d_x) * isum and acc_min += (dmin * d_x) * imin with FMA,
// super-blocks in order, and y = acc - acc_min.
#if defined(__AVX512VNNI__) && defined(__AVX512BW__) && defined(__AVX512VL__)
#include "kernels/avx512/avx512.h"

#include <stddef.h>

#include "kernels/avx512/avx512_util.h"
#include "kvant/kv_blocks.h"

#define NW KV_AVX512_PACK_K_NW
#define NX KV_AVX512_PACK_K_NX
_Static_assert(NW == 16, "one zmm of rows");

// One super-block column of sixteen Q4_K rows (2560 bytes).
typedef struct {
    float d[NW], dmin[NW];
    uint8_t scales[8][NW];    // [sub-block][row]
    int16_t mins[4][NW][2];   // [sub-block pair][row][sub-block of the pair]
    uint8_t qs[4][8][NW * 4]; // [64-weight chunk][4-byte group][row, byte]
} q4_k_x16;

// The 32-sums of x of sub-blocks 2q and 2q + 1 as an int16 pair in each dword
// (bsums holds 16-sums), for vpmaddwd against per-row pairs of mins or scales.
AVX512_INLINE __m512i bsums_pair(const int16_t *bs, int q) {
    const uint32_t lo = (uint16_t)(bs[4 * q] + bs[4 * q + 1]);
    const uint32_t hi = (uint16_t)(bs[4 * q + 2] + bs[4 * q + 3]);
    return _mm512_set1_epi32((int32_t)(lo | hi << 16));
}

// The nx activation rows' super-block i, and zeroed integer sums for them.
AVX512_INLINE void x_blocks(const uint8_t *const xr[NX], int64_t i, const int nx,
                            const kv_block_q8_k *xb[NX], __m512i tot[NX]) {
    AVX512_UNROLL
    for (int j = 0; j < nx; j++) {
        xb[j] = (const kv_block_q8_k *)xr[j] + i;
        tot[j] = _mm512_setzero_si512();
    }
}

// tot[j] += (a0[j] + a1[j]) * sc: a sub-block's two dpbusd chains times its scales.
AVX512_INLINE void add_scaled(__m512i tot[NX], const __m512i a0[NX], const __m512i a1[NX],
                              __m512i sc, const int nx) {
    AVX512_UNROLL
    for (int j = 0; j < nx; j++)
        tot[j] = _mm512_add_epi32(tot[j], _mm512_mullo_epi32(_mm512_add_epi32(a0[j], a1[j]), sc));
}

// The packed tile entry point (kv_packed_tile_fn) kv_packed_<name>_avx512 over
// kernel(nb, wp, xr, nx, out), nx a constant 1, 2 or 4 in each call.
#define PACKED_ENTRY(name, kernel)                                                                 \
    void kv_packed_##name##_avx512(int64_t n, float *y, int64_t y_stride, const void *wp,         \
                                   int64_t nw, const void *x, size_t x_row_size, int64_t nx) {    \
        const uint8_t *xr[NX];                                                                     \
        for (int j = 0; j < NX; j++)                                                               \
            xr[j] = (const uint8_t *)x + (size_t)(j < nx ? j : nx - 1) * x_row_size;               \
        __m512 out[NX];                                                                            \
        const int64_t nb = n / KV_QK_K;                                                            \
        if (nx > 2)                                                                                \
            kernel(nb, wp, xr, 4, out);                                                            \
        else if (nx == 2)                                                                          \
            kernel(nb, wp, xr, 2, out);                                                            \
        else                                                                                       \
            kernel(nb, wp, xr, 1, out);                                                            \
        store_lanes(y, y_stride, out, nw, nx);                                                     \
    }

size_t kv_pack_size_q4_k_x16_avx512(int64_t n) { return (size_t)(n / KV_QK_K) * sizeof(q4_k_x16); }

// Super-block i of the sixteen rows (row r at rows[r]) into p.
static void pack_block(q4_k_x16 *p, const uint8_t *const rows[NW]) {
    for (int r = 0; r < NW; r++) {
        const kv_block_q4_k *b = (const kv_block_q4_k *)rows[r];
        p->d[r] = f16_to_f32(b->d);
        p->dmin[r] = f16_to_f32(b->dmin);
        uint8_t sm[16]; // scales in bytes 0..7, mins in 8..15
        _mm_storeu_si128((__m128i *)sm, k4_scales_mins(b->scales));
        for (int s = 0; s < 8; s++)
            p->scales[s][r] = sm[s];
        for (int q = 0; q < 4; q++) {
            p->mins[q][r][0] = sm[8 + 2 * q];
            p->mins[q][r][1] = sm[8 + 2 * q + 1];
        }
    }
}

void kv_pack_q4_k_x16_avx512(int64_t n, const void *w, size_t w_row_size, int64_t nw, void *out) {
    q4_k_x16 *p = out;
    __m512i idx;
    const bool gather = row_offsets(w_row_size, nw, &idx);
    for (int64_t i = 0; i < n / KV_QK_K; i++, p++) {
        const uint8_t *rows[NW];
        for (int r = 0; r < NW; r++)
            rows[r] = (const uint8_t *)w + (size_t)(r < nw ? r : nw - 1) * w_row_size +
                      (size_t)i * sizeof(kv_block_q4_k);
        pack_block(p, rows);
        for (int c = 0; c < 4; c++)
            for (int g = 0; g < 8; g++) {
                const size_t off = offsetof(kv_block_q4_k, qs) + 32 * (size_t)c + 4 * (size_t)g;
                if (gather) {
                    _mm512_storeu_si512(p->qs[c][g], gather_rows(rows[0] + off, idx));
                    continue;
                }
                for (int r = 0; r < NW; r++) // rows too far apart for int32 gather indices
                    memcpy(&p->qs[c][g][4 * r], rows[r] + off, 4);
            }
    }
}

// ---- Q6_K: w = d * scale * (u - 32), u in 0..63, a scale per 16 weights ----

// One super-block column of sixteen Q6_K rows (5696 bytes), the quants as bytes.
typedef struct {
    float d[NW];
    int32_t sc[16][NW];          // [sub-block][row]
    int16_t sc_pair[8][NW][2];   // [sub-block pair][row][sub-block of the pair]
    uint8_t u[16][4][NW * 4];    // [sub-block][4-byte group][row, byte]
} q6_k_x16;

// nx (1, 2 or 4) activation rows by the sixteen packed rows of nb super-blocks:
// per super-block the exact sum of scale * (u . x) less 32 * the sum of
// scale * bsum, then acc += (d * d_x) * sum with FMA (avx2/tile_k.h's integers
// and float steps).
AVX512_INLINE void packed_q6_k(int64_t nb, const q6_k_x16 *wp, const uint8_t *const xr[NX],
                               const int nx, __m512 out[NX]) {
    __m512 acc[NX];
    AVX512_UNROLL
    for (int j = 0; j < nx; j++)
        acc[j] = _mm512_setzero_ps();
    for (int64_t i = 0; i < nb; i++) {
        const q6_k_x16 *b = wp + i;
        const kv_block_q8_k *xb[NX];
        __m512i tot[NX];
        x_blocks(xr, i, nx, xb, tot);
        AVX512_UNROLL
        for (int s = 0; s < 16; s++) {
            const __m512i u0 = _mm512_loadu_si512(b->u[s][0]), u1 = _mm512_loadu_si512(b->u[s][1]);
            const __m512i u2 = _mm512_loadu_si512(b->u[s][2]), u3 = _mm512_loadu_si512(b->u[s][3]);
            const __m512i sc = _mm512_loadu_si512(b->sc[s]);
            AVX512_UNROLL
            for (int j = 0; j < nx; j++) {
                const int8_t *xq = xb[j]->qs + 16 * s;
                __m512i a0 = _mm512_dpbusd_epi32(_mm512_setzero_si512(), u0,
                                                 _mm512_set1_epi32((int32_t)load_u32(xq)));
                __m512i a1 = _mm512_dpbusd_epi32(_mm512_setzero_si512(), u1,
                                                 _mm512_set1_epi32((int32_t)load_u32(xq + 4)));
                a0 = _mm512_dpbusd_epi32(a0, u2, _mm512_set1_epi32((int32_t)load_u32(xq + 8)));
                a1 = _mm512_dpbusd_epi32(a1, u3, _mm512_set1_epi32((int32_t)load_u32(xq + 12)));
                tot[j] = _mm512_add_epi32(tot[j], _mm512_mullo_epi32(_mm512_add_epi32(a0, a1), sc));
            }
        }
        const __m512 d = _mm512_loadu_ps(b->d);
        AVX512_UNROLL
        for (int j = 0; j < nx; j++) {
            __m512i off = _mm512_setzero_si512(); // sum of scale * bsum: the -32 part
            AVX512_UNROLL
            for (int q = 0; q < 8; q++)
                off = _mm512_add_epi32(off, _mm512_madd_epi16(_mm512_loadu_si512(b->sc_pair[q]),
                                                              _mm512_set1_epi32((int32_t)load_u32(xb[j]->bsums + 2 * q))));
            const __m512i sum = _mm512_sub_epi32(tot[j], _mm512_slli_epi32(off, 5));
            acc[j] = _mm512_fmadd_ps(_mm512_mul_ps(d, _mm512_set1_ps(xb[j]->d)),
                                     _mm512_cvtepi32_ps(sum), acc[j]);
        }
    }
    AVX512_UNROLL
    for (int j = 0; j < nx; j++)
        out[j] = acc[j];
}

PACKED_ENTRY(q6_k_q8_k, packed_q6_k)

size_t kv_pack_size_q6_k_x16_avx512(int64_t n) { return (size_t)(n / KV_QK_K) * sizeof(q6_k_x16); }

// The 256 quants of a Q6_K super-block as bytes u = q + 32: element
// 128 h + 32 s + l has the nibble (low for s < 2) of ql[64 h + 32 (s % 2) + l]
// and bits 2s, 2s+1 of qh[32 h + l] on top.
static void q6_k_bytes(const kv_block_q6_k *b, uint8_t u[KV_QK_K]) {
    const __m256i lo4 = _mm256_set1_epi8(0x0F), lo2 = _mm256_set1_epi8(3);
    for (int k = 0; k < 8; k++) {
        const int h = k / 4, s = k % 4;
        const __m256i ql = load_256(b->ql + 64 * h + 32 * (s % 2));
        const __m256i qh = load_256(b->qh + 32 * h);
        const __m256i nib = s < 2 ? _mm256_and_si256(ql, lo4)
                                  : _mm256_and_si256(_mm256_srli_epi16(ql, 4), lo4);
        const __m256i top = _mm256_slli_epi16(_mm256_and_si256(_mm256_srli_epi16(qh, 2 * s), lo2), 4);
        _mm256_storeu_si256((__m256i *)(u + 32 * k), _mm256_or_si256(nib, top));
    }
}

void kv_pack_q6_k_x16_avx512(int64_t n, const void *w, size_t w_row_size, int64_t nw, void *out) {
    q6_k_x16 *p = out;
    uint8_t u[NW][KV_QK_K];
    for (int64_t i = 0; i < n / KV_QK_K; i++, p++) {
        for (int r = 0; r < NW; r++) {
            const kv_block_q6_k *b = (const kv_block_q6_k *)((const uint8_t *)w +
                                                             (size_t)(r < nw ? r : nw - 1) * w_row_size) + i;
            p->d[r] = f16_to_f32(b->d);
            for (int s = 0; s < 16; s++)
                p->sc[s][r] = b->scales[s];
            for (int q = 0; q < 8; q++) {
                p->sc_pair[q][r][0] = b->scales[2 * q];
                p->sc_pair[q][r][1] = b->scales[2 * q + 1];
            }
            q6_k_bytes(b, u[r]);
        }
        for (int s = 0; s < 16; s++) {
            __m512i g[4];
            rows16_x4(u[0] + 16 * s, KV_QK_K, g);
            for (int k = 0; k < 4; k++)
                _mm512_storeu_si512(p->u[s][k], g[k]);
        }
    }
}

// ---- shared by Q5_K and IQ4_XS ----

// count dwords of the sixteen rows from byte off on, dword k of row r into
// bytes 4r..4r+3 of out[k] (gathered where the row offsets fit int32)
static void rows_dwords(uint8_t (*out)[NW * 4], const uint8_t *const rows[NW], size_t off,
                        int count, bool gather, __m512i idx) {
    for (int k = 0; k < count; k++) {
        const size_t at = off + 4 * (size_t)k;
        if (gather) {
            _mm512_storeu_si512(out[k], gather_rows(rows[0] + at, idx));
            continue;
        }
        for (int r = 0; r < NW; r++)
            memcpy(&out[k][4 * r], rows[r] + at, 4);
    }
}

// Super-block i of the sixteen rows of `block` bytes each (rows past nw repeat the last)
static void rows_at(const void *w, size_t w_row_size, int64_t nw, size_t block, int64_t i,
                    const uint8_t *rows[NW]) {
    for (int r = 0; r < NW; r++)
        rows[r] = (const uint8_t *)w + (size_t)(r < nw ? r : nw - 1) * w_row_size + (size_t)i * block;
}

// ---- Q5_K: Q4_K with a fifth bit, w = d * scale * q - dmin * min, per 32 weights ----

// One super-block column of sixteen Q5_K rows (3072 bytes): Q4_K's, and the
// rows' 32 qh bytes dword-transposed as the quants are, so that qh[g] holds
// the fifth bits of 4-byte group g of every sub-block (bit s: sub-block s).
typedef struct {
    q4_k_x16 k4;
    uint8_t qh[8][NW * 4]; // [4-byte group][row, byte]
} q5_k_x16;

_Static_assert(offsetof(kv_block_q5_k, d) == offsetof(kv_block_q4_k, d) &&
                   offsetof(kv_block_q5_k, dmin) == offsetof(kv_block_q4_k, dmin) &&
                   offsetof(kv_block_q5_k, scales) == offsetof(kv_block_q4_k, scales),
               "q4_k / q5_k scale layout");

// The quants (0..31) of 4-byte group g of sub-block s: its nibble, and bit s
// of the group's qh bytes as 16 (16-bit shifts move no other byte's bit into
// bit 4; the ternary logic keeps nib | (v & 16)).
AVX512_INLINE __m512i q5_k_quants(const q5_k_x16 *b, int s, int g) {
    const __m512i q = _mm512_loadu_si512(b->k4.qs[s / 2][g]), qh = _mm512_loadu_si512(b->qh[g]);
    const __m512i nib = _mm512_and_si512(s % 2 == 0 ? q : _mm512_srli_epi16(q, 4),
                                         _mm512_set1_epi8(0x0F));
    const __m512i v = s < 4 ? _mm512_slli_epi16(qh, 4 - s) : _mm512_srli_epi16(qh, s - 4);
    return _mm512_ternarylogic_epi32(nib, v, _mm512_set1_epi8(0x10), 0xF8);
}

// The quants (0..15) of 4-byte group g of sub-block s of Q4_K: its nibbles.
AVX512_INLINE __m512i q4_k_quants(const q4_k_x16 *b, int s, int g) {
    const __m512i q = _mm512_loadu_si512(b->qs[s / 2][g]);
    return _mm512_and_si512(s % 2 == 0 ? q : _mm512_srli_epi16(q, 4), _mm512_set1_epi8(0x0F));
}

// nx (1, 2 or 4, a constant after inlining) activation rows xr[j] by the
// sixteen packed rows of nb super-blocks of Q4_K (q5 false, wp q4_k_x16) or
// Q5_K (q5 true, wp q5_k_x16; a constant after inlining): the two differ only
// in the quants, Q5_K's scales and mins are its k4's.
AVX512_INLINE void packed_k45(int64_t nb, const void *wp, const bool q5,
                              const uint8_t *const xr[NX], const int nx, __m512 out[NX]) {
    __m512 acc[NX], acc_min[NX];
    AVX512_UNROLL
    for (int j = 0; j < nx; j++)
        acc[j] = acc_min[j] = _mm512_setzero_ps();
    for (int64_t i = 0; i < nb; i++) {
        const q5_k_x16 *b5 = (const q5_k_x16 *)wp + i;
        const q4_k_x16 *b = q5 ? &b5->k4 : (const q4_k_x16 *)wp + i;
        const kv_block_q8_k *xb[NX];
        __m512i tot[NX];
        x_blocks(xr, i, nx, xb, tot);
        AVX512_UNROLL
        for (int s = 0; s < 8; s++) {
            __m512i a0[NX], a1[NX]; // even and odd groups: two dpbusd chains per pair
            AVX512_UNROLL
            for (int j = 0; j < nx; j++)
                a0[j] = a1[j] = _mm512_setzero_si512();
            AVX512_UNROLL
            for (int g = 0; g < 8; g += 2) {
                const __m512i w0 = q5 ? q5_k_quants(b5, s, g) : q4_k_quants(b, s, g);
                const __m512i w1 = q5 ? q5_k_quants(b5, s, g + 1) : q4_k_quants(b, s, g + 1);
                AVX512_UNROLL
                for (int j = 0; j < nx; j++) {
                    const int8_t *xq = xb[j]->qs + 32 * s + 4 * g;
                    a0[j] = _mm512_dpbusd_epi32(a0[j], w0, _mm512_set1_epi32((int32_t)load_u32(xq)));
                    a1[j] = _mm512_dpbusd_epi32(a1[j], w1, _mm512_set1_epi32((int32_t)load_u32(xq + 4)));
                }
            }
            const __m512i sc = _mm512_cvtepu8_epi32(load_128(b->scales[s]));
            add_scaled(tot, a0, a1, sc, nx);
        }
        const __m512 d = _mm512_loadu_ps(b->d), dmin = _mm512_loadu_ps(b->dmin);
        AVX512_UNROLL
        for (int j = 0; j < nx; j++) {
            // imin: the mins of sub-blocks 2q, 2q + 1 against their 32-sums of x
            __m512i imin = _mm512_setzero_si512();
            AVX512_UNROLL
            for (int q = 0; q < 4; q++)
                imin = _mm512_add_epi32(imin, _mm512_madd_epi16(_mm512_loadu_si512(b->mins[q]),
                                                                bsums_pair(xb[j]->bsums, q)));
            const __m512 dx = _mm512_set1_ps(xb[j]->d);
            acc[j] = _mm512_fmadd_ps(_mm512_mul_ps(d, dx), _mm512_cvtepi32_ps(tot[j]), acc[j]);
            acc_min[j] = _mm512_fmadd_ps(_mm512_mul_ps(dmin, dx), _mm512_cvtepi32_ps(imin), acc_min[j]);
        }
    }
    AVX512_UNROLL
    for (int j = 0; j < nx; j++)
        out[j] = _mm512_sub_ps(acc[j], acc_min[j]);
}

AVX512_INLINE void packed_q4_k(int64_t nb, const void *wp, const uint8_t *const xr[NX], const int nx,
                               __m512 out[NX]) {
    packed_k45(nb, wp, false, xr, nx, out);
}
AVX512_INLINE void packed_q5_k(int64_t nb, const void *wp, const uint8_t *const xr[NX], const int nx,
                               __m512 out[NX]) {
    packed_k45(nb, wp, true, xr, nx, out);
}

PACKED_ENTRY(q4_k_q8_k, packed_q4_k)
PACKED_ENTRY(q5_k_q8_k, packed_q5_k)

size_t kv_pack_size_q5_k_x16_avx512(int64_t n) { return (size_t)(n / KV_QK_K) * sizeof(q5_k_x16); }

void kv_pack_q5_k_x16_avx512(int64_t n, const void *w, size_t w_row_size, int64_t nw, void *out) {
    q5_k_x16 *p = out;
    __m512i idx;
    const bool gather = row_offsets(w_row_size, nw, &idx);
    for (int64_t i = 0; i < n / KV_QK_K; i++, p++) {
        const uint8_t *rows[NW];
        rows_at(w, w_row_size, nw, sizeof(kv_block_q5_k), i, rows);
        pack_block(&p->k4, rows); // d, dmin, scales and mins where Q4_K has them
        rows_dwords(p->k4.qs[0], rows, offsetof(kv_block_q5_k, qs), 32, gather, idx);
        rows_dwords(p->qh, rows, offsetof(kv_block_q5_k, qh), 8, gather, idx);
    }
}

// ---- IQ4_XS: w = d * (ls - 32) * levels[nibble], per 32 weights ----

// One super-block column of sixteen IQ4_XS rows (2496 bytes). Sub-block s's
// 16 bytes of nibbles are dword-transposed: 4-byte group g (activations
// 32 s + 4 g ..) is the low nibbles of qs[s][g] for g < 4, the high nibbles of
// qs[s][g - 4] for the others.
typedef struct {
    float d[NW];
    int8_t sc[8][NW];          // [sub-block][row]: ls - 32
    int16_t sc_pair[4][NW][2]; // [sub-block pair][row][sub-block of the pair]
    uint8_t qs[8][4][NW * 4];  // [sub-block][dword][row, byte]
} iq4_xs_x16;

// nx (1, 2 or 4) activation rows by the sixteen packed rows of nb super-blocks.
// vpdpbusd takes the levels as unsigned bytes level + 128 (1..241), so a
// sub-block's sum holds 128 * its activation sum more; per super-block the
// exact sum of (ls - 32) * (level . x) is tot less 128 * the sum of
// (ls - 32) * (sub-block activation sum), then acc += (d * d_x) * sum with FMA
// (avx2/tile_k.h's integers and float steps).
AVX512_INLINE void packed_iq4_xs(int64_t nb, const iq4_xs_x16 *wp, const uint8_t *const xr[NX],
                                 const int nx, __m512 out[NX]) {
    __m512 acc[NX];
    AVX512_UNROLL
    for (int j = 0; j < nx; j++)
        acc[j] = _mm512_setzero_ps();
    const __m512i lu = _mm512_broadcast_i32x4(
        _mm_xor_si128(load_128(KV_IQ4_LEVELS), _mm_set1_epi8((char)0x80))); // level + 128
    const __m512i lo4 = _mm512_set1_epi8(0x0F);
    for (int64_t i = 0; i < nb; i++) {
        const iq4_xs_x16 *b = wp + i;
        const kv_block_q8_k *xb[NX];
        __m512i tot[NX];
        x_blocks(xr, i, nx, xb, tot);
        AVX512_UNROLL
        for (int s = 0; s < 8; s++) {
            __m512i a0[NX], a1[NX]; // low and high nibbles: two dpbusd chains per pair
            AVX512_UNROLL
            for (int j = 0; j < nx; j++)
                a0[j] = a1[j] = _mm512_setzero_si512();
            AVX512_UNROLL
            for (int k = 0; k < 4; k++) {
                const __m512i q = _mm512_loadu_si512(b->qs[s][k]);
                const __m512i w0 = _mm512_shuffle_epi8(lu, _mm512_and_si512(q, lo4));
                const __m512i w1 = _mm512_shuffle_epi8(lu, _mm512_and_si512(_mm512_srli_epi16(q, 4), lo4));
                AVX512_UNROLL
                for (int j = 0; j < nx; j++) {
                    const int8_t *xq = xb[j]->qs + 32 * s + 4 * k;
                    a0[j] = _mm512_dpbusd_epi32(a0[j], w0, _mm512_set1_epi32((int32_t)load_u32(xq)));
                    a1[j] = _mm512_dpbusd_epi32(a1[j], w1, _mm512_set1_epi32((int32_t)load_u32(xq + 16)));
                }
            }
            const __m512i sc = _mm512_cvtepi8_epi32(load_128(b->sc[s]));
            add_scaled(tot, a0, a1, sc, nx);
        }
        const __m512 d = _mm512_loadu_ps(b->d);
        AVX512_UNROLL
        for (int j = 0; j < nx; j++) {
            // the scales of sub-blocks 2q, 2q + 1 against their 32-sums of x
            __m512i off = _mm512_setzero_si512();
            AVX512_UNROLL
            for (int q = 0; q < 4; q++)
                off = _mm512_add_epi32(off, _mm512_madd_epi16(_mm512_loadu_si512(b->sc_pair[q]),
                                                              bsums_pair(xb[j]->bsums, q)));
            const __m512i sum = _mm512_sub_epi32(tot[j], _mm512_slli_epi32(off, 7));
            acc[j] = _mm512_fmadd_ps(_mm512_mul_ps(d, _mm512_set1_ps(xb[j]->d)),
                                     _mm512_cvtepi32_ps(sum), acc[j]);
        }
    }
    AVX512_UNROLL
    for (int j = 0; j < nx; j++)
        out[j] = acc[j];
}

PACKED_ENTRY(iq4_xs_q8_k, packed_iq4_xs)

size_t kv_pack_size_iq4_xs_x16_avx512(int64_t n) {
    return (size_t)(n / KV_QK_K) * sizeof(iq4_xs_x16);
}

void kv_pack_iq4_xs_x16_avx512(int64_t n, const void *w, size_t w_row_size, int64_t nw,
                               void *out) {
    iq4_xs_x16 *p = out;
    __m512i idx;
    const bool gather = row_offsets(w_row_size, nw, &idx);
    for (int64_t i = 0; i < n / KV_QK_K; i++, p++) {
        const uint8_t *rows[NW];
        rows_at(w, w_row_size, nw, sizeof(kv_block_iq4_xs), i, rows);
        for (int r = 0; r < NW; r++) {
            const kv_block_iq4_xs *b = (const kv_block_iq4_xs *)rows[r];
            p->d[r] = f16_to_f32(b->d);
            for (int s = 0; s < 8; s++) { // 6-bit ls: nibble s of scales_l, bits 2s, 2s + 1 of scales_h
                const int ls = (b->scales_l[s / 2] >> 4 * (s % 2) & 0x0F) | (b->scales_h >> 2 * s & 3) << 4;
                p->sc[s][r] = (int8_t)(ls - 32);
                p->sc_pair[s / 2][r][s % 2] = (int16_t)(ls - 32);
            }
        }
        rows_dwords(p->qs[0], rows, offsetof(kv_block_iq4_xs, qs), 32, gather, idx);
    }
}

#endif
