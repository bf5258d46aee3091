// Q4_K weights (and Q5_K, Q6_K, IQ4_XS below) repacked eight rows at a time for batches (the matmul driver's
// packed path): per super-block, the eight rows' 4-byte groups of quants are
// interleaved so that one register holds the same four weights of all eight
// rows, and their scales and mins are unpacked into per-row lanes. Each lane
// of the tile then is one weight row: the quants of a 32-weight sub-block are
// summed against broadcast activation bytes over eight registers before the
// sub-block's scale is applied once (VNNI: dpbusd into int32; AVX2: maddubs
// into int16, which cannot overflow: 8 groups * 2 * 15 * 128 < 32768).
//
// The bits are those of the row-major dot product (tile_k.h) because both
// compute, per super-block, the exact integers isum = sum of scale * (q . x)
// and imin = sum of min * bsum, then acc += (d * d_x) * isum and
// acc_min += (dmin * d_x) * imin with FMA, super-blocks in order, and
// y = acc - acc_min. Shared by avx2/pack_k.c and avxvnni/pack_k.c (TILE_VNNI).
#ifndef KV_KERNELS_AVX2_PACK_K_H
#define KV_KERNELS_AVX2_PACK_K_H

#include <stdbool.h>

#include "kernels/avx2/avx2_util.h"
#include "kvant/kv_blocks.h"

#define K4X8_ROWS KV_AVX2_PACK_K_NW
#define K4X8_NX KV_AVX2_PACK_K_NX // activation rows of a full packed tile

// One super-block column of eight Q4_K rows (1280 bytes).
typedef struct {
    float d[K4X8_ROWS], dmin[K4X8_ROWS];
    uint8_t scales[8][K4X8_ROWS];    // [sub-block][row]
    int16_t mins[4][K4X8_ROWS][2];   // [sub-block pair][row][sub-block of the pair]
    uint8_t qs[4][8][K4X8_ROWS * 4]; // [64-weight chunk][4-byte group][row, byte]
} kv_q4_k_x8;

#define PACK_K_INLINE static inline __attribute__((always_inline))
#define PACK_K_UNROLL _Pragma("GCC unroll 8")

// acc + sum over the 4-byte groups of w (u8, at most 15) times x (s8), per lane
// pair (AVX2: int16 pairs) or per lane (VNNI: int32).
PACK_K_INLINE __m256i pack_k_dot(__m256i acc, __m256i w, __m256i x) {
#if defined(TILE_VNNI)
    return _mm256_dpbusd_avx_epi32(acc, w, x);
#else
    return _mm256_add_epi16(acc, _mm256_maddubs_epi16(w, x));
#endif
}

// tot + a sub-block's sums (pack_k_dot's lanes) times its scales (one per row)
PACK_K_INLINE __m256i pack_k_scale(__m256i tot, __m256i a, const uint8_t sc[K4X8_ROWS]) {
    const __m256i s32 = _mm256_cvtepu8_epi32(_mm_loadl_epi64((const __m128i *)sc));
#if defined(TILE_VNNI)
    return _mm256_add_epi32(tot, _mm256_mullo_epi32(a, s32));
#else
    // the scale in both int16 halves: madd gives scale * (pair 0 + pair 1)
    return _mm256_add_epi32(tot, _mm256_madd_epi16(a, _mm256_or_si256(s32, _mm256_slli_epi32(s32, 16))));
#endif
}

// sum over sub-blocks of min * (bsums of its 32 activations), per row
PACK_K_INLINE __m256i pack_k_mins(const kv_q4_k_x8 *b, const kv_block_q8_k *xb) {
    const __m256i b32 = _mm256_madd_epi16(load_256(xb->bsums), _mm256_set1_epi16(1));
    const __m256i pk = _mm256_packs_epi32(b32, b32); // int16 pairs (s, s+1) in dwords 0, 1, 4, 5
    __m256i m = _mm256_setzero_si256();
    static const int DW[4] = {0, 1, 4, 5};
    for (int q = 0; q < 4; q++) {
        const __m256i pair = _mm256_permutevar8x32_epi32(pk, _mm256_set1_epi32(DW[q]));
        m = _mm256_add_epi32(m, _mm256_madd_epi16(load_256(b->mins[q]), pair));
    }
    return m;
}

// The nx activation rows' super-block i, and zeroed integer sums for them.
PACK_K_INLINE void x_blocks(const uint8_t *x, size_t x_row_size, int64_t i, const int nx,
                            const kv_block_q8_k *xb[K4X8_NX], __m256i tot[K4X8_NX]) {
    for (int j = 0; j < nx; j++) {
        xb[j] = (const kv_block_q8_k *)(x + (size_t)j * x_row_size) + i;
        tot[j] = _mm256_setzero_si256();
    }
}

// ---- Q6_K: w = d * scale * (u - 32), u in 0..63, a scale per 16 weights ----

// One super-block column of eight Q6_K rows (2848 bytes), the quants as bytes.
typedef struct {
    float d[K4X8_ROWS];
    int16_t sc2[16][K4X8_ROWS][2];     // [sub-block][row]: the scale twice
    int16_t sc_pair[8][K4X8_ROWS][2];  // [sub-block pair][row][sub-block of the pair]
    uint8_t u[16][4][K4X8_ROWS * 4];   // [sub-block][4-byte group][row, byte]
} kv_q6_k_x8;

// tot + one sub-block's sums times its scales. u * x pairs reach 2 * 63 * 128:
// the AVX2 build applies the scale after every two groups (int16 holds two).
PACK_K_INLINE void packed_q6_k_sub(const kv_q6_k_x8 *b, int s, const kv_block_q8_k *const *xb,
                                   __m256i *tot, const int nx) {
    const __m256i sc2 = load_256(b->sc2[s]);
#if defined(TILE_VNNI)
    __m256i a[K4X8_NX];
    PACK_K_UNROLL
    for (int j = 0; j < nx; j++)
        a[j] = _mm256_setzero_si256();
    PACK_K_UNROLL
    for (int g = 0; g < 4; g++) {
        const __m256i w = load_256(b->u[s][g]);
        PACK_K_UNROLL
        for (int j = 0; j < nx; j++)
            a[j] = _mm256_dpbusd_avx_epi32(
                a[j], w, _mm256_set1_epi32((int32_t)load_u32(xb[j]->qs + 16 * s + 4 * g)));
    }
    const __m256i sc32 = _mm256_srai_epi32(sc2, 16);
    PACK_K_UNROLL
    for (int j = 0; j < nx; j++)
        tot[j] = _mm256_add_epi32(tot[j], _mm256_mullo_epi32(a[j], sc32));
#else
    PACK_K_UNROLL
    for (int half = 0; half < 2; half++) {
        __m256i a[K4X8_NX];
        PACK_K_UNROLL
        for (int j = 0; j < nx; j++)
            a[j] = _mm256_setzero_si256();
        PACK_K_UNROLL
        for (int g = 2 * half; g < 2 * half + 2; g++) {
            const __m256i w = load_256(b->u[s][g]);
            PACK_K_UNROLL
            for (int j = 0; j < nx; j++)
                a[j] = _mm256_add_epi16(a[j], _mm256_maddubs_epi16(w, _mm256_set1_epi32((int32_t)load_u32(
                                                                           xb[j]->qs + 16 * s + 4 * g))));
        }
        PACK_K_UNROLL
        for (int j = 0; j < nx; j++)
            tot[j] = _mm256_add_epi32(tot[j], _mm256_madd_epi16(a[j], sc2));
    }
#endif
}

// ---- Q5_K: Q4_K with a fifth bit, w = d * scale * q - dmin * min, per 32 weights ----

// One super-block column of eight Q5_K rows (1536 bytes): Q4_K's, and the
// rows' 32 qh bytes dword-transposed as the quants are, so that qh[g] holds
// the fifth bits of 4-byte group g of every sub-block (bit s: sub-block s).
typedef struct {
    kv_q4_k_x8 k4;
    uint8_t qh[8][K4X8_ROWS * 4]; // [4-byte group][row, byte]
} kv_q5_k_x8;

// Groups of four quants (at most 31) a sub-block sums before its scale is
// applied: AVX2's int16 pairs hold four (4 * 2 * 31 * 128 < 32768), VNNI's
// int32 lanes all eight.
PACK_K_INLINE int q5_k_run(void) {
#if defined(TILE_VNNI)
    return 8;
#else
    return 4;
#endif
}

// Eight packed rows times nx activation rows of nb super-blocks each of Q4_K
// (q5 false, wp kv_q4_k_x8) or Q5_K (q5 true, wp kv_q5_k_x8; a constant after
// inlining): Q5_K ORs the fifth bit into the nibbles and sums runs of
// q5_k_run() groups before the scale, Q4_K (at most 15) all eight; the scales,
// mins and float steps are the same (Q5_K's are its k4's).
PACK_K_INLINE void packed_k45(int64_t nb, const void *wp, const bool q5, const uint8_t *x,
                              size_t x_row_size, __m256 out[K4X8_NX], const int nx) {
    __m256 acc[K4X8_NX], acc_min[K4X8_NX];
    for (int j = 0; j < nx; j++)
        acc[j] = acc_min[j] = _mm256_setzero_ps();
    const __m256i lo4 = _mm256_set1_epi8(0x0F);
    const int run = q5 ? q5_k_run() : 8;
    for (int64_t i = 0; i < nb; i++) {
        const kv_q5_k_x8 *b5 = (const kv_q5_k_x8 *)wp + i;
        const kv_q4_k_x8 *b = q5 ? &b5->k4 : (const kv_q4_k_x8 *)wp + i;
        const kv_block_q8_k *xb[K4X8_NX];
        __m256i tot[K4X8_NX];
        x_blocks(x, x_row_size, i, nx, xb, tot);
        PACK_K_UNROLL
        for (int s = 0; s < 8; s++) {
            PACK_K_UNROLL
            for (int g0 = 0; g0 < 8; g0 += run) {
                __m256i a[K4X8_NX];
                PACK_K_UNROLL
                for (int j = 0; j < nx; j++)
                    a[j] = _mm256_setzero_si256();
                PACK_K_UNROLL
                for (int g = g0; g < g0 + run; g++) {
                    const __m256i q = load_256(b->qs[s / 2][g]);
                    const __m256i nib = s % 2 == 0 ? _mm256_and_si256(q, lo4)
                                                   : _mm256_and_si256(_mm256_srli_epi16(q, 4), lo4);
                    const __m256i w = q5 ? _mm256_or_si256(nib, fifth_bit(load_256(b5->qh[g]), s)) : nib;
                    PACK_K_UNROLL
                    for (int j = 0; j < nx; j++) {
                        const __m256i xv = _mm256_set1_epi32((int32_t)load_u32(xb[j]->qs + 32 * s + 4 * g));
                        a[j] = pack_k_dot(a[j], w, xv);
                    }
                }
                PACK_K_UNROLL
                for (int j = 0; j < nx; j++)
                    tot[j] = pack_k_scale(tot[j], a[j], b->scales[s]);
            }
        }
        const __m256 d = _mm256_loadu_ps(b->d), dmin = _mm256_loadu_ps(b->dmin);
        for (int j = 0; j < nx; j++) {
            const __m256 dx = _mm256_set1_ps(xb[j]->d);
            const __m256i imin = pack_k_mins(b, xb[j]);
            acc[j] = _mm256_fmadd_ps(_mm256_mul_ps(d, dx), _mm256_cvtepi32_ps(tot[j]), acc[j]);
            acc_min[j] = _mm256_fmadd_ps(_mm256_mul_ps(dmin, dx), _mm256_cvtepi32_ps(imin),
                                         acc_min[j]);
        }
    }
    for (int j = 0; j < nx; j++)
        out[j] = _mm256_sub_ps(acc[j], acc_min[j]);
}

PACK_K_INLINE void packed_q4_k(int64_t nb, const kv_q4_k_x8 *wp, const uint8_t *x,
                               size_t x_row_size, __m256 out[K4X8_NX], const int nx) {
    packed_k45(nb, wp, false, x, x_row_size, out, nx);
}
PACK_K_INLINE void packed_q5_k(int64_t nb, const kv_q5_k_x8 *wp, const uint8_t *x,
                               size_t x_row_size, __m256 out[K4X8_NX], const int nx) {
    packed_k45(nb, wp, true, x, x_row_size, out, nx);
}

// ---- IQ4_XS: w = d * (ls - 32) * levels[nibble], per 32 weights ----

// One super-block column of eight IQ4_XS rows (1248 bytes). Sub-block s's 16
// bytes of nibbles are dword-transposed: 4-byte group g (activations
// 32 s + 4 g ..) is the low nibbles of qs[s][g] for g < 4, the high nibbles of
// qs[s][g - 4] for the others.
typedef struct {
    float d[K4X8_ROWS];
    int8_t sc[8][K4X8_ROWS];           // [sub-block][row]: ls - 32
    int16_t sc_pair[4][K4X8_ROWS][2];  // [sub-block pair][row][sub-block of the pair]
    uint8_t qs[8][4][K4X8_ROWS * 4];   // [sub-block][dword][row, byte]
} kv_iq4_xs_x8;

// The level indexes of group g of sub-block s of the eight rows
PACK_K_INLINE __m256i iq4_xs_nibbles(const kv_iq4_xs_x8 *b, int s, int g) {
    const __m256i q = load_256(b->qs[s][g % 4]), lo4 = _mm256_set1_epi8(0x0F);
    return g < 4 ? _mm256_and_si256(q, lo4) : _mm256_and_si256(_mm256_srli_epi16(q, 4), lo4);
}

// tot + sub-block s's level . x sums times its scales, per row. VNNI: dpbusd
// takes the levels as unsigned bytes level + 128 (1..241), so the sums hold
// 128 * (the sub-block's activation sum) more, which iq4_xs_excess gives back.
// AVX2: maddubs takes |level| and x with the level's sign (pairs at most
// 2 * 127 * 127: one group per int16), weighted per group: exact sums.
PACK_K_INLINE void packed_iq4_xs_sub(const kv_iq4_xs_x8 *b, int s,
                                     const kv_block_q8_k *const *xb, __m256i *tot, const int nx) {
    const __m256i levels = _mm256_broadcastsi128_si256(load_128(KV_IQ4_LEVELS));
#if defined(TILE_VNNI)
    const __m256i lu = _mm256_xor_si256(levels, _mm256_set1_epi8((char)0x80)); // level + 128
    __m256i a[K4X8_NX];
    PACK_K_UNROLL
    for (int j = 0; j < nx; j++)
        a[j] = _mm256_setzero_si256();
    PACK_K_UNROLL
    for (int g = 0; g < 8; g++) {
        const __m256i w = _mm256_shuffle_epi8(lu, iq4_xs_nibbles(b, s, g));
        PACK_K_UNROLL
        for (int j = 0; j < nx; j++)
            a[j] = _mm256_dpbusd_avx_epi32(
                a[j], w, _mm256_set1_epi32((int32_t)load_u32(xb[j]->qs + 32 * s + 4 * g)));
    }
    const __m256i sc32 = _mm256_cvtepi8_epi32(_mm_loadl_epi64((const __m128i *)b->sc[s]));
    PACK_K_UNROLL
    for (int j = 0; j < nx; j++)
        tot[j] = _mm256_add_epi32(tot[j], _mm256_mullo_epi32(a[j], sc32));
#else
    const __m256i sc32 = _mm256_cvtepi8_epi32(_mm_loadl_epi64((const __m128i *)b->sc[s]));
    const __m256i sc2 = _mm256_or_si256(_mm256_and_si256(sc32, _mm256_set1_epi32(0xFFFF)),
                                        _mm256_slli_epi32(sc32, 16)); // the scale in both int16
    PACK_K_UNROLL
    for (int g = 0; g < 8; g++) {
        const __m256i l = _mm256_shuffle_epi8(levels, iq4_xs_nibbles(b, s, g));
        const __m256i al = _mm256_sign_epi8(l, l);
        PACK_K_UNROLL
        for (int j = 0; j < nx; j++) {
            const __m256i xv = _mm256_set1_epi32((int32_t)load_u32(xb[j]->qs + 32 * s + 4 * g));
            const __m256i p = _mm256_maddubs_epi16(al, _mm256_sign_epi8(xv, l));
            tot[j] = _mm256_add_epi32(tot[j], _mm256_madd_epi16(p, sc2));
        }
    }
#endif
}

// What packed_iq4_xs_sub's sums hold beyond the exact ones, per row: VNNI's
// 128 * (sum over sub-blocks of (ls - 32) * its activation sum); none in AVX2.
PACK_K_INLINE __m256i iq4_xs_excess(const kv_iq4_xs_x8 *b, const kv_block_q8_k *xb) {
#if defined(TILE_VNNI)
    const __m256i b32 = _mm256_madd_epi16(load_256(xb->bsums), _mm256_set1_epi16(1));
    const __m256i pk = _mm256_packs_epi32(b32, b32); // int16 pairs (s, s+1) in dwords 0, 1, 4, 5
    __m256i m = _mm256_setzero_si256();
    static const int DW[4] = {0, 1, 4, 5};
    for (int q = 0; q < 4; q++) {
        const __m256i pair = _mm256_permutevar8x32_epi32(pk, _mm256_set1_epi32(DW[q]));
        m = _mm256_add_epi32(m, _mm256_madd_epi16(load_256(b->sc_pair[q]), pair));
    }
    return _mm256_slli_epi32(m, 7);
#else
    return (void)b, (void)xb, _mm256_setzero_si256();
#endif
}

// What packed_q6_k_sub's sums hold beyond the exact ones, per row: the -32
// part, 32 * the sum of scale * bsum.
PACK_K_INLINE __m256i q6_k_excess(const kv_q6_k_x8 *b, const kv_block_q8_k *xb) {
    __m256i off = _mm256_setzero_si256();
    for (int q = 0; q < 8; q++)
        off = _mm256_add_epi32(off, _mm256_madd_epi16(load_256(b->sc_pair[q]),
                                                      _mm256_set1_epi32((int32_t)load_u32(xb->bsums + 2 * q))));
    return _mm256_slli_epi32(off, 5);
}

// Eight packed rows times nx activation rows of nb super-blocks each of Q6_K
// (iq4 false, wp kv_q6_k_x8) or IQ4_XS (iq4 true, wp kv_iq4_xs_x8; a constant
// after inlining): per super-block the exact integer sum (the sub-blocks'
// sums less their excess), then acc += (d * d_x) * sum with FMA (tile_k.h's
// steps).
PACK_K_INLINE void packed_d_only(int64_t nb, const void *wp, const bool iq4, const uint8_t *x,
                                 size_t x_row_size, __m256 out[K4X8_NX], const int nx) {
    __m256 acc[K4X8_NX];
    for (int j = 0; j < nx; j++)
        acc[j] = _mm256_setzero_ps();
    for (int64_t i = 0; i < nb; i++) {
        const kv_q6_k_x8 *b6 = (const kv_q6_k_x8 *)wp + i;
        const kv_iq4_xs_x8 *bi = (const kv_iq4_xs_x8 *)wp + i;
        const kv_block_q8_k *xb[K4X8_NX];
        __m256i tot[K4X8_NX];
        x_blocks(x, x_row_size, i, nx, xb, tot);
        if (iq4) {
            PACK_K_UNROLL
            for (int s = 0; s < 8; s++)
                packed_iq4_xs_sub(bi, s, xb, tot, nx);
        } else {
            PACK_K_UNROLL
            for (int s = 0; s < 16; s++)
                packed_q6_k_sub(b6, s, xb, tot, nx);
        }
        const __m256 d = _mm256_loadu_ps(iq4 ? bi->d : b6->d);
        for (int j = 0; j < nx; j++) {
            const __m256i sum = _mm256_sub_epi32(tot[j], iq4 ? iq4_xs_excess(bi, xb[j]) : q6_k_excess(b6, xb[j]));
            acc[j] = _mm256_fmadd_ps(_mm256_mul_ps(d, _mm256_set1_ps(xb[j]->d)),
                                     _mm256_cvtepi32_ps(sum), acc[j]);
        }
    }
    for (int j = 0; j < nx; j++)
        out[j] = acc[j];
}

PACK_K_INLINE void packed_q6_k(int64_t nb, const kv_q6_k_x8 *wp, const uint8_t *x,
                               size_t x_row_size, __m256 out[K4X8_NX], const int nx) {
    packed_d_only(nb, wp, false, x, x_row_size, out, nx);
}
PACK_K_INLINE void packed_iq4_xs(int64_t nb, const kv_iq4_xs_x8 *wp, const uint8_t *x,
                                 size_t x_row_size, __m256 out[K4X8_NX], const int nx) {
    packed_d_only(nb, wp, true, x, x_row_size, out, nx);
}

#define PACK_K_CAT2(a, b) a##b
#define PACK_K_CAT(a, b) PACK_K_CAT2(a, b)

// The packed tile entry point (kv_packed_tile_fn) of a build.
#define PACK_K_DEFINE(name, block, kernel)                                                     \
    void PACK_K_CAT(kv_packed_##name, TILE_SUFFIX)(int64_t n, float *y, int64_t y_stride,      \
                                                   const void *wp, int64_t nw, const void *x,  \
                                                   size_t x_row_size, int64_t nx) {            \
        __m256 out[K4X8_NX];                                                                   \
        const int64_t nb = n / KV_QK_K;                                                        \
        if (nx == K4X8_NX)                                                                     \
            kernel(nb, (const block *)wp, x, x_row_size, out, K4X8_NX);                        \
        for (int64_t j = 0; j < nx; j++) {                                                     \
            if (nx != K4X8_NX)                                                                 \
                kernel(nb, (const block *)wp, (const uint8_t *)x + (size_t)j * x_row_size,     \
                       x_row_size, &out[j], 1);                                                \
            float lanes[K4X8_ROWS];                                                            \
            _mm256_storeu_ps(lanes, out[j]);                                                   \
            memcpy(y + j * y_stride, lanes, (size_t)nw * sizeof(float));                       \
        }                                                                                      \
    }

#endif
