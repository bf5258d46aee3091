// IQ1_S and IQ1_M reference quantizers and dequantizers, bit-exact with ggml.
// Each group of 8 values is a point of the 2048-point codebook with coordinates
// -1, 0, +1 (quant/iq_grid.c), all shifted by +-1/8 (the shift's sign is stored
// per 32 values in IQ1_S, per 8 in IQ1_M) and scaled by (2s+1) times an F16
// super scale, s a 3-bit scale per 32 (IQ1_S) or 16 (IQ1_M) values.
//
// The fit solves the weighted least-squares problem exactly over the ways to
// split the values, sorted, into three runs (-1, 0, +1) and over the shifts,
// then moves groups that are off the codebook to their nearest listed
// neighbour. Weights: imatrix[i] * sqrt(sigma2 + x[i]^2); IQ1_S needs the
// importance matrix, IQ1_M falls back to x[i]^2.
#include "quant/quant_int.h"

#include <float.h>
#include <math.h>
#include <stdbool.h>

#include "quant/iq_grid.h"
#include "quant/kquant_util.h"

// The three levels with the shift +1/8 (X_P) or -1/8 (X_M).
static const float X_P[3] = {-1 + KV_IQ1_DELTA, KV_IQ1_DELTA, 1 + KV_IQ1_DELTA};
static const float X_M[3] = {-1 - KV_IQ1_DELTA, -KV_IQ1_DELTA, 1 - KV_IQ1_DELTA};

static float iq1_sigma2(const float *x) {
    float s = 0;
    for (int i = 0; i < KV_QK_K; i++)
        s += x[i] * x[i];
    return 2 * s / KV_QK_K;
}

static float amax_of(const float *x, int n) {
    float max = fabsf(x[0]);
    for (int i = 1; i < n; i++)
        max = max > fabsf(x[i]) ? max : fabsf(x[i]);
    return max;
}

// order[] = 0..n-1 sorted by x ascending, equal values in index order (the
// order glibc's merge-sorting qsort gives ggml).
static void sort_order(const float *x, int n, int *order) {
    for (int j = 0; j < n; j++) {
        int k = j;
        while (k > 0 && x[order[k - 1]] > x[j]) {
            order[k] = order[k - 1];
            k--;
        }
        order[k] = j;
    }
}

// Levels of the sorted values: 0 below i1, 1 below i2, 2 from there.
static void split_levels(const int *order, int n, int i1, int i2, int8_t *L) {
    for (int j = 0; j < n; j++)
        L[order[j]] = (int8_t)(j < i1 ? 0 : (j < i2 ? 1 : 2));
}

// Codebook index of the 8 levels L, or of the nearest listed neighbour under
// the level values xx and the scale (then L takes its levels).
static int iq1_index(const kv__iq_grid *g, const float *xb, const float *w, float scale,
                     const float *xx, int8_t L[8], bool *on_grid) {
    const int key = kv__iq_grid_key(L);
    if (g->map[key] >= 0)
        return g->map[key];
    *on_grid = false;
    return kv__iq_grid_best_neighbour(g, g->nb - g->map[key] - 1, xb, w, scale, xx, L);
}

// ---- IQ1_S: 32 values per scale and shift ----

// Fits 32 values: their 4 codebook indexes, *shift (+1/-1); returns the scale,
// or -1 for a group treated as zero.
static float iq1_s_fit(const kv__iq_grid *g, const float *xb, const float *w, int index[4],
                       int *shift) {
    enum { N = 32 };
    const float max = amax_of(xb, N);
    if (max < 1e-12f)
        return -1;
    int order[N];
    sort_order(xb, N, order);
    float sumx[N + 1], sumw[N + 1];
    sumx[0] = sumw[0] = 0;
    for (int j = 0; j < N; j++) {
        sumx[j + 1] = sumx[j] + w[order[j]] * xb[order[j]];
        sumw[j + 1] = sumw[j] + w[order[j]];
    }
    float best = -FLT_MIN, scale = max;
    int b1 = -1, b2 = -1, bshift = 0;
    for (int i1 = 0; i1 <= N; i1++) {
        for (int i2 = i1; i2 <= N; i2++) {
            for (int s = 0; s < 2; s++) {
                const float *xx = s == 0 ? X_P : X_M;
                const float sumqx = (sumx[i1] - sumx[0]) * xx[0] + (sumx[i2] - sumx[i1]) * xx[1] +
                                    (sumx[N] - sumx[i2]) * xx[2];
                const float sumq2 = (sumw[i1] - sumw[0]) * xx[0] * xx[0] +
                                    (sumw[i2] - sumw[i1]) * xx[1] * xx[1] +
                                    (sumw[N] - sumw[i2]) * xx[2] * xx[2];
                if (sumq2 > 0 && sumqx * sumqx > best * sumq2) {
                    scale = sumqx / sumq2;
                    best = scale * sumqx;
                    b1 = i1;
                    b2 = i2;
                    bshift = s == 0 ? 1 : -1;
                }
            }
        }
    }
    if (b1 < 0) // every weight zero: ggml asserts; we store a zero group
        return -1;
    int8_t L[N];
    split_levels(order, N, b1, b2, L);
    if (scale < 0) {
        for (int j = 0; j < N; j++)
            L[j] = (int8_t)(2 - L[j]);
        scale = -scale;
        bshift = -bshift;
    }
    const float *xx = bshift == 1 ? X_P : X_M;
    bool on_grid = true;
    for (int k = 0; k < 4; k++)
        index[k] = iq1_index(g, xb + 8 * k, w + 8 * k, scale, xx, L + 8 * k, &on_grid);
    if (!on_grid) {
        float sumqx = 0, sumq2 = 0;
        for (int k = 0; k < 4; k++) {
            const uint8_t *lv = g->level + 8 * index[k];
            for (int j = 0; j < 8; j++) {
                const float q = xx[lv[j]];
                sumqx += w[8 * k + j] * q * xb[8 * k + j];
                sumq2 += w[8 * k + j] * q * q;
            }
        }
        if (sumqx > 0 && sumq2 > 0)
            scale = sumqx / sumq2;
    }
    *shift = bshift;
    return scale;
}

static void iq1_s_block(const kv__iq_grid *g, const float *xbl, const float *qw,
                        kv_block_iq1_s *y) {
    memset(y, 0, sizeof *y);
    const float sigma2 = iq1_sigma2(xbl);
    float scales[8];
    int shifts[8];
    float max_scale = 0;
    float w[32];
    for (int ib = 0; ib < 8; ib++) {
        const float *xb = xbl + 32 * ib;
        for (int i = 0; i < 32; i++)
            w[i] = qw[32 * ib + i] * sqrtf(sigma2 + xb[i] * xb[i]);
        int index[4];
        shifts[ib] = 1; // a zero group: ggml leaves the previous value; we store +
        const float scale = iq1_s_fit(g, xb, w, index, &shifts[ib]);
        if (scale < 0) {
            scales[ib] = 0;
            continue;
        }
        uint16_t h = 0;
        for (int k = 0; k < 4; k++) {
            y->qs[4 * ib + k] = (uint8_t)(index[k] & 255);
            h = (uint16_t)(h | ((index[k] >> 8) << (3 * k)));
        }
        y->qh[ib] = h;
        scales[ib] = scale;
        max_scale = max_scale > scale ? max_scale : scale;
    }
    if (max_scale == 0)
        return;
    const float d = max_scale / 15;
    y->d = kv_f32_to_f16(d * 1.125f); // ggml stores the super scale 12.5% high
    const float id = 1 / d;
    for (int ib = 0; ib < 8; ib++) {
        int l = kv__kq_clamp(kv__nearest_int(0.5f * (id * scales[ib] - 1)), 0, 7);
        if (shifts[ib] == -1)
            l |= 8;
        y->qh[ib] = (uint16_t)(y->qh[ib] | (l << 12));
    }
}

void kv__quantize_iq1_s(const float *src, void *dst, int64_t n_rows, int64_t n_per_row,
                        const float *imatrix) {
    const kv__iq_grid *g = kv__iq_grid_get(KV_IQ_GRID_IQ1_S);
    const int64_t nb = n_per_row / KV_QK_K;
    kv_block_iq1_s *y = dst;
    for (int64_t r = 0; r < n_rows; r++)
        for (int64_t b = 0; b < nb; b++)
            iq1_s_block(g, src + r * n_per_row + b * KV_QK_K, imatrix + b * KV_QK_K, &y[r * nb + b]);
}

void kv__dequantize_iq1_s(const void *src, float *dst, int64_t k) {
    const kv_block_iq1_s *x = src;
    const uint64_t *grid = kv__iq_grid_u64(KV_IQ_GRID_IQ1_S);
    for (int64_t b = 0; b < k / KV_QK_K; b++) {
        const float d = kv_f16_to_f32(x[b].d);
        for (int ib = 0; ib < 8; ib++) {
            const uint16_t qh = x[b].qh[ib];
            const float dl = d * (float)(2 * ((qh >> 12) & 7) + 1);
            const float delta = qh & 0x8000 ? -KV_IQ1_DELTA : KV_IQ1_DELTA;
            for (int l = 0; l < 4; l++) {
                const uint64_t p = grid[x[b].qs[4 * ib + l] | (((qh >> (3 * l)) & 7) << 8)];
                float *y = dst + b * KV_QK_K + 32 * ib + 8 * l;
                for (int j = 0; j < 8; j++)
                    y[j] = dl * ((float)(int8_t)(p >> (8 * j)) + delta);
            }
        }
    }
}

// ---- IQ1_M: 16 values per scale, a shift per 8 ----

// The level values of half k (0: values 0..7, 1: 8..15) under shift pattern
// sk: 0 (+,+), 1 (+,-), 2 (-,+), 3 (-,-).
static const float *iq1_m_values(int sk, int k) {
    return (k == 0 ? sk < 2 : sk % 2 == 0) ? X_P : X_M;
}

// Fits 16 values: their 2 codebook indexes and the shift pattern; returns the
// scale, or -1 for a group treated as zero.
static float iq1_m_fit(const kv__iq_grid *g, const float *xb, const float *w, int index[2],
                       int *shift) {
    enum { N = 16 };
    const float max = amax_of(xb, N);
    if (max < 1e-7f)
        return -1;
    int order[N];
    sort_order(xb, N, order);
    float best = -FLT_MIN, scale = max;
    int b1 = -1, b2 = -1, bk = -1;
    for (int i1 = 0; i1 <= N; i1++) {
        for (int i2 = i1; i2 <= N; i2++) {
            float sumqx[4] = {0, 0, 0, 0}, sumq2[4] = {0, 0, 0, 0};
            for (int j = 0; j < N; j++) {
                const int i = order[j];
                const int lv = j < i1 ? 0 : (j < i2 ? 1 : 2);
                for (int sk = 0; sk < 4; sk++) {
                    const float v = iq1_m_values(sk, i >= N / 2)[lv];
                    sumqx[sk] += w[i] * v * xb[i];
                    sumq2[sk] += w[i] * v * v;
                }
            }
            for (int sk = 0; sk < 4; sk++) {
                if (sumq2[sk] > 0 && sumqx[sk] * sumqx[sk] > best * sumq2[sk]) {
                    scale = sumqx[sk] / sumq2[sk];
                    best = scale * sumqx[sk];
                    b1 = i1;
                    b2 = i2;
                    bk = sk;
                }
            }
        }
    }
    if (b1 < 0)
        return -1;
    int8_t L[N];
    split_levels(order, N, b1, b2, L);
    if (scale < 0) {
        for (int j = 0; j < N; j++)
            L[j] = (int8_t)(2 - L[j]);
        scale = -scale;
        bk = 3 - bk;
    }
    bool on_grid = true;
    for (int k = 0; k < 2; k++)
        index[k] = iq1_index(g, xb + 8 * k, w + 8 * k, scale, iq1_m_values(bk, k), L + 8 * k,
                             &on_grid);
    if (!on_grid) {
        float sumqx = 0, sumq2 = 0;
        for (int k = 0; k < 2; k++) {
            const float *xx = iq1_m_values(bk, k);
            const uint8_t *lv = g->level + 8 * index[k];
            for (int j = 0; j < 8; j++) {
                const float q = xx[lv[j]];
                sumqx += w[8 * k + j] * q * xb[8 * k + j];
                sumq2 += w[8 * k + j] * q * q;
            }
        }
        if (sumqx > 0 && sumq2 > 0)
            scale = sumqx / sumq2;
    }
    *shift = bk;
    return scale;
}

static void iq1_m_weights(const float *xb, const float *qw, float sigma2, float w[16]) {
    for (int i = 0; i < 16; i++)
        w[i] = qw ? qw[i] * sqrtf(sigma2 + xb[i] * xb[i]) : xb[i] * xb[i];
}

// The F16 super scale goes to the top nibbles of the four 16-bit scale words.
static void iq1_m_block(const kv__iq_grid *g, const float *xbl, const float *qw,
                        kv_block_iq1_m *y, int shifts[16]) {
    static const uint8_t MASKS[4] = {0x00, 0x80, 0x08, 0x88};
    memset(y, 0, sizeof *y);
    const float sigma2 = iq1_sigma2(xbl);
    float scales[16];
    float max_scale = 0;
    float w[16];
    for (int ib = 0; ib < 16; ib++) {
        const float *xb = xbl + 16 * ib;
        iq1_m_weights(xb, qw ? qw + 16 * ib : NULL, sigma2, w);
        int index[2];
        const float scale = iq1_m_fit(g, xb, w, index, &shifts[ib]);
        if (scale < 0) { // shifts[ib] keeps the row's previous value, as in ggml
            scales[ib] = 0;
            continue;
        }
        y->qs[2 * ib] = (uint8_t)(index[0] & 255);
        y->qs[2 * ib + 1] = (uint8_t)(index[1] & 255);
        y->qh[ib] = (uint8_t)((index[0] >> 8) | ((index[1] >> 8) << 4));
        scales[ib] = scale;
        max_scale = max_scale > scale ? max_scale : scale;
    }
    if (max_scale == 0)
        return;
    uint16_t sc[4] = {0, 0, 0, 0};
    float d = max_scale / 15;
    const float id = 1 / d;
    float sumqx = 0, sumq2 = 0;
    for (int ib = 0; ib < 16; ib++) {
        const int l = kv__kq_clamp(kv__nearest_int(0.5f * (id * scales[ib] - 1)), 0, 7);
        sc[ib / 4] = (uint16_t)(sc[ib / 4] | (l << (3 * (ib % 4))));
        y->qh[ib] |= MASKS[shifts[ib]];
        // Refit the super scale to the stored points and 3-bit scales.
        const float *xb = xbl + 16 * ib;
        iq1_m_weights(xb, qw ? qw + 16 * ib : NULL, sigma2, w);
        for (int k = 0; k < 2; k++) {
            const float *xx = iq1_m_values(shifts[ib], k);
            const int idx = y->qs[2 * ib + k] | ((y->qh[ib] << (8 - 4 * k)) & 0x700);
            const uint8_t *lv = g->level + 8 * idx;
            for (int j = 0; j < 8; j++) {
                const float q = xx[lv[j]] * (float)(2 * l + 1);
                sumqx += w[8 * k + j] * q * xb[8 * k + j];
                sumq2 += w[8 * k + j] * q * q;
            }
        }
    }
    if (sumq2 > 0)
        d = sumqx / sumq2;
    const uint16_t h = kv_f32_to_f16(d * 1.1125f); // ggml's fudge factor
    sc[0] = (uint16_t)(sc[0] | ((h & 0x000f) << 12));
    sc[1] = (uint16_t)(sc[1] | ((h & 0x00f0) << 8));
    sc[2] = (uint16_t)(sc[2] | ((h & 0x0f00) << 4));
    sc[3] = (uint16_t)(sc[3] | (h & 0xf000));
    memcpy(y->scales, sc, sizeof sc);
}

void kv__quantize_iq1_m(const float *src, void *dst, int64_t n_rows, int64_t n_per_row,
                        const float *imatrix) {
    const kv__iq_grid *g = kv__iq_grid_get(KV_IQ_GRID_IQ1_S);
    const int64_t nb = n_per_row / KV_QK_K;
    kv_block_iq1_m *y = dst;
    for (int64_t r = 0; r < n_rows; r++) {
        int shifts[16] = {0};
        for (int64_t b = 0; b < nb; b++)
            iq1_m_block(g, src + r * n_per_row + b * KV_QK_K,
                        imatrix ? imatrix + b * KV_QK_K : NULL, &y[r * nb + b], shifts);
    }
}

void kv__dequantize_iq1_m(const void *src, float *dst, int64_t k) {
    const kv_block_iq1_m *x = src;
    const uint64_t *grid = kv__iq_grid_u64(KV_IQ_GRID_IQ1_S);
    for (int64_t b = 0; b < k / KV_QK_K; b++) {
        uint16_t sc[4];
        memcpy(sc, x[b].scales, sizeof sc);
        const uint16_t h = (uint16_t)((sc[0] >> 12) | ((sc[1] >> 8) & 0x00f0) |
                                      ((sc[2] >> 4) & 0x0f00) | (sc[3] & 0xf000));
        const float d = kv_f16_to_f32(h);
        for (int ib = 0; ib < 8; ib++) {
            const float dl[2] = {d * (float)(2 * ((sc[ib / 2] >> (6 * (ib % 2))) & 7) + 1),
                                 d * (float)(2 * ((sc[ib / 2] >> (6 * (ib % 2) + 3)) & 7) + 1)};
            for (int l = 0; l < 4; l++) {
                const uint8_t qh = x[b].qh[2 * ib + l / 2];
                const int idx = x[b].qs[4 * ib + l] | ((l % 2 ? qh << 4 : qh << 8) & 0x700);
                const float delta = qh & (l % 2 ? 0x80 : 0x08) ? -KV_IQ1_DELTA : KV_IQ1_DELTA;
                const uint64_t p = grid[idx];
                float *y = dst + b * KV_QK_K + 32 * ib + 8 * l;
                for (int j = 0; j < 8; j++)
                    y[j] = dl[l / 2] * ((float)(int8_t)(p >> (8 * j)) + delta);
            }
        }
    }
}
