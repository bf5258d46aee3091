// The AMX kernel table: the AVX-512 table with the AMX packed paths of Q4_0
// and Q8_0 for prompt batches (amx.h); same bits as the AVX2 table's vec_dot.
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
    kv_type_kernels *q4k = &k->types[KV_TYPE_Q4_K]; // Q4_K: pack_k.c
    if (q4k->vec_dot_type == KV_TYPE_Q8_K) {
        q4k->pack = kv_pack_q4_k_amx;
        q4k->pack_size = kv_pack_size_q4_k_amx;
        q4k->tile_packed = kv_packed_q4_k_q8_k_amx;
        q4k->pack_nw = KV_AMX_PACK_K_NW;
        q4k->pack_nx = KV_AMX_PACK_K_NX;
        q4k->pack_min_rows = KV_AMX_PACK_K_MIN_ROWS;
    }
}

#endif
