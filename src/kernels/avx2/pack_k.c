// The packed paths of Q4_K and Q6_K (pack_k.h): the repacking of eight rows
// and the AVX2 builds of the packed tiles (avxvnni/pack_k.c has the VNNI ones).
#if defined(__AVX2__)
#include "kernels/avx2/avx2.h"

#include <string.h>

#define TILE_SUFFIX _avx2
#include "kernels/avx2/pack_k.h"

PACK_K_DEFINE(q4_k_q8_k, kv_q4_k_x8, packed_q4_k)
PACK_K_DEFINE(q6_k_q8_k, kv_q6_k_x8, packed_q6_k)

size_t kv_pack_size_q4_k_x8(int64_t n) { return (size_t)(n / KV_QK_K) * sizeof(kv_q4_k_x8); }

// One row's super-block into lane r of a packed one.
static void pack_one_q4_k(kv_q4_k_x8 *p, int r, const kv_block_q4_k *b) {
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
            pack_one_q4_k(p + i, (int)r, row + i);
    }
}

size_t kv_pack_size_q6_k_x8(int64_t n) { return (size_t)(n / KV_QK_K) * sizeof(kv_q6_k_x8); }

// The 256 quants of a Q6_K super-block as bytes u = q + 32, in element order:
// element 128 h + 32 s + l has the nibble (low for s < 2) of
// ql[64 h + 32 (s % 2) + l] and bits 2s, 2s+1 of qh[32 h + l] on top.
static void q6_k_bytes(const kv_block_q6_k *b, uint8_t u[KV_QK_K]) {
    const __m256i lo4 = _mm256_set1_epi8(0x0F), lo2 = _mm256_set1_epi8(3);
    for (int h = 0; h < 2; h++) {
        const __m256i ql0 = load_256(b->ql + 64 * h), ql1 = load_256(b->ql + 64 * h + 32);
        const __m256i qh = load_256(b->qh + 32 * h);
        for (int s = 0; s < 4; s++) {
            const __m256i ql = s % 2 == 0 ? ql0 : ql1;
            const __m256i nib = s < 2 ? _mm256_and_si256(ql, lo4)
                                      : _mm256_and_si256(_mm256_srli_epi16(ql, 4), lo4);
            const __m256i top = _mm256_slli_epi16(_mm256_and_si256(_mm256_srli_epi16(qh, 2 * s), lo2), 4);
            _mm256_storeu_si256((__m256i *)(u + 128 * h + 32 * s), _mm256_or_si256(nib, top));
        }
    }
}

static void pack_one_q6_k(kv_q6_k_x8 *p, int r, const kv_block_q6_k *b) {
    p->d[r] = f16_to_f32(b->d);
    for (int s = 0; s < 16; s++) {
        p->sc2[s][r][0] = p->sc2[s][r][1] = b->scales[s];
        p->sc_pair[s / 2][r][s % 2] = b->scales[s];
    }
    uint8_t u[KV_QK_K];
    q6_k_bytes(b, u);
    for (int s = 0; s < 16; s++)
        for (int g = 0; g < 4; g++)
            memcpy(&p->u[s][g][4 * r], u + 16 * s + 4 * g, 4);
}

void kv_pack_q6_k_x8(int64_t n, const void *w, size_t w_row_size, int64_t nw, void *out) {
    const int64_t nb = n / KV_QK_K;
    kv_q6_k_x8 *p = out;
    memset(p, 0, (size_t)nb * sizeof *p);
    for (int64_t r = 0; r < nw; r++) {
        const kv_block_q6_k *row = (const kv_block_q6_k *)((const uint8_t *)w + (size_t)r * w_row_size);
        for (int64_t i = 0; i < nb; i++)
            pack_one_q6_k(p + i, (int)r, row + i);
    }
}

#endif
