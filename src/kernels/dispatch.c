// Chooses the kernel table once per process. On x86-64 the widest the CPU runs:
// the AMX table (AMX-INT8 granted by the OS, kernels/amx), else the AVX-512
// table (F/BW/VL/VNNI, kernels/avx512), else the AVX2 table (AVX2, FMA, F16C;
// with its VNNI builds where the CPU has AVX-VNNI); each wider table is the one
// below it plus faster paths with the same bits. On aarch64 Linux CPUs with the
// dot-product extension the NEON table; else the scalar reference.
// KVANT_KERNELS narrows the choice for comparisons and tests: ref (the
// reference), avx2 (the AVX2 table without its VNNI builds), avx2-vnni (the
// AVX2 table), avx512 (no AMX); a table the CPU lacks falls back to the best
// below it. Weight types take ggml's activation pairing (ref/dot_pairs.c);
// types without a paired dot fall back to dequantizing with F32 activations.
#include "kernels/kernels.h"

#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "kernels/avx2/avx2.h"
#include "kernels/amx/amx.h"
#include "kernels/avx512/avx512.h"
#include "kernels/ref/dot_ref.h"

#if defined(__aarch64__) && defined(__linux__)
#include <sys/auxv.h>

#include "kernels/neon/neon.h"
#endif

static kv_kernels ref_table;
static pthread_once_t ref_once = PTHREAD_ONCE_INIT;
static const kv_kernels *chosen;
static pthread_once_t chosen_once = PTHREAD_ONCE_INIT;

static void init_ref(void) {
    kv_kernels *k = &ref_table;
    k->name = "ref";
    for (int t = 0; t < KV_TYPE_COUNT; t++)
        k->types[t].vec_dot_type = KV_TYPE_F32;
    kv__kernels_fill_dequant_ref(k);
    for (int t = 0; t < KV_TYPE_COUNT; t++) {
        const kv__dot_pair *pair = kv__dot_pair_ref((kv_type)t);
        if (pair) {
            k->types[t].vec_dot_type = pair->act;
            k->types[t].vec_dot = pair->dot;
        }
    }
    k->from_float[KV_TYPE_F32] = kv_from_float_f32_ref;
    k->from_float[KV_TYPE_F16] = kv_from_float_f16_ref;
    k->from_float[KV_TYPE_BF16] = kv_from_float_bf16_ref;
    k->from_float[KV_TYPE_Q8_0] = kv_from_float_q8_0_ref;
    k->from_float[KV_TYPE_Q8_1] = kv_from_float_q8_1_ref;
    k->from_float[KV_TYPE_Q8_K] = kv_from_float_q8_k_ref;
    k->to_float[KV_TYPE_F32] = kv_to_float_f32_ref;
    k->to_float[KV_TYPE_F16] = kv_to_float_f16_ref;
    k->to_float[KV_TYPE_BF16] = kv_to_float_bf16_ref;
    k->matmul = kv_matmul_ref;
    k->rmsnorm = kv_rmsnorm_ref;
    k->softmax = kv_softmax_ref;
    k->silu_mul = kv_silu_mul_ref;
    k->add = kv_add_ref;
    k->dot_f16_f32 = kv_dot_f16_f32_ref;
    k->dot_f16_tile = kv_dot_f16_tile_ref;
    k->axpy_f16 = kv_axpy_f16_ref;
    k->axpy_rows[KV_TYPE_F32] = kv_axpy_rows_f32_ref;
    k->axpy_rows[KV_TYPE_Q8_0] = kv_axpy_rows_q8_0_ref;
    k->axpy_rows[KV_TYPE_Q4_0] = kv_axpy_rows_q4_0_ref;
    k->rope = kv_rope_ref;
}

const kv_kernels *kv_kernels_ref(void) {
    pthread_once(&ref_once, init_ref);
    return &ref_table;
}

// ---- NEON: aarch64 Linux with the dot-product extension (neon/table.c) ----
#if defined(__aarch64__) && defined(__linux__)
static kv_kernels neon_table;
static pthread_once_t neon_once = PTHREAD_ONCE_INIT;

static void init_neon(void) {
    if (!(getauxval(AT_HWCAP) & HWCAP_ASIMDDP))
        return; // name stays NULL: no table
    neon_table = *kv_kernels_ref();
    kv__kernels_fill_neon(&neon_table);
}

const kv_kernels *kv__kernels_neon(void) {
    pthread_once(&neon_once, init_neon);
    return neon_table.name ? &neon_table : NULL;
}
#else
const kv_kernels *kv__kernels_neon(void) { return NULL; }
#endif

// The best SIMD table this CPU runs, or NULL
#if defined(__x86_64__)
static kv_kernels simd_table;

static const kv_kernels *simd(void) {
    if (!kv__cpu_has_avx2())
        return NULL;
    simd_table = *kv_kernels_ref();
    const char *want = getenv("KVANT_KERNELS");
    const bool avx2_only = want && (strcmp(want, "avx2") == 0 || strcmp(want, "avx2-vnni") == 0);
    if (!avx2_only && !(want && strcmp(want, "avx512") == 0) && kv__cpu_has_amx()) {
        kv__kernels_fill_amx(&simd_table);
        return &simd_table;
    }
    if (kv__cpu_has_avx512() && !avx2_only) {
        kv__kernels_fill_avx512(&simd_table);
        return &simd_table;
    }
    const bool vnni = kv__cpu_has_avxvnni() && !(want && strcmp(want, "avx2") == 0);
    kv__kernels_fill_avx2(&simd_table, vnni);
    return &simd_table;
}
#else
static const kv_kernels *simd(void) { return kv__kernels_neon(); }
#endif

static void choose(void) {
    const char *want = getenv("KVANT_KERNELS");
    const kv_kernels *k = want != NULL && strcmp(want, "ref") == 0 ? NULL : simd();
    chosen = k != NULL ? k : kv_kernels_ref();
}

const kv_kernels *kv_kernels_get(void) {
    pthread_once(&chosen_once, choose);
    return chosen;
}
