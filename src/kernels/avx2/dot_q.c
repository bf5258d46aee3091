// AVX2 dot products of the 32-element block types against Q8_0 / Q8_1
// activations (ref/dot_q.c is the spec); Q4_0 and Q8_0, which also have
// register tiles, are in tile_q.c. A block's 32 weights are unpacked to
// bytes in element order, multiplied with the activation bytes by maddubs and
// summed exactly into 8 int32 lanes, which go to float and are scaled by
// d_w * d_x into float lanes with FMA. Two blocks per step, one accumulator
// each; an odd last block goes to the reference.
#if defined(__AVX2__)
#include "kernels/avx2/avx2.h"

#include "kernels/avx2/avx2_util.h"
#include "kernels/ref/dot_ref.h"
#include "kvant/kv_blocks.h"

// acc + d * (float)sumi, lane by lane
static inline __m256 scale_add(__m256 acc, float d, __m256i sumi) {
    return _mm256_fmadd_ps(_mm256_set1_ps(d), _mm256_cvtepi32_ps(sumi), acc);
}

_Static_assert(KV_QK4_1 == KV_QK8_1 && KV_QK5_1 == KV_QK8_1, "dot_min_q8_1 pairs blocks 1:1");

// Block i of w (a type with a minimum: Q4_1, Q5_1) against x: its int32 sums,
// and its scale *d and minimum *m.
typedef __m256i (*min_block_fn)(const void *w, int64_t i, const kv_block_q8_1 *x, float *d,
                                float *m);

// w (n/32 blocks of w_block bytes, read through blk) . x (n/32 blocks q8_1),
// two blocks a step, an odd last one by ref; the minimum part is m_w * s_x.
// Inlined with blk a constant, so blk is inlined too.
static inline __attribute__((always_inline)) float
dot_min_q8_1(int64_t n, const void *w, size_t w_block, const kv_block_q8_1 *xb, min_block_fn blk,
             kv__dot_ref_fn ref) {
    const int64_t nb = n / KV_QK8_1;
    __m256 acc0 = _mm256_setzero_ps(), acc1 = _mm256_setzero_ps();
    float min0 = 0.0f, min1 = 0.0f;
    int64_t i = 0;
    for (; i + 2 <= nb; i += 2) {
        float dw0, mw0, dw1, mw1;
        const __m256i s0 = blk(w, i, &xb[i], &dw0, &mw0);
        const __m256i s1 = blk(w, i + 1, &xb[i + 1], &dw1, &mw1);
        acc0 = scale_add(acc0, dw0 * f16_at(&xb[i].d), s0);
        acc1 = scale_add(acc1, dw1 * f16_at(&xb[i + 1].d), s1);
        min0 += mw0 * f16_at(&xb[i].s);
        min1 += mw1 * f16_at(&xb[i + 1].s);
    }
    float rest = 0.0f;
    if (i < nb)
        ref(n - i * KV_QK8_1, &rest, (const uint8_t *)w + i * w_block, xb + i);
    return hsum_f32(_mm256_add_ps(acc0, acc1)) + (min0 + min1) + rest;
}

// ---- Q4_1: w = d * nibble + m; the m part is m * s, s = d_x * sum(x) ----

// Nibbles are 0..15, so maddubs pairs stay below 2 * 15 * 127.
static inline __m256i q4_1_block(const void *w, int64_t i, const kv_block_q8_1 *x, float *d,
                                 float *m) {
    const kv_block_q4_1 *b = (const kv_block_q4_1 *)w + i;
    *d = f16_at(&b->d);
    *m = f16_at(&b->m);
    const __m256i p = _mm256_maddubs_epi16(nibbles_32(b->qs), load_256(x->qs));
    return _mm256_madd_epi16(p, _mm256_set1_epi16(1));
}

// w (n/32 blocks q4_1) . x (n/32 blocks q8_1)
void kv_dot_q4_1_q8_1_avx2(int64_t n, float *out, const void *w, const void *x) {
    *out = dot_min_q8_1(n, w, sizeof(kv_block_q4_1), x, q4_1_block, kv_dot_q4_1_q8_1_ref);
}

// ---- Q5_0: w = d * ((nibble | bit << 4) - 16) ----

// nibble - 16 is the nibble with the top four bits of the byte set, so the
// weight byte is nibble | (bit ? 0 : 0xF0), a signed value in -16..15.
static inline __m256i q5_0_sums(const kv_block_q5_0 *w, const kv_block_q8_0 *x) {
    const __m256i high = _mm256_andnot_si256(bits_to_bytes(w->qh), _mm256_set1_epi8((char)0xF0));
    const __m256i q = _mm256_or_si256(nibbles_32(w->qs), high);
    return dot_i8(q, load_256(x->qs));
}

// w (n/32 blocks q5_0) . x (n/32 blocks q8_0)
void kv_dot_q5_0_q8_0_avx2(int64_t n, float *out, const void *w, const void *x) {
    const kv_block_q5_0 *wb = w;
    const kv_block_q8_0 *xb = x;
    const int64_t nb = n / KV_QK5_0;
    __m256 acc0 = _mm256_setzero_ps(), acc1 = _mm256_setzero_ps();
    int64_t i = 0;
    for (; i + 2 <= nb; i += 2) {
        const float d0 = f16_at(&wb[i].d) * f16_at(&xb[i].d);
        const float d1 = f16_at(&wb[i + 1].d) * f16_at(&xb[i + 1].d);
        acc0 = scale_add(acc0, d0, q5_0_sums(&wb[i], &xb[i]));
        acc1 = scale_add(acc1, d1, q5_0_sums(&wb[i + 1], &xb[i + 1]));
    }
    float rest = 0.0f;
    if (i < nb)
        kv_dot_q5_0_q8_0_ref(n - i * KV_QK5_0, &rest, wb + i, xb + i);
    *out = hsum_f32(_mm256_add_ps(acc0, acc1)) + rest;
}

// ---- Q5_1: w = d * (nibble | bit << 4) + m ----

// Weights are 0..31, so maddubs pairs stay below 2 * 31 * 127.
static inline __m256i q5_1_block(const void *w, int64_t i, const kv_block_q8_1 *x, float *d,
                                 float *m) {
    const kv_block_q5_1 *b = (const kv_block_q5_1 *)w + i;
    *d = f16_at(&b->d);
    *m = f16_at(&b->m);
    const __m256i high = _mm256_and_si256(bits_to_bytes(b->qh), _mm256_set1_epi8(0x10));
    const __m256i q = _mm256_or_si256(nibbles_32(b->qs), high);
    const __m256i p = _mm256_maddubs_epi16(q, load_256(x->qs));
    return _mm256_madd_epi16(p, _mm256_set1_epi16(1));
}

// w (n/32 blocks q5_1) . x (n/32 blocks q8_1)
void kv_dot_q5_1_q8_1_avx2(int64_t n, float *out, const void *w, const void *x) {
    *out = dot_min_q8_1(n, w, sizeof(kv_block_q5_1), x, q5_1_block, kv_dot_q5_1_q8_1_ref);
}

// ---- IQ4_NL: w = d * levels[nibble] ----

// The 16 levels fit one 128-bit table, so pshufb looks all 32 up at once.
static inline __m256i iq4_nl_sums(const kv_block_iq4_nl *w, const kv_block_q8_0 *x,
                                  __m256i levels) {
    const __m256i q = _mm256_shuffle_epi8(levels, nibbles_32(w->qs));
    return dot_i8(q, load_256(x->qs));
}

// w (n/32 blocks iq4_nl) . x (n/32 blocks q8_0)
void kv_dot_iq4_nl_q8_0_avx2(int64_t n, float *out, const void *w, const void *x) {
    const kv_block_iq4_nl *wb = w;
    const kv_block_q8_0 *xb = x;
    const int64_t nb = n / KV_QK4_NL;
    const __m256i levels = _mm256_broadcastsi128_si256(load_128(KV_IQ4_LEVELS));
    __m256 acc0 = _mm256_setzero_ps(), acc1 = _mm256_setzero_ps();
    int64_t i = 0;
    for (; i + 2 <= nb; i += 2) {
        const float d0 = f16_at(&xb[i].d) * f16_at(&wb[i].d);
        const float d1 = f16_at(&xb[i + 1].d) * f16_at(&wb[i + 1].d);
        acc0 = scale_add(acc0, d0, iq4_nl_sums(&wb[i], &xb[i], levels));
        acc1 = scale_add(acc1, d1, iq4_nl_sums(&wb[i + 1], &xb[i + 1], levels));
    }
    float rest = 0.0f;
    if (i < nb)
        kv_dot_iq4_nl_q8_0_ref(n - i * KV_QK4_NL, &rest, wb + i, xb + i);
    *out = hsum_f32(_mm256_add_ps(acc0, acc1)) + rest;
}

#endif
