// AVX2 dot products of the 256-element super-block types against Q8_K (ref/dot_k.c
// is the spec). Each super-block is summed exactly in 8 int32 lanes: quants are
// unpacked 32 at a time to unsigned bytes (offsets such as Q3_K's -4 or Q6_K's
// -32 come back through Q8_K's 16-element sums, bsums), maddubs multiplies them
// with the activations, and madd applies the 16- or 32-element scales. The lanes
// then go to float and are scaled by the super-block's d (and dmin) with FMA.
// Q4_K, Q5_K, Q6_K and IQ4_XS, which also have register tiles, are in tile_k.c.
// The short fixed loops are unrolled (#pragma GCC unroll, which clang also
// reads) so that shift counts and shuffle controls become constants.
#if defined(__AVX2__)
#include "kernels/avx2/avx2.h"

#include "kernels/avx2/avx2_util.h"
#include "kernels/ref/dot_ref.h"
#include "kvant/kv_blocks.h"

enum { QK = KV_QK_K };

// ---- shared pieces ----

static inline __m256 scale_add(__m256 acc, float d, __m256i sumi) {
    return _mm256_fmadd_ps(_mm256_set1_ps(d), _mm256_cvtepi32_ps(sumi), acc);
}

// The 16 bsums of a Q8_K block as 16 int16
static inline __m256i load_bsums(const kv_block_q8_k *x) { return load_256(x->bsums); }

// The 2-bit fields at shift 2s of 32 bytes, as bytes 0..3
static inline __m256i crumbs(__m256i q, int s) {
    return _mm256_and_si256(_mm256_srli_epi16(q, 2 * s), _mm256_set1_epi8(3));
}

// Bit c (0..7) of each of 32 bytes, moved to bit `to` of the byte
static inline __m256i bit_plane(__m256i q, int c, int to) {
    const __m256i b = _mm256_and_si256(_mm256_srli_epi16(q, c), _mm256_set1_epi8(1));
    return _mm256_slli_epi16(b, to);
}

// 16 int16 scales in element order -> the 8 of half h (0: elements 0..127, 1:
// 128..255) in both 128-bit lanes, ready for pick_pair_i16
static inline __m256i half_scales(__m256i sc16, int h) {
    return h == 0 ? _mm256_permute2x128_si256(sc16, sc16, 0x00)
                  : _mm256_permute2x128_si256(sc16, sc16, 0x11);
}

// One half (128 elements) of a 2-bit-plane layout (Q2_K, Q3_K): q holds 32 bytes
// whose fields at shift 2s are elements 32s..32s+31; hi adds a third bit plane
// (bit c of hmask as bit 2) when not NULL. Returns the scaled exact sums; the
// weights are at most 7, so maddubs pairs stay below 2 * 7 * 127.
static inline __m256i crumb_half(__m256i q, const __m256i *hm, int h, const int8_t *x8,
                                 __m256i scales) {
    __m256i sum = _mm256_setzero_si256();
    #pragma GCC unroll 8
    for (int s = 0; s < 4; s++) {
        __m256i u = crumbs(q, s);
        if (hm != NULL)
            u = _mm256_or_si256(u, bit_plane(*hm, 4 * h + s, 2));
        const __m256i p = _mm256_maddubs_epi16(u, load_256(x8 + 32 * s));
        sum = _mm256_add_epi32(sum, _mm256_madd_epi16(p, pick_pair_i16(scales, s)));
    }
    return sum;
}

// ---- Q2_K: w = d * (sc & 15) * q - dmin * (sc >> 4), per 16 weights ----

// w (n/256 blocks q2_k) . x (n/256 blocks q8_k)
void kv_dot_q2_k_q8_k_avx2(int64_t n, float *out, const void *w, const void *x) {
    const kv_block_q2_k *wb = w;
    const kv_block_q8_k *xb = x;
    __m256 acc = _mm256_setzero_ps(), acc_min = _mm256_setzero_ps();
    for (int64_t i = 0; i < n / QK; i++) {
        const __m128i sc = load_128(wb[i].scales);
        const __m128i lo4 = _mm_set1_epi8(0x0F);
        const __m256i scales = _mm256_cvtepu8_epi16(_mm_and_si128(sc, lo4));
        const __m256i mins = _mm256_cvtepu8_epi16(_mm_and_si128(_mm_srli_epi16(sc, 4), lo4));
        __m256i sum = _mm256_setzero_si256();
        #pragma GCC unroll 8
        for (int h = 0; h < 2; h++)
            sum = _mm256_add_epi32(sum, crumb_half(load_256(wb[i].qs + 32 * h), NULL, h,
                                                   xb[i].qs + 128 * h, half_scales(scales, h)));
        const __m256i summs = _mm256_madd_epi16(load_bsums(&xb[i]), mins);
        acc = scale_add(acc, xb[i].d * f16_to_f32(wb[i].d), sum);
        acc_min = scale_add(acc_min, xb[i].d * f16_to_f32(wb[i].dmin), summs);
    }
    *out = hsum_f32(_mm256_sub_ps(acc, acc_min));
}

// ---- Q3_K: w = d * (scale - 32) * (q - 4 * !hbit), per 16 weights ----

// The sixteen 6-bit scales minus 32, as 16 int16 in element order. Low 4 bits:
// nibbles of bytes 0..7 (scales 0..7 low nibbles, 8..15 high); top 2 bits: the
// bit pairs of bytes 8..11 (pair k of byte 8 + j % 4 for scale j = 4k + j % 4).
static inline __m256i q3_k_scales(const uint8_t s[12]) {
    const uint32_t a0 = load_u32(s), a1 = load_u32(s + 4), a2 = load_u32(s + 8);
    const uint32_t m4 = 0x0F0F0F0Fu, m2 = 0x03030303u;
    const __m128i v = _mm_setr_epi32((int32_t)((a0 & m4) | (a2 & m2) << 4),
                                     (int32_t)((a1 & m4) | (a2 >> 2 & m2) << 4),
                                     (int32_t)((a0 >> 4 & m4) | (a2 >> 4 & m2) << 4),
                                     (int32_t)((a1 >> 4 & m4) | (a2 >> 6 & m2) << 4));
    return _mm256_cvtepi8_epi16(_mm_sub_epi8(v, _mm_set1_epi8(32)));
}

// w (n/256 blocks q3_k) . x (n/256 blocks q8_k). The weight is u - 4 with
// u = low bits | hbit << 2 in 0..7; the -4 part is -4 * sum of scale * bsum.
void kv_dot_q3_k_q8_k_avx2(int64_t n, float *out, const void *w, const void *x) {
    const kv_block_q3_k *wb = w;
    const kv_block_q8_k *xb = x;
    __m256 acc = _mm256_setzero_ps();
    for (int64_t i = 0; i < n / QK; i++) {
        const __m256i scales = q3_k_scales(wb[i].scales);
        const __m256i hm = load_256(wb[i].hmask);
        __m256i sum = _mm256_setzero_si256();
        #pragma GCC unroll 8
        for (int h = 0; h < 2; h++)
            sum = _mm256_add_epi32(sum, crumb_half(load_256(wb[i].qs + 32 * h), &hm, h,
                                                   xb[i].qs + 128 * h, half_scales(scales, h)));
        const __m256i offset = _mm256_madd_epi16(load_bsums(&xb[i]), scales);
        sum = _mm256_sub_epi32(sum, _mm256_slli_epi32(offset, 2));
        acc = scale_add(acc, f16_to_f32(wb[i].d) * xb[i].d, sum);
    }
    *out = hsum_f32(acc);
}

// ---- ternary: w = d * (u - 1), u in 0..2; the -1 part is -sum(x) ----

// 3 * q mod 256 for each byte: bytes wrap on their own
static inline __m256i times3(__m256i q) { return _mm256_add_epi8(q, _mm256_add_epi8(q, q)); }

// The top trit of each byte read as a base-3 fraction: (3 q) >> 8, which is 1
// from q = 86 and 2 from q = 171.
static inline __m256i top_trit(__m256i q) {
    const __m256i one = _mm256_set1_epi8(1);
    const __m256i a = _mm256_min_epu8(_mm256_subs_epu8(q, _mm256_set1_epi8(85)), one);
    const __m256i b = _mm256_min_epu8(_mm256_subs_epu8(q, _mm256_set1_epi8((char)170)), one);
    return _mm256_add_epi8(a, b);
}

// 16 int16 pair sums of the trits of q (0..2) times 32 activations
static inline __m256i trit_products(__m256i q, const int8_t *x8) {
    return _mm256_maddubs_epi16(top_trit(q), load_256(x8));
}

// Sum of u * x over one TQ1_0 block, as 16 int16 (8 maddubs results of at most
// 2 * 2 * 127 each). Bytes 0..31 give elements 32 t + l (trit t = 0..4), bytes
// 32..47 elements 160 + 16 t + l, qh elements 240 + 4 t + l (trit t = 0..3).
static inline __m256i tq1_0_products(const kv_block_tq1_0 *w, const int8_t *x8) {
    __m256i q = load_256(w->qs);
    __m256i p = _mm256_setzero_si256();
    #pragma GCC unroll 8
    for (int t = 0; t < 5; t++) {
        p = _mm256_add_epi16(p, trit_products(q, x8 + 32 * t));
        q = times3(q);
    }
    // bytes 32..47 in both lanes, the high lane one trit ahead
    const __m256i r0 = _mm256_broadcastsi128_si256(load_128(w->qs + 32));
    const __m256i r1 = _mm256_blend_epi32(r0, times3(r0), 0xF0);      // trits 0 | 1
    const __m256i r2 = times3(times3(r1));                             // trits 2 | 3
    const __m256i r4 = times3(times3(r2));                             // trit 4 | unused
    const __m128i h0 = _mm_set1_epi32((int32_t)load_u32(w->qh));
    const __m128i h1 = _mm_add_epi8(h0, _mm_add_epi8(h0, h0));
    const __m128i h2 = _mm_add_epi8(h1, _mm_add_epi8(h1, h1));
    const __m128i h3 = _mm_add_epi8(h2, _mm_add_epi8(h2, h2));
    const __m128i hq = // dwords h0 h1 h2 h3: trit t of qh in dword t
        _mm_blend_epi32(_mm_blend_epi32(h0, h1, 0x2), _mm_blend_epi32(h2, h3, 0x8), 0xC);
    const __m256i last = _mm256_inserti128_si256(r4, hq, 1); // trit 4 of 32..47 | qh
    p = _mm256_add_epi16(p, trit_products(r1, x8 + 160));
    p = _mm256_add_epi16(p, trit_products(r2, x8 + 192));
    return _mm256_add_epi16(p, trit_products(last, x8 + 224));
}

// w (n/256 blocks tq1_0) . x (n/256 blocks q8_k)
void kv_dot_tq1_0_q8_k_avx2(int64_t n, float *out, const void *w, const void *x) {
    const kv_block_tq1_0 *wb = w;
    const kv_block_q8_k *xb = x;
    const __m256i ones = _mm256_set1_epi16(1);
    __m256 acc = _mm256_setzero_ps();
    for (int64_t i = 0; i < n / QK; i++) {
        const __m256i p = _mm256_madd_epi16(tq1_0_products(&wb[i], xb[i].qs), ones);
        const __m256i sum = _mm256_sub_epi32(p, _mm256_madd_epi16(load_bsums(&xb[i]), ones));
        acc = scale_add(acc, f16_to_f32(wb[i].d) * xb[i].d, sum);
    }
    *out = hsum_f32(acc);
}

// w (n/256 blocks tq2_0) . x (n/256 blocks q8_k). Weight e is the 2-bit field at
// shift 2 * (e % 128 / 32) of qs[32 * (e / 128) + e % 32], like Q2_K; the 8
// maddubs results (at most 2 * 3 * 127 each) add up in int16.
void kv_dot_tq2_0_q8_k_avx2(int64_t n, float *out, const void *w, const void *x) {
    const kv_block_tq2_0 *wb = w;
    const kv_block_q8_k *xb = x;
    const __m256i ones = _mm256_set1_epi16(1);
    __m256 acc = _mm256_setzero_ps();
    for (int64_t i = 0; i < n / QK; i++) {
        __m256i p = _mm256_setzero_si256();
        #pragma GCC unroll 8
        for (int h = 0; h < 2; h++) {
            const __m256i q = load_256(wb[i].qs + 32 * h);
            #pragma GCC unroll 8
            for (int s = 0; s < 4; s++) {
                const __m256i x8 = load_256(xb[i].qs + 128 * h + 32 * s);
                p = _mm256_add_epi16(p, _mm256_maddubs_epi16(crumbs(q, s), x8));
            }
        }
        const __m256i sum = _mm256_sub_epi32(_mm256_madd_epi16(p, ones),
                                             _mm256_madd_epi16(load_bsums(&xb[i]), ones));
        acc = scale_add(acc, xb[i].d * f16_to_f32(wb[i].d), sum);
    }
    *out = hsum_f32(acc);
}

#endif
