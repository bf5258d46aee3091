// ggml tensor types: their on-disk ids (as GGUF stores them), names, block sizes
// and bytes per block. Ids and sizes are those of ggml, so files interoperate.
#ifndef KV_TYPES_H
#define KV_TYPES_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

typedef enum {
    KV_TYPE_F32 = 0,
    KV_TYPE_F16 = 1,
    KV_TYPE_Q4_0 = 2,
    KV_TYPE_Q4_1 = 3,
    // 4 and 5 were Q4_2 and Q4_3, removed from ggml
    KV_TYPE_Q5_0 = 6,
    KV_TYPE_Q5_1 = 7,
    KV_TYPE_Q8_0 = 8,
    KV_TYPE_Q8_1 = 9,
    KV_TYPE_Q2_K = 10,
    KV_TYPE_Q3_K = 11,
    KV_TYPE_Q4_K = 12,
    KV_TYPE_Q5_K = 13,
    KV_TYPE_Q6_K = 14,
    KV_TYPE_Q8_K = 15,
    KV_TYPE_IQ2_XXS = 16,
    KV_TYPE_IQ2_XS = 17,
    KV_TYPE_IQ3_XXS = 18,
    KV_TYPE_IQ1_S = 19,
    KV_TYPE_IQ4_NL = 20,
    KV_TYPE_IQ3_S = 21,
    KV_TYPE_IQ2_S = 22,
    KV_TYPE_IQ4_XS = 23,
    KV_TYPE_I8 = 24,
    KV_TYPE_I16 = 25,
    KV_TYPE_I32 = 26,
    KV_TYPE_I64 = 27,
    KV_TYPE_F64 = 28,
    KV_TYPE_IQ1_M = 29,
    KV_TYPE_BF16 = 30,
    // 31..33 were the Q4_0_4_4 / Q4_0_4_8 / Q4_0_8_8 repackings, removed
    KV_TYPE_TQ1_0 = 34,
    KV_TYPE_TQ2_0 = 35,
    // 36..38 were the IQ4_NL repackings, removed
    KV_TYPE_MXFP4 = 39,
    KV_TYPE_COUNT = 40,
} kv_type;

// Facts about one type. A row of n elements (n % block_size == 0) takes
// n / block_size * type_size bytes.
typedef struct {
    const char *name;   // "Q4_K", "F16", ...; NULL for an unassigned id
    int block_size;     // elements per block (1 for plain types)
    size_t type_size;   // bytes per block
    bool quantized;     // a block-quantized type (not F32/F16/BF16/F64/integers)
} kv_type_traits;

// Traits of a type id, or NULL when the id is unknown (unassigned or >= KV_TYPE_COUNT).
// Thread-safe; the pointer is valid for the life of the program.
const kv_type_traits *kv_type_get(uint32_t id);

// Name of a type id, or "?" when unknown.
const char *kv_type_name(uint32_t id);

// Looks up a type by name, case-insensitively ("q4_k", "F16"); -1 when unknown.
int kv_type_from_name(const char *name);

// Bytes of a row of n elements; 0 when n is not a multiple of the block size.
size_t kv_type_row_size(kv_type t, int64_t n);

#endif
