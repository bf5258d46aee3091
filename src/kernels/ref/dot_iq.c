// Reference dot products of the 8-wide lattice i-quants against Q8_K
// activations. IQ2_XXS, IQ2_XS, IQ2_S, with ggml's generic arithmetic: per
// super-block the exact integer sum over its groups of 32 (IQ2_XXS) or 16
// (IQ2_XS, IQ2_S) of (2 * scale + 1) * sum(grid byte * sign * q8), then one
// float term d * x.d * that sum, and 1/8 times the total at the end (a stored
// scale s means (2s + 1) / 8 of d). IQ1_S, IQ1_M: per super-block the exact
// sums of (2s + 1) * grid * q8 and of (2s + 1) * (+-1) * q8 (the shift's
// sign), then d * x.d * (first + 1/8 * second). Each kernel unpacks a
// super-block to 256 signed grid values and per-16 scales (IQ1: per-8 shift
// signs), then does one obvious loop.
#include "kernels/ref/dot_ref.h"

#include <string.h>

#include "kvant/kv_blocks.h"

enum { QK = KV_QK_K };

// The 8 coordinates of stored point p with sign byte s (bit j: negate j).
static void put8(uint64_t p, uint8_t s, int8_t *q) {
    for (int j = 0; j < 8; j++) {
        const int v = (int)((p >> (8 * j)) & 0xff);
        q[j] = (int8_t)(s >> j & 1 ? -v : v);
    }
}

// The sign byte of 7 stored sign bits: bit 7 makes the count even.
static uint8_t signs8(unsigned s7) {
    return (uint8_t)(s7 | ((unsigned)__builtin_parity(s7) << 7));
}

// sum over e of ls[e / 16] * q[e] * q8[e], exact
static int32_t block_sum(const int8_t q[QK], const int ls[QK / 16], const int8_t q8[QK]) {
    int32_t sum = 0;
    for (int e = 0; e < QK; e++)
        sum += ls[e / 16] * (q[e] * q8[e]);
    return sum;
}

static void unpack_iq2_xxs(const kv_block_iq2_xxs *b, const uint64_t *grid, int8_t q[QK],
                           int ls[QK / 16]) {
    for (int ib = 0; ib < QK / 32; ib++) {
        uint32_t aux[2];
        memcpy(aux, b->qs + 4 * ib, sizeof aux);
        ls[2 * ib] = ls[2 * ib + 1] = 2 * (int)(aux[1] >> 28) + 1;
        for (int l = 0; l < 4; l++)
            put8(grid[(aux[0] >> (8 * l)) & 0xff], signs8((aux[1] >> (7 * l)) & 127),
                 q + 32 * ib + 8 * l);
    }
}

static void unpack_iq2_xs(const kv_block_iq2_xs *b, const uint64_t *grid, int8_t q[QK],
                          int ls[QK / 16]) {
    for (int i = 0; i < QK / 16; i++)
        ls[i] = 2 * ((b->scales[i / 2] >> (4 * (i % 2))) & 0xf) + 1;
    for (int g = 0; g < QK / 8; g++)
        put8(grid[b->qs[g] & 511], signs8(b->qs[g] >> 9), q + 8 * g);
}

static void unpack_iq2_s(const kv_block_iq2_s *b, const uint64_t *grid, int8_t q[QK],
                         int ls[QK / 16]) {
    for (int i = 0; i < QK / 16; i++)
        ls[i] = 2 * ((b->scales[i / 2] >> (4 * (i % 2))) & 0xf) + 1;
    for (int g = 0; g < QK / 8; g++) {
        const int idx = b->qs[g] | (((b->qh[g / 4] >> (2 * (g % 4))) & 3) << 8);
        put8(grid[idx], b->qs[QK / 8 + g], q + 8 * g);
    }
}

void kv_dot_iq2_xxs_q8_k_ref(int64_t n, float *out, const void *w, const void *x) {
    const kv_block_iq2_xxs *wb = w;
    const kv_block_q8_k *xb = x;
    const uint64_t *grid = kv__iq_grid_u64(KV_IQ_GRID_IQ2_XXS);
    float sum = 0.0f;
    for (int64_t i = 0; i < n / QK; i++) {
        int8_t q[QK];
        int ls[QK / 16];
        unpack_iq2_xxs(&wb[i], grid, q, ls);
        const float term = kv_f16_to_f32(wb[i].d) * xb[i].d * (float)block_sum(q, ls, xb[i].qs); // its own statement: never contracted into an FMA
        sum += term;
    }
    *out = 0.125f * sum;
}

void kv_dot_iq2_xs_q8_k_ref(int64_t n, float *out, const void *w, const void *x) {
    const kv_block_iq2_xs *wb = w;
    const kv_block_q8_k *xb = x;
    const uint64_t *grid = kv__iq_grid_u64(KV_IQ_GRID_IQ2_XS);
    float sum = 0.0f;
    for (int64_t i = 0; i < n / QK; i++) {
        int8_t q[QK];
        int ls[QK / 16];
        unpack_iq2_xs(&wb[i], grid, q, ls);
        const float term = kv_f16_to_f32(wb[i].d) * xb[i].d * (float)block_sum(q, ls, xb[i].qs); // its own statement: never contracted into an FMA
        sum += term;
    }
    *out = 0.125f * sum;
}

void kv_dot_iq2_s_q8_k_ref(int64_t n, float *out, const void *w, const void *x) {
    const kv_block_iq2_s *wb = w;
    const kv_block_q8_k *xb = x;
    const uint64_t *grid = kv__iq_grid_u64(KV_IQ_GRID_IQ2_S);
    float sum = 0.0f;
    for (int64_t i = 0; i < n / QK; i++) {
        int8_t q[QK];
        int ls[QK / 16];
        unpack_iq2_s(&wb[i], grid, q, ls);
        const float term = kv_f16_to_f32(wb[i].d) * xb[i].d * (float)block_sum(q, ls, xb[i].qs); // its own statement: never contracted into an FMA
        sum += term;
    }
    *out = 0.125f * sum;
}

// ---- IQ1_S / IQ1_M ----

// d * x.d * (sum(ls * q * q8) + 1/8 * sum(ls * sign * q8)), ls and sign per e.
static float iq1_term(float d, const kv_block_q8_k *x, const int8_t q[QK], const int ls[QK / 16],
                      const int sign[QK / 8]) {
    int32_t sumi = 0, sumi1 = 0;
    for (int e = 0; e < QK; e++) {
        sumi += ls[e / 16] * (q[e] * x->qs[e]);
        sumi1 += ls[e / 16] * sign[e / 8] * x->qs[e];
    }
    return d * x->d * ((float)sumi + KV_IQ1_DELTA * (float)sumi1);
}

void kv_dot_iq1_s_q8_k_ref(int64_t n, float *out, const void *w, const void *x) {
    const kv_block_iq1_s *wb = w;
    const kv_block_q8_k *xb = x;
    const uint64_t *grid = kv__iq_grid_u64(KV_IQ_GRID_IQ1_S);
    float sum = 0.0f;
    for (int64_t i = 0; i < n / QK; i++) {
        int8_t q[QK];
        int ls[QK / 16], sign[QK / 8];
        for (int ib = 0; ib < QK / 32; ib++) {
            const uint16_t qh = wb[i].qh[ib];
            ls[2 * ib] = ls[2 * ib + 1] = 2 * ((qh >> 12) & 7) + 1;
            for (int l = 0; l < 4; l++) {
                sign[4 * ib + l] = qh & 0x8000 ? -1 : 1;
                const uint64_t p = grid[wb[i].qs[4 * ib + l] | (((qh >> (3 * l)) & 7) << 8)];
                for (int j = 0; j < 8; j++)
                    q[32 * ib + 8 * l + j] = (int8_t)(p >> (8 * j));
            }
        }
        sum += iq1_term(kv_f16_to_f32(wb[i].d), &xb[i], q, ls, sign);
    }
    *out = sum;
}

void kv_dot_iq1_m_q8_k_ref(int64_t n, float *out, const void *w, const void *x) {
    const kv_block_iq1_m *wb = w;
    const kv_block_q8_k *xb = x;
    const uint64_t *grid = kv__iq_grid_u64(KV_IQ_GRID_IQ1_S);
    float sum = 0.0f;
    for (int64_t i = 0; i < n / QK; i++) {
        uint16_t sc[4];
        memcpy(sc, wb[i].scales, sizeof sc);
        const kv_f16 d = (kv_f16)((sc[0] >> 12) | ((sc[1] >> 8) & 0x00f0) |
                                  ((sc[2] >> 4) & 0x0f00) | (sc[3] & 0xf000));
        int8_t q[QK];
        int ls[QK / 16], sign[QK / 8];
        for (int h = 0; h < QK / 16; h++) {
            ls[h] = 2 * ((sc[h / 4] >> (3 * (h % 4))) & 7) + 1;
            const uint8_t qh = wb[i].qh[h];
            for (int k = 0; k < 2; k++) {
                const int idx = wb[i].qs[2 * h + k] | ((qh << (8 - 4 * k)) & 0x700);
                sign[2 * h + k] = qh & (k ? 0x80 : 0x08) ? -1 : 1;
                for (int j = 0; j < 8; j++)
                    q[16 * h + 8 * k + j] = (int8_t)(grid[idx] >> (8 * j));
            }
        }
        sum += iq1_term(kv_f16_to_f32(d), &xb[i], q, ls, sign);
    }
    *out = sum;
}
