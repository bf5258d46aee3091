// The ggml type table: names, block sizes and block bytes for every type id.
#include "kvant/kv_types.h"

#include <strings.h>

#define QK_K 256

static const kv_type_traits TYPES[KV_TYPE_COUNT] = {
    [KV_TYPE_F32] = {"F32", 1, 4, false},
    [KV_TYPE_F16] = {"F16", 1, 2, false},
    [KV_TYPE_Q4_0] = {"Q4_0", 32, 2 + 16, true},
    [KV_TYPE_Q4_1] = {"Q4_1", 32, 2 + 2 + 16, true},
    [KV_TYPE_Q5_0] = {"Q5_0", 32, 2 + 4 + 16, true},
    [KV_TYPE_Q5_1] = {"Q5_1", 32, 2 + 2 + 4 + 16, true},
    [KV_TYPE_Q8_0] = {"Q8_0", 32, 2 + 32, true},
    [KV_TYPE_Q8_1] = {"Q8_1", 32, 2 + 2 + 32, true},
    [KV_TYPE_Q2_K] = {"Q2_K", QK_K, QK_K / 16 + QK_K / 4 + 2 + 2, true},
    [KV_TYPE_Q3_K] = {"Q3_K", QK_K, QK_K / 8 + QK_K / 4 + 12 + 2, true},
    [KV_TYPE_Q4_K] = {"Q4_K", QK_K, 2 + 2 + 12 + QK_K / 2, true},
    [KV_TYPE_Q5_K] = {"Q5_K", QK_K, 2 + 2 + 12 + QK_K / 8 + QK_K / 2, true},
    [KV_TYPE_Q6_K] = {"Q6_K", QK_K, QK_K / 2 + QK_K / 4 + QK_K / 16 + 2, true},
    [KV_TYPE_Q8_K] = {"Q8_K", QK_K, 4 + QK_K + QK_K / 16 * 2, true},
    [KV_TYPE_IQ2_XXS] = {"IQ2_XXS", QK_K, 2 + QK_K / 8 * 2, true},
    [KV_TYPE_IQ2_XS] = {"IQ2_XS", QK_K, 2 + QK_K / 8 * 2 + QK_K / 32, true},
    [KV_TYPE_IQ3_XXS] = {"IQ3_XXS", QK_K, 2 + 3 * QK_K / 8, true},
    [KV_TYPE_IQ1_S] = {"IQ1_S", QK_K, 2 + QK_K / 8 + QK_K / 32 * 2, true},
    [KV_TYPE_IQ4_NL] = {"IQ4_NL", 32, 2 + 16, true},
    [KV_TYPE_IQ3_S] = {"IQ3_S", QK_K, 2 + QK_K / 4 + QK_K / 32 + QK_K / 8 + QK_K / 64, true},
    [KV_TYPE_IQ2_S] = {"IQ2_S", QK_K, 2 + QK_K / 4 + QK_K / 32 + QK_K / 32, true},
    [KV_TYPE_IQ4_XS] = {"IQ4_XS", QK_K, 2 + 2 + QK_K / 64 + QK_K / 2, true},
    [KV_TYPE_I8] = {"I8", 1, 1, false},
    [KV_TYPE_I16] = {"I16", 1, 2, false},
    [KV_TYPE_I32] = {"I32", 1, 4, false},
    [KV_TYPE_I64] = {"I64", 1, 8, false},
    [KV_TYPE_F64] = {"F64", 1, 8, false},
    [KV_TYPE_IQ1_M] = {"IQ1_M", QK_K, QK_K / 8 + QK_K / 16 + QK_K / 32, true},
    [KV_TYPE_BF16] = {"BF16", 1, 2, false},
    [KV_TYPE_TQ1_0] = {"TQ1_0", QK_K, 2 + (QK_K - 4 * QK_K / 64) / 5 + QK_K / 64, true},
    [KV_TYPE_TQ2_0] = {"TQ2_0", QK_K, 2 + QK_K / 4, true},
    [KV_TYPE_MXFP4] = {"MXFP4", 32, 1 + 16, true},
};

const kv_type_traits *kv_type_get(uint32_t id) {
    if (id >= KV_TYPE_COUNT || TYPES[id].name == NULL)
        return NULL;
    return &TYPES[id];
}

const char *kv_type_name(uint32_t id) {
    const kv_type_traits *t = kv_type_get(id);
    return t ? t->name : "?";
}

int kv_type_from_name(const char *name) {
    for (int i = 0; i < KV_TYPE_COUNT; i++)
        if (TYPES[i].name && strcasecmp(TYPES[i].name, name) == 0)
            return i;
    return -1;
}

size_t kv_type_row_size(kv_type t, int64_t n) {
    const kv_type_traits *tr = kv_type_get((uint32_t)t);
    if (!tr || n < 0 || n % tr->block_size != 0)
        return 0;
    return (size_t)(n / tr->block_size) * tr->type_size;
}
