// The NEON dispatch table: the reference table with every slot that has a NEON
// version replaced (dispatch.c makes the copy and checks the CPU first), and
// register tiles for the weight types that have them (the matmul driver uses
// them for batches). The
// activation converters keep the reference table's contract: a row with a NaN
// or an infinity becomes zeros; other rows get the quantizer's bytes.
#if defined(__ARM_NEON) && defined(__aarch64__)
#if !defined(__ARM_FEATURE_DOTPROD)
#error "kernels/neon needs -march=armv8.2-a+dotprod (cmake/kv_kernels.cmake)"
#endif

#include <math.h>
#include <stdbool.h>

#include "kernels/kernels.h"
#include "kernels/neon/neon.h"
#include "kernels/neon/neon_util.h"

// Whether all n floats are finite (|x| < inf is false for NaN too).
static bool all_finite(const float *x, int64_t n) {
    const float32x4_t inf = vdupq_n_f32(INFINITY);
    uint32x4_t ok = vdupq_n_u32(~0u);
    int64_t i = 0;
    for (; i + 4 <= n; i += 4)
        ok = vandq_u32(ok, vcaltq_f32(vld1q_f32(x + i), inf));
    for (; i < n; i++)
        if (!(x[i] < INFINITY && x[i] > -INFINITY))
            return false;
    return vminvq_u32(ok) != 0;
}

static void from_float_q8_0(const float *x, void *y, int64_t n) {
    if (all_finite(x, n))
        kv_from_float_q8_0_neon(x, y, n);
    else
        memset(y, 0, kv_type_row_size(KV_TYPE_Q8_0, n));
}

static void from_float_q8_1(const float *x, void *y, int64_t n) {
    if (all_finite(x, n))
        kv_from_float_q8_1_neon(x, y, n);
    else
        memset(y, 0, kv_type_row_size(KV_TYPE_Q8_1, n));
}

static void from_float_q8_k(const float *x, void *y, int64_t n) {
    if (all_finite(x, n))
        kv_from_float_q8_k_neon(x, y, n);
    else
        memset(y, 0, kv_type_row_size(KV_TYPE_Q8_K, n));
}

// F16 <-> F32 rows (FCVTL / FCVTN round to nearest even, as kv_f32_to_f16 does)
static void to_float_f16(const void *x, float *y, int64_t n) {
    const kv_f16 *h = x;
    int64_t i = 0;
    for (; i + 4 <= n; i += 4)
        vst1q_f32(y + i, vcvt_f32_f16(vreinterpret_f16_u16(vld1_u16(h + i))));
    if (i < n)
        kv_to_float_f16_ref(h + i, y + i, n - i);
}

static void from_float_f16(const float *x, void *y, int64_t n) {
    kv_f16 *h = y;
    int64_t i = 0;
    for (; i + 4 <= n; i += 4)
        vst1_u16(h + i, vreinterpret_u16_f16(vcvt_f16_f32(vld1q_f32(x + i))));
    if (i < n)
        kv_from_float_f16_ref(x + i, h + i, n - i);
}

// Weight types with register tiles (tile_q.c, tile_k.c): the tile's full
// shape; their vec_dot (in DOTS) is the tile's 1 x 1 case.
static void fill_tiles(kv_kernels *k) {
    static const struct {
        kv_type w;
        kv_vec_dot_fn dot;
        kv_tile_fn tile;
        int nw, nx;
    } TILES[] = {
        {KV_TYPE_Q4_0, kv_dot_q4_0_q8_0_neon, kv_tile_q4_0_q8_0_neon, KV_NEON_TILE_NW,
         KV_NEON_TILE_NX},
        {KV_TYPE_Q8_0, kv_dot_q8_0_q8_0_neon, kv_tile_q8_0_q8_0_neon, KV_NEON_TILE_NW,
         KV_NEON_TILE_NX},
        {KV_TYPE_Q4_K, kv_dot_q4_k_q8_k_neon, kv_tile_q4_k_q8_k_neon, 1, KV_NEON_TILE_K_NX},
        {KV_TYPE_Q6_K, kv_dot_q6_k_q8_k_neon, kv_tile_q6_k_q8_k_neon, 1, KV_NEON_TILE_K_NX},
        {KV_TYPE_IQ3_XXS, kv_dot_iq3_xxs_q8_k_neon, kv_tile_iq3_xxs_q8_k_neon, 1,
         KV_NEON_TILE_IQ3_NX},
        {KV_TYPE_IQ3_S, kv_dot_iq3_s_q8_k_neon, kv_tile_iq3_s_q8_k_neon, 1, KV_NEON_TILE_IQ3_NX},
    };
    for (size_t i = 0; i < sizeof TILES / sizeof TILES[0]; i++) {
        kv_type_kernels *t = &k->types[TILES[i].w];
        if (t->vec_dot != TILES[i].dot)
            continue; // the slot kept another pairing: the tile would not match its vec_dot
        t->tile = TILES[i].tile;
        t->tile_nw = TILES[i].nw;
        t->tile_nx = TILES[i].nx;
    }
}

void kv__kernels_fill_neon(kv_kernels *k) {
    static const struct {
        kv_type w;
        kv_vec_dot_fn dot;
    } DOTS[] = {
        {KV_TYPE_F32, kv_dot_f32_f32_neon},        {KV_TYPE_F16, kv_dot_f16_f16_neon},
        {KV_TYPE_BF16, kv_dot_bf16_bf16_neon},     {KV_TYPE_Q4_0, kv_dot_q4_0_q8_0_neon},
        {KV_TYPE_Q4_1, kv_dot_q4_1_q8_1_neon},     {KV_TYPE_Q5_0, kv_dot_q5_0_q8_0_neon},
        {KV_TYPE_Q5_1, kv_dot_q5_1_q8_1_neon},     {KV_TYPE_Q8_0, kv_dot_q8_0_q8_0_neon},
        {KV_TYPE_IQ4_NL, kv_dot_iq4_nl_q8_0_neon}, {KV_TYPE_Q2_K, kv_dot_q2_k_q8_k_neon},
        {KV_TYPE_Q3_K, kv_dot_q3_k_q8_k_neon},     {KV_TYPE_Q4_K, kv_dot_q4_k_q8_k_neon},
        {KV_TYPE_Q5_K, kv_dot_q5_k_q8_k_neon},     {KV_TYPE_Q6_K, kv_dot_q6_k_q8_k_neon},
        {KV_TYPE_IQ4_XS, kv_dot_iq4_xs_q8_k_neon}, {KV_TYPE_TQ1_0, kv_dot_tq1_0_q8_k_neon},
        {KV_TYPE_TQ2_0, kv_dot_tq2_0_q8_k_neon},
        {KV_TYPE_IQ3_XXS, kv_dot_iq3_xxs_q8_k_neon}, {KV_TYPE_IQ3_S, kv_dot_iq3_s_q8_k_neon},
        {KV_TYPE_IQ2_XXS, kv_dot_iq2_xxs_q8_k_neon}, {KV_TYPE_IQ2_XS, kv_dot_iq2_xs_q8_k_neon},
        {KV_TYPE_IQ2_S, kv_dot_iq2_s_q8_k_neon},     {KV_TYPE_IQ1_S, kv_dot_iq1_s_q8_k_neon},
        {KV_TYPE_IQ1_M, kv_dot_iq1_m_q8_k_neon},
    };
    k->name = "neon";
    for (size_t i = 0; i < sizeof DOTS / sizeof DOTS[0]; i++) {
        const kv__dot_pair *pair = kv__dot_pair_ref(DOTS[i].w);
        if (pair != NULL && k->types[DOTS[i].w].vec_dot == pair->dot) // the pair's slot
            k->types[DOTS[i].w].vec_dot = DOTS[i].dot;
    }
    fill_tiles(k);
    k->from_float[KV_TYPE_Q8_0] = from_float_q8_0;
    k->from_float[KV_TYPE_Q8_1] = from_float_q8_1;
    k->from_float[KV_TYPE_Q8_K] = from_float_q8_k;
    k->from_float[KV_TYPE_F16] = from_float_f16;
    k->to_float[KV_TYPE_F16] = to_float_f16;
    k->rmsnorm = kv_rmsnorm_neon;
    k->softmax = kv_softmax_neon;
    k->silu_mul = kv_silu_mul_neon;
    k->add = kv_add_neon;
    k->dot_f16_f32 = kv_dot_f16_f32_neon;
    k->dot_f16_tile = kv_dot_f16_tile_neon;
    k->axpy_f16 = kv_axpy_f16_neon;
    k->rope = kv_rope_neon;
}

#endif
