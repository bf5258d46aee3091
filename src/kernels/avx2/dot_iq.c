// AVX2 dot products of the 8-wide lattice i-quants (IQ2_XXS, IQ2_XS, IQ2_S,
// IQ1_S, IQ1_M) against Q8_K (ref/dot_iq.c is the spec). IQ1 points are -1/0/+1
// bytes: they sign the activations directly, and a second maddubs sums the
// activations for the shift term. Per 32 weights: four stored grid
// points (unsigned bytes, at most 43) are gathered into one register, the
// activations take the weights' signs (_mm256_sign_epi8; Q8_K quants are within
// +-127, so negating them is exact), maddubs multiplies, and madd applies the
// per-16 scales 2s+1. The super-block's integer sum is exact, so each float
// step is the reference's and the result is equal to the bit.
#if defined(__AVX2__)
#include "kernels/avx2/avx2.h"

#include <string.h>

#include "kernels/avx2/avx2_util.h"
#include "kvant/kv_blocks.h"

enum { QK = KV_QK_K };

// The sign byte of 7 stored sign bits: bit 7 makes the count even.
static inline uint32_t signs8(uint32_t s7) {
    return s7 | ((uint32_t)__builtin_parity(s7) << 7);
}

// +1 or -1 per byte: byte 8l + j is -1 when bit j of sign byte l (of the four
// in s, byte l) is set.
static inline __m256i sign_pm1(uint32_t s) {
    const __m256i spread = _mm256_setr_epi8(0, 0, 0, 0, 0, 0, 0, 0, 1, 1, 1, 1, 1, 1, 1, 1, 2, 2,
                                            2, 2, 2, 2, 2, 2, 3, 3, 3, 3, 3, 3, 3, 3);
    const __m256i bit = _mm256_set1_epi64x((long long)0x8040201008040201ull);
    const __m256i b = _mm256_shuffle_epi8(_mm256_set1_epi32((int)s), spread);
    const __m256i neg = _mm256_cmpeq_epi8(_mm256_and_si256(b, bit), bit);
    return _mm256_or_si256(neg, _mm256_set1_epi8(1));
}

// int32 lanes of sum((2s+1) * grid * sign * q8) over 32 weights: w holds the
// four points, s their sign bytes, ls the scales of the two halves.
static inline __m256i group32(__m256i w, uint32_t s, const int8_t *q8, int ls_lo, int ls_hi) {
    const __m256i xs = _mm256_sign_epi8(load_256(q8), sign_pm1(s));
    const __m256i p16 = _mm256_maddubs_epi16(w, xs); // |p| <= 2 * 43 * 127
    const __m256i lsv = _mm256_setr_epi16(
        (short)ls_lo, (short)ls_lo, (short)ls_lo, (short)ls_lo, (short)ls_lo, (short)ls_lo,
        (short)ls_lo, (short)ls_lo, (short)ls_hi, (short)ls_hi, (short)ls_hi, (short)ls_hi,
        (short)ls_hi, (short)ls_hi, (short)ls_hi, (short)ls_hi);
    return _mm256_madd_epi16(p16, lsv);
}

static inline __m256i points4(const uint64_t *grid, int i0, int i1, int i2, int i3) {
    return _mm256_setr_epi64x((long long)grid[i0], (long long)grid[i1], (long long)grid[i2],
                              (long long)grid[i3]);
}

void kv_dot_iq2_xxs_q8_k_avx2(int64_t n, float *out, const void *w, const void *x) {
    const kv_block_iq2_xxs *wb = w;
    const kv_block_q8_k *xb = x;
    const uint64_t *grid = kv__iq_grid_u64(KV_IQ_GRID_IQ2_XXS);
    float sum = 0.0f;
    for (int64_t i = 0; i < n / QK; i++) {
        __m256i acc = _mm256_setzero_si256();
        for (int ib = 0; ib < QK / 32; ib++) {
            uint32_t aux[2];
            memcpy(aux, wb[i].qs + 4 * ib, sizeof aux);
            const __m256i pts = points4(grid, aux[0] & 0xff, (aux[0] >> 8) & 0xff,
                                        (aux[0] >> 16) & 0xff, aux[0] >> 24);
            const uint32_t s = signs8(aux[1] & 127) | signs8((aux[1] >> 7) & 127) << 8 |
                               signs8((aux[1] >> 14) & 127) << 16 |
                               signs8((aux[1] >> 21) & 127) << 24;
            const int ls = 2 * (int)(aux[1] >> 28) + 1;
            acc = _mm256_add_epi32(acc, group32(pts, s, xb[i].qs + 32 * ib, ls, ls));
        }
        const float term = f16_to_f32(wb[i].d) * xb[i].d * (float)hsum_i32(acc); // its own statement: never contracted into an FMA
        sum += term;
    }
    *out = 0.125f * sum;
}

void kv_dot_iq2_xs_q8_k_avx2(int64_t n, float *out, const void *w, const void *x) {
    const kv_block_iq2_xs *wb = w;
    const kv_block_q8_k *xb = x;
    const uint64_t *grid = kv__iq_grid_u64(KV_IQ_GRID_IQ2_XS);
    float sum = 0.0f;
    for (int64_t i = 0; i < n / QK; i++) {
        __m256i acc = _mm256_setzero_si256();
        for (int ib = 0; ib < QK / 32; ib++) {
            const uint16_t *q = wb[i].qs + 4 * ib;
            const __m256i pts = points4(grid, q[0] & 511, q[1] & 511, q[2] & 511, q[3] & 511);
            const uint32_t s = signs8(q[0] >> 9) | signs8(q[1] >> 9) << 8 |
                               signs8(q[2] >> 9) << 16 | signs8(q[3] >> 9) << 24;
            const int sc = wb[i].scales[ib];
            acc = _mm256_add_epi32(acc, group32(pts, s, xb[i].qs + 32 * ib, 2 * (sc & 0xf) + 1,
                                                2 * (sc >> 4) + 1));
        }
        const float term = f16_to_f32(wb[i].d) * xb[i].d * (float)hsum_i32(acc); // its own statement: never contracted into an FMA
        sum += term;
    }
    *out = 0.125f * sum;
}

void kv_dot_iq2_s_q8_k_avx2(int64_t n, float *out, const void *w, const void *x) {
    const kv_block_iq2_s *wb = w;
    const kv_block_q8_k *xb = x;
    const uint64_t *grid = kv__iq_grid_u64(KV_IQ_GRID_IQ2_S);
    float sum = 0.0f;
    for (int64_t i = 0; i < n / QK; i++) {
        __m256i acc = _mm256_setzero_si256();
        for (int ib = 0; ib < QK / 32; ib++) {
            const uint8_t *q = wb[i].qs + 4 * ib;
            const int h = wb[i].qh[ib];
            const __m256i pts = points4(grid, q[0] | (h << 8 & 0x300), q[1] | (h << 6 & 0x300),
                                        q[2] | (h << 4 & 0x300), q[3] | (h << 2 & 0x300));
            const uint32_t s = load_u32(wb[i].qs + QK / 8 + 4 * ib);
            const int sc = wb[i].scales[ib];
            acc = _mm256_add_epi32(acc, group32(pts, s, xb[i].qs + 32 * ib, 2 * (sc & 0xf) + 1,
                                                2 * (sc >> 4) + 1));
        }
        const float term = f16_to_f32(wb[i].d) * xb[i].d * (float)hsum_i32(acc); // its own statement: never contracted into an FMA
        sum += term;
    }
    *out = 0.125f * sum;
}

// ---- IQ1_S / IQ1_M ----

static inline __m256i ls_pairs(int a, int b) { // int16 lanes: a for 0..7, b for 8..15
    return _mm256_setr_epi16((short)a, (short)a, (short)a, (short)a, (short)a, (short)a,
                             (short)a, (short)a, (short)b, (short)b, (short)b, (short)b,
                             (short)b, (short)b, (short)b, (short)b);
}

// Per 32 weights: grid part sum(ls * q * q8) and shift part sum(ls * sign * q8)
// in int32 lanes; lsv has the scale per int16 pair, shv scale * sign per pair.
static inline void iq1_group32(__m256i pts, const int8_t *q8, __m256i lsv, __m256i shv,
                               __m256i *acc, __m256i *acc1) {
    const __m256i ones = _mm256_set1_epi8(1);
    const __m256i x = load_256(q8);
    const __m256i p = _mm256_maddubs_epi16(ones, _mm256_sign_epi8(x, pts));
    const __m256i s = _mm256_maddubs_epi16(ones, x);
    *acc = _mm256_add_epi32(*acc, _mm256_madd_epi16(p, lsv));
    *acc1 = _mm256_add_epi32(*acc1, _mm256_madd_epi16(s, shv));
}

void kv_dot_iq1_s_q8_k_avx2(int64_t n, float *out, const void *w, const void *x) {
    const kv_block_iq1_s *wb = w;
    const kv_block_q8_k *xb = x;
    const uint64_t *grid = kv__iq_grid_u64(KV_IQ_GRID_IQ1_S);
    float sum = 0.0f;
    for (int64_t i = 0; i < n / QK; i++) {
        __m256i acc = _mm256_setzero_si256(), acc1 = _mm256_setzero_si256();
        for (int ib = 0; ib < QK / 32; ib++) {
            const int qh = wb[i].qh[ib];
            const uint8_t *q = wb[i].qs + 4 * ib;
            const __m256i pts = points4(grid, q[0] | (qh << 8 & 0x700), q[1] | (qh << 5 & 0x700),
                                        q[2] | (qh << 2 & 0x700), q[3] | (qh >> 1 & 0x700));
            const int ls = 2 * ((qh >> 12) & 7) + 1;
            const int sh = qh & 0x8000 ? -ls : ls;
            iq1_group32(pts, xb[i].qs + 32 * ib, ls_pairs(ls, ls), ls_pairs(sh, sh), &acc, &acc1);
        }
        const float shift = KV_IQ1_DELTA * (float)hsum_i32(acc1); // separate statements: no FMA
        const float total = (float)hsum_i32(acc) + shift;
        const float term = f16_to_f32(wb[i].d) * xb[i].d * total;
        sum += term;
    }
    *out = sum;
}

void kv_dot_iq1_m_q8_k_avx2(int64_t n, float *out, const void *w, const void *x) {
    const kv_block_iq1_m *wb = w;
    const kv_block_q8_k *xb = x;
    const uint64_t *grid = kv__iq_grid_u64(KV_IQ_GRID_IQ1_S);
    float sum = 0.0f;
    for (int64_t i = 0; i < n / QK; i++) {
        uint16_t sc[4];
        memcpy(sc, wb[i].scales, sizeof sc);
        const kv_f16 d = (kv_f16)((sc[0] >> 12) | ((sc[1] >> 8) & 0x00f0) |
                                  ((sc[2] >> 4) & 0x0f00) | (sc[3] & 0xf000));
        __m256i acc = _mm256_setzero_si256(), acc1 = _mm256_setzero_si256();
        for (int ib = 0; ib < QK / 32; ib++) {
            const uint8_t *q = wb[i].qs + 4 * ib;
            const int h0 = wb[i].qh[2 * ib], h1 = wb[i].qh[2 * ib + 1];
            const __m256i pts = points4(grid, q[0] | (h0 << 8 & 0x700), q[1] | (h0 << 4 & 0x700),
                                        q[2] | (h1 << 8 & 0x700), q[3] | (h1 << 4 & 0x700));
            const int s = sc[ib / 2] >> (6 * (ib % 2));
            const int ls0 = 2 * (s & 7) + 1, ls1 = 2 * ((s >> 3) & 7) + 1;
            const short a = (short)(h0 & 0x08 ? -ls0 : ls0), b = (short)(h0 & 0x80 ? -ls0 : ls0);
            const short c = (short)(h1 & 0x08 ? -ls1 : ls1), e = (short)(h1 & 0x80 ? -ls1 : ls1);
            const __m256i shv = _mm256_setr_epi16(a, a, a, a, b, b, b, b, c, c, c, c, e, e, e, e);
            iq1_group32(pts, xb[i].qs + 32 * ib, ls_pairs(ls0, ls1), shv, &acc, &acc1);
        }
        const float shift = KV_IQ1_DELTA * (float)hsum_i32(acc1); // separate statements: no FMA
        const float total = (float)hsum_i32(acc) + shift;
        const float term = f16_to_f32(d) * xb[i].d * total;
        sum += term;
    }
    *out = sum;
}

// ---- register tiles: a weight row's super-block decoded once for nx activation rows ----
// The grid lookups, sign spreading and scale vectors are most of a dot's work
// and depend on the weights only; each activation row then costs a sign, two
// multiply-adds and an add per 32 weights. Each column's integer sums are the
// dot's and its float steps are the dot's, in its order: vec_dot's bits.

// A product rounded to float before it is added: no compiler may fuse it with
// the add (the dot does not).
static inline float opaque(float f) {
    __asm__("" : "+x"(f));
    return f;
}

enum { N_GROUPS = QK / 32 };

typedef struct {
    __m256i pts[N_GROUPS]; // IQ2: the four grid points; IQ1: the -1/0/+1 values
    __m256i sgn[N_GROUPS]; // IQ2: +1/-1 per weight (unused for IQ1)
    __m256i lsv[N_GROUPS]; // 2s+1 per int16 pair
    __m256i shv[N_GROUPS]; // IQ1: (2s+1) * shift sign per int16 pair
    float d;
} iq_decoded;

static inline void decode_iq2_xxs(const kv_block_iq2_xxs *w, const uint64_t *grid, iq_decoded *o) {
    for (int ib = 0; ib < N_GROUPS; ib++) {
        uint32_t aux[2];
        memcpy(aux, w->qs + 4 * ib, sizeof aux);
        o->pts[ib] = points4(grid, aux[0] & 0xff, (aux[0] >> 8) & 0xff, (aux[0] >> 16) & 0xff,
                             aux[0] >> 24);
        o->sgn[ib] = sign_pm1(signs8(aux[1] & 127) | signs8((aux[1] >> 7) & 127) << 8 |
                              signs8((aux[1] >> 14) & 127) << 16 |
                              signs8((aux[1] >> 21) & 127) << 24);
        const int ls = 2 * (int)(aux[1] >> 28) + 1;
        o->lsv[ib] = ls_pairs(ls, ls);
    }
    o->d = f16_to_f32(w->d);
}

static inline void decode_iq2_xs(const kv_block_iq2_xs *w, const uint64_t *grid, iq_decoded *o) {
    for (int ib = 0; ib < N_GROUPS; ib++) {
        const uint16_t *q = w->qs + 4 * ib;
        o->pts[ib] = points4(grid, q[0] & 511, q[1] & 511, q[2] & 511, q[3] & 511);
        o->sgn[ib] = sign_pm1(signs8(q[0] >> 9) | signs8(q[1] >> 9) << 8 |
                              signs8(q[2] >> 9) << 16 | signs8(q[3] >> 9) << 24);
        const int sc = w->scales[ib];
        o->lsv[ib] = ls_pairs(2 * (sc & 0xf) + 1, 2 * (sc >> 4) + 1);
    }
    o->d = f16_to_f32(w->d);
}

static inline void decode_iq2_s(const kv_block_iq2_s *w, const uint64_t *grid, iq_decoded *o) {
    for (int ib = 0; ib < N_GROUPS; ib++) {
        const uint8_t *q = w->qs + 4 * ib;
        const int h = w->qh[ib];
        o->pts[ib] = points4(grid, q[0] | (h << 8 & 0x300), q[1] | (h << 6 & 0x300),
                             q[2] | (h << 4 & 0x300), q[3] | (h << 2 & 0x300));
        o->sgn[ib] = sign_pm1(load_u32(w->qs + QK / 8 + 4 * ib));
        const int sc = w->scales[ib];
        o->lsv[ib] = ls_pairs(2 * (sc & 0xf) + 1, 2 * (sc >> 4) + 1);
    }
    o->d = f16_to_f32(w->d);
}

static inline void decode_iq1_s(const kv_block_iq1_s *w, const uint64_t *grid, iq_decoded *o) {
    for (int ib = 0; ib < N_GROUPS; ib++) {
        const int qh = w->qh[ib];
        const uint8_t *q = w->qs + 4 * ib;
        o->pts[ib] = points4(grid, q[0] | (qh << 8 & 0x700), q[1] | (qh << 5 & 0x700),
                             q[2] | (qh << 2 & 0x700), q[3] | (qh >> 1 & 0x700));
        const int ls = 2 * ((qh >> 12) & 7) + 1;
        const int sh = qh & 0x8000 ? -ls : ls;
        o->lsv[ib] = ls_pairs(ls, ls);
        o->shv[ib] = ls_pairs(sh, sh);
    }
    o->d = f16_to_f32(w->d);
}

static inline void decode_iq1_m(const kv_block_iq1_m *w, const uint64_t *grid, iq_decoded *o) {
    uint16_t sc[4];
    memcpy(sc, w->scales, sizeof sc);
    for (int ib = 0; ib < N_GROUPS; ib++) {
        const uint8_t *q = w->qs + 4 * ib;
        const int h0 = w->qh[2 * ib], h1 = w->qh[2 * ib + 1];
        o->pts[ib] = points4(grid, q[0] | (h0 << 8 & 0x700), q[1] | (h0 << 4 & 0x700),
                             q[2] | (h1 << 8 & 0x700), q[3] | (h1 << 4 & 0x700));
        const int s = sc[ib / 2] >> (6 * (ib % 2));
        const int ls0 = 2 * (s & 7) + 1, ls1 = 2 * ((s >> 3) & 7) + 1;
        const short a = (short)(h0 & 0x08 ? -ls0 : ls0), b = (short)(h0 & 0x80 ? -ls0 : ls0);
        const short c = (short)(h1 & 0x08 ? -ls1 : ls1), e = (short)(h1 & 0x80 ? -ls1 : ls1);
        o->lsv[ib] = ls_pairs(ls0, ls1);
        o->shv[ib] = _mm256_setr_epi16(a, a, a, a, b, b, b, b, c, c, c, c, e, e, e, e);
    }
    const kv_f16 d = (kv_f16)((sc[0] >> 12) | ((sc[1] >> 8) & 0x00f0) | ((sc[2] >> 4) & 0x0f00) |
                              (sc[3] & 0xf000));
    o->d = f16_to_f32(d);
}

// The dot's integer super-block sum of decoded IQ2 weights against one Q8_K block.
static inline int32_t iq2_decoded_dot(const iq_decoded *w, const int8_t *q8) {
    __m256i acc = _mm256_setzero_si256();
    for (int ib = 0; ib < N_GROUPS; ib++) {
        const __m256i xs = _mm256_sign_epi8(load_256(q8 + 32 * ib), w->sgn[ib]);
        acc = _mm256_add_epi32(acc, _mm256_madd_epi16(_mm256_maddubs_epi16(w->pts[ib], xs),
                                                      w->lsv[ib]));
    }
    return hsum_i32(acc);
}

// The dot's float super-block total of decoded IQ1 weights (grid part plus shift).
static inline float iq1_decoded_total(const iq_decoded *w, const int8_t *q8) {
    __m256i acc = _mm256_setzero_si256(), acc1 = _mm256_setzero_si256();
    for (int ib = 0; ib < N_GROUPS; ib++)
        iq1_group32(w->pts[ib], q8 + 32 * ib, w->lsv[ib], w->shv[ib], &acc, &acc1);
    const float shift = opaque(KV_IQ1_DELTA * (float)hsum_i32(acc1));
    return (float)hsum_i32(acc) + shift;
}

// One weight row (nw = 1) against nx <= KV_AVX2_TILE_IQ_NX activation rows.
static void tile_iq(kv_type t, int64_t n, float *y, int64_t y_stride, const void *w,
                    const void *x, size_t x_row_size, int64_t nx) {
    const bool iq1 = t == KV_TYPE_IQ1_S || t == KV_TYPE_IQ1_M;
    const uint64_t *grid = kv__iq_grid_u64(t == KV_TYPE_IQ2_XXS  ? KV_IQ_GRID_IQ2_XXS
                                           : t == KV_TYPE_IQ2_XS ? KV_IQ_GRID_IQ2_XS
                                           : t == KV_TYPE_IQ2_S  ? KV_IQ_GRID_IQ2_S
                                                                 : KV_IQ_GRID_IQ1_S);
    float sum[KV_AVX2_TILE_IQ_NX] = {0};
    iq_decoded dec;
    for (int64_t i = 0; i < n / QK; i++) {
        switch (t) {
        case KV_TYPE_IQ2_XXS: decode_iq2_xxs((const kv_block_iq2_xxs *)w + i, grid, &dec); break;
        case KV_TYPE_IQ2_XS: decode_iq2_xs((const kv_block_iq2_xs *)w + i, grid, &dec); break;
        case KV_TYPE_IQ2_S: decode_iq2_s((const kv_block_iq2_s *)w + i, grid, &dec); break;
        case KV_TYPE_IQ1_S: decode_iq1_s((const kv_block_iq1_s *)w + i, grid, &dec); break;
        default: decode_iq1_m((const kv_block_iq1_m *)w + i, grid, &dec); break;
        }
        for (int64_t j = 0; j < nx; j++) {
            const kv_block_q8_k *xb = (const kv_block_q8_k *)((const uint8_t *)x + j * x_row_size) + i;
            const float total = iq1 ? iq1_decoded_total(&dec, xb->qs)
                                    : (float)iq2_decoded_dot(&dec, xb->qs);
            sum[j] += opaque(dec.d * xb->d * total);
        }
    }
    for (int64_t j = 0; j < nx; j++)
        y[j * y_stride] = iq1 ? sum[j] : 0.125f * sum[j];
}

#define KV_IQ_TILE(name, type)                                                                     \
    void kv_tile_##name##_q8_k_avx2(int64_t n, float *y, int64_t y_stride, const void *w,          \
                                    size_t w_row_size, int64_t nw, const void *x,                  \
                                    size_t x_row_size, int64_t nx) {                               \
        for (int64_t r = 0; r < nw; r++)                                                           \
            tile_iq(type, n, y + r, y_stride, (const uint8_t *)w + r * w_row_size, x, x_row_size,  \
                    nx);                                                                           \
    }
KV_IQ_TILE(iq2_xxs, KV_TYPE_IQ2_XXS)
KV_IQ_TILE(iq2_xs, KV_TYPE_IQ2_XS)
KV_IQ_TILE(iq2_s, KV_TYPE_IQ2_S)
KV_IQ_TILE(iq1_s, KV_TYPE_IQ1_S)
KV_IQ_TILE(iq1_m, KV_TYPE_IQ1_M)
#endif
