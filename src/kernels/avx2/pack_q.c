// The packed path of Q4_0 (pack_q.h): the repacking of sixteen rows and the
// AVX2 build of the packed tile (avxvnni/pack_q.c has the VNNI one).
#if defined(__AVX2__)
#include "kernels/avx2/avx2.h"

#define TILE_SUFFIX _avx2
#include "kernels/avx2/pack_q.h"

PACK_Q_DEFINE(q4_0_q8_0)

size_t kv_pack_size_q4_0_x16(int64_t n) {
    return (size_t)(n / 32) * Q4X16_GROUPS * sizeof(kv_q4_0_x8);
}

// Rows past nw repeat the last one (their lanes are computed and dropped).
void kv_pack_q4_0_x16(int64_t n, const void *w, size_t w_row_size, int64_t nw, void *out) {
    kv_q4_0_x8 *p = out;
    size_t rows[KV_AVX2_PACK_Q_NW];
    for (int r = 0; r < KV_AVX2_PACK_Q_NW; r++)
        rows[r] = (size_t)(r < nw ? r : nw - 1) * w_row_size;
    for (int64_t b = 0; b < n / 32; b++) {
        const uint8_t *blk = (const uint8_t *)w + (size_t)b * sizeof(kv_block_q4_0);
        for (int g = 0; g < Q4X16_GROUPS; g++, p++) {
            _mm256_storeu_ps(p->d, rows_f16(blk, rows + 8 * g));
            __m256i q[4];
            rows_x4(blk, rows + 8 * g, 2, q);
            for (int m = 0; m < 4; m++)
                _mm256_storeu_si256((__m256i *)p->qs[m], q[m]);
        }
    }
}

#endif
