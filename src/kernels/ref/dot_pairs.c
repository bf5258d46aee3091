// Which activation type each weight type is multiplied with, and the reference
// dot product for the pair: ggml's vec_dot_type table, restricted to the types
// kvant implements. The runtime builds its dispatch table from this.
#include "kernels/ref/dot_ref.h"

#include <stddef.h>

static const kv__dot_pair PAIRS[KV_TYPE_COUNT] = {
    [KV_TYPE_F32] = {KV_TYPE_F32, kv_dot_f32_f32_ref},
    [KV_TYPE_F16] = {KV_TYPE_F16, kv_dot_f16_f16_ref},
    [KV_TYPE_BF16] = {KV_TYPE_BF16, kv_dot_bf16_bf16_ref},
    [KV_TYPE_Q4_0] = {KV_TYPE_Q8_0, kv_dot_q4_0_q8_0_ref},
    [KV_TYPE_Q4_1] = {KV_TYPE_Q8_1, kv_dot_q4_1_q8_1_ref},
    [KV_TYPE_Q5_0] = {KV_TYPE_Q8_0, kv_dot_q5_0_q8_0_ref},
    [KV_TYPE_Q5_1] = {KV_TYPE_Q8_1, kv_dot_q5_1_q8_1_ref},
    [KV_TYPE_Q8_0] = {KV_TYPE_Q8_0, kv_dot_q8_0_q8_0_ref},
    [KV_TYPE_IQ4_NL] = {KV_TYPE_Q8_0, kv_dot_iq4_nl_q8_0_ref},
    [KV_TYPE_Q2_K] = {KV_TYPE_Q8_K, kv_dot_q2_k_q8_k_ref},
    [KV_TYPE_Q3_K] = {KV_TYPE_Q8_K, kv_dot_q3_k_q8_k_ref},
    [KV_TYPE_Q4_K] = {KV_TYPE_Q8_K, kv_dot_q4_k_q8_k_ref},
    [KV_TYPE_Q5_K] = {KV_TYPE_Q8_K, kv_dot_q5_k_q8_k_ref},
    [KV_TYPE_Q6_K] = {KV_TYPE_Q8_K, kv_dot_q6_k_q8_k_ref},
    [KV_TYPE_IQ4_XS] = {KV_TYPE_Q8_K, kv_dot_iq4_xs_q8_k_ref},
    [KV_TYPE_IQ2_XXS] = {KV_TYPE_Q8_K, kv_dot_iq2_xxs_q8_k_ref},
    [KV_TYPE_IQ2_XS] = {KV_TYPE_Q8_K, kv_dot_iq2_xs_q8_k_ref},
    [KV_TYPE_IQ2_S] = {KV_TYPE_Q8_K, kv_dot_iq2_s_q8_k_ref},
    [KV_TYPE_IQ1_S] = {KV_TYPE_Q8_K, kv_dot_iq1_s_q8_k_ref},
    [KV_TYPE_IQ1_M] = {KV_TYPE_Q8_K, kv_dot_iq1_m_q8_k_ref},
    [KV_TYPE_TQ1_0] = {KV_TYPE_Q8_K, kv_dot_tq1_0_q8_k_ref},
    [KV_TYPE_TQ2_0] = {KV_TYPE_Q8_K, kv_dot_tq2_0_q8_k_ref},
    [KV_TYPE_IQ3_XXS] = {KV_TYPE_Q8_K, kv_dot_iq3_xxs_q8_k_ref},
    [KV_TYPE_IQ3_S] = {KV_TYPE_Q8_K, kv_dot_iq3_s_q8_k_ref},
};

const kv__dot_pair *kv__dot_pair_ref(kv_type w) {
    if ((unsigned)w >= KV_TYPE_COUNT || PAIRS[w].dot == NULL)
        return NULL;
    return &PAIRS[w];
}
