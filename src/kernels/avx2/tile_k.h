// Register tiles of the Q4_K, Q5_K, Q6_K and IQ4_XS dot products against
// Q8_K: one weight row by NX activation rows. A super-block's weights are unpacked and its
// scales picked once per 32 or 64 elements, then multiplied with each
// activation row's bytes, so the unpacking is shared by the NX rows. Shared by
// avx2/tile_k.c and avxvnni/tile_k.c (with -mavxvnni; see tile_q.h for the
// TILE_SUFFIX / TILE_VNNI convention).
//
// Each (weight row, activation row) pair goes through the same steps whatever
// NX is (1 is the dot product itself): per super-block the exact integer sum
// of its scale-weighted products (int32 lanes weighted by the int16 scales with
// madd, VNNI: dpwssd, then summed), then acc += (d * d_x) * (float)sum with
// FMA, the min part in its own accumulator, super-blocks in order. So a tile
// gives the bits of NX single dot products, and so do the packed tiles of
// pack_k.h, which form the same integers in another layout.
#ifndef KV_KERNELS_AVX2_TILE_K_H
#define KV_KERNELS_AVX2_TILE_K_H

#include <math.h>
#include <stdbool.h>
#include <string.h>

#include "kernels/avx2/avx2_util.h"
#include "kvant/kv_blocks.h"

#define TILE_K_NX KV_AVX2_TILE_K_NX
#define TILE_K_NW KV_AVX2_TILE_K_NW
_Static_assert(TILE_K_NW == 4, "hsum_4x2_i32 sums four rows");
#define TILE_K_INLINE static inline __attribute__((always_inline))
#define TILE_K_UNROLL _Pragma("GCC unroll 8")

typedef struct {
    const uint8_t *w;       // one weight row
    const uint8_t *x;       // NX activation rows, x_row_size bytes apart
    size_t x_row_size;
    float *y;               // y[j * y_stride]: activation row j
    int64_t y_stride;
    int64_t nb;             // super-blocks per row
} tile_k_args;

// acc + (int32 lanes of p, int16 pairs weighted by the int16 scales sc)
TILE_K_INLINE __m256i add_weighted(__m256i acc, __m256i p, __m256i sc) {
#if defined(TILE_VNNI)
    return _mm256_dpwssd_avx_epi32(acc, p, sc);
#else
    return _mm256_add_epi32(acc, _mm256_madd_epi16(p, sc));
#endif
}

TILE_K_INLINE const kv_block_q8_k *x_block(const tile_k_args *a, int j, int64_t i) {
    return (const kv_block_q8_k *)(a->x + j * a->x_row_size) + i;
}

// ---- Q4_K and Q5_K: w = d * scale * q - dmin * min, per 32 weights ----

// Weights are at most 15: maddubs pairs stay below 2 * 15 * 127.
// Per super-block the exact integers isum (scale-weighted quant sums) and imin
// (min-weighted bsums) of each pair, then acc += (d * d_x) * isum and
// acc_min += (dmin * d_x) * imin with FMA: the packed tiles (pack_k.h) compute
// the same numbers in another layout and so give the same bits.
// Q5_K (q5 true, a constant after inlining) is Q4_K with a fifth bit: weight
// 32 c + l has the nibble of Q4_K's layout and bit c of qh[l] as 16, at most
// 31, so maddubs pairs stay below 2 * 31 * 127; the integers and float steps
// are the same.
TILE_K_INLINE void tile_k45(const tile_k_args *a, const int nx, const bool q5) {
    float acc[TILE_K_NX], acc_min[TILE_K_NX];
    TILE_K_UNROLL
    for (int j = 0; j < nx; j++)
        acc[j] = acc_min[j] = 0.0f;
    const __m256i lo4 = _mm256_set1_epi8(0x0F);
    for (int64_t i = 0; i < a->nb; i++) {
        const kv_block_q4_k *w4 = (const kv_block_q4_k *)a->w + i;
        const kv_block_q5_k *w5 = (const kv_block_q5_k *)a->w + i;
        const __m128i sm = k4_scales_mins(q5 ? w5->scales : w4->scales);
        const __m256i mn = _mm256_cvtepu8_epi16(_mm_unpackhi_epi8(sm, sm)); // a min per bsum
        const __m256i sc = _mm256_broadcastsi128_si256(_mm_cvtepu8_epi16(sm));
        const __m256i qh = q5 ? load_256(w5->qh) : _mm256_setzero_si256();
        const uint8_t *qs = q5 ? w5->qs : w4->qs;
        __m256i sum[TILE_K_NX];
        TILE_K_UNROLL
        for (int j = 0; j < nx; j++)
            sum[j] = _mm256_setzero_si256();
        TILE_K_UNROLL
        for (int p = 0; p < 4; p++) {
            const __m256i q = load_256(qs + 32 * p);
            __m256i lo = _mm256_and_si256(q, lo4);
            __m256i hi = _mm256_and_si256(_mm256_srli_epi16(q, 4), lo4);
            if (q5) {
                lo = _mm256_or_si256(lo, fifth_bit(qh, 2 * p));
                hi = _mm256_or_si256(hi, fifth_bit(qh, 2 * p + 1));
            }
            const __m256i sc_lo = pick_i16(sc, 2 * p), sc_hi = pick_i16(sc, 2 * p + 1);
            TILE_K_UNROLL
            for (int j = 0; j < nx; j++) {
                const int8_t *x8 = x_block(a, j, i)->qs + 64 * p;
                sum[j] = add_weighted(sum[j], _mm256_maddubs_epi16(lo, load_256(x8)), sc_lo);
                sum[j] = add_weighted(sum[j], _mm256_maddubs_epi16(hi, load_256(x8 + 32)), sc_hi);
            }
        }
        const float d = f16_to_f32(q5 ? w5->d : w4->d), dmin = f16_to_f32(q5 ? w5->dmin : w4->dmin);
        TILE_K_UNROLL
        for (int j = 0; j < nx; j++) {
            const kv_block_q8_k *xb = x_block(a, j, i);
            const int32_t imin = hsum_i32(_mm256_madd_epi16(load_256(xb->bsums), mn));
            acc[j] = fmaf(d * xb->d, (float)hsum_i32(sum[j]), acc[j]);
            acc_min[j] = fmaf(dmin * xb->d, (float)imin, acc_min[j]);
        }
    }
    TILE_K_UNROLL
    for (int j = 0; j < nx; j++)
        a->y[j * a->y_stride] = acc[j] - acc_min[j];
}

TILE_K_INLINE void tile_q4_k(const tile_k_args *a, const int nx) { tile_k45(a, nx, false); }
TILE_K_INLINE void tile_q5_k(const tile_k_args *a, const int nx) { tile_k45(a, nx, true); }

// ---- Q6_K: w = d * scale * (q - 32), per 16 weights ----

// Element 128 h + 32 s + l takes the nibble (low for s < 2) of
// ql[64 h + 32 (s % 2) + l] and bits 2s, 2s+1 of qh[32 h + l]: u in 0..63
// (maddubs pairs below 2 * 63 * 127); the -32 part is -32 * sum of scale * bsum.
// Per super-block the exact integer sum of scale * (u - 32) * x of each pair,
// then acc += (d * d_x) * sum with FMA (as the packed tiles of pack_k.h).
TILE_K_INLINE void tile_q6_k(const tile_k_args *a, const int nx) {
    float acc[TILE_K_NX];
    TILE_K_UNROLL
    for (int j = 0; j < nx; j++)
        acc[j] = 0.0f;
    const __m256i lo4 = _mm256_set1_epi8(0x0F), lo2 = _mm256_set1_epi8(3);
    const kv_block_q6_k *wb = (const kv_block_q6_k *)a->w;
    for (int64_t i = 0; i < a->nb; i++) {
        const __m256i scales = _mm256_cvtepi8_epi16(load_128(wb[i].scales));
        __m256i sum[TILE_K_NX];
        TILE_K_UNROLL
        for (int j = 0; j < nx; j++)
            sum[j] = _mm256_setzero_si256();
        TILE_K_UNROLL
        for (int h = 0; h < 2; h++) {
            const __m256i sc = h == 0 ? _mm256_permute2x128_si256(scales, scales, 0x00)
                                      : _mm256_permute2x128_si256(scales, scales, 0x11);
            const __m256i ql0 = load_256(wb[i].ql + 64 * h), ql1 = load_256(wb[i].ql + 64 * h + 32);
            const __m256i qh = load_256(wb[i].qh + 32 * h);
            TILE_K_UNROLL
            for (int s = 0; s < 4; s++) {
                const __m256i ql = s % 2 == 0 ? ql0 : ql1;
                const __m256i nib = s < 2 ? _mm256_and_si256(ql, lo4)
                                          : _mm256_and_si256(_mm256_srli_epi16(ql, 4), lo4);
                const __m256i top = _mm256_slli_epi16(
                    _mm256_and_si256(_mm256_srli_epi16(qh, 2 * s), lo2), 4);
                const __m256i u = _mm256_or_si256(nib, top);
                const __m256i sc_s = pick_pair_i16(sc, s);
                TILE_K_UNROLL
                for (int j = 0; j < nx; j++) {
                    const int8_t *x8 = x_block(a, j, i)->qs + 128 * h + 32 * s;
                    sum[j] = add_weighted(sum[j], _mm256_maddubs_epi16(u, load_256(x8)), sc_s);
                }
            }
        }
        const float d = f16_to_f32(wb[i].d);
        TILE_K_UNROLL
        for (int j = 0; j < nx; j++) {
            const kv_block_q8_k *xb = x_block(a, j, i);
            const __m256i offset = _mm256_madd_epi16(load_256(xb->bsums), scales);
            const __m256i s = _mm256_sub_epi32(sum[j], _mm256_slli_epi32(offset, 5));
            acc[j] = fmaf(d * xb->d, (float)hsum_i32(s), acc[j]);
        }
    }
    TILE_K_UNROLL
    for (int j = 0; j < nx; j++)
        a->y[j * a->y_stride] = acc[j];
}

// ---- IQ4_XS: w = d * (ls - 32) * levels[nibble], per 32 weights ----

// The eight 6-bit scales minus 32 as 8 int16, in both lanes: sub-block b takes
// nibble b of scales_l (bits 4b..4b+3 of it as a 32-bit word) and bits 2b, 2b+1
// of scales_h.
TILE_K_INLINE __m256i iq4_xs_scales(const kv_block_iq4_xs *w) {
    const __m256i lo = _mm256_srlv_epi32(_mm256_set1_epi32((int32_t)load_u32(w->scales_l)),
                                         _mm256_setr_epi32(0, 4, 8, 12, 16, 20, 24, 28));
    const __m256i hi = _mm256_srlv_epi32(_mm256_set1_epi32(w->scales_h),
                                         _mm256_setr_epi32(0, 2, 4, 6, 8, 10, 12, 14));
    const __m256i top = _mm256_slli_epi32(_mm256_and_si256(hi, _mm256_set1_epi32(3)), 4);
    const __m256i ls = _mm256_or_si256(_mm256_and_si256(lo, _mm256_set1_epi32(0x0F)), top);
    const __m256i l = _mm256_sub_epi32(ls, _mm256_set1_epi32(32));
    const __m128i l16 = _mm_packs_epi32(_mm256_castsi256_si128(l), _mm256_extracti128_si256(l, 1));
    return _mm256_broadcastsi128_si256(l16);
}

// The 32 levels of sub-block b (element order: nibbles_32) as signed bytes
TILE_K_INLINE __m256i iq4_xs_levels(const kv_block_iq4_xs *w, int b) {
    const __m256i levels = _mm256_broadcastsi128_si256(load_128(KV_IQ4_LEVELS));
    return _mm256_shuffle_epi8(levels, nibbles_32(w->qs + 16 * b));
}

// Levels are within +-127: |level| times x with the level's sign (maddubs pairs
// at most 2 * 127 * 127), weighted by the sub-block's scale. Per super-block
// the exact integer sum of (ls - 32) * (level . x) of each pair, then
// acc += (d * d_x) * sum with FMA (as the packed tiles of pack_k.h).
TILE_K_INLINE void tile_iq4_xs(const tile_k_args *a, const int nx) {
    float acc[TILE_K_NX];
    TILE_K_UNROLL
    for (int j = 0; j < nx; j++)
        acc[j] = 0.0f;
    const kv_block_iq4_xs *wb = (const kv_block_iq4_xs *)a->w;
    for (int64_t i = 0; i < a->nb; i++) {
        const __m256i sc = iq4_xs_scales(&wb[i]);
        __m256i sum[TILE_K_NX];
        TILE_K_UNROLL
        for (int j = 0; j < nx; j++)
            sum[j] = _mm256_setzero_si256();
        TILE_K_UNROLL
        for (int b = 0; b < 8; b++) {
            const __m256i q = iq4_xs_levels(&wb[i], b);
            const __m256i aq = _mm256_sign_epi8(q, q), sc_b = pick_i16(sc, b);
            TILE_K_UNROLL
            for (int j = 0; j < nx; j++) {
                const __m256i xq = _mm256_sign_epi8(load_256(x_block(a, j, i)->qs + 32 * b), q);
                sum[j] = add_weighted(sum[j], _mm256_maddubs_epi16(aq, xq), sc_b);
            }
        }
        const float d = f16_to_f32(wb[i].d);
        TILE_K_UNROLL
        for (int j = 0; j < nx; j++)
            acc[j] = fmaf(d * x_block(a, j, i)->d, (float)hsum_i32(sum[j]), acc[j]);
    }
    TILE_K_UNROLL
    for (int j = 0; j < nx; j++)
        a->y[j * a->y_stride] = acc[j];
}

// ---- generation: TILE_K_NW weight rows by one activation row ----
//
// One pair's super-block as int32 lanes: *sum sums to isum (Q6_K: with the -32
// part taken off), *mins to imin (Q4_K, Q5_K; zero for the others). Four rows' lanes are then summed
// together (hsum_4x2_i32) rather than one pair at a time.

TILE_K_INLINE void q4_k_lanes(const kv_block_q4_k *w, const kv_block_q8_k *x, __m256i *sum,
                              __m256i *mins) {
    const __m256i lo4 = _mm256_set1_epi8(0x0F);
    const __m128i sm = k4_scales_mins(w->scales);
    const __m256i sc = _mm256_broadcastsi128_si256(_mm_cvtepu8_epi16(sm));
    __m256i s = _mm256_setzero_si256();
    TILE_K_UNROLL
    for (int p = 0; p < 4; p++) {
        const __m256i q = load_256(w->qs + 32 * p);
        const __m256i lo = _mm256_and_si256(q, lo4);
        const __m256i hi = _mm256_and_si256(_mm256_srli_epi16(q, 4), lo4);
        s = add_weighted(s, _mm256_maddubs_epi16(lo, load_256(x->qs + 64 * p)), pick_i16(sc, 2 * p));
        s = add_weighted(s, _mm256_maddubs_epi16(hi, load_256(x->qs + 64 * p + 32)),
                         pick_i16(sc, 2 * p + 1));
    }
    *sum = s;
    *mins = _mm256_madd_epi16(load_256(x->bsums), _mm256_cvtepu8_epi16(_mm_unpackhi_epi8(sm, sm)));
}

TILE_K_INLINE void q6_k_lanes(const kv_block_q6_k *w, const kv_block_q8_k *x, __m256i *sum,
                              __m256i *mins) {
    const __m256i lo4 = _mm256_set1_epi8(0x0F), lo2 = _mm256_set1_epi8(3);
    const __m256i scales = _mm256_cvtepi8_epi16(load_128(w->scales));
    __m256i s = _mm256_setzero_si256();
    TILE_K_UNROLL
    for (int h = 0; h < 2; h++) {
        const __m256i sc = h == 0 ? _mm256_permute2x128_si256(scales, scales, 0x00)
                                  : _mm256_permute2x128_si256(scales, scales, 0x11);
        const __m256i ql0 = load_256(w->ql + 64 * h), ql1 = load_256(w->ql + 64 * h + 32);
        const __m256i qh = load_256(w->qh + 32 * h);
        TILE_K_UNROLL
        for (int q = 0; q < 4; q++) {
            const __m256i ql = q % 2 == 0 ? ql0 : ql1;
            const __m256i nib = q < 2 ? _mm256_and_si256(ql, lo4)
                                      : _mm256_and_si256(_mm256_srli_epi16(ql, 4), lo4);
            const __m256i top = _mm256_slli_epi16(_mm256_and_si256(_mm256_srli_epi16(qh, 2 * q), lo2), 4);
            s = add_weighted(s, _mm256_maddubs_epi16(_mm256_or_si256(nib, top),
                                                     load_256(x->qs + 128 * h + 32 * q)),
                             pick_pair_i16(sc, q));
        }
    }
    const __m256i offset = _mm256_madd_epi16(load_256(x->bsums), scales);
    *sum = _mm256_sub_epi32(s, _mm256_slli_epi32(offset, 5));
    *mins = _mm256_setzero_si256();
}

TILE_K_INLINE void q5_k_lanes(const kv_block_q5_k *w, const kv_block_q8_k *x, __m256i *sum,
                              __m256i *mins) {
    const __m256i lo4 = _mm256_set1_epi8(0x0F);
    const __m128i sm = k4_scales_mins(w->scales);
    const __m256i sc = _mm256_broadcastsi128_si256(_mm_cvtepu8_epi16(sm));
    const __m256i qh = load_256(w->qh);
    __m256i s = _mm256_setzero_si256();
    TILE_K_UNROLL
    for (int p = 0; p < 4; p++) {
        const __m256i q = load_256(w->qs + 32 * p);
        const __m256i lo = _mm256_or_si256(_mm256_and_si256(q, lo4), fifth_bit(qh, 2 * p));
        const __m256i hi = _mm256_or_si256(_mm256_and_si256(_mm256_srli_epi16(q, 4), lo4),
                                           fifth_bit(qh, 2 * p + 1));
        s = add_weighted(s, _mm256_maddubs_epi16(lo, load_256(x->qs + 64 * p)), pick_i16(sc, 2 * p));
        s = add_weighted(s, _mm256_maddubs_epi16(hi, load_256(x->qs + 64 * p + 32)),
                         pick_i16(sc, 2 * p + 1));
    }
    *sum = s;
    *mins = _mm256_madd_epi16(load_256(x->bsums), _mm256_cvtepu8_epi16(_mm_unpackhi_epi8(sm, sm)));
}

TILE_K_INLINE void iq4_xs_lanes(const kv_block_iq4_xs *w, const kv_block_q8_k *x, __m256i *sum,
                                __m256i *mins) {
    const __m256i sc = iq4_xs_scales(w);
    __m256i s = _mm256_setzero_si256();
    TILE_K_UNROLL
    for (int b = 0; b < 8; b++) {
        const __m256i q = iq4_xs_levels(w, b);
        const __m256i xq = _mm256_sign_epi8(load_256(x->qs + 32 * b), q);
        s = add_weighted(s, _mm256_maddubs_epi16(_mm256_sign_epi8(q, q), xq), pick_i16(sc, b));
    }
    *sum = s;
    *mins = _mm256_setzero_si256();
}

// [sum of a[0] .. sum of a[3], sum of b[0] .. sum of b[3]], each exact
TILE_K_INLINE __m256i hsum_4x2_i32(const __m256i a[4], const __m256i b[4]) {
    const __m256i ha = _mm256_hadd_epi32(_mm256_hadd_epi32(a[0], a[1]), _mm256_hadd_epi32(a[2], a[3]));
    const __m256i hb = _mm256_hadd_epi32(_mm256_hadd_epi32(b[0], b[1]), _mm256_hadd_epi32(b[2], b[3]));
    return _mm256_add_epi32(_mm256_permute2x128_si256(ha, hb, 0x20),
                            _mm256_permute2x128_si256(ha, hb, 0x31));
}

// Weight rows w[0..3] (blocks of TYPE) by one activation row: lanes 0..3 of the
// accumulator are the rows' acc, lanes 4..7 their acc_min (Q6_K, IQ4_XS: +0
// throughout, which leaves acc's bits as they are); the same FMA as the 1 x NX
// tile of the type per lane. Generation streams the rows once, and the
// next tile's rows follow these in memory: each super-block read prefetches the
// same super-block `ahead` bytes on (the next tile's rows).
#define TILE_K_ROWS(name, type, lanes, dmin_of)                                                \
    TILE_K_INLINE void name(const uint8_t *const w[TILE_K_NW], size_t ahead, const uint8_t *x, \
                            int64_t nb, float out[TILE_K_NW]) {                                \
        __m256 acc = _mm256_setzero_ps();                                                      \
        for (int64_t i = 0; i < nb; i++) {                                                     \
            const kv_block_q8_k *xb = (const kv_block_q8_k *)x + i;                            \
            __m256i sum[TILE_K_NW], mins[TILE_K_NW];                                           \
            float f[8];                                                                        \
            TILE_K_UNROLL                                                                      \
            for (int r = 0; r < TILE_K_NW; r++) {                                              \
                const type *wb = (const type *)w[r] + i;                                       \
                for (size_t off = 0; off < sizeof(type); off += 64)                            \
                    _mm_prefetch((const char *)wb + ahead + off, _MM_HINT_T0);                 \
                lanes(wb, xb, &sum[r], &mins[r]);                                              \
                f[r] = f16_to_f32(wb->d);                                                      \
                f[4 + r] = dmin_of(wb);                                                        \
            }                                                                                  \
            const __m256 scale = _mm256_mul_ps(_mm256_loadu_ps(f), _mm256_set1_ps(xb->d));     \
            acc = _mm256_fmadd_ps(scale, _mm256_cvtepi32_ps(hsum_4x2_i32(sum, mins)), acc);    \
        }                                                                                      \
        float lane[8];                                                                         \
        _mm256_storeu_ps(lane, acc);                                                           \
        for (int r = 0; r < TILE_K_NW; r++)                                                    \
            out[r] = lane[r] - lane[4 + r];                                                    \
    }

TILE_K_INLINE float q4_k_dmin(const kv_block_q4_k *b) { return f16_to_f32(b->dmin); }
TILE_K_INLINE float q5_k_dmin(const kv_block_q5_k *b) { return f16_to_f32(b->dmin); }
TILE_K_INLINE float q6_k_dmin(const kv_block_q6_k *b) { return (void)b, 0.0f; }
TILE_K_INLINE float iq4_xs_dmin(const kv_block_iq4_xs *b) { return (void)b, 0.0f; }

TILE_K_ROWS(rows_q4_k, kv_block_q4_k, q4_k_lanes, q4_k_dmin)
TILE_K_ROWS(rows_q5_k, kv_block_q5_k, q5_k_lanes, q5_k_dmin)
TILE_K_ROWS(rows_q6_k, kv_block_q6_k, q6_k_lanes, q6_k_dmin)
TILE_K_ROWS(rows_iq4_xs, kv_block_iq4_xs, iq4_xs_lanes, iq4_xs_dmin)

#define TILE_K_CAT2(a, b) a##b
#define TILE_K_CAT(a, b) TILE_K_CAT2(a, b)

// Defines the dot product and the tile entry point (kv_tile_fn) of a type: one
// activation row takes the rows kernel (missing weight rows repeat the last);
// several take the 1 x NX tile per weight row.
#define TILE_K_DEFINE(name, tile, rows)                                                        \
    void TILE_K_CAT(kv_dot_##name, TILE_SUFFIX)(int64_t n, float *out, const void *w,          \
                                                const void *x) {                               \
        tile_k_args a = {w, x, 0, out, 1, n / KV_QK_K};                                        \
        tile(&a, 1);                                                                           \
    }                                                                                          \
    void TILE_K_CAT(kv_tile_##name, TILE_SUFFIX)(int64_t n, float *y, int64_t y_stride,        \
                                                 const void *w, size_t w_row_size, int64_t nw, \
                                                 const void *x, size_t x_row_size,             \
                                                 int64_t nx) {                                 \
        if (nx == 1) {                                                                         \
            const uint8_t *wr[TILE_K_NW];                                                      \
            for (int r = 0; r < TILE_K_NW; r++)                                                \
                wr[r] = (const uint8_t *)w + (size_t)(r < nw ? r : nw - 1) * w_row_size;       \
            float out[TILE_K_NW];                                                              \
            rows(wr, TILE_K_NW * w_row_size, x, n / KV_QK_K, out);                             \
            memcpy(y, out, (size_t)nw * sizeof(float));                                        \
            return;                                                                            \
        }                                                                                      \
        for (int64_t i = 0; i < nw; i++) {                                                     \
            const uint8_t *wi = (const uint8_t *)w + (size_t)i * w_row_size;                   \
            tile_k_args a = {wi, x, x_row_size, y + i, y_stride, n / KV_QK_K};                 \
            if (nx == TILE_K_NX) {                                                             \
                tile(&a, TILE_K_NX);                                                           \
                continue;                                                                      \
            }                                                                                  \
            for (int64_t j = 0; j < nx; j++) {                                                 \
                tile_k_args one = {wi, a.x + j * x_row_size, x_row_size, y + j * y_stride + i, \
                                   1, a.nb};                                                   \
                tile(&one, 1);                                                                 \
            }                                                                                  \
        }                                                                                      \
    }

#endif
