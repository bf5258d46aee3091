// The AMX kernel table: the AVX-512 table with the AMX packed paths of Q4_0,
// Q8_0, Q4_K and Q6_K for prompt batches (amx.h); same bits as the AVX2
// table's vec_dot.
#if (defined(__AMX_INT8__) || defined(__AMXINT8__)) && defined(__AVX512VNNI__) // gcc, clang names
#include "kernels/amx/amx.h"

#include "kernels/avx512/avx512.h"

void kv__kernels_fill_amx(kv_kernels *k) {
    kv__kernels_fill_avx512(k);
    k->name = "amx";
    const struct {
        kv_type w;
        kv_pack_fn pack;
    } PACKED[] = {{KV_TYPE_Q4_0, kv_pack_q4_0_x16_amx}, {KV_TYPE_Q8_0, kv_pack_q8_0_x16_amx}};
    for (size_t i = 0; i < sizeof PACKED / sizeof PACKED[0]; i++) {
        kv_type_kernels *t = &k->types[PACKED[i].w];
        if (t->vec_dot_type != KV_TYPE_Q8_0)
            continue;
        t->pack = PACKED[i].pack;
        t->pack_size = kv_pack_size_q_x16_amx;
        t->tile_packed = kv_packed_q_q8_0_amx;
        t->pack_nw = KV_AMX_PACK_Q_NW;
        t->pack_nx = KV_AMX_PACK_Q_NX;
        t->pack_min_rows = KV_AMX_PACK_Q_MIN_ROWS;
    }
    const struct { // Q4_K and Q6_K: pack_k.c
        kv_type w;
        kv_pack_fn pack;
        size_t (*size)(int64_t n);
        kv_packed_tile_fn tile;
    } PACKED_K[] = {{KV_TYPE_Q4_K, kv_pack_q4_k_amx, kv_pack_size_q4_k_amx, kv_packed_q4_k_q8_k_amx},
                    {KV_TYPE_Q6_K, kv_pack_q6_k_amx, kv_pack_size_q6_k_amx, kv_packed_q6_k_q8_k_amx}};
    for (size_t i = 0; i < sizeof PACKED_K / sizeof PACKED_K[0]; i++) {
        kv_type_kernels *t = &k->types[PACKED_K[i].w];
        if (t->vec_dot_type != KV_TYPE_Q8_K)
            continue;
        t->pack = PACKED_K[i].pack;
        t->pack_size = PACKED_K[i].size;
        t->tile_packed = PACKED_K[i].tile;
        t->pack_nw = KV_AMX_PACK_K_NW;
        t->pack_nx = KV_AMX_PACK_K_NX;
        t->pack_min_rows = KV_AMX_PACK_K_MIN_ROWS;
    }
}

#endif
