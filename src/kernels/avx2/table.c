// The AVX2 kernel table: every slot of a reference table that has an AVX2
// version gets it. Weight types keep the reference's activation pairing (ggml's,
// ref/dot_pairs.c), so from_float and vec_dot stay consistent; slots without an
// AVX2 version (the dequantizing fallback, matmul's driver) stay as they were.
#if defined(__AVX2__)
#include "kernels/avx2/avx2.h"

#include "kernels/kernels.h"

static const struct {
    kv_type w, act;
    kv_vec_dot_fn dot;
} DOTS[] = {
    {KV_TYPE_F32, KV_TYPE_F32, kv_dot_f32_f32_avx2},
    {KV_TYPE_BF16, KV_TYPE_BF16, kv_dot_bf16_bf16_avx2},
    {KV_TYPE_Q4_0, KV_TYPE_Q8_0, kv_dot_q4_0_q8_0_avx2},
    {KV_TYPE_Q4_1, KV_TYPE_Q8_1, kv_dot_q4_1_q8_1_avx2},
    {KV_TYPE_Q5_0, KV_TYPE_Q8_0, kv_dot_q5_0_q8_0_avx2},
    {KV_TYPE_Q5_1, KV_TYPE_Q8_1, kv_dot_q5_1_q8_1_avx2},
    {KV_TYPE_Q8_0, KV_TYPE_Q8_0, kv_dot_q8_0_q8_0_avx2},
    {KV_TYPE_IQ4_NL, KV_TYPE_Q8_0, kv_dot_iq4_nl_q8_0_avx2},
    {KV_TYPE_Q2_K, KV_TYPE_Q8_K, kv_dot_q2_k_q8_k_avx2},
    {KV_TYPE_Q3_K, KV_TYPE_Q8_K, kv_dot_q3_k_q8_k_avx2},
    {KV_TYPE_Q4_K, KV_TYPE_Q8_K, kv_dot_q4_k_q8_k_avx2},
    {KV_TYPE_Q5_K, KV_TYPE_Q8_K, kv_dot_q5_k_q8_k_avx2},
    {KV_TYPE_Q6_K, KV_TYPE_Q8_K, kv_dot_q6_k_q8_k_avx2},
    {KV_TYPE_IQ4_XS, KV_TYPE_Q8_K, kv_dot_iq4_xs_q8_k_avx2},
    {KV_TYPE_TQ1_0, KV_TYPE_Q8_K, kv_dot_tq1_0_q8_k_avx2},
    {KV_TYPE_TQ2_0, KV_TYPE_Q8_K, kv_dot_tq2_0_q8_k_avx2},
    {KV_TYPE_IQ3_XXS, KV_TYPE_Q8_K, kv_dot_iq3_xxs_q8_k_avx2},
    {KV_TYPE_IQ3_S, KV_TYPE_Q8_K, kv_dot_iq3_s_q8_k_avx2},
    {KV_TYPE_IQ2_XXS, KV_TYPE_Q8_K, kv_dot_iq2_xxs_q8_k_avx2},
    {KV_TYPE_IQ2_XS, KV_TYPE_Q8_K, kv_dot_iq2_xs_q8_k_avx2},
    {KV_TYPE_IQ2_S, KV_TYPE_Q8_K, kv_dot_iq2_s_q8_k_avx2},
    {KV_TYPE_IQ1_S, KV_TYPE_Q8_K, kv_dot_iq1_s_q8_k_avx2},
    {KV_TYPE_IQ1_M, KV_TYPE_Q8_K, kv_dot_iq1_m_q8_k_avx2},
};

// Weight types with register tiles (tile_f16.c, tile_bf16.c, tile_q.h, tile_k.h), in AVX2
// and AVX-VNNI builds (F16 and BF16 have no VNNI build: no integer products).
static const struct {
    kv_type w, act;
    kv_vec_dot_fn dot, dot_vnni;
    kv_tile_fn tile, tile_vnni;
    int nw, nx;
} TILES[] = {
    {KV_TYPE_F16, KV_TYPE_F16, kv_dot_f16_f16_avx2, kv_dot_f16_f16_avx2, kv_tile_f16_f16_avx2,
     kv_tile_f16_f16_avx2, KV_AVX2_TILE_F16_NW, KV_AVX2_TILE_F16_NX},
    {KV_TYPE_BF16, KV_TYPE_BF16, kv_dot_bf16_bf16_avx2, kv_dot_bf16_bf16_avx2,
     kv_tile_bf16_bf16_avx2, kv_tile_bf16_bf16_avx2, KV_AVX2_TILE_BF16_NW, KV_AVX2_TILE_BF16_NX},
    {KV_TYPE_Q4_0, KV_TYPE_Q8_0, kv_dot_q4_0_q8_0_avx2, kv_dot_q4_0_q8_0_avxvnni,
     kv_tile_q4_0_q8_0_avx2, kv_tile_q4_0_q8_0_avxvnni, KV_AVX2_TILE_NW, KV_AVX2_TILE_NX},
    {KV_TYPE_Q8_0, KV_TYPE_Q8_0, kv_dot_q8_0_q8_0_avx2, kv_dot_q8_0_q8_0_avxvnni,
     kv_tile_q8_0_q8_0_avx2, kv_tile_q8_0_q8_0_avxvnni, KV_AVX2_TILE_NW, KV_AVX2_TILE_NX},
    {KV_TYPE_Q4_K, KV_TYPE_Q8_K, kv_dot_q4_k_q8_k_avx2, kv_dot_q4_k_q8_k_avxvnni,
     kv_tile_q4_k_q8_k_avx2, kv_tile_q4_k_q8_k_avxvnni, KV_AVX2_TILE_K_NW, KV_AVX2_TILE_K_NX},
    {KV_TYPE_Q6_K, KV_TYPE_Q8_K, kv_dot_q6_k_q8_k_avx2, kv_dot_q6_k_q8_k_avxvnni,
     kv_tile_q6_k_q8_k_avx2, kv_tile_q6_k_q8_k_avxvnni, KV_AVX2_TILE_K_NW, KV_AVX2_TILE_K_NX},
    {KV_TYPE_Q5_K, KV_TYPE_Q8_K, kv_dot_q5_k_q8_k_avx2, kv_dot_q5_k_q8_k_avxvnni,
     kv_tile_q5_k_q8_k_avx2, kv_tile_q5_k_q8_k_avxvnni, KV_AVX2_TILE_K_NW, KV_AVX2_TILE_K_NX},
    {KV_TYPE_IQ4_XS, KV_TYPE_Q8_K, kv_dot_iq4_xs_q8_k_avx2, kv_dot_iq4_xs_q8_k_avxvnni,
     kv_tile_iq4_xs_q8_k_avx2, kv_tile_iq4_xs_q8_k_avxvnni, KV_AVX2_TILE_K_NW, KV_AVX2_TILE_K_NX},
    // IQ3 tiles have no VNNI variant: the same functions in both tables
    {KV_TYPE_IQ3_XXS, KV_TYPE_Q8_K, kv_dot_iq3_xxs_q8_k_avx2, kv_dot_iq3_xxs_q8_k_avx2,
     kv_tile_iq3_xxs_q8_k_avx2, kv_tile_iq3_xxs_q8_k_avx2, KV_AVX2_TILE_IQ3_NW, KV_AVX2_TILE_IQ3_NX},
    {KV_TYPE_IQ3_S, KV_TYPE_Q8_K, kv_dot_iq3_s_q8_k_avx2, kv_dot_iq3_s_q8_k_avx2,
     kv_tile_iq3_s_q8_k_avx2, kv_tile_iq3_s_q8_k_avx2, KV_AVX2_TILE_IQ3_NW, KV_AVX2_TILE_IQ3_NX},
    // nor do the 8-wide lattice i-quants (dot_iq.c)
    {KV_TYPE_IQ2_XXS, KV_TYPE_Q8_K, kv_dot_iq2_xxs_q8_k_avx2, kv_dot_iq2_xxs_q8_k_avx2,
     kv_tile_iq2_xxs_q8_k_avx2, kv_tile_iq2_xxs_q8_k_avx2, KV_AVX2_TILE_IQ_NW, KV_AVX2_TILE_IQ_NX},
    {KV_TYPE_IQ2_XS, KV_TYPE_Q8_K, kv_dot_iq2_xs_q8_k_avx2, kv_dot_iq2_xs_q8_k_avx2,
     kv_tile_iq2_xs_q8_k_avx2, kv_tile_iq2_xs_q8_k_avx2, KV_AVX2_TILE_IQ_NW, KV_AVX2_TILE_IQ_NX},
    {KV_TYPE_IQ2_S, KV_TYPE_Q8_K, kv_dot_iq2_s_q8_k_avx2, kv_dot_iq2_s_q8_k_avx2,
     kv_tile_iq2_s_q8_k_avx2, kv_tile_iq2_s_q8_k_avx2, KV_AVX2_TILE_IQ_NW, KV_AVX2_TILE_IQ_NX},
    {KV_TYPE_IQ1_S, KV_TYPE_Q8_K, kv_dot_iq1_s_q8_k_avx2, kv_dot_iq1_s_q8_k_avx2,
     kv_tile_iq1_s_q8_k_avx2, kv_tile_iq1_s_q8_k_avx2, KV_AVX2_TILE_IQ_NW, KV_AVX2_TILE_IQ_NX},
    {KV_TYPE_IQ1_M, KV_TYPE_Q8_K, kv_dot_iq1_m_q8_k_avx2, kv_dot_iq1_m_q8_k_avx2,
     kv_tile_iq1_m_q8_k_avx2, kv_tile_iq1_m_q8_k_avx2, KV_AVX2_TILE_IQ_NW, KV_AVX2_TILE_IQ_NX},
};

static void fill_tiles(kv_kernels *k, bool vnni) {
    for (size_t i = 0; i < sizeof TILES / sizeof TILES[0]; i++) {
        kv_type_kernels *t = &k->types[TILES[i].w];
        if (t->vec_dot_type != TILES[i].act)
            continue;
        t->vec_dot = vnni ? TILES[i].dot_vnni : TILES[i].dot;
        t->tile = vnni ? TILES[i].tile_vnni : TILES[i].tile;
        t->tile_nw = TILES[i].nw;
        t->tile_nx = TILES[i].nx;
    }
}

// Weight types with a packed path for batches (pack_q.h, pack_k.h, pack_bf16.c).
static const struct {
    kv_type w, act;
    kv_pack_fn pack;
    size_t (*size)(int64_t n);
    kv_packed_tile_fn tile, tile_vnni;
    int nw, nx, min_rows;
} PACKED[] = {
    {KV_TYPE_Q4_0, KV_TYPE_Q8_0, kv_pack_q4_0_x16, kv_pack_size_q4_0_x16,
     kv_packed_q4_0_q8_0_avx2, kv_packed_q4_0_q8_0_avxvnni, KV_AVX2_PACK_Q_NW,
     KV_AVX2_PACK_Q_NX, KV_AVX2_PACK_Q_MIN_ROWS},
    {KV_TYPE_Q4_K, KV_TYPE_Q8_K, kv_pack_q4_k_x8, kv_pack_size_q4_k_x8,
     kv_packed_q4_k_q8_k_avx2, kv_packed_q4_k_q8_k_avxvnni, KV_AVX2_PACK_K_NW,
     KV_AVX2_PACK_K_NX, KV_AVX2_PACK_K_MIN_ROWS},
    {KV_TYPE_Q6_K, KV_TYPE_Q8_K, kv_pack_q6_k_x8, kv_pack_size_q6_k_x8,
     kv_packed_q6_k_q8_k_avx2, kv_packed_q6_k_q8_k_avxvnni, KV_AVX2_PACK_K_NW,
     KV_AVX2_PACK_K_NX, KV_AVX2_PACK_K_MIN_ROWS},
    {KV_TYPE_Q5_K, KV_TYPE_Q8_K, kv_pack_q5_k_x8, kv_pack_size_q5_k_x8,
     kv_packed_q5_k_q8_k_avx2, kv_packed_q5_k_q8_k_avxvnni, KV_AVX2_PACK_K_NW,
     KV_AVX2_PACK_K_NX, KV_AVX2_PACK_K_MIN_ROWS},
    {KV_TYPE_IQ4_XS, KV_TYPE_Q8_K, kv_pack_iq4_xs_x8, kv_pack_size_iq4_xs_x8,
     kv_packed_iq4_xs_q8_k_avx2, kv_packed_iq4_xs_q8_k_avxvnni, KV_AVX2_PACK_K_NW,
     KV_AVX2_PACK_K_NX, KV_AVX2_PACK_K_MIN_ROWS},
    // no integer products: one function in both builds
    {KV_TYPE_BF16, KV_TYPE_BF16, kv_pack_bf16_x3, kv_pack_size_bf16_x3, kv_packed_bf16_bf16_avx2,
     kv_packed_bf16_bf16_avx2, KV_AVX2_PACK_BF16_NW, KV_AVX2_PACK_BF16_NX,
     KV_AVX2_PACK_BF16_MIN_ROWS},
};

static void fill_packed(kv_kernels *k, bool vnni) {
    for (size_t i = 0; i < sizeof PACKED / sizeof PACKED[0]; i++) {
        kv_type_kernels *t = &k->types[PACKED[i].w];
        if (t->vec_dot_type != PACKED[i].act)
            continue;
        t->pack = PACKED[i].pack;
        t->pack_size = PACKED[i].size;
        t->tile_packed = vnni ? PACKED[i].tile_vnni : PACKED[i].tile;
        t->pack_nw = PACKED[i].nw;
        t->pack_nx = PACKED[i].nx;
        t->pack_min_rows = PACKED[i].min_rows;
    }
}

void kv__kernels_fill_avx2(kv_kernels *k, bool vnni) {
    k->name = vnni ? "avx2-vnni" : "avx2";
    for (size_t i = 0; i < sizeof DOTS / sizeof DOTS[0]; i++)
        if (k->types[DOTS[i].w].vec_dot_type == DOTS[i].act)
            k->types[DOTS[i].w].vec_dot = DOTS[i].dot;
    fill_tiles(k, vnni);
    fill_packed(k, vnni);
    k->from_float[KV_TYPE_F16] = kv_from_float_f16_avx2;
    k->from_float[KV_TYPE_BF16] = kv_from_float_bf16_avx2;
    k->from_float[KV_TYPE_Q8_0] = kv_from_float_q8_0_avx2;
    k->from_float[KV_TYPE_Q8_1] = kv_from_float_q8_1_avx2;
    k->from_float[KV_TYPE_Q8_K] = kv_from_float_q8_k_avx2;
    k->to_float[KV_TYPE_F16] = kv_to_float_f16_avx2;
    k->to_float[KV_TYPE_BF16] = kv_to_float_bf16_avx2;
    k->rmsnorm = kv_rmsnorm_avx2;
    k->softmax = kv_softmax_avx2;
    k->silu_mul = kv_silu_mul_avx2;
    k->add = kv_add_avx2;
    k->dot_f16_f32 = kv_dot_f16_f32_avx2;
    k->dot_f16_tile = kv_dot_f16_tile_avx2;
    k->axpy_f16 = kv_axpy_f16_avx2;
    k->axpy_f16_rows = kv_axpy_f16_rows_avx2;
    k->axpy_rows[KV_TYPE_F32] = kv_axpy_rows_f32_avx2;
    k->axpy_rows[KV_TYPE_Q8_0] = kv_axpy_rows_q8_0_avx2;
    k->axpy_rows[KV_TYPE_Q4_0] = kv_axpy_rows_q4_0_avx2;
    k->rope = kv_rope_avx2;
}

#endif
