// NEON dot products of the 8-wide lattice i-quants (IQ2_XXS, IQ2_XS, IQ2_S,
// IQ1_S, IQ1_M) against Q8_K (formats and arithmetic: kernels/ref/dot_iq.c).
// Per 16 weights, two stored grid points are loaded as bytes, IQ2 points take
// their signs (a byte mask from the sign bits, then negate where set), and
// vdotq_s32 multiplies them with the activations; each 16's exact sum is
// multiplied by its integer scale. IQ1's shift term sums the activations per 8.
// The super-block's sums are exact integers, so the float steps are the
// reference's and the results equal it to the bit.
#if defined(__ARM_NEON) && defined(__aarch64__)
#if !defined(__ARM_FEATURE_DOTPROD)
#error "kernels/neon needs -march=armv8.2-a+dotprod (cmake/kv_kernels.cmake)"
#endif
#include "kernels/neon/neon.h"

#include <string.h>

#include "kernels/neon/neon_util.h"
#include "kvant/kv_blocks.h"

enum { QK = KV_QK_K };

// The sign byte of 7 stored sign bits: bit 7 makes the count even.
static inline uint8_t signs8(uint32_t s7) {
    return (uint8_t)(s7 | ((uint32_t)__builtin_parity(s7) << 7));
}

// Two stored points (bytes) with sign bytes s0, s1 applied.
static inline int8x16_t signed_pair(uint64_t p0, uint64_t p1, uint8_t s0, uint8_t s1) {
    static const uint8_t BITS[16] = {1, 2, 4, 8, 16, 32, 64, 128, 1, 2, 4, 8, 16, 32, 64, 128};
    const int8x16_t v = vcombine_s8(vcreate_s8(p0), vcreate_s8(p1));
    const uint8x16_t s = vcombine_u8(vdup_n_u8(s0), vdup_n_u8(s1));
    const uint8x16_t neg = vtstq_u8(s, vld1q_u8(BITS));
    return vbslq_s8(neg, vnegq_s8(v), v);
}

// Exact sum of 16 products.
static inline int32_t dot16(int8x16_t a, const int8_t *y) {
    return vaddvq_s32(vdotq_s32(vdupq_n_s32(0), a, vld1q_s8(y)));
}

void kv_dot_iq2_xxs_q8_k_neon(int64_t n, float *out, const void *w, const void *x) {
    const kv_block_iq2_xxs *wb = w;
    const kv_block_q8_k *xb = x;
    const uint64_t *grid = kv__iq_grid_u64(KV_IQ_GRID_IQ2_XXS);
    float sum = 0.0f;
    for (int64_t i = 0; i < n / QK; i++) {
        int32_t bsum = 0;
        for (int ib = 0; ib < QK / 32; ib++) {
            uint32_t aux[2];
            memcpy(aux, wb[i].qs + 4 * ib, sizeof aux);
            const int8_t *q8 = xb[i].qs + 32 * ib;
            int32_t s = 0;
            for (int h = 0; h < 2; h++) {
                const int l = 2 * h;
                s += dot16(signed_pair(grid[(aux[0] >> (8 * l)) & 0xff],
                                       grid[(aux[0] >> (8 * l + 8)) & 0xff],
                                       signs8((aux[1] >> (7 * l)) & 127),
                                       signs8((aux[1] >> (7 * l + 7)) & 127)),
                           q8 + 16 * h);
            }
            bsum += (2 * (int32_t)(aux[1] >> 28) + 1) * s;
        }
        const float term = kv_neon_h2f(wb[i].d) * xb[i].d * (float)bsum; // its own statement: never contracted into an FMA
        sum += term;
    }
    *out = 0.125f * sum;
}

void kv_dot_iq2_xs_q8_k_neon(int64_t n, float *out, const void *w, const void *x) {
    const kv_block_iq2_xs *wb = w;
    const kv_block_q8_k *xb = x;
    const uint64_t *grid = kv__iq_grid_u64(KV_IQ_GRID_IQ2_XS);
    float sum = 0.0f;
    for (int64_t i = 0; i < n / QK; i++) {
        int32_t bsum = 0;
        for (int g = 0; g < QK / 16; g++) {
            const uint16_t q0 = wb[i].qs[2 * g], q1 = wb[i].qs[2 * g + 1];
            const int ls = 2 * ((wb[i].scales[g / 2] >> (4 * (g % 2))) & 0xf) + 1;
            bsum += ls * dot16(signed_pair(grid[q0 & 511], grid[q1 & 511], signs8(q0 >> 9),
                                           signs8(q1 >> 9)),
                               xb[i].qs + 16 * g);
        }
        const float term = kv_neon_h2f(wb[i].d) * xb[i].d * (float)bsum; // its own statement: never contracted into an FMA
        sum += term;
    }
    *out = 0.125f * sum;
}

void kv_dot_iq2_s_q8_k_neon(int64_t n, float *out, const void *w, const void *x) {
    const kv_block_iq2_s *wb = w;
    const kv_block_q8_k *xb = x;
    const uint64_t *grid = kv__iq_grid_u64(KV_IQ_GRID_IQ2_S);
    float sum = 0.0f;
    for (int64_t i = 0; i < n / QK; i++) {
        int32_t bsum = 0;
        for (int g = 0; g < QK / 16; g++) {
            const int k0 = 2 * g, k1 = 2 * g + 1; // groups of 8
            const int i0 = wb[i].qs[k0] | (((wb[i].qh[k0 / 4] >> (2 * (k0 % 4))) & 3) << 8);
            const int i1 = wb[i].qs[k1] | (((wb[i].qh[k1 / 4] >> (2 * (k1 % 4))) & 3) << 8);
            const int ls = 2 * ((wb[i].scales[g / 2] >> (4 * (g % 2))) & 0xf) + 1;
            bsum += ls * dot16(signed_pair(grid[i0], grid[i1], wb[i].qs[QK / 8 + k0],
                                           wb[i].qs[QK / 8 + k1]),
                               xb[i].qs + 16 * g);
        }
        const float term = kv_neon_h2f(wb[i].d) * xb[i].d * (float)bsum; // its own statement: never contracted into an FMA
        sum += term;
    }
    *out = 0.125f * sum;
}

// Exact sum of 8 activation quants.
static inline int32_t sum8(const int8_t *y) { return vaddlv_s8(vld1_s8(y)); }

void kv_dot_iq1_s_q8_k_neon(int64_t n, float *out, const void *w, const void *x) {
    const kv_block_iq1_s *wb = w;
    const kv_block_q8_k *xb = x;
    const uint64_t *grid = kv__iq_grid_u64(KV_IQ_GRID_IQ1_S);
    float sum = 0.0f;
    for (int64_t i = 0; i < n / QK; i++) {
        int32_t sumi = 0, sumi1 = 0;
        for (int ib = 0; ib < QK / 32; ib++) {
            const int qh = wb[i].qh[ib];
            const uint8_t *q = wb[i].qs + 4 * ib;
            const int8_t *q8 = xb[i].qs + 32 * ib;
            const int ls = 2 * ((qh >> 12) & 7) + 1;
            const int32_t s = dot16(vcombine_s8(vcreate_s8(grid[q[0] | (qh << 8 & 0x700)]),
                                                vcreate_s8(grid[q[1] | (qh << 5 & 0x700)])),
                                    q8) +
                              dot16(vcombine_s8(vcreate_s8(grid[q[2] | (qh << 2 & 0x700)]),
                                                vcreate_s8(grid[q[3] | (qh >> 1 & 0x700)])),
                                    q8 + 16);
            const int32_t t = sum8(q8) + sum8(q8 + 8) + sum8(q8 + 16) + sum8(q8 + 24);
            sumi += ls * s;
            sumi1 += (qh & 0x8000 ? -ls : ls) * t;
        }
        const float shift = KV_IQ1_DELTA * (float)sumi1; // separate statements: no FMA
        const float total = (float)sumi + shift;
        const float term = kv_neon_h2f(wb[i].d) * xb[i].d * total;
        sum += term;
    }
    *out = sum;
}

void kv_dot_iq1_m_q8_k_neon(int64_t n, float *out, const void *w, const void *x) {
    const kv_block_iq1_m *wb = w;
    const kv_block_q8_k *xb = x;
    const uint64_t *grid = kv__iq_grid_u64(KV_IQ_GRID_IQ1_S);
    float sum = 0.0f;
    for (int64_t i = 0; i < n / QK; i++) {
        uint16_t sc[4];
        memcpy(sc, wb[i].scales, sizeof sc);
        const kv_f16 d = (kv_f16)((sc[0] >> 12) | ((sc[1] >> 8) & 0x00f0) |
                                  ((sc[2] >> 4) & 0x0f00) | (sc[3] & 0xf000));
        int32_t sumi = 0, sumi1 = 0;
        for (int h = 0; h < QK / 16; h++) {
            const int qh = wb[i].qh[h];
            const int8_t *q8 = xb[i].qs + 16 * h;
            const int ls = 2 * ((sc[h / 4] >> (3 * (h % 4))) & 7) + 1;
            const int i0 = wb[i].qs[2 * h] | (qh << 8 & 0x700);
            const int i1 = wb[i].qs[2 * h + 1] | (qh << 4 & 0x700);
            sumi += ls * dot16(vcombine_s8(vcreate_s8(grid[i0]), vcreate_s8(grid[i1])), q8);
            sumi1 += (qh & 0x08 ? -ls : ls) * sum8(q8) + (qh & 0x80 ? -ls : ls) * sum8(q8 + 8);
        }
        const float shift = KV_IQ1_DELTA * (float)sumi1; // separate statements: no FMA
        const float total = (float)sumi + shift;
        const float term = kv_neon_h2f(d) * xb[i].d * total;
        sum += term;
    }
    *out = sum;
}
#endif
