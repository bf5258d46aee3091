// Fallback dot products for quantized weights: dequantize one block of the
// weight row at a time into a stack buffer and take its dot with F32
// activations. Correct for every type the quant module can read, but slow;
// dispatch.c puts the integer dots of ref/dot_pairs.c over these where they
// exist, so only types without one (IQ2/IQ3/IQ1, MXFP4) keep them. Also the
// rows-to-floats slots (embedding lookup) of every quantized type.
#include "kernels/kernels.h"

#include "kvant/kv_quant.h"

#define MAX_BLOCK 256 // the largest block size of any type (QK_K)

void kv_dot_dequant_f32_ref(kv_type t, int64_t n, float *out, const void *w, const float *x) {
    const kv_type_traits *tr = kv_type_get(t);
    const uint8_t *blk = w;
    float tmp[MAX_BLOCK];
    double sum = 0.0;
    for (int64_t i = 0; i < n; i += tr->block_size) {
        kv_dequant_row(t, blk, tmp, tr->block_size, NULL);
        for (int j = 0; j < tr->block_size; j++)
            sum += (double)tmp[j] * (double)x[i + j];
        blk += tr->type_size;
    }
    *out = (float)sum;
}

// One vec_dot and one to_float slot per quantized type; the slot signatures
// carry no type.
#define DEQUANT_DOT(name, type)                                                        \
    static void dot_##name(int64_t n, float *out, const void *w, const void *x) {      \
        kv_dot_dequant_f32_ref(type, n, out, w, x);                                    \
    }                                                                                  \
    static void to_float_##name(const void *x, float *y, int64_t n) {                  \
        kv_dequant_row(type, x, y, n, NULL);                                           \
    }
DEQUANT_DOT(q4_0, KV_TYPE_Q4_0)
DEQUANT_DOT(q4_1, KV_TYPE_Q4_1)
DEQUANT_DOT(q5_0, KV_TYPE_Q5_0)
DEQUANT_DOT(q5_1, KV_TYPE_Q5_1)
DEQUANT_DOT(q8_0, KV_TYPE_Q8_0)
DEQUANT_DOT(q8_1, KV_TYPE_Q8_1)
DEQUANT_DOT(q8_k, KV_TYPE_Q8_K)
DEQUANT_DOT(q2_k, KV_TYPE_Q2_K)
DEQUANT_DOT(q3_k, KV_TYPE_Q3_K)
DEQUANT_DOT(q4_k, KV_TYPE_Q4_K)
DEQUANT_DOT(q5_k, KV_TYPE_Q5_K)
DEQUANT_DOT(q6_k, KV_TYPE_Q6_K)
DEQUANT_DOT(iq2_xxs, KV_TYPE_IQ2_XXS)
DEQUANT_DOT(iq2_xs, KV_TYPE_IQ2_XS)
DEQUANT_DOT(iq3_xxs, KV_TYPE_IQ3_XXS)
DEQUANT_DOT(iq1_s, KV_TYPE_IQ1_S)
DEQUANT_DOT(iq4_nl, KV_TYPE_IQ4_NL)
DEQUANT_DOT(iq3_s, KV_TYPE_IQ3_S)
DEQUANT_DOT(iq2_s, KV_TYPE_IQ2_S)
DEQUANT_DOT(iq4_xs, KV_TYPE_IQ4_XS)
DEQUANT_DOT(iq1_m, KV_TYPE_IQ1_M)
DEQUANT_DOT(tq1_0, KV_TYPE_TQ1_0)
DEQUANT_DOT(tq2_0, KV_TYPE_TQ2_0)
DEQUANT_DOT(mxfp4, KV_TYPE_MXFP4)
#undef DEQUANT_DOT

static const struct {
    kv_type type;
    kv_vec_dot_fn dot;
    void (*to_float)(const void *x, float *y, int64_t n);
} FALLBACK[] = {
    {KV_TYPE_Q4_0, dot_q4_0, to_float_q4_0},
    {KV_TYPE_Q4_1, dot_q4_1, to_float_q4_1},
    {KV_TYPE_Q5_0, dot_q5_0, to_float_q5_0},
    {KV_TYPE_Q5_1, dot_q5_1, to_float_q5_1},
    {KV_TYPE_Q8_0, dot_q8_0, to_float_q8_0},
    {KV_TYPE_Q8_1, dot_q8_1, to_float_q8_1},
    {KV_TYPE_Q8_K, dot_q8_k, to_float_q8_k},
    {KV_TYPE_Q2_K, dot_q2_k, to_float_q2_k},
    {KV_TYPE_Q3_K, dot_q3_k, to_float_q3_k},
    {KV_TYPE_Q4_K, dot_q4_k, to_float_q4_k},
    {KV_TYPE_Q5_K, dot_q5_k, to_float_q5_k},
    {KV_TYPE_Q6_K, dot_q6_k, to_float_q6_k},
    {KV_TYPE_IQ2_XXS, dot_iq2_xxs, to_float_iq2_xxs},
    {KV_TYPE_IQ2_XS, dot_iq2_xs, to_float_iq2_xs},
    {KV_TYPE_IQ3_XXS, dot_iq3_xxs, to_float_iq3_xxs},
    {KV_TYPE_IQ1_S, dot_iq1_s, to_float_iq1_s},
    {KV_TYPE_IQ4_NL, dot_iq4_nl, to_float_iq4_nl},
    {KV_TYPE_IQ3_S, dot_iq3_s, to_float_iq3_s},
    {KV_TYPE_IQ2_S, dot_iq2_s, to_float_iq2_s},
    {KV_TYPE_IQ4_XS, dot_iq4_xs, to_float_iq4_xs},
    {KV_TYPE_IQ1_M, dot_iq1_m, to_float_iq1_m},
    {KV_TYPE_TQ1_0, dot_tq1_0, to_float_tq1_0},
    {KV_TYPE_TQ2_0, dot_tq2_0, to_float_tq2_0},
    {KV_TYPE_MXFP4, dot_mxfp4, to_float_mxfp4},
};

void kv__kernels_fill_dequant_ref(kv_kernels *k) {
    for (size_t i = 0; i < sizeof FALLBACK / sizeof FALLBACK[0]; i++) {
        const kv_type t = FALLBACK[i].type;
        const kv_type_traits *tr = kv_type_get(t);
        if (!tr || tr->block_size > MAX_BLOCK || !kv_quant_can_dequantize(t))
            continue;
        k->types[t].vec_dot_type = KV_TYPE_F32;
        k->types[t].vec_dot = FALLBACK[i].dot;
        k->to_float[t] = FALLBACK[i].to_float;
    }
}
