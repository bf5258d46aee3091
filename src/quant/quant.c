// kv_quant.h: checks the arguments and dispatches to the per-type reference
// quantizers and dequantizers through one table. The float types (F32, F16,
// BF16) are handled here; block types live in q8.c, q4_q5.c, tq.c (and, for
// the K-quants and IQ4 types, in their own files).
#include "kvant/kv_quant.h"

#include <math.h>
#include <string.h>

#include "kvant/kv_core.h"
#include "kvant/kv_f16.h"
#include "quant/iq_grid.h"
#include "quant/quant_int.h"

// ---- float types: conversions, rows are contiguous so one pass does all ----

static void quantize_f32(const float *src, void *dst, int64_t n_rows, int64_t n_per_row,
                         const float *imatrix) {
    (void)imatrix;
    memcpy(dst, src, (size_t)(n_rows * n_per_row) * sizeof(float));
}

static void dequantize_f32(const void *src, float *dst, int64_t k) {
    memcpy(dst, src, (size_t)k * sizeof(float));
}

static void quantize_f16(const float *src, void *dst, int64_t n_rows, int64_t n_per_row,
                         const float *imatrix) {
    (void)imatrix;
    kv_f32_to_f16_row(src, dst, n_rows * n_per_row);
}

static void dequantize_f16(const void *src, float *dst, int64_t k) {
    kv_f16_to_f32_row(src, dst, k);
}

static void quantize_bf16(const float *src, void *dst, int64_t n_rows, int64_t n_per_row,
                          const float *imatrix) {
    (void)imatrix;
    kv_f32_to_bf16_row(src, dst, n_rows * n_per_row);
}

static void dequantize_bf16(const void *src, float *dst, int64_t k) {
    kv_bf16_to_f32_row(src, dst, k);
}

// ---- the dispatch table ----

typedef struct {
    kv_type type;
    kv__quantize_fn quantize;     // NULL: kvant cannot write this type
    kv__dequantize_fn dequantize; // NULL: kvant cannot read this type
} quant_ops;

static const quant_ops OPS[] = {
    {KV_TYPE_F32, quantize_f32, dequantize_f32},
    {KV_TYPE_F16, quantize_f16, dequantize_f16},
    {KV_TYPE_BF16, quantize_bf16, dequantize_bf16},
    {KV_TYPE_Q4_0, kv__quantize_q4_0, kv__dequantize_q4_0},
    {KV_TYPE_Q4_1, kv__quantize_q4_1, kv__dequantize_q4_1},
    {KV_TYPE_Q5_0, kv__quantize_q5_0, kv__dequantize_q5_0},
    {KV_TYPE_Q5_1, kv__quantize_q5_1, kv__dequantize_q5_1},
    {KV_TYPE_Q8_0, kv__quantize_q8_0, kv__dequantize_q8_0},
    {KV_TYPE_Q8_1, kv__quantize_q8_1, kv__dequantize_q8_1},
    {KV_TYPE_Q8_K, kv__quantize_q8_k, kv__dequantize_q8_k},
    {KV_TYPE_TQ1_0, kv__quantize_tq1_0, kv__dequantize_tq1_0},
    {KV_TYPE_TQ2_0, kv__quantize_tq2_0, kv__dequantize_tq2_0},
    {KV_TYPE_Q2_K, kv__quantize_q2_k, kv__dequantize_q2_k},
    {KV_TYPE_Q3_K, kv__quantize_q3_k, kv__dequantize_q3_k},
    {KV_TYPE_Q4_K, kv__quantize_q4_k, kv__dequantize_q4_k},
    {KV_TYPE_Q5_K, kv__quantize_q5_k, kv__dequantize_q5_k},
    {KV_TYPE_Q6_K, kv__quantize_q6_k, kv__dequantize_q6_k},
    {KV_TYPE_IQ4_NL, kv__quantize_iq4_nl, kv__dequantize_iq4_nl},
    {KV_TYPE_IQ4_XS, kv__quantize_iq4_xs, kv__dequantize_iq4_xs},
    {KV_TYPE_IQ3_XXS, kv__quantize_iq3_xxs, kv__dequantize_iq3_xxs},
    {KV_TYPE_IQ3_S, kv__quantize_iq3_s, kv__dequantize_iq3_s},
    {KV_TYPE_IQ2_XXS, kv__quantize_iq2_xxs, kv__dequantize_iq2_xxs},
    {KV_TYPE_IQ2_XS, kv__quantize_iq2_xs, kv__dequantize_iq2_xs},
    {KV_TYPE_IQ2_S, kv__quantize_iq2_s, kv__dequantize_iq2_s},
    {KV_TYPE_IQ1_S, kv__quantize_iq1_s, kv__dequantize_iq1_s},
    {KV_TYPE_IQ1_M, kv__quantize_iq1_m, kv__dequantize_iq1_m},
};

// The lattice i-quants: the codebook each type searches (-1: none), and
// whether quantizing needs an importance matrix.
static int lattice_grid(kv_type t, bool *needs_imatrix) {
    *needs_imatrix = true;
    switch (t) {
    case KV_TYPE_IQ2_XXS: return KV_IQ_GRID_IQ2_XXS;
    case KV_TYPE_IQ2_XS: return KV_IQ_GRID_IQ2_XS;
    case KV_TYPE_IQ2_S: *needs_imatrix = false; return KV_IQ_GRID_IQ2_S;
    case KV_TYPE_IQ1_S: return KV_IQ_GRID_IQ1_S;
    case KV_TYPE_IQ1_M: *needs_imatrix = false; return KV_IQ_GRID_IQ1_S;
    default: *needs_imatrix = false; return -1;
    }
}

// Builds the codebook a lattice type needs (once); refuses those that need an
// importance matrix when there is none.
static kv_status lattice_ready(kv_type t, bool quantize, const float *imatrix, kv_err *err) {
    bool needs;
    const int g = lattice_grid(t, &needs);
    if (g < 0)
        return KV_OK;
    if (quantize && needs && !imatrix)
        return KV_FAIL(err, KV_ERR_INVALID,
                       "%s needs an importance matrix; make one with `kvant imatrix` and pass it "
                       "with --imatrix", kv_type_name((uint32_t)t));
    if (quantize && !kv__iq_grid_get((kv_iq_grid_id)g))
        return KV_FAIL(err, KV_ERR_NOMEM, "%s: cannot allocate the codebook tables",
                       kv_type_name((uint32_t)t));
    return KV_OK;
}

static const quant_ops *find_ops(kv_type t) {
    for (size_t i = 0; i < sizeof OPS / sizeof OPS[0]; i++)
        if (OPS[i].type == t)
            return &OPS[i];
    return NULL;
}

bool kv_quant_can_quantize(kv_type t) {
    const quant_ops *ops = find_ops(t);
    return ops && ops->quantize;
}

bool kv_quant_can_dequantize(kv_type t) {
    const quant_ops *ops = find_ops(t);
    return ops && ops->dequantize;
}

// ---- argument checks ----

// Checks that n elements of t make whole blocks and that the byte count fits.
static kv_status check_count(kv_type t, int64_t n, const char *what, kv_err *err) {
    const kv_type_traits *tr = kv_type_get((uint32_t)t);
    if (n < 0 || n % tr->block_size != 0)
        return KV_FAIL(err, KV_ERR_INVALID,
                       "%s: %s is %lld, expected a multiple of %d (%s block size)", tr->name,
                       what, (long long)n, tr->block_size, tr->name);
    size_t bytes;
    if (!kv_mul_ok((size_t)(n / tr->block_size), tr->type_size, &bytes) ||
        !kv_mul_ok((size_t)n, sizeof(float), &bytes))
        return KV_FAIL(err, KV_ERR_LIMIT, "%s: %s is %lld, too large to address", tr->name, what,
                       (long long)n);
    return KV_OK;
}

static kv_status check_input(kv_type t, const float *src, int64_t n_rows, int64_t n_per_row,
                             const float *imatrix, kv_err *err) {
    for (int64_t r = 0; r < n_rows; r++) {
        const int64_t c = kv__find_nonfinite(src + r * n_per_row, n_per_row);
        if (c >= 0)
            return KV_FAIL(err, KV_ERR_INVALID, "%s: input row %lld column %lld is %s",
                           kv_type_name((uint32_t)t), (long long)r, (long long)c,
                           isnan(src[r * n_per_row + c]) ? "NaN" : "Inf");
    }
    if (imatrix) {
        const int64_t c = kv__find_nonfinite(imatrix, n_per_row);
        if (c >= 0)
            return KV_FAIL(err, KV_ERR_INVALID, "%s: imatrix element %lld is %s",
                           kv_type_name((uint32_t)t), (long long)c,
                           isnan(imatrix[c]) ? "NaN" : "Inf");
    }
    return KV_OK;
}

// ---- public entry points ----

kv_status kv_quant_rows(kv_type t, const float *src, void *dst, int64_t n_rows,
                        int64_t n_per_row, const float *imatrix, kv_err *err) {
    const quant_ops *ops = find_ops(t);
    if (!ops || !ops->quantize)
        return KV_FAIL(err, KV_ERR_UNSUPPORTED, "cannot quantize to type %s (id %d)",
                       kv_type_name((uint32_t)t), (int)t);
    if (n_per_row <= 0)
        return KV_FAIL(err, KV_ERR_INVALID, "%s: n_per_row is %lld, expected > 0",
                       kv_type_name((uint32_t)t), (long long)n_per_row);
    if (n_rows < 0)
        return KV_FAIL(err, KV_ERR_INVALID, "%s: n_rows is %lld, expected >= 0",
                       kv_type_name((uint32_t)t), (long long)n_rows);
    kv_status st = check_count(t, n_per_row, "n_per_row", err);
    if (st != KV_OK)
        return st;
    if (n_rows == 0)
        return KV_OK;
    if (n_rows > INT64_MAX / n_per_row)
        return KV_FAIL(err, KV_ERR_LIMIT, "%s: %lld rows of %lld elements overflow",
                       kv_type_name((uint32_t)t), (long long)n_rows, (long long)n_per_row);
    st = check_count(t, n_rows * n_per_row, "element count", err);
    if (st != KV_OK)
        return st;
    if (!src || !dst)
        return KV_FAIL(err, KV_ERR_INVALID, "%s: src or dst is NULL", kv_type_name((uint32_t)t));
    st = check_input(t, src, n_rows, n_per_row, imatrix, err);
    if (st != KV_OK)
        return st;
    st = lattice_ready(t, true, imatrix, err);
    if (st != KV_OK)
        return st;
    ops->quantize(src, dst, n_rows, n_per_row, imatrix);
    return KV_OK;
}

kv_status kv_dequant_row(kv_type t, const void *src, float *dst, int64_t n, kv_err *err) {
    const quant_ops *ops = find_ops(t);
    if (!ops || !ops->dequantize)
        return KV_FAIL(err, KV_ERR_UNSUPPORTED, "cannot dequantize type %s (id %d)",
                       kv_type_name((uint32_t)t), (int)t);
    kv_status st = check_count(t, n, "element count", err);
    if (st != KV_OK)
        return st;
    if (n == 0)
        return KV_OK;
    if (!src || !dst)
        return KV_FAIL(err, KV_ERR_INVALID, "%s: src or dst is NULL", kv_type_name((uint32_t)t));
    st = lattice_ready(t, false, NULL, err);
    if (st != KV_OK)
        return st;
    ops->dequantize(src, dst, n);
    return KV_OK;
}
