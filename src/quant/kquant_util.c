// Level and scale searches shared by the K-quant reference quantizers, and the
// Q4_K/Q5_K super-block fit. Every expression keeps ggml's evaluation order and
// float precision (see kquant_util.h); the per-type files do only the bit packing.
#include "quant/kquant_util.h"

#include <math.h>

#include "kvant/kv_f16.h"

// ---- symmetric fits (Q3_K, Q6_K) ----

// Weighted sums of x*l and l*l for the levels iscale*x clamped to [-nmax, nmax-1].
static void sym_sums(int n, int nmax, const float *x, const float *w, float iscale, float *sumlx,
                     float *suml2) {
    float slx = 0;
    float sl2 = 0;
    for (int i = 0; i < n; i++) {
        const int l = kv__kq_clamp(kv__nearest_int(iscale * x[i]), -nmax, nmax - 1);
        const float wi = w ? w[i] : x[i] * x[i];
        slx += wi * x[i] * (float)l;
        sl2 += wi * (float)l * (float)l;
    }
    *sumlx = slx;
    *suml2 = sl2;
}

static void sym_levels(int n, int nmax, const float *x, float iscale, int8_t *L) {
    for (int i = 0; i < n; i++)
        L[i] = (int8_t)(nmax + kv__kq_clamp(kv__nearest_int(iscale * x[i]), -nmax, nmax - 1));
}

// The signed value of largest magnitude (the first one on ties), and that magnitude.
static float signed_absmax(int n, const float *x, float *amax_out) {
    float amax = 0;
    float max = 0;
    for (int i = 0; i < n; i++) {
        const float ax = fabsf(x[i]);
        if (ax > amax) {
            amax = ax;
            max = x[i];
        }
    }
    *amax_out = amax;
    return max;
}

float kv__kq_fit_sym(int n, int nmax, const float *x, int8_t *L, const float *w) {
    float amax;
    const float max = signed_absmax(n, x, &amax);
    if (amax < KV_KQ_GROUP_EPS) {
        memset(L, 0, (size_t)n);
        return 0.f;
    }
    float iscale = (float)-nmax / max;
    float sumlx;
    float suml2;
    sym_sums(n, nmax, x, w, iscale, &sumlx, &suml2);
    sym_levels(n, nmax, x, iscale, L);
    float scale = suml2 != 0 ? sumlx / suml2 : 0.0f;
    float best = scale * sumlx;
    // Try inverse scales around nmax/max in steps of 0.1 and keep the best fit.
    for (int k = -9; k <= 9; k++) {
        if (k == 0)
            continue;
        iscale = -((float)nmax + 0.1f * (float)k) / max;
        sym_sums(n, nmax, x, w, iscale, &sumlx, &suml2);
        if (suml2 > 0 && sumlx * sumlx > best * suml2) {
            sym_levels(n, nmax, x, iscale, L);
            scale = sumlx / suml2;
            best = scale * sumlx;
        }
    }
    return scale;
}

// One pass of coordinate descent: move single levels while the fit improves.
// Returns how many levels changed.
static int sym_refine_pass(int n, int nmax, const float *x, int8_t *L, float *sumlx,
                           float *suml2) {
    int n_changed = 0;
    for (int i = 0; i < n; i++) {
        const float w = x[i] * x[i];
        float slx = *sumlx - w * x[i] * (float)L[i];
        if (!(slx > 0))
            continue;
        float sl2 = *suml2 - w * (float)L[i] * (float)L[i];
        const int new_l = kv__kq_clamp(kv__nearest_int(x[i] * sl2 / slx), -nmax, nmax - 1);
        if (new_l == L[i])
            continue;
        slx += w * x[i] * (float)new_l;
        sl2 += w * (float)new_l * (float)new_l;
        if (sl2 > 0 && slx * slx * *suml2 > *sumlx * *sumlx * sl2) {
            L[i] = (int8_t)new_l;
            *sumlx = slx;
            *suml2 = sl2;
            n_changed++;
        }
    }
    return n_changed;
}

float kv__kq_fit_sym_refine(int n, int nmax, const float *x, int8_t *L) {
    float amax;
    const float max = signed_absmax(n, x, &amax);
    if (amax < KV_KQ_GROUP_EPS) {
        memset(L, 0, (size_t)n);
        return 0.f;
    }
    const float iscale = (float)-nmax / max;
    float sumlx = 0;
    float suml2 = 0;
    for (int i = 0; i < n; i++) {
        const int l = kv__kq_clamp(kv__nearest_int(iscale * x[i]), -nmax, nmax - 1);
        L[i] = (int8_t)l;
        const float w = x[i] * x[i];
        sumlx += w * x[i] * (float)l;
        suml2 += w * (float)l * (float)l;
    }
    for (int pass = 0; pass < 5; pass++) {
        if (sym_refine_pass(n, nmax, x, L, &sumlx, &suml2) == 0)
            break;
    }
    for (int i = 0; i < n; i++)
        L[i] = (int8_t)(L[i] + nmax);
    return suml2 > 0.0f ? sumlx / suml2 : 0.0f;
}

// ---- affine fits (Q2_K, Q4_K, Q5_K) ----

// Weighted error of x ~ scale * L + min: w*|e| with use_mad, else w*e^2.
static float affine_error(int n, const float *x, const float *w, const uint8_t *L, float scale,
                          float min, int use_mad) {
    float err = 0;
    for (int i = 0; i < n; i++) {
        float diff = scale * (float)L[i] + min - x[i];
        diff = use_mad ? fabsf(diff) : diff * diff;
        err += w[i] * diff;
    }
    return err;
}

static void affine_levels(int n, int nmax, const float *x, float iscale, float min, uint8_t *L) {
    for (int i = 0; i < n; i++)
        L[i] = (uint8_t)kv__kq_clamp(kv__nearest_int(iscale * (x[i] - min)), 0, nmax);
}

typedef struct {
    float sum_w, sum_x; // weighted count and weighted sum of x
    float scale, min;   // best fit so far
    float err;          // its error
} affine_fit;

// Refits scale and minimum by weighted least squares for the levels of one
// inverse scale; keeps them (and the levels, in L) when the error drops.
static void affine_try(int n, int nmax, const float *x, const float *w, float iscale, uint8_t *L,
                       uint8_t *Laux, int use_mad, affine_fit *f) {
    affine_levels(n, nmax, x, iscale, f->min, Laux);
    float sum_l = 0;
    float sum_l2 = 0;
    float sum_xl = 0;
    for (int i = 0; i < n; i++) {
        const float l = (float)Laux[i];
        sum_l += w[i] * l;
        sum_l2 += w[i] * l * l;
        sum_xl += w[i] * l * x[i];
    }
    const float D = f->sum_w * sum_l2 - sum_l * sum_l;
    if (!(D > 0))
        return;
    float this_scale = (f->sum_w * sum_xl - f->sum_x * sum_l) / D;
    float this_min = (sum_l2 * f->sum_x - sum_l * sum_xl) / D;
    if (this_min > 0) { // the minimum is an offset below zero only
        this_min = 0;
        this_scale = sum_xl / sum_l2;
    }
    const float err = affine_error(n, x, w, Laux, this_scale, this_min, use_mad);
    if (err < f->err) {
        memcpy(L, Laux, (size_t)n);
        f->err = err;
        f->scale = this_scale;
        f->min = this_min;
    }
}

float kv__kq_fit_affine(int n, int nmax, const float *x, const float *w, uint8_t *L,
                        float *neg_min, uint8_t *Laux, float rmin, float rdelta, int nstep,
                        int use_mad) {
    float min = x[0];
    float max = x[0];
    affine_fit f = {.sum_w = w[0]};
    f.sum_x = f.sum_w * x[0];
    for (int i = 1; i < n; i++) {
        if (x[i] < min)
            min = x[i];
        if (x[i] > max)
            max = x[i];
        f.sum_w += w[i];
        f.sum_x += w[i] * x[i];
    }
    if (min > 0)
        min = 0;
    if (max == min) {
        memset(L, 0, (size_t)n);
        *neg_min = -min;
        return 0.f;
    }
    float iscale = (float)nmax / (max - min);
    f.scale = 1 / iscale;
    f.min = min;
    affine_levels(n, nmax, x, iscale, min, L);
    f.err = affine_error(n, x, w, L, f.scale, min, use_mad);
    // Note: each step measures the range from the best minimum found so far.
    for (int k = 0; k <= nstep; k++) {
        iscale = (rmin + rdelta * (float)k + (float)nmax) / (max - f.min);
        affine_try(n, nmax, x, w, iscale, L, Laux, use_mad, &f);
    }
    *neg_min = -f.min;
    return f.scale;
}

// ---- super-block scales (the importance-matrix paths) ----

// Weighted squared error of x ~ scale * min(nmax, round(iscale * x)).
static float positive_mse(int n, int nmax, const float *x, const float *w, float iscale) {
    const float scale = 1 / iscale;
    float mse = 0;
    for (int i = 0; i < n; i++) {
        int l = kv__nearest_int(iscale * x[i]);
        l = l < nmax ? l : nmax;
        const float diff = x[i] - scale * (float)l;
        mse += w[i] * diff * diff;
    }
    return mse;
}

// Coordinate descent on single levels, as in the symmetric refinement; L holds
// the levels as bytes (ggml's storage, which wraps a negative level).
static int positive_refine_pass(int n, int nmax, const float *x, const float *w, uint8_t *L,
                                float *sumlx, float *suml2) {
    int n_changed = 0;
    for (int i = 0; i < n; i++) {
        float slx = *sumlx - w[i] * x[i] * (float)L[i];
        float sl2 = *suml2 - w[i] * (float)L[i] * (float)L[i];
        if (!(slx > 0 && sl2 > 0))
            continue;
        int new_l = kv__nearest_int(x[i] * sl2 / slx);
        new_l = new_l < nmax ? new_l : nmax;
        if (new_l == L[i])
            continue;
        slx += w[i] * x[i] * (float)new_l;
        sl2 += w[i] * (float)new_l * (float)new_l;
        if (slx * slx * *suml2 > *sumlx * *sumlx * sl2) {
            L[i] = (uint8_t)new_l;
            *sumlx = slx;
            *suml2 = sl2;
            n_changed++;
        }
    }
    return n_changed;
}

float kv__kq_fit_positive(int n, int nmax, const float *x, uint8_t *L, const float *w) {
    float max = 0;
    for (int i = 0; i < n; i++)
        max = max > x[i] ? max : x[i];
    if (max < KV_KQ_GROUP_EPS) {
        memset(L, 0, (size_t)n);
        return 0.f;
    }
    float iscale = (float)nmax / max;
    for (int i = 0; i < n; i++)
        L[i] = (uint8_t)kv__nearest_int(iscale * x[i]);
    const float scale = 1 / iscale;
    float best_mse = 0;
    for (int i = 0; i < n; i++) {
        const float diff = x[i] - scale * (float)L[i];
        best_mse += w[i] * diff * diff;
    }
    for (int k = -4; k <= 4; k++) {
        if (k == 0)
            continue;
        const float iscale_k = (0.1f * (float)k + (float)nmax) / max;
        const float mse = positive_mse(n, nmax, x, w, iscale_k);
        if (mse < best_mse) {
            best_mse = mse;
            iscale = iscale_k;
        }
    }
    float sumlx = 0;
    float suml2 = 0;
    for (int i = 0; i < n; i++) {
        int l = kv__nearest_int(iscale * x[i]);
        l = l < nmax ? l : nmax;
        L[i] = (uint8_t)l;
        sumlx += w[i] * x[i] * (float)l;
        suml2 += w[i] * (float)l * (float)l;
    }
    for (int pass = 0; pass < 5; pass++) {
        if (positive_refine_pass(n, nmax, x, w, L, &sumlx, &suml2) == 0)
            break;
    }
    return suml2 > 0.0f ? sumlx / suml2 : 0.0f;
}

// ---- Q4_K / Q5_K super-block ----

void kv__kq_pack_scale_min(const uint8_t ls[8], const uint8_t lm[8], uint8_t out[12]) {
    // Sub-blocks 0..3 use bytes 0..7 whole; 4..7 keep their low nibbles in bytes
    // 8..11 and their top two bits in the top bits of bytes 0..7.
    for (int j = 0; j < 4; j++) {
        out[j] = ls[j];
        out[j + 4] = lm[j];
    }
    for (int j = 4; j < 8; j++) {
        out[j + 4] = (uint8_t)((ls[j] & 0xF) | ((lm[j] & 0xF) << 4));
        out[j - 4] = (uint8_t)(out[j - 4] | ((ls[j] >> 4) << 6));
        out[j] = (uint8_t)(out[j] | ((lm[j] >> 4) << 6));
    }
}

void kv__kq_unpack_scale_min(int j, const uint8_t packed[12], uint8_t *sc, uint8_t *m) {
    if (j < 4) {
        *sc = packed[j] & 63;
        *m = packed[j + 4] & 63;
    } else {
        *sc = (uint8_t)((packed[j + 4] & 0xF) | ((packed[j - 4] >> 6) << 4));
        *m = (uint8_t)((packed[j + 4] >> 4) | ((packed[j] >> 6) << 4));
    }
}

void kv__kq_sub_scale_min(int j, const uint8_t packed[12], float d, float dmin, float *dl,
                          float *ml) {
    uint8_t sc;
    uint8_t m;
    kv__kq_unpack_scale_min(j, packed, &sc, &m);
    *dl = d * (float)sc;
    *ml = dmin * (float)m;
}

// Without an importance matrix: each sub-block weighs its values by
// rms + |x|, and the sub-block scales are quantized linearly against their max.
static void k4_scales_ref(const float *x, int nmax, uint8_t L[256], uint8_t ls[8],
                          uint8_t lm[8], float *d, float *dmin) {
    const float rmin = nmax == 15 ? -1.f : -0.5f;
    const int nstep = nmax == 15 ? 20 : 15;
    float scales[8];
    float mins[8];
    float w[256];
    uint8_t Laux[32];
    float max_scale = 0;
    float max_min = 0;
    for (int j = 0; j < 8; j++) {
        const float *xb = x + 32 * j;
        float sum_x2 = 0;
        for (int l = 0; l < 32; l++)
            sum_x2 += xb[l] * xb[l];
        const float av_x = sqrtf(sum_x2 / 32);
        for (int l = 0; l < 32; l++)
            w[32 * j + l] = av_x + fabsf(xb[l]);
    }
    if (kv__kq_have_x8()) // the 8 fits side by side, same bits
        kv__kq_fit_affine_x8(x, w, nmax, rmin, 0.1f, nstep, L, scales, mins);
    else
        for (int j = 0; j < 8; j++)
            scales[j] = kv__kq_fit_affine(32, nmax, x + 32 * j, w + 32 * j, L + 32 * j, &mins[j],
                                          Laux, rmin, 0.1f, nstep, 0);
    for (int j = 0; j < 8; j++) {
        if (scales[j] > max_scale)
            max_scale = scales[j];
        if (mins[j] > max_min)
            max_min = mins[j];
    }
    const float inv_scale = max_scale > 0 ? 63.f / max_scale : 0.f;
    const float inv_min = max_min > 0 ? 63.f / max_min : 0.f;
    for (int j = 0; j < 8; j++) {
        const uint8_t s = (uint8_t)kv__nearest_int(inv_scale * scales[j]);
        const uint8_t m = (uint8_t)kv__nearest_int(inv_min * mins[j]);
        ls[j] = s < 63 ? s : 63;
        lm[j] = m < 63 ? m : 63;
    }
    *d = max_scale / 63.f;
    *dmin = max_min / 63.f;
}

// With an importance matrix: weights qw * sqrt(sigma2 + x^2), a finer search
// per sub-block, and a weighted fit of the sub-block scales and minimums.
static void k4_scales_imatrix(const float *x, int nmax, const float *qw, uint8_t L[256],
                              uint8_t ls[8], uint8_t lm[8], float *d, float *dmin) {
    float scales[8];
    float mins[8];
    float sw[8];
    float w[32];
    uint8_t Laux[32];
    float sum_x2 = 0;
    for (int l = 0; l < 256; l++)
        sum_x2 += x[l] * x[l];
    const float sigma2 = 2 * sum_x2 / 256;
    for (int j = 0; j < 8; j++) {
        const float *xb = x + 32 * j;
        for (int l = 0; l < 32; l++)
            w[l] = qw[32 * j + l] * sqrtf(sigma2 + xb[l] * xb[l]);
        float sumw = 0;
        for (int l = 0; l < 32; l++)
            sumw += w[l];
        sw[j] = sumw;
        scales[j] = kv__kq_fit_affine(32, nmax, xb, w, L + 32 * j, &mins[j], Laux, -0.9f, 0.05f,
                                      36, 0);
    }
    *d = kv__kq_fit_positive(8, 63, scales, ls, sw);
    *dmin = kv__kq_fit_positive(8, 63, mins, lm, sw);
    if (nmax == 31) { // ggml re-clamps the levels for Q5_K only
        for (int j = 0; j < 8; j++) {
            ls[j] = ls[j] < 63 ? ls[j] : 63;
            lm[j] = lm[j] < 63 ? lm[j] : 63;
        }
    }
}

void kv__kq_fit_k4(const float *x, int nmax, const float *imatrix, uint8_t L[256],
                   uint8_t scales[12], uint16_t *d, uint16_t *dmin) {
    uint8_t ls[8];
    uint8_t lm[8];
    float fd;
    float fdmin;
    if (imatrix)
        k4_scales_imatrix(x, nmax, imatrix, L, ls, lm, &fd, &fdmin);
    else
        k4_scales_ref(x, nmax, L, ls, lm, &fd, &fdmin);
    kv__kq_pack_scale_min(ls, lm, scales);
    *d = kv_f32_to_f16(fd);
    *dmin = kv_f32_to_f16(fdmin);
    // Requantize against the scales as stored; a sub-block whose scale rounds to
    // zero keeps the levels of its search.
    const float dd = kv_f16_to_f32(*d);
    const float dm = kv_f16_to_f32(*dmin);
    for (int j = 0; j < 8; j++) {
        float dl;
        float ml;
        kv__kq_sub_scale_min(j, scales, dd, dm, &dl, &ml);
        if (dl == 0)
            continue;
        for (int i = 0; i < 32; i++)
            L[32 * j + i] = (uint8_t)kv__kq_clamp(kv__nearest_int((x[32 * j + i] + ml) / dl), 0, nmax);
    }
}

void kv__kq_pack_2bit(const uint8_t L[256], uint8_t qs[64]) {
    for (int h = 0; h < 2; h++) {
        const uint8_t *Lh = L + 128 * h;
        for (int l = 0; l < 32; l++)
            qs[32 * h + l] = (uint8_t)(Lh[l] | (Lh[l + 32] << 2) | (Lh[l + 64] << 4) |
                                       (Lh[l + 96] << 6));
    }
}

void kv__kq_dequant_k4(const uint8_t scales[12], float d, float dmin, const uint8_t qs[128],
                       const uint8_t *qh, float y[256]) {
    for (int j = 0; j < 8; j++) {
        float dl;
        float ml;
        kv__kq_sub_scale_min(j, scales, d, dmin, &dl, &ml);
        const uint8_t *q = qs + 32 * (j / 2);
        const int shift = 4 * (j % 2);
        for (int l = 0; l < 32; l++) {
            const int high = qh ? (qh[l] >> j) & 1 : 0;
            y[32 * j + l] = dl * (float)(((q[l] >> shift) & 0xF) + 16 * high) - ml;
        }
    }
}

// ---- rows of super-blocks ----

void kv__kq_quantize_rows(const float *src, void *dst, size_t block_size, int64_t n_rows,
                          int64_t n_per_row, const float *imatrix, kv__kq_block_fn block) {
    uint8_t *y = dst;
    const int64_t nb = n_per_row / KV_QK_K;
    for (int64_t r = 0; r < n_rows; r++)
        for (int64_t b = 0; b < nb; b++)
            block(src + (r * nb + b) * KV_QK_K, imatrix ? imatrix + b * KV_QK_K : NULL,
                  y + (size_t)(r * nb + b) * block_size);
}
