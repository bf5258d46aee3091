// IQ2_XXS, IQ2_XS and IQ2_S reference quantizers and dequantizers, bit-exact
// with ggml. Each group of 8 values becomes a point of an 8-wide
// codebook (quant/iq_grid.c) with 7 sign bits (the 8th makes the number of
// negatives even), and each 32 (IQ2_XXS) or 16 (IQ2_XS) values a 4-bit scale
// against an F16 super scale; IQ2_S stores 10-bit indexes into a larger
// codebook and all 8 signs. The fit weighs value i by imatrix[i] *
// sqrt(sigma2 + x[i]^2); IQ2_XXS and IQ2_XS need the importance matrix, IQ2_S
// falls back to sigma2/4 + x[i]^2 without one.
#include "quant/quant_int.h"

#include <math.h>
#include <stdbool.h>

#include "quant/iq_grid.h"
#include "quant/kquant_util.h"

#define IQ2_NMAX 3 // levels 0..2, i.e. 1, 3, 5 times the scale
static const float IQ2_VALUE[3] = {1, 3, 5};

// Per 8 values: their magnitudes in xval and their sign bits (7 stored). An odd
// count of negatives is made even by keeping the least important value (the
// smallest w*x^2, the first of equals) signed: its xval stays negative.
uint8_t kv__iq_sign_split8(const float *x, const float *w, float *xval) {
    int nflip = 0;
    unsigned s = 0;
    for (int i = 0; i < 8; i++) {
        xval[i] = x[i] >= 0 ? x[i] : -x[i];
        if (x[i] < 0) {
            nflip++;
            s |= 1u << i;
        }
    }
    if (nflip % 2) {
        int imin = 0;
        float min = w[0] * x[0] * x[0];
        for (int i = 1; i < 8; i++) {
            const float ax = w[i] * x[i] * x[i];
            if (ax < min) {
                min = ax;
                imin = i;
            }
        }
        xval[imin] = -xval[imin];
        s ^= 1u << imin;
    }
    return (uint8_t)(s & 127);
}

// Rounds 8 magnitudes at inverse scale id to levels 0..2 in L; returns the
// codebook index, or -1 if that point is not in the codebook.
static int iq2_round(const kv__iq_grid *g, const float *xval, float id, int8_t L[8]) {
    for (int i = 0; i < 8; i++)
        L[i] = (int8_t)kv__kq_clamp(kv__nearest_int(0.5f * (id * xval[i] - 1)), 0, IQ2_NMAX - 1);
    return g->map[kv__iq_grid_key(L)];
}

// iq2_round, then the best neighbour (weights waux, scale) if off the codebook.
static int iq2_snap(const kv__iq_grid *g, const float *xval, const float *waux, float id,
                    float scale, int8_t L[8]) {
    const int gi = iq2_round(g, xval, id, L);
    if (gi >= 0)
        return gi;
    return kv__iq_grid_best_neighbour(g, g->nb - g->map[kv__iq_grid_key(L)] - 1, xval, waux,
                                      scale, IQ2_VALUE, L);
}

// Codebook index of levels L; a point off the codebook (only from degenerate
// weights, where ggml aborts) takes its best neighbour at unit weights.
static int iq2_index(const kv__iq_grid *g, const float *xval, int8_t L[8]) {
    for (int i = 0; i < 8; i++)
        L[i] = (int8_t)kv__kq_clamp(L[i], 0, IQ2_NMAX - 1);
    const int gi = g->map[kv__iq_grid_key(L)];
    if (gi >= 0)
        return gi;
    static const float ONES[8] = {1, 1, 1, 1, 1, 1, 1, 1};
    return kv__iq_grid_best_neighbour(g, g->nb - gi - 1, xval, ONES, 1.f, IQ2_VALUE, L);
}

// Weighted sums of q*x and q*q over n values with q = 2L+1.
static void iq2_sums(int n, const float *xval, const float *w, const int8_t *L, float *sumqx,
                     float *sumq2) {
    float sqx = 0;
    float sq2 = 0;
    for (int i = 0; i < n; i++) {
        const float q = (float)(2 * L[i] + 1);
        sqx += w[i] * xval[i] * q;
        sq2 += w[i] * q * q;
    }
    *sumqx = sqx;
    *sumq2 = sq2;
}

static float iq2_sigma2(const float *x) {
    float s = 0;
    for (int i = 0; i < KV_QK_K; i++)
        s += x[i] * x[i];
    return s / KV_QK_K;
}

static void iq2_weights(int n, const float *x, const float *qw, float sigma2, float *w,
                        float *waux) {
    for (int i = 0; i < n; i++)
        w[i] = qw[i] * sqrtf(sigma2 + x[i] * x[i]);
    for (int i = 0; i < n; i++)
        waux[i] = sqrtf(w[i]);
}

static float fmax_ggml(float a, float b) { return a > b ? a : b; }

// The 4-bit scale of a group: nearest of (2l+1)/2 * d to the group's scale.
static int iq2_scale4(float id, float scale) {
    return kv__kq_clamp(kv__nearest_int(0.5f * (id * scale - 1)), 0, 15);
}

// 8 values of a stored IQ2 point times dl, with 8 sign bits.
static void iq2_put8(uint64_t p, uint8_t s, float dl, float *y) {
    for (int j = 0; j < 8; j++)
        y[j] = dl * (float)((p >> (8 * j)) & 0xff) * (s >> j & 1 ? -1.f : 1.f);
}

// ---- IQ2_XXS: per 32 values 4 grid bytes, 4x7 sign bits and a 4-bit scale ----

// State that ggml keeps across the super-blocks of one row (the levels of the
// last group fit), reproduced for degenerate groups whose fit never improves.
typedef struct {
    int8_t L[32];
} iq2_row_state;

// Fits 32 values: levels in st->L, signs in signs[4]; returns the scale (>= 0).
static float iq2_xxs_fit(const kv__iq_grid *g, const float *xb, const float *w,
                         const float *waux, uint8_t signs[4], int *gidx, iq2_row_state *st) {
    float xval[32];
    int8_t Laux[32];
    for (int k = 0; k < 4; k++)
        signs[k] = kv__iq_sign_split8(xb + 8 * k, w + 8 * k, xval + 8 * k);
    float max = xval[0];
    for (int i = 1; i < 32; i++)
        max = fmax_ggml(max, xval[i]);
    if (max < KV_KQ_GROUP_EPS) {
        memset(st->L, 0, 32);
        return -1; // an all-zero group: scale 0, nothing stored
    }
    uint8_t Lqp[32];
    float scale = kv__kq_fit_positive(32, IQ2_NMAX + 1, xval, Lqp, w);
    memcpy(st->L, Lqp, 32);
    const float eff_max = scale * IQ2_NMAX;
    float best = 0;
    for (int is = -6; is <= 6; is++) {
        const float id = (float)(2 * IQ2_NMAX - 1) + (float)is * 0.1f;
        const float idd = id / eff_max;
        for (int k = 0; k < 4; k++)
            iq2_snap(g, xval + 8 * k, waux + 8 * k, idd, 1 / idd, Laux + 8 * k);
        float sumqx, sumq2;
        iq2_sums(32, xval, w, Laux, &sumqx, &sumq2);
        if (sumq2 > 0 && sumqx * sumqx > best * sumq2) {
            scale = sumqx / sumq2;
            best = scale * sumqx;
            memcpy(st->L, Laux, 32);
        }
    }
    if (scale > 0) {
        const float id = 1 / scale;
        for (int k = 0; k < 4; k++)
            iq2_snap(g, xval + 8 * k, waux + 8 * k, id, scale, st->L + 8 * k);
        float sumqx, sumq2;
        iq2_sums(32, xval, w, st->L, &sumqx, &sumq2);
        if (sumq2 > 0)
            scale = sumqx / sumq2;
    }
    if (scale < 0) { // cannot happen for finite input; ggml flips the signs too
        scale = -scale;
        for (int k = 0; k < 4; k++)
            signs[k] = (uint8_t)(~signs[k] & 127);
    }
    for (int k = 0; k < 4; k++)
        gidx[k] = iq2_index(g, xval + 8 * k, st->L + 8 * k);
    return scale;
}

static void iq2_xxs_row(const kv__iq_grid *g, const float *x, const float *qw, int64_t nb,
                        kv_block_iq2_xxs *y) {
    iq2_row_state st = {{0}};
    float w[32], waux[32];
    for (int64_t b = 0; b < nb; b++) {
        const float *xbl = x + b * KV_QK_K;
        const float sigma2 = iq2_sigma2(xbl);
        uint32_t q2[16] = {0};
        float scales[8];
        float max_scale = 0;
        for (int ib = 0; ib < 8; ib++) {
            iq2_weights(32, xbl + 32 * ib, qw + b * KV_QK_K + 32 * ib, sigma2, w, waux);
            uint8_t signs[4];
            int gidx[4];
            const float scale = iq2_xxs_fit(g, xbl + 32 * ib, w, waux, signs, gidx, &st);
            if (scale < 0) {
                scales[ib] = 0;
                continue;
            }
            for (int k = 0; k < 4; k++) {
                q2[2 * ib] |= (uint32_t)gidx[k] << (8 * k);
                q2[2 * ib + 1] |= (uint32_t)signs[k] << (7 * k);
            }
            scales[ib] = scale;
            max_scale = fmax_ggml(max_scale, scale);
        }
        y[b].d = kv_f32_to_f16(0.f);
        if (max_scale == 0) {
            memset(y[b].qs, 0, sizeof y[b].qs);
            continue;
        }
        const float d = max_scale / 31;
        y[b].d = kv_f32_to_f16(d);
        const float id = 1 / d;
        for (int ib = 0; ib < 8; ib++)
            q2[2 * ib + 1] |= (uint32_t)iq2_scale4(id, scales[ib]) << 28;
        memcpy(y[b].qs, q2, sizeof y[b].qs);
    }
}

void kv__quantize_iq2_xxs(const float *src, void *dst, int64_t n_rows, int64_t n_per_row,
                          const float *imatrix) {
    const kv__iq_grid *g = kv__iq_grid_get(KV_IQ_GRID_IQ2_XXS);
    const int64_t nb = n_per_row / KV_QK_K;
    for (int64_t r = 0; r < n_rows; r++)
        iq2_xxs_row(g, src + r * n_per_row, imatrix, nb, (kv_block_iq2_xxs *)dst + r * nb);
}

void kv__dequantize_iq2_xxs(const void *src, float *dst, int64_t k) {
    const kv_block_iq2_xxs *x = src;
    const uint64_t *grid = kv__iq_grid_u64(KV_IQ_GRID_IQ2_XXS);
    for (int64_t b = 0; b < k / KV_QK_K; b++) {
        const float d = kv_f16_to_f32(x[b].d);
        for (int ib = 0; ib < 8; ib++) {
            uint32_t aux[2];
            memcpy(aux, x[b].qs + 4 * ib, sizeof aux);
            const float db = d * (0.5f + (float)(aux[1] >> 28)) * 0.25f;
            float *y = dst + b * KV_QK_K + 32 * ib;
            for (int l = 0; l < 4; l++)
                iq2_put8(grid[(aux[0] >> (8 * l)) & 0xff], kv__iq_signs8((aux[1] >> (7 * l)) & 127),
                         db, y + 8 * l);
        }
    }
}

// ---- IQ2_XS: per 16 values 2 x (9-bit grid index | 7 sign bits) and a 4-bit scale ----

// Fits 16 values (levels in st->L[0..15]); returns the scale, -1 for all zero.
// IQ2_XS (is_s false) keeps signs even, as IQ2_XXS; IQ2_S (is_s true) stores
// all 8 signs, treats groups below 1e-8 as zero and leaves the levels then.
static float iq2_xs_fit(const kv__iq_grid *g, const float *xb, const float *w, const float *waux,
                        bool is_s, uint8_t signs[2], int gidx[2], iq2_row_state *st) {
    float xval[16];
    int8_t Laux[16];
    bool on_grid[2] = {true, true};
    for (int k = 0; k < 2; k++) {
        if (is_s) {
            unsigned sb = 0;
            for (int i = 0; i < 8; i++) {
                xval[8 * k + i] = xb[8 * k + i] >= 0 ? xb[8 * k + i] : -xb[8 * k + i];
                sb |= (xb[8 * k + i] < 0 ? 1u : 0u) << i;
            }
            signs[k] = (uint8_t)sb;
        } else {
            signs[k] = kv__iq_sign_split8(xb + 8 * k, w + 8 * k, xval + 8 * k);
        }
    }
    float max = xval[0];
    for (int i = 1; i < 16; i++)
        max = fmax_ggml(max, xval[i]);
    if (max < (is_s ? 1e-8f : KV_KQ_GROUP_EPS)) {
        if (!is_s)
            memset(st->L, 0, 16);
        return -1;
    }
    float best = 0;
    float scale = max / (2 * IQ2_NMAX - 1);
    for (int is = -9; is <= 9; is++) {
        const float id = ((float)(2 * IQ2_NMAX - 1) + (float)is * 0.1f) / max;
        bool aux_on_grid[2];
        for (int k = 0; k < 2; k++) {
            aux_on_grid[k] = iq2_round(g, xval + 8 * k, id, Laux + 8 * k) >= 0;
            if (!aux_on_grid[k])
                iq2_snap(g, xval + 8 * k, waux + 8 * k, id, 1 / id, Laux + 8 * k);
        }
        float sumqx, sumq2;
        iq2_sums(16, xval, w, Laux, &sumqx, &sumq2);
        if (sumq2 > 0 && sumqx * sumqx > best * sumq2) {
            scale = sumqx / sumq2;
            best = scale * sumqx;
            memcpy(st->L, Laux, 16);
            on_grid[0] = aux_on_grid[0];
            on_grid[1] = aux_on_grid[1];
        }
    }
    if ((!on_grid[0] || !on_grid[1]) && scale > 0) {
        const float id = 1 / scale;
        for (int k = 0; k < 2; k++)
            if (!on_grid[k])
                iq2_snap(g, xval + 8 * k, waux + 8 * k, id, scale, st->L + 8 * k);
        float sumqx, sumq2;
        iq2_sums(16, xval, w, st->L, &sumqx, &sumq2);
        if (sumq2 > 0)
            scale = sumqx / sumq2;
    }
    if (scale < 0) {
        scale = -scale;
        for (int k = 0; k < 2; k++)
            signs[k] = (uint8_t)(~signs[k] & (is_s ? 255 : 127));
    }
    for (int k = 0; k < 2; k++)
        gidx[k] = iq2_index(g, xval + 8 * k, st->L + 8 * k);
    return scale;
}

static void iq2_xs_row(const kv__iq_grid *g, const float *x, const float *qw, int64_t nb,
                       kv_block_iq2_xs *y) {
    iq2_row_state st = {{0}};
    float w[16], waux[16];
    for (int64_t b = 0; b < nb; b++) {
        const float *xbl = x + b * KV_QK_K;
        const float sigma2 = iq2_sigma2(xbl);
        uint16_t q2[32] = {0};
        float scales[16];
        float max_scale = 0;
        memset(y[b].scales, 0, sizeof y[b].scales);
        for (int ib = 0; ib < 16; ib++) {
            iq2_weights(16, xbl + 16 * ib, qw + b * KV_QK_K + 16 * ib, sigma2, w, waux);
            uint8_t signs[2];
            int gidx[2];
            const float scale = iq2_xs_fit(g, xbl + 16 * ib, w, waux, false, signs, gidx, &st);
            if (scale < 0) {
                scales[ib] = 0;
                continue;
            }
            for (int k = 0; k < 2; k++)
                q2[2 * ib + k] = (uint16_t)(gidx[k] | (signs[k] << 9));
            scales[ib] = scale;
            max_scale = fmax_ggml(max_scale, scale);
        }
        y[b].d = kv_f32_to_f16(0.f);
        if (max_scale == 0) {
            memset(y[b].qs, 0, sizeof y[b].qs);
            continue;
        }
        const float d = max_scale / 31;
        y[b].d = kv_f32_to_f16(d);
        const float id = 1 / d;
        for (int ib = 0; ib < 16; ib++)
            y[b].scales[ib / 2] |= (uint8_t)(iq2_scale4(id, scales[ib]) << (4 * (ib % 2)));
        memcpy(y[b].qs, q2, sizeof y[b].qs);
    }
}

void kv__quantize_iq2_xs(const float *src, void *dst, int64_t n_rows, int64_t n_per_row,
                         const float *imatrix) {
    const kv__iq_grid *g = kv__iq_grid_get(KV_IQ_GRID_IQ2_XS);
    const int64_t nb = n_per_row / KV_QK_K;
    for (int64_t r = 0; r < n_rows; r++)
        iq2_xs_row(g, src + r * n_per_row, imatrix, nb, (kv_block_iq2_xs *)dst + r * nb);
}

void kv__dequantize_iq2_xs(const void *src, float *dst, int64_t k) {
    const kv_block_iq2_xs *x = src;
    const uint64_t *grid = kv__iq_grid_u64(KV_IQ_GRID_IQ2_XS);
    for (int64_t b = 0; b < k / KV_QK_K; b++) {
        const float d = kv_f16_to_f32(x[b].d);
        for (int ib = 0; ib < 8; ib++) {
            const float db[2] = {d * (0.5f + (float)(x[b].scales[ib] & 0xf)) * 0.25f,
                                 d * (0.5f + (float)(x[b].scales[ib] >> 4)) * 0.25f};
            for (int l = 0; l < 4; l++) {
                const uint16_t q = x[b].qs[4 * ib + l];
                iq2_put8(grid[q & 511], kv__iq_signs8(q >> 9), db[l / 2],
                         dst + b * KV_QK_K + 32 * ib + 8 * l);
            }
        }
    }
}

// ---- IQ2_S: per 8 values a 10-bit grid index and 8 sign bits; 4-bit scales per 16 ----

static void iq2_s_row(const kv__iq_grid *g, const float *x, const float *qw, int64_t nb,
                      kv_block_iq2_s *y) {
    iq2_row_state st = {{0}};
    float w[16], waux[16];
    for (int64_t b = 0; b < nb; b++) {
        const float *xbl = x + b * KV_QK_K;
        const float sigma2 = 2 * iq2_sigma2(xbl);
        float scales[16];
        float max_scale = 0;
        memset(&y[b], 0, sizeof y[b]);
        for (int ib = 0; ib < 16; ib++) {
            const float *xb = xbl + 16 * ib;
            if (qw) {
                iq2_weights(16, xb, qw + b * KV_QK_K + 16 * ib, sigma2, w, waux);
            } else { // without an imatrix: sigma2/4 + x^2
                for (int i = 0; i < 16; i++)
                    w[i] = 0.25f * sigma2 + xb[i] * xb[i];
                for (int i = 0; i < 16; i++)
                    waux[i] = sqrtf(w[i]);
            }
            uint8_t signs[2];
            int gidx[2];
            const float scale = iq2_xs_fit(g, xb, w, waux, true, signs, gidx, &st);
            if (scale < 0) {
                scales[ib] = 0;
                continue;
            }
            for (int k = 0; k < 2; k++) {
                const int i8 = 2 * ib + k;
                y[b].qs[i8] = (uint8_t)(gidx[k] & 255);
                y[b].qh[i8 / 4] |= (uint8_t)((gidx[k] >> 8) << (2 * (i8 % 4)));
                y[b].qs[KV_QK_K / 8 + i8] = signs[k];
            }
            scales[ib] = scale;
            max_scale = fmax_ggml(max_scale, scale);
        }
        if (max_scale == 0)
            continue;
        const float d = max_scale / 31;
        y[b].d = kv_f32_to_f16(d * 0.9875f); // ggml stores the super scale 1.25% low
        const float id = 1 / d;
        for (int ib = 0; ib < 16; ib++)
            y[b].scales[ib / 2] |= (uint8_t)(iq2_scale4(id, scales[ib]) << (4 * (ib % 2)));
    }
}

void kv__quantize_iq2_s(const float *src, void *dst, int64_t n_rows, int64_t n_per_row,
                        const float *imatrix) {
    const kv__iq_grid *g = kv__iq_grid_get(KV_IQ_GRID_IQ2_S);
    const int64_t nb = n_per_row / KV_QK_K;
    for (int64_t r = 0; r < n_rows; r++)
        iq2_s_row(g, src + r * n_per_row, imatrix, nb, (kv_block_iq2_s *)dst + r * nb);
}

void kv__dequantize_iq2_s(const void *src, float *dst, int64_t k) {
    const kv_block_iq2_s *x = src;
    const uint64_t *grid = kv__iq_grid_u64(KV_IQ_GRID_IQ2_S);
    for (int64_t b = 0; b < k / KV_QK_K; b++) {
        const float d = kv_f16_to_f32(x[b].d);
        for (int ib = 0; ib < 8; ib++) {
            const float db[2] = {d * (0.5f + (float)(x[b].scales[ib] & 0xf)) * 0.25f,
                                 d * (0.5f + (float)(x[b].scales[ib] >> 4)) * 0.25f};
            for (int l = 0; l < 4; l++) {
                const int idx = x[b].qs[4 * ib + l] | ((x[b].qh[ib] << (8 - 2 * l)) & 0x300);
                iq2_put8(grid[idx], x[b].qs[KV_QK_K / 8 + 4 * ib + l], db[l / 2],
                         dst + b * KV_QK_K + 32 * ib + 8 * l);
            }
        }
    }
}
