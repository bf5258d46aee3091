// Reference dot products of IQ3_XXS and IQ3_S against Q8_K activations, with
// ggml's arithmetic: per super-block an exact integer sum of scale * value *
// sign * q8 over its 8 groups of 32, then one float step, sum += (d * d8) *
// (float)bsum; IQ3_XXS's result is 0.25 * sum (its group scales are 2 ls + 1 for
// d * (ls + 1/2) / 2). The grid values come from kv__iq3_grid (kv_blocks.h).
#include "kernels/ref/dot_ref.h"

#include "kvant/kv_blocks.h"

enum { QK = KV_QK_K, GROUP = 32, N_GROUPS = KV_QK_K / 32 };

// Coordinate e % 4 of a packed grid point
static inline int grid_value(uint32_t point, int e) { return (point >> (8 * (e % 4))) & 255; }

// w (n/256 blocks iq3_xxs) . x (n/256 blocks q8_k). Group b: tuples qs[8b..8b+7],
// the little-endian uint32 at qs[64 + 4b] with sign fields (7 bits per 8
// weights, the 8th by parity) and the scale ls in its top 4 bits.
void kv_dot_iq3_xxs_q8_k_ref(int64_t n, float *out, const void *w, const void *x) {
    const kv_block_iq3_xxs *wb = w;
    const kv_block_q8_k *xb = x;
    const uint32_t *grid = kv__iq3_grid(KV_TYPE_IQ3_XXS);
    float sum = 0.0f;
    for (int64_t i = 0; i < n / QK; i++) {
        const uint8_t *ss = wb[i].qs + QK / 4;
        int32_t bsum = 0;
        for (int b = 0; b < N_GROUPS; b++) {
            const uint32_t v = (uint32_t)ss[4 * b] | ((uint32_t)ss[4 * b + 1] << 8) |
                               ((uint32_t)ss[4 * b + 2] << 16) | ((uint32_t)ss[4 * b + 3] << 24);
            const int8_t *q8 = xb[i].qs + GROUP * b;
            int32_t sumi = 0;
            for (int e = 0; e < GROUP; e++) {
                const uint8_t signs = kv__iq3_xxs_signs((v >> (7 * (e / 8))) & 127);
                const int val = grid_value(grid[wb[i].qs[8 * b + e / 4]], e);
                sumi += val * q8[e] * ((signs >> (e % 8)) & 1 ? -1 : 1);
            }
            bsum += sumi * (int32_t)(2 * (v >> 28) + 1);
        }
        sum += kv_f16_to_f32(wb[i].d) * xb[i].d * (float)bsum;
    }
    *out = 0.25f * sum;
}

// w (n/256 blocks iq3_s) . x (n/256 blocks q8_k). Group b: tuples t = 8b..8b+7
// index qs[t] | bit t % 8 of qh[b] << 8, signs bit e % 8 of signs[4b + e / 8],
// scale 2 ls + 1 with ls nibble b % 2 of scales[b / 2].
void kv_dot_iq3_s_q8_k_ref(int64_t n, float *out, const void *w, const void *x) {
    const kv_block_iq3_s *wb = w;
    const kv_block_q8_k *xb = x;
    const uint32_t *grid = kv__iq3_grid(KV_TYPE_IQ3_S);
    float sum = 0.0f;
    for (int64_t i = 0; i < n / QK; i++) {
        int32_t bsum = 0;
        for (int b = 0; b < N_GROUPS; b++) {
            const int8_t *q8 = xb[i].qs + GROUP * b;
            int32_t sumi = 0;
            for (int e = 0; e < GROUP; e++) {
                const int t = 8 * b + e / 4;
                const int idx = wb[i].qs[t] | (((wb[i].qh[b] >> (t % 8)) & 1) << 8);
                const int neg = (wb[i].signs[4 * b + e / 8] >> (e % 8)) & 1;
                sumi += grid_value(grid[idx], e) * q8[e] * (neg ? -1 : 1);
            }
            const int ls = (wb[i].scales[b / 2] >> (4 * (b % 2))) & 0xF;
            bsum += sumi * (2 * ls + 1);
        }
        sum += kv_f16_to_f32(wb[i].d) * xb[i].d * (float)bsum;
    }
    *out = sum;
}
