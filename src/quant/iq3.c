// IQ3_XXS and IQ3_S reference quantizers and dequantizers, bit-exact with ggml.
//
// Both cut a 256-value super-block into 8 groups of 32 and each group into 8
// points of the 4-wide grid (quant/grid4.c), with a sign per value:
//  - IQ3_XXS (256 points) keeps 7 signs per 8 values (the 8th is implied: the
//    count of minus signs is even, so a group of 8 with an odd count flips the
//    sign of its least important value) and a 4-bit scale per group;
//  - IQ3_S (512 points) keeps every sign and a 4-bit scale per group.
//
// The fit of a group, on |x| with weights w = imatrix * sqrt(sigma2 + x^2) (x^2
// without an importance matrix): for 2*NTRY+1 inverse scales around 15 / max,
// round each value to a level l (0..7, value 2l + 1), look the 4-tuple up in the
// grid, and when it is no point take the neighbour nearest in sqrt(w)-weighted
// distance; keep the trial with the best weighted least-squares fit. Then, if
// some tuples of the best trial were off the grid, redo the lookup at the best
// scale (IQ3_S redoes every tuple, IQ3_XXS only those) and refit the scale.
// Group scales are coded against a super-block scale max / 31 (stored times a
// small fudge factor, as ggml does).
//
// ggml keeps its level and on-grid arrays across groups and rows, so a group
// whose trials all fail (all its weights zero) reuses the previous group's
// levels; an all-zero IQ3_S group leaves its quant and sign bytes unwritten and
// the next group's take their place. Both are reproduced (fit_state below).
#include "quant/quant_int.h"

#include <float.h>
#include <math.h>
#include <stdbool.h>
#include <string.h>

#include "kvant/kv_blocks.h"
#include "kvant/kv_types.h"
#include "quant/grid4.h"
#include "quant/kquant_util.h"

enum { GROUP = 32, N_GROUPS = KV_QK_K / GROUP, N_TUPLES = GROUP / 4, MAX_LEVEL = 7 };

#define IQ3_XXS_GROUP_EPS 1e-8f
#define IQ3_XXS_FUDGE 1.0125f
#define IQ3_S_FUDGE 1.033f

// What ggml carries from one group to the next (see the top of the file).
typedef struct {
    int8_t L[GROUP];          // levels 0..7 of the group's best trial
    bool on_grid[N_TUPLES];   // whether each tuple of it was a grid point
} fit_state;

static int tuple_code(const int8_t *l) {
    return l[0] | (l[1] << 3) | (l[2] << 6) | (l[3] << 9);
}

// Levels of 4 values at inverse scale id, clamped to 0..7.
static void round_tuple(const float *xval, float id, int8_t *l) {
    for (int i = 0; i < 4; i++)
        l[i] = (int8_t)kv__kq_clamp(kv__nearest_int(0.5f * (id * xval[i] - 1)), 0, MAX_LEVEL);
}

// The point of code's neighbour list nearest to xval at scale (weights waux,
// the first of equals wins); its levels go to l. Returns the point's index.
static int nearest_neighbour(const kv__grid4 *g, int code, const float *xval, const float *waux,
                             float scale, int8_t *l) {
    const uint16_t *list = g->neighbours + (-g->map[code] - 1);
    float best_d2 = FLT_MAX;
    int best = list[1];
    for (int j = 1; j <= list[0]; j++) {
        const int8_t *p = g->odd[list[j]];
        float d2 = 0;
        for (int i = 0; i < 4; i++) {
            const float diff = scale * (float)p[i] - xval[i];
            d2 += waux[i] * diff * diff;
        }
        if (d2 < best_d2) {
            best_d2 = d2;
            best = list[j];
        }
    }
    for (int i = 0; i < 4; i++)
        l[i] = (int8_t)((g->odd[best][i] - 1) / 2);
    return best;
}

// sum w x q and sum w q^2 over the group, q = 2l + 1
static void group_sums(const float *xval, const float *w, const int8_t *L, float *sumqx,
                       float *sumq2) {
    float sqx = 0;
    float sq2 = 0;
    for (int i = 0; i < GROUP; i++) {
        const float q = (float)(2 * L[i] + 1);
        sqx += w[i] * xval[i] * q;
        sq2 += w[i] * q * q;
    }
    *sumqx = sqx;
    *sumq2 = sq2;
}

// Fits one group of |x| (largest max > 0): levels to st->L (each tuple a grid
// point), returns the scale. n_try: trials either side; redo_all: whether the
// final lookup redoes the tuples that were on the grid too.
static float fit_group(const kv__grid4 *g, const float *xval, const float *w, const float *waux,
                       float max, int n_try, bool redo_all, fit_state *st) {
    float best = 0;
    float scale = max / (2 * MAX_LEVEL + 1);
    int8_t Laux[GROUP];
    bool on_aux[N_TUPLES];
    for (int t = -n_try; t <= n_try; t++) {
        const float id = ((float)(2 * MAX_LEVEL + 1) + (float)t * 0.2f) / max;
        const float this_scale = 1 / id;
        for (int k = 0; k < N_TUPLES; k++) {
            round_tuple(xval + 4 * k, id, Laux + 4 * k);
            const int code = tuple_code(Laux + 4 * k);
            on_aux[k] = g->map[code] >= 0;
            if (!on_aux[k])
                nearest_neighbour(g, code, xval + 4 * k, waux + 4 * k, this_scale, Laux + 4 * k);
        }
        float sumqx;
        float sumq2;
        group_sums(xval, w, Laux, &sumqx, &sumq2);
        if (sumq2 > 0 && sumqx * sumqx > best * sumq2) {
            scale = sumqx / sumq2;
            best = scale * sumqx;
            memcpy(st->L, Laux, sizeof Laux);
            memcpy(st->on_grid, on_aux, sizeof on_aux);
        }
    }
    int n_off = 0;
    for (int k = 0; k < N_TUPLES; k++)
        n_off += st->on_grid[k] ? 0 : 1;
    if (n_off > 0 && scale > 0) {
        const float id = 1 / scale;
        for (int k = 0; k < N_TUPLES; k++) {
            if (st->on_grid[k] && !redo_all)
                continue;
            int8_t l[4];
            round_tuple(xval + 4 * k, id, l);
            const int code = tuple_code(l);
            int p = g->map[code];
            if (p < 0)
                p = nearest_neighbour(g, code, xval + 4 * k, waux + 4 * k, scale, st->L + 4 * k);
            for (int i = 0; i < 4; i++)
                st->L[4 * k + i] = (int8_t)((g->odd[p][i] - 1) / 2);
        }
        float sumqx;
        float sumq2;
        group_sums(xval, w, st->L, &sumqx, &sumq2);
        if (sumq2 > 0)
            scale = sumqx / sumq2;
    }
    return scale;
}

// Grid index of the tuple k of L (always a point: the fit only keeps points).
static int tuple_index(const kv__grid4 *g, const int8_t *L, int k) {
    const int p = g->map[tuple_code(L + 4 * k)];
    return p >= 0 ? p : 0;
}

static float sigma2_of(const float *x) {
    float sumx2 = 0;
    for (int i = 0; i < KV_QK_K; i++)
        sumx2 += x[i] * x[i];
    return 2 * sumx2 / KV_QK_K;
}

// Weights of one group and their square roots.
static void group_weights(const float *x, const float *qw, float sigma2, float w[GROUP],
                          float waux[GROUP]) {
    for (int i = 0; i < GROUP; i++) {
        w[i] = qw ? qw[i] * sqrtf(sigma2 + x[i] * x[i]) : x[i] * x[i];
        waux[i] = sqrtf(w[i]);
    }
}

// Level of a group scale against the super-block's inverse scale id.
static int scale_level(float id, float scale) {
    return kv__kq_clamp(kv__nearest_int(0.5f * (id * scale - 1)), 0, 15);
}

// ---- IQ3_XXS ----

static void iq3_xxs_block(const kv__grid4 *g, const float *x, const float *qw, fit_state *st,
                          kv_block_iq3_xxs *y) {
    memset(y, 0, sizeof *y);
    float w[GROUP];
    float waux[GROUP];
    float xval[GROUP];
    float scales[N_GROUPS];
    uint32_t packed[N_GROUPS] = {0};
    float max_scale = 0;
    const float sigma2 = sigma2_of(x);
    for (int ib = 0; ib < N_GROUPS; ib++) {
        const float *xb = x + GROUP * ib;
        group_weights(xb, qw ? qw + GROUP * ib : NULL, sigma2, w, waux);
        uint8_t signs[4];
        for (int k = 0; k < 4; k++)
            signs[k] = kv__iq_sign_split8(xb + 8 * k, w + 8 * k, xval + 8 * k);
        float max = xval[0];
        for (int i = 1; i < GROUP; i++)
            max = max > xval[i] ? max : xval[i];
        if (max < IQ3_XXS_GROUP_EPS) {
            scales[ib] = 0;
            memset(st->L, 0, sizeof st->L);
            continue;
        }
        float scale = fit_group(g, xval, w, waux, max, 15, false, st);
        if (scale < 0) { // ggml: "should never happen"; the signs absorb it
            scale = -scale;
            for (int k = 0; k < 4; k++)
                signs[k] = (uint8_t)(~signs[k] & 127);
        }
        for (int k = 0; k < N_TUPLES; k++)
            y->qs[N_TUPLES * ib + k] = (uint8_t)tuple_index(g, st->L, k);
        packed[ib] = signs[0] | ((uint32_t)signs[1] << 7) | ((uint32_t)signs[2] << 14) |
                     ((uint32_t)signs[3] << 21);
        scales[ib] = scale;
        max_scale = max_scale > scale ? max_scale : scale;
    }
    if (max_scale == 0) {
        memset(y, 0, sizeof *y);
        return;
    }
    const float d = max_scale / 31;
    y->d = kv_f32_to_f16(d * IQ3_XXS_FUDGE);
    const float id = 1 / d;
    for (int ib = 0; ib < N_GROUPS; ib++) {
        const uint32_t v = packed[ib] | ((uint32_t)scale_level(id, scales[ib]) << 28);
        for (int b = 0; b < 4; b++)
            y->qs[KV_QK_K / 4 + 4 * ib + b] = (uint8_t)(v >> (8 * b));
    }
}

void kv__quantize_iq3_xxs(const float *src, void *dst, int64_t n_rows, int64_t n_per_row,
                          const float *imatrix) {
    const kv__grid4 *g = kv__grid4_get(256);
    kv_block_iq3_xxs *y = dst;
    const int64_t nb = n_per_row / KV_QK_K;
    fit_state st = {{0}, {false}};
    for (int64_t r = 0; r < n_rows; r++)
        for (int64_t b = 0; b < nb; b++)
            iq3_xxs_block(g, src + (r * nb + b) * KV_QK_K, imatrix ? imatrix + b * KV_QK_K : NULL,
                          &st, &y[r * nb + b]);
}

// ---- IQ3_S ----

static void iq3_s_block(const kv__grid4 *g, const float *x, const float *qw, fit_state *st,
                        kv_block_iq3_s *y) {
    memset(y, 0, sizeof *y);
    float w[GROUP];
    float waux[GROUP];
    float xval[GROUP];
    float scales[N_GROUPS];
    float max_scale = 0;
    int cursor = 0; // groups written so far: where the next one's qs and signs go
    const float sigma2 = sigma2_of(x);
    for (int ib = 0; ib < N_GROUPS; ib++) {
        const float *xb = x + GROUP * ib;
        group_weights(xb, qw ? qw + GROUP * ib : NULL, sigma2, w, waux);
        uint8_t signs[4] = {0};
        for (int i = 0; i < GROUP; i++) {
            xval[i] = xb[i] >= 0 ? xb[i] : -xb[i];
            if (xb[i] < 0)
                signs[i / 8] = (uint8_t)(signs[i / 8] | (1u << (i % 8)));
        }
        float max = xval[0];
        for (int i = 1; i < GROUP; i++)
            max = max > xval[i] ? max : xval[i];
        if (max == 0) {
            scales[ib] = 0;
            continue;
        }
        memset(st->on_grid, 0, sizeof st->on_grid);
        float scale = fit_group(g, xval, w, waux, max, 9, true, st);
        if (scale < 0) {
            scale = -scale;
            for (int k = 0; k < 4; k++)
                signs[k] = (uint8_t)~signs[k];
        }
        for (int k = 0; k < N_TUPLES; k++) {
            const int p = tuple_index(g, st->L, k);
            y->qs[N_TUPLES * cursor + k] = (uint8_t)(p & 255);
            y->qh[ib] = (uint8_t)(y->qh[ib] | ((p >> 8) << k));
        }
        memcpy(y->signs + 4 * cursor, signs, 4);
        cursor++;
        scales[ib] = scale;
        max_scale = max_scale > scale ? max_scale : scale;
    }
    if (max_scale == 0)
        return;
    const float d = max_scale / 31;
    y->d = kv_f32_to_f16(d * IQ3_S_FUDGE);
    const float id = 1 / d;
    for (int ib = 0; ib < N_GROUPS; ib += 2)
        y->scales[ib / 2] =
            (uint8_t)(scale_level(id, scales[ib]) | (scale_level(id, scales[ib + 1]) << 4));
}

void kv__quantize_iq3_s(const float *src, void *dst, int64_t n_rows, int64_t n_per_row,
                        const float *imatrix) {
    const kv__grid4 *g = kv__grid4_get(512);
    kv_block_iq3_s *y = dst;
    const int64_t nb = n_per_row / KV_QK_K;
    fit_state st = {{0}, {false}};
    for (int64_t r = 0; r < n_rows; r++)
        for (int64_t b = 0; b < nb; b++)
            iq3_s_block(g, src + (r * nb + b) * KV_QK_K, imatrix ? imatrix + b * KV_QK_K : NULL,
                        &st, &y[r * nb + b]);
}

// ---- dequantizers ----

void kv__dequantize_iq3_xxs(const void *src, float *dst, int64_t k) {
    const kv_block_iq3_xxs *x = src;
    const uint32_t *grid = kv__iq3_grid(KV_TYPE_IQ3_XXS);
    for (int64_t b = 0; b < k / KV_QK_K; b++) {
        const float d = kv_f16_to_f32(x[b].d);
        const uint8_t *ss = x[b].qs + KV_QK_K / 4;
        for (int ib = 0; ib < N_GROUPS; ib++) {
            const uint32_t v = (uint32_t)ss[4 * ib] | ((uint32_t)ss[4 * ib + 1] << 8) |
                               ((uint32_t)ss[4 * ib + 2] << 16) | ((uint32_t)ss[4 * ib + 3] << 24);
            const float db = d * (0.5f + (float)(v >> 28)) * 0.5f;
            float *y = dst + b * KV_QK_K + GROUP * ib;
            for (int e = 0; e < GROUP; e++) {
                const uint8_t signs = kv__iq3_xxs_signs((v >> (7 * (e / 8))) & 127);
                const uint32_t p = grid[x[b].qs[N_TUPLES * ib + e / 4]];
                const float val = (float)((p >> (8 * (e % 4))) & 255);
                y[e] = db * val * ((signs >> (e % 8)) & 1 ? -1.f : 1.f);
            }
        }
    }
}

void kv__dequantize_iq3_s(const void *src, float *dst, int64_t k) {
    const kv_block_iq3_s *x = src;
    const uint32_t *grid = kv__iq3_grid(KV_TYPE_IQ3_S);
    for (int64_t b = 0; b < k / KV_QK_K; b++) {
        const float d = kv_f16_to_f32(x[b].d);
        for (int ib = 0; ib < N_GROUPS; ib++) {
            const int ls = (x[b].scales[ib / 2] >> (4 * (ib % 2))) & 0xF;
            const float db = d * (float)(1 + 2 * ls);
            float *y = dst + b * KV_QK_K + GROUP * ib;
            for (int e = 0; e < GROUP; e++) {
                const int t = N_TUPLES * ib + e / 4; // tuple index in the block
                const uint32_t p = grid[x[b].qs[t] | (((x[b].qh[ib] >> (e / 4)) & 1) << 8)];
                const float val = (float)((p >> (8 * (e % 4))) & 255);
                const int neg = (x[b].signs[4 * ib + e / 8] >> (e % 8)) & 1;
                y[e] = db * val * (neg ? -1.f : 1.f);
            }
        }
    }
}
