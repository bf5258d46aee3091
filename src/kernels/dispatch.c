// Chooses the kernel table once per process. Only the scalar reference table
// exists so far; SIMD tables will be picked here from CPU features, and
// KVANT_KERNELS=ref keeps the reference for debugging and tests.
#include "kernels/kernels.h"

#include <pthread.h>
#include <stdlib.h>
#include <string.h>

static kv_kernels ref_table;
static pthread_once_t ref_once = PTHREAD_ONCE_INIT;
static const kv_kernels *chosen;
static pthread_once_t chosen_once = PTHREAD_ONCE_INIT;

static void init_ref(void) {
    kv_kernels *k = &ref_table;
    k->name = "ref";
    for (int t = 0; t < KV_TYPE_COUNT; t++)
        k->types[t].vec_dot_type = KV_TYPE_F32;
    k->types[KV_TYPE_F32].vec_dot = kv_dot_f32_ref;
    k->types[KV_TYPE_F16].vec_dot = kv_dot_f16_f32_ref;
    k->types[KV_TYPE_BF16].vec_dot = kv_dot_bf16_f32_ref;
    kv__kernels_fill_dequant_ref(k);
    k->from_float[KV_TYPE_F32] = kv_from_float_f32_ref;
    k->from_float[KV_TYPE_F16] = kv_from_float_f16_ref;
    k->from_float[KV_TYPE_BF16] = kv_from_float_bf16_ref;
    k->to_float[KV_TYPE_F32] = kv_to_float_f32_ref;
    k->to_float[KV_TYPE_F16] = kv_to_float_f16_ref;
    k->to_float[KV_TYPE_BF16] = kv_to_float_bf16_ref;
    k->matmul = kv_matmul_ref;
    k->rmsnorm = kv_rmsnorm_ref;
    k->softmax = kv_softmax_ref;
    k->silu_mul = kv_silu_mul_ref;
    k->add = kv_add_ref;
    k->axpy_f16 = kv_axpy_f16_ref;
    k->rope = kv_rope_ref;
}

const kv_kernels *kv_kernels_ref(void) {
    pthread_once(&ref_once, init_ref);
    return &ref_table;
}

static void choose(void) {
    // Every value of KVANT_KERNELS, "ref" included, picks the reference table
    // until SIMD tables exist; then "ref" will be the way to force it.
    chosen = kv_kernels_ref();
}

const kv_kernels *kv_kernels_get(void) {
    pthread_once(&chosen_once, choose);
    return chosen;
}
