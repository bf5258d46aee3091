// AVX2 dot products of IQ3_XXS and IQ3_S against Q8_K (ref/dot_iq3.c is the
// spec). A group of 32 weights is 8 grid points: their packed values are looked
// up one by one (a 32-bit insert each; the gather is no faster here) into 32
// unsigned bytes, the signs go onto the activations (each 8-bit sign byte spread
// over its 8 lanes, compared with the lane's bit), maddubs multiplies the two and
// madd applies the group's scale 2 ls + 1. No sum can saturate (values <= 62,
// |q8| <= 127), so a super-block's int32 total equals the reference's bsum, and
// the float step after it is the reference's, in scalar: bit-identical results.
#if defined(__AVX2__)
#include "kernels/avx2/avx2.h"

#include "kernels/avx2/avx2_util.h"
#include "kvant/kv_blocks.h"

enum { QK = KV_QK_K, GROUP = 32, N_GROUPS = KV_QK_K / 32 };

// A product rounded to float before it is added: no compiler may fuse it with
// the add (the reference does not).
static inline float opaque(float f) {
    __asm__("" : "+x"(f));
    return f;
}

// -1 in byte e where bit e % 8 of sign byte e / 8 of s (4 bytes) is set, else 0.
static inline __m256i sign_mask(uint32_t s) {
    const __m256i spread = _mm256_setr_epi8(0, 0, 0, 0, 0, 0, 0, 0, 1, 1, 1, 1, 1, 1, 1, 1, //
                                            2, 2, 2, 2, 2, 2, 2, 2, 3, 3, 3, 3, 3, 3, 3, 3);
    const __m256i bit = _mm256_set1_epi64x((int64_t)0x8040201008040201);
    const __m256i b = _mm256_and_si256(_mm256_shuffle_epi8(_mm256_set1_epi32((int32_t)s), spread), bit);
    return _mm256_cmpeq_epi8(b, bit);
}

// sum over the group of value * sign * q8, weighted by ls (as 8 int32 partial sums)
static inline __m256i group_dot(__m256i values, uint32_t signs, const int8_t *q8, int ls) {
    const __m256i m = sign_mask(signs);
    const __m256i x = _mm256_sub_epi8(_mm256_xor_si256(load_256(q8), m), m);
    return _mm256_madd_epi16(_mm256_maddubs_epi16(values, x), _mm256_set1_epi16((int16_t)ls));
}

static inline __m256i points(const uint32_t *grid, const int idx[8]) {
    return _mm256_setr_epi32((int32_t)grid[idx[0]], (int32_t)grid[idx[1]], (int32_t)grid[idx[2]],
                             (int32_t)grid[idx[3]], (int32_t)grid[idx[4]], (int32_t)grid[idx[5]],
                             (int32_t)grid[idx[6]], (int32_t)grid[idx[7]]);
}

// The 4 sign bytes of an IQ3_XXS group from its 4 seven-bit fields.
static inline uint32_t xxs_sign_bytes(uint32_t v) {
    uint32_t s = 0;
    for (int k = 0; k < 4; k++)
        s |= (uint32_t)kv__iq3_xxs_signs((v >> (7 * k)) & 127) << (8 * k);
    return s;
}

void kv_dot_iq3_xxs_q8_k_avx2(int64_t n, float *out, const void *w, const void *x) {
    const kv_block_iq3_xxs *wb = w;
    const kv_block_q8_k *xb = x;
    const uint32_t *grid = kv__iq3_grid(KV_TYPE_IQ3_XXS);
    float sum = 0.0f;
    for (int64_t i = 0; i < n / QK; i++) {
        __m256i acc = _mm256_setzero_si256();
        for (int b = 0; b < N_GROUPS; b++) {
            const uint32_t v = load_u32(wb[i].qs + QK / 4 + 4 * b);
            int idx[8];
            for (int k = 0; k < 8; k++)
                idx[k] = wb[i].qs[8 * b + k];
            acc = _mm256_add_epi32(acc, group_dot(points(grid, idx), xxs_sign_bytes(v),
                                                  xb[i].qs + GROUP * b, (int)(2 * (v >> 28) + 1)));
        }
        sum += opaque(f16_to_f32(wb[i].d) * xb[i].d * (float)hsum_i32(acc));
    }
    *out = 0.25f * sum;
}

void kv_dot_iq3_s_q8_k_avx2(int64_t n, float *out, const void *w, const void *x) {
    const kv_block_iq3_s *wb = w;
    const kv_block_q8_k *xb = x;
    const uint32_t *grid = kv__iq3_grid(KV_TYPE_IQ3_S);
    float sum = 0.0f;
    for (int64_t i = 0; i < n / QK; i++) {
        __m256i acc = _mm256_setzero_si256();
        for (int b = 0; b < N_GROUPS; b++) {
            int idx[8];
            for (int k = 0; k < 8; k++)
                idx[k] = wb[i].qs[8 * b + k] | (((wb[i].qh[b] >> k) & 1) << 8);
            const int ls = (wb[i].scales[b / 2] >> (4 * (b % 2))) & 0xF;
            acc = _mm256_add_epi32(acc, group_dot(points(grid, idx), load_u32(wb[i].signs + 4 * b),
                                                  xb[i].qs + GROUP * b, 2 * ls + 1));
        }
        sum += opaque(f16_to_f32(wb[i].d) * xb[i].d * (float)hsum_i32(acc));
    }
    *out = sum;
}

// ---- register tiles: a weight row's super-block decoded once for nx activation rows ----

typedef struct {
    __m256i values[N_GROUPS]; // the group's 32 grid values
    __m256i signs[N_GROUPS];  // -1 where the weight is negative
    int ls[N_GROUPS];         // 2 ls + 1
    float d;
} iq3_decoded;

static inline void decode_xxs(const kv_block_iq3_xxs *w, const uint32_t *grid, iq3_decoded *o) {
    for (int b = 0; b < N_GROUPS; b++) {
        const uint32_t v = load_u32(w->qs + QK / 4 + 4 * b);
        int idx[8];
        for (int k = 0; k < 8; k++)
            idx[k] = w->qs[8 * b + k];
        o->values[b] = points(grid, idx);
        o->signs[b] = sign_mask(xxs_sign_bytes(v));
        o->ls[b] = (int)(2 * (v >> 28) + 1);
    }
    o->d = f16_to_f32(w->d);
}

static inline void decode_s(const kv_block_iq3_s *w, const uint32_t *grid, iq3_decoded *o) {
    for (int b = 0; b < N_GROUPS; b++) {
        int idx[8];
        for (int k = 0; k < 8; k++)
            idx[k] = w->qs[8 * b + k] | (((w->qh[b] >> k) & 1) << 8);
        o->values[b] = points(grid, idx);
        o->signs[b] = sign_mask(load_u32(w->signs + 4 * b));
        o->ls[b] = 2 * ((w->scales[b / 2] >> (4 * (b % 2))) & 0xF) + 1;
    }
    o->d = f16_to_f32(w->d);
}

// The reference's bsum of a decoded super-block against one Q8_K block.
static inline int32_t decoded_dot(const iq3_decoded *w, const kv_block_q8_k *x) {
    __m256i acc = _mm256_setzero_si256();
    for (int b = 0; b < N_GROUPS; b++) {
        const __m256i m = w->signs[b];
        const __m256i q = _mm256_sub_epi8(_mm256_xor_si256(load_256(x->qs + GROUP * b), m), m);
        acc = _mm256_add_epi32(acc, _mm256_madd_epi16(_mm256_maddubs_epi16(w->values[b], q),
                                                      _mm256_set1_epi16((int16_t)w->ls[b])));
    }
    return hsum_i32(acc);
}

// One weight row (nw = 1) against nx <= KV_AVX2_TILE_IQ3_NX activation rows;
// each column's float steps are vec_dot's, in its order.
static void tile_iq3(kv_type t, int64_t n, float *y, int64_t y_stride, const void *w,
                     const void *x, size_t x_row_size, int64_t nx) {
    const uint32_t *grid = kv__iq3_grid(t);
    float sum[KV_AVX2_TILE_IQ3_NX] = {0};
    iq3_decoded dec;
    for (int64_t i = 0; i < n / QK; i++) {
        if (t == KV_TYPE_IQ3_XXS)
            decode_xxs((const kv_block_iq3_xxs *)w + i, grid, &dec);
        else
            decode_s((const kv_block_iq3_s *)w + i, grid, &dec);
        for (int64_t j = 0; j < nx; j++) {
            const kv_block_q8_k *xb = (const kv_block_q8_k *)((const uint8_t *)x + j * x_row_size) + i;
            sum[j] += opaque(dec.d * xb->d * (float)decoded_dot(&dec, xb));
        }
    }
    for (int64_t j = 0; j < nx; j++)
        y[j * y_stride] = t == KV_TYPE_IQ3_XXS ? 0.25f * sum[j] : sum[j];
}

void kv_tile_iq3_xxs_q8_k_avx2(int64_t n, float *y, int64_t y_stride, const void *w,
                               size_t w_row_size, int64_t nw, const void *x, size_t x_row_size,
                               int64_t nx) {
    for (int64_t r = 0; r < nw; r++)
        tile_iq3(KV_TYPE_IQ3_XXS, n, y + r, y_stride, (const uint8_t *)w + r * w_row_size, x,
                 x_row_size, nx);
}

void kv_tile_iq3_s_q8_k_avx2(int64_t n, float *y, int64_t y_stride, const void *w,
                             size_t w_row_size, int64_t nw, const void *x, size_t x_row_size,
                             int64_t nx) {
    for (int64_t r = 0; r < nw; r++)
        tile_iq3(KV_TYPE_IQ3_S, n, y + r, y_stride, (const uint8_t *)w + r * w_row_size, x,
                 x_row_size, nx);
}
#endif
