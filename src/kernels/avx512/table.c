// The AVX-512 kernel table: the AVX2 table (with its AVX-VNNI builds where the
// CPU has them, same bits either way) and, on top, the 512-bit packed paths of
// F16, BF16, Q4_0, Q8_0, Q4_K, Q5_K, Q6_K and IQ4_XS for prompt batches, and
// attention's value sums over F32, Q8_0 and Q4_0 caches (attn.c). Every other
// slot stays the AVX2 table's; the packed tiles give the bits of its vec_dot
// (avx512.h), the value sums those of the reference.
#if defined(__AVX512VNNI__) && defined(__AVX512BW__) && defined(__AVX512VL__)
#include "kernels/avx512/avx512.h"

#include "kernels/avx2/avx2.h"

static const struct {
    kv_type w, act;
    kv_pack_fn pack;
    size_t (*size)(int64_t n);
    kv_packed_tile_fn tile;
    int nw, nx, min_rows;
} PACKED[] = {
    {KV_TYPE_F16, KV_TYPE_F16, kv_pack_f16_x8_avx512, kv_pack_size_f16_x8_avx512,
     kv_packed_f16_f16_avx512, KV_AVX512_PACK_F16_NW, KV_AVX512_PACK_F16_NX,
     KV_AVX512_PACK_F16_MIN_ROWS},
    {KV_TYPE_BF16, KV_TYPE_BF16, kv_pack_bf16_x4_avx512, kv_pack_size_bf16_x4_avx512,
     kv_packed_bf16_bf16_avx512, KV_AVX512_PACK_BF16_NW, KV_AVX512_PACK_BF16_NX,
     KV_AVX512_PACK_BF16_MIN_ROWS},
    {KV_TYPE_Q4_0, KV_TYPE_Q8_0, kv_pack_q4_0_x16_avx512, kv_pack_size_q4_0_x16_avx512,
     kv_packed_q4_0_q8_0_avx512, KV_AVX512_PACK_Q_NW, KV_AVX512_PACK_Q_NX,
     KV_AVX512_PACK_Q_MIN_ROWS},
    {KV_TYPE_Q8_0, KV_TYPE_Q8_0, kv_pack_q8_0_x16_avx512, kv_pack_size_q8_0_x16_avx512,
     kv_packed_q8_0_q8_0_avx512, KV_AVX512_PACK_Q_NW, KV_AVX512_PACK_Q_NX,
     KV_AVX512_PACK_Q_MIN_ROWS},
    {KV_TYPE_Q4_K, KV_TYPE_Q8_K, kv_pack_q4_k_x16_avx512, kv_pack_size_q4_k_x16_avx512,
     kv_packed_q4_k_q8_k_avx512, KV_AVX512_PACK_K_NW, KV_AVX512_PACK_K_NX,
     KV_AVX512_PACK_K_MIN_ROWS},
    {KV_TYPE_Q6_K, KV_TYPE_Q8_K, kv_pack_q6_k_x16_avx512, kv_pack_size_q6_k_x16_avx512,
     kv_packed_q6_k_q8_k_avx512, KV_AVX512_PACK_K_NW, KV_AVX512_PACK_K_NX,
     KV_AVX512_PACK_K_MIN_ROWS},
    {KV_TYPE_Q5_K, KV_TYPE_Q8_K, kv_pack_q5_k_x16_avx512, kv_pack_size_q5_k_x16_avx512,
     kv_packed_q5_k_q8_k_avx512, KV_AVX512_PACK_K_NW, KV_AVX512_PACK_K_NX,
     KV_AVX512_PACK_K_MIN_ROWS},
    {KV_TYPE_IQ4_XS, KV_TYPE_Q8_K, kv_pack_iq4_xs_x16_avx512, kv_pack_size_iq4_xs_x16_avx512,
     kv_packed_iq4_xs_q8_k_avx512, KV_AVX512_PACK_K_NW, KV_AVX512_PACK_K_NX,
     KV_AVX512_PACK_K_MIN_ROWS},
};

void kv__kernels_fill_avx512(kv_kernels *k) {
    kv__kernels_fill_avx2(k, kv__cpu_has_avxvnni());
    k->name = "avx512";
    k->axpy_rows[KV_TYPE_F32] = kv_axpy_rows_f32_avx512;
    k->axpy_rows[KV_TYPE_Q8_0] = kv_axpy_rows_q8_0_avx512;
    k->axpy_rows[KV_TYPE_Q4_0] = kv_axpy_rows_q4_0_avx512;
    for (size_t i = 0; i < sizeof PACKED / sizeof PACKED[0]; i++) {
        kv_type_kernels *t = &k->types[PACKED[i].w];
        if (t->vec_dot_type != PACKED[i].act)
            continue;
        t->pack = PACKED[i].pack;
        t->pack_size = PACKED[i].size;
        t->tile_packed = PACKED[i].tile;
        t->pack_nw = PACKED[i].nw;
        t->pack_nx = PACKED[i].nx;
        t->pack_min_rows = PACKED[i].min_rows;
    }
}

#endif
