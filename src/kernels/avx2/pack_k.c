// The packed path of Q4_K (pack_k.h): the repacking of eight rows and the AVX2
// build of the packed tile (avxvnni/pack_k.c has the VNNI one).
#if defined(__AVX2__)
#include "kernels/avx2/avx2.h"

#include <string.h>

#define TILE_SUFFIX _avx2
#include "kernels/avx2/pack_k.h"

PACK_K_DEFINE(q4_k_q8_k)

size_t kv_pack_size_q4_k_x8(int64_t n) { return (size_t)(n / KV_QK_K) * sizeof(kv_q4_k_x8); }

// One row's super-block into lane r of a packed one.
static void pack_one(kv_q4_k_x8 *p, int r, const kv_block_q4_k *b) {
    p->d[r] = f16_to_f32(b->d);
    p->dmin[r] = f16_to_f32(b->dmin);
    uint8_t sm[16]; // scales 0..7, mins 8..15
    _mm_storeu_si128((__m128i *)sm, k4_scales_mins(b->scales));
    for (int s = 0; s < 8; s++) {
        p->scales[s][r] = sm[s];
        p->mins[s / 2][r][s % 2] = sm[8 + s];
    }
    for (int c = 0; c < 4; c++)
        for (int g = 0; g < 8; g++)
            memcpy(&p->qs[c][g][4 * r], b->qs + 32 * c + 4 * g, 4);
}

void kv_pack_q4_k_x8(int64_t n, const void *w, size_t w_row_size, int64_t nw, void *out) {
    const int64_t nb = n / KV_QK_K;
    kv_q4_k_x8 *p = out;
    memset(p, 0, (size_t)nb * sizeof *p);
    for (int64_t r = 0; r < nw; r++) {
        const kv_block_q4_k *row = (const kv_block_q4_k *)((const uint8_t *)w + (size_t)r * w_row_size);
        for (int64_t i = 0; i < nb; i++)
            pack_one(p + i, (int)r, row + i);
    }
}

#endif
