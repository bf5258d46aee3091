// The legacy 4- and 5-bit block types Q4_0, Q4_1, Q5_0, Q5_1 (32 weights a block).
// Without an importance matrix: ggml's reference quantizers (scale from the block's
// extreme values). With one: ggml's weighted searches, row by row, where weight j
// is imatrix[j] * sqrt(sigma2 + x_j^2) and sigma2 is the row's mean square.
// Operation order and float types follow ggml exactly: the results are bit-identical.
#include "quant/quant_int.h"

#include "quant/kquant_util.h" // kv__kq_have_x8

#include <float.h>

// Blocks whose largest magnitude is below this are all zero (ggml's GROUP_MAX_EPS).
#define GROUP_MAX_EPS 1e-15f

static inline int imin(int a, int b) { return a < b ? a : b; }
static inline int imax(int a, int b) { return a > b ? a : b; }

// Packs two 16-quant halves into nibbles; qh (when not NULL) gets each quant's bit 4:
// bit j for quant j of the first half, bit 16 + j for the second.
static void pack_nibbles(const uint8_t *l, uint8_t *qs, uint8_t *qh) {
    uint32_t h = 0;
    for (int j = 0; j < 16; j++) {
        qs[j] = (uint8_t)((l[j] & 0x0f) | ((l[j + 16] & 0x0f) << 4));
        h |= (uint32_t)((l[j] & 0x10u) >> 4) << j;
        h |= (uint32_t)((l[j + 16] & 0x10u) >> 4) << (j + 16);
    }
    if (qh) {
        for (int b = 0; b < 4; b++)
            qh[b] = (uint8_t)(h >> (8 * b));
    }
}

// ---- reference quantizers (no importance matrix) ----

// Symmetric types: d = max / -half (max keeps its sign, so it maps to quant 0),
// q = trunc(x / d + half + 0.5) capped at 2 * half - 1.
static void quantize_block_sym_ref(const float *x, int half, kv_f16 *d_out, uint8_t *l) {
    float amax = 0.0f;
    float max = 0.0f;
    for (int j = 0; j < 32; j++) {
        if (amax < fabsf(x[j])) {
            amax = fabsf(x[j]);
            max = x[j];
        }
    }
    const float d = max / (float)-half;
    const float id = d != 0.0f ? 1.0f / d : 0.0f;
    *d_out = kv_f32_to_f16(d);
    const float offset = (float)half + 0.5f;
    for (int j = 0; j < 32; j++)
        l[j] = (uint8_t)imin(2 * half - 1, kv__trunc_i8(x[j] * id + offset));
}

// Asymmetric types: m = min, d = (max - min) / nmax, q = trunc((x - min) / d + 0.5).
// Q4_1 caps q at 15 after a signed byte conversion; Q5_1 converts unsigned, uncapped.
static void quantize_block_asym_ref(const float *x, int nmax, kv_f16 *d_out, kv_f16 *m_out,
                                    uint8_t *l) {
    float min = FLT_MAX;
    float max = -FLT_MAX;
    for (int j = 0; j < 32; j++) {
        if (x[j] < min)
            min = x[j];
        if (x[j] > max)
            max = x[j];
    }
    const float d = (max - min) / (float)nmax;
    const float id = d != 0.0f ? 1.0f / d : 0.0f;
    *d_out = kv_f32_to_f16(d);
    *m_out = kv_f32_to_f16(min);
    for (int j = 0; j < 32; j++) {
        const float v = (x[j] - min) * id + 0.5f;
        l[j] = nmax == 15 ? (uint8_t)imin(15, kv__trunc_i8(v)) : kv__trunc_u8(v);
    }
}

// ---- weighted searches (importance matrix) ----

// Symmetric quant of x at inverse scale iscale: l in [-nmax, nmax-1].
static inline int qx_level(float iscale, float x, int nmax) {
    return imax(-nmax, imin(nmax - 1, kv__nearest_int(iscale * x)));
}

// sum w x l and sum w l^2 for the quants at inverse scale iscale.
static void qx_sums(int n, int nmax, const float *x, const float *w, float iscale, float *sumlx,
                    float *suml2) {
    float slx = 0.0f;
    float sl2 = 0.0f;
    for (int i = 0; i < n; i++) {
        const float l = (float)qx_level(iscale, x[i], nmax);
        slx += w[i] * x[i] * l;
        sl2 += w[i] * l * l;
    }
    *sumlx = slx;
    *suml2 = sl2;
}

// Symmetric weighted search (ggml's make_qx_quants, rmse_type 1 with weights):
// quants l in [-nmax, nmax-1], stored as l + nmax in L. Starts at the scale that
// maps max (with its sign) to -nmax, then tries -(nmax + 0.1 k) / max for
// k = -9..9 (k != 0), keeping the one that maximises (sum w x l)^2 / sum w l^2.
// Returns the least-squares scale of the chosen quants.
static float make_qx_quants(int n, int nmax, const float *x, uint8_t *L, const float *w) {
    float max = 0.0f;
    float amax = 0.0f;
    for (int i = 0; i < n; i++) {
        if (fabsf(x[i]) > amax) {
            amax = fabsf(x[i]);
            max = x[i];
        }
    }
    if (amax < GROUP_MAX_EPS) {
        memset(L, 0, (size_t)n);
        return 0.0f;
    }
    float iscale = (float)-nmax / max;
    float sumlx, suml2;
    qx_sums(n, nmax, x, w, iscale, &sumlx, &suml2);
    for (int i = 0; i < n; i++)
        L[i] = (uint8_t)(qx_level(iscale, x[i], nmax) + nmax);
    float scale = suml2 != 0.0f ? sumlx / suml2 : 0.0f;
    float best = scale * sumlx;
    for (int k = -9; k <= 9; k++) {
        if (k == 0)
            continue;
        iscale = -((float)nmax + 0.1f * (float)k) / max;
        qx_sums(n, nmax, x, w, iscale, &sumlx, &suml2);
        if (suml2 > 0 && sumlx * sumlx > best * suml2) {
            for (int i = 0; i < n; i++)
                L[i] = (uint8_t)(qx_level(iscale, x[i], nmax) + nmax);
            scale = sumlx / suml2;
            best = scale * sumlx;
        }
    }
    return scale;
}

// Weighted squared error of x against scale * L + min.
static float weighted_err(int n, const float *x, const float *w, const uint8_t *L, float scale,
                          float min) {
    float err = 0.0f;
    for (int i = 0; i < n; i++) {
        float diff = scale * (float)L[i] + min - x[i];
        diff = diff * diff;
        err += w[i] * diff;
    }
    return err;
}

// Affine: quants in [0, nmax], x ~ scale * L - *the_min. Starts from the min/max
// fit, then tries nstep + 1 scales around it, each refined by a weighted
// least-squares fit of scale and min (min kept <= 0); keeps the lowest error.
static float make_qkx3_quants(int n, int nmax, const float *x, const float *w, uint8_t *L,
                              float *the_min, uint8_t *Laux, float rmin, float rdelta, int nstep) {
    float min = x[0];
    float max = x[0];
    float sum_w = w[0];
    float sum_x = sum_w * x[0];
    for (int i = 1; i < n; i++) {
        if (x[i] < min)
            min = x[i];
        if (x[i] > max)
            max = x[i];
        sum_w += w[i];
        sum_x += w[i] * x[i];
    }
    if (min > 0)
        min = 0;
    if (max <= min) {
        memset(L, 0, (size_t)n);
        *the_min = -min;
        return 0.0f;
    }
    float iscale = (float)nmax / (max - min);
    float scale = 1 / iscale;
    for (int i = 0; i < n; i++)
        L[i] = (uint8_t)imax(0, imin(nmax, kv__nearest_int(iscale * (x[i] - min))));
    float best = weighted_err(n, x, w, L, scale, min);
    for (int is = 0; is <= nstep; is++) {
        // min moves to the best fit so far, so v may be far out of range: clamp first
        iscale = (rmin + rdelta * (float)is + (float)nmax) / (max - min);
        float sum_l = 0, sum_l2 = 0, sum_xl = 0;
        for (int i = 0; i < n; i++) {
            const float v = iscale * (x[i] - min);
            const int l = v > 0 ? kv__nearest_int(v < (float)nmax ? v : (float)nmax) : 0;
            Laux[i] = (uint8_t)l;
            sum_l += w[i] * (float)l;
            sum_l2 += w[i] * (float)l * (float)l;
            sum_xl += w[i] * (float)l * x[i];
        }
        const float D = sum_w * sum_l2 - sum_l * sum_l;
        if (!(D > 0))
            continue;
        float this_scale = (sum_w * sum_xl - sum_x * sum_l) / D;
        float this_min = (sum_l2 * sum_x - sum_l * sum_xl) / D;
        if (this_min > 0) {
            this_min = 0;
            this_scale = sum_xl / sum_l2;
        }
        const float err = weighted_err(n, x, w, Laux, this_scale, this_min);
        if (err < best) {
            memcpy(L, Laux, (size_t)n);
            best = err;
            scale = this_scale;
            min = this_min;
        }
    }
    *the_min = -min;
    return scale;
}

// The row's mean square, accumulated in float in order (sigma2 in ggml).
static float row_sigma2(const float *x, int64_t n) {
    float sum_x2 = 0.0f;
    for (int64_t j = 0; j < n; j++)
        sum_x2 += x[j] * x[j];
    return sum_x2 / (float)n;
}

static void block_weights(const float *x, const float *qw, float sigma2, float *w) {
    for (int j = 0; j < 32; j++)
        w[j] = qw[j] * sqrtf(sigma2 + x[j] * x[j]);
}

// One Q4_1/Q5_1 block of 32 (levels 0..nmax to L, scale and minimum to *d, *m):
// with the block's importance weights qw, make_qkx3_quants over block_weights;
// without, the reference min/max search.
static void asym_block(const float *x, const float *qw, float sigma2, int nmax, kv_f16 *d,
                       kv_f16 *m, uint8_t L[32]) {
    if (qw) {
        uint8_t Laux[32];
        float w[32];
        float min;
        block_weights(x, qw, sigma2, w);
        const float scale = make_qkx3_quants(32, nmax, x, w, L, &min, Laux, -0.9f, 0.05f, 36);
        *d = kv_f32_to_f16(scale);
        *m = kv_f32_to_f16(-min);
    } else {
        quantize_block_asym_ref(x, nmax, d, m, L);
    }
}

// ---- Q4_0 ----

void kv__q4_0_block_ref(const float x[32], kv_f16 *d_out, uint8_t qs[16]) {
    uint8_t L[32];
    quantize_block_sym_ref(x, 8, d_out, L);
    pack_nibbles(L, qs, NULL);
}

static void quantize_row_q4_0(const float *x, kv_block_q4_0 *y, int64_t n, const float *qw) {
    uint8_t L[32];
    float w[32];
    const float sigma2 = qw ? row_sigma2(x, n) : 0.0f;
    for (int64_t ib = 0; ib < n / KV_QK4_0; ib++, x += KV_QK4_0) {
        if (qw) {
            block_weights(x, qw + KV_QK4_0 * ib, sigma2, w);
            y[ib].d = kv_f32_to_f16(make_qx_quants(KV_QK4_0, 8, x, L, w));
        } else {
#if defined(__x86_64__) && (defined(__GNUC__) || defined(__clang__))
            if (kv__kq_have_x8()) { // same bits as the scalar twin below
                kv__q4_0_block_avx2(x, &y[ib].d, y[ib].qs);
                continue;
            }
#endif
            quantize_block_sym_ref(x, 8, &y[ib].d, L);
        }
        pack_nibbles(L, y[ib].qs, NULL);
    }
}

void kv__quantize_q4_0(const float *src, void *dst, int64_t n_rows, int64_t n_per_row,
                       const float *imatrix) {
    kv_block_q4_0 *y = dst;
    for (int64_t r = 0; r < n_rows; r++)
        quantize_row_q4_0(src + r * n_per_row, y + r * (n_per_row / KV_QK4_0), n_per_row, imatrix);
}

void kv__dequantize_q4_0(const void *src, float *dst, int64_t k) {
    const kv_block_q4_0 *x = src;
    for (int64_t i = 0; i < k / KV_QK4_0; i++, dst += KV_QK4_0) {
        const float d = kv_f16_to_f32(x[i].d);
        for (int j = 0; j < 16; j++) {
            dst[j] = (float)((x[i].qs[j] & 0x0f) - 8) * d;
            dst[j + 16] = (float)((x[i].qs[j] >> 4) - 8) * d;
        }
    }
}

// ---- Q4_1 ----

static void quantize_row_q4_1(const float *x, kv_block_q4_1 *y, int64_t n, const float *qw) {
    uint8_t L[32];
    const float sigma2 = qw ? row_sigma2(x, n) : 0.0f;
    for (int64_t ib = 0; ib < n / KV_QK4_1; ib++, x += KV_QK4_1) {
        asym_block(x, qw ? qw + KV_QK4_1 * ib : NULL, sigma2, 15, &y[ib].d, &y[ib].m, L);
        pack_nibbles(L, y[ib].qs, NULL);
    }
}

void kv__quantize_q4_1(const float *src, void *dst, int64_t n_rows, int64_t n_per_row,
                       const float *imatrix) {
    kv_block_q4_1 *y = dst;
    for (int64_t r = 0; r < n_rows; r++)
        quantize_row_q4_1(src + r * n_per_row, y + r * (n_per_row / KV_QK4_1), n_per_row, imatrix);
}

void kv__dequantize_q4_1(const void *src, float *dst, int64_t k) {
    const kv_block_q4_1 *x = src;
    for (int64_t i = 0; i < k / KV_QK4_1; i++, dst += KV_QK4_1) {
        const float d = kv_f16_to_f32(x[i].d);
        const float m = kv_f16_to_f32(x[i].m);
        for (int j = 0; j < 16; j++) {
            dst[j] = (float)(x[i].qs[j] & 0x0f) * d + m;
            dst[j + 16] = (float)(x[i].qs[j] >> 4) * d + m;
        }
    }
}

// ---- Q5_0 ----

static void quantize_row_q5_0(const float *x, kv_block_q5_0 *y, int64_t n, const float *qw) {
    uint8_t L[32];
    float w[32];
    const float sigma2 = qw ? row_sigma2(x, n) : 0.0f;
    for (int64_t ib = 0; ib < n / KV_QK5_0; ib++, x += KV_QK5_0) {
        if (qw) {
            block_weights(x, qw + KV_QK5_0 * ib, sigma2, w);
            y[ib].d = kv_f32_to_f16(make_qx_quants(KV_QK5_0, 16, x, L, w));
        } else {
            quantize_block_sym_ref(x, 16, &y[ib].d, L);
        }
        pack_nibbles(L, y[ib].qs, y[ib].qh);
    }
}

void kv__quantize_q5_0(const float *src, void *dst, int64_t n_rows, int64_t n_per_row,
                       const float *imatrix) {
    kv_block_q5_0 *y = dst;
    for (int64_t r = 0; r < n_rows; r++)
        quantize_row_q5_0(src + r * n_per_row, y + r * (n_per_row / KV_QK5_0), n_per_row, imatrix);
}

// The 5th bit of quant j (0..31) is bit j of qh (little-endian u32).
static inline int high_bit(const uint8_t qh[4], int j) { return (qh[j / 8] >> (j % 8)) & 1; }

void kv__dequantize_q5_0(const void *src, float *dst, int64_t k) {
    const kv_block_q5_0 *x = src;
    for (int64_t i = 0; i < k / KV_QK5_0; i++, dst += KV_QK5_0) {
        const float d = kv_f16_to_f32(x[i].d);
        for (int j = 0; j < 16; j++) {
            const int q0 = (x[i].qs[j] & 0x0f) | (high_bit(x[i].qh, j) << 4);
            const int q1 = (x[i].qs[j] >> 4) | (high_bit(x[i].qh, j + 16) << 4);
            dst[j] = (float)(q0 - 16) * d;
            dst[j + 16] = (float)(q1 - 16) * d;
        }
    }
}

// ---- Q5_1 ----

static void quantize_row_q5_1(const float *x, kv_block_q5_1 *y, int64_t n, const float *qw) {
    uint8_t L[32];
    const float sigma2 = qw ? row_sigma2(x, n) : 0.0f;
    for (int64_t ib = 0; ib < n / KV_QK5_1; ib++, x += KV_QK5_1) {
        asym_block(x, qw ? qw + KV_QK5_1 * ib : NULL, sigma2, 31, &y[ib].d, &y[ib].m, L);
        pack_nibbles(L, y[ib].qs, y[ib].qh);
    }
}

void kv__quantize_q5_1(const float *src, void *dst, int64_t n_rows, int64_t n_per_row,
                       const float *imatrix) {
    kv_block_q5_1 *y = dst;
    for (int64_t r = 0; r < n_rows; r++)
        quantize_row_q5_1(src + r * n_per_row, y + r * (n_per_row / KV_QK5_1), n_per_row, imatrix);
}

void kv__dequantize_q5_1(const void *src, float *dst, int64_t k) {
    const kv_block_q5_1 *x = src;
    for (int64_t i = 0; i < k / KV_QK5_1; i++, dst += KV_QK5_1) {
        const float d = kv_f16_to_f32(x[i].d);
        const float m = kv_f16_to_f32(x[i].m);
        for (int j = 0; j < 16; j++) {
            const int q0 = (x[i].qs[j] & 0x0f) | (high_bit(x[i].qh, j) << 4);
            const int q1 = (x[i].qs[j] >> 4) | (high_bit(x[i].qh, j + 16) << 4);
            dst[j] = (float)q0 * d + m;
            dst[j + 16] = (float)q1 * d + m;
        }
    }
}
