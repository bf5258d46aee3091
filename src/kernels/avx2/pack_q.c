// The packed path of Q4_0 (pack_q.h): the repacking of sixteen rows and the
// AVX2 build of the packed tile (avxvnni/pack_q.c has the VNNI one).
#if defined(__AVX2__)
#include "kernels/avx2/avx2.h"

#include <string.h>

#define TILE_SUFFIX _avx2
#include "kernels/avx2/pack_q.h"

PACK_Q_DEFINE(q4_0_q8_0)

size_t kv_pack_size_q4_0_x16(int64_t n) {
    return (size_t)(n / 32) * Q4X16_GROUPS * sizeof(kv_q4_0_x8);
}

void kv_pack_q4_0_x16(int64_t n, const void *w, size_t w_row_size, int64_t nw, void *out) {
    const int64_t nb = n / 32;
    kv_q4_0_x8 *p = out;
    memset(p, 0, (size_t)nb * Q4X16_GROUPS * sizeof *p);
    for (int64_t r = 0; r < nw; r++) {
        const kv_block_q4_0 *row = (const kv_block_q4_0 *)((const uint8_t *)w + (size_t)r * w_row_size);
        const int lane = (int)(r % 8);
        for (int64_t b = 0; b < nb; b++) {
            kv_q4_0_x8 *g = p + b * Q4X16_GROUPS + r / 8;
            g->d[lane] = f16_to_f32(row[b].d);
            for (int m = 0; m < 4; m++)
                memcpy(&g->qs[m][4 * lane], row[b].qs + 4 * m, 4);
        }
    }
}

#endif
